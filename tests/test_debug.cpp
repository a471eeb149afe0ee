// Debug mode: its switches, the debug stream, slow callbacks, never-awaited coros and
// never-retrieved task exceptions. Each diagnostic is captured (the debug stream set to a
// std::ostringstream, or the exception handler) and checked for the task's name, the message and
// the file:line it names.
// ctest-labels: threads
#include <gtest/gtest.h>

#include <asyncio/coro.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/describe.hpp"
#include "support/run_harness.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::describe;

asyncio::loop_options debug_options(bool debug = true) {
    asyncio::loop_options o;
    o.debug = debug;
    o.clock = asyncio::clock_kind::virtual_time;  // slow steps are still measured on the real clock
    return o;
}

// "<this file>:<line>", as the library prints a co_await site or a coroutine's definition.
std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// The seconds in "... took 0.250 s ...".
double seconds_taken(const std::string& report) {
    std::size_t at = report.find(" took ");
    if (at == std::string::npos) return -1;
    return std::stod(report.substr(at + 6));
}

// Everything the exception handler is told.
struct handler_log {
    std::vector<std::string> messages;
    std::vector<std::exception_ptr> exceptions;
    std::vector<std::string> tasks;
    void install(asyncio::event_loop& loop) {
        loop.set_exception_handler([this](asyncio::event_loop&, const asyncio::exception_context& c) {
            messages.push_back(c.message);
            exceptions.push_back(c.exception);
            tasks.push_back(c.task ? c.task.name() : "");
        });
    }
};

// Captures std::cerr while alive.
struct cerr_capture {
    std::ostringstream text;
    std::streambuf* old = std::cerr.rdbuf(text.rdbuf());
    ~cerr_capture() { std::cerr.rdbuf(old); }
};

// ASYNCIO_DEBUG set (or unset) while alive.
struct env_debug {
    std::optional<std::string> saved;
    explicit env_debug(const char* value) {
        if (const char* v = std::getenv("ASYNCIO_DEBUG")) saved = v;
        if (value)
            ::setenv("ASYNCIO_DEBUG", value, 1);
        else
            ::unsetenv("ASYNCIO_DEBUG");
    }
    ~env_debug() {
        if (saved)
            ::setenv("ASYNCIO_DEBUG", saved->c_str(), 1);
        else
            ::unsetenv("ASYNCIO_DEBUG");
    }
};

// ------------------------------------------------------------------------------ slow callbacks
// A step that blocks the loop for 150 ms between two co_awaits (a blocking call in a coroutine).
constexpr int blocker_resume_line = __LINE__ + 3;
constexpr int blocker_suspend_line = __LINE__ + 4;
asyncio::coro<void> blocks_between_awaits() {
    co_await asyncio::sleep(0ms);
    std::this_thread::sleep_for(150ms);
    co_await asyncio::sleep(0ms);
}

asyncio::coro<int> blocks_in_its_only_step() {
    std::this_thread::sleep_for(150ms);
    co_return 7;
}

// The step that blocks resumes inside the child and suspends in the parent: both are named by
// the innermost frame at that moment.
constexpr int child_resume_line = __LINE__ + 2;
asyncio::coro<void> child_blocks() {
    co_await asyncio::sleep(0ms);
    std::this_thread::sleep_for(150ms);
}
constexpr int parent_suspend_line = __LINE__ + 3;
asyncio::coro<void> parent_of_blocker() {
    co_await child_blocks();
    co_await asyncio::sleep(0ms);
}

asyncio::coro<void> many_quick_steps() {
    for (int i = 0; i < 100; ++i) co_await asyncio::sleep(0ms);
}

std::string run_with_stream(asyncio::coro<void> body, bool debug, std::string name = "blocker") {
    std::ostringstream out;
    asyncio::event_loop loop{debug_options(debug)};
    loop.set_debug_stream(&out);
    loop.run_until_complete(loop.create_task(std::move(body), std::move(name)));
    return out.str();
}

