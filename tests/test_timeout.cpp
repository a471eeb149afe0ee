// Tests of timeout.hpp: asyncio::wait_for, asyncio::timeout and asyncio::timeout_at.
//
// wait_for: the value; expiry (inner work cancelled AND awaited, then timeout_error); inner work
// that completes in the iteration of the timeout or completes anyway when cancelled (its value is
// returned); outside cancellation (never swallowed, never turned into timeout_error) at each of
// wait_for's await points; zero/negative timeouts; done futures.
// timeout/timeout_at: the value; expiry (the block's cleanup ran); outside cancellation (also in
// the iteration of the expiry, and pending before the block starts: CPython gh-134471); nested
// timeouts; cancelling()/uncancel() counts; past deadlines.
//
// Every test runs on virtual time (the whole file in a few milliseconds of wall time), and gives
// the same results on real time: ctest's test_timeout_real_time runs it with
// ASYNCIO_TEST_CLOCK=real. So durations are checked with elapsed_is() (exact on virtual time,
// bounded on real time), never with a clock of their own.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
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
int cancelling() { return asyncio::current_task().cancelling(); }

// --- inner work ----------------------------------------------------------------------------------

coro<int> value_after(ms d, int v, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " done");
    co_return v;
}

coro<int> fail_after(ms d, std::string what) {
    co_await asyncio::sleep(d);
    throw std::runtime_error(what);
}

// Sleeps `d`; when cancelled, cleans up for `cleanup` and then returns `v` anyway.
coro<int> completes_anyway(ms d, ms cleanup, int v, log_t* log) {
    bool cancelled = false;
    try {
        co_await asyncio::sleep(d);
    } catch (const asyncio::cancelled_error&) {
        cancelled = true;
    }
    if (cancelled) {
        log->push_back("inner cancelled, returns anyway");
        co_await asyncio::sleep(cleanup);
    }
    co_return v;
}

// --- wait_for -------------------------------------------------------------------------------------

coro<void> wait_for_value_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    auto t0 = now();
    int v = co_await asyncio::wait_for(value_after(10ms, 7, &log, "inner"), 50ms);
    EXPECT_EQ(v, 7);
    EXPECT_TRUE(elapsed_is(t0, 10ms));

    task<int> t = asyncio::create_task(value_after(10ms, 8, &log, "task"));
    int v2 = co_await asyncio::wait_for(t, 50ms);
    EXPECT_EQ(v2, 8);

    asyncio::future<std::string> f = loop.create_future<std::string>();
    loop.call_later(5ms, [f] { f.set_result("fut"); });
    std::string s = co_await asyncio::wait_for(f, 50ms);
    EXPECT_EQ(s, "fut");

    // An inner failure is rethrown as it is, not as timeout_error.
    std::string caught;
    try {
        co_await asyncio::wait_for(fail_after(5ms, "inner failed"), 50ms);
    } catch (const asyncio::timeout_error&) {
        caught = "timeout";
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "inner failed");
    EXPECT_EQ(cancelling(), 0);
}

TEST(WaitFor, ReturnsTheValueOrTheInnerError) { run_clean(wait_for_value_main()); }

