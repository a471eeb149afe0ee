// Tests of asyncio::lock (sync/lock.hpp): the uncontended path (no suspension, no allocation),
// FIFO hand-over, cancellation while queued and after the hand-over, releasing an unlocked lock,
// the scoped guard, statistics, binding to the first loop, a global lock, destruction with
// waiters. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/lock.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/run_harness.hpp"
#include "support/sync_helpers.hpp"

// Counts every allocation made through the global operator new while `g_counting` is set: the
// uncontended acquire/release test shows it makes none.
namespace {
bool g_counting = false;
std::size_t g_allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
    if (g_counting) ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using namespace test_support;

// --- the uncontended path ----------------------------------------------------------------------

coro<void> uncontended_body(log_t* log, std::size_t* allocations) {
    asyncio::lock l;
    auto other = asyncio::create_task(note(log, "other task ran"));  // scheduled before
    g_allocations = 0;
    g_counting = true;
    co_await l.acquire();
    bool locked = l.locked();
    l.release();
    { auto guard = co_await l.scoped(); }
    g_counting = false;
    *allocations = g_allocations;
    log->push_back(locked && !l.locked() ? "acquired and released" : "wrong state");
    co_await other;
}

TEST(Lock, UncontendedAcquireAndReleaseNeitherSuspendNorAllocate) {
    log_t log;
    std::size_t allocations = 99;
    run_clean(uncontended_body(&log, &allocations));
    log_t expected{"acquired and released", "other task ran"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(allocations, 0u);
}

// --- FIFO ------------------------------------------------------------------------------------------

coro<void> fifo_body(log_t* log) {
    asyncio::lock l;
    co_await l.acquire();
    std::vector<task<void>> tasks;
    for (int i = 0; i < 5; ++i)
        tasks.push_back(asyncio::create_task(acquire_and_hold(&l, log, "w" + std::to_string(i), 1ms)));
    co_await asyncio::sleep(0s);  // all five queue up
    EXPECT_EQ(l.statistics().tasks_waiting, 5u);
    l.release();  // handed to w0: a new acquire must queue behind w1..w4, not barge
    EXPECT_TRUE(l.locked());
    co_await l.acquire();
    log->push_back("main acquired again");
    l.release();
    for (auto& t : tasks) co_await t;
}

TEST(Lock, WaitersAcquireInFifoOrderAndNobodyBarges) {
    log_t expected{"w0 acquired", "w1 acquired", "w2 acquired",
                   "w3 acquired", "w4 acquired", "main acquired again"};
    EXPECT_EQ(logged_run(fifo_body), expected);
}

// --- cancellation --------------------------------------------------------------------------------

coro<void> cancel_queued_body(log_t* log) {
    asyncio::lock l;
    co_await l.acquire();
    auto a = asyncio::create_task(acquire_and_hold(&l, log, "a", 1ms));
    auto b = asyncio::create_task(acquire_and_hold(&l, log, "b", 1ms));
    auto c = asyncio::create_task(acquire_and_hold(&l, log, "c", 1ms));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(l.statistics().tasks_waiting, 3u);
    b.cancel("stop b");
    EXPECT_EQ(l.statistics().tasks_waiting, 2u);  // left the queue at once
    co_await asyncio::sleep(0s);
    EXPECT_EQ(outcome(b), "cancelled");
    try {
        co_await b;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("b: " + e.message());
    }
    l.release();
    co_await a;
    co_await c;
    EXPECT_FALSE(l.locked());
}

TEST(Lock, CancelledWhileQueuedTakesNothing) {
    log_t expected{"b: stop b", "a acquired", "c acquired"};
    EXPECT_EQ(logged_run(cancel_queued_body), expected);
}

coro<void> granted_then_cancelled_body(log_t* log, bool with_next) {
    asyncio::lock l;
    co_await l.acquire();
    auto a = asyncio::create_task(acquire_and_hold(&l, log, "a", 1ms));
    task<void> b;
    if (with_next) b = asyncio::create_task(acquire_and_hold(&l, log, "b", 1ms));
    co_await asyncio::sleep(0s);
    l.release();  // handed to a ...
    EXPECT_EQ(l.statistics().owner, asyncio::any_task(a));
    a.cancel();  // ... which is cancelled before it runs: it passes the lock on
    co_await asyncio::sleep(0s);
    log->push_back("a: " + outcome(a));
    if (with_next) {
        co_await b;
    } else {
        EXPECT_FALSE(l.locked());
        EXPECT_FALSE(l.statistics().owner);
    }
    EXPECT_FALSE(l.locked());
}

TEST(Lock, GrantedThenCancelledPassesTheLockToTheNextWaiter) {
    log_t expected{"a: cancelled", "b acquired"};
    EXPECT_EQ(logged_run(granted_then_cancelled_body, true), expected);
}

TEST(Lock, GrantedThenCancelledWithNobodyWaitingFreesTheLock) {
    log_t expected{"a: cancelled"};
    EXPECT_EQ(logged_run(granted_then_cancelled_body, false), expected);
}

// A cancellation already pending when acquire() must wait: it throws at once, queues nothing.
coro<void> pending_cancel_body(log_t* log) {
    asyncio::lock l;
    co_await l.acquire();
    co_await asyncio::create_task(wait_with_cancel_pending(&l, &asyncio::lock::acquire, "acquired?!", log));
    l.release();
    EXPECT_FALSE(l.locked());
}

TEST(Lock, PendingCancellationWhenAcquireMustWaitThrowsAtOnce) {
    log_t expected{"cancelled: pending, waiting 0"};
    EXPECT_EQ(logged_run(pending_cancel_body), expected);
}

// On a free lock acquire() does not suspend, so a pending cancellation waits for the next await.
coro<void> self_cancel_then_free_acquire(asyncio::lock* l, log_t* log) {
    asyncio::current_task().cancel();
    co_await l->acquire();
    log->push_back(l->locked() ? "acquired" : "not acquired");
    l->release();
    try {
        co_await asyncio::sleep(0s);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("cancelled at the sleep");
        throw;
    }
}

coro<void> pending_cancel_free_body(log_t* log) {
    asyncio::lock l;
    auto t = asyncio::create_task(self_cancel_then_free_acquire(&l, log));
    co_await asyncio::sleep(1ms);
    log->push_back(outcome(t));
}

TEST(Lock, PendingCancellationOnAFreeLockIsDeliveredAtTheNextSuspension) {
    log_t expected{"acquired", "cancelled at the sleep", "cancelled"};
    EXPECT_EQ(logged_run(pending_cancel_free_body), expected);
}

// --- errors, guard, statistics --------------------------------------------------------------------

TEST(Lock, ReleasingAnUnlockedLockThrowsRuntimeError) {
    asyncio::lock l;
    try {
        l.release();
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Lock is not acquired.");
    }
}

coro<void> guard_body(log_t* log) {
    asyncio::lock l;
    auto t = asyncio::create_task(acquire_and_hold(&l, log, "t", 0ms));
    {
        auto g = co_await l.scoped();
        EXPECT_TRUE(g.owns_lock());
        co_await asyncio::sleep(0s);  // t queues
        log->push_back("main leaves the block");
    }
    EXPECT_TRUE(l.locked());  // handed to t
    co_await t;
    {
        auto g = co_await l.scoped();
        g.release();
        EXPECT_FALSE(l.locked());
        g.release();  // twice: nothing
    }
    EXPECT_FALSE(l.locked());
}

TEST(Lock, ScopedGuardReleasesToTheNextWaiter) {
    log_t expected{"main leaves the block", "t acquired"};
    EXPECT_EQ(logged_run(guard_body), expected);
}

coro<void> statistics_body() {
    asyncio::lock l;
    auto s0 = l.statistics();
    EXPECT_FALSE(s0.locked);
    EXPECT_FALSE(s0.owner);
    EXPECT_EQ(s0.tasks_waiting, 0u);
    co_await l.acquire();
    log_t log;
    auto a = asyncio::create_task(acquire_and_hold(&l, &log, "a", 0ms), "waiter-a");
    auto b = asyncio::create_task(acquire_and_hold(&l, &log, "b", 0ms), "waiter-b");
    co_await asyncio::sleep(0s);
    auto s1 = l.statistics();
    EXPECT_TRUE(s1.locked);
    EXPECT_EQ(s1.owner, asyncio::current_task());
    EXPECT_EQ(s1.tasks_waiting, 2u);
    l.release();
    auto s2 = l.statistics();
    EXPECT_EQ(s2.owner.name(), "waiter-a");
    EXPECT_EQ(s2.tasks_waiting, 1u);
    co_await a;
    co_await b;
    EXPECT_EQ(l.statistics().tasks_waiting, 0u);
    EXPECT_FALSE(l.statistics().locked);
}

TEST(Lock, Statistics) { run_clean(statistics_body()); }

// --- loops ------------------------------------------------------------------------------------------

asyncio::lock g_lock;  // constructed before any loop runs

coro<void> contend_expect_wrong_loop(asyncio::lock* l, log_t* log) {
    co_await l->acquire();  // free: no loop check (as in Python)
    log->push_back("uncontended acquire works");
    auto t = asyncio::create_task(acquire_and_hold(l, log, "t", 0ms));
    co_await asyncio::sleep(0s);
    try {
        co_await t;
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    l->release();
}

TEST(Lock, GlobalLockBindsToTheFirstLoopThatWaitsOnIt) {
    log_t expected{"t acquired", "uncontended acquire works", "lock is bound to a different event loop"};
    EXPECT_EQ(logged_run_on_two_loops(&g_lock, hand_over_once, contend_expect_wrong_loop), expected);
    EXPECT_FALSE(g_lock.locked());
}

coro<void> destroyed_body(log_t* log) {
    auto l = std::make_unique<asyncio::lock>();
    co_await l->acquire();
    auto t = asyncio::create_task(acquire_and_hold(l.get(), log, "t", 0ms));
    co_await destroy_while_waited_on(std::move(l), std::move(t), log);
}

TEST(Lock, DestroyedWithWaitersDoesNotCrash) {
    log_t expected{"pending", "cancelled"};
    EXPECT_EQ(logged_run(destroyed_body), expected);
}

}  // namespace
