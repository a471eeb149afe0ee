// Tests of asyncio::gather (gather.hpp): results in argument order, the variadic form with mixed
// coro/task/future arguments and void children, the vector form, the first exception (siblings
// cancelled and awaited before gather returns), cancelled children, return_exceptions, cancelling
// the gathering task, the empty forms, and exception retrieval (nothing reported as never
// retrieved). Every test runs on virtual time, so elapsed times are exact.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/future.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "support/describe.hpp"
#include "support/run_harness.hpp"

using namespace std::chrono_literals;

namespace {

using test_support::describe;

using asyncio::coro;
using asyncio::task;
using ms = std::chrono::milliseconds;
using log_t = std::vector<std::string>;

using namespace test_support;

// --- children ----------------------------------------------------------------------------------

coro<int> value_after(ms d, int v, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " done");
    co_return v;
}

coro<std::string> string_after(ms d, std::string v) {
    co_await asyncio::sleep(d);
    co_return v;
}

coro<void> void_after(ms d, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " done");
}

coro<int> fail_after(ms d, std::string what, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " fails");
    throw std::runtime_error(what);
}

// Sleeps `d`; when cancelled, fails with a runtime_error instead (an error raised during cleanup).
coro<int> fail_when_cancelled(ms d, log_t* log, std::string name) {
    bool cancelled = false;
    try {
        co_await asyncio::sleep(d);
    } catch (const asyncio::cancelled_error&) {
        cancelled = true;
    }
    if (cancelled) {
        log->push_back(name + " fails in cleanup");
        throw std::runtime_error(name + " cleanup failed");
    }
    co_return 0;
}

// --- results in argument order ------------------------------------------------------------------

coro<void> reverse_finish_main() {
    log_t log;
    auto t0 = now();
    std::tuple<int, int, int> r = co_await asyncio::gather(
        value_after(30ms, 1, &log, "a"), value_after(20ms, 2, &log, "b"), value_after(10ms, 3, &log, "c"));
    EXPECT_EQ(r, std::make_tuple(1, 2, 3));
    log_t expected{"c done", "b done", "a done"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(since(t0), 30ms);  // concurrently, not one after the other
}

TEST(Gather, ResultsInArgumentOrderWhenChildrenFinishInReverse) { run_clean(reverse_finish_main()); }

coro<void> mixed_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<std::string> t = asyncio::create_task(string_after(15ms, "task"));
    asyncio::future<double> f = loop.create_future<double>();
    loop.call_later(5ms, [f] { f.set_result(2.5); });
    task<void> tv = asyncio::create_task(void_after(25ms, &log, "void task"));
    asyncio::future<void> fv = loop.create_future<void>();
    loop.call_later(1ms, [fv] { fv.set_result(); });

    using expected_t = std::tuple<int, std::string, double, std::monostate, std::monostate, std::monostate>;
    static_assert(std::is_same_v<decltype(asyncio::gather(std::declval<coro<int>>(), t, f,
                                                          std::declval<coro<void>>(), tv, fv)),
                                 coro<expected_t>>);
    auto t0 = now();
    expected_t r = co_await asyncio::gather(value_after(20ms, 7, &log, "coro"), t, f,
                                            void_after(10ms, &log, "void coro"), tv, fv);
    EXPECT_EQ(std::get<0>(r), 7);
    EXPECT_EQ(std::get<1>(r), "task");
    EXPECT_EQ(std::get<2>(r), 2.5);
    EXPECT_EQ(since(t0), 25ms);
    log_t expected{"void coro done", "coro done", "void task done"};
    EXPECT_EQ(log, expected);
    // The task and the future passed in are shared, not consumed: their results are still there.
    EXPECT_EQ(t.result(), "task");
    EXPECT_EQ(f.result(), 2.5);
    // The same child twice.
    std::tuple<std::string, std::string> twice = co_await asyncio::gather(t, t);
    EXPECT_EQ(twice, std::make_tuple(std::string("task"), std::string("task")));
}

TEST(Gather, VariadicMixedCoroTaskFutureAndVoidChildren) { run_clean(mixed_main()); }

