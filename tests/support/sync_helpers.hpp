// Helpers shared by the tests of the sync primitives and the queue (tests/test_lock.cpp,
// test_event.cpp, test_semaphore.cpp, test_condition.cpp, test_barrier.cpp, test_queue.cpp): the
// log the tests compare, how a task ended, and the waiter shapes every primitive is tested with.
// The coroutines run inside a loop started by run_clean() (run_harness.hpp).
#pragma once

#include <asyncio/coro.hpp>
#include <asyncio/errors.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "describe.hpp"
#include "run_harness.hpp"

namespace test_support {

// What a test logs, in the order it happened, to compare with the order it expects.
using log_t = std::vector<std::string>;

// Runs body(&log, args...) as the main task with run_clean() and returns what it logged.
template <class... Args>
log_t logged_run(asyncio::coro<void> (*body)(log_t*, Args...), std::type_identity_t<Args>... args) {
    log_t log;
    run_clean(body(&log, args...));
    return log;
}

// Every primitive's "binds to the first loop that waits on it" test: runs first(p, &log), then
// second(p, &log), each with run_clean(), so on two different loops; returns what they logged.
template <class Primitive>
log_t logged_run_on_two_loops(Primitive* p,
                              asyncio::coro<void> (*first)(std::type_identity_t<Primitive>*, log_t*),
                              asyncio::coro<void> (*second)(std::type_identity_t<Primitive>*, log_t*)) {
    log_t log;
    run_clean(first(p, &log));
    run_clean(second(p, &log));
    return log;
}

// How a task stands: "pending", "cancelled", or describe() of its exception ("null" when it
// succeeded).
template <class T>
std::string outcome(const asyncio::task<T>& t) {
    if (!t.done()) return "pending";
    if (t.cancelled()) return "cancelled";
    return describe(t.exception());
}

// Logs `what`. Created as a task just before an await that must not suspend: if the await did
// not suspend, what the main task logs next comes before `what`.
inline asyncio::coro<void> note(log_t* log, std::string what) {
    log->push_back(what);
    co_return;
}

// Acquires `*p` (a lock or a semaphore), logs "<name> acquired", holds it for `hold`, releases.
template <class Primitive>
asyncio::coro<void> acquire_and_hold(Primitive* p, log_t* log, std::string name,
                                     std::chrono::milliseconds hold) {
    co_await p->acquire();
    log->push_back(name + " acquired");
    co_await asyncio::sleep(hold);
    p->release();
}

// The calling task takes `*p` (a free lock, or a semaphore with one permit) while a task "t"
// queues for it, then hands it over to t: a wait that binds `*p` to the running loop.
template <class Primitive>
asyncio::coro<void> hand_over_once(Primitive* p, log_t* log) {
    co_await p->acquire();
    auto t = asyncio::create_task(acquire_and_hold(p, log, "t", std::chrono::milliseconds(0)));
    co_await asyncio::sleep(std::chrono::seconds(0));
    p->release();
    co_await t;
}

// A cancellation already pending when the task awaits (p->*wait)(), e.g. &asyncio::lock::acquire:
// if that must wait it throws cancelled_error at once and queues nothing. Logs `on_return` when
// the await returns, else "cancelled: <message>, waiting <tasks waiting on *p>".
template <class Primitive, class Awaiter>
asyncio::coro<void> wait_with_cancel_pending(Primitive* p, Awaiter (Primitive::*wait)() noexcept,
                                             std::string on_return, log_t* log) {
    asyncio::current_task().cancel("pending");
    try {
        co_await (p->*wait)();
        log->push_back(on_return);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message() + ", waiting " +
                       std::to_string(p->statistics().tasks_waiting));
    }
}

// Every primitive's "destroyed with waiters" test: destroys `*primitive` while `waiter` (created
// just before) waits in it, lets a millisecond pass, logs how the waiter stands, cancels it (the
// orphaned waiter can still be cancelled) and logs how it stands again.
template <class Primitive>
asyncio::coro<void> destroy_while_waited_on(std::unique_ptr<Primitive> primitive, asyncio::task<void> waiter,
                                            log_t* log) {
    co_await asyncio::sleep(std::chrono::seconds(0));  // the waiter starts waiting
    primitive.reset();
    co_await asyncio::sleep(std::chrono::milliseconds(1));
    log->push_back(outcome(waiter));
    waiter.cancel();
    co_await asyncio::sleep(std::chrono::seconds(0));
    log->push_back(outcome(waiter));
}

}  // namespace test_support
