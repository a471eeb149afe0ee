// Tests of asyncio::with_task_group (task_group.hpp): waiting for every child, the first failure
// cancelling the others and the body, exception groups in order of failure, outside cancellation
// (in the body and while the group waits), tg.cancel(), create_task on a finished or aborting
// group, keyboard_interrupt, and the CPython cancellation-counting bugs gh-95289, gh-116720 and
// gh-155433. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/task_group.hpp>
#include <asyncio/timeout.hpp>
#include <chrono>
#include <memory>
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
using asyncio::task_group;
using ms = std::chrono::milliseconds;
using log_t = std::vector<std::string>;

using namespace test_support;

coro<int> value_after(ms d, int v, log_t* log, std::string name) {
    co_await asyncio::sleep(d);
    log->push_back(name + " done");
    co_return v;
}

coro<void> fail_after(ms d, std::string what, log_t* log) {
    co_await asyncio::sleep(d);
    log->push_back(what + " raised");
    throw std::runtime_error(what);
}

// Sleeps `d`; when cancelled logs it, cleans up for `cleanup` and rethrows.
coro<void> cancellable(ms d, ms cleanup, log_t* log, std::string name) {
    co_await slow_with_cleanup(d, cleanup, log, std::move(name));
}

std::vector<std::string> messages_of(const asyncio::exception_group& g) {
    std::vector<std::string> out;
    for (const auto& e : g.exceptions()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            out.push_back(x.what());
        } catch (const asyncio::cancelled_error&) {
            out.push_back("<cancelled>");
        }
    }
    return out;
}

// --- the ordinary path ---------------------------------------------------------------------

coro<int> body_two_children(task_group& tg, log_t* log, std::vector<task<int>>* kids) {
    kids->push_back(tg.create_task(value_after(20ms, 1, log, "a")));
    kids->push_back(tg.create_task(value_after(10ms, 2, log, "b"), "named-b"));
    log->push_back("body end");
    co_return 42;
}

coro<void> waits_for_every_child(log_t* log) {
    std::vector<task<int>> kids;
    auto t0 = now();
    auto body = [log, &kids](task_group& tg) { return body_two_children(tg, log, &kids); };
    int r = co_await asyncio::with_task_group(body);
    EXPECT_EQ(r, 42);
    EXPECT_EQ(since(t0), 20ms);
    EXPECT_TRUE(kids[0].done());
    EXPECT_EQ(kids[0].result(), 1);
    EXPECT_EQ(kids[1].result(), 2);
    EXPECT_EQ(kids[1].get_name(), "named-b");
}

TEST(TaskGroup, WaitsForEveryChildAndReturnsTheBodysResult) {
    log_t log;
    run_clean(waits_for_every_child(&log));
    EXPECT_EQ(log, (log_t{"body end", "b done", "a done"}));
}

coro<void> empty_body(task_group&) { co_return; }

coro<void> empty_group() {
    // A group with no children ends at once, without a trip through the loop.
    auto t0 = now();
    co_await asyncio::with_task_group(empty_body);
    EXPECT_EQ(since(t0), 0ms);
}

TEST(TaskGroup, EmptyGroupEndsAtOnce) { run_clean(empty_group()); }

coro<void> spawner(task_group tg, int depth, log_t* log) {
    co_await asyncio::sleep(1ms);
    log->push_back("depth " + std::to_string(depth));
    if (depth < 3) tg.create_task(spawner(tg, depth + 1, log));
}

coro<void> children_add_children(log_t* log) {
    auto body1 = [log](task_group& tg) -> coro<void> {
        tg.create_task(spawner(tg, 1, log));
        return empty_body(tg);
    };
    co_await asyncio::with_task_group(body1);
    log->push_back("group done");
}

TEST(TaskGroup, ChildrenCanAddChildrenWhileTheGroupWaits) {
    log_t log;
    run_clean(children_add_children(&log));
    EXPECT_EQ(log, (log_t{"depth 1", "depth 2", "depth 3", "group done"}));
}

// --- failures ------------------------------------------------------------------------------

coro<void> body_sleeps(task_group&, ms d, log_t* log) {
    try {
        co_await asyncio::sleep(d);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("body cancelled");
        throw;
    }
    log->push_back("body end");
}

