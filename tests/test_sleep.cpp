// Tests of asyncio::sleep (sleep.hpp): values, sleep(0) and negative delays, the length of the
// delay, timer order, cancellation.
//
// Every test runs on virtual time through the shared harness (exact durations, no wall time), and
// gives the same results on real time: ctest's test_sleep_real_time runs it with
// ASYNCIO_TEST_CLOCK=real (durations are checked with elapsed_is(): exact on virtual time, at
// least the delay and within a generous bound on real time).
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/run_harness.hpp"

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

namespace {

using namespace test_support;

asyncio::coro<void> sleep_value_main(std::string* out) {
    auto t0 = now();
    std::string a = co_await asyncio::sleep(1ms, std::string("after 1ms"));
    EXPECT_TRUE(elapsed_is(t0, 1ms));
    int b = co_await asyncio::sleep(0s, 7);
    std::unique_ptr<int> c = co_await asyncio::sleep(0s, std::make_unique<int>(9));  // move-only
    *out = a + " " + std::to_string(b) + " " + std::to_string(c ? *c : -1);
}

TEST(Sleep, SleepWithValueReturnsTheValue) {
    std::string out;
    run_clean(sleep_value_main(&out));
    EXPECT_EQ(out, "after 1ms 7 9");
}

// Yield semantics: a callback queued before the sleep runs first; one it queues runs after the task.
asyncio::coro<void> yield_order_main(log_t* log, std::chrono::milliseconds delay) {
    auto& loop = asyncio::get_running_loop();
    loop.call_soon([log, &loop] {
        log->push_back("cb1");
        loop.call_soon([log] { log->push_back("cb2"); });
    });
    auto t0 = now();
    co_await asyncio::sleep(delay);
    EXPECT_TRUE(elapsed_is(t0, 0ms));
    log->push_back("task");
    co_await asyncio::sleep(0s);
}

TEST(Sleep, SleepZeroYieldsExactlyOnce) {
    log_t log;
    run_clean(yield_order_main(&log, 0ms));
    log_t expected{"cb1", "task", "cb2"};
    EXPECT_EQ(log, expected);
}

TEST(Sleep, NegativeSleepActsAsSleepZero) {
    log_t log;
    run_clean(yield_order_main(&log, -50ms));
    log_t expected{"cb1", "task", "cb2"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> negative_value_main(int* out) {
    auto t0 = now();
    *out = co_await asyncio::sleep(-1h, 11);
    EXPECT_TRUE(elapsed_is(t0, 0ms));
}

TEST(Sleep, NegativeSleepWithValue) {
    int v = 0;
    run_clean(negative_value_main(&v));
    EXPECT_EQ(v, 11);
}

asyncio::coro<void> timed_sleep(std::chrono::nanoseconds d) {
    auto t0 = now();
    co_await asyncio::sleep(d);
    EXPECT_TRUE(elapsed_is(t0, d)) << "sleep(" << show(d) << ")";
}

TEST(Sleep, LastsItsDelay) {
    for (std::chrono::nanoseconds d : {std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(15ms),
                                       std::chrono::nanoseconds(1500us), std::chrono::nanoseconds(1)})
        run_clean(timed_sleep(d));
}

asyncio::coro<void> fractional_sleep() {
    auto t0 = now();
    co_await asyncio::sleep(std::chrono::duration<double, std::milli>(2.5));
    EXPECT_TRUE(elapsed_is(t0, 2500us));
}

TEST(Sleep, FractionalDurations) { run_clean(fractional_sleep()); }

asyncio::coro<void> sleep_and_log(std::chrono::milliseconds d, std::string name, log_t* log) {
    co_await asyncio::sleep(d);
    log->push_back(name);
}

asyncio::coro<void> sleepers_main(log_t* log) {
    auto t0 = now();
    std::vector<asyncio::task<void>> tasks;
    tasks.push_back(asyncio::create_task(sleep_and_log(6ms, "6ms", log)));
    tasks.push_back(asyncio::create_task(sleep_and_log(2ms, "2ms", log)));
    tasks.push_back(asyncio::create_task(sleep_and_log(4ms, "4ms", log)));
    tasks.push_back(asyncio::create_task(sleep_and_log(0ms, "0ms", log)));
    for (auto& t : tasks) co_await t;
    EXPECT_TRUE(elapsed_is(t0, 6ms));  // they slept side by side
}

TEST(Sleep, ShorterSleepsWakeFirst) {
    log_t log;
    run_clean(sleepers_main(&log));
    log_t expected{"0ms", "2ms", "4ms", "6ms"};
    EXPECT_EQ(log, expected);
}

// --- cancellation ---------------------------------------------------------------------------------

asyncio::coro<void> sleep_logging_cancel(std::chrono::hours d, log_t* log) {
    try {
        co_await asyncio::sleep(d);
        log->push_back("woke");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message());
        throw;
    }
}

asyncio::coro<void> cancel_sleep_main(log_t* log, std::chrono::hours d) {
    auto t0 = now();
    asyncio::task<void> t = asyncio::create_task(sleep_logging_cancel(d, log));
    co_await asyncio::sleep(1ms);
    t.cancel("wake up");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("main: " + e.message());
    }
    log->push_back(t.cancelled() ? "task cancelled" : "task not cancelled");
    EXPECT_TRUE(elapsed_is(t0, 1ms));  // the cancelled sleep ended at once
}

TEST(Sleep, CancellationWhileSleeping) {
    log_t log;
    run_clean(cancel_sleep_main(&log, 1h));
    log_t expected{"cancelled: wake up", "main: wake up", "task cancelled"};
    EXPECT_EQ(log, expected);
}

TEST(Sleep, ASleepOfHoursMaxIsForeverAndCancellable) {
    log_t log;
    run_clean(cancel_sleep_main(&log, std::chrono::hours::max()));
    log_t expected{"cancelled: wake up", "main: wake up", "task cancelled"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<int> value_sleep_cancelled(log_t* log) {
    try {
        int v = co_await asyncio::sleep(1h, 5);
        co_return v;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("value sleep cancelled: " + e.message());
        throw;
    }
}

asyncio::coro<void> cancel_value_sleep_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(value_sleep_cancelled(log));
    co_await asyncio::sleep(0s);
    t.cancel("v");
    try {
        int v = co_await t;
        log->push_back("value " + std::to_string(v));
    } catch (const asyncio::cancelled_error&) {
        log->push_back("main caught");
    }
}

TEST(Sleep, CancellingASleepWithValue) {
    log_t log;
    run_clean(cancel_value_sleep_main(&log));
    log_t expected{"value sleep cancelled: v", "main caught"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> cancelled_during_sleep_zero(log_t* log) {
    try {
        co_await asyncio::sleep(0s);
        log->push_back("not cancelled");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("sleep(0) cancelled: " + e.message());
    }
    co_await asyncio::sleep(0s);  // the cancellation was consumed
    log->push_back("continued");
}

asyncio::coro<void> cancel_sleep_zero_main(log_t* log) {
    asyncio::task<void> t = asyncio::create_task(cancelled_during_sleep_zero(log));
    co_await asyncio::sleep(0s);  // t is now in its sleep(0), queued to run again
    t.cancel("zero");
    co_await t;
}

TEST(Sleep, CancellingATaskInSleepZero) {
    log_t log;
    run_clean(cancel_sleep_zero_main(&log));
    log_t expected{"sleep(0) cancelled: zero", "continued"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> resleep_after_cancel(log_t* log) {
    try {
        co_await asyncio::sleep(3ms);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("first sleep cancelled");
    }
    // The cancelled timer is gone: it must not wake this second, longer sleep early.
    auto t0 = now();
    co_await asyncio::sleep(20ms);
    EXPECT_TRUE(elapsed_is(t0, 20ms));
    log->push_back("second sleep ended");
}

asyncio::coro<void> resleep_main(log_t* log) {
    asyncio::task<void> t = asyncio::create_task(resleep_after_cancel(log));
    co_await asyncio::sleep(0s);
    t.cancel();
    co_await t;
}

TEST(Sleep, ACancelledSleepLeavesNoTimerBehind) {
    log_t log;
    run_clean(resleep_main(&log));
    log_t expected{"first sleep cancelled", "second sleep ended"};
    EXPECT_EQ(log, expected);
}

}  // namespace
