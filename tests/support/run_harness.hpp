// Test harness shared by the composition tests: runs a body as asyncio::run's main task on
// virtual time in debug mode, and records what the loop's exception handler was told.
//
// ASYNCIO_TEST_CLOCK=real runs the same bodies on real time (ctest's *_real_time entries do, for
// the files written to give the same results on both clocks: they check durations with
// elapsed_is(), exact on virtual time and bounded on real time). Unset or "virtual": virtual time.
#pragma once

#include <gtest/gtest.h>

#include <asyncio/coro.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

// The clock the harness runs bodies on: ASYNCIO_TEST_CLOCK=real|virtual (default virtual).
inline asyncio::clock_kind test_clock() {
    const char* v = std::getenv("ASYNCIO_TEST_CLOCK");
    std::string s = v ? v : "";
    if (s.empty() || s == "virtual") return asyncio::clock_kind::virtual_time;
    if (s == "real") return asyncio::clock_kind::real_time;
    throw std::invalid_argument("ASYNCIO_TEST_CLOCK must be 'real' or 'virtual', not '" + s + "'");
}
inline bool on_real_time() { return test_clock() == asyncio::clock_kind::real_time; }

inline std::vector<std::string> g_reports;

inline void record_report(asyncio::event_loop&, const asyncio::exception_context& ctx) {
    g_reports.push_back(ctx.message);
}

inline asyncio::coro<void> with_handler(asyncio::coro<void> body) {
    asyncio::get_running_loop().set_exception_handler(&record_report);
    co_await std::move(body);
}

// Runs `body` as asyncio::run's main task; returns the exception handler's reports.
inline std::vector<std::string> run_collect(asyncio::coro<void> body) {
    g_reports.clear();
    asyncio::run_options opts;
    opts.debug = true;
    opts.clock = test_clock();
    asyncio::run(with_handler(std::move(body)), opts);
    return g_reports;
}

inline std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += "[" + x + "] ";
    return s;
}

// As run_collect, and expects that nothing was reported (no lost exception, no leaked task).
inline void run_clean(asyncio::coro<void> body) {
    std::vector<std::string> r = run_collect(std::move(body));
    EXPECT_TRUE(r.empty()) << "exception handler was told: " << joined(r);
}

inline asyncio::clock::time_point now() { return asyncio::get_running_loop().time(); }
inline std::chrono::milliseconds since(asyncio::clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now() - t0);
}

// How late real time may be (a loaded machine, a sanitizer build). Well below the 1 s sleeps that
// the timeout tests cut short, so a timeout that did not fire still fails the bound.
inline constexpr std::chrono::milliseconds real_time_slack{400};

// "25 ms", "1500 us", "42 ns": durations in failure messages.
inline std::string show(std::chrono::nanoseconds d) {
    using namespace std::chrono;
    if (d % milliseconds(1) == nanoseconds(0))
        return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
    if (d % microseconds(1) == nanoseconds(0))
        return std::to_string(duration_cast<microseconds>(d).count()) + " us";
    return std::to_string(d.count()) + " ns";
}

// EXPECT_TRUE(elapsed_is(t0, 25ms)): on virtual time exactly 25 ms of loop time since t0; on real
// time at least 25 ms (timers never fire early) and at most 25 ms + real_time_slack.
inline ::testing::AssertionResult elapsed_is(asyncio::clock::time_point t0,
                                             std::chrono::nanoseconds expected) {
    std::chrono::nanoseconds elapsed = now() - t0;
    if (!on_real_time()) {
        if (elapsed == expected) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << "elapsed " << show(elapsed) << " of virtual time, expected exactly " << show(expected);
    }
    if (elapsed >= expected && elapsed <= expected + real_time_slack) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "elapsed " << show(elapsed) << " of real time, expected between "
                                         << show(expected) << " and " << show(expected + real_time_slack);
}

// A child that sleeps `d`. When cancelled: logs the message, spends `cleanup` cleaning up (a real
// co_await), logs that, and rethrows the cancellation. Otherwise logs "<name> done", returns -1.
inline asyncio::coro<int> slow_with_cleanup(std::chrono::milliseconds d, std::chrono::milliseconds cleanup,
                                            std::vector<std::string>* log, std::string name) {
    std::optional<std::string> cancel_msg;
    try {
        co_await asyncio::sleep(d);
    } catch (const asyncio::cancelled_error& e) {
        cancel_msg = e.message();
    }
    if (cancel_msg) {
        log->push_back(name + " cancelled: " + *cancel_msg);
        co_await asyncio::sleep(cleanup);
        log->push_back(name + " cleanup done");
        throw asyncio::cancelled_error(*cancel_msg);
    }
    log->push_back(name + " done");
    co_return -1;
}

}  // namespace test_support