coro<void> first_failure(log_t* log) {
    auto t0 = now();
    std::optional<std::vector<std::string>> errors;
    try {
        auto body2 = [log](task_group& tg) {
            tg.create_task(cancellable(1h, 5ms, log, "slow"));
            tg.create_task(fail_after(10ms, "boom", log));
            return body_sleeps(tg, 1h, log);
        };
        co_await asyncio::with_task_group(body2);
    } catch (const asyncio::exception_group& g) {
        errors = messages_of(g);
        EXPECT_NE(std::string(g.what()).find("unhandled errors in a TaskGroup (1 sub-exception)"),
                  std::string::npos)
            << g.what();
    }
    EXPECT_TRUE(errors.has_value());
    EXPECT_EQ(errors.value_or(std::vector<std::string>{}), (std::vector<std::string>{"boom"}));
    EXPECT_EQ(since(t0), 15ms);  // the failure at 10 ms, then the 5 ms clean-up of "slow"
    // The group's own cancellation of its parent was taken back: the task is not cancelled.
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    co_await asyncio::sleep(1ms);
    log->push_back("after");
}

TEST(TaskGroup, FirstFailureCancelsTheOthersAndTheBody) {
    log_t log;
    run_clean(first_failure(&log));
    EXPECT_EQ(log,
              (log_t{"boom raised", "slow cancelled: ", "body cancelled", "slow cleanup done", "after"}));
}

coro<void> fails_when_cancelled(ms d, std::string what, log_t* log) {
    try {
        co_await asyncio::sleep(d);
    } catch (const asyncio::cancelled_error&) {
        log->push_back(what + " raised in clean-up");
        throw std::runtime_error(what);
    }
}

coro<void> several_failures(log_t* log) {
    std::vector<std::string> errors;
    try {
        auto body3 = [log](task_group& tg) {
            tg.create_task(fail_after(20ms, "second", log));
            tg.create_task(fail_after(10ms, "first", log));
            tg.create_task(fails_when_cancelled(1h, "third", log));
            tg.create_task(fail_after(10ms, "first-too", log));
            return body_sleeps(tg, 1h, log);
        };
        co_await asyncio::with_task_group(body3);
    } catch (const asyncio::exception_group& g) {
        errors = messages_of(g);
    }
    // "first-too" was due in the same iteration as "first", but "first" failed first and the
    // group cancelled it before it ran (as in Python); "third" fails while being cancelled;
    // "second" is cancelled before it fails. Cancelled children are not errors.
    EXPECT_EQ(errors, (std::vector<std::string>{"first", "third"}));
}

TEST(TaskGroup, ExceptionGroupHoldsEveryErrorInOrderOfFailure) {
    log_t log;
    run_clean(several_failures(&log));
}

coro<void> body_throws(task_group& tg, log_t* log) {
    tg.create_task(cancellable(1h, 0ms, log, "child"));
    tg.create_task(fails_when_cancelled(1h, "child-cleanup", log));
    co_await asyncio::sleep(5ms);
    throw std::logic_error("body failed");
}

coro<void> body_failure() {
    log_t log;
    std::vector<std::string> errors;
    try {
        auto body4 = [&log](task_group& tg) { return body_throws(tg, &log); };
        co_await asyncio::with_task_group(body4);
    } catch (const asyncio::exception_group& g) {
        errors = messages_of(g);
    }
    // The body failed first, then a child failed while it was being cancelled.
    EXPECT_EQ(errors, (std::vector<std::string>{"body failed", "child-cleanup"}));
    EXPECT_EQ(log, (log_t{"child cancelled: ", "child-cleanup raised in clean-up", "child cleanup done"}));
}

TEST(TaskGroup, BodyErrorCancelsChildrenAndJoinsTheGroup) { run_clean(body_failure()); }

log_t* new_log() {
    static log_t sink;
    return &sink;
}

coro<void> fail_quietly(ms d) {
    co_await asyncio::sleep(d);
    throw std::runtime_error("quiet");
}

coro<void> errors_are_not_reported_twice() {
    try {
        auto body5 = [](task_group& tg) -> coro<void> {
            tg.create_task(fail_quietly(1ms));
            tg.create_task(fails_when_cancelled(1h, "in clean-up", new_log()));
            return empty_body(tg);
        };
        co_await asyncio::with_task_group(body5);
    } catch (const asyncio::exception_group& g) {
        EXPECT_EQ(g.exceptions().size(), 2u);
    }
}