TEST(SlowCallback, TaskStepIsReportedWithNameDurationAndWhereItResumedAndSuspended) {
    std::string out = run_with_stream(blocks_between_awaits(), true);
    EXPECT_EQ(count_of(out, "asyncio: "), 1u) << out;  // only the blocking step
    EXPECT_EQ(out.rfind("asyncio: task 'blocker' step took ", 0), 0u) << out;
    EXPECT_NE(out.find(" s (resumed at " + here(blocker_resume_line) + ", suspended at " +
                       here(blocker_suspend_line) + ")\n"),
              std::string::npos)
        << out;
    EXPECT_GE(seconds_taken(out), 0.1) << out;  // took more than the 100 ms threshold
}

TEST(SlowCallback, FirstAndLastStepSayStartedAndFinished) {
    std::ostringstream out;
    asyncio::event_loop loop{debug_options()};
    loop.set_debug_stream(&out);
    EXPECT_EQ(loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "one-step")), 7);
    EXPECT_EQ(out.str().rfind("asyncio: task 'one-step' step took ", 0), 0u) << out.str();
    EXPECT_NE(out.str().find(" s (started, finished)\n"), std::string::npos) << out.str();
}

TEST(SlowCallback, ResumePointAndSuspendPointAreTheInnermostFrames) {
    std::string out = run_with_stream(parent_of_blocker(), true, "nested");
    EXPECT_EQ(count_of(out, "asyncio: "), 1u) << out;
    EXPECT_NE(out.find("asyncio: task 'nested' step took "), std::string::npos) << out;
    EXPECT_NE(out.find("(resumed at " + here(child_resume_line) + ", suspended at " +
                       here(parent_suspend_line) + ")"),
              std::string::npos)
        << out;
}

TEST(SlowCallback, PlainCallbackIsReported) {
    std::ostringstream out;
    asyncio::event_loop loop{debug_options()};
    loop.set_debug_stream(&out);
    loop.call_soon([] { std::this_thread::sleep_for(150ms); });
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(count_of(out.str(), "asyncio: "), 1u) << out.str();
    EXPECT_EQ(out.str().rfind("asyncio: callback took ", 0), 0u) << out.str();
    EXPECT_GE(seconds_taken(out.str()), 0.1) << out.str();
}

TEST(SlowCallback, QuickStepsAreNotReported) { EXPECT_EQ(run_with_stream(many_quick_steps(), true), ""); }

TEST(SlowCallback, NothingIsReportedWithDebugOff) {
    EXPECT_EQ(run_with_stream(blocks_between_awaits(), false), "");
    std::ostringstream out;
    asyncio::event_loop loop{debug_options(false)};
    loop.set_debug_stream(&out);
    loop.call_soon([] { std::this_thread::sleep_for(150ms); });
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(out.str(), "");
}

TEST(SlowCallback, ThresholdIsSlowCallbackDuration) {
    {
        std::ostringstream out;
        asyncio::event_loop loop{debug_options()};
        loop.set_debug_stream(&out);
        loop.slow_callback_duration = 10s;
        loop.run_until_complete(loop.create_task(blocks_in_its_only_step()));
        EXPECT_EQ(out.str(), "");
    }
    {
        std::ostringstream out;
        asyncio::event_loop loop{debug_options()};
        loop.set_debug_stream(&out);
        loop.slow_callback_duration = 1ms;
        loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "low-threshold"));
        EXPECT_NE(out.str().find("asyncio: task 'low-threshold' step took "), std::string::npos) << out.str();
    }
}

// A task that finishes in its slow step and whose handle is already gone: the report still names
// it (the loop holds it until the report is written).
TEST(SlowCallback, TaskThatEndsInItsSlowStepWithNoHandleLeft) {
    std::ostringstream out;
    asyncio::event_loop loop{debug_options()};
    loop.set_debug_stream(&out);
    { auto t = loop.create_task(blocks_in_its_only_step(), "unowned"); }
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    EXPECT_NE(out.str().find("asyncio: task 'unowned' step took "), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("(started, finished)"), std::string::npos) << out.str();
}

// ------------------------------------------------------------------------------ debug switches
asyncio::coro<void> note_debug(bool* seen) {
    *seen = asyncio::get_running_loop().get_debug();
    co_return;
}

