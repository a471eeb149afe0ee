// Tests of asyncio::barrier (sync/barrier.hpp): arrival indices and the order tasks go on in,
// cyclic reuse, draining (a wait() during the drain waits for the next cycle), abort() and
// reset() (waiters and later callers get broken_barrier_error; the barrier fills again after a
// reset), cancellation at each await point (while blocked by a drain; after arriving: the count
// goes down, nothing breaks; released then cancelled: the others pass, the drain completes), bad
// input, statistics, binding to the first loop, a global barrier, destruction with waiters.
// Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/barrier.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/run_harness.hpp"
#include "support/sync_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using namespace test_support;

// Waits at the barrier `rounds` times, logging each way out.
coro<void> arrive(asyncio::barrier* b, log_t* log, std::string name, int rounds = 1) {
    for (int r = 0; r < rounds; ++r) {
        try {
            std::size_t index = co_await b->wait();
            log->push_back(name + " passed as " + std::to_string(index));
        } catch (const asyncio::broken_barrier_error&) {
            log->push_back(name + " broken");
        } catch (const asyncio::cancelled_error&) {
            log->push_back(name + " cancelled");
            throw;
        }
    }
}

// The main task arrives: waits at the barrier, logs "main passed as <index>".
coro<void> main_passes(asyncio::barrier* b, log_t* log) {
    std::size_t index = co_await b->wait();
    log->push_back("main passed as " + std::to_string(index));
}

// A cycle of a 2-party barrier: task "a" arrives, then main, which trips it; waits for a.
coro<void> a_then_main_pass(asyncio::barrier* b, log_t* log) {
    auto a = asyncio::create_task(arrive(b, log, "a"));
    co_await asyncio::sleep(0s);
    co_await main_passes(b, log);
    co_await a;
}

// A fresh cycle of a 3-party barrier: tasks "d" and "e" arrive, then main, which trips it; waits
// for d and e.
coro<void> d_and_e_then_main_pass(asyncio::barrier* b, log_t* log) {
    auto d = asyncio::create_task(arrive(b, log, "d"));
    auto e = asyncio::create_task(arrive(b, log, "e"));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(b->n_waiting(), 2u);
    co_await main_passes(b, log);
    co_await d;
    co_await e;
}

coro<void> basic_body(log_t* log) {
    asyncio::barrier b(3);
    EXPECT_EQ(b.parties(), 3u);
    auto t0 = asyncio::create_task(arrive(&b, log, "a"));
    auto t1 = asyncio::create_task(arrive(&b, log, "b"));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(b.n_waiting(), 2u);
    co_await main_passes(&b, log);  // the last: goes on at once, before the others
    EXPECT_EQ(b.n_waiting(), 0u);
    co_await t0;
    co_await t1;
    EXPECT_FALSE(b.broken());
}

TEST(Barrier, LastArrivalGoesOnAtOnceOthersInArrivalOrder) {
    log_t expected{"main passed as 2", "a passed as 0", "b passed as 1"};
    EXPECT_EQ(logged_run(basic_body), expected);
}

coro<void> cyclic_body(log_t* log) {
    asyncio::barrier b(3);
    auto t0 = asyncio::create_task(arrive(&b, log, "a", 3));
    auto t1 = asyncio::create_task(arrive(&b, log, "b", 3));
    auto t2 = asyncio::create_task(arrive(&b, log, "c", 3));
    co_await t0;
    co_await t1;
    co_await t2;
    EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(Barrier, IsCyclic) {
    // Round 1: a, b, c arrive in that order; c goes on first and is blocked by the drain, as is
    // a; b, leaving last, arrives first in round 2 (c and a were woken but had not run yet).
    // The same order as CPython 3.11.
    log_t expected{"c passed as 2", "a passed as 0", "b passed as 1",  //
                   "a passed as 2", "b passed as 0", "c passed as 1",  //
                   "b passed as 2", "c passed as 0", "a passed as 1"};
    EXPECT_EQ(logged_run(cyclic_body), expected);
}

coro<void> drain_body(log_t* log) {
    asyncio::barrier b(2);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    co_await asyncio::sleep(0s);
    std::size_t first = co_await b.wait();  // trips; a is released but has not left yet
    log->push_back("main passed as " + std::to_string(first));
    EXPECT_EQ(b.n_waiting(), 0u);  // draining
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    // Blocked by the drain; woken when a leaves, but c (scheduled earlier) arrives first.
    std::size_t second = co_await b.wait();
    log->push_back("main passed again as " + std::to_string(second));
    co_await a;
    co_await c;
}

TEST(Barrier, WaitDuringTheDrainWaitsForTheNextCycle) {
    log_t expected{"main passed as 1", "a passed as 0", "main passed again as 1",
                   "c passed as 0"};  // as CPython
    EXPECT_EQ(logged_run(drain_body), expected);
}

coro<void> one_party_body(log_t* log) {
    asyncio::barrier b(1);
    auto other = asyncio::create_task(arrive(&b, log, "other"));
    std::size_t i = co_await b.wait();
    std::size_t j = co_await b.wait();
    log->push_back("main passed as " + std::to_string(i) + " and " + std::to_string(j));
    co_await other;
}

TEST(Barrier, OnePartyNeverWaits) {
    log_t expected{"main passed as 0 and 0", "other passed as 0"};
    EXPECT_EQ(logged_run(one_party_body), expected);
}

TEST(Barrier, PartiesBelowOneIsInvalid) {
    for (std::ptrdiff_t n : {0, -1}) {
        try {
            asyncio::barrier b(n);
            FAIL() << "no exception for " << n;
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "parties must be >= 1");
        }
    }
}