TEST(TaskGroup, ChildErrorsAreHandedOnNotReported) { run_clean(errors_are_not_reported_twice()); }

coro<void> cancel_later(task<void> victim, ms d) {
    co_await asyncio::sleep(d);
    victim.cancel("by hand");
}

coro<void> child_cancelled_alone(log_t* log) {
    // A child cancelled by someone else is not an error and does not abort the group.
    auto body6 = [log](task_group& tg) -> coro<void> {
        auto victim = tg.create_task(cancellable(1h, 0ms, log, "victim"));
        tg.create_task(value_after(10ms, 1, log, "sibling"));
        return cancel_later(victim, 1ms);
    };
    co_await asyncio::with_task_group(body6);
    log->push_back("group done");
}

TEST(TaskGroup, ACancelledChildIsNotAFailure) {
    log_t log;
    run_clean(child_cancelled_alone(&log));
    EXPECT_EQ(log, (log_t{"victim cancelled: by hand", "victim cleanup done", "sibling done", "group done"}));
}

// --- outside cancellation --------------------------------------------------------------------

coro<void> group_in_task(log_t* log, ms body_sleep) {
    try {
        auto body7 = [log, body_sleep](task_group& tg) {
            tg.create_task(cancellable(1h, 3ms, log, "c1"));
            tg.create_task(cancellable(1h, 1ms, log, "c2"));
            return body_sleeps(tg, body_sleep, log);
        };
        co_await asyncio::with_task_group(body7);
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("group raised cancelled: " + e.message());
        throw;
    }
    log->push_back("group returned");
}

coro<void> outside_cancel_in_body(log_t* log) {
    auto t = asyncio::create_task(group_in_task(log, 1h));
    co_await asyncio::sleep(10ms);
    t.cancel("stop");
    auto t0 = now();
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("task cancelled: " + e.message());
    }
    EXPECT_EQ(since(t0), 3ms);  // every child's clean-up ran before the group ended
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 1);
}

TEST(TaskGroup, OutsideCancelInTheBodyCancelsEverythingAndPropagates) {
    log_t log;
    run_clean(outside_cancel_in_body(&log));
    EXPECT_EQ(log, (log_t{"body cancelled", "c1 cancelled: ", "c2 cancelled: ", "c2 cleanup done",
                          "c1 cleanup done", "group raised cancelled: stop", "task cancelled: stop"}));
}

coro<void> outside_cancel_while_waiting(log_t* log) {
    // The body has returned; the group waits for its children when the cancel comes.
    auto t = asyncio::create_task(group_in_task(log, 1ms));
    co_await asyncio::sleep(10ms);
    t.cancel("late");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("task cancelled: " + e.message());
    }
    EXPECT_TRUE(t.cancelled());
}

TEST(TaskGroup, OutsideCancelWhileWaitingForChildrenCancelsThemAndPropagates) {
    log_t log;
    run_clean(outside_cancel_while_waiting(&log));
    EXPECT_EQ(log, (log_t{"body end", "c1 cancelled: ", "c2 cancelled: ", "c2 cleanup done",
                          "c1 cleanup done", "group raised cancelled: late", "task cancelled: late"}));
}

coro<void> repeated_outside_cancel(log_t* log) {
    auto t = asyncio::create_task(group_in_task(log, 1ms));
    co_await asyncio::sleep(10ms);
    t.cancel("one");
    co_await asyncio::sleep(1ms);  // c1 is cleaning up
    t.cancel("two");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("task cancelled: " + e.message());
    }
    EXPECT_EQ(t.cancelling(), 2);
}

TEST(TaskGroup, RepeatedOutsideCancelWhileExitingIsAbsorbedUntilChildrenAreDone) {
    log_t log;
    run_clean(repeated_outside_cancel(&log));
    EXPECT_EQ(log.back(), "task cancelled: one");
    EXPECT_EQ(log[log.size() - 2], "group raised cancelled: one");
}

coro<void> cancelled_before_group_runs(log_t* log) {
    auto t = asyncio::create_task(group_in_task(log, 1h));
    t.cancel();  // before its first step: the body never runs
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
        log->push_back("task cancelled");
    }
}

