// Tests of asyncio::event (sync/event.hpp): wait() on a set event does not suspend, set() wakes
// every waiter in FIFO order, clear(), cancellation while waiting and after being woken,
// statistics, binding to the first loop, a global event, destruction with waiters. Every test
// runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/event.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/describe.hpp"
#include "support/run_harness.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using log_t = std::vector<std::string>;
using namespace test_support;

template <class T>
std::string outcome(const task<T>& t) {
    if (!t.done()) return "pending";
    if (t.cancelled()) return "cancelled";
    return describe(t.exception());  // "null" when it succeeded
}

coro<void> waiter(asyncio::event* e, log_t* log, std::string name) {
    co_await e->wait();
    log->push_back(name + " woke, set=" + (e->is_set() ? "1" : "0"));
}

coro<void> note(log_t* log, std::string what) {
    log->push_back(what);
    co_return;
}

coro<void> set_no_suspend_body(log_t* log) {
    asyncio::event e;
    EXPECT_FALSE(e.is_set());
    e.set();
    EXPECT_TRUE(e.is_set());
    auto other = asyncio::create_task(note(log, "other task ran"));
    co_await e.wait();
    co_await e.wait();
    log->push_back("waited twice");
    co_await other;
}

TEST(Event, WaitOnASetEventDoesNotSuspend) {
    log_t log;
    run_clean(set_no_suspend_body(&log));
    log_t expected{"waited twice", "other task ran"};
    EXPECT_EQ(log, expected);
}

coro<void> fifo_body(log_t* log) {
    asyncio::event e;
    std::vector<task<void>> tasks;
    for (int i = 0; i < 4; ++i)
        tasks.push_back(asyncio::create_task(waiter(&e, log, "w" + std::to_string(i))));
    co_await asyncio::sleep(1h);
    EXPECT_EQ(e.statistics().tasks_waiting, 4u);
    log->push_back("set");
    e.set();
    e.set();  // already set: nothing more
    EXPECT_EQ(e.statistics().tasks_waiting, 0u);
    for (auto& t : tasks) co_await t;
}

TEST(Event, SetWakesEveryWaiterInFifoOrder) {
    log_t log;
    run_clean(fifo_body(&log));
    log_t expected{"set", "w0 woke, set=1", "w1 woke, set=1", "w2 woke, set=1", "w3 woke, set=1"};
    EXPECT_EQ(log, expected);
}

coro<void> clear_body(log_t* log) {
    asyncio::event e;
    auto a = asyncio::create_task(waiter(&e, log, "a"));
    co_await asyncio::sleep(0s);
    e.set();
    e.clear();  // a was woken by set(): it returns all the same (as in Python)
    auto b = asyncio::create_task(waiter(&e, log, "b"));
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(outcome(a), "null");
    EXPECT_EQ(outcome(b), "pending");  // waits for the next set()
    e.set();
    co_await b;
}

TEST(Event, ClearAfterSetDoesNotUnwakeAndLaterWaitersWait) {
    log_t log;
    run_clean(clear_body(&log));
    log_t expected{"a woke, set=0", "b woke, set=1"};
    EXPECT_EQ(log, expected);
}

coro<void> cancel_waiting_body(log_t* log) {
    asyncio::event e;
    auto a = asyncio::create_task(waiter(&e, log, "a"));
    auto b = asyncio::create_task(waiter(&e, log, "b"));
    auto c = asyncio::create_task(waiter(&e, log, "c"));
    co_await asyncio::sleep(0s);
    b.cancel("no more");
    EXPECT_EQ(e.statistics().tasks_waiting, 2u);
    co_await asyncio::sleep(0s);
    try {
        co_await b;
    } catch (const asyncio::cancelled_error& x) {
        log->push_back("b: " + x.message());
    }
    e.set();
    co_await a;
    co_await c;
}

TEST(Event, CancelledWhileWaiting) {
    log_t log;
    run_clean(cancel_waiting_body(&log));
    log_t expected{"b: no more", "a woke, set=1", "c woke, set=1"};
    EXPECT_EQ(log, expected);
}

coro<void> woken_then_cancelled_body(log_t* log) {
    asyncio::event e;
    auto a = asyncio::create_task(waiter(&e, log, "a"));
    auto b = asyncio::create_task(waiter(&e, log, "b"));
    co_await asyncio::sleep(0s);
    e.set();
    a.cancel();  // woken, not yet run: throws cancelled_error (Python does)
    co_await asyncio::sleep(0s);
    log->push_back("a: " + outcome(a));
    co_await b;
}

TEST(Event, WokenThenCancelledInTheSameIterationThrowsCancelled) {
    log_t log;
    run_clean(woken_then_cancelled_body(&log));
    log_t expected{"b woke, set=1", "a: cancelled"};
    EXPECT_EQ(log, expected);
}

coro<void> self_cancel_then_wait(asyncio::event* e, log_t* log) {
    asyncio::current_task().cancel("pending");
    try {
        co_await e->wait();
        log->push_back("returned");
    } catch (const asyncio::cancelled_error& x) {
        log->push_back("cancelled: " + x.message() + ", waiting " +
                       std::to_string(e->statistics().tasks_waiting));
    }
}

coro<void> pending_cancel_body(log_t* log) {
    asyncio::event e;
    co_await asyncio::create_task(self_cancel_then_wait(&e, log));  // must wait: throws at once
    e.set();
    // Set: wait() returns without suspending; the cancellation is still pending when the
    // coroutine returns, so the task ends cancelled (as in Python).
    auto t = asyncio::create_task(self_cancel_then_wait(&e, log));
    co_await asyncio::sleep(0s);
    log->push_back(outcome(t));
}

TEST(Event, PendingCancellation) {
    log_t log;
    run_clean(pending_cancel_body(&log));
    log_t expected{"cancelled: pending, waiting 0", "returned", "cancelled"};
    EXPECT_EQ(log, expected);
}

asyncio::event g_event;  // constructed before any loop runs

coro<void> wait_and_set(asyncio::event* e, log_t* log) {
    auto t = asyncio::create_task(waiter(e, log, "t"));
    co_await asyncio::sleep(0s);
    e->set();
    co_await t;
}

coro<void> wait_in_second_loop(asyncio::event* e, log_t* log) {
    co_await e->wait();  // set: no suspension, no loop check (as in Python)
    log->push_back("set event waited");
    e->clear();
    try {
        co_await e->wait();
    } catch (const std::runtime_error& x) {
        log->push_back(x.what());
    }
}

TEST(Event, GlobalEventBindsToTheFirstLoopThatWaitsOnIt) {
    log_t log;
    run_clean(wait_and_set(&g_event, &log));
    run_clean(wait_in_second_loop(&g_event, &log));
    log_t expected{"t woke, set=1", "set event waited", "event is bound to a different event loop"};
    EXPECT_EQ(log, expected);
}

coro<void> destroyed_body(log_t* log) {
    auto e = std::make_unique<asyncio::event>();
    auto t = asyncio::create_task(waiter(e.get(), log, "t"));
    co_await asyncio::sleep(0s);
    e.reset();
    co_await asyncio::sleep(1ms);
    log->push_back(outcome(t));
    t.cancel();
    co_await asyncio::sleep(0s);
    log->push_back(outcome(t));
}

TEST(Event, DestroyedWithWaitersDoesNotCrash) {
    log_t log;
    run_clean(destroyed_body(&log));
    log_t expected{"pending", "cancelled"};
    EXPECT_EQ(log, expected);
}

}  // namespace
