// Tests of asyncio::task<T> (task.hpp): scheduling, cancellation (Python 3.11 semantics),
// fire-and-forget tasks, unretrieved exceptions, names, current_task/all_tasks, print_stack.
#include <gtest/gtest.h>

#include <algorithm>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <exception>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/describe.hpp"

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

namespace {

using test_support::describe;

// --- scheduling ---------------------------------------------------------------------------------

asyncio::coro<int> child_logging(log_t* log) {
    log->push_back("child runs");
    co_return 3;
}

asyncio::coro<void> create_task_main(log_t* log) {
    log->push_back("create");
    asyncio::task<int> t = asyncio::create_task(child_logging(log));
    log->push_back("after create");
    log->push_back(t.done() ? "done" : "pending");
    int v = co_await t;
    log->push_back("result " + std::to_string(v));
}

TEST(Task, CreateTaskDoesNotRunTheTaskBeforeTheCreatorSuspends) {
    log_t log;
    asyncio::run(create_task_main(&log));
    log_t expected{"create", "after create", "pending", "child runs", "result 3"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> ticker(std::string name, int n, log_t* log) {
    for (int i = 0; i < n; ++i) {
        log->push_back(name + std::to_string(i));
        co_await asyncio::sleep(0s);
    }
}

asyncio::coro<void> interleave_main(log_t* log) {
    asyncio::task<void> a = asyncio::create_task(ticker("A", 3, log));
    asyncio::task<void> b = asyncio::create_task(ticker("B", 3, log));
    co_await a;
    co_await b;
}

TEST(Task, SleepZeroYieldsExactlyOnceInterleaving) {
    log_t log;
    asyncio::run(interleave_main(&log));
    log_t expected{"A0", "B0", "A1", "B1", "A2", "B2"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> yield_once_main(log_t* log) {
    auto& loop = asyncio::get_running_loop();
    loop.call_soon([log, &loop] {
        log->push_back("cb1");
        loop.call_soon([log] { log->push_back("cb2 (scheduled by cb1)"); });
    });
    co_await asyncio::sleep(0s);
    log->push_back("main after sleep(0)");
    co_await asyncio::sleep(0s);
    log->push_back("main after second sleep(0)");
}

TEST(Task, SleepZeroYieldsToTheLoopExactlyOnce) {
    log_t log;
    asyncio::run(yield_once_main(&log));
    log_t expected{"cb1", "main after sleep(0)", "cb2 (scheduled by cb1)", "main after second sleep(0)"};
    EXPECT_EQ(log, expected);
}

// --- cancellation -----------------------------------------------------------------------------------

asyncio::coro<int> set_flag(bool* ran) {
    *ran = true;
    co_return 1;
}

asyncio::coro<void> cancel_before_start_main(bool* ran, bool* cancelled, std::string* what, int* cancelling) {
    asyncio::task<int> t = asyncio::create_task(set_flag(ran));
    EXPECT_TRUE(t.cancel("too early"));
    *cancelling = t.cancelling();
    try {
        int v = co_await t;
        *what = "value " + std::to_string(v);
    } catch (const asyncio::cancelled_error& e) {
        *what = "cancelled_error: " + e.message();
    }
    *cancelled = t.cancelled();
}

TEST(Task, CancelBeforeStartBodyNeverRuns) {
    bool ran = false, cancelled = false;
    std::string what;
    int cancelling = 0;
    asyncio::run(cancel_before_start_main(&ran, &cancelled, &what, &cancelling));
    EXPECT_FALSE(ran);
    EXPECT_TRUE(cancelled);
    EXPECT_EQ(what, "cancelled_error: too early");
    EXPECT_EQ(cancelling, 1);
}

asyncio::coro<int> sleeper(log_t* log, std::string name) {
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back(name + " caught: " + e.message());
        throw;
    }
    co_return 0;
}

asyncio::coro<void> cancel_sleeping_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(sleeper(log, "sleeper"));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    EXPECT_TRUE(t.cancel("stop now"));
    EXPECT_FALSE(t.done());  // the cancellation is delivered at the task's next step
    EXPECT_EQ(t.cancelling(), 1);
    try {
        int v = co_await t;
        log->push_back("value " + std::to_string(v));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("awaiter got: " + e.message());
    }
    log->push_back(t.cancelled() ? "task cancelled" : "task not cancelled");
    log->push_back(t.cancel("late") ? "cancel of done task: true" : "cancel of done task: false");
    try {
        (void)t.result();
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("result() throws: " + e.message());
    }
}

TEST(Task, CancelWithMessageWhileSleeping) {
    log_t log;
    asyncio::run(cancel_sleeping_main(&log));
    log_t expected{"sleeper caught: stop now", "awaiter got: stop now", "task cancelled",
                   "cancel of done task: false", "result() throws: stop now"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<int> outer_awaiting_inner(asyncio::task<int> inner, log_t* log) {
    try {
        int v = co_await inner;
        co_return v;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("outer caught: " + e.message());
        throw;
    }
}

asyncio::coro<void> cancel_chain_main(log_t* log) {
    asyncio::task<int> inner = asyncio::create_task(sleeper(log, "inner"), "inner");
    asyncio::task<int> outer = asyncio::create_task(outer_awaiting_inner(inner, log), "outer");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    outer.cancel("chain");
    try {
        co_await outer;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("main got: " + e.message());
    }
    log->push_back(std::string("inner ") + (inner.cancelled() ? "cancelled" : "not cancelled") + ", outer " +
                   (outer.cancelled() ? "cancelled" : "not cancelled"));
    log->push_back("inner cancelling " + std::to_string(inner.cancelling()));
}

TEST(Task, CancellingATaskThatAwaitsAnotherCancelsTheInnerOneWithTheMessage) {
    log_t log;
    asyncio::run(cancel_chain_main(&log));
    log_t expected{"inner caught: chain", "outer caught: chain", "main got: chain",
                   "inner cancelled, outer cancelled", "inner cancelling 1"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<int> swallow_once(log_t* log) {
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("swallowed: " + e.message());
    }
    co_return 7;  // returns normally: the task is not cancelled (Python semantics)
}

asyncio::coro<void> swallow_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(swallow_once(log));
    co_await asyncio::sleep(0s);
    t.cancel("please");
    int v = co_await t;
    log->push_back("result " + std::to_string(v));
    log->push_back(t.cancelled() ? "cancelled" : "not cancelled");
    log->push_back("cancelling " + std::to_string(t.cancelling()));
}

TEST(Task, CatchingCancellationAndReturningNormallyMeansNotCancelled) {
    log_t log;
    asyncio::run(swallow_main(&log));
    log_t expected{"swallowed: please", "result 7", "not cancelled", "cancelling 1"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<int> swallow_then_sleep(log_t* log) {
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("swallowed: " + e.message());
    }
    int left = asyncio::current_task().uncancel();
    log->push_back("uncancel -> " + std::to_string(left));
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("second: " + e.message());
        throw;
    }
    co_return 1;
}

asyncio::coro<void> cancel_again_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(swallow_then_sleep(log));
    co_await asyncio::sleep(0s);
    t.cancel("first");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    log->push_back(t.done() ? "done after first cancel" : "still running after first cancel");
    log->push_back("cancelling " + std::to_string(t.cancelling()));
    t.cancel("second");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("main got: " + e.message());
    }
    log->push_back(t.cancelled() ? "cancelled" : "not cancelled");
}

TEST(Task, ATaskThatSwallowsCancellationCanBeCancelledAgain) {
    log_t log;
    asyncio::run(cancel_again_main(&log));
    log_t expected{"swallowed: first", "uncancel -> 0",  "still running after first cancel",
                   "cancelling 0",     "second: second", "main got: second",
                   "cancelled"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> counting_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(sleeper(log, "t"));
    co_await asyncio::sleep(0s);
    log->push_back("cancelling " + std::to_string(t.cancelling()));
    t.cancel("a");
    t.cancel("b");
    t.cancel("c");
    log->push_back("cancelling " + std::to_string(t.cancelling()));
    log->push_back("uncancel -> " + std::to_string(t.uncancel()));
    log->push_back("cancelling " + std::to_string(t.cancelling()));
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
        log->push_back("main caught");
    }
    log->push_back(t.cancelled() ? "cancelled" : "not cancelled");
    log->push_back("uncancel -> " + std::to_string(t.uncancel()));
    log->push_back("uncancel -> " + std::to_string(t.uncancel()));
    log->push_back("uncancel -> " + std::to_string(t.uncancel()));  // never below 0
}

TEST(Task, CancellingAndUncancelCountRequests) {
    log_t log;
    asyncio::run(counting_main(&log));
    // Python 3.11: the task sees one CancelledError, carrying the latest message.
    log_t expected{"cancelling 0", "cancelling 3", "uncancel -> 2", "cancelling 2",  "t caught: c",
                   "main caught",  "cancelled",    "uncancel -> 1", "uncancel -> 0", "uncancel -> 0"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<int> survive_double_cancel(log_t* log) {
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caught: " + e.message());
    }
    // Two cancel() calls before the task ran again are delivered as one cancelled_error (as in
    // Python, where __step consumes _must_cancel): the next await is not cancelled.
    co_await asyncio::sleep(0s);
    log->push_back("survived");
    co_return 2;
}

asyncio::coro<void> double_cancel_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(survive_double_cancel(log));
    co_await asyncio::sleep(0s);
    t.cancel("one");
    t.cancel("two");
    std::string what;
    try {
        int v = co_await t;
        what = "result " + std::to_string(v);
    } catch (const asyncio::cancelled_error& e) {
        what = "cancelled: " + e.message();
    }
    log->push_back(what);
}

TEST(Task, TwoCancelsBeforeTheTaskRunsAreOneCancelledError) {
    log_t log;
    asyncio::run(double_cancel_main(&log));
    log_t expected{"caught: two", "survived", "result 2"};
    EXPECT_EQ(log, expected);
}

// --- fire and forget -------------------------------------------------------------------------------

// Tests that sleep for real durations run on virtual time: instant, and the same on every machine.
asyncio::run_options on_virtual_time() {
    asyncio::run_options opts;
    opts.clock = asyncio::clock_kind::virtual_time;
    return opts;
}

asyncio::coro<void> increment_later(int* count) {
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(1ms);
    ++*count;
}

asyncio::coro<void> fire_and_forget_main(int* count, std::size_t* pending_seen) {
    for (int i = 0; i < 10'000; ++i) (void)asyncio::create_task(increment_later(count));
    co_await asyncio::sleep(0s);
    *pending_seen = asyncio::all_tasks().size();
    for (int i = 0; i < 10'000 && *count < 10'000; ++i) co_await asyncio::sleep(1ms);
}

TEST(Task, TenThousandFireAndForgetTasksAllComplete) {
    int count = 0;
    std::size_t pending_seen = 0;
    asyncio::run(fire_and_forget_main(&count, &pending_seen), on_virtual_time());
    EXPECT_EQ(count, 10'000);
    EXPECT_EQ(pending_seen, 10'001u);  // the loop keeps them alive (plus main)
}

// --- unretrieved exceptions --------------------------------------------------------------------------

struct handler_log {
    std::vector<std::string> messages;
    std::vector<std::string> exceptions;
};

void install_handler(asyncio::event_loop& loop, handler_log* h) {
    loop.set_exception_handler([h](asyncio::event_loop&, const asyncio::exception_context& ctx) {
        h->messages.push_back(ctx.message);
        h->exceptions.push_back(describe(ctx.exception));
    });
}

asyncio::coro<int> fail_after_yield(std::string what) {
    co_await asyncio::sleep(0s);
    throw std::runtime_error(what);
    co_return 0;
}

asyncio::coro<void> unretrieved_main() {
    (void)asyncio::create_task(fail_after_yield("nobody awaited me"), "doomed");
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0s);
}

TEST(Task, FailedTaskNobodyAwaitedIsReportedExactlyOnce) {
    handler_log h;
    {
        asyncio::event_loop loop;
        install_handler(loop, &h);
        loop.run_until_complete(unretrieved_main());
        loop.close();
    }
    ASSERT_EQ(h.messages.size(), 1u);
    EXPECT_NE(h.messages[0].find("doomed"), std::string::npos) << h.messages[0];
    EXPECT_NE(h.messages[0].find("never retrieved"), std::string::npos) << h.messages[0];
    EXPECT_EQ(h.exceptions[0], "std::exception: nobody awaited me");
}

asyncio::coro<void> unretrieved_kept_handle_main(handler_log* h, std::size_t* reports_while_held) {
    asyncio::task<int> t = asyncio::create_task(fail_after_yield("kept but never looked at"), "kept");
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0s);
    *reports_while_held = h->messages.size();  // reported when the last handle goes
}

TEST(Task, FailedTaskWithAHandleButNeverRetrievedIsReportedOnce) {
    handler_log h;
    std::size_t while_held = 99;
    {
        asyncio::event_loop loop;
        install_handler(loop, &h);
        loop.run_until_complete(unretrieved_kept_handle_main(&h, &while_held));
        loop.close();
    }
    EXPECT_EQ(while_held, 0u);
    ASSERT_EQ(h.messages.size(), 1u);
    EXPECT_NE(h.messages[0].find("kept"), std::string::npos) << h.messages[0];
    EXPECT_EQ(h.exceptions[0], "std::exception: kept but never looked at");
}

asyncio::coro<void> retrieved_main(log_t* log) {
    asyncio::task<int> awaited = asyncio::create_task(fail_after_yield("awaited"));
    asyncio::task<int> by_result = asyncio::create_task(fail_after_yield("by result"));
    asyncio::task<int> by_exception = asyncio::create_task(fail_after_yield("by exception"));
    try {
        co_await awaited;
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    co_await asyncio::sleep(0s);
    try {
        (void)by_result.result();
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
    log->push_back(describe(by_exception.exception()));
}

TEST(Task, FailedTaskWhoseExceptionWasRetrievedIsNotReported) {
    handler_log h;
    log_t log;
    {
        asyncio::event_loop loop;
        install_handler(loop, &h);
        loop.run_until_complete(retrieved_main(&log));
        loop.close();
    }
    log_t expected{"awaited", "by result", "std::exception: by exception"};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(h.messages.empty()) << h.messages.size() << " report(s), first: " << h.messages.front();
}

asyncio::coro<void> cancelled_unretrieved_main(log_t* log) {
    (void)asyncio::create_task(sleeper(log, "before start")).cancel();
    asyncio::task<int> t = asyncio::create_task(sleeper(log, "while sleeping"));
    co_await asyncio::sleep(0s);
    t.cancel();
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
}

TEST(Task, CancelledTaskIsNotReported) {
    handler_log h;
    log_t log;
    {
        asyncio::event_loop loop;
        install_handler(loop, &h);
        loop.run_until_complete(cancelled_unretrieved_main(&log));
        loop.close();
    }
    log_t expected{"while sleeping caught: "};
    EXPECT_EQ(log, expected);
    EXPECT_TRUE(h.messages.empty());
}

// --- names ---------------------------------------------------------------------------------------------

asyncio::coro<void> nothing() { co_return; }

asyncio::coro<void> names_main(log_t* log, std::string* first, std::string* second) {
    asyncio::task<void> a = asyncio::create_task(nothing());
    asyncio::task<void> b = asyncio::create_task(nothing());
    asyncio::task<void> c = asyncio::create_task(nothing(), "custom");
    *first = a.get_name();
    *second = b.get_name();
    log->push_back(c.get_name());
    b.set_name("renamed");
    log->push_back(b.get_name());
    log->push_back(asyncio::current_task().name());
    co_await a;
    co_await b;
    co_await c;
}

TEST(Task, NamesDefaultToTaskNAndCanBeSet) {
    log_t log;
    std::string first, second;
    asyncio::run(names_main(&log, &first, &second));
    std::smatch m1, m2;
    static const std::regex pattern("Task-([0-9]+)");
    ASSERT_TRUE(std::regex_match(first, m1, pattern)) << first;
    ASSERT_TRUE(std::regex_match(second, m2, pattern)) << second;
    EXPECT_EQ(std::stoul(m2[1].str()), std::stoul(m1[1].str()) + 1);
    log_t expected{"custom", "renamed", "main"};
    EXPECT_EQ(log, expected);
}

// --- current_task / all_tasks ------------------------------------------------------------------------

asyncio::coro<void> record_self(asyncio::any_task* out) {
    *out = asyncio::current_task();
    co_await asyncio::sleep(0s);
}

asyncio::coro<void> current_task_main(bool* same, bool* differs_from_main, bool* none_in_callback) {
    asyncio::any_task seen;
    asyncio::task<void> t = asyncio::create_task(record_self(&seen));
    asyncio::get_running_loop().call_soon(
        [none_in_callback] { *none_in_callback = !static_cast<bool>(asyncio::current_task()); });
    co_await t;
    *same = seen == t.as_any() && seen == asyncio::any_task(t);
    *differs_from_main = !(seen == asyncio::current_task());
}

TEST(Task, CurrentTaskInsideATaskIsItsHandle) {
    bool same = false, differs_from_main = false, none_in_callback = false;
    EXPECT_FALSE(static_cast<bool>(asyncio::current_task()));  // no loop runs
    asyncio::run(current_task_main(&same, &differs_from_main, &none_in_callback));
    EXPECT_TRUE(same);
    EXPECT_TRUE(differs_from_main);
    EXPECT_TRUE(none_in_callback);
}

asyncio::coro<void> short_sleep(std::chrono::milliseconds d) { co_await asyncio::sleep(d); }

bool contains(const std::vector<asyncio::any_task>& v, const asyncio::any_task& t) {
    return std::find(v.begin(), v.end(), t) != v.end();
}

asyncio::coro<void> all_tasks_main(log_t* log) {
    asyncio::task<void> a = asyncio::create_task(short_sleep(1ms), "a");
    asyncio::task<void> b = asyncio::create_task(short_sleep(1h), "b");
    std::vector<asyncio::any_task> all = asyncio::all_tasks();
    log->push_back("count " + std::to_string(all.size()));
    log->push_back(contains(all, a) && contains(all, b) && contains(all, asyncio::current_task())
                       ? "all listed"
                       : "missing");
    co_await a;
    all = asyncio::all_tasks();
    log->push_back("count " + std::to_string(all.size()));
    log->push_back(contains(all, a) ? "a listed after done" : "a gone");
    log->push_back(contains(all, b) ? "b listed" : "b missing");
    b.cancel();
    try {
        co_await b;
    } catch (const asyncio::cancelled_error&) {
    }
    all = asyncio::all_tasks();
    log->push_back("count " + std::to_string(all.size()));
    log->push_back(all.size() == 1 && all[0] == asyncio::current_task() ? "only main" : "other");
}

TEST(Task, AllTasksListsPendingTasks) {
    log_t log;
    asyncio::run(all_tasks_main(&log), on_virtual_time());
    log_t expected{"count 3", "all listed", "count 2", "a gone", "b listed", "count 1", "only main"};
    EXPECT_EQ(log, expected);
}

TEST(Task, AllTasksWithoutARunningLoopThrows) { EXPECT_THROW(asyncio::all_tasks(), std::runtime_error); }

TEST(Task, CreateTaskWithoutARunningLoopThrows) {
    EXPECT_THROW((void)asyncio::create_task(nothing()), std::runtime_error);
}

// --- print_stack ------------------------------------------------------------------------------------------

int g_inner_line = 0;
int g_outer_line = 0;

asyncio::coro<void> stack_inner() {
    // clang-format off
    g_inner_line = __LINE__ + 1;
    co_await asyncio::sleep(1h);
    // clang-format on
}

asyncio::coro<void> stack_outer() {
    // clang-format off
    g_outer_line = __LINE__ + 1;
    co_await stack_inner();
    // clang-format on
}

asyncio::coro<std::string> print_stack_main() {
    asyncio::task<void> t = asyncio::create_task(stack_outer(), "stacked");
    co_await asyncio::sleep(0s);
    std::ostringstream os;
    t.print_stack(os);
    t.cancel();
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
    }
    co_return os.str();
}

TEST(Task, PrintStackShowsWhereTheTaskWaits) {
    std::string out = asyncio::run(print_stack_main());
    std::string inner = "test_task.cpp:" + std::to_string(g_inner_line);
    std::string outer = "test_task.cpp:" + std::to_string(g_outer_line);
    EXPECT_NE(out.find("stacked"), std::string::npos) << out;
    auto inner_pos = out.find(inner);
    auto outer_pos = out.find(outer);
    ASSERT_NE(inner_pos, std::string::npos) << "expected " << inner << " in:\n" << out;
    ASSERT_NE(outer_pos, std::string::npos) << "expected " << outer << " in:\n" << out;
    EXPECT_LT(outer_pos, inner_pos) << "outermost first:\n" << out;
}

asyncio::coro<std::string> print_stack_states_main() {
    asyncio::task<void> t = asyncio::create_task(nothing(), "states");
    std::ostringstream before, after;
    t.print_stack(before);
    co_await t;
    t.print_stack(after);
    co_return before.str() + "|" + after.str();
}

TEST(Task, PrintStackOfNotStartedAndDoneTasks) {
    std::string out = asyncio::run(print_stack_states_main());
    EXPECT_EQ(out, "Stack for task 'states' (not started)\n|Stack for task 'states' (done): no frames\n");
}

// --- results -----------------------------------------------------------------------------------------------

asyncio::coro<std::string> greet(std::string who) {
    co_await asyncio::sleep(0s);
    co_return "hello " + who;
}

asyncio::coro<std::string> shared_result_main() {
    asyncio::task<std::string> t = asyncio::create_task(greet("world"));
    std::string a = co_await t;
    std::string b = co_await t;  // a done task may be awaited again: same result
    co_return a + "/" + b + "/" + t.result();
}

TEST(Task, ADoneTaskCanBeAwaitedAgain) {
    EXPECT_EQ(asyncio::run(shared_result_main()), "hello world/hello world/hello world");
}

asyncio::coro<int> ensure_future_main(bool* same) {
    bool ran = false;
    asyncio::task<int> t = asyncio::ensure_future(set_flag(&ran));
    asyncio::task<int> t2 = asyncio::ensure_future(t);
    *same = t == t2;
    int v = co_await t2;
    co_return v + (ran ? 10 : 0);
}

TEST(Task, EnsureFutureMakesATaskOfACoroAndReturnsATaskAsIs) {
    bool same = false;
    EXPECT_EQ(asyncio::run(ensure_future_main(&same)), 11);
    EXPECT_TRUE(same);
}

}  // namespace