TEST(TaskGroup, TaskCancelledBeforeItStartsNeverEntersTheGroup) {
    log_t log;
    run_clean(cancelled_before_group_runs(&log));
    EXPECT_EQ(log, (log_t{"task cancelled"}));
}

// --- gh-95289: a child failure and an outside cancel at the same time -----------------------

coro<void> failure_and_outside_cancel(log_t* log) {
    try {
        auto body8 = [log](task_group& tg) {
            tg.create_task(fail_after(10ms, "child", log));
            return body_sleeps(tg, 1h, log);
        };
        co_await asyncio::with_task_group(body8);
        log->push_back("no error");
    } catch (const asyncio::exception_group& g) {
        log->push_back("group: " + messages_of(g).at(0));
    }
    // The outside cancel is still pending: it is delivered at the next co_await.
    log->push_back("cancelling=" + std::to_string(asyncio::current_task().cancelling()));
    try {
        co_await asyncio::sleep(1ms);
        log->push_back("not cancelled");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("then cancelled");
        throw;
    }
}

coro<void> gh_95289(log_t* log) {
    auto t = asyncio::create_task(failure_and_outside_cancel(log));
    co_await asyncio::sleep(10ms);  // the child fails in this iteration too
    t.cancel("outside");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
        log->push_back("task cancelled");
    }
}

TEST(TaskGroup, Gh95289OutsideCancelIsNotLostWhenAChildFailsToo) {
    log_t log;
    run_clean(gh_95289(&log));
    EXPECT_EQ(log, (log_t{"child raised", "body cancelled", "group: child", "cancelling=1", "then cancelled",
                          "task cancelled"}));
}

coro<void> gh_95289_body_swallows(log_t* log) {
    // The body catches the cancellation the group sent it and returns normally: the group
    // still takes its own cancel back (uncancel), so the task is not left "cancelling".
    auto body9 = [log](task_group& tg) -> coro<void> {
        tg.create_task(fail_after(1ms, "child", log));
        return [](log_t* lg) -> coro<void> {
            try {
                co_await asyncio::sleep(1h);
            } catch (const asyncio::cancelled_error&) {
                lg->push_back("body swallowed the cancel");
            }
        }(log);
    };
    co_await asyncio::with_task_group(body9);
}

coro<void> gh_95289_uncancel(log_t* log) {
    try {
        co_await gh_95289_body_swallows(log);
    } catch (const asyncio::exception_group&) {
        log->push_back("group error");
    }
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    co_await asyncio::sleep(1ms);
    log->push_back("goes on");
}

TEST(TaskGroup, Gh95289TheGroupAlwaysTakesItsOwnCancelBack) {
    log_t log;
    run_clean(gh_95289_uncancel(&log));
    EXPECT_EQ(log, (log_t{"child raised", "body swallowed the cancel", "group error", "goes on"}));
}

// --- gh-116720: a nested group swallowing the outer group's cancellation --------------------

coro<void> inner_body(task_group& inner, log_t* log) {
    inner.create_task(fail_after(10ms, "inner child", log));
    co_await asyncio::sleep(1h);
}

coro<void> outer_body(task_group& outer, log_t* log) {
    outer.create_task(fail_after(10ms, "outer child", log));
    try {
        auto body10 = [log](task_group& inner) { return inner_body(inner, log); };
        co_await asyncio::with_task_group(body10);
    } catch (const asyncio::exception_group& g) {
        log->push_back("body caught inner: " + messages_of(g).at(0));
    }
    // The outer group's cancellation must still reach this await.
    try {
        co_await asyncio::sleep(1h);
        log->push_back("body ran on (bug)");
    } catch (const asyncio::cancelled_error&) {
        log->push_back("body cancelled by outer group");
        throw;
    }
}

coro<void> gh_116720(log_t* log) {
    std::vector<std::string> errors;
    auto t0 = now();
    try {
        auto body11 = [log](task_group& outer) { return outer_body(outer, log); };
        co_await asyncio::with_task_group(body11);
    } catch (const asyncio::exception_group& g) {
        errors = messages_of(g);
    }
    EXPECT_EQ(errors, (std::vector<std::string>{"outer child"}));
    EXPECT_EQ(since(t0), 10ms);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
}

