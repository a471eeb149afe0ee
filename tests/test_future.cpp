// Tests of asyncio::future<T> (future.hpp): results, errors, cancellation, done callbacks and
// how awaiting tasks resume.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/future.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A task's result comes from its coroutine: set_result/set_exception do not exist on task<T>.
template <class F>
concept can_set_result_int = requires(const F& f) {
    f.set_result(1);
};
template <class F>
concept can_set_exception = requires(const F& f) {
    f.set_exception(std::exception_ptr());
};
static_assert(can_set_result_int<asyncio::future<int>>);
static_assert(can_set_exception<asyncio::future<int>>);
static_assert(!can_set_result_int<asyncio::task<int>>);
static_assert(!can_set_exception<asyncio::task<int>>);

std::string cancel_message_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const asyncio::cancelled_error& c) {
        return "cancelled_error: " + c.message();
    } catch (const std::exception& x) {
        return std::string("std::exception: ") + x.what();
    }
}

// --- results and states (no running loop needed) -----------------------------------------------

TEST(Future, SetResultThenResult) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    EXPECT_TRUE(static_cast<bool>(f));
    EXPECT_FALSE(f.done());
    EXPECT_FALSE(f.cancelled());
    f.set_result(42);
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.result(), 42);
    EXPECT_EQ(f.result(), 42);  // result() may be read any number of times
    EXPECT_EQ(f.exception(), nullptr);
    loop.close();
}

TEST(Future, VoidFuture) {
    asyncio::event_loop loop;
    asyncio::future<void> f = loop.create_future<void>();
    EXPECT_THROW(f.result(), asyncio::invalid_state_error);
    f.set_result();
    EXPECT_TRUE(f.done());
    EXPECT_NO_THROW(f.result());
    EXPECT_THROW(f.set_result(), asyncio::invalid_state_error);
    loop.close();
}

TEST(Future, ResultOfPendingFutureThrowsInvalidState) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    EXPECT_THROW(f.result(), asyncio::invalid_state_error);
    EXPECT_THROW(f.exception(), asyncio::invalid_state_error);
    loop.close();
}

TEST(Future, SettingTwiceThrowsInvalidStateAndKeepsTheFirstResult) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    f.set_result(1);
    EXPECT_THROW(f.set_result(2), asyncio::invalid_state_error);
    EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
                 asyncio::invalid_state_error);
    EXPECT_FALSE(f.cancel());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.result(), 1);

    asyncio::future<int> g = loop.create_future<int>();
    g.set_exception(std::make_exception_ptr(std::runtime_error("first")));
    EXPECT_THROW(g.set_result(3), asyncio::invalid_state_error);
    EXPECT_EQ(cancel_message_of(g.exception()), "std::exception: first");
    loop.close();
}

TEST(Future, SetExceptionNeedsAnException) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    EXPECT_THROW(f.set_exception(nullptr), std::invalid_argument);
    EXPECT_FALSE(f.done());
    loop.close();
}

TEST(Future, ExceptionSemantics) {
    asyncio::event_loop loop;
    // success: null
    asyncio::future<int> ok = loop.create_future<int>();
    ok.set_result(5);
    EXPECT_EQ(ok.exception(), nullptr);

    // failure: the very exception; result() rethrows it
    asyncio::future<int> bad = loop.create_future<int>();
    auto err = std::make_exception_ptr(std::out_of_range("bad index"));
    bad.set_exception(err);
    EXPECT_TRUE(bad.done());
    EXPECT_FALSE(bad.cancelled());
    EXPECT_EQ(bad.exception(), err);
    try {
        (void)bad.result();
        ADD_FAILURE() << "result() did not throw";
    } catch (const std::out_of_range& e) {
        EXPECT_STREQ(e.what(), "bad index");
    }

    // cancelled: exception() and result() throw cancelled_error
    asyncio::future<int> c = loop.create_future<int>();
    EXPECT_TRUE(c.cancel("stop it"));
    EXPECT_TRUE(c.done());
    EXPECT_TRUE(c.cancelled());
    EXPECT_FALSE(c.cancel("again"));  // already done
    try {
        (void)c.exception();
        ADD_FAILURE() << "exception() did not throw";
    } catch (const asyncio::cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop it");
    }
    try {
        (void)c.result();
        ADD_FAILURE() << "result() did not throw";
    } catch (const asyncio::cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop it");
    }
    EXPECT_THROW(c.set_result(1), asyncio::invalid_state_error);
    loop.close();
}

TEST(Future, HandlesShareOneStateAndCompareEqual) {
    asyncio::event_loop loop;
    asyncio::future<int> a = loop.create_future<int>();
    asyncio::future<int> b = a;
    asyncio::future<int> other = loop.create_future<int>();
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == other);
    b.set_result(9);
    EXPECT_TRUE(a.done());
    EXPECT_EQ(a.result(), 9);
    asyncio::future<int> empty;
    EXPECT_FALSE(static_cast<bool>(empty));
    EXPECT_THROW((void)empty.done(), asyncio::invalid_state_error);
    other.cancel();
    loop.close();
}