TEST(DebugSwitch, RunOptionsDebug) {
    env_debug env("1");
    bool seen = false;
    asyncio::run_options on;
    on.debug = true;
    asyncio::run(note_debug(&seen), on);
    EXPECT_TRUE(seen);
    asyncio::run_options off;
    off.debug = false;  // the option wins over ASYNCIO_DEBUG
    asyncio::run(note_debug(&seen), off);
    EXPECT_FALSE(seen);
}

TEST(DebugSwitch, EnvironmentVariableWhenTheOptionIsUnset) {
    bool seen = false;
    {
        env_debug env("1");
        EXPECT_TRUE(asyncio::event_loop().get_debug());
        asyncio::run(note_debug(&seen));
        EXPECT_TRUE(seen);
    }
    {
        env_debug env("0");
        EXPECT_FALSE(asyncio::event_loop().get_debug());
    }
    {
        env_debug env("");
        EXPECT_FALSE(asyncio::event_loop().get_debug());
    }
    {
        env_debug env(nullptr);
        EXPECT_FALSE(asyncio::event_loop().get_debug());
        asyncio::run(note_debug(&seen));
        EXPECT_FALSE(seen);
    }
}

TEST(DebugSwitch, SetDebugTurnsTheDiagnosticsOnAndOff) {
    std::ostringstream out;
    asyncio::event_loop loop{debug_options(false)};
    loop.set_debug_stream(&out);
    EXPECT_FALSE(loop.get_debug());
    loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "while-off"));
    loop.set_debug(true);
    EXPECT_TRUE(loop.get_debug());
    loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "while-on"));
    loop.set_debug(false);
    EXPECT_FALSE(loop.get_debug());
    loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "off-again"));
    EXPECT_EQ(count_of(out.str(), "asyncio: "), 1u) << out.str();
    EXPECT_NE(out.str().find("'while-on'"), std::string::npos) << out.str();
}

TEST(DebugSwitch, DebugStreamDefaultsToStderrAndNullSilences) {
    asyncio::event_loop loop{debug_options()};
    EXPECT_EQ(&loop.debug_stream(), &std::cerr);
    {
        cerr_capture err;
        loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "to-stderr"));
        EXPECT_NE(err.text.str().find("asyncio: task 'to-stderr' step took "), std::string::npos)
            << err.text.str();
    }
    loop.set_debug_stream(nullptr);
    EXPECT_NE(&loop.debug_stream(), &std::cerr);
    {
        cerr_capture err;
        loop.run_until_complete(loop.create_task(blocks_in_its_only_step(), "silenced"));
        EXPECT_EQ(err.text.str(), "");
    }
}

// ------------------------------------------------------------------------------ never awaited
// On one line, so GCC (which names a coroutine's closing brace) and Clang (its first line) agree.
constexpr int forgotten_line = __LINE__ + 1;
asyncio::coro<int> forgotten() { co_return 1; }

constexpr int multiline_first = __LINE__ + 1;
asyncio::coro<void> forgotten_multiline(const char* text) {  // a parameter a promise could take
    (void)text;
    co_return;
}
constexpr int multiline_last = __LINE__ - 1;

const std::string forgotten_report =
    "coroutine 'forgotten' was never awaited (created at " + here(forgotten_line) + ")";

asyncio::coro<void> drops_a_coro() {
    { asyncio::coro<int> c = forgotten(); }  // created, never awaited
    co_return;
}

asyncio::coro<void> drops_a_multiline_coro() {
    { asyncio::coro<void> c = forgotten_multiline("x"); }
    co_return;
}

asyncio::coro<void> uses_every_coro() {
    int a = co_await forgotten();  // awaited
    asyncio::task<int> t = asyncio::create_task(forgotten());
    int b = co_await t;  // made a task
    asyncio::task<int> never_ran = asyncio::create_task(forgotten());
    never_ran.cancel();  // a task cancelled before its first step: its body never runs, no report
    try {
        co_await never_ran;
    } catch (const asyncio::cancelled_error&) {
    }
    asyncio::coro<int> moved = forgotten();
    asyncio::coro<int> into = std::move(moved);  // the moved-from coro holds no frame
    int c = co_await std::move(into);
    EXPECT_EQ(a + b + c, 3);
}