coro<void> vector_main() {
    log_t log;
    std::vector<coro<int>> coros;
    for (int i = 0; i < 5; ++i)
        coros.push_back(value_after(ms(50 - 10 * i), i * 10, &log, std::to_string(i)));
    auto t0 = now();
    std::vector<int> r = co_await asyncio::gather(std::move(coros));
    std::vector<int> expected{0, 10, 20, 30, 40};
    EXPECT_EQ(r, expected);
    log_t expected_log{"4 done", "3 done", "2 done", "1 done", "0 done"};
    EXPECT_EQ(log, expected_log);
    EXPECT_EQ(since(t0), 50ms);

    std::vector<task<int>> tasks;
    for (int i = 0; i < 3; ++i)
        tasks.push_back(asyncio::create_task(value_after(ms(30 - 10 * i), i, &log, "t")));
    std::vector<int> r2 = co_await asyncio::gather(tasks);
    std::vector<int> expected2{0, 1, 2};
    EXPECT_EQ(r2, expected2);
    for (auto& t : tasks) EXPECT_TRUE(t.done());

    auto& loop = asyncio::get_running_loop();
    std::vector<asyncio::future<void>> futs;
    for (int i = 0; i < 3; ++i) {
        asyncio::future<void> f = loop.create_future<void>();
        loop.call_later(ms(3 - i), [f] { f.set_result(); });
        futs.push_back(f);
    }
    std::vector<std::monostate> r3 = co_await asyncio::gather(futs);
    EXPECT_EQ(r3.size(), 3u);
}

TEST(Gather, VectorFormKeepsInputOrder) { run_clean(vector_main()); }

coro<void> empty_main() {
    auto t0 = now();
    std::vector<coro<int>> none;
    std::vector<int> r = co_await asyncio::gather(std::move(none));
    EXPECT_TRUE(r.empty());
    std::vector<task<int>> none_tasks;
    std::vector<asyncio::outcome<int>> r2 = co_await asyncio::gather(asyncio::return_exceptions, none_tasks);
    EXPECT_TRUE(r2.empty());
    std::tuple<> r3 = co_await asyncio::gather();
    (void)r3;
    EXPECT_EQ(since(t0), 0ms);
}

TEST(Gather, EmptyGivesEmptyResultAtOnce) { run_clean(empty_main()); }

// --- the first exception -----------------------------------------------------------------------

