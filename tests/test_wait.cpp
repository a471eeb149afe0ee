// Tests of asyncio::wait (wait.hpp): the three return_when modes with and without a timeout (the
// done/pending split and input order), FIRST_EXCEPTION ignoring cancelled tasks, timeout expiry
// leaving the pending tasks running, the empty set, cancelling the waiter (the tasks run on), and
// that wait retrieves no exception. Every test runs on virtual time, so elapsed times are exact.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/wait.hpp>
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
using asyncio::return_when;
using asyncio::task;
using asyncio::wait_options;
using asyncio::wait_result;
using ms = std::chrono::milliseconds;
using log_t = std::vector<std::string>;

using namespace test_support;

// --- children ----------------------------------------------------------------------------------

coro<int> value_after(ms d, int v) {
    co_await asyncio::sleep(d);
    co_return v;
}

coro<int> fail_after(ms d, std::string what) {
    co_await asyncio::sleep(d);
    throw std::runtime_error(what);
}

coro<void> void_after(ms d) { co_await asyncio::sleep(d); }

task<int> start(ms d, int v) { return asyncio::create_task(value_after(d, v)); }

// The positions (in `all`) of the tasks in `part`, to compare splits with exact expectations.
std::vector<int> positions(const std::vector<task<int>>& all, const std::vector<task<int>>& part) {
    std::vector<int> out;
    for (const auto& t : part) {
        int found = -1;
        for (std::size_t i = 0; i < all.size(); ++i)
            if (all[i] == t) found = static_cast<int>(i);
        out.push_back(found);
    }
    return out;
}

using idx = std::vector<int>;

// Waits until every task in `ts` has finished (virtual time: long sleeps cost nothing), so that
// no test leaves work behind; the outcomes stay in the tasks.
coro<void> finish_all(std::vector<task<int>> ts) {
    for (auto& t : ts) {
        try {
            co_await t;
        } catch (...) {
        }
    }
}

// --- ALL_COMPLETED -----------------------------------------------------------------------------

coro<void> all_completed_main() {
    std::vector<task<int>> ts{start(30ms, 0), start(10ms, 1), start(20ms, 2)};
    auto t0 = now();
    wait_result<int> r = co_await asyncio::wait(ts);
    EXPECT_EQ(since(t0), 30ms);
    EXPECT_EQ(positions(ts, r.done), (idx{0, 1, 2}));  // input order, not completion order
    EXPECT_TRUE(r.pending.empty());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.done[static_cast<std::size_t>(i)].result(), i);
}

TEST(Wait, AllCompletedWaitsForEveryTaskAndKeepsInputOrder) { run_clean(all_completed_main()); }

coro<void> all_completed_timeout_main() {
    std::vector<task<int>> ts{start(30ms, 0), start(10ms, 1), start(100ms, 2)};
    auto t0 = now();
    wait_options opts;
    opts.timeout = 50ms;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 50ms);
    EXPECT_EQ(positions(ts, r.done), (idx{0, 1}));
    EXPECT_EQ(positions(ts, r.pending), (idx{2}));
    // Expiry cancels nothing: the pending task is still running and finishes later.
    EXPECT_FALSE(ts[2].done());
    EXPECT_FALSE(ts[2].cancelled());
    EXPECT_EQ(ts[2].cancelling(), 0);
    int v = co_await ts[2];
    EXPECT_EQ(v, 2);
    EXPECT_EQ(since(t0), 100ms);

    // A timeout longer than needed changes nothing.
    std::vector<task<int>> ts2{start(5ms, 5), start(7ms, 7)};
    opts.timeout = 1s;
    t0 = now();
    wait_result<int> r2 = co_await asyncio::wait(ts2, opts);
    EXPECT_EQ(since(t0), 7ms);
    EXPECT_EQ(positions(ts2, r2.done), (idx{0, 1}));
    EXPECT_TRUE(r2.pending.empty());
}

TEST(Wait, AllCompletedWithTimeoutSplitsAndLeavesPendingRunning) { run_clean(all_completed_timeout_main()); }

// --- FIRST_COMPLETED ---------------------------------------------------------------------------

