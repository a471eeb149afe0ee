// Tests of asyncio::semaphore and asyncio::bounded_semaphore (sync/semaphore.hpp): free permits
// are taken without suspending, FIFO hand-over, cancellation while queued and after the
// hand-over (no permit lost or created), the bad-input errors, the scoped guard, statistics,
// binding to the first loop, a global semaphore, destruction with waiters. Every test runs on
// virtual time.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/semaphore.hpp>
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

coro<void> free_permits_body(log_t* log) {
    asyncio::semaphore s(2);
    EXPECT_EQ(s.value(), 2);
    EXPECT_FALSE(s.locked());
    auto other = asyncio::create_task(note(log, "other task ran"));
    co_await s.acquire();
    EXPECT_EQ(s.value(), 1);
    {
        auto g = co_await s.scoped();
        EXPECT_TRUE(g.owns_permit());
        EXPECT_EQ(s.value(), 0);
        EXPECT_TRUE(s.locked());
        log->push_back("took both without suspending");
    }
    EXPECT_EQ(s.value(), 1);
    s.release();
    s.release();  // unbounded: may go above the initial value
    EXPECT_EQ(s.value(), 3);
    co_await other;
}

TEST(Semaphore, FreePermitsAreTakenWithoutSuspending) {
    log_t expected{"took both without suspending", "other task ran"};
    EXPECT_EQ(logged_run(free_permits_body), expected);
}

coro<void> fifo_body(log_t* log) {
    asyncio::semaphore s(0);
    std::vector<task<void>> tasks;
    for (int i = 0; i < 5; ++i)
        tasks.push_back(asyncio::create_task(acquire_and_hold(&s, log, "w" + std::to_string(i), 1ms)));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(s.statistics().tasks_waiting, 5u);
    s.release();  // to w0, directly: the value stays 0
    s.release();  // to w1
    EXPECT_EQ(s.value(), 0);
    EXPECT_EQ(s.statistics().tasks_waiting, 3u);
    co_await s.acquire();  // must queue behind w2..w4
    log->push_back("main acquired");
    for (auto& t : tasks) co_await t;
    s.release();
    EXPECT_EQ(s.value(), 2);  // the two permits released above, all given back
}

TEST(Semaphore, PermitsAreHandedToWaitersInFifoOrder) {
    log_t expected{"w0 acquired", "w1 acquired", "w2 acquired",
                   "w3 acquired", "w4 acquired", "main acquired"};
    EXPECT_EQ(logged_run(fifo_body), expected);
}

coro<void> cancel_queued_body(log_t* log) {
    asyncio::semaphore s(0);
    auto a = asyncio::create_task(acquire_and_hold(&s, log, "a", 1ms));
    auto b = asyncio::create_task(acquire_and_hold(&s, log, "b", 1ms));
    auto c = asyncio::create_task(acquire_and_hold(&s, log, "c", 1ms));
    co_await asyncio::sleep(0s);
    b.cancel();
    EXPECT_EQ(s.statistics().tasks_waiting, 2u);
    co_await asyncio::sleep(0s);
    log->push_back("b: " + outcome(b));
    s.release();
    s.release();
    co_await a;
    co_await c;
    EXPECT_EQ(s.value(), 2);  // b took nothing, nothing was lost
}

TEST(Semaphore, CancelledWhileQueuedTakesNothing) {
    log_t expected{"b: cancelled", "a acquired", "c acquired"};
    EXPECT_EQ(logged_run(cancel_queued_body), expected);
}

coro<void> granted_then_cancelled_body(log_t* log, bool with_next) {
    asyncio::semaphore s(0);
    auto a = asyncio::create_task(acquire_and_hold(&s, log, "a", 1ms));
    task<void> b;
    if (with_next) b = asyncio::create_task(acquire_and_hold(&s, log, "b", 1ms));
    co_await asyncio::sleep(0s);
    s.release();  // handed to a ...
    EXPECT_EQ(s.value(), 0);
    a.cancel();  // ... cancelled before it runs: a gives the permit back
    co_await asyncio::sleep(0s);
    log->push_back("a: " + outcome(a));
    if (with_next) co_await b;
    EXPECT_EQ(s.value(), 1);  // one permit released, one permit there: none lost, none created
}

TEST(Semaphore, GrantedThenCancelledGivesThePermitToTheNextWaiter) {
    log_t expected{"a: cancelled", "b acquired"};
    EXPECT_EQ(logged_run(granted_then_cancelled_body, true), expected);
}

TEST(Semaphore, GrantedThenCancelledGivesThePermitBackToTheCount) {
    log_t expected{"a: cancelled"};
    EXPECT_EQ(logged_run(granted_then_cancelled_body, false), expected);
}

// Many waiters, a random-looking mix of cancellations before and after the hand-over: the
// permits in the count plus those held always add up to what was released.
coro<void> no_permit_lost_body() {
    asyncio::semaphore s(0);
    log_t log;
    std::vector<task<void>> tasks;
    for (int i = 0; i < 12; ++i)
        tasks.push_back(asyncio::create_task(acquire_and_hold(&s, &log, std::to_string(i), 0ms)));
    co_await asyncio::sleep(0s);
    tasks[1].cancel();                        // queued
    for (int i = 0; i < 4; ++i) s.release();  // to 0, 2, 3, 4
    tasks[0].cancel();                        // granted
    tasks[3].cancel();                        // granted
    tasks[5].cancel();                        // queued
    co_await asyncio::sleep(1ms);
    for (auto& t : tasks) {
        try {
            co_await t;
        } catch (const asyncio::cancelled_error&) {
        }
    }
    EXPECT_EQ(s.value(), 4);
    EXPECT_EQ(s.statistics().tasks_waiting, 0u);
    log_t expected{"2 acquired", "4 acquired", "6 acquired",  "7 acquired",
                   "8 acquired", "9 acquired", "10 acquired", "11 acquired"};
    EXPECT_EQ(log, expected);
}

