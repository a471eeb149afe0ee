// Tests of asyncio::async_generator<T> (async_generator.hpp): laziness, values in order, the
// `async for` loop, running inside the consumer's task (no trip through the loop), exceptions,
// aclose() (clean-up with a co_await, ignored GeneratorExit, failing clean-up, not started,
// finished), next()/aclose() while running, cancellation while the generator awaits and while it
// cleans up in aclose(), abandoned generators (closed by the loop in a task, reported in debug
// mode; destroyed at once without a loop), move-only values, nested generators, deep generators
// without native stack growth, and the async_iterable concept. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <algorithm>
#include <asyncio/async_generator.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/run_harness.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::async_generator;
using asyncio::coro;
using asyncio::task;
using log_t = std::vector<std::string>;

using namespace test_support;

// --- the concept and the types ------------------------------------------------------------------

struct hand_written_iterator {
    coro<std::optional<int>> next();
};
struct not_optional_next {
    coro<int> next();
};

static_assert(asyncio::async_iterable<async_generator<int>>);
static_assert(asyncio::async_iterable<async_generator<std::unique_ptr<int>>>);
static_assert(asyncio::async_iterable<hand_written_iterator>);
static_assert(!asyncio::async_iterable<not_optional_next>);
static_assert(!asyncio::async_iterable<int>);
static_assert(!std::is_copy_constructible_v<async_generator<int>>);
static_assert(std::is_nothrow_move_constructible_v<async_generator<int>>);
static_assert(!std::is_base_of_v<std::exception, asyncio::generator_exit>);

// --- laziness and values in order -----------------------------------------------------------------

async_generator<int> count(int n, log_t* log) {
    log->push_back("started");
    for (int i = 0; i < n; ++i) {
        co_await asyncio::sleep(1ms);
        log->push_back("yield " + std::to_string(i));
        co_yield i;
    }
    log->push_back("finished");
}

coro<void> lazy_main(log_t* log) {
    async_generator<int> g = count(3, log);
    co_await asyncio::sleep(5ms);
    log->push_back("first next");
    std::vector<int> got;
    auto t0 = now();
    for (;;) {
        std::optional<int> v = co_await g.next();
        if (!v) break;
        got.push_back(*v);
        log->push_back("got " + std::to_string(*v));
    }
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(since(t0), 3ms);
    // After the end, next() keeps giving nullopt (StopAsyncIteration each time).
    std::optional<int> again = co_await g.next();
    EXPECT_FALSE(again.has_value());
    std::optional<int> again2 = co_await g.next();
    EXPECT_FALSE(again2.has_value());
}

TEST(AsyncGenerator, IsLazyAndYieldsInOrderThenNullopt) {
    log_t log;
    run_clean(lazy_main(&log));
    log_t expected{"first next", "started", "yield 0", "got 0",   "yield 1",
                   "got 1",      "yield 2", "got 2",   "finished"};
    EXPECT_EQ(log, expected);
}

TEST(AsyncGenerator, NeverStartedGeneratorRunsNothingAndIsFreed) {
    log_t log;
    {
        async_generator<int> g = count(3, &log);
        EXPECT_TRUE(static_cast<bool>(g));
    }
    EXPECT_TRUE(log.empty());
}

// The user's `async for` form, as the README writes it (a declaration in the condition).
coro<void> async_for_main(std::vector<int>* got) {
    log_t log;
    auto g = count(4, &log);
    while (auto v = co_await g.next()) got->push_back(*v);
}

TEST(AsyncGenerator, AsyncForLoopWithDeclarationInCondition) {
    std::vector<int> got;
    run_clean(async_for_main(&got));
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
}

// A generator that never suspends runs inside the consumer's task: the other task does not run
// between its values (no trip through the loop), and it sees the consumer's task as current.
async_generator<std::string> names(std::vector<asyncio::any_task>* seen) {
    seen->push_back(asyncio::current_task());
    co_yield "a";
    seen->push_back(asyncio::current_task());
    std::string b = "b";
    co_yield b;  // an lvalue is copied
    EXPECT_EQ(b, "b");
    seen->push_back(asyncio::current_task());
    co_yield std::string("c");
}

