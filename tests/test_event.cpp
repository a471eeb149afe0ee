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
#include <utility>
#include <vector>

#include "support/run_harness.hpp"
#include "support/sync_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using namespace test_support;

coro<void> waiter(asyncio::event* e, log_t* log, std::string name) {
    co_await e->wait();
    log->push_back(name + " woke, set=" + (e->is_set() ? "1" : "0"));
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
    log_t expected{"waited twice", "other task ran"};
    EXPECT_EQ(logged_run(set_no_suspend_body), expected);
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
    log_t expected{"set", "w0 woke, set=1", "w1 woke, set=1", "w2 woke, set=1", "w3 woke, set=1"};
    EXPECT_EQ(logged_run(fifo_body), expected);
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
    log_t expected{"a woke, set=0", "b woke, set=1"};
    EXPECT_EQ(logged_run(clear_body), expected);
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
    log_t expected{"b: no more", "a woke, set=1", "c woke, set=1"};
    EXPECT_EQ(logged_run(cancel_waiting_body), expected);
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
    log_t expected{"b woke, set=1", "a: cancelled"};
    EXPECT_EQ(logged_run(woken_then_cancelled_body), expected);
}

coro<void> pending_cancel_body(log_t* log) {
    asyncio::event e;
    // Must wait: throws at once.
    co_await asyncio::create_task(wait_with_cancel_pending(&e, &asyncio::event::wait, "returned", log));
    e.set();
    // Set: wait() returns without suspending; the cancellation is still pending when the
    // coroutine returns, so the task ends cancelled (as in Python).
    auto t = asyncio::create_task(wait_with_cancel_pending(&e, &asyncio::event::wait, "returned", log));
    co_await asyncio::sleep(0s);
    log->push_back(outcome(t));
}

TEST(Event, PendingCancellation) {
    log_t expected{"cancelled: pending, waiting 0", "returned", "cancelled"};
    EXPECT_EQ(logged_run(pending_cancel_body), expected);
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
    log_t expected{"t woke, set=1", "set event waited", "event is bound to a different event loop"};
    EXPECT_EQ(logged_run_on_two_loops(&g_event, wait_and_set, wait_in_second_loop), expected);
}

coro<void> destroyed_body(log_t* log) {
    auto e = std::make_unique<asyncio::event>();
    auto t = asyncio::create_task(waiter(e.get(), log, "t"));
    co_await destroy_while_waited_on(std::move(e), std::move(t), log);
}

TEST(Event, DestroyedWithWaitersDoesNotCrash) {
    log_t expected{"pending", "cancelled"};
    EXPECT_EQ(logged_run(destroyed_body), expected);
}

}  // namespace
