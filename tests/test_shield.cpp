// Tests of asyncio::shield (shield.hpp): the inner work completes although the caller is
// cancelled (caller: cancelled_error with the message; the inner result stays observable), the
// inner work itself cancelled, done futures (no suspension), inner failures (propagated to the
// caller, or reported when nobody is left to see them), shield under wait_for, and a cancel that
// arrives in the iteration of the inner completion. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/shield.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/timeout.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/run_harness.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using ms = std::chrono::milliseconds;
using log_t = std::vector<std::string>;

using namespace test_support;

coro<int> value_after(ms d, int v, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " done");
    co_return v;
}

coro<int> fail_after(ms d, std::string what, log_t* log) {
    co_await asyncio::sleep(d);
    log->push_back("inner fails");
    throw std::runtime_error(what);
}

// Awaits shield(inner) and logs how that ended; rethrows.
template <class A>
coro<int> shielded(A inner, log_t* log) {
    try {
        int v = co_await asyncio::shield(std::move(inner));
        log->push_back("caller got " + std::to_string(v));
        co_return v;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caller cancelled: " + e.message() + ", cancelling " +
                       std::to_string(asyncio::current_task().cancelling()));
        throw;
    } catch (const std::runtime_error& e) {
        log->push_back(std::string("caller caught ") + e.what());
        throw;
    }
}

coro<std::string> outcome_of(task<int> t) {
    try {
        int v = co_await t;
        co_return "value " + std::to_string(v);
    } catch (const asyncio::cancelled_error& e) {
        co_return "cancelled: " + e.message();
    } catch (const std::exception& e) {
        co_return std::string("error: ") + e.what();
    }
}

// --- the caller is cancelled ------------------------------------------------------------------------