// --- cancellation reaching the awaiting code ----------------------------------------------------

asyncio::coro<void> await_and_record(asyncio::future<int> f, std::string* out) {
    try {
        int v = co_await f;
        *out = "value " + std::to_string(v);
    } catch (const asyncio::cancelled_error& e) {
        *out = "cancelled_error: " + e.message();
        throw;
    }
}

asyncio::coro<void> cancel_message_main(std::string* seen, bool* task_cancelled) {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    asyncio::task<void> t = asyncio::create_task(await_and_record(f, seen));
    co_await asyncio::sleep(0s);  // t now waits on f
    EXPECT_TRUE(f.cancel("shutting down"));
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    *task_cancelled = t.cancelled();
}

TEST(Future, CancelMessageReachesTheAwaitingCode) {
    std::string seen;
    bool task_cancelled = false;
    asyncio::run(cancel_message_main(&seen, &task_cancelled));
    EXPECT_EQ(seen, "cancelled_error: shutting down");
    EXPECT_TRUE(task_cancelled);
}

asyncio::coro<void> cancel_awaiter_main(std::string* seen, bool* future_cancelled, std::string* future_msg) {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    asyncio::task<void> t = asyncio::create_task(await_and_record(f, seen));
    co_await asyncio::sleep(0s);
    t.cancel("from outside");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    *future_cancelled = f.cancelled();
    try {
        (void)f.exception();
    } catch (const asyncio::cancelled_error& e) {
        *future_msg = e.message();
    }
}

TEST(Future, CancellingTheAwaitingTaskCancelsTheFuture) {
    std::string seen, future_msg;
    bool future_cancelled = false;
    asyncio::run(cancel_awaiter_main(&seen, &future_cancelled, &future_msg));
    EXPECT_EQ(seen, "cancelled_error: from outside");
    EXPECT_TRUE(future_cancelled);
    EXPECT_EQ(future_msg, "from outside");
}

