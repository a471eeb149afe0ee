// Tests of asyncio::any_task (any_task.hpp): the type-erased task handle.
#include <gtest/gtest.h>

#include <asyncio/any_task.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

namespace {

TEST(AnyTask, EmptyHandle) {
    asyncio::any_task t;
    EXPECT_FALSE(static_cast<bool>(t));
    EXPECT_EQ(t.name(), "");
    EXPECT_FALSE(t.done());
    EXPECT_FALSE(t.cancelled());
    EXPECT_FALSE(t.cancel("nothing to cancel"));
    EXPECT_EQ(t.cancelling(), 0);
    EXPECT_EQ(t.uncancel(), 0);
    EXPECT_EQ(t.core(), nullptr);
    std::ostringstream os;
    t.print_stack(os);
    EXPECT_EQ(os.str(), "No task\n");
    asyncio::any_task other;
    EXPECT_TRUE(t == other);  // two empty handles are equal
}

TEST(AnyTask, CurrentTaskOutsideALoopIsEmpty) { EXPECT_FALSE(static_cast<bool>(asyncio::current_task())); }

asyncio::coro<int> sleep_then(int v) {
    co_await asyncio::sleep(1h);
    co_return v;
}

asyncio::coro<int> quick(int v) {
    co_await asyncio::sleep(0s);
    co_return v;
}

asyncio::coro<void> observe_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(quick(1), "worker");
    asyncio::any_task a = t;  // a task converts to an any_task
    log->push_back(std::string(a ? "non-empty" : "empty") + " " + a.name());
    log->push_back(a.done() ? "done" : "pending");
    t.set_name("renamed");
    log->push_back(a.name());  // the same task, seen through both handles
    int v = co_await t;
    log->push_back("result " + std::to_string(v));
    log->push_back(std::string(a.done() ? "done" : "pending") + " " +
                   (a.cancelled() ? "cancelled" : "not cancelled"));
    log->push_back(a.cancel() ? "cancel of done: true" : "cancel of done: false");
}

TEST(AnyTask, NameDoneCancelledOfAFinishedTask) {
    log_t log;
    asyncio::run(observe_main(&log));
    log_t expected{"non-empty worker",     "pending", "renamed", "result 1", "done not cancelled",
                   "cancel of done: false"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> cancel_through_any_main(log_t* log) {
    asyncio::task<int> t = asyncio::create_task(sleep_then(2), "sleepy");
    asyncio::any_task a = t.as_any();
    co_await asyncio::sleep(0s);
    log->push_back(a.cancel("via any_task") ? "cancel: true" : "cancel: false");
    log->push_back("cancelling " + std::to_string(a.cancelling()));
    try {
        int v = co_await t;
        log->push_back("result " + std::to_string(v));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled_error: " + e.message());
    }
    log->push_back(std::string(a.done() ? "done" : "pending") + " " +
                   (a.cancelled() ? "cancelled" : "not cancelled"));
    log->push_back("uncancel -> " + std::to_string(a.uncancel()));
}

TEST(AnyTask, CancelThroughAnAnyTask) {
    log_t log;
    asyncio::run(cancel_through_any_main(&log));
    log_t expected{"cancel: true", "cancelling 1", "cancelled_error: via any_task", "done cancelled",
                   "uncancel -> 0"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> record_current(asyncio::any_task* out) {
    *out = asyncio::current_task();
    co_return;
}

asyncio::coro<void> equality_main(log_t* log) {
    asyncio::any_task seen_a, seen_b;
    asyncio::task<void> a = asyncio::create_task(record_current(&seen_a));
    asyncio::task<void> b = asyncio::create_task(record_current(&seen_b));
    co_await a;
    co_await b;
    asyncio::any_task a1 = a;
    asyncio::any_task a2 = a.as_any();
    asyncio::any_task a3 = a1;             // copy
    asyncio::any_task a4 = std::move(a3);  // move
    asyncio::any_task empty;
    log->push_back(a1 == a2 && a2 == a4 && a1 == seen_a ? "same task: equal" : "same task: differ");
    log->push_back(!(a1 == seen_b) && seen_a.core() != seen_b.core() ? "different tasks: differ"
                                                                     : "different tasks: equal");
    log->push_back(!(a1 == empty) ? "task vs empty: differ" : "task vs empty: equal");
    log->push_back(!(asyncio::current_task() == a1) ? "main differs" : "main equal");
    a4 = empty;  // assignment
    log->push_back(a4 == empty ? "assigned empty" : "still set");
}

TEST(AnyTask, Equality) {
    log_t log;
    asyncio::run(equality_main(&log));
    log_t expected{"same task: equal", "different tasks: differ", "task vs empty: differ", "main differs",
                   "assigned empty"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<std::string> print_stack_main() {
    asyncio::task<int> t = asyncio::create_task(sleep_then(0), "printed");
    co_await asyncio::sleep(0s);
    asyncio::any_task a = t;
    std::ostringstream os;
    a.print_stack(os);
    t.cancel();
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
    }
    co_return os.str();
}

TEST(AnyTask, PrintStack) {
    std::string out = asyncio::run(print_stack_main());
    EXPECT_NE(out.find("Stack for task 'printed'"), std::string::npos) << out;
    EXPECT_NE(out.find("test_any_task.cpp:"), std::string::npos) << out;
}

asyncio::coro<void> keeps_alive_main(asyncio::any_task* out) {
    *out = asyncio::create_task(quick(3), "kept");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
}

TEST(AnyTask, AHandleKeepsTheTaskObservableAfterTheLoopIsGone) {
    asyncio::any_task kept;
    asyncio::run(keeps_alive_main(&kept));
    EXPECT_TRUE(static_cast<bool>(kept));
    EXPECT_EQ(kept.name(), "kept");
    EXPECT_TRUE(kept.done());
    EXPECT_FALSE(kept.cancelled());
}

}  // namespace