asyncio::coro<void> hands_out(std::optional<asyncio::coro<int>>* out) {
    out->emplace(forgotten());
    co_return;
}

asyncio::coro<void> waits_forever_holding(asyncio::coro<int> held) {
    (void)held;
    co_await asyncio::sleep(24h);
}

asyncio::coro<void> starts_a_forever_task() {
    { auto t = asyncio::create_task(waits_forever_holding(forgotten()), "holder"); }
    co_await asyncio::sleep(0ms);
}

asyncio::coro<void> fails_before_awaiting() {
    asyncio::coro<int> c = forgotten();
    throw std::runtime_error("failed first");
    co_await std::move(c);
}

asyncio::coro<void> abandons_after_an_error() {
    auto t = asyncio::create_task(fails_before_awaiting());
    try {
        co_await t;
    } catch (const std::runtime_error&) {
    }
}

asyncio::coro<void> drops_a_gather() {
    { auto g = asyncio::gather(forgotten(), forgotten()); }
    co_return;
}

std::vector<std::string> run_in_loop(asyncio::coro<void> body, bool debug = true) {
    handler_log log;
    asyncio::event_loop loop{debug_options(debug)};
    log.install(loop);
    loop.run_until_complete(std::move(body));
    return log.messages;
}

TEST(NeverAwaited, ReportedOnceWithTheCoroutineAndWhereItIsDefined) {
    std::vector<std::string> r = run_in_loop(drops_a_coro());
    ASSERT_EQ(r.size(), 1u) << test_support::joined(r);
    EXPECT_EQ(r[0], forgotten_report);
}

TEST(NeverAwaited, MultilineCoroutineWithAParameter) {
    std::vector<std::string> r = run_in_loop(drops_a_multiline_coro());
    ASSERT_EQ(r.size(), 1u) << test_support::joined(r);
    std::string prefix =
        "coroutine 'forgotten_multiline' was never awaited (created at " + std::string(__FILE__) + ":";
    ASSERT_EQ(r[0].rfind(prefix, 0), 0u) << r[0];
    int line = std::stoi(r[0].substr(prefix.size()));
    EXPECT_GE(line, multiline_first) << r[0];
    EXPECT_LE(line, multiline_last) << r[0];
}

TEST(NeverAwaited, AwaitedOrMadeATaskIsNotReported) {
    std::vector<std::string> r = run_in_loop(uses_every_coro());
    EXPECT_TRUE(r.empty()) << test_support::joined(r);
}

// Python's library closes a coroutine it cannot start (TaskGroup.create_task on a finished group);
// here a coro destroyed by stack unwinding is not reported: the exception is the error to see.
TEST(NeverAwaited, NotReportedWhenAnExceptionDestroysIt) {
    std::vector<std::string> r = run_in_loop(abandons_after_an_error());
    EXPECT_TRUE(r.empty()) << test_support::joined(r);
}

// A gather never awaited is what is reported, not the children it would have started (Python's
// gather makes them tasks at once).
TEST(NeverAwaited, GatherNeverAwaitedIsReportedNotItsChildren) {
    std::vector<std::string> r = run_in_loop(drops_a_gather());
    ASSERT_EQ(r.size(), 1u) << test_support::joined(r);
    EXPECT_EQ(r[0].rfind("coroutine 'gather_tuple", 0), 0u) << r[0];  // GCC adds the template arguments
    EXPECT_NE(r[0].find("' was never awaited (created at "), std::string::npos) << r[0];
    EXPECT_NE(r[0].find("gather.hpp:"), std::string::npos) << r[0];
}

TEST(NeverAwaited, NotReportedWithDebugOff) {
    std::vector<std::string> r = run_in_loop(drops_a_coro(), false);
    EXPECT_TRUE(r.empty()) << test_support::joined(r);
}

TEST(NeverAwaited, ReportedThroughTheHandlerUnderAsyncioRun) {
    std::vector<std::string> r = test_support::run_collect(drops_a_coro());
    ASSERT_EQ(r.size(), 1u) << test_support::joined(r);
    EXPECT_EQ(r[0], forgotten_report);
}