coro<void> other(log_t* log) {
    log->push_back("other ran");
    co_return;
}

coro<void> same_task_main(log_t* log) {
    std::vector<asyncio::any_task> seen;
    task<void> o = asyncio::create_task(other(log));
    auto g = names(&seen);
    for (;;) {
        std::optional<std::string> v = co_await g.next();
        if (!v) break;
        log->push_back(*v);
    }
    co_await o;
    EXPECT_EQ(seen.size(), 3u);
    for (auto& t : seen) EXPECT_TRUE(t == asyncio::current_task());
}

TEST(AsyncGenerator, RunsInsideTheConsumersTaskWithoutATripThroughTheLoop) {
    log_t log;
    run_clean(same_task_main(&log));
    EXPECT_EQ(log, (log_t{"a", "b", "c", "other ran"}));
}

// Successive next() calls may come from different tasks: the generator runs in each in turn.
async_generator<int> report_task(std::vector<asyncio::any_task>* seen) {
    for (int i = 0;; ++i) {
        co_await asyncio::sleep(1ms);
        seen->push_back(asyncio::current_task());
        co_yield i;
    }
}

coro<int> take_one(async_generator<int>* g) {
    std::optional<int> v = co_await g->next();
    co_return v.value_or(-1);
}

coro<void> two_tasks_main() {
    std::vector<asyncio::any_task> seen;
    auto g = report_task(&seen);
    task<int> a = asyncio::create_task(take_one(&g));
    int va = co_await a;
    task<int> b = asyncio::create_task(take_one(&g));
    int vb = co_await b;
    EXPECT_EQ(va, 0);
    EXPECT_EQ(vb, 1);
    EXPECT_EQ(seen.size(), 2u);
    if (seen.size() == 2) {
        EXPECT_TRUE(seen[0] == a.as_any());
        EXPECT_TRUE(seen[1] == b.as_any());
    }
    co_await g.aclose();
}

TEST(AsyncGenerator, NextFromDifferentTasksRunsTheGeneratorInEach) { run_clean(two_tasks_main()); }

// While the generator awaits, the task's stack shows the generator's frame innermost.
int g_sleep_line = 0;

async_generator<int> sleeps_long() {
    g_sleep_line = __LINE__ + 1;
    co_await asyncio::sleep(1h);
    co_yield 1;
}

coro<void> consume_one(async_generator<int>* g) {
    std::optional<int> v = co_await g->next();
    EXPECT_EQ(v, 1);
    co_await g->aclose();
}

coro<void> stack_main() {
    auto g = sleeps_long();
    task<void> c = asyncio::create_task(consume_one(&g));
    co_await asyncio::sleep(1ms);
    std::ostringstream os;
    c.print_stack(os);
    std::string s = os.str();
    std::string innermost = "test_async_generator.cpp:" + std::to_string(g_sleep_line) + "\n";
    EXPECT_GE(s.size(), innermost.size());
    EXPECT_EQ(s.substr(s.size() - std::min(s.size(), innermost.size())), innermost) << s;
    co_await c;
}

TEST(AsyncGenerator, TaskStackShowsTheGeneratorFrameInnermost) { run_clean(stack_main()); }

// --- move-only values, moves of the generator ---------------------------------------------------------

async_generator<std::unique_ptr<int>> boxes(int n) {
    for (int i = 0; i < n; ++i) {
        auto p = std::make_unique<int>(i * 10);
        co_yield std::move(p);
    }
}

coro<void> move_only_main() {
    auto g = boxes(3);
    std::vector<int> got;
    for (;;) {
        std::optional<std::unique_ptr<int>> v = co_await g.next();
        if (!v) break;
        got.push_back(**v);
    }
    EXPECT_EQ(got, (std::vector<int>{0, 10, 20}));
}

TEST(AsyncGenerator, MoveOnlyValues) { run_clean(move_only_main()); }