coro<void> outer_cancelled_main() {
    log_t log;
    task<int> inner = asyncio::create_task(value_after(20ms, 7, &log, "inner"));
    task<int> caller = asyncio::create_task(shielded(inner, &log));
    co_await asyncio::sleep(5ms);
    auto t0 = now();
    EXPECT_TRUE(caller.cancel("msg"));
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: msg");
    EXPECT_EQ(since(t0), 0ms);  // the caller does not wait for the inner work
    EXPECT_FALSE(inner.done());
    EXPECT_FALSE(inner.cancelled());
    EXPECT_EQ(inner.cancelling(), 0);
    int v = co_await inner;  // the inner result is observable later, through the task
    EXPECT_EQ(v, 7);
    EXPECT_EQ(since(t0), 15ms);
    log_t expected{"caller cancelled: msg, cancelling 1", "inner done"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, InnerTaskCompletesAlthoughTheCallerIsCancelled) { run_clean(outer_cancelled_main()); }

coro<void> outer_cancelled_coro_main() {
    log_t log;
    task<int> caller = asyncio::create_task(shielded(value_after(20ms, 7, &log, "inner coro"), &log));
    co_await asyncio::sleep(5ms);
    caller.cancel("coro msg");
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: coro msg");
    co_await asyncio::sleep(30ms);  // the coro runs on as a task of its own
    log_t expected{"caller cancelled: coro msg, cancelling 1", "inner coro done"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, ShieldedCoroRunsOnAsATaskWhenTheCallerIsCancelled) { run_clean(outer_cancelled_coro_main()); }

// The cancel arrives in the iteration in which the inner work completes (after the caller was
// woken, before it ran): the caller still gets cancelled_error, the result stays in the task.
coro<void> cancel_same_iteration_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<int> inner = asyncio::create_task(value_after(10ms, 3, &log, "inner"));
    task<int> caller = asyncio::create_task(shielded(inner, &log));
    co_await asyncio::sleep(0ms);
    loop.call_later(10ms, [caller] { caller.cancel("same iteration"); });  // after inner's timer
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: same iteration");
    EXPECT_EQ(inner.result(), 3);
    log_t expected{"inner done", "caller cancelled: same iteration, cancelling 1"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, CancelInTheIterationOfTheInnerCompletionStillCancelsTheCaller) {
    run_clean(cancel_same_iteration_main());
}

// A cancellation already pending when the caller reaches shield: the caller gets cancelled_error
// at once, the inner work is not touched.
coro<int> self_cancelled_shield(task<int> inner, log_t* log) {
    asyncio::current_task().cancel("self");
    co_return co_await shielded(inner, log);
}

coro<void> pending_cancel_at_entry_main() {
    log_t log;
    task<int> inner = asyncio::create_task(value_after(10ms, 2, &log, "inner"));
    task<int> caller = asyncio::create_task(self_cancelled_shield(inner, &log));
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: self");
    EXPECT_FALSE(inner.done());
    int v = co_await inner;
    EXPECT_EQ(v, 2);
    log_t expected{"caller cancelled: self, cancelling 1", "inner done"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, CancelPendingWhenShieldStarts) { run_clean(pending_cancel_at_entry_main()); }

// --- the inner work is cancelled or fails -------------------------------------------------------

coro<void> inner_cancelled_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<int> inner = asyncio::create_task(value_after(20ms, 7, &log, "inner"));
    task<int> caller = asyncio::create_task(shielded(inner, &log));
    loop.call_later(5ms, [inner] { inner.cancel("inner msg"); });
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: inner msg");
    EXPECT_TRUE(inner.cancelled());
    // The caller was not cancelled itself (cancelling 0), it just got the inner's cancellation.
    log_t expected{"caller cancelled: inner msg, cancelling 0"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, InnerWorkCancelledGivesTheCallerCancelledError) { run_clean(inner_cancelled_main()); }

coro<void> inner_fails_main() {
    log_t log;
    task<int> caller = asyncio::create_task(shielded(fail_after(5ms, "inner error", &log), &log));
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "error: inner error");
    log_t expected{"inner fails", "caller caught inner error"};
    EXPECT_EQ(log, expected);
}

TEST(Shield, InnerFailurePropagatesToTheCaller) { run_clean(inner_fails_main()); }

coro<void> orphan_failure_main() {
    log_t log;
    task<int> caller = asyncio::create_task(shielded(fail_after(20ms, "nobody sees this", &log), &log));
    co_await asyncio::sleep(5ms);
    caller.cancel();
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: ");
    co_await asyncio::sleep(30ms);
    log_t expected{"caller cancelled: , cancelling 1", "inner fails"};
    EXPECT_EQ(log, expected);
}

// The shielded work fails after its caller was cancelled: nobody awaits it, so the failure goes
// to the exception handler (once), rather than vanishing.
TEST(Shield, FailureOfOrphanedInnerWorkIsReported) {
    std::vector<std::string> r = run_collect(orphan_failure_main());
    ASSERT_EQ(r.size(), 1u) << joined(r);
    EXPECT_NE(r[0].find("never retrieved"), std::string::npos) << r[0];
}

// --- done futures -----------------------------------------------------------------------------------

coro<void> set_flag(bool* flag) {
    *flag = true;
    co_return;
}

coro<void> done_future_main() {
    auto& loop = asyncio::get_running_loop();
    bool other_ran = false;
    task<void> other = asyncio::create_task(set_flag(&other_ran));
    asyncio::future<int> f = loop.create_future<int>();
    f.set_result(11);
    auto t0 = now();
    int v = co_await asyncio::shield(f);
    EXPECT_EQ(v, 11);
    EXPECT_FALSE(other_ran);  // returned at once: no trip through the loop
    EXPECT_EQ(since(t0), 0ms);

    asyncio::future<int> failed = loop.create_future<int>();
    failed.set_exception(std::make_exception_ptr(std::runtime_error("stored")));
    std::string caught;
    try {
        co_await asyncio::shield(failed);
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "stored");

    asyncio::future<int> cancelled = loop.create_future<int>();
    cancelled.cancel("gone");
    caught.clear();
    try {
        co_await asyncio::shield(cancelled);
    } catch (const asyncio::cancelled_error& e) {
        caught = "cancelled: " + e.message();
    }
    EXPECT_EQ(caught, "cancelled: gone");
    EXPECT_FALSE(other_ran);
    co_await other;

    // A pending future: shield waits for it.
    asyncio::future<void> later = loop.create_future<void>();
    loop.call_later(3ms, [later] { later.set_result(); });
    co_await asyncio::shield(later);
    EXPECT_EQ(since(t0), 3ms);
}

TEST(Shield, DoneFutureReturnsAtOnce) { run_clean(done_future_main()); }

// --- shield under wait_for --------------------------------------------------------------------------

coro<void> wait_for_shield_main() {
    log_t log;
    task<int> inner = asyncio::create_task(value_after(30ms, 5, &log, "inner"));
    auto t0 = now();
    bool timed_out = false;
    try {
        co_await asyncio::wait_for(asyncio::shield(inner), 10ms);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(since(t0), 10ms);  // the shield's task stops waiting at once; the inner runs on
    EXPECT_FALSE(inner.done());
    int v = co_await inner;
    EXPECT_EQ(v, 5);
    EXPECT_EQ(since(t0), 30ms);
}

TEST(Shield, WaitForOfAShieldTimesOutAndTheInnerWorkRunsOn) { run_clean(wait_for_shield_main()); }

// Cancelled twice: the second cancel while the first one is being delivered changes nothing for
// the inner work.
coro<void> cancelled_twice_main() {
    log_t log;
    task<int> inner = asyncio::create_task(value_after(20ms, 1, &log, "inner"));
    task<int> caller = asyncio::create_task(shielded(inner, &log));
    co_await asyncio::sleep(5ms);
    caller.cancel("one");
    caller.cancel("two");
    std::string how = co_await outcome_of(caller);
    EXPECT_EQ(how, "cancelled: two");
    EXPECT_EQ(caller.cancelling(), 2);
    int v = co_await inner;
    EXPECT_EQ(v, 1);
    EXPECT_FALSE(inner.cancelled());
}

TEST(Shield, CallerCancelledTwiceInnerUnaffected) { run_clean(cancelled_twice_main()); }

}  // namespace