TEST(NeverAwaited, DestroyedAfterTheLoopStoppedRunning) {
    handler_log log;
    asyncio::event_loop loop{debug_options()};
    log.install(loop);
    std::optional<asyncio::coro<int>> kept;
    loop.run_until_complete(hands_out(&kept));
    EXPECT_TRUE(log.messages.empty());
    kept.reset();
    ASSERT_EQ(log.messages.size(), 1u) << test_support::joined(log.messages);
    EXPECT_EQ(log.messages[0], forgotten_report);
}

TEST(NeverAwaited, DestroyedOnAnotherThread) {
    handler_log log;
    asyncio::event_loop loop{debug_options()};
    log.install(loop);
    std::optional<asyncio::coro<int>> kept;
    loop.run_until_complete(hands_out(&kept));
    std::thread([&kept] { kept.reset(); }).join();
    ASSERT_EQ(log.messages.size(), 1u) << test_support::joined(log.messages);
    EXPECT_EQ(log.messages[0], forgotten_report);
}

TEST(NeverAwaited, NotReportedOnceTheLoopIsGoneOrOutOfDebugMode) {
    std::optional<asyncio::coro<int>> outlives_loop;
    {
        handler_log log;
        asyncio::event_loop loop{debug_options()};
        log.install(loop);
        loop.run_until_complete(hands_out(&outlives_loop));
        EXPECT_TRUE(log.messages.empty());
    }
    outlives_loop.reset();  // its loop is gone: nothing to report to (and nothing touched)

    handler_log log;
    asyncio::event_loop loop{debug_options()};
    log.install(loop);
    std::optional<asyncio::coro<int>> kept;
    loop.run_until_complete(hands_out(&kept));
    loop.set_debug(false);
    kept.reset();
    EXPECT_TRUE(log.messages.empty()) << test_support::joined(log.messages);
}

// Python tracks coroutine origins while a debug loop runs; so do we. A coro made outside any
// running loop (asyncio::run's main, before the loop exists) is not tracked.
TEST(NeverAwaited, CreatedOutsideARunningLoopIsNotTracked) {
    handler_log log;
    asyncio::event_loop loop{debug_options()};
    log.install(loop);
    { asyncio::coro<int> c = forgotten(); }
    loop.run_until_complete(many_quick_steps());
    EXPECT_TRUE(log.messages.empty()) << test_support::joined(log.messages);
}

TEST(NeverAwaited, HeldByATaskDestroyedAtClose) {
    handler_log log;
    {
        asyncio::event_loop loop{debug_options()};
        log.install(loop);
        loop.run_until_complete(starts_a_forever_task());
        loop.close();
        // waits_forever_holding started (it is a task), but the coro it was given never was.
        ASSERT_EQ(log.messages.size(), 2u) << test_support::joined(log.messages);
        EXPECT_EQ(log.messages[0], "Task was destroyed but it is pending! (task 'holder')");
        EXPECT_EQ(log.messages[1], forgotten_report);
    }
}

// ------------------------------------------------------------------------------ never retrieved
asyncio::coro<void> fails_with(std::string what) {
    co_await asyncio::sleep(0ms);
    throw std::runtime_error(what);
}

int g_worker_created_line = 0;

asyncio::coro<void> drops_a_failing_task() {
    {
        g_worker_created_line = __LINE__ + 1;
        auto t = asyncio::create_task(fails_with("boom"), "worker");
    }
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(1ms);
}

asyncio::coro<void> keeps_a_failed_task_then_drops_it(const handler_log* log, std::size_t* before_drop) {
    std::optional<asyncio::task<void>> t;
    t.emplace(asyncio::create_task(fails_with("late"), "kept"));
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(1ms);
    EXPECT_TRUE(t->done());
    *before_drop = log->messages.size();
    t.reset();
    co_return;
}

asyncio::coro<void> retrieves_every_failure() {
    auto awaited = asyncio::create_task(fails_with("awaited"));
    try {
        co_await awaited;
    } catch (const std::runtime_error&) {
    }
    auto asked = asyncio::create_task(fails_with("asked"));
    auto result = asyncio::create_task(fails_with("result"));
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(1ms);
    EXPECT_EQ(describe(asked.exception()), "std::exception: asked");
    EXPECT_THROW(result.result(), std::runtime_error);
}