TEST(TaskGroup, Gh116720NestedGroupDoesNotSwallowTheOuterCancellation) {
    log_t log;
    run_clean(gh_116720(&log));
    EXPECT_EQ(log, (log_t{"outer child raised", "inner child raised", "body caught inner: inner child",
                          "body cancelled by outer group"}));
}

coro<void> nested_outside_cancel_body(task_group& outer, log_t* log) {
    outer.create_task(cancellable(1h, 2ms, log, "outer-child"));
    auto body12 = [log](task_group& inner) {
        inner.create_task(cancellable(1h, 1ms, log, "inner-child"));
        return body_sleeps(inner, 1h, log);
    };
    co_await asyncio::with_task_group(body12);
    log->push_back("after inner (bug)");
}

coro<void> nested_outside_cancel(log_t* log) {
    auto t = asyncio::create_task(asyncio::with_task_group(
        [log](task_group& outer) { return nested_outside_cancel_body(outer, log); }));
    co_await asyncio::sleep(5ms);
    t.cancel("outside");
    try {
        co_await t;
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message());
    }
    EXPECT_EQ(t.cancelling(), 1);
}

TEST(TaskGroup, NestedGroupsWithAnOutsideCancelCancelEverything) {
    log_t log;
    run_clean(nested_outside_cancel(&log));
    EXPECT_EQ(log, (log_t{"body cancelled", "inner-child cancelled: ", "inner-child cleanup done",
                          "outer-child cancelled: ", "outer-child cleanup done", "cancelled: outside"}));
}

// --- tg.cancel() and gh-155433 -------------------------------------------------------------

coro<void> cancel_body(task_group& tg, log_t* log) {
    tg.create_task(cancellable(1h, 1ms, log, "w"));
    co_await asyncio::sleep(5ms);
    tg.cancel();
    tg.cancel();  // idempotent
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("body cancelled");
        throw;
    }
}

coro<void> group_cancel(log_t* log) {
    auto body13 = [log](task_group& tg) { return cancel_body(tg, log); };
    co_await asyncio::with_task_group(body13);
    log->push_back("group ended quietly");
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    co_await asyncio::sleep(1ms);
}

TEST(TaskGroup, CancelEndsTheGroupWithoutError) {
    log_t log;
    run_clean(group_cancel(&log));
    EXPECT_EQ(log, (log_t{"w cancelled: ", "body cancelled", "w cleanup done", "group ended quietly"}));
}

coro<void> worker_with_slow_cleanup(log_t* log) {
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error&) {
        log->push_back("worker cleaning up");
    }
    co_await asyncio::sleep(1s);
    log->push_back("worker cleanup done");
}

coro<void> cancel_then_timeout_body(task_group& tg, log_t* log) {
    tg.create_task(worker_with_slow_cleanup(log));
    co_await asyncio::sleep(100ms);
    tg.cancel();
}

coro<void> inside_timeout(log_t* log) {
    auto body14 = [log](task_group& tg) { return cancel_then_timeout_body(tg, log); };
    co_await asyncio::with_task_group(body14);
    log->push_back("no error (bug)");
}

coro<void> gh_155433(log_t* log) {
    auto t0 = now();
    try {
        co_await asyncio::timeout(500ms, [log] { return inside_timeout(log); });
    } catch (const asyncio::timeout_error&) {
        log->push_back("timeout_error");
    }
    // The timeout's cancel arrives while the group waits for the worker's clean-up (as in
    // Python, the group does not cancel its children twice): timeout_error after that.
    EXPECT_EQ(since(t0), 1100ms);
}

TEST(TaskGroup, Gh155433CancelDoesNotSwallowAnOutsideCancellation) {
    log_t log;
    run_clean(gh_155433(&log));
    EXPECT_EQ(log, (log_t{"worker cleaning up", "worker cleanup done", "timeout_error"}));
}

// --- create_task on a group that cannot take tasks ---------------------------------------------

coro<void> create_after_exit() {
    std::optional<task_group> kept;
    auto body15 = [&kept](task_group& tg) {
        kept.emplace(tg);
        return empty_body(tg);
    };
    co_await asyncio::with_task_group(body15);
    log_t log;
    try {
        kept->create_task(value_after(1ms, 1, &log, "late"));
        ADD_FAILURE() << "create_task on a finished group did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "TaskGroup is finished");
    }
    kept->cancel();  // does nothing now
    co_await asyncio::sleep(1ms);
    EXPECT_TRUE(log.empty());
}