coro<void> wait_for_expiry_main() {
    log_t log;
    auto t0 = now();
    bool timed_out = false;
    try {
        co_await asyncio::wait_for(slow_with_cleanup(1s, 5ms, &log, "inner"), 20ms);
        log.push_back("returned");
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
        log.push_back("caught timeout_error");
    }
    EXPECT_TRUE(timed_out);
    // The inner work was cancelled AND awaited: its cleanup finished before timeout_error.
    log_t expected{"inner cancelled: ", "inner cleanup done", "caught timeout_error"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(elapsed_is(t0, 25ms));
    EXPECT_EQ(cancelling(), 0);  // wait_for cancels the inner work, never the caller

    // A task given to wait_for is cancelled on expiry too.
    task<int> t = asyncio::create_task(slow_with_cleanup(1s, 1ms, &log, "task"));
    timed_out = false;
    try {
        co_await asyncio::wait_for(t, 10ms);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(t.done() && t.cancelled());

    // A plain future is cancelled.
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    timed_out = false;
    try {
        co_await asyncio::wait_for(f, 10ms);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(f.cancelled());
}

TEST(WaitFor, ExpiryCancelsAndAwaitsTheInnerWorkThenThrowsTimeoutError) { run_clean(wait_for_expiry_main()); }

coro<void> wait_for_same_iteration_future_main() {
    auto& loop = asyncio::get_running_loop();
    asyncio::future<int> f = loop.create_future<int>();
    // Set at exactly the deadline of the timeout, by a timer scheduled before wait_for's own.
    loop.call_later(20ms, [f] { f.set_result(99); });
    auto t0 = now();
    std::string got;
    try {
        int v = co_await asyncio::wait_for(f, 20ms);
        got = "value " + std::to_string(v);
    } catch (const asyncio::timeout_error&) {
        got = "timeout";
    }
    EXPECT_EQ(got, "value 99");
    EXPECT_TRUE(elapsed_is(t0, 20ms));
    EXPECT_FALSE(f.cancelled());

    // The same with a task whose own timer is due at the very deadline of wait_for.
    log_t log;
    task<int> t = asyncio::create_task(value_after(20ms, 98, &log, "task"));
    co_await asyncio::sleep(0ms);  // the task has armed its 20 ms timer
    t0 = now();
    try {
        int v = co_await asyncio::wait_for(t, 20ms);
        got = "value " + std::to_string(v);
    } catch (const asyncio::timeout_error&) {
        got = "timeout";
    }
    EXPECT_EQ(got, "value 98");
    EXPECT_TRUE(elapsed_is(t0, 20ms));
    EXPECT_FALSE(t.cancelled());
}

TEST(WaitFor, InnerFutureSetInTheIterationOfTheTimeoutGivesTheValue) {
    run_clean(wait_for_same_iteration_future_main());
}

coro<void> wait_for_completes_anyway_main() {
    log_t log;
    auto t0 = now();
    std::string got;
    try {
        int v = co_await asyncio::wait_for(completes_anyway(1s, 5ms, 42, &log), 10ms);
        got = "value " + std::to_string(v);
    } catch (const asyncio::timeout_error&) {
        got = "timeout";
    }
    EXPECT_EQ(got, "value 42");
    EXPECT_TRUE(elapsed_is(t0, 15ms));
    log_t expected{"inner cancelled, returns anyway"};
    EXPECT_EQ(log, expected);
}

TEST(WaitFor, InnerWorkThatCompletesAnywayGivesItsValue) { run_clean(wait_for_completes_anyway_main()); }

// An outside cancel while wait_for waits for the inner work.
coro<void> wait_for_holder(ms timeout, log_t* log, ms cleanup = 10ms) {
    try {
        int v = co_await asyncio::wait_for(slow_with_cleanup(1s, cleanup, log, "inner"), timeout);
        log->push_back("holder got " + std::to_string(v));
    } catch (const asyncio::timeout_error&) {
        log->push_back("holder caught timeout_error");
        throw;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught cancelled: " + e.message() + ", cancelling " +
                       std::to_string(cancelling()));
        throw;
    }
}

// Awaits `t` and describes how it ended.
coro<std::string> outcome_of(task<void> t) {
    try {
        co_await t;
        co_return "done";
    } catch (const asyncio::cancelled_error& e) {
        co_return "cancelled: " + e.message();
    } catch (const std::exception& e) {
        co_return std::string("error: ") + e.what();
    }
}

coro<void> wait_for_outside_cancel_main() {
    log_t log;
    task<void> holder = asyncio::create_task(wait_for_holder(50ms, &log));
    co_await asyncio::sleep(10ms);
    auto t0 = now();
    holder.cancel("outside");
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: outside");
    // The inner work got the same message and was awaited (its 10 ms cleanup) before the caller.
    log_t expected{"inner cancelled: outside", "inner cleanup done",
                   "holder caught cancelled: outside, cancelling 1"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(elapsed_is(t0, 10ms));
}

TEST(WaitFor, OutsideCancelPropagatesAndTheInnerWorkIsCancelledAndAwaited) {
    run_clean(wait_for_outside_cancel_main());
}

coro<void> wait_for_cancel_after_expiry_main() {
    log_t log;
    // wait_for expires at 20 ms and waits for the inner cleanup (100 ms); the outside cancel comes
    // during that second await point (50 ms from either end: the same on a loaded real-time run).
    task<void> holder = asyncio::create_task(wait_for_holder(20ms, &log, 100ms));
    co_await asyncio::sleep(70ms);
    holder.cancel("during cleanup");
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: during cleanup");
    log_t expected{"inner cancelled: ", "inner cleanup done",
                   "holder caught cancelled: during cleanup, cancelling 1"};
    EXPECT_EQ(log, expected);
}

TEST(WaitFor, OutsideCancelWhileWaitingForTheExpiredInnerWorkIsNotTurnedIntoTimeout) {
    run_clean(wait_for_cancel_after_expiry_main());
}

coro<void> wait_for_cancel_same_iteration_main(bool cancel_timer_first) {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<void> holder;
    if (cancel_timer_first) {
        // Our timer is older than wait_for's (same deadline): it runs in the same iteration.
        loop.call_later(20ms, [&holder] { holder.cancel("same iteration"); });
        holder = asyncio::create_task(wait_for_holder(20ms, &log));
    } else {
        holder = asyncio::create_task(wait_for_holder(20ms, &log));
        co_await asyncio::sleep(0ms);  // wait_for's timer exists now
        loop.call_later(20ms, [&holder] { holder.cancel("same iteration"); });
    }
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: same iteration");
    EXPECT_EQ(log.empty() ? "" : log.back(), "holder caught cancelled: same iteration, cancelling 1");
    // Both timers are due at 20 ms. Only virtual time guarantees that they fire in one iteration:
    // on real time they are armed microseconds apart, and when the first fires alone the other
    // comes during the inner cleanup and interrupts it (correct too, but one log line shorter).
    if (!on_real_time()) {
        EXPECT_EQ(log.size(), 3u) << joined(log);
    }
}

TEST(WaitFor, OutsideCancelInTheIterationOfTheTimeoutIsNotTurnedIntoTimeout) {
    run_clean(wait_for_cancel_same_iteration_main(true));
    run_clean(wait_for_cancel_same_iteration_main(false));
}

// gh-86296: the inner work completes and the outside cancel arrives in the same iteration. The
// cancellation must not be swallowed: the task ends cancelled (the value may or may not have
// been returned first, but the next await at the latest throws).
coro<void> value_then_sleep_holder(asyncio::future<int> f, log_t* log) {
    try {
        int v = co_await asyncio::wait_for(f, 1s);
        log->push_back("got " + std::to_string(v));
        co_await asyncio::sleep(1ms);
        log->push_back("not cancelled");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message());
        throw;
    }
}

coro<void> wait_for_gh86296_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    asyncio::future<int> f = loop.create_future<int>();
    task<void> holder = asyncio::create_task(value_then_sleep_holder(f, &log));
    loop.call_later(10ms, [f] { f.set_result(1); });
    loop.call_later(10ms, [holder] { holder.cancel("race"); });
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: race");
    EXPECT_EQ(log.empty() ? "" : log.back(), "cancelled: race");
    for (const auto& l : log) EXPECT_NE(l, "not cancelled");
}

TEST(WaitFor, CancelRacingTheInnerCompletionIsNotSwallowed) { run_clean(wait_for_gh86296_main()); }

// A cancellation already pending when the task reaches wait_for: the inner work is cancelled
// (a coro before it ever runs; a running task is awaited) and cancelled_error comes out.
coro<void> self_cancelled_wait_for(task<int> running, log_t* log) {
    asyncio::current_task().cancel("self");
    try {
        co_await asyncio::wait_for(running, 1s);
        log->push_back("returned");
    } catch (const asyncio::timeout_error&) {
        log->push_back("timeout_error");
        throw;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caught: " + e.message() + (running.done() ? ", inner done" : ""));
    }
    asyncio::current_task().uncancel();
    asyncio::current_task().cancel("self again");
    try {
        co_await asyncio::wait_for(value_after(1ms, 1, log, "never started"), 1s);
        log->push_back("returned");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caught: " + e.message());
        throw;
    }
}

coro<void> wait_for_pending_cancel_main() {
    log_t log;
    task<int> running = asyncio::create_task(slow_with_cleanup(1s, 4ms, &log, "inner"));
    co_await asyncio::sleep(1ms);
    task<void> holder = asyncio::create_task(self_cancelled_wait_for(running, &log));
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: self again");
    co_await asyncio::sleep(10ms);  // the coro's task was cancelled before its body ran: no "done"
    log_t expected{"inner cancelled: self", "inner cleanup done", "caught: self, inner done",
                   "caught: self again"};
    EXPECT_EQ(log, expected);
}

TEST(WaitFor, CancelPendingWhenWaitForStarts) { run_clean(wait_for_pending_cancel_main()); }

coro<void> wait_for_zero_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    for (ms timeout : {ms(0), ms(-10)}) {
        auto t0 = now();
        bool timed_out = false;
        try {
            co_await asyncio::wait_for(value_after(1ms, 1, &log, "never started"), timeout);
        } catch (const asyncio::timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(elapsed_is(t0, 0ms));
        EXPECT_TRUE(log.empty()) << joined(log);  // a coro is cancelled before its body runs

        // A running task is cancelled and awaited.
        task<int> t = asyncio::create_task(slow_with_cleanup(1s, 3ms, &log, "running"));
        co_await asyncio::sleep(1ms);
        timed_out = false;
        try {
            co_await asyncio::wait_for(t, timeout);
        } catch (const asyncio::timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_TRUE(t.cancelled());
        log_t expected{"running cancelled: ", "running cleanup done"};
        EXPECT_EQ(log, expected);
        log.clear();

        // A done future gives its value even with a zero timeout.
        asyncio::future<int> f = loop.create_future<int>();
        f.set_result(5);
        int v = co_await asyncio::wait_for(f, timeout);
        EXPECT_EQ(v, 5);
    }
}

TEST(WaitFor, ZeroOrNegativeTimeout) { run_clean(wait_for_zero_main()); }

coro<void> set_flag(bool* flag) {
    *flag = true;
    co_return;
}

coro<void> wait_for_done_future_main() {
    auto& loop = asyncio::get_running_loop();
    asyncio::future<int> f = loop.create_future<int>();
    f.set_result(3);
    bool other_ran = false;
    task<void> other = asyncio::create_task(set_flag(&other_ran));
    auto t0 = now();
    int v = co_await asyncio::wait_for(f, 10ms);
    EXPECT_EQ(v, 3);
    EXPECT_FALSE(other_ran);  // no trip through the loop
    EXPECT_TRUE(elapsed_is(t0, 0ms));

    asyncio::future<int> failed = loop.create_future<int>();
    failed.set_exception(std::make_exception_ptr(std::runtime_error("stored")));
    std::string caught;
    try {
        co_await asyncio::wait_for(failed, 10ms);
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "stored");

    asyncio::future<int> cancelled = loop.create_future<int>();
    cancelled.cancel("was cancelled");
    caught.clear();
    try {
        co_await asyncio::wait_for(cancelled, 10ms);
    } catch (const asyncio::cancelled_error& e) {
        caught = "cancelled: " + e.message();
    }
    EXPECT_EQ(caught, "cancelled: was cancelled");
    co_await other;
}

TEST(WaitFor, AlreadyDoneFutureReturnsAtOnce) { run_clean(wait_for_done_future_main()); }

// --- timeout / timeout_at -----------------------------------------------------------------------

coro<void> nothing() { co_return; }

coro<void> timeout_value_main() {
    log_t log;
    auto t0 = now();
    auto block = [&log] { return value_after(10ms, 5, &log, "block"); };
    int v = co_await asyncio::timeout(100ms, block);
    EXPECT_EQ(v, 5);
    EXPECT_TRUE(elapsed_is(t0, 10ms));
    EXPECT_EQ(cancelling(), 0);

    auto deadline = now() + 100ms;
    int v2 = co_await asyncio::timeout_at(deadline, block);
    EXPECT_EQ(v2, 5);

    auto void_block = [] { return nothing(); };
    co_await asyncio::timeout(1ms, void_block);
    co_await asyncio::sleep(50ms);  // the disarmed timers never fire into a later await
    EXPECT_EQ(cancelling(), 0);
}

TEST(Timeout, BlockFinishingInTimeReturnsItsValue) { run_clean(timeout_value_main()); }

coro<void> timeout_expiry_main() {
    log_t log;
    auto t0 = now();
    auto block = [&log] { return slow_with_cleanup(1s, 5ms, &log, "block"); };
    bool timed_out = false;
    try {
        co_await asyncio::timeout(20ms, block);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
        log.push_back("caught timeout_error");
    }
    EXPECT_TRUE(timed_out);
    log_t expected{"block cancelled: ", "block cleanup done", "caught timeout_error"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(elapsed_is(t0, 25ms));
    // The timeout's own cancel request was taken back.
    EXPECT_EQ(cancelling(), 0);
    co_await asyncio::sleep(1ms);  // no cancellation left pending

    log.clear();
    timed_out = false;
    try {
        co_await asyncio::timeout_at(now() + 10ms, block);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(log.size(), 2u);
    EXPECT_EQ(cancelling(), 0);
}

TEST(Timeout, ExpiryThrowsTimeoutErrorAfterTheBlockCleanedUp) { run_clean(timeout_expiry_main()); }

coro<void> swallowing_block_main() {
    log_t log;
    auto block = [&log] { return completes_anyway(1s, 2ms, 6, &log); };
    auto t0 = now();
    int v = co_await asyncio::timeout(10ms, block);
    // The block swallowed the timeout's cancellation and returned: its value comes out, the
    // timeout's request is taken back, and no cancellation is left pending.
    EXPECT_EQ(v, 6);
    EXPECT_TRUE(elapsed_is(t0, 12ms));
    EXPECT_EQ(cancelling(), 0);
    bool cancelled = false;
    try {
        co_await asyncio::sleep(1ms);
    } catch (const asyncio::cancelled_error&) {
        cancelled = true;
    }
    EXPECT_FALSE(cancelled);
    EXPECT_EQ(log, (log_t{"inner cancelled, returns anyway"}));
}

TEST(Timeout, BlockThatSwallowsTheCancellationReturnsItsValue) { run_clean(swallowing_block_main()); }

coro<void> failing_block_main() {
    auto block = [] { return fail_after(1ms, "block failed"); };
    std::string caught;
    try {
        co_await asyncio::timeout(100ms, block);
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "block failed");
}

TEST(Timeout, BlockErrorPropagatesUnchanged) { run_clean(failing_block_main()); }

// Runs a 1 s block under a timeout of `limit` (or until `deadline`, when given), logs how it
// ended, rethrows.
coro<void> timeout_holder(ms limit, log_t* log, std::optional<asyncio::clock::time_point> deadline = {}) {
    auto block = [log] { return slow_with_cleanup(1s, 5ms, log, "block"); };
    try {
        if (deadline)
            co_await asyncio::timeout_at(*deadline, block);
        else
            co_await asyncio::timeout(limit, block);
        log->push_back("holder: block returned");
    } catch (const asyncio::timeout_error&) {
        log->push_back("holder caught timeout_error, cancelling " + std::to_string(cancelling()));
        throw;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught cancelled: " + e.message() + ", cancelling " +
                       std::to_string(cancelling()));
        throw;
    }
}

coro<void> timeout_outside_cancel_main() {
    log_t log;
    task<void> holder = asyncio::create_task(timeout_holder(50ms, &log));
    co_await asyncio::sleep(10ms);
    holder.cancel("outside");
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: outside");
    log_t expected{"block cancelled: outside", "block cleanup done",
                   "holder caught cancelled: outside, cancelling 1"};
    EXPECT_EQ(log, expected);
    co_await asyncio::sleep(100ms);  // the disarmed timeout never fires
}

TEST(Timeout, OutsideCancelPropagatesAsCancelledError) { run_clean(timeout_outside_cancel_main()); }

// The block catches the outside cancellation, cleans up, and rethrows after the deadline passed:
// still cancelled_error (the timeout fired meanwhile, but there is a cancel request it did not make).
coro<void> timeout_outside_cancel_then_expiry_main() {
    log_t log;
    task<void> holder = asyncio::create_task(timeout_holder(12ms, &log));
    co_await asyncio::sleep(10ms);
    holder.cancel("outside");  // the block's cleanup runs from 10 to 15 ms; the timeout is due at 12
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how.rfind("cancelled", 0), 0u) << how;
    EXPECT_EQ(log.empty() ? "" : log.back().substr(0, 23), "holder caught cancelled");
}

TEST(Timeout, OutsideCancelFollowedByExpiryIsStillCancelledError) {
    run_clean(timeout_outside_cancel_then_expiry_main());
}

// The outside cancel arrives in the same loop iteration as the expiry (CPython gh-134471 style):
// the timeout must not swallow it.
coro<void> timeout_same_iteration_main(bool cancel_timer_first) {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<void> holder;
    if (cancel_timer_first) {
        loop.call_later(20ms, [&holder] { holder.cancel("outside"); });
        holder = asyncio::create_task(timeout_holder(20ms, &log));
    } else {
        holder = asyncio::create_task(timeout_holder(20ms, &log));
        co_await asyncio::sleep(0ms);  // the timeout's timer exists now
        loop.call_later(20ms, [&holder] { holder.cancel("outside"); });
    }
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how.rfind("cancelled", 0), 0u) << how << " / " << joined(log);
    EXPECT_EQ(holder.cancelling(), 1);
    for (const auto& l : log) EXPECT_EQ(l.find("timeout_error"), std::string::npos) << joined(log);
}

TEST(Timeout, OutsideCancelInTheIterationOfTheExpiryIsNotSwallowed) {
    run_clean(timeout_same_iteration_main(true));
    run_clean(timeout_same_iteration_main(false));
}

// The same, but the block catches the cancellation and cleans up with a real co_await: as in
// Python, one cancellation is delivered (two requests before the task ran merge into one), so
// the cleanup runs to its end and cancelled_error comes out of the timeout.
coro<void> timeout_same_iteration_cleanup_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<void> holder;
    // One absolute deadline for both, so that they fire in one iteration on real time too.
    auto deadline = now() + 20ms;
    loop.call_at(deadline, [&holder] { holder.cancel("outside"); });
    holder = asyncio::create_task(timeout_holder(0ms, &log, deadline));
    std::string how = co_await outcome_of(holder);
    EXPECT_EQ(how, "cancelled: outside");
    log_t expected{"block cancelled: outside", "block cleanup done",
                   "holder caught cancelled: outside, cancelling 1"};
    EXPECT_EQ(log, expected);
}