coro<void> first_completed_main() {
    std::vector<task<int>> ts{start(30ms, 0), start(10ms, 1), start(20ms, 2)};
    auto t0 = now();
    wait_options opts;
    opts.return_when = return_when::first_completed;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 10ms);
    EXPECT_EQ(positions(ts, r.done), (idx{1}));
    EXPECT_EQ(positions(ts, r.pending), (idx{0, 2}));
    EXPECT_FALSE(ts[0].cancelled());
    EXPECT_FALSE(ts[2].cancelled());

    // Two finishing in the same iteration are both done.
    std::vector<task<int>> ts2{start(10ms, 0), start(30ms, 1), start(10ms, 2)};
    t0 = now();
    wait_result<int> r2 = co_await asyncio::wait(ts2, opts);
    EXPECT_EQ(since(t0), 10ms);
    EXPECT_EQ(positions(ts2, r2.done), (idx{0, 2}));
    EXPECT_EQ(positions(ts2, r2.pending), (idx{1}));

    co_await finish_all(ts);
    co_await finish_all(ts2);
    EXPECT_EQ(ts[0].result(), 0);  // the pending ones were never cancelled
    EXPECT_EQ(ts2[1].result(), 1);
}

TEST(Wait, FirstCompletedReturnsAtTheFirstCompletion) { run_clean(first_completed_main()); }

coro<void> first_completed_timeout_main() {
    std::vector<task<int>> ts{start(30ms, 0), start(40ms, 1)};
    auto t0 = now();
    wait_options opts;
    opts.return_when = return_when::first_completed;
    opts.timeout = 10ms;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 10ms);
    EXPECT_TRUE(r.done.empty());
    EXPECT_EQ(positions(ts, r.pending), (idx{0, 1}));

    opts.timeout = 25ms;  // from now: 35 ms after the tasks started, so the first one is done
    wait_result<int> r2 = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 30ms);
    EXPECT_EQ(positions(ts, r2.done), (idx{0}));
    EXPECT_EQ(positions(ts, r2.pending), (idx{1}));
    co_await finish_all(ts);
    EXPECT_EQ(ts[1].result(), 1);
}

TEST(Wait, FirstCompletedWithTimeout) { run_clean(first_completed_timeout_main()); }

// --- FIRST_EXCEPTION ---------------------------------------------------------------------------

coro<void> first_exception_main() {
    std::vector<task<int>> ts{start(10ms, 0), asyncio::create_task(fail_after(20ms, "bad")), start(100ms, 2)};
    auto t0 = now();
    wait_options opts;
    opts.return_when = return_when::first_exception;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 20ms);
    EXPECT_EQ(positions(ts, r.done), (idx{0, 1}));
    EXPECT_EQ(positions(ts, r.pending), (idx{2}));
    EXPECT_NE(ts[1].exception(), nullptr);  // retrieved here (wait itself retrieves nothing)
    EXPECT_FALSE(ts[2].cancelled());
    co_await finish_all(ts);
    EXPECT_EQ(ts[2].result(), 2);

    // No failure at all: FIRST_EXCEPTION waits for everything, like ALL_COMPLETED.
    std::vector<task<int>> ok{start(5ms, 0), start(15ms, 1)};
    t0 = now();
    wait_result<int> r2 = co_await asyncio::wait(ok, opts);
    EXPECT_EQ(since(t0), 15ms);
    EXPECT_EQ(positions(ok, r2.done), (idx{0, 1}));
    EXPECT_TRUE(r2.pending.empty());
}

TEST(Wait, FirstExceptionReturnsAtTheFirstFailure) { run_clean(first_exception_main()); }

coro<void> first_exception_ignores_cancelled_main() {
    auto& loop = asyncio::get_running_loop();
    std::vector<task<int>> ts{start(1s, 0), asyncio::create_task(fail_after(20ms, "bad")), start(100ms, 2)};
    task<int> victim = ts[0];
    loop.call_later(5ms, [victim] { victim.cancel("not a failure"); });
    auto t0 = now();
    wait_options opts;
    opts.return_when = return_when::first_exception;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    // The cancellation at 5 ms did not end the wait (Python: a cancelled future is not an exception).
    EXPECT_EQ(since(t0), 20ms);
    EXPECT_EQ(positions(ts, r.done), (idx{0, 1}));
    EXPECT_EQ(positions(ts, r.pending), (idx{2}));
    EXPECT_TRUE(ts[0].cancelled());
    EXPECT_NE(ts[1].exception(), nullptr);

    // Nor does a task that was already cancelled when wait started.
    std::vector<task<int>> ts2{ts[0], start(10ms, 1)};
    t0 = now();
    wait_result<int> r2 = co_await asyncio::wait(ts2, opts);
    EXPECT_EQ(since(t0), 10ms);
    EXPECT_EQ(positions(ts2, r2.done), (idx{0, 1}));
    co_await finish_all(ts);
}

