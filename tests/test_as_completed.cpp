// Tests of asyncio::as_completed (as_completed.hpp), an async_generator<task<T>>: completion order,
// nullopt at the end, tasks already done, watching from the call (not from the first next()), the
// `async for` loop, the timeout (timeout_error once per task not done, nothing cancelled),
// cancelling the consumer while it waits in next() (no task lost, also when the cancel and a
// completion share a loop iteration), failed tasks, and dropping or closing the generator early
// (no report, no clean-up task). Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/as_completed.hpp>
#include <asyncio/async_generator.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
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
using asyncio::task;
using ms = std::chrono::milliseconds;
using log_t = std::vector<std::string>;

using namespace test_support;

coro<int> value_after(ms d, int v) {
    co_await asyncio::sleep(d);
    co_return v;
}

coro<int> fail_after(ms d, std::string what) {
    co_await asyncio::sleep(d);
    throw std::runtime_error(what);
}

task<int> start(ms d, int v) { return asyncio::create_task(value_after(d, v)); }

int position(const std::vector<task<int>>& all, const task<int>& t) {
    for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i] == t) return static_cast<int>(i);
    return -1;
}

using idx = std::vector<int>;

// --- completion order ------------------------------------------------------------------------------

coro<void> completion_order_main() {
    std::vector<task<int>> ts{start(30ms, 0), start(10ms, 1), start(20ms, 2)};
    auto t0 = now();
    auto it = asyncio::as_completed(ts);
    idx order;
    std::vector<ms> at;
    for (;;) {
        std::optional<task<int>> t = co_await it.next();
        if (!t) break;
        EXPECT_TRUE(t->done());
        order.push_back(position(ts, *t));
        EXPECT_EQ(t->result(), order.back());
        at.push_back(since(t0));
    }
    EXPECT_EQ(order, (idx{1, 2, 0}));
    EXPECT_EQ(at, (std::vector<ms>{10ms, 20ms, 30ms}));
    // At the end, next() keeps giving nullopt.
    std::optional<task<int>> again = co_await it.next();
    EXPECT_FALSE(again.has_value());
    std::optional<task<int>> again2 = co_await it.next();
    EXPECT_FALSE(again2.has_value());
}

TEST(AsCompleted, YieldsInCompletionOrderThenNullopt) { run_clean(completion_order_main()); }

coro<void> already_done_main() {
    std::vector<task<int>> ts{start(50ms, 0), start(2ms, 1), start(1ms, 2)};
    co_await asyncio::sleep(5ms);
    auto t0 = now();
    auto it = asyncio::as_completed(ts);
    idx order;
    std::vector<ms> at;
    for (;;) {
        std::optional<task<int>> t = co_await it.next();
        if (!t) break;
        order.push_back(position(ts, *t));
        at.push_back(since(t0));
    }
    // The tasks done before the call come first, at once, in input order.
    EXPECT_EQ(order, (idx{1, 2, 0}));
    EXPECT_EQ(at, (std::vector<ms>{0ms, 0ms, 45ms}));
}

TEST(AsCompleted, TasksAlreadyDoneComeFirstInInputOrder) { run_clean(already_done_main()); }

coro<void> empty_main() {
    std::vector<task<int>> none;
    auto it = asyncio::as_completed(std::move(none), std::optional<asyncio::clock::duration>(1ms));
    std::optional<task<int>> t = co_await it.next();
    EXPECT_FALSE(t.has_value());
}

TEST(AsCompleted, EmptyGivesNulloptAtOnce) { run_clean(empty_main()); }

// The tasks are watched from the call, although the generator is lazy: tasks finishing before the
// first next() still come in completion order (not input order).
coro<void> watched_from_call_main() {
    std::vector<task<int>> ts{start(20ms, 0), start(10ms, 1), start(30ms, 2)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(25ms));
    co_await asyncio::sleep(40ms);  // all done (the last one after the deadline), before any next()
    idx order;
    int timeouts = 0;
    for (;;) {
        std::optional<task<int>> t;
        try {
            t = co_await it.next();
        } catch (const asyncio::timeout_error&) {
            ++timeouts;
            continue;
        }
        if (!t) break;
        order.push_back(position(ts, *t));
    }
    EXPECT_EQ(order, (idx{1, 0}));
    EXPECT_EQ(timeouts, 1);  // the timeout counted from the call too
}

TEST(AsCompleted, WatchesFromTheCallNotFromTheFirstNext) { run_clean(watched_from_call_main()); }

coro<void> async_for_main() {
    std::vector<task<int>> ts{start(3ms, 0), start(1ms, 1), start(2ms, 2)};
    auto it = asyncio::as_completed(ts);
    idx values;
    while (auto t = co_await it.next()) values.push_back(t->result());
    EXPECT_EQ(values, (idx{1, 2, 0}));
}