coro<void> first_exception_main() {
    log_t log;
    task<int> sibling = asyncio::create_task(slow_with_cleanup(1s, 10ms, &log, "sib"));
    auto t0 = now();
    std::string caught;
    try {
        co_await asyncio::gather(slow_with_cleanup(1s, 5ms, &log, "a"), fail_after(10ms, "boom", &log, "f"),
                                 sibling);
        log.push_back("gather returned");
    } catch (const std::runtime_error& e) {
        caught = e.what();
        log.push_back("caller caught " + caught);
        // No child outlives the call: the siblings were cancelled AND awaited.
        EXPECT_TRUE(sibling.done());
        EXPECT_TRUE(sibling.cancelled());
    }
    EXPECT_EQ(caught, "boom");
    log_t expected{"f fails",        "a cancelled: ",    "sib cancelled: ",
                   "a cleanup done", "sib cleanup done", "caller caught boom"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(since(t0), 20ms);  // 10 ms until the failure + the slowest sibling's 10 ms cleanup
}

TEST(Gather, FirstExceptionPropagatesAfterSiblingsAreCancelledAndAwaited) {
    run_clean(first_exception_main());
}

coro<void> vector_first_exception_main() {
    log_t log;
    std::vector<coro<int>> cs;
    cs.push_back(slow_with_cleanup(1s, 3ms, &log, "a"));
    cs.push_back(fail_after(10ms, "vector boom", &log, "f"));
    cs.push_back(slow_with_cleanup(1s, 6ms, &log, "b"));
    std::string caught;
    try {
        co_await asyncio::gather(std::move(cs));
    } catch (const std::runtime_error& e) {
        caught = e.what();
        log.push_back("caught");
    }
    EXPECT_EQ(caught, "vector boom");
    log_t expected{"f fails", "a cancelled: ", "b cancelled: ", "a cleanup done", "b cleanup done", "caught"};
    EXPECT_EQ(log, expected);
}

TEST(Gather, VectorFormFirstExceptionCancelsAndAwaitsTheRest) { run_clean(vector_first_exception_main()); }

coro<void> cancelled_child_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<int> victim = asyncio::create_task(value_after(1s, 1, &log, "victim"));
    loop.call_later(10ms, [victim] { victim.cancel("victim msg"); });
    auto t0 = now();
    std::optional<std::string> msg;
    try {
        co_await asyncio::gather(victim, slow_with_cleanup(1s, 5ms, &log, "other"));
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
        log.push_back("caught");
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "victim msg");
    log_t expected{"other cancelled: ", "other cleanup done", "caught"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(since(t0), 15ms);
    // The gathering task itself was not cancelled: it goes on normally.
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    co_await asyncio::sleep(1ms);

    // A plain future that is cancelled counts as failing too.
    asyncio::future<int> f = loop.create_future<int>();
    loop.call_later(2ms, [f] { f.cancel("future msg"); });
    msg.reset();
    try {
        co_await asyncio::gather(f, value_after(1ms, 2, &log, "quick"));
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "future msg");
}

TEST(Gather, CancelledChildCountsAsFailingWithCancelledError) { run_clean(cancelled_child_main()); }

// --- return_exceptions ------------------------------------------------------------------------

coro<void> return_exceptions_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    asyncio::future<int> cancelled_future = loop.create_future<int>();
    loop.call_later(3ms, [cancelled_future] { cancelled_future.cancel("cf"); });
    auto t0 = now();
    auto r = co_await asyncio::gather(asyncio::return_exceptions, value_after(20ms, 1, &log, "a"),
                                      fail_after(10ms, "bad", &log, "f"), void_after(15ms, &log, "v"),
                                      cancelled_future);
    static_assert(
        std::is_same_v<decltype(r), std::tuple<asyncio::outcome<int>, asyncio::outcome<int>,
                                               asyncio::outcome<std::monostate>, asyncio::outcome<int>>>);
    // Nothing was cancelled because a child failed: every other child ran to its end.
    log_t expected{"f fails", "v done", "a done"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(since(t0), 20ms);

    auto& [a, f, v, c] = r;
    EXPECT_TRUE(a.has_value());
    EXPECT_EQ(a.value(), 1);
    EXPECT_EQ(a.error(), nullptr);
    EXPECT_FALSE(f.has_value());
    EXPECT_EQ(describe(f.error()), "std::exception: bad");
    EXPECT_THROW(f.value(), std::runtime_error);
    EXPECT_TRUE(v.has_value());
    EXPECT_FALSE(c.has_value());
    EXPECT_EQ(describe(c.error()), "cancelled_error: cf");
    bool value_threw_cancelled = false;
    try {
        (void)c.value();
    } catch (const asyncio::cancelled_error&) {
        value_threw_cancelled = true;
    }
    EXPECT_TRUE(value_threw_cancelled);

    // The vector form.
    std::vector<coro<int>> cs;
    cs.push_back(value_after(5ms, 10, &log, "x"));
    cs.push_back(fail_after(1ms, "vbad", &log, "y"));
    cs.push_back(value_after(3ms, 30, &log, "z"));
    std::vector<asyncio::outcome<int>> rv =
        co_await asyncio::gather(asyncio::return_exceptions, std::move(cs));
    EXPECT_EQ(rv.size(), 3u);
    if (rv.size() == 3) {
        EXPECT_EQ(rv[0].value(), 10);
        EXPECT_EQ(describe(rv[1].error()), "std::exception: vbad");
        EXPECT_EQ(rv[2].value(), 30);
    }
}

TEST(Gather, ReturnExceptionsGivesOutcomesAndCancelsNothing) { run_clean(return_exceptions_main()); }

// --- cancelling the task that awaits gather ------------------------------------------------------

coro<void> gather_holder(task<int> a, task<int> b, log_t* log) {
    try {
        co_await asyncio::gather(a, b, slow_with_cleanup(1s, 7ms, log, "c"));
        log->push_back("holder: gather returned");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught: " + e.message());
        bool all_done = a.done() && a.cancelled() && b.done() && b.cancelled();
        log->push_back(all_done ? "children done" : "children still running");
        throw;
    }
}

coro<void> cancel_gathering_task_main() {
    log_t log;
    task<int> a = asyncio::create_task(slow_with_cleanup(1s, 5ms, &log, "a"));
    task<int> b = asyncio::create_task(slow_with_cleanup(1s, 10ms, &log, "b"));
    task<void> holder = asyncio::create_task(gather_holder(a, b, &log));
    co_await asyncio::sleep(10ms);
    EXPECT_TRUE(holder.cancel("stop"));
    std::optional<std::string> msg;
    try {
        co_await holder;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "stop");
    EXPECT_TRUE(holder.cancelled());
    log_t expected{"a cancelled: stop", "b cancelled: stop", "c cancelled: stop",   "a cleanup done",
                   "c cleanup done",    "b cleanup done",    "holder caught: stop", "children done"};
    EXPECT_EQ(log, expected);
}

TEST(Gather, CancellingTheGatheringTaskCancelsAndAwaitsEveryChild) {
    run_clean(cancel_gathering_task_main());
}

coro<void> holder_outcomes(log_t* log) {
    try {
        co_await asyncio::gather(asyncio::return_exceptions, slow_with_cleanup(1s, 2ms, log, "x"),
                                 fail_after(1ms, "early", log, "f"));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught: " + e.message());
        throw;
    }
}

coro<void> cancel_return_exceptions_main() {
    log_t log;
    task<void> holder = asyncio::create_task(holder_outcomes(&log));
    co_await asyncio::sleep(5ms);
    holder.cancel("stop outcomes");
    std::optional<std::string> msg;
    try {
        co_await holder;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "stop outcomes");
    log_t expected{"f fails", "x cancelled: stop outcomes", "x cleanup done", "holder caught: stop outcomes"};
    EXPECT_EQ(log, expected);
}

// Even with return_exceptions, cancelling the gather propagates cancelled_error (Python: bpo-32684),
// and the child that had failed is not reported as never retrieved.
TEST(Gather, CancellingAReturnExceptionsGatherThrowsCancelledError) {
    run_clean(cancel_return_exceptions_main());
}

// The outer cancel arrives while gather is already cancelling the siblings of a failed child:
// the outer cancellation wins (it is never swallowed), with its message, and the failed child's
// exception is not reported as never retrieved.
coro<void> holder_with_failure(log_t* log) {
    try {
        co_await asyncio::gather(fail_after(10ms, "first", log, "f"), slow_with_cleanup(1s, 20ms, log, "s"));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught cancelled: " + e.message());
        throw;
    } catch (const std::runtime_error& e) {
        log->push_back(std::string("holder caught error: ") + e.what());
        throw;
    }
}

coro<void> cancel_during_sibling_cleanup_main() {
    log_t log;
    task<void> holder = asyncio::create_task(holder_with_failure(&log));
    co_await asyncio::sleep(15ms);  // f failed at 10 ms; s is cleaning up until 30 ms
    holder.cancel("late stop");
    std::optional<std::string> msg;
    try {
        co_await holder;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "late stop");
    EXPECT_EQ(log.empty() ? "" : log.back(), "holder caught cancelled: late stop");
    EXPECT_EQ(log.empty() ? "" : log.front(), "f fails");
}

TEST(Gather, OuterCancelWhileSiblingsAreCancellingWins) { run_clean(cancel_during_sibling_cleanup_main()); }

// The cancel arrives in the same loop iteration as the last child's completion (after gather has
// been woken, before it resumed): it must not be lost.
coro<void> holder_then_sleep(log_t* log) {
    try {
        std::tuple<int> r = co_await asyncio::gather(value_after(10ms, 5, log, "child"));
        log->push_back("gather gave " + std::to_string(std::get<0>(r)));
        co_await asyncio::sleep(1ms);
        log->push_back("holder not cancelled");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("holder caught: " + e.message());
        throw;
    }
}

coro<void> cancel_same_iteration_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    task<void> holder = asyncio::create_task(holder_then_sleep(&log));
    co_await asyncio::sleep(1ms);  // the child's timer (10 ms) now exists; ours comes after it
    loop.call_later(9ms, [holder] { holder.cancel("same iteration"); });
    std::optional<std::string> msg;
    try {
        co_await holder;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "same iteration");
    EXPECT_EQ(log.empty() ? "" : log.front(), "child done");
    EXPECT_EQ(log.empty() ? "" : log.back(), "holder caught: same iteration");
    for (const auto& l : log) EXPECT_NE(l, "holder not cancelled");
}