TEST(Wait, FirstExceptionIgnoresCancelledTasks) { run_clean(first_exception_ignores_cancelled_main()); }

coro<void> first_exception_already_failed_main() {
    task<int> failed = asyncio::create_task(fail_after(0ms, "early"));
    co_await asyncio::sleep(1ms);
    EXPECT_TRUE(failed.done());
    std::vector<task<int>> ts{start(1s, 0), failed};
    auto t0 = now();
    wait_options opts;
    opts.return_when = return_when::first_exception;
    wait_result<int> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(since(t0), 0ms);
    EXPECT_EQ(positions(ts, r.done), (idx{1}));
    EXPECT_EQ(positions(ts, r.pending), (idx{0}));
    EXPECT_NE(failed.exception(), nullptr);

    // With a timeout that expires before the failure.
    std::vector<task<int>> ts2{asyncio::create_task(fail_after(50ms, "late")), start(10ms, 1)};
    opts.timeout = 20ms;
    t0 = now();
    wait_result<int> r2 = co_await asyncio::wait(ts2, opts);
    EXPECT_EQ(since(t0), 20ms);
    EXPECT_EQ(positions(ts2, r2.done), (idx{1}));
    EXPECT_EQ(positions(ts2, r2.pending), (idx{0}));
    co_await finish_all(ts);
    co_await finish_all(ts2);
}

TEST(Wait, FirstExceptionWithAnAlreadyFailedTaskAndWithTimeout) {
    run_clean(first_exception_already_failed_main());
}

// --- edge cases ----------------------------------------------------------------------------------

coro<void> empty_main() {
    std::vector<task<int>> none;
    bool threw = false;
    try {
        co_await asyncio::wait(std::move(none));
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    EXPECT_TRUE(threw);
}

TEST(Wait, EmptySetThrowsInvalidArgument) { run_clean(empty_main()); }

coro<void> already_done_main() {
    std::vector<task<int>> ts{start(1ms, 0), start(2ms, 1)};
    co_await asyncio::sleep(5ms);
    auto t0 = now();
    wait_result<int> r = co_await asyncio::wait(ts);
    EXPECT_EQ(since(t0), 0ms);
    EXPECT_EQ(positions(ts, r.done), (idx{0, 1}));

    // A zero or negative timeout returns at once with the split as it is now.
    std::vector<task<int>> ts2{ts[0], start(10ms, 2)};
    for (ms timeout : {ms(0), ms(-5)}) {
        wait_options opts;
        opts.timeout = timeout;
        wait_result<int> r2 = co_await asyncio::wait(ts2, opts);
        EXPECT_EQ(since(t0), 0ms);
        EXPECT_EQ(positions(ts2, r2.done), (idx{0}));
        EXPECT_EQ(positions(ts2, r2.pending), (idx{1}));
    }
    co_await finish_all(ts2);
    EXPECT_EQ(ts2[1].result(), 2);
}

TEST(Wait, AlreadyDoneAndZeroTimeoutReturnAtOnce) { run_clean(already_done_main()); }

coro<void> void_tasks_main() {
    std::vector<task<void>> ts{asyncio::create_task(void_after(3ms)), asyncio::create_task(void_after(1ms))};
    wait_options opts;
    opts.return_when = return_when::first_completed;
    wait_result<void> r = co_await asyncio::wait(ts, opts);
    EXPECT_EQ(r.done.size(), 1u);
    EXPECT_EQ(r.pending.size(), 1u);
    EXPECT_TRUE(r.done.size() == 1 && r.done[0] == ts[1]);
    co_await asyncio::wait(ts);
}

TEST(Wait, VoidTasks) { run_clean(void_tasks_main()); }

// --- cancelling the waiter -------------------------------------------------------------------------

coro<void> waiter(std::vector<task<int>> ts, std::optional<ms> timeout, log_t* log) {
    try {
        wait_options opts;
        opts.timeout = timeout;
        co_await asyncio::wait(ts, opts);
        log->push_back("wait returned");
    } catch (const asyncio::cancelled_error& e) {
        bool any_done = false;
        for (auto& t : ts) any_done = any_done || t.done();
        log->push_back("waiter cancelled: " + e.message() +
                       (any_done ? " (a task is done)" : " (tasks running)"));
        throw;
    }
}

coro<void> cancel_waiter_main() {
    log_t log;
    for (std::optional<ms> timeout : {std::optional<ms>(), std::optional<ms>(50ms)}) {
        log.clear();
        std::vector<task<int>> ts{start(20ms, 0), start(30ms, 1)};
        task<void> w = asyncio::create_task(waiter(ts, timeout, &log));
        co_await asyncio::sleep(5ms);
        auto t0 = now();
        EXPECT_TRUE(w.cancel("w"));
        std::optional<std::string> msg;
        try {
            co_await w;
        } catch (const asyncio::cancelled_error& e) {
            msg = e.message();
        }
        EXPECT_EQ(msg.value_or("<no cancelled_error>"), "w");
        EXPECT_EQ(since(t0), 0ms);  // wait stops at once: it does not wait for the tasks
        log_t expected{"waiter cancelled: w (tasks running)"};
        EXPECT_EQ(log, expected);
        // The tasks were not cancelled: they run on to their results.
        for (auto& t : ts) EXPECT_EQ(t.cancelling(), 0);
        int a = co_await ts[0];
        int b = co_await ts[1];
        EXPECT_EQ(a, 0);
        EXPECT_EQ(b, 1);
        EXPECT_EQ(since(t0), 25ms);
        co_await asyncio::sleep(60ms);  // past the old timeout: its timer is gone (ASan would see it)
    }
}

TEST(Wait, CancellingTheWaiterThrowsCancelledErrorAndTheTasksRunOn) { run_clean(cancel_waiter_main()); }

// The cancel arrives in the same iteration as the completion that ends the wait: it is not lost.
coro<void> waiter_then_sleep(std::vector<task<int>> ts, log_t* log) {
    try {
        co_await asyncio::wait(ts);
        log->push_back("wait returned");
        co_await asyncio::sleep(1ms);
        log->push_back("not cancelled");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message());
        throw;
    }
}