TEST(AsCompleted, AsyncForLoop) { run_clean(async_for_main()); }

coro<void> failed_main() {
    std::vector<task<int>> ts{start(20ms, 0), asyncio::create_task(fail_after(10ms, "bad"))};
    auto it = asyncio::as_completed(ts);
    std::optional<task<int>> first = co_await it.next();
    EXPECT_TRUE(first.has_value() && position(ts, *first) == 1);
    bool threw = false;
    try {
        (void)first->result();
    } catch (const std::runtime_error& e) {
        threw = std::string(e.what()) == "bad";
    }
    EXPECT_TRUE(threw);
    std::optional<task<int>> second = co_await it.next();
    EXPECT_TRUE(second.has_value() && second->result() == 0);
}

TEST(AsCompleted, FailedTaskIsYieldedAndItsResultRethrows) { run_clean(failed_main()); }

// --- timeout -----------------------------------------------------------------------------------

coro<void> timeout_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(100ms, 1)};
    auto t0 = now();
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(50ms));
    std::optional<task<int>> first = co_await it.next();
    EXPECT_TRUE(first.has_value() && position(ts, *first) == 0);
    EXPECT_EQ(since(t0), 10ms);
    bool timed_out = false;
    try {
        co_await it.next();
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(since(t0), 50ms);
    // The timeout cancels nothing.
    EXPECT_FALSE(ts[1].done());
    EXPECT_FALSE(ts[1].cancelled());
    EXPECT_EQ(ts[1].cancelling(), 0);
    int v = co_await ts[1];
    EXPECT_EQ(v, 1);
    EXPECT_EQ(since(t0), 100ms);
}

TEST(AsCompleted, TimeoutThrowsTimeoutErrorAndCancelsNothing) { run_clean(timeout_main()); }

coro<void> timeout_between_calls_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(100ms, 1)};
    auto t0 = now();
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(20ms));
    std::optional<task<int>> first = co_await it.next();
    EXPECT_TRUE(first.has_value());
    co_await asyncio::sleep(30ms);  // the deadline passes while nobody waits in next()
    auto t1 = now();
    bool timed_out = false;
    try {
        co_await it.next();
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(since(t1), 0ms);  // at once
    EXPECT_EQ(since(t0), 40ms);
    co_await ts[1];
}

TEST(AsCompleted, DeadlinePassedBeforeNextThrowsAtOnce) { run_clean(timeout_between_calls_main()); }

coro<void> timeout_not_reached_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(20ms, 1)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(1s));
    int n = 0;
    for (;;) {
        std::optional<task<int>> t = co_await it.next();
        if (!t) break;
        ++n;
    }
    EXPECT_EQ(n, 2);
    co_await asyncio::sleep(2s);  // the timer went away with the last wait (ASan would notice)
}

TEST(AsCompleted, TimeoutNotReachedYieldsEverything) { run_clean(timeout_not_reached_main()); }

// As Python's iterator: after the timeout, the tasks done before it are still yielded, then each
// task not done by then makes one next() throw timeout_error, then next() gives nullopt. A task
// finishing after the deadline is not yielded.
coro<void> after_timeout_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(20ms, 1), start(100ms, 2), start(200ms, 3)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(50ms));
    co_await asyncio::sleep(150ms);  // 0 and 1 done before the deadline, 2 after it, 3 pending
    log_t got;
    for (int i = 0; i < 6; ++i) {
        try {
            std::optional<task<int>> t = co_await it.next();
            got.push_back(t ? std::to_string(position(ts, *t)) : std::string("end"));
        } catch (const asyncio::timeout_error&) {
            got.push_back("timeout");
        }
    }
    EXPECT_EQ(got, (log_t{"0", "1", "timeout", "timeout", "end", "end"}));
    co_await ts[3];
}

TEST(AsCompleted, AfterTheTimeoutEachTaskNotDoneIsOneTimeoutError) { run_clean(after_timeout_main()); }

// --- cancelling the consumer ------------------------------------------------------------------------

// Collects every task; a cancellation while it waits in next() is logged and the loop goes on.
coro<void> consumer(asyncio::async_generator<task<int>>* it, std::vector<task<int>> all, idx* got,
                    log_t* log) {
    for (;;) {
        std::optional<std::string> cancel_msg;
        std::optional<task<int>> t;
        try {
            t = co_await it->next();
        } catch (const asyncio::cancelled_error& e) {
            cancel_msg = e.message();
        }
        if (cancel_msg) {
            log->push_back("consumer cancelled: " + *cancel_msg);
            asyncio::current_task().uncancel();
            continue;
        }
        if (!t) break;
        got->push_back(position(all, *t));
        log->push_back("got " + std::to_string(got->back()));
    }
}