TEST(Semaphore, NoPermitIsLostOrCreatedByCancellations) { run_clean(no_permit_lost_body()); }

coro<void> self_cancel_then_acquire(asyncio::semaphore* s, log_t* log) {
    asyncio::current_task().cancel("pending");
    try {
        co_await s->acquire();
        log->push_back("acquired");
    } catch (const asyncio::cancelled_error& x) {
        log->push_back("cancelled: " + x.message());
    }
}

coro<void> pending_cancel_body(log_t* log) {
    asyncio::semaphore s(0);
    co_await asyncio::create_task(self_cancel_then_acquire(&s, log));  // must wait: throws at once
    EXPECT_EQ(s.statistics().tasks_waiting, 0u);
    s.release();
    // Free: takes it without suspending; the cancellation is still pending when the coroutine
    // returns, so the task ends cancelled (as in Python).
    auto t = asyncio::create_task(self_cancel_then_acquire(&s, log));
    co_await asyncio::sleep(0s);
    log->push_back(outcome(t));
    EXPECT_EQ(s.value(), 0);
}

TEST(Semaphore, PendingCancellation) {
    log_t expected{"cancelled: pending", "acquired", "cancelled"};
    EXPECT_EQ(logged_run(pending_cancel_body), expected);
}

// --- bad input, bounded ---------------------------------------------------------------------------

TEST(Semaphore, NegativeInitialValueIsInvalid) {
    try {
        asyncio::semaphore s(-1);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "Semaphore initial value must be >= 0");
    }
    try {
        asyncio::bounded_semaphore s(-3);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "Semaphore initial value must be >= 0");
    }
    asyncio::semaphore zero(0);
    EXPECT_TRUE(zero.locked());
}

TEST(Semaphore, BoundedOverReleaseIsInvalid) {
    asyncio::bounded_semaphore s(2);
    EXPECT_EQ(s.max(), 2);
    try {
        s.release();
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "BoundedSemaphore released too many times");
    }
    EXPECT_EQ(s.value(), 2);
    asyncio::semaphore& base = s;  // the bound holds through the base class too
    EXPECT_THROW(base.release(), std::invalid_argument);
}

coro<void> bounded_body(log_t* log) {
    asyncio::bounded_semaphore s(1);
    co_await s.acquire();
    auto t = asyncio::create_task(acquire_and_hold(&s, log, "t", 0ms));
    co_await asyncio::sleep(0s);
    s.release();  // handed to t: not an over-release although the value was 0 < 1
    co_await t;
    EXPECT_EQ(s.value(), 1);
    EXPECT_THROW(s.release(), std::invalid_argument);
    {
        auto g = co_await s.scoped();
        s.release();  // by hand, then the guard: the bound holds, nothing thrown
    }
    EXPECT_EQ(s.value(), 1);
    auto st = s.statistics();
    EXPECT_EQ(st.value, 1);
    EXPECT_EQ(st.max, 1);
    EXPECT_EQ(st.tasks_waiting, 0u);
}

TEST(Semaphore, BoundedHandsOverAndKeepsItsBound) {
    log_t expected{"t acquired"};
    EXPECT_EQ(logged_run(bounded_body), expected);
}

coro<void> statistics_body() {
    asyncio::semaphore s(1);
    EXPECT_EQ(s.statistics().value, 1);
    EXPECT_EQ(s.statistics().tasks_waiting, 0u);
    co_await s.acquire();
    log_t log;
    auto a = asyncio::create_task(acquire_and_hold(&s, &log, "a", 0ms));
    auto b = asyncio::create_task(acquire_and_hold(&s, &log, "b", 0ms));
    co_await asyncio::sleep(0s);
    auto st = s.statistics();
    EXPECT_EQ(st.value, 0);
    EXPECT_EQ(st.tasks_waiting, 2u);
    s.release();
    EXPECT_EQ(s.statistics().tasks_waiting, 1u);
    co_await a;
    co_await b;
    EXPECT_EQ(s.statistics().value, 1);
}

TEST(Semaphore, Statistics) { run_clean(statistics_body()); }

// --- loops ------------------------------------------------------------------------------------------

asyncio::semaphore g_semaphore(1);  // constructed before any loop runs

coro<void> contend_expect_wrong_loop(asyncio::semaphore* s, log_t* log) {
    co_await s->acquire();  // free: no loop check (as in Python)
    log->push_back("free permit taken");
    try {
        co_await s->acquire();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    s->release();
}

TEST(Semaphore, GlobalSemaphoreBindsToTheFirstLoopThatWaitsOnIt) {
    log_t expected{"t acquired", "free permit taken", "semaphore is bound to a different event loop"};
    EXPECT_EQ(logged_run_on_two_loops(&g_semaphore, hand_over_once, contend_expect_wrong_loop), expected);
    EXPECT_EQ(g_semaphore.value(), 1);
}

coro<void> destroyed_body(log_t* log) {
    auto s = std::make_unique<asyncio::semaphore>(0);
    auto t = asyncio::create_task(acquire_and_hold(s.get(), log, "t", 0ms));
    co_await destroy_while_waited_on(std::move(s), std::move(t), log);
}

TEST(Semaphore, DestroyedWithWaitersDoesNotCrash) {
    log_t expected{"pending", "cancelled"};
    EXPECT_EQ(logged_run(destroyed_body), expected);
}

}  // namespace