asyncio::coro<std::string> await_failed_main() {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    asyncio::get_running_loop().call_soon(
        [f] { f.set_exception(std::make_exception_ptr(std::runtime_error("set from a callback"))); });
    std::string what;
    try {
        int v = co_await f;
        what = "value " + std::to_string(v);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_return what;
}

TEST(Future, AwaitingAFailedFutureThrowsItsException) {
    EXPECT_EQ(asyncio::run(await_failed_main()), "set from a callback");
}

// --- done callbacks --------------------------------------------------------------------------------

asyncio::coro<void> done_callback_main(std::vector<std::string>* log) {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    f.add_done_callback(
        [log](asyncio::future<int> g) { log->push_back("cb1 " + std::to_string(g.result())); });
    f.add_done_callback([log] { log->push_back("cb2"); });
    log->push_back("before set_result");
    f.set_result(3);
    log->push_back("after set_result");
    co_await asyncio::sleep(0s);
    log->push_back("after yield");
    // On a done future, the callback is still scheduled, not called inline.
    f.add_done_callback([log] { log->push_back("cb3 on done future"); });
    log->push_back("after add_done_callback");
    co_await asyncio::sleep(0s);
    log->push_back("end");
}

TEST(Future, DoneCallbacksRunFromTheReadyQueueNeverInline) {
    std::vector<std::string> log;
    asyncio::run(done_callback_main(&log));
    std::vector<std::string> expected{
        "before set_result",       "after set_result",   "cb1 3", "cb2", "after yield",
        "after add_done_callback", "cb3 on done future", "end"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> waiter_logging(asyncio::future<int> f, std::string name, std::vector<std::string>* log) {
    int v = co_await f;
    log->push_back(name + " " + std::to_string(v));
}

asyncio::coro<void> callbacks_and_waiters_main(std::vector<std::string>* log) {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    asyncio::task<void> a = asyncio::create_task(waiter_logging(f, "task A", log));
    co_await asyncio::sleep(0s);  // A waits on f (registered first)
    f.add_done_callback([log] { log->push_back("callback"); });
    asyncio::task<void> b = asyncio::create_task(waiter_logging(f, "task B", log));
    co_await asyncio::sleep(0s);  // B waits on f (registered after the callback)
    f.set_result(8);
    log->push_back("set_result returned");
    co_await a;
    co_await b;
}

TEST(Future, WaitersAndCallbacksResumeInRegistrationOrderAfterSetResult) {
    std::vector<std::string> log;
    asyncio::run(callbacks_and_waiters_main(&log));
    std::vector<std::string> expected{"set_result returned", "task A 8", "callback", "task B 8"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> throwing_callback_main(std::vector<std::string>* log) {
    auto& loop = asyncio::get_running_loop();
    loop.set_exception_handler([log](asyncio::event_loop&, const asyncio::exception_context& ctx) {
        log->push_back("handler: " + ctx.message + ": " + cancel_message_of(ctx.exception));
    });
    asyncio::future<void> f = loop.create_future<void>();
    f.add_done_callback([] { throw std::runtime_error("callback failed"); });
    f.add_done_callback([log] { log->push_back("second callback"); });
    f.set_result();
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
}

TEST(Future, AnExceptionFromADoneCallbackGoesToTheHandler) {
    std::vector<std::string> log;
    asyncio::run(throwing_callback_main(&log));
    std::vector<std::string> expected{
        "handler: Exception in a future's done callback: std::exception: callback failed", "second callback"};
    EXPECT_EQ(log, expected);
}

// --- awaiting ---------------------------------------------------------------------------------------

asyncio::coro<void> done_future_main(std::vector<std::string>* log) {
    asyncio::future<std::string> f = asyncio::get_running_loop().create_future<std::string>();
    f.set_result("ready");
    asyncio::get_running_loop().call_soon([log] { log->push_back("callback"); });
    std::string v = co_await f;  // done: does not suspend, so the callback has not run yet
    log->push_back("got " + v);
    co_await asyncio::sleep(0s);
    log->push_back("after yield");
}

TEST(Future, AwaitingADoneFutureDoesNotSuspend) {
    std::vector<std::string> log;
    asyncio::run(done_future_main(&log));
    std::vector<std::string> expected{"got ready", "callback", "after yield"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<void> many_waiters_main(std::vector<std::string>* log) {
    asyncio::future<int> f = asyncio::get_running_loop().create_future<int>();
    std::vector<asyncio::task<void>> tasks;
    for (int i = 0; i < 5; ++i)
        tasks.push_back(asyncio::create_task(waiter_logging(f, "w" + std::to_string(i), log)));
    co_await asyncio::sleep(0s);
    log->push_back("setting");
    f.set_result(77);
    for (auto& t : tasks) co_await t;
}

TEST(Future, SeveralTasksAwaitingOneFutureAllResume) {
    std::vector<std::string> log;
    asyncio::run(many_waiters_main(&log));
    std::vector<std::string> expected{"setting", "w0 77", "w1 77", "w2 77", "w3 77", "w4 77"};
    EXPECT_EQ(log, expected);
}

asyncio::coro<std::string> other_loop_main(asyncio::future<int> foreign) {
    std::string what;
    try {
        int v = co_await foreign;
        what = "value " + std::to_string(v);
    } catch (const std::runtime_error& e) {
        what = std::string("runtime_error: ") + e.what();
    }
    co_return what;
}

TEST(Future, AwaitingAFutureOfAnotherLoopThrowsRuntimeError) {
    asyncio::event_loop other;
    asyncio::future<int> foreign = other.create_future<int>();
    std::string what = asyncio::run(other_loop_main(foreign));
    EXPECT_EQ(what, "runtime_error: awaiting a future that belongs to a different event loop");
    EXPECT_FALSE(foreign.done());
    other.close();
}

TEST(Future, RunUntilCompleteOfAFutureOfAnotherLoopThrows) {
    asyncio::event_loop a;
    asyncio::event_loop b;
    asyncio::future<int> f = b.create_future<int>();
    EXPECT_THROW(a.run_until_complete(f), std::runtime_error);
    a.close();
    b.close();
}

// --- unretrieved exceptions ---------------------------------------------------------------------------

TEST(Future, UnretrievedExceptionIsReportedOnceRetrievedIsNot) {
    std::vector<std::string> reports;
    {
        asyncio::event_loop loop;
        loop.set_exception_handler([&reports](asyncio::event_loop&, const asyncio::exception_context& ctx) {
            reports.push_back(ctx.message + ": " + cancel_message_of(ctx.exception));
        });
        {
            asyncio::future<int> f = loop.create_future<int>();
            f.set_exception(std::make_exception_ptr(std::runtime_error("nobody looked")));
        }
        {
            asyncio::future<int> g = loop.create_future<int>();
            g.set_exception(std::make_exception_ptr(std::runtime_error("looked at")));
            (void)g.exception();
        }
        {
            asyncio::future<int> h = loop.create_future<int>();
            h.cancel();  // cancellation is never reported
        }
        loop.close();
    }
    std::vector<std::string> expected{"Future exception was never retrieved: std::exception: nobody looked"};
    EXPECT_EQ(reports, expected);
}

// --- move-only values ---------------------------------------------------------------------------------

asyncio::coro<int> move_only_future_main() {
    asyncio::future<std::unique_ptr<int>> f =
        asyncio::get_running_loop().create_future<std::unique_ptr<int>>();
    asyncio::get_running_loop().call_soon([f] { f.set_result(std::make_unique<int>(31)); });
    std::unique_ptr<int> p = co_await f;
    co_return p ? *p : -1;
}

TEST(Future, MoveOnlyValue) { EXPECT_EQ(asyncio::run(move_only_future_main()), 31); }

}  // namespace