coro<void> cancel_consumer_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(20ms, 1)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(1s));
    idx got;
    log_t log;
    task<void> c = asyncio::create_task(consumer(&it, ts, &got, &log));
    co_await asyncio::sleep(15ms);
    EXPECT_TRUE(c.cancel("c"));
    co_await c;
    EXPECT_EQ(got, (idx{0, 1}));
    log_t expected{"got 0", "consumer cancelled: c", "got 1"};
    EXPECT_EQ(log, expected);
}

TEST(AsCompleted, CancellingTheConsumerInNextLosesNoTask) { run_clean(cancel_consumer_main()); }

// The cancel and a task's completion happen in the same loop iteration, in either order.
coro<void> cancel_same_iteration_main(bool cancel_first) {
    auto& loop = asyncio::get_running_loop();
    idx got;
    log_t log;
    std::vector<task<int>> ts;
    task<void> c;
    asyncio::async_generator<task<int>>* itp = nullptr;
    std::optional<asyncio::async_generator<task<int>>> it;
    if (cancel_first) {
        // Our timer is scheduled before the task's own: the cancel runs first in that iteration.
        loop.call_later(10ms, [&c] { c.cancel("first"); });
        ts.push_back(start(10ms, 0));
    } else {
        ts.push_back(start(10ms, 0));
        co_await asyncio::sleep(0ms);  // the task has set its 10 ms timer; ours comes after it
        loop.call_later(10ms, [&c] { c.cancel("second"); });
        co_await asyncio::sleep(0ms);
    }
    it.emplace(asyncio::as_completed(ts));
    itp = &*it;
    c = asyncio::create_task(consumer(itp, ts, &got, &log));
    co_await c;
    EXPECT_EQ(got, (idx{0}));
    EXPECT_EQ(log.size(), 2u);
    EXPECT_EQ(log.empty() ? "" : log.back(), "got 0");
    EXPECT_EQ(log.empty() ? "" : log.front(),
              std::string("consumer cancelled: ") + (cancel_first ? "first" : "second"));
}

TEST(AsCompleted, CancelInTheSameIterationAsACompletionLosesNoTask) {
    run_clean(cancel_same_iteration_main(true));
    run_clean(cancel_same_iteration_main(false));
}

// A cancellation already pending when the consumer calls next(): cancelled_error, and the task
// is still yielded by the next call.
coro<void> self_cancelled_consumer(asyncio::async_generator<task<int>>* it, log_t* log) {
    asyncio::current_task().cancel("self");
    bool cancelled = false;
    try {
        co_await it->next();
    } catch (const asyncio::cancelled_error& e) {
        cancelled = true;
        log->push_back("cancelled: " + e.message());
    }
    EXPECT_TRUE(cancelled);
    asyncio::current_task().uncancel();
    std::optional<task<int>> t = co_await it->next();
    log->push_back(t ? "got " + std::to_string(t->result()) : std::string("nothing"));
}

coro<void> pending_cancel_at_entry_main() {
    std::vector<task<int>> ts{start(10ms, 4)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(1s));
    log_t log;
    task<void> c = asyncio::create_task(self_cancelled_consumer(&it, &log));
    co_await c;
    EXPECT_EQ(log, (log_t{"cancelled: self", "got 4"}));
}

TEST(AsCompleted, CancelPendingWhenNextIsCalledLosesNoTask) { run_clean(pending_cancel_at_entry_main()); }

// --- dropping the iterator early -----------------------------------------------------------------

coro<void> drop_early_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(20ms, 1), start(30ms, 2)};
    {
        auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(25ms));
        std::optional<task<int>> first = co_await it.next();
        EXPECT_TRUE(first.has_value());
    }  // the iterator stops listening to the others (ASan would see a dangling watcher)
    for (auto& t : ts) co_await t;
    co_await asyncio::sleep(50ms);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ts[static_cast<std::size_t>(i)].result(), i);
}

TEST(AsCompleted, DroppingTheIteratorEarlyIsSafe) { run_clean(drop_early_main()); }

// aclose() mid-way (the `async with aclosing(...)` way): nothing more is yielded, nothing cancelled.
coro<void> aclose_early_main() {
    std::vector<task<int>> ts{start(10ms, 0), start(20ms, 1)};
    auto it = asyncio::as_completed(ts, std::optional<asyncio::clock::duration>(15ms));
    std::optional<task<int>> first = co_await it.next();
    EXPECT_TRUE(first.has_value());
    co_await it.aclose();
    std::optional<task<int>> after = co_await it.next();
    EXPECT_FALSE(after.has_value());
    int v = co_await ts[1];
    EXPECT_EQ(v, 1);
}

TEST(AsCompleted, AcloseMidWay) { run_clean(aclose_early_main()); }

}  // namespace