TEST(Timeout, TwoCancelRequestsInOneIterationDeliverOneCancellation) {
    run_clean(timeout_same_iteration_cleanup_main());
}

// CPython gh-134471: a cancellation requested before the block starts (still pending) must not be
// taken for the timeout's own, even when the deadline is already due.
coro<void> prior_cancel_block(ms limit, log_t* log) {
    asyncio::current_task().cancel("prior");
    auto block = [log] { return slow_with_cleanup(1s, 1ms, log, "block"); };
    try {
        co_await asyncio::timeout(limit, block);
        log->push_back("returned");
    } catch (const asyncio::timeout_error&) {
        log->push_back("timeout_error");
        throw;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message() + ", cancelling " + std::to_string(cancelling()));
        throw;
    }
}

coro<void> prior_cancel_main() {
    for (ms limit : {ms(0), ms(-1), ms(10)}) {
        log_t log;
        task<void> t = asyncio::create_task(prior_cancel_block(limit, &log));
        std::string how = co_await outcome_of(t);
        EXPECT_EQ(how.rfind("cancelled", 0), 0u)
            << "limit " << limit.count() << ": " << how << " / " << joined(log);
        EXPECT_EQ(log.empty() ? "" : log.back().substr(0, 10), "cancelled:") << joined(log);
        EXPECT_EQ(t.cancelling(), 1) << "limit " << limit.count();
    }
}

