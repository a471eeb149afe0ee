// Test harness shared by the composition tests: runs a body as asyncio::run's main task on
// virtual time in debug mode, and records what the loop's exception handler was told.
#pragma once

#include <gtest/gtest.h>

#include <asyncio/coro.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

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
    opts.clock = asyncio::clock_kind::virtual_time;
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
