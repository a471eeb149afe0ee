// Tests of asyncio::run (run.hpp): result and exception of main, nesting, the clean-up of
// leftover tasks, SIGINT, options, and running twice.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <csignal>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "support/describe.hpp"

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

namespace {

using test_support::describe;

asyncio::coro<int> answer() {
    co_await asyncio::sleep(0s);
    co_return 42;
}

TEST(Run, ReturnsMainsValue) {
    EXPECT_EQ(asyncio::run(answer()), 42);
    static_assert(std::is_same_v<decltype(asyncio::run(answer())), int>);
}

asyncio::coro<std::string> string_main() {
    co_await asyncio::sleep(1ms);
    co_return std::string("text");
}

TEST(Run, ReturnsNonTrivialValues) { EXPECT_EQ(asyncio::run(string_main()), "text"); }

asyncio::coro<int> failing_main() {
    co_await asyncio::sleep(0s);
    throw std::domain_error("main failed");
    co_return 0;
}

TEST(Run, RethrowsMainsException) {
    try {
        asyncio::run(failing_main());
        FAIL() << "run did not throw";
    } catch (const std::domain_error& e) {
        EXPECT_STREQ(e.what(), "main failed");
    }
}

asyncio::coro<void> self_cancelling_main() {
    asyncio::current_task().cancel("main cancelled itself");
    co_await asyncio::sleep(0s);
}

TEST(Run, RethrowsMainsCancellation) {
    try {
        asyncio::run(self_cancelling_main());
        FAIL() << "run did not throw";
    } catch (const asyncio::cancelled_error& e) {
        EXPECT_EQ(e.message(), "main cancelled itself");
    }
}

asyncio::coro<void> nothing() { co_return; }

asyncio::coro<std::string> nested_run_main() {
    std::string what;
    try {
        asyncio::run(nothing());
        what = "no exception";
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_await asyncio::sleep(0s);
    co_return what;
}

TEST(Run, RunInsideARunningLoopThrowsRuntimeError) {
    EXPECT_EQ(asyncio::run(nested_run_main()), "asyncio::run() cannot be called from a running event loop");
}

TEST(Run, RunInsideAHandMadeLoopThrowsRuntimeError) {
    asyncio::event_loop loop;
    std::string what = loop.run_until_complete(nested_run_main());
    EXPECT_EQ(what, "asyncio::run() cannot be called from a running event loop");
    loop.close();
}

// --- leftover tasks --------------------------------------------------------------------------------

struct raii_flag {
    bool* flag;
    ~raii_flag() { *flag = true; }
};

asyncio::coro<void> sleep_forever(log_t* log, bool* destroyed) {
    raii_flag f{destroyed};
    try {
        co_await asyncio::sleep(24h);
        log->push_back("woke up");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("leftover got cancelled_error '" + e.message() + "'");
        throw;
    }
}

asyncio::coro<int> leave_a_task_behind(log_t* log, bool* destroyed) {
    (void)asyncio::create_task(sleep_forever(log, destroyed), "leftover");
    co_await asyncio::sleep(0s);
    log->push_back("main returns");
    co_return 5;
}

TEST(Run, CancelsLeftoverTasksAndTheirCleanupRuns) {
    log_t log;
    bool destroyed = false;
    EXPECT_EQ(asyncio::run(leave_a_task_behind(&log, &destroyed)), 5);
    log_t expected{"main returns", "leftover got cancelled_error ''"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(destroyed);
}

asyncio::coro<void> cleanup_that_awaits(log_t* log) {
    try {
        co_await asyncio::sleep(24h);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("cancelled");
    }
    co_await asyncio::sleep(1ms);  // cleanup may still await: run waits for it
    log->push_back("async cleanup finished");
}

asyncio::coro<void> leave_awaiting_cleanup(log_t* log) {
    (void)asyncio::create_task(cleanup_that_awaits(log));
    co_await asyncio::sleep(0s);
}

TEST(Run, WaitsForLeftoverTasksAsynchronousCleanup) {
    log_t log;
    asyncio::run(leave_awaiting_cleanup(&log));
    log_t expected{"cancelled", "async cleanup finished"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> fail_on_cancel() {
    try {
        co_await asyncio::sleep(24h);
    } catch (const asyncio::cancelled_error&) {
        throw std::runtime_error("cleanup failed");
    }
}

asyncio::coro<int> leave_failing_task(log_t* reports) {
    asyncio::get_running_loop().set_exception_handler(
        [reports](asyncio::event_loop&, const asyncio::exception_context& ctx) {
            reports->push_back(ctx.message + " | " + describe(ctx.exception) + " | " + ctx.task.name());
        });
    (void)asyncio::create_task(fail_on_cancel(), "fails-at-shutdown");
    co_await asyncio::sleep(0s);
    co_return 1;
}

TEST(Run, ALeftoverTaskThatFailsDuringShutdownIsReportedOnce) {
    log_t reports;
    EXPECT_EQ(asyncio::run(leave_failing_task(&reports)), 1);
    log_t expected{
        "unhandled exception during asyncio.run() shutdown | std::exception: cleanup failed | "
        "fails-at-shutdown"};
    EXPECT_EQ(reports, expected);
}

// --- SIGINT -------------------------------------------------------------------------------------------

asyncio::coro<void> interrupted_main(log_t* log) {
    co_await asyncio::sleep(1ms);
    std::raise(SIGINT);
    log->push_back("raised");
    try {
        co_await asyncio::sleep(24h);
        log->push_back("slept");
    } catch (const asyncio::cancelled_error&) {
        log->push_back("main cancelled");
        throw;
    }
}

TEST(Run, SigintCancelsMainAndRunThrowsKeyboardInterrupt) {
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGINT, nullptr, &before), 0);
    ASSERT_EQ(before.sa_handler, SIG_DFL) << "run only handles SIGINT when nobody else does";
    log_t log;
    bool interrupted = false;
    try {
        asyncio::run(interrupted_main(&log));
    } catch (const asyncio::keyboard_interrupt&) {
        interrupted = true;
    }
    EXPECT_TRUE(interrupted);
    log_t expected{"raised", "main cancelled"};
    EXPECT_EQ(log, expected);
    struct sigaction after {};
    ASSERT_EQ(::sigaction(SIGINT, nullptr, &after), 0);
    EXPECT_EQ(after.sa_handler, SIG_DFL) << "run restores SIGINT";
}

asyncio::coro<int> interrupted_but_finishes(log_t* log) {
    std::raise(SIGINT);
    try {
        co_await asyncio::sleep(24h);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("main swallowed the interrupt");
    }
    co_return 3;
}

TEST(Run, MainThatSwallowsTheInterruptReturnsNormally) {
    // Python: KeyboardInterrupt is raised only when the main task ends cancelled.
    log_t log;
    int v = asyncio::run(interrupted_but_finishes(&log));
    EXPECT_EQ(v, 3);
    log_t expected{"main swallowed the interrupt"};
    EXPECT_EQ(log, expected);
}

// --- options ------------------------------------------------------------------------------------------

asyncio::coro<bool> get_debug_main() {
    co_await asyncio::sleep(0s);
    co_return asyncio::get_running_loop().get_debug();
}

TEST(Run, DebugOption) {
    EXPECT_TRUE(asyncio::run(get_debug_main(), asyncio::run_options{.debug = true}));
    EXPECT_FALSE(asyncio::run(get_debug_main(), asyncio::run_options{.debug = false}));
}

asyncio::coro<std::chrono::nanoseconds> virtual_time_main() {
    auto& loop = asyncio::get_running_loop();
    auto t0 = loop.time();
    co_await asyncio::sleep(1h);
    co_return loop.time() - t0;
}

TEST(Run, VirtualTimeClockOption) {
    auto wall = std::chrono::steady_clock::now();
    asyncio::run_options opts;
    opts.clock = asyncio::clock_kind::virtual_time;
    std::chrono::nanoseconds slept = asyncio::run(virtual_time_main(), opts);
    EXPECT_GE(slept, 1h);
    EXPECT_LT(std::chrono::steady_clock::now() - wall, 30s);
}

// --- sequencing ---------------------------------------------------------------------------------------

asyncio::coro<asyncio::event_loop*> loop_address() {
    co_await asyncio::sleep(0s);
    co_return &asyncio::get_running_loop();
}

TEST(Run, TwoRunsInSequence) {
    EXPECT_EQ(asyncio::run(answer()), 42);
    EXPECT_EQ(asyncio::run(answer()), 42);
    asyncio::event_loop* first = asyncio::run(loop_address());
    asyncio::event_loop* second = asyncio::run(loop_address());
    EXPECT_NE(first, nullptr);
    EXPECT_NE(second, nullptr);
    EXPECT_THROW(asyncio::get_running_loop(), std::runtime_error);  // nothing runs after run returns
}

TEST(Run, MainTaskIsNamedMain) {
    struct local {
        static asyncio::coro<std::string> name() {
            co_await asyncio::sleep(0s);
            co_return asyncio::current_task().name();
        }
    };
    EXPECT_EQ(asyncio::run(local::name()), "main");
}

}  // namespace