// --- abort and reset ------------------------------------------------------------------------------

coro<void> abort_body(log_t* log) {
    asyncio::barrier b(3);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    co_await asyncio::sleep(0s);
    co_await b.abort();
    EXPECT_TRUE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);
    co_await a;
    co_await c;
    try {
        co_await b.wait();
    } catch (const asyncio::broken_barrier_error&) {
        log->push_back("main broken");
    }
    co_await b.reset();
    EXPECT_FALSE(b.broken());
    co_await d_and_e_then_main_pass(&b, log);
}

TEST(Barrier, AbortBreaksWaitersAndLaterCallsUntilReset) {
    log_t expected{"a broken",         "c broken",      "main broken",
                   "main passed as 2", "d passed as 0", "e passed as 1"};
    EXPECT_EQ(logged_run(abort_body), expected);
}

coro<void> reset_body(log_t* log) {
    asyncio::barrier b(3);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    co_await asyncio::sleep(0s);
    co_await b.reset();  // a and c get broken_barrier_error
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0u);  // resetting
    auto d = asyncio::create_task(arrive(&b, log, "d"));
    auto e = asyncio::create_task(arrive(&b, log, "e"));
    // a and c have not left yet: main waits for the reset to end; d and e (scheduled earlier
    // than main's wake-up) arrive first in the fresh cycle.
    co_await main_passes(&b, log);
    co_await a;
    co_await c;
    co_await d;
    co_await e;
}

TEST(Barrier, ResetBreaksTheWaitersThenFillsAgain) {
    log_t expected{"a broken", "c broken", "main passed as 2", "d passed as 0",
                   "e passed as 1"};  // as CPython
    EXPECT_EQ(logged_run(reset_body), expected);
}

coro<void> reset_idle_body(log_t* log) {
    asyncio::barrier b(2);
    co_await b.reset();  // nobody waits: nothing happens
    EXPECT_FALSE(b.broken());
    co_await a_then_main_pass(&b, log);
}

TEST(Barrier, ResetWithNobodyWaiting) {
    log_t expected{"main passed as 1", "a passed as 0"};
    EXPECT_EQ(logged_run(reset_idle_body), expected);
}

// An abort right after the trip, before the released tasks ran: they see it when they run and
// throw broken_barrier_error (Python checks the state when the woken task runs, too).
coro<void> abort_after_trip_body(log_t* log) {
    asyncio::barrier b(2);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    co_await asyncio::sleep(0s);
    co_await main_passes(&b, log);
    co_await b.abort();
    co_await a;
}

TEST(Barrier, AbortAfterTheTripBreaksTasksNotYetRun) {
    log_t expected{"main passed as 1", "a broken"};
    EXPECT_EQ(logged_run(abort_after_trip_body), expected);
}

// --- cancellation ---------------------------------------------------------------------------------

coro<void> cancel_arrived_body(log_t* log) {
    asyncio::barrier b(3);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(b.n_waiting(), 2u);
    a.cancel();
    co_await asyncio::sleep(0s);
    EXPECT_EQ(outcome(a), "cancelled");
    EXPECT_EQ(b.n_waiting(), 1u);  // a left; the barrier is not broken
    EXPECT_FALSE(b.broken());
    auto d = asyncio::create_task(arrive(&b, log, "d"));
    co_await asyncio::sleep(0s);
    co_await main_passes(&b, log);
    co_await c;
    co_await d;
}

TEST(Barrier, CancelledAfterArrivingLeavesWithoutBreakingIt) {
    // Unique indices, in arrival order among the tasks that go on (CPython would give c and d
    // both index 1: it counts arrivals, and a's departure made the count go down).
    log_t expected{"a cancelled", "main passed as 2", "c passed as 0", "d passed as 1"};
    EXPECT_EQ(logged_run(cancel_arrived_body), expected);
}

coro<void> released_then_cancelled_body(log_t* log) {
    asyncio::barrier b(3);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    co_await asyncio::sleep(0s);
    // Trips: a and c are released.
    co_await main_passes(&b, log);
    a.cancel();  // before a ran: a throws cancelled_error, the trip stands for c
    co_await asyncio::sleep(0s);
    EXPECT_EQ(outcome(a), "cancelled");
    co_await c;
    EXPECT_EQ(b.n_waiting(), 0u);
    // Drained: the next cycle starts from zero.
    co_await d_and_e_then_main_pass(&b, log);
}