TEST(Gather, CancelInTheIterationTheChildrenFinishIsNotLost) { run_clean(cancel_same_iteration_main()); }

// A cancellation already pending when the task reaches gather (requested while it ran): the new
// children are cancelled before they run, a running child is cancelled and awaited, and the task
// gets cancelled_error with the message.
coro<void> self_cancelled_gather(task<int> running, log_t* log) {
    asyncio::current_task().cancel("self");
    try {
        co_await asyncio::gather(value_after(10ms, 1, log, "new"), running);
        log->push_back("gather returned");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caught: " + e.message() + (running.done() ? ", running child done" : ""));
        throw;
    }
}

coro<void> pending_cancel_at_entry_main() {
    log_t log;
    task<int> running = asyncio::create_task(slow_with_cleanup(1s, 4ms, &log, "running"));
    co_await asyncio::sleep(1ms);
    auto t0 = now();
    task<void> holder = asyncio::create_task(self_cancelled_gather(running, &log));
    std::optional<std::string> msg;
    try {
        co_await holder;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "self");
    log_t expected{"running cancelled: self", "running cleanup done", "caught: self, running child done"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(since(t0), 4ms);
}

TEST(Gather, CancelPendingWhenGatherStarts) { run_clean(pending_cancel_at_entry_main()); }

// --- exception retrieval ---------------------------------------------------------------------------

coro<void> not_reported_main() {
    log_t log;
    std::string caught;
    {
        // Two children that have failed already (the first one's error is rethrown), one that fails
        // later, and one whose cancellation cleanup fails.
        task<int> done1 = asyncio::create_task(fail_after(0ms, "zero", &log, "d1"));
        task<int> done2 = asyncio::create_task(fail_after(0ms, "zero too", &log, "d2"));
        co_await asyncio::sleep(1ms);
        try {
            co_await asyncio::gather(done2, done1, fail_after(10ms, "one", &log, "f1"),
                                     fail_when_cancelled(1s, &log, "g"));
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        EXPECT_EQ(caught, "zero too");
    }
    try {
        co_await asyncio::gather(fail_after(10ms, "one", &log, "f1"), fail_when_cancelled(1s, &log, "g"));
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "one");
    // (In the first gather, the two new children are cancelled before they ever ran: no body runs.)
    log_t expected{"d1 fails", "d2 fails", "f1 fails", "g fails in cleanup"};
    EXPECT_EQ(log, expected);

    // Children given as tasks that the caller still holds (and drops later).
    {
        task<int> t1 = asyncio::create_task(fail_after(1ms, "t1", &log, "t1"));
        task<int> t2 = asyncio::create_task(fail_when_cancelled(1s, &log, "t2"));
        try {
            co_await asyncio::gather(t1, t2);
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        EXPECT_EQ(caught, "t1");
    }

    // return_exceptions: every failure is in an outcome, none is reported.
    auto r = co_await asyncio::gather(asyncio::return_exceptions, fail_after(1ms, "r1", &log, "r1"),
                                      fail_after(2ms, "r2", &log, "r2"));
    EXPECT_FALSE(std::get<0>(r).has_value());
    EXPECT_FALSE(std::get<1>(r).has_value());
}

TEST(Gather, GatheredChildrenExceptionsAreNotReportedAsNeverRetrieved) { run_clean(not_reported_main()); }

coro<void> control_main() {
    log_t log;
    { task<int> t = asyncio::create_task(fail_after(1ms, "nobody looks", &log, "lonely")); }
    co_await asyncio::sleep(5ms);
}

// Control for the test above: the handler does see a failure that nobody retrieved.
TEST(Gather, ControlUnretrievedTaskExceptionIsReported) {
    std::vector<std::string> r = run_collect(control_main());
    ASSERT_EQ(r.size(), 1u) << joined(r);
    EXPECT_NE(r[0].find("never retrieved"), std::string::npos) << r[0];
}

}  // namespace

// --- laziness: children start when the gather starts, in argument order ---------------------------

namespace {

coro<void> record_start(log_t* log, std::string name) {
    log->push_back(name);
    co_await asyncio::sleep(ms(1));
}

coro<void> argument_order_main() {
    log_t log;
    co_await asyncio::gather(record_start(&log, "a"), record_start(&log, "b"), record_start(&log, "c"));
    log_t expected = {"a", "b", "c"};
    EXPECT_EQ(log, expected);
}

coro<void> cancelled_before_start_main() {
    log_t log;
    // The gather task is cancelled before its first step: its coroutine never runs, so none of its
    // children is ever started (nothing outlives the gather).
    auto g = asyncio::create_task(asyncio::gather(record_start(&log, "a"), record_start(&log, "b")));
    g.cancel("early");
    try {
        co_await g;
        ADD_FAILURE() << "gather should be cancelled";
    } catch (const asyncio::cancelled_error& e) {
        EXPECT_EQ(e.message(), "early");
    }
    co_await asyncio::sleep(ms(5));
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);  // only this main task
}

}  // namespace

TEST(Gather, ChildrenStartInArgumentOrder) { run_clean(argument_order_main()); }
TEST(Gather, CancelledBeforeItStartsLeavesNoOrphanChildren) { run_clean(cancelled_before_start_main()); }