coro<void> cancel_same_iteration_main() {
    auto& loop = asyncio::get_running_loop();
    log_t log;
    std::vector<task<int>> ts{start(10ms, 0)};
    task<void> w = asyncio::create_task(waiter_then_sleep(ts, &log));
    co_await asyncio::sleep(1ms);
    loop.call_later(9ms, [w] { w.cancel("same iteration"); });  // after the task's own 10 ms timer
    std::optional<std::string> msg;
    try {
        co_await w;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "same iteration");
    EXPECT_EQ(log.empty() ? "" : log.back(), "cancelled: same iteration");
    EXPECT_TRUE(ts[0].done() && !ts[0].cancelled());
}

TEST(Wait, CancelInTheIterationTheWaitEndsIsNotLost) { run_clean(cancel_same_iteration_main()); }

// A cancellation already pending when the task reaches wait: cancelled_error at once, the tasks
// run on untouched.
coro<void> self_cancelled_wait(std::vector<task<int>> ts, log_t* log) {
    asyncio::current_task().cancel("self");
    try {
        co_await asyncio::wait(ts);
        log->push_back("wait returned");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("caught: " + e.message());
        throw;
    }
}

coro<void> pending_cancel_at_entry_main() {
    log_t log;
    std::vector<task<int>> ts{start(10ms, 0)};
    auto t0 = now();
    task<void> w = asyncio::create_task(self_cancelled_wait(ts, &log));
    std::optional<std::string> msg;
    try {
        co_await w;
    } catch (const asyncio::cancelled_error& e) {
        msg = e.message();
    }
    EXPECT_EQ(msg.value_or("<no cancelled_error>"), "self");
    EXPECT_EQ(log, (log_t{"caught: self"}));
    EXPECT_EQ(since(t0), 0ms);
    int v = co_await ts[0];
    EXPECT_EQ(v, 0);
}

TEST(Wait, CancelPendingWhenWaitStarts) { run_clean(pending_cancel_at_entry_main()); }

// --- exception retrieval ---------------------------------------------------------------------------

coro<void> not_retrieved_main() {
    {
        std::vector<task<int>> ts{asyncio::create_task(fail_after(1ms, "ignored"))};
        wait_result<int> r = co_await asyncio::wait(ts);
        EXPECT_EQ(r.done.size(), 1u);
    }  // every handle dropped without looking at the exception
    co_await asyncio::sleep(1ms);
}

// wait retrieves no exception (Python): a failure nobody looked at is still reported, once.
TEST(Wait, WaitDoesNotRetrieveExceptions) {
    std::vector<std::string> r = run_collect(not_retrieved_main());
    ASSERT_EQ(r.size(), 1u) << joined(r);
    EXPECT_NE(r[0].find("never retrieved"), std::string::npos) << r[0];
}

}  // namespace