coro<void> moved_generator_main() {
    log_t log;
    auto a = count(3, &log);
    std::optional<int> v0 = co_await a.next();
    async_generator<int> b = std::move(a);  // mid-way: b continues where a was
    EXPECT_FALSE(static_cast<bool>(a));     // NOLINT(bugprone-use-after-move): moved-from is empty
    std::optional<int> v1 = co_await b.next();
    EXPECT_EQ(v0, 0);
    EXPECT_EQ(v1, 1);
    bool threw = false;
    try {
        co_await a.next();  // NOLINT(bugprone-use-after-move)
    } catch (const std::runtime_error& e) {
        threw = std::string(e.what()) == "next() of an empty async_generator";
    }
    EXPECT_TRUE(threw);
    co_await a.aclose();  // closing an empty generator does nothing
    async_generator<int> c = count(1, &log);
    c = std::move(b);  // the never-started generator is freed, b's is taken over
    std::optional<int> v2 = co_await c.next();
    EXPECT_EQ(v2, 2);
    co_await c.aclose();
}

TEST(AsyncGenerator, MovingAGeneratorMidWay) { run_clean(moved_generator_main()); }

// --- exceptions ---------------------------------------------------------------------------------------

async_generator<int> fails_after(int n) {
    for (int i = 0; i < n; ++i) co_yield i;
    co_await asyncio::sleep(1ms);
    throw std::runtime_error("boom");
}