TEST(Timeout, PriorPendingCancelIsNotSwallowedByAnExpiredTimeout) { run_clean(prior_cancel_main()); }

// --- nesting ---------------------------------------------------------------------------------------

coro<int> inner_times_out(log_t* log) {
    auto inner_block = [log] { return slow_with_cleanup(1s, 2ms, log, "inner block"); };
    try {
        co_await asyncio::timeout(10ms, inner_block);
    } catch (const asyncio::timeout_error&) {
        log->push_back("inner timeout_error, cancelling " + std::to_string(cancelling()));
    }
    co_await asyncio::sleep(20ms);  // the outer timeout (100 ms) is still armed and unaffected
    log->push_back("after inner");
    co_return 5;
}

coro<void> nested_inner_expires_main() {
    log_t log;
    auto t0 = now();
    auto outer_block = [&log] { return inner_times_out(&log); };
    int v = co_await asyncio::timeout(100ms, outer_block);
    EXPECT_EQ(v, 5);
    EXPECT_TRUE(elapsed_is(t0, 32ms));
    log_t expected{"inner block cancelled: ", "inner block cleanup done", "inner timeout_error, cancelling 0",
                   "after inner"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(cancelling(), 0);
    co_await asyncio::sleep(200ms);  // past the outer deadline: nothing fires
}

TEST(Timeout, NestedInnerExpiryGivesTheInnerTimeoutOnlyAndTheOuterGoesOn) {
    run_clean(nested_inner_expires_main());
}

coro<int> inside_long_inner(log_t* log) {
    auto inner_block = [log] { return slow_with_cleanup(1s, 2ms, log, "inner block"); };
    try {
        co_await asyncio::timeout(100ms, inner_block);
        log->push_back("inner returned");
    } catch (const asyncio::timeout_error&) {
        log->push_back("inner saw timeout_error");
        throw;
    } catch (const asyncio::cancelled_error&) {
        log->push_back("inner saw cancelled_error");
        throw;
    }
    co_return 0;
}

coro<void> nested_outer_expires_main() {
    log_t log;
    auto t0 = now();
    auto outer_block = [&log] { return inside_long_inner(&log); };
    std::string got;
    try {
        co_await asyncio::timeout(10ms, outer_block);
        got = "returned";
    } catch (const asyncio::timeout_error&) {
        got = "outer timeout_error";
    } catch (const asyncio::cancelled_error&) {
        got = "cancelled_error";
    }
    EXPECT_EQ(got, "outer timeout_error");
    // The inner timeout did not convert the outer's cancellation: it let cancelled_error through.
    log_t expected{"inner block cancelled: ", "inner block cleanup done", "inner saw cancelled_error"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(elapsed_is(t0, 12ms));
    EXPECT_EQ(cancelling(), 0);
    co_await asyncio::sleep(200ms);
}

TEST(Timeout, NestedOuterExpiryGivesTimeoutErrorAtTheOuterLevelOnly) {
    run_clean(nested_outer_expires_main());
}

coro<void> nested_same_deadline_main() {
    log_t log;
    // Outer and inner both due at 10 ms (one absolute deadline, so on real time too): the inner
    // sees cancelled_error, the outer converts.
    auto deadline = now() + 10ms;
    auto inner_at_10 = [&log, deadline] {
        auto b = [&log] { return slow_with_cleanup(1s, 2ms, &log, "b"); };
        return asyncio::timeout_at(deadline, b);
    };
    std::string got;
    try {
        co_await asyncio::timeout_at(deadline, inner_at_10);
    } catch (const asyncio::timeout_error&) {
        got = "timeout_error";
    } catch (const asyncio::cancelled_error&) {
        got = "cancelled_error";
    }
    EXPECT_EQ(got, "timeout_error");
    log_t expected{"b cancelled: ", "b cleanup done"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(cancelling(), 0);
}

TEST(Timeout, NestedTimeoutsWithTheSameDeadline) { run_clean(nested_same_deadline_main()); }

// --- cancelling()/uncancel() counts -----------------------------------------------------------------

coro<void> counts_main() {
    log_t log;
    auto block = [&log] { return slow_with_cleanup(1s, 0ms, &log, "b"); };
    EXPECT_EQ(cancelling(), 0);
    for (int i = 0; i < 3; ++i) {
        try {
            co_await asyncio::timeout(1ms, block);
        } catch (const asyncio::timeout_error&) {
        }
        EXPECT_EQ(cancelling(), 0);
    }
    // Entered with a request already counted (and handled by the task without uncancel): the count
    // goes back to that value after the timeout fired, and the timeout still converts its own.
    asyncio::current_task().cancel("earlier");
    bool first_cancelled = false;
    try {
        co_await asyncio::sleep(1ms);
    } catch (const asyncio::cancelled_error&) {
        first_cancelled = true;
    }
    EXPECT_TRUE(first_cancelled);
    EXPECT_EQ(cancelling(), 1);
    bool timed_out = false;
    try {
        co_await asyncio::timeout(5ms, block);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(cancelling(), 1);
    EXPECT_EQ(asyncio::current_task().uncancel(), 0);
    co_await asyncio::sleep(1ms);
}

TEST(Timeout, CancellingCountReturnsToItsEntryValueAfterExpiry) { run_clean(counts_main()); }

// --- past deadlines -------------------------------------------------------------------------------

coro<int> no_await_block(int v) { co_return v; }

coro<void> past_deadline_main() {
    log_t log;
    auto t0 = now();
    auto block = [&log] { return slow_with_cleanup(1s, 1ms, &log, "b"); };
    bool timed_out = false;
    try {
        co_await asyncio::timeout_at(now() - 1s, block);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    log_t expected{"b cancelled: ", "b cleanup done"};  // cancelled at its first suspension
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(elapsed_is(t0, 1ms));
    EXPECT_EQ(cancelling(), 0);

    // A block that never suspends finishes before the due timeout can interrupt it (as in Python).
    auto quick = [] { return no_await_block(9); };
    int v = co_await asyncio::timeout_at(now(), quick);
    EXPECT_EQ(v, 9);
    EXPECT_EQ(cancelling(), 0);
    co_await asyncio::sleep(1ms);  // and no cancellation is left pending
}

TEST(Timeout, TimeoutAtAPastDeadline) { run_clean(past_deadline_main()); }

}  // namespace
