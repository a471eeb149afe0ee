// Tests of asyncio::condition (sync/condition.hpp): notify/notify_all wake waiters in FIFO
// order and only after the notifier releases the lock, wait_for returns the predicate's value,
// the un-acquired-lock errors, cancellation at each await point of wait() (queued; notified then
// cancelled: the notification passes on, gh-112202; cancelled while taking the lock again:
// absorbed until the lock is held, the last one rethrown), a shared lock, statistics, binding to
// the first loop, a global condition, destruction with waiters. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/condition.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <optional>
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

// ", holds the lock" when the current task holds c's lock, else ", LOCK NOT HELD".
std::string lock_held(asyncio::condition* c) {
    bool held = c->locked() && c->statistics().lock_statistics.owner == asyncio::current_task();
    return held ? ", holds the lock" : ", LOCK NOT HELD";
}

// Takes the lock, waits once, logs how it came out (and whether it holds the lock), releases.
coro<void> waiter(asyncio::condition* c, log_t* log, std::string name) {
    auto guard = co_await c->scoped();
    try {
        co_await c->wait();
        log->push_back(name + " notified" + lock_held(c));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back(name + " cancelled" + (e.message().empty() ? "" : ": " + e.message()) + lock_held(c));
        throw;
    }
}

coro<void> basic_body(log_t* log) {
    asyncio::condition c;
    auto a = asyncio::create_task(waiter(&c, log, "a"));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(c.locked());  // wait() released it
    EXPECT_EQ(c.statistics().tasks_waiting, 1u);
    {
        auto g = co_await c.scoped();
        c.notify();
        EXPECT_EQ(c.statistics().tasks_waiting, 0u);
        co_await asyncio::sleep(1ms);  // a was notified but needs the lock: it waits for it
        EXPECT_EQ(outcome(a), "pending");
        log->push_back("notifier releases");
    }
    co_await a;
    EXPECT_FALSE(c.locked());
}

TEST(Condition, NotifiedWaiterReturnsHoldingTheLockAfterTheNotifierReleasesIt) {
    log_t expected{"notifier releases", "a notified, holds the lock"};
    EXPECT_EQ(logged_run(basic_body), expected);
}

coro<void> fifo_body(log_t* log) {
    asyncio::condition c;
    std::vector<task<void>> tasks;
    for (int i = 0; i < 5; ++i)
        tasks.push_back(asyncio::create_task(waiter(&c, log, "w" + std::to_string(i))));
    co_await asyncio::sleep(0s);
    co_await c.acquire();
    c.notify(0);  // nothing
    c.notify(2);
    c.release();
    co_await asyncio::sleep(1ms);
    log->push_back("notify_all");
    co_await c.acquire();
    c.notify_all();
    c.notify(10);  // nobody left: nothing
    c.release();
    for (auto& t : tasks) co_await t;
}

TEST(Condition, NotifyWakesTheLongestWaitingFirst) {
    log_t expected{
        "w0 notified, holds the lock", "w1 notified, holds the lock", "notify_all",
        "w2 notified, holds the lock", "w3 notified, holds the lock", "w4 notified, holds the lock"};
    EXPECT_EQ(logged_run(fifo_body), expected);
}