coro<void> exception_main() {
    auto g = fails_after(2);
    std::vector<int> got;
    std::string error;
    for (;;) {
        std::optional<int> v;
        try {
            v = co_await g.next();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        if (!v) break;
        got.push_back(*v);
    }
    EXPECT_EQ(got, (std::vector<int>{0, 1}));
    EXPECT_EQ(error, "boom");
    // Finished: nullopt from now on (the exception is thrown once), aclose() does nothing.
    std::optional<int> after = co_await g.next();
    EXPECT_FALSE(after.has_value());
    co_await g.aclose();
    std::optional<int> after2 = co_await g.next();
    EXPECT_FALSE(after2.has_value());
}

TEST(AsyncGenerator, ExceptionReachesTheConsumerAndFinishesTheGenerator) { run_clean(exception_main()); }

// --- aclose ---------------------------------------------------------------------------------------------

struct log_on_destroy {
    log_t* log;
    std::string what;
    ~log_on_destroy() { log->push_back(what); }
};

// Catches generator_exit at its co_yield, cleans up with a co_await, then lets it out again
// (`rethrow`) or returns.
int g_closable_yield_line = 0;

async_generator<int> closable(log_t* log, bool rethrow) {
    log_on_destroy raii{log, "raii"};
    bool closing = false;
    g_closable_yield_line = __LINE__ + 2;
    try {
        for (int i = 0;; ++i) co_yield i;
    } catch (const std::exception&) {
        log->push_back("std::exception handler ran");  // generator_exit is not one
    } catch (const asyncio::generator_exit&) {
        closing = true;
    }
    if (closing) {
        log->push_back("closing");
        co_await asyncio::sleep(5ms);
        log->push_back("closed");
        if (rethrow) throw asyncio::generator_exit();
    }
}

coro<void> aclose_main(log_t* log, bool rethrow) {
    auto g = closable(log, rethrow);
    std::optional<int> v0 = co_await g.next();
    std::optional<int> v1 = co_await g.next();
    EXPECT_EQ(v1, 1);
    auto t0 = now();
    log->push_back("aclose");
    co_await g.aclose();
    log->push_back("aclose done");
    EXPECT_EQ(since(t0), 5ms);
    std::optional<int> after = co_await g.next();
    EXPECT_FALSE(after.has_value());
    co_await g.aclose();  // again: nothing happens
    EXPECT_EQ(v0, 0);
}

TEST(AsyncGenerator, AcloseRunsTheCleanupWithACoAwait) {
    for (bool rethrow : {true, false}) {
        log_t log;
        run_clean(aclose_main(&log, rethrow));
        EXPECT_EQ(log, (log_t{"aclose", "closing", "closed", "raii", "aclose done"})) << rethrow;
    }
}

coro<void> aclose_not_started_main(log_t* log) {
    auto g = count(3, log);
    co_await g.aclose();
    std::optional<int> v = co_await g.next();
    EXPECT_FALSE(v.has_value());
    log->push_back("end");
}

TEST(AsyncGenerator, AcloseOfANotStartedGeneratorOnlyMarksItFinished) {
    log_t log;
    run_clean(aclose_not_started_main(&log));
    EXPECT_EQ(log, (log_t{"end"}));  // the body never ran
}

coro<void> aclose_finished_main() {
    log_t log;
    auto g = count(1, &log);
    std::optional<int> v = co_await g.next();
    std::optional<int> end = co_await g.next();
    EXPECT_TRUE(v.has_value());
    EXPECT_FALSE(end.has_value());
    co_await g.aclose();
    EXPECT_EQ(log.back(), "finished");
}

TEST(AsyncGenerator, AcloseOfAFinishedGeneratorDoesNothing) { run_clean(aclose_finished_main()); }

async_generator<int> stubborn(log_t* log) {
    for (int i = 0;; ++i) {
        bool asked_to_close = false;
        try {
            co_yield i;
        } catch (const asyncio::generator_exit&) {
            asked_to_close = true;
        }
        if (asked_to_close) log->push_back("ignoring generator_exit at " + std::to_string(i));
    }
}

coro<void> ignored_exit_main(log_t* log) {
    {
        auto g = stubborn(log);
        std::optional<int> v0 = co_await g.next();
        EXPECT_EQ(v0, 0);
        std::string error;
        try {
            co_await g.aclose();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        EXPECT_EQ(error, "async generator ignored GeneratorExit");
        // As in Python it stays suspended at the yield it went on to: next() resumes it normally.
        std::optional<int> v2 = co_await g.next();
        EXPECT_EQ(v2, 2);
        log->push_back("got " + std::to_string(v2.value_or(-1)));
    }
    co_await asyncio::sleep(1ms);  // the loop closes the abandoned generator meanwhile
}

TEST(AsyncGenerator, IgnoredGeneratorExitIsAnError) {
    log_t log;
    std::vector<std::string> reports = run_collect(ignored_exit_main(&log));
    EXPECT_EQ(log, (log_t{"ignoring generator_exit at 0", "got 2", "ignoring generator_exit at 2"}));
    // Abandoned, it ignores the loop's aclose() too: that is reported.
    ASSERT_EQ(reports.size(), 2u) << joined(reports);
    EXPECT_NE(reports[0].find("was abandoned without aclose()"), std::string::npos) << reports[0];
    EXPECT_NE(reports[1].find("an error occurred during closing of asynchronous generator"),
              std::string::npos)
        << reports[1];
}

async_generator<int> cleanup_fails() {
    bool closing = false;
    try {
        co_yield 1;
    } catch (const asyncio::generator_exit&) {
        closing = true;
    }
    if (closing) {
        co_await asyncio::sleep(1ms);
        throw std::logic_error("cleanup failed");
    }
}

coro<void> cleanup_fails_main() {
    auto g = cleanup_fails();
    std::optional<int> v = co_await g.next();
    EXPECT_EQ(v, 1);
    std::string error;
    try {
        co_await g.aclose();
    } catch (const std::logic_error& e) {
        error = e.what();
    }
    EXPECT_EQ(error, "cleanup failed");
    std::optional<int> after = co_await g.next();
    EXPECT_FALSE(after.has_value());
}

TEST(AsyncGenerator, AnOrdinaryExceptionFromTheCleanupPropagatesOutOfAclose) {
    run_clean(cleanup_fails_main());
}

// --- next() or aclose() while running -------------------------------------------------------------------

coro<void> try_while_running(async_generator<int>* g, log_t* log) {
    try {
        co_await g->next();
    } catch (const std::runtime_error& e) {
        log->push_back(std::string("next: ") + e.what());
    }
    try {
        co_await g->aclose();
    } catch (const std::runtime_error& e) {
        log->push_back(std::string("aclose: ") + e.what());
    }
}

coro<void> already_running_main(log_t* log) {
    auto g = sleeps_long();
    task<void> a = asyncio::create_task(consume_one(&g));
    co_await asyncio::sleep(1ms);  // a is inside next(), the generator sleeps
    task<void> b = asyncio::create_task(try_while_running(&g, log));
    co_await b;
    co_await a;
    log->push_back("a done");
}

TEST(AsyncGenerator, NextOrAcloseWhileAnotherNextRunsIsAnError) {
    log_t log;
    run_clean(already_running_main(&log));
    log_t expected{"next: anext(): asynchronous generator is already running",
                   "aclose: aclose(): asynchronous generator is already running", "a done"};
    EXPECT_EQ(log, expected);
}

// --- cancellation ---------------------------------------------------------------------------------------

// Yields 1, then sleeps an hour. When cancelled there: logs, cleans up with a co_await, rethrows.
async_generator<int> cancellable(log_t* log) {
    log_on_destroy raii{log, "gen raii"};
    co_yield 1;
    std::optional<std::string> cancel_msg;
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        cancel_msg = e.message();
    }
    if (cancel_msg) {
        log->push_back("gen cancelled: " + *cancel_msg);
        co_await asyncio::sleep(5ms);
        log->push_back("gen cleanup done");
        throw asyncio::cancelled_error(*cancel_msg);
    }
    co_yield 2;
}

coro<void> cancellable_consumer(log_t* log) {
    auto g = cancellable(log);
    std::optional<int> v = co_await g.next();
    log->push_back("got " + std::to_string(v.value_or(-1)));
    std::optional<std::string> cancel_msg;
    try {
        co_await g.next();
    } catch (const asyncio::cancelled_error& e) {
        cancel_msg = e.message();
    }
    log->push_back("consumer cancelled: " + cancel_msg.value_or("(not)"));
    std::optional<int> after = co_await g.next();  // the generator is finished
    log->push_back(after ? "still running" : "generator finished");
    throw asyncio::cancelled_error(cancel_msg.value_or(""));
}

coro<void> cancel_in_next_main(log_t* log) {
    task<void> c = asyncio::create_task(cancellable_consumer(log));
    co_await asyncio::sleep(10ms);
    auto t0 = now();
    c.cancel("stop");
    std::string msg;
    try {
        co_await c;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg, "stop");
    EXPECT_TRUE(c.cancelled());
    EXPECT_EQ(since(t0), 5ms);
}

TEST(AsyncGenerator, CancelWhileTheGeneratorAwaitsRunsItsCleanupAndReachesTheConsumer) {
    log_t log;
    run_clean(cancel_in_next_main(&log));
    log_t expected{"got 1",    "gen cancelled: stop",      "gen cleanup done",
                   "gen raii", "consumer cancelled: stop", "generator finished"};
    EXPECT_EQ(log, expected);
}

// A generator whose clean-up (in aclose) waits an hour.
async_generator<int> slow_close(log_t* log) {
    log_on_destroy raii{log, "gen raii"};
    bool closing = false;
    try {
        co_yield 1;
    } catch (const asyncio::generator_exit&) {
        closing = true;
    }
    if (closing) {
        log->push_back("closing");
        co_await asyncio::sleep(1h);
        log->push_back("closed (not reached)");
    }
}

coro<void> aclose_consumer(async_generator<int>* g, log_t* log) {
    std::optional<int> v = co_await g->next();
    EXPECT_EQ(v, 1);
    std::optional<std::string> cancel_msg;
    try {
        co_await g->aclose();
    } catch (const asyncio::cancelled_error& e) {
        cancel_msg = e.message();
    }
    log->push_back("aclose cancelled: " + cancel_msg.value_or("(not)"));
    std::optional<int> after = co_await g->next();
    log->push_back(after ? "still running" : "generator finished");
    co_await g->aclose();  // finished: nothing to do
}

coro<void> cancel_in_aclose_main(log_t* log) {
    auto g = slow_close(log);
    task<void> c = asyncio::create_task(aclose_consumer(&g, log));
    co_await asyncio::sleep(10ms);
    c.cancel("enough");
    co_await c;
    EXPECT_FALSE(c.cancelled());  // the consumer handled it
}

TEST(AsyncGenerator, CancelATaskInAclose) {
    log_t log;
    run_clean(cancel_in_aclose_main(&log));
    log_t expected{"closing", "gen raii", "aclose cancelled: enough", "generator finished"};
    EXPECT_EQ(log, expected);
}

// --- abandoned generators -------------------------------------------------------------------------------

coro<void> abandon_main(log_t* log, bool rethrow, int* next_line) {
    {
        auto g = closable(log, rethrow);
        std::optional<int> v = co_await g.next();
        *next_line = __LINE__ - 1;
        EXPECT_EQ(v, 0);
        log->push_back("dropping");
    }
    log->push_back("dropped");
    co_await asyncio::sleep(10ms);  // the loop's closing task runs meanwhile
    log->push_back("after");
}

TEST(AsyncGenerator, AbandonedGeneratorIsClosedByTheLoopAndReportedInDebugMode) {
    for (bool rethrow : {true, false}) {
        log_t log;
        int line = 0;
        std::vector<std::string> reports = run_collect(abandon_main(&log, rethrow, &line));
        EXPECT_EQ(log, (log_t{"dropping", "dropped", "closing", "closed", "raii", "after"}));
        ASSERT_EQ(reports.size(), 1u) << joined(reports);
        EXPECT_NE(reports[0].find("was abandoned without aclose()"), std::string::npos) << reports[0];
        std::string where = "first iterated at " + std::string(__FILE__) + ":" + std::to_string(line);
        EXPECT_NE(reports[0].find(where), std::string::npos) << reports[0] << " should name " << where;
        std::string yield_at =
            "suspended at " + std::string(__FILE__) + ":" + std::to_string(g_closable_yield_line);
        EXPECT_NE(reports[0].find(yield_at), std::string::npos) << reports[0] << " should name " << yield_at;
    }
}

coro<void> abandon_quiet_main(log_t* log) {
    asyncio::get_running_loop().set_debug(false);
    int line = 0;
    co_await abandon_main(log, true, &line);
}

TEST(AsyncGenerator, AbandonedGeneratorIsClosedQuietlyOutsideDebugMode) {
    log_t log;
    std::vector<std::string> reports = run_collect(abandon_quiet_main(&log));
    EXPECT_EQ(log, (log_t{"dropping", "dropped", "closing", "closed", "raii", "after"}));
    EXPECT_TRUE(reports.empty()) << joined(reports);
}

coro<void> abandon_failing_cleanup_main() {
    asyncio::get_running_loop().set_debug(false);
    {
        auto g = cleanup_fails();
        std::optional<int> v = co_await g.next();
        EXPECT_EQ(v, 1);
    }
    co_await asyncio::sleep(10ms);
}

TEST(AsyncGenerator, AFailingCleanupOfAnAbandonedGeneratorIsReported) {
    std::vector<std::string> reports = run_collect(abandon_failing_cleanup_main());
    ASSERT_EQ(reports.size(), 1u) << joined(reports);
    EXPECT_NE(reports[0].find("an error occurred during closing of asynchronous generator"),
              std::string::npos)
        << reports[0];
}

// A generator that outlives its loop is destroyed at once: only RAII runs.
coro<async_generator<int>> start_and_keep(log_t* log) {
    auto g = closable(log, true);
    std::optional<int> v = co_await g.next();
    EXPECT_EQ(v, 0);
    co_return g;
}

TEST(AsyncGenerator, AbandonedWithoutARunningLoopIsDestroyedAtOnce) {
    log_t log;
    {
        async_generator<int> g = asyncio::run(start_and_keep(&log));
        log.push_back("loop gone");
    }
    EXPECT_EQ(log, (log_t{"loop gone", "raii"}));
}

// --- nested and deep generators ---------------------------------------------------------------------------

async_generator<int> evens(async_generator<int> source) {
    for (;;) {
        std::optional<int> v = co_await source.next();
        if (!v) break;
        if (*v % 2 == 0) co_yield *v;
    }
}

async_generator<std::string> labelled(async_generator<int> source) {
    for (;;) {
        std::optional<int> v = co_await source.next();
        if (!v) break;
        co_await asyncio::sleep(1ms);
        co_yield "#" + std::to_string(*v);
    }
}

coro<void> nested_main() {
    log_t log;
    auto g = labelled(evens(count(7, &log)));
    log_t got;
    auto t0 = now();
    for (;;) {
        std::optional<std::string> v = co_await g.next();
        if (!v) break;
        got.push_back(*v);
    }
    EXPECT_EQ(got, (log_t{"#0", "#2", "#4", "#6"}));
    EXPECT_EQ(since(t0), 11ms);  // 7 sleeps in count, 4 in labelled
}

TEST(AsyncGenerator, NestedGeneratorsAGeneratorConsumingAnother) { run_clean(nested_main()); }

coro<void> nested_cancel_consumer(log_t* log) {
    auto g = evens(cancellable(log));
    std::optional<int> v = co_await g.next();  // cancellable yields 1: evens waits for the next
    log->push_back("got " + std::to_string(v.value_or(-1)));
}

coro<void> nested_cancel_main(log_t* log) {
    task<void> c = asyncio::create_task(nested_cancel_consumer(log));
    co_await asyncio::sleep(10ms);
    c.cancel("deep");
    std::string msg;
    try {
        co_await c;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg, "deep");
}

TEST(AsyncGenerator, CancelReachesTheInnermostOfNestedGenerators) {
    log_t log;
    run_clean(nested_cancel_main(&log));
    EXPECT_EQ(log, (log_t{"gen cancelled: deep", "gen cleanup done", "gen raii"}));
}

// The native stack position of the caller: equal positions mean the native stack did not grow.
[[gnu::noinline]] std::uintptr_t native_sp() {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

struct sp_range {
    std::uintptr_t lo = UINTPTR_MAX;
    std::uintptr_t hi = 0;
    void add(std::uintptr_t sp) {
        lo = std::min(lo, sp);
        hi = std::max(hi, sp);
    }
    std::uintptr_t spread() const { return hi - lo; }
};

async_generator<long> naturals(long n, sp_range* r) {
    for (long i = 0; i < n; ++i) {
        if (i % 1000 == 0) r->add(native_sp());
        co_yield i;
    }
}

coro<long> sum_naturals(long n, sp_range* r) {
    auto g = naturals(n, r);
    long sum = 0;
    for (;;) {
        std::optional<long> v = co_await g.next();
        if (!v) break;
        sum += *v;
        if (*v % 1000 == 0) r->add(native_sp());
    }
    co_return sum;
}

TEST(AsyncGenerator, AMillionValuesDoNotGrowTheNativeStack) {
    constexpr long n = 1'000'000;
    sp_range r;
    EXPECT_EQ(asyncio::run(sum_naturals(n, &r)), n * (n - 1) / 2);
    EXPECT_LT(r.spread(), 4096u) << "the native stack grew across the values";
}

// A chain of generators, each relaying the one below it.
async_generator<int> relay(int depth, sp_range* r) {
    if (depth == 0) {
        r->add(native_sp());
        co_yield 1;
        co_await asyncio::sleep(0s);  // suspending at the bottom suspends the whole chain
        co_yield 2;
        co_return;
    }
    auto inner = relay(depth - 1, r);
    for (;;) {
        std::optional<int> v = co_await inner.next();
        if (!v) break;
        co_yield *v + 1;
    }
}

coro<int> sum_relay(int depth, sp_range* r) {
    auto g = relay(depth, r);
    int sum = 0;
    for (;;) {
        std::optional<int> v = co_await g.next();
        if (!v) break;
        r->add(native_sp());
        sum += *v;
    }
    co_return sum;
}

TEST(AsyncGenerator, AChainOfOneHundredThousandGeneratorsDoesNotGrowTheNativeStack) {
    constexpr int depth = 100'000;
    sp_range r;
    EXPECT_EQ(asyncio::run(sum_relay(depth, &r)), 1 + 2 + 2 * depth);
    EXPECT_LT(r.spread(), 4096u) << "the native stack grew with the depth";
}

}  // namespace