TEST(NeverRetrieved, DroppedTaskReportedOnceWithItsNameAndTheExceptionsMessage) {
    handler_log log;
    {
        asyncio::event_loop loop{debug_options()};
        log.install(loop);
        loop.run_until_complete(drops_a_failing_task());
    }
    ASSERT_EQ(log.messages.size(), 1u) << test_support::joined(log.messages);
    // Debug mode adds where the task was created.
    EXPECT_EQ(log.messages[0], "Task exception was never retrieved (task 'worker') (created at " +
                                   std::string(__FILE__) + ":" + std::to_string(g_worker_created_line) + ")");
    EXPECT_EQ(describe(log.exceptions[0]), "std::exception: boom");
}

TEST(NeverRetrieved, ReportedWhenTheLastHandleGoes) {
    handler_log log;
    std::size_t before_drop = 99;
    {
        asyncio::event_loop loop{debug_options()};
        log.install(loop);
        loop.run_until_complete(keeps_a_failed_task_then_drops_it(&log, &before_drop));
    }
    EXPECT_EQ(before_drop, 0u);
    ASSERT_EQ(log.messages.size(), 1u) << test_support::joined(log.messages);
    EXPECT_EQ(log.messages[0].rfind("Task exception was never retrieved (task 'kept') (created at ", 0), 0u)
        << log.messages[0];
    EXPECT_EQ(describe(log.exceptions[0]), "std::exception: late");
}

TEST(NeverRetrieved, ReportedInEveryMode) {
    handler_log log;
    {
        asyncio::event_loop loop{debug_options(false)};
        log.install(loop);
        loop.run_until_complete(drops_a_failing_task());
    }
    ASSERT_EQ(log.messages.size(), 1u) << test_support::joined(log.messages);
    EXPECT_EQ(log.messages[0], "Task exception was never retrieved (task 'worker')");  // no creation site
}

TEST(NeverRetrieved, AwaitedOrAskedIsNotReported) {
    handler_log log;
    {
        asyncio::event_loop loop{debug_options()};
        log.install(loop);
        loop.run_until_complete(retrieves_every_failure());
    }
    EXPECT_TRUE(log.messages.empty()) << test_support::joined(log.messages);
}

TEST(NeverRetrieved, DefaultHandlerPrintsTheNameAndTheMessage) {
    cerr_capture err;
    {
        asyncio::event_loop loop{debug_options()};
        loop.run_until_complete(drops_a_failing_task());
    }
    std::string out = err.text.str();
    EXPECT_EQ(count_of(out, "Task exception was never retrieved (task 'worker')"), 1u) << out;
    EXPECT_NE(out.find("std::runtime_error: boom"), std::string::npos) << out;
}

// The handle outlives the loop: nothing can retrieve the exception through the loop any more, and
// its handler is gone; the report goes to stderr when the last handle goes (Python reports at
// garbage collection through the loop it still references). Retrieved afterwards: no report.
TEST(NeverRetrieved, HandleThatOutlivesItsLoopReportsToStderrOnce) {
    int outlives_line = 0;
    cerr_capture err;
    std::optional<asyncio::task<void>> dropped;
    std::optional<asyncio::task<void>> retrieved;
    {
        asyncio::event_loop loop{debug_options()};
        outlives_line = __LINE__ + 1;
        dropped.emplace(loop.create_task(fails_with("orphan"), "outlives"));
        retrieved.emplace(loop.create_task(fails_with("looked at"), "looked-at"));
        loop.run_until_complete(many_quick_steps());
    }
    EXPECT_EQ(err.text.str(), "");
    dropped.reset();
    EXPECT_EQ(describe(retrieved->exception()), "std::exception: looked at");
    retrieved.reset();
    std::string out = err.text.str();
    EXPECT_EQ(out, "asyncio: Task exception was never retrieved (task 'outlives') (created at " +
                       std::string(__FILE__) + ":" + std::to_string(outlives_line) +
                       ") (its event loop is gone): std::runtime_error: orphan\n");
}

}  // namespace