coro<void> unacquired_body(log_t* log) {
    asyncio::condition c;
    try {
        co_await c.wait();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    try {
        c.notify();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    try {
        c.notify_all();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    try {
        c.release();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    auto pred = [] { return false; };
    try {
        co_await c.wait_for(pred);
    } catch (const std::runtime_error& e) {
        log->push_back(std::string("wait_for: ") + e.what());
    }
}

TEST(Condition, WaitAndNotifyWithoutTheLockThrowRuntimeError) {
    log_t expected{"cannot wait on un-acquired lock", "cannot notify on un-acquired lock",
                   "cannot notify on un-acquired lock", "Lock is not acquired.",
                   "wait_for: cannot wait on un-acquired lock"};
    EXPECT_EQ(logged_run(unacquired_body), expected);
}

// --- wait_for -------------------------------------------------------------------------------------

coro<void> producer(asyncio::condition* c, int* value, int steps) {
    for (int i = 0; i < steps; ++i) {
        co_await asyncio::sleep(1ms);
        auto g = co_await c->scoped();
        ++*value;
        c->notify_all();
    }
}

coro<void> wait_for_body(log_t* log) {
    asyncio::condition c;
    int value = 0;
    int checks = 0;
    auto pred = [&value, &checks]() -> int {
        ++checks;
        return value >= 3 ? value * 10 : 0;
    };
    auto p = asyncio::create_task(producer(&c, &value, 4));
    auto g = co_await c.scoped();
    int got = co_await c.wait_for(pred);
    log->push_back("got " + std::to_string(got) + " after " + std::to_string(checks) + " checks" +
                   lock_held(&c));
    auto ready = [] { return std::optional<std::string>("at once"); };
    std::optional<std::string> again = co_await c.wait_for(ready);  // true to begin with: no wait
    log->push_back(again.value_or("?"));
    g.release();
    co_await p;
}

TEST(Condition, WaitForReturnsThePredicatesValue) {
    log_t expected{"got 30 after 4 checks, holds the lock", "at once"};
    EXPECT_EQ(logged_run(wait_for_body), expected);
}

coro<void> wait_for_cancel_waiter(asyncio::condition* c, log_t* log) {
    auto guard = co_await c->scoped();
    auto never = [] { return false; };
    try {
        co_await c->wait_for(never);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("wait_for cancelled" + lock_held(c));
        throw;
    }
}

coro<void> wait_for_cancel_body(log_t* log) {
    asyncio::condition c;
    auto t = asyncio::create_task(wait_for_cancel_waiter(&c, log));
    co_await asyncio::sleep(0s);
    co_await c.acquire();
    c.notify();  // one wake-up: the predicate is still false, it waits again
    c.release();
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(c.statistics().tasks_waiting, 1u);
    t.cancel();
    co_await asyncio::sleep(1ms);
    log->push_back(outcome(t));
    EXPECT_FALSE(c.locked());
}

TEST(Condition, WaitForCancelledHoldsTheLockWhenTheCancellationPropagates) {
    log_t expected{"wait_for cancelled, holds the lock", "cancelled"};
    EXPECT_EQ(logged_run(wait_for_cancel_body), expected);
}

// --- cancellation ---------------------------------------------------------------------------------

coro<void> cancel_queued_body(log_t* log) {
    asyncio::condition c;
    auto a = asyncio::create_task(waiter(&c, log, "a"));
    auto b = asyncio::create_task(waiter(&c, log, "b"));
    co_await asyncio::sleep(0s);
    auto g = co_await c.scoped();
    a.cancel("bye");  // queued: it must take the lock again before it throws
    EXPECT_EQ(c.statistics().tasks_waiting, 1u);
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(outcome(a), "pending");  // waiting for the lock main holds
    EXPECT_EQ(c.statistics().lock_statistics.tasks_waiting, 1u);
    log->push_back("main releases");
    g.release();
    co_await asyncio::sleep(1ms);
    log->push_back("a: " + outcome(a));
    // a was not notified: it passes nothing on (Python would wake b spuriously here).
    EXPECT_EQ(outcome(b), "pending");
    EXPECT_EQ(c.statistics().tasks_waiting, 1u);
    co_await c.acquire();
    c.notify();
    c.release();
    co_await b;
}

TEST(Condition, CancelledWhileWaitingTakesTheLockAgainBeforeThrowing) {
    log_t expected{"main releases", "a cancelled: bye, holds the lock", "a: cancelled",
                   "b notified, holds the lock"};
    EXPECT_EQ(logged_run(cancel_queued_body), expected);
}

coro<void> notified_then_cancelled_body(log_t* log) {
    asyncio::condition c;
    auto a = asyncio::create_task(waiter(&c, log, "a"));
    auto b = asyncio::create_task(waiter(&c, log, "b"));
    auto d = asyncio::create_task(waiter(&c, log, "d"));
    co_await asyncio::sleep(0s);
    co_await c.acquire();
    c.notify();  // a ...
    a.cancel();  // ... cancelled before it ran: its notification goes to b (gh-112202)
    c.release();
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(outcome(a), "cancelled");
    EXPECT_EQ(outcome(b), "null");
    EXPECT_EQ(outcome(d), "pending");  // one notify, one waiter woken for good
    co_await c.acquire();
    c.notify();
    c.release();
    co_await d;
}

TEST(Condition, NotifiedThenCancelledPassesTheNotificationOn) {
    log_t expected{"a cancelled, holds the lock", "b notified, holds the lock", "d notified, holds the lock"};
    EXPECT_EQ(logged_run(notified_then_cancelled_body), expected);
}

coro<void> cancel_while_relocking_body(log_t* log) {
    asyncio::condition c;
    auto a = asyncio::create_task(waiter(&c, log, "a"));
    auto b = asyncio::create_task(waiter(&c, log, "b"));
    co_await asyncio::sleep(0s);
    auto g = co_await c.scoped();
    c.notify();
    co_await asyncio::sleep(0s);  // a was notified and now waits for the lock
    EXPECT_EQ(c.statistics().lock_statistics.tasks_waiting, 1u);
    a.cancel("first");  // absorbed: wait() keeps trying to take the lock
    co_await asyncio::sleep(0s);
    EXPECT_EQ(outcome(a), "pending");
    EXPECT_EQ(c.statistics().lock_statistics.tasks_waiting, 1u);
    a.cancel("second");
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(outcome(a), "pending");
    log->push_back("main releases");
    g.release();
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(outcome(a), "cancelled");
    co_await b;  // a's notification was passed on to b
}

TEST(Condition, CancelledWhileTakingTheLockAgainRethrowsTheLastCancellationAndPassesTheNotificationOn) {
    log_t expected{"main releases", "a cancelled: second, holds the lock", "b notified, holds the lock"};
    EXPECT_EQ(logged_run(cancel_while_relocking_body), expected);
}

coro<void> self_cancel_then_wait(asyncio::condition* c, log_t* log) {
    auto g = co_await c->scoped();
    asyncio::current_task().cancel("pending");
    try {
        co_await c->wait();
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message() + lock_held(c) + ", waiting " +
                       std::to_string(c->statistics().tasks_waiting));
    }
}

TEST(Condition, PendingCancellationThrowsAtOnceHoldingTheLock) {
    log_t log;
    asyncio::condition c;
    run_clean(self_cancel_then_wait(&c, &log));
    log_t expected{"cancelled: pending, holds the lock, waiting 0"};
    EXPECT_EQ(log, expected);
    EXPECT_FALSE(c.locked());
}

// --- shared lock, statistics ----------------------------------------------------------------------

coro<void> shared_lock_body(log_t* log) {
    asyncio::lock l;
    asyncio::condition c1(&l);
    asyncio::condition c2(&l);
    auto a = asyncio::create_task(waiter(&c1, log, "a"));
    auto b = asyncio::create_task(waiter(&c2, log, "b"));
    co_await asyncio::sleep(0s);
    co_await l.acquire();
    EXPECT_TRUE(c1.locked());
    EXPECT_TRUE(c2.locked());
    c2.notify();  // only b
    l.release();
    co_await b;
    EXPECT_EQ(outcome(a), "pending");
    co_await c1.acquire();
    c1.notify();
    c1.release();
    co_await a;
}

TEST(Condition, ConditionsSharingALock) {
    log_t expected{"b notified, holds the lock", "a notified, holds the lock"};
    EXPECT_EQ(logged_run(shared_lock_body), expected);
}

coro<void> statistics_body() {
    asyncio::condition c;
    auto s0 = c.statistics();
    EXPECT_EQ(s0.tasks_waiting, 0u);
    EXPECT_FALSE(s0.lock_statistics.locked);
    log_t log;
    auto a = asyncio::create_task(waiter(&c, &log, "a"));
    auto b = asyncio::create_task(waiter(&c, &log, "b"));
    co_await asyncio::sleep(0s);
    co_await c.acquire();
    auto s1 = c.statistics();
    EXPECT_EQ(s1.tasks_waiting, 2u);
    EXPECT_TRUE(s1.lock_statistics.locked);
    EXPECT_EQ(s1.lock_statistics.owner, asyncio::current_task());
    c.notify_all();
    EXPECT_EQ(c.statistics().tasks_waiting, 0u);
    c.release();
    co_await a;
    co_await b;
}

TEST(Condition, Statistics) { run_clean(statistics_body()); }

// --- loops ------------------------------------------------------------------------------------------

asyncio::condition g_condition;  // constructed before any loop runs

coro<void> wait_and_notify(asyncio::condition* c, log_t* log) {
    auto t = asyncio::create_task(waiter(c, log, "t"));
    co_await asyncio::sleep(0s);
    co_await c->acquire();
    c->notify();
    c->release();
    co_await t;
}

coro<void> wait_in_second_loop(asyncio::condition* c, log_t* log) {
    auto g = co_await c->scoped();
    try {
        co_await c->wait();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what() + lock_held(c));
    }
}

TEST(Condition, GlobalConditionBindsToTheFirstLoopThatWaitsOnIt) {
    log_t expected{"t notified, holds the lock",
                   "condition is bound to a different event loop, holds the lock"};
    EXPECT_EQ(logged_run_on_two_loops(&g_condition, wait_and_notify, wait_in_second_loop), expected);
    EXPECT_FALSE(g_condition.locked());
}

// Does not touch the condition after wait() fails: it is gone by then.
coro<void> bare_waiter(asyncio::condition* c) {
    co_await c->acquire();
    co_await c->wait();
}

coro<void> destroyed_body(log_t* log) {
    auto c = std::make_unique<asyncio::condition>();
    auto t = asyncio::create_task(bare_waiter(c.get()));
    co_await destroy_while_waited_on(std::move(c), std::move(t), log);
}

TEST(Condition, DestroyedWithWaitersDoesNotCrash) {
    log_t expected{"pending", "cancelled"};
    EXPECT_EQ(logged_run(destroyed_body), expected);
}

}  // namespace