TEST(Barrier, ReleasedThenCancelledThrowsCancelledAndTheDrainCompletes) {
    log_t expected{"main passed as 2", "a cancelled",   "c passed as 1",
                   "main passed as 2", "d passed as 0", "e passed as 1"};
    EXPECT_EQ(logged_run(released_then_cancelled_body), expected);
}

// Main trips the barrier and at once waits again: blocked by the drain (a and c have not left).
// A callback queued before the trip cancels it while it is blocked, or (queued after the trip)
// once the drain has woken it but before it ran. Either way main never arrived.
coro<void> cancel_while_blocked_body(log_t* log, bool after_wake) {
    asyncio::barrier b(3);
    auto a = asyncio::create_task(arrive(&b, log, "a"));
    auto c = asyncio::create_task(arrive(&b, log, "c"));
    co_await asyncio::sleep(0s);
    asyncio::any_task self = asyncio::current_task();
    auto& loop = asyncio::get_running_loop();
    if (!after_wake) loop.call_soon([self] { self.cancel("while blocked"); });
    co_await main_passes(&b, log);  // trips
    if (after_wake) loop.call_soon([self] { self.cancel("after the wake-up"); });
    try {
        co_await b.wait();
        log->push_back("main passed again?!");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("main cancelled " + e.message());
    }
    co_await a;
    co_await c;
    EXPECT_EQ(b.n_waiting(), 0u);  // main never arrived
    EXPECT_FALSE(b.broken());
    co_await d_and_e_then_main_pass(&b, log);
}

TEST(Barrier, CancelledWhileBlockedByTheDrainChangesNothing) {
    log_t expected{"main passed as 2", "a passed as 0", "c passed as 1", "main cancelled while blocked",
                   "main passed as 2", "d passed as 0", "e passed as 1"};
    EXPECT_EQ(logged_run(cancel_while_blocked_body, false), expected);
}

TEST(Barrier, WokenFromTheDrainThenCancelledChangesNothing) {
    log_t expected{"main passed as 2", "a passed as 0", "c passed as 1", "main cancelled after the wake-up",
                   "main passed as 2", "d passed as 0", "e passed as 1"};
    EXPECT_EQ(logged_run(cancel_while_blocked_body, true), expected);
}

coro<void> self_cancel_then_wait(asyncio::barrier* b, log_t* log) {
    asyncio::current_task().cancel("pending");
    try {
        co_await b->wait();
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message() + ", n_waiting " + std::to_string(b->n_waiting()));
    }
}

coro<void> pending_cancel_body(log_t* log) {
    asyncio::barrier b(2);
    co_await asyncio::create_task(self_cancel_then_wait(&b, log));
    EXPECT_EQ(b.n_waiting(), 0u);
    co_await a_then_main_pass(&b, log);
}

TEST(Barrier, PendingCancellationLeavesAtOnce) {
    log_t expected{"cancelled: pending, n_waiting 0", "main passed as 1", "a passed as 0"};
    EXPECT_EQ(logged_run(pending_cancel_body), expected);
}

// --- statistics, loops ----------------------------------------------------------------------------

coro<void> statistics_body() {
    asyncio::barrier b(3);
    auto s0 = b.statistics();
    EXPECT_EQ(s0.parties, 3u);
    EXPECT_EQ(s0.n_waiting, 0u);
    EXPECT_FALSE(s0.broken);
    log_t log;
    auto a = asyncio::create_task(arrive(&b, &log, "a"));
    auto c = asyncio::create_task(arrive(&b, &log, "c"));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(b.statistics().n_waiting, 2u);
    co_await b.abort();
    auto s1 = b.statistics();
    EXPECT_EQ(s1.n_waiting, 0u);
    EXPECT_TRUE(s1.broken);
    EXPECT_EQ(s1.parties, 3u);
    co_await a;
    co_await c;
}

TEST(Barrier, Statistics) { run_clean(statistics_body()); }

asyncio::barrier g_barrier(2);  // constructed before any loop runs

coro<void> use_barrier_in_second_loop(asyncio::barrier* b, log_t* log) {
    try {
        co_await b->wait();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    EXPECT_EQ(b->n_waiting(), 0u);  // it did not stay arrived
}

TEST(Barrier, GlobalBarrierBindsToTheFirstLoopThatWaitsOnIt) {
    log_t expected{"main passed as 1", "a passed as 0", "barrier is bound to a different event loop"};
    EXPECT_EQ(logged_run_on_two_loops(&g_barrier, a_then_main_pass, use_barrier_in_second_loop), expected);
}

coro<void> destroyed_body(log_t* log) {
    auto b = std::make_unique<asyncio::barrier>(3);
    auto t = asyncio::create_task(arrive(b.get(), log, "t"));
    co_await destroy_while_waited_on(std::move(b), std::move(t), log);
}

TEST(Barrier, DestroyedWithWaitersDoesNotCrash) {
    log_t expected{"pending", "t cancelled", "cancelled"};
    EXPECT_EQ(logged_run(destroyed_body), expected);
}

}  // namespace