TEST(TaskGroup, CreateTaskOnAFinishedGroupThrows) { run_clean(create_after_exit()); }

coro<void> creates_while_aborting(task_group& tg, log_t* log) {
    tg.create_task(fail_after(1ms, "boom", log));
    try {
        co_await asyncio::sleep(1h);
    } catch (const asyncio::cancelled_error&) {
    }
    try {
        tg.create_task(value_after(1ms, 1, log, "too late"));
    } catch (const std::runtime_error& e) {
        log->push_back(e.what());
    }
}

coro<void> create_while_aborting(log_t* log) {
    try {
        auto body16 = [log](task_group& tg) { return creates_while_aborting(tg, log); };
        co_await asyncio::with_task_group(body16);
    } catch (const asyncio::exception_group&) {
        log->push_back("group error");
    }
}

TEST(TaskGroup, CreateTaskWhileShuttingDownThrows) {
    log_t log;
    run_clean(create_while_aborting(&log));
    EXPECT_EQ(log, (log_t{"boom raised", "TaskGroup is shutting down", "group error"}));
}

// --- keyboard_interrupt ----------------------------------------------------------------------

coro<void> raise_interrupt(ms d) {
    co_await asyncio::sleep(d);
    throw asyncio::keyboard_interrupt();
}

coro<void> interrupt_in_child(log_t* log) {
    bool interrupted = false;
    try {
        auto body17 = [log](task_group& tg) {
            tg.create_task(raise_interrupt(1ms));
            tg.create_task(fails_when_cancelled(1h, "plain", log));
            return body_sleeps(tg, 1h, log);
        };
        co_await asyncio::with_task_group(body17);
    } catch (const asyncio::keyboard_interrupt&) {
        interrupted = true;
    }
    EXPECT_TRUE(interrupted);
}

TEST(TaskGroup, KeyboardInterruptInAChildIsRethrownAsItIs) {
    log_t log;
    std::vector<std::string> reports = run_collect(interrupt_in_child(&log));
    // The plain error that the interrupt displaced is reported, not lost.
    ASSERT_EQ(reports.size(), 1u) << joined(reports);
    EXPECT_NE(reports[0].find("TaskGroup task exception was not propagated"), std::string::npos);
}

// --- results and lifetimes ---------------------------------------------------------------------

coro<std::unique_ptr<int>> move_only_body(task_group& tg, log_t* log) {
    tg.create_task(value_after(1ms, 1, log, "x"));
    co_return std::make_unique<int>(7);
}

coro<void> move_only_result(log_t* log) {
    auto body = [log](task_group& tg) { return move_only_body(tg, log); };
    std::unique_ptr<int> p = co_await asyncio::with_task_group(body);
    EXPECT_EQ(*p, 7);
}

TEST(TaskGroup, MoveOnlyResult) {
    log_t log;
    run_clean(move_only_result(&log));
}

coro<void> lambda_captures_survive() {
    // A coroutine lambda body: its captures live in the lambda object, which the group keeps.
    auto shared = std::make_shared<std::string>("kept");
    auto body19 = [shared](task_group&) -> coro<std::string> {
        co_await asyncio::sleep(1ms);
        co_return *shared;
    };
    std::string seen = co_await asyncio::with_task_group(body19);
    EXPECT_EQ(seen, "kept");
}

TEST(TaskGroup, TheBodyCallableOutlivesTheBody) { run_clean(lambda_captures_survive()); }

coro<int> value_after_quiet(ms d, int v) {
    co_await asyncio::sleep(d);
    co_return v;
}

coro<void> many_children() {
    std::vector<task<int>> kids;
    auto body = [&kids](task_group& tg) -> coro<void> {
        for (int i = 0; i < 10000; ++i) kids.push_back(tg.create_task(value_after_quiet(ms(i % 7), i)));
        return empty_body(tg);
    };
    co_await asyncio::with_task_group(body);
    long sum = 0;
    for (auto& k : kids) sum += k.result();
    EXPECT_EQ(sum, 10000L * 9999 / 2);
}

TEST(TaskGroup, TenThousandChildren) { run_clean(many_children()); }

}  // namespace
