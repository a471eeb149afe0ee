// Tests of asyncio::event_loop (event_loop.hpp): callbacks and their order, timers, handles,
// running and stopping, closing, the exception handler, fd readiness and signals.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/describe.hpp"

using namespace std::chrono_literals;
using log_t = std::vector<std::string>;

namespace {

using test_support::describe;

// --- call_soon ------------------------------------------------------------------------------------

TEST(EventLoop, CallSoonRunsInFifoOrder) {
    asyncio::event_loop loop;
    log_t log;
    for (int i = 0; i < 5; ++i) loop.call_soon([&log, i] { log.push_back("cb" + std::to_string(i)); });
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    log_t expected{"cb0", "cb1", "cb2", "cb3", "cb4"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, CallbacksAddedDuringAnIterationRunInTheNextOne) {
    asyncio::event_loop loop;
    log_t log;
    loop.call_soon([&] {
        log.push_back("A");
        loop.call_soon([&] { log.push_back("C (added by A)"); });
    });
    loop.call_soon([&] {
        log.push_back("B");
        loop.stop();  // stop ends this iteration: C waits for the next run
    });
    loop.run_forever();
    log_t expected{"A", "B"};
    EXPECT_EQ(log, expected);

    loop.call_soon([&] {
        log.push_back("D");
        loop.stop();
    });
    loop.run_forever();
    expected = {"A", "B", "C (added by A)", "D"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, CallSoonHandleCancelPreventsTheCall) {
    asyncio::event_loop loop;
    log_t log;
    asyncio::handle h1 = loop.call_soon([&] { log.push_back("one"); });
    asyncio::handle h2 = loop.call_soon([&] { log.push_back("two"); });
    EXPECT_TRUE(static_cast<bool>(h2));
    EXPECT_FALSE(h2.cancelled());
    h2.cancel();
    EXPECT_TRUE(h2.cancelled());
    h2.cancel();  // twice is harmless
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    log_t expected{"one"};
    EXPECT_EQ(log, expected);
    h1.cancel();  // after it ran: harmless
    loop.close();
}

TEST(EventLoop, CallbackCancelledByAnEarlierCallbackOfTheSameIterationDoesNotRun) {
    asyncio::event_loop loop;
    log_t log;
    asyncio::handle later;
    loop.call_soon([&] {
        log.push_back("first");
        later.cancel();
    });
    later = loop.call_soon([&] { log.push_back("cancelled one"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    log_t expected{"first"};
    EXPECT_EQ(log, expected);
    loop.close();
}

// --- timers ---------------------------------------------------------------------------------------

// Timer order does not depend on how fast the machine is: these tests run on virtual time (exact
// and instant); CallLaterWaitsAtLeastItsDelay checks the real clock.
asyncio::loop_options on_virtual_time() {
    asyncio::loop_options opts;
    opts.clock = asyncio::clock_kind::virtual_time;
    return opts;
}

TEST(EventLoop, CallAtRunsByDeadlineEqualDeadlinesInSchedulingOrder) {
    asyncio::event_loop loop{on_virtual_time()};
    log_t log;
    auto t0 = loop.time();
    // Scheduled out of deadline order, with ties.
    loop.call_at(t0 + 4ms, [&] {
        log.push_back("d 4ms");
        loop.stop();
    });
    loop.call_at(t0 + 2ms, [&] { log.push_back("b1 2ms"); });
    loop.call_at(t0 + 2ms, [&] { log.push_back("b2 2ms"); });
    loop.call_at(t0 + 1ms, [&] { log.push_back("a 1ms"); });
    loop.call_at(t0 + 3ms, [&] { log.push_back("c1 3ms"); });
    loop.call_at(t0 + 2ms, [&] { log.push_back("b3 2ms"); });
    loop.call_at(t0 + 3ms, [&] { log.push_back("c2 3ms"); });
    loop.run_forever();
    log_t expected{"a 1ms", "b1 2ms", "b2 2ms", "b3 2ms", "c1 3ms", "c2 3ms", "d 4ms"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, CallLaterOrdersByDelay) {
    asyncio::event_loop loop{on_virtual_time()};
    log_t log;
    loop.call_later(3ms, [&] {
        log.push_back("3ms");
        loop.stop();
    });
    loop.call_later(1ms, [&] { log.push_back("1ms"); });
    loop.call_later(2ms, [&] { log.push_back("2ms"); });
    loop.call_later(-5ms, [&] { log.push_back("negative"); });  // as 0
    loop.call_soon([&] { log.push_back("soon"); });
    loop.run_forever();
    // The negative-delay timer is due at the first iteration; as in Python, expired timers join
    // the ready queue after the callbacks already there, so "soon" comes first.
    log_t expected{"soon", "negative", "1ms", "2ms", "3ms"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, CallLaterWaitsAtLeastItsDelay) {
    asyncio::event_loop loop;
    auto start = asyncio::clock::now();
    asyncio::clock::time_point fired;
    asyncio::timer_handle h = loop.call_later(20ms, [&] {
        fired = asyncio::clock::now();
        loop.stop();
    });
    EXPECT_GE(h.when(), start + 20ms);
    loop.run_forever();
    EXPECT_GE(fired - start, 20ms);
    loop.close();
}

TEST(EventLoop, TimerHandleCancelPreventsTheCall) {
    asyncio::event_loop loop{on_virtual_time()};
    log_t log;
    asyncio::timer_handle h = loop.call_later(1ms, [&] { log.push_back("cancelled timer"); });
    asyncio::timer_handle h2 = loop.call_later(2ms, [&] { log.push_back("kept timer"); });
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    EXPECT_FALSE(h2.cancelled());
    loop.call_later(10ms, [&] { loop.stop(); });
    loop.run_forever();
    log_t expected{"kept timer"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, TimerCancelledFromAnotherCallbackDoesNotRun) {
    asyncio::event_loop loop{on_virtual_time()};
    log_t log;
    asyncio::timer_handle h = loop.call_later(5ms, [&] { log.push_back("should not run"); });
    loop.call_later(1ms, [&] {
        log.push_back("canceller");
        h.cancel();
    });
    loop.call_later(15ms, [&] { loop.stop(); });
    loop.run_forever();
    log_t expected{"canceller"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, VirtualTimeJumpsToTheNextTimer) {
    asyncio::loop_options opts;
    opts.clock = asyncio::clock_kind::virtual_time;
    asyncio::event_loop loop{opts};
    log_t log;
    auto wall_start = std::chrono::steady_clock::now();
    auto t0 = loop.time();
    loop.call_later(1h, [&] {
        log.push_back("1h");
        loop.stop();
    });
    loop.call_later(30min, [&] { log.push_back("30min"); });
    loop.run_forever();
    log_t expected{"30min", "1h"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(loop.time() - t0, 1h);  // exactly: time only jumps to the deadlines
    EXPECT_LT(std::chrono::steady_clock::now() - wall_start, 30s);
    loop.close();
}

// --- running and stopping ---------------------------------------------------------------------------

TEST(EventLoop, StopAndRunForeverAndIsRunning) {
    asyncio::event_loop loop;
    EXPECT_FALSE(loop.is_running());
    EXPECT_FALSE(loop.is_closed());
    bool running_inside = false;
    bool same_loop = false;
    loop.call_soon([&] {
        running_inside = loop.is_running();
        same_loop = &asyncio::get_running_loop() == &loop;
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(running_inside);
    EXPECT_TRUE(same_loop);
    EXPECT_FALSE(loop.is_running());
    // It can run again.
    int runs = 0;
    loop.call_soon([&] {
        ++runs;
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(runs, 1);
    loop.close();
    EXPECT_TRUE(loop.is_closed());
    loop.close();  // twice is harmless
    EXPECT_THROW(loop.run_forever(), std::runtime_error);
}

TEST(EventLoop, StopBeforeRunForeverRunsOneIteration) {
    asyncio::event_loop loop;
    log_t log;
    loop.call_soon([&] { log.push_back("ready"); });
    loop.stop();
    loop.run_forever();
    log_t expected{"ready"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, RunForeverInsideARunningLoopThrows) {
    asyncio::event_loop loop;
    asyncio::event_loop other;
    bool same_throws = false, other_throws = false;
    loop.call_soon([&] {
        try {
            loop.run_forever();
        } catch (const std::runtime_error&) {
            same_throws = true;
        }
        try {
            other.run_forever();
        } catch (const std::runtime_error&) {
            other_throws = true;
        }
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(same_throws);
    EXPECT_TRUE(other_throws);
    loop.close();
    other.close();
}

asyncio::coro<int> add_after_sleep(int a, int b) {
    co_await asyncio::sleep(1ms);
    co_return a + b;
}

TEST(EventLoop, RunUntilCompleteWithACoro) {
    asyncio::event_loop loop;
    EXPECT_EQ(loop.run_until_complete(add_after_sleep(2, 3)), 5);
    EXPECT_FALSE(loop.is_running());
    loop.close();
}

TEST(EventLoop, RunUntilCompleteWithATask) {
    asyncio::event_loop loop;
    asyncio::task<int> t = loop.create_task(add_after_sleep(4, 5), "sum");
    EXPECT_EQ(t.get_name(), "sum");
    EXPECT_FALSE(t.done());
    EXPECT_EQ(loop.run_until_complete(t), 9);
    EXPECT_TRUE(t.done());
    EXPECT_EQ(t.result(), 9);
    loop.close();
}

TEST(EventLoop, RunUntilCompleteWithAFuture) {
    asyncio::event_loop loop;
    asyncio::future<std::string> f = loop.create_future<std::string>();
    loop.call_later(1ms, [f] { f.set_result("from a timer"); });
    EXPECT_EQ(loop.run_until_complete(f), "from a timer");
    loop.close();
}

TEST(EventLoop, RunUntilCompleteRethrows) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    loop.call_soon([f] { f.set_exception(std::make_exception_ptr(std::out_of_range("oops"))); });
    EXPECT_THROW(loop.run_until_complete(f), std::out_of_range);
    loop.close();
}

TEST(EventLoop, RunUntilCompleteStoppedEarlyThrows) {
    asyncio::event_loop loop;
    asyncio::future<int> f = loop.create_future<int>();
    loop.call_soon([&] { loop.stop(); });
    EXPECT_THROW(loop.run_until_complete(f), std::runtime_error);
    f.cancel();
    loop.close();
}

// --- closing --------------------------------------------------------------------------------------------

TEST(EventLoop, CloseOnARunningLoopThrows) {
    asyncio::event_loop loop;
    std::string what;
    loop.call_soon([&] {
        try {
            loop.close();
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        loop.stop();
    });
    loop.run_forever();
    EXPECT_FALSE(what.empty());
    EXPECT_FALSE(loop.is_closed());
    loop.close();
    EXPECT_TRUE(loop.is_closed());
}

TEST(EventLoop, SchedulingOnAClosedLoopThrows) {
    asyncio::event_loop loop;
    loop.close();
    EXPECT_THROW(loop.call_soon([] {}), std::runtime_error);
    EXPECT_THROW(loop.call_later(1ms, [] {}), std::runtime_error);
    EXPECT_THROW(loop.call_at(loop.time(), [] {}), std::runtime_error);
    EXPECT_THROW(loop.call_soon_threadsafe([] {}), std::runtime_error);
    EXPECT_THROW((void)loop.create_future<int>(), std::runtime_error);
    EXPECT_THROW(loop.add_signal_handler(SIGUSR1, [] {}), std::runtime_error);
}

TEST(EventLoop, CloseDiscardsCallbacksThatNeverRan) {
    bool ran = false;
    {
        asyncio::event_loop loop;
        loop.call_soon([&] { ran = true; });
        loop.call_later(1h, [&] { ran = true; });
        loop.close();
    }
    EXPECT_FALSE(ran);
}

// --- the exception handler --------------------------------------------------------------------------------

TEST(EventLoop, ExceptionFromACallbackGoesToTheHandlerAndTheLoopGoesOn) {
    asyncio::event_loop loop;
    log_t log;
    int handler_calls = 0;
    loop.set_exception_handler([&](asyncio::event_loop& l, const asyncio::exception_context& ctx) {
        ++handler_calls;
        log.push_back("handler: " + ctx.message + " / " + describe(ctx.exception) +
                      (ctx.task ? " / task" : " / no task") + (&l == &loop ? " / this loop" : " / ?"));
    });
    loop.call_soon([] { throw std::runtime_error("callback boom"); });
    loop.call_soon([&] { log.push_back("next callback"); });
    loop.call_later(1ms, [&] {
        log.push_back("timer");
        loop.stop();
    });
    loop.run_forever();
    log_t expected{"handler: Exception in callback / std::exception: callback boom / no task / this loop",
                   "next callback", "timer"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(handler_calls, 1);
    loop.close();
}

TEST(EventLoop, CallExceptionHandlerAndEmptyHandlerRestoresTheDefault) {
    asyncio::event_loop loop;
    int calls = 0;
    std::string message;
    loop.set_exception_handler([&](asyncio::event_loop&, const asyncio::exception_context& ctx) {
        ++calls;
        message = ctx.message;
    });
    EXPECT_TRUE(static_cast<bool>(loop.get_exception_handler()));
    loop.call_exception_handler({"custom report", nullptr, {}});
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(message, "custom report");
    loop.set_exception_handler({});
    EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
    testing::internal::CaptureStderr();
    loop.call_exception_handler({"to stderr", std::make_exception_ptr(std::runtime_error("e")), {}});
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(calls, 1);
    EXPECT_NE(err.find("to stderr"), std::string::npos) << err;
    EXPECT_NE(err.find("e"), std::string::npos) << err;
    loop.close();
}

TEST(EventLoop, AnExceptionEscapingTheHandlerDoesNotEscapeTheLoop) {
    asyncio::event_loop loop;
    loop.set_exception_handler([](asyncio::event_loop&, const asyncio::exception_context&) {
        throw std::logic_error("handler fails");
    });
    bool after = false;
    loop.call_soon([] { throw std::runtime_error("cb"); });
    loop.call_soon([&] {
        after = true;
        loop.stop();
    });
    testing::internal::CaptureStderr();
    EXPECT_NO_THROW(loop.run_forever());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(after);
    EXPECT_NE(err.find("handler fails"), std::string::npos) << err;
    loop.close();
}

TEST(EventLoop, DebugFlag) {
    asyncio::loop_options opts;
    opts.debug = true;
    asyncio::event_loop loop{opts};
    EXPECT_TRUE(loop.get_debug());
    loop.set_debug(false);
    EXPECT_FALSE(loop.get_debug());
    EXPECT_EQ(loop.slow_callback_duration, std::chrono::milliseconds(100));
    loop.close();
}

// --- get_running_loop ------------------------------------------------------------------------------------

TEST(EventLoop, GetRunningLoopOutsideALoopThrows) {
    EXPECT_THROW(asyncio::get_running_loop(), std::runtime_error);
    asyncio::event_loop loop;
    EXPECT_THROW(asyncio::get_running_loop(), std::runtime_error);  // made, but not running
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_THROW(asyncio::get_running_loop(), std::runtime_error);  // no longer running
    loop.close();
}

// --- fd readiness ------------------------------------------------------------------------------------------

struct pipe_fds {
    int r = -1, w = -1;
    pipe_fds() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            r = fds[0];
            w = fds[1];
        }
    }
    ~pipe_fds() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
};

TEST(EventLoop, AddReaderFiresWhenReadableAndStopsAfterRemove) {
    asyncio::event_loop loop;
    pipe_fds p;
    ASSERT_GE(p.r, 0);
    std::string received;
    int calls = 0;
    loop.add_reader(p.r, [&] {
        ++calls;
        char buf[64];
        ssize_t n = ::read(p.r, buf, sizeof buf);
        if (n > 0) received.append(buf, static_cast<std::size_t>(n));
        loop.stop();
    });
    loop.call_later(1ms, [&] { (void)!::write(p.w, "ping", 4); });
    loop.run_forever();
    EXPECT_EQ(received, "ping");
    EXPECT_EQ(calls, 1);

    EXPECT_TRUE(loop.remove_reader(p.r));
    EXPECT_FALSE(loop.remove_reader(p.r));  // nothing to remove
    (void)!::write(p.w, "more", 4);
    loop.call_later(10ms, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(received, "ping");
    loop.close();
}

TEST(EventLoop, ReaderIsLevelTriggeredUntilRemoved) {
    asyncio::event_loop loop;
    pipe_fds p;
    ASSERT_GE(p.r, 0);
    int calls = 0;
    // Never reads: the fd stays readable, so the callback comes again, until removed.
    loop.add_reader(p.r, [&] {
        if (++calls == 3) {
            EXPECT_TRUE(loop.remove_reader(p.r));
            loop.call_later(10ms, [&] { loop.stop(); });
        }
    });
    (void)!::write(p.w, "x", 1);
    loop.run_forever();
    EXPECT_EQ(calls, 3);
    loop.close();
}

TEST(EventLoop, AddReaderReplacesTheEarlierReader) {
    asyncio::event_loop loop;
    pipe_fds p;
    ASSERT_GE(p.r, 0);
    log_t log;
    loop.add_reader(p.r, [&] { log.push_back("old"); });
    loop.add_reader(p.r, [&] {
        log.push_back("new");
        loop.remove_reader(p.r);
        loop.stop();
    });
    (void)!::write(p.w, "x", 1);
    loop.run_forever();
    log_t expected{"new"};
    EXPECT_EQ(log, expected);
    loop.close();
}

TEST(EventLoop, AddWriterFiresWhenWritableAndStopsAfterRemove) {
    asyncio::event_loop loop;
    pipe_fds p;
    ASSERT_GE(p.w, 0);
    int calls = 0;
    loop.add_writer(p.w, [&] {
        ++calls;
        (void)!::write(p.w, "w", 1);
        EXPECT_TRUE(loop.remove_writer(p.w));
        loop.call_later(10ms, [&] { loop.stop(); });
    });
    loop.run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(loop.remove_writer(p.w));
    char c = 0;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
    EXPECT_EQ(c, 'w');
    loop.close();
}

TEST(EventLoop, ReaderAndWriterOnTheSameFdAreIndependent) {
    asyncio::event_loop loop;
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    log_t log;
    std::uint64_t value = 0;
    loop.add_writer(efd, [&] {
        log.push_back("writable");
        loop.remove_writer(efd);
        std::uint64_t five = 5;
        (void)!::write(efd, &five, sizeof five);
    });
    loop.add_reader(efd, [&] {
        ssize_t n = ::read(efd, &value, sizeof value);
        log.push_back("readable " + std::to_string(n));
        loop.remove_reader(efd);
        loop.stop();
    });
    loop.run_forever();
    log_t expected{"writable", "readable 8"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(value, 5u);
    loop.close();
    ::close(efd);
}

TEST(EventLoop, AddReaderWithABadFdThrows) {
    asyncio::event_loop loop;
    EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
    EXPECT_THROW(loop.add_writer(-1, [] {}), std::invalid_argument);
    EXPECT_FALSE(loop.remove_reader(12345));
    EXPECT_FALSE(loop.remove_writer(12345));
    loop.close();
}

// --- signals
// -------------------------------------------------------------------------------------------------

volatile std::sig_atomic_t g_previous_handler_calls = 0;
extern "C" void previous_handler(int) { g_previous_handler_calls = g_previous_handler_calls + 1; }

TEST(EventLoop, SignalHandlerRunsOnTheLoopAndRemoveRestoresThePreviousOne) {
    struct sigaction mine {
    }, saved{};
    mine.sa_handler = previous_handler;
    sigemptyset(&mine.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &mine, &saved), 0);
    g_previous_handler_calls = 0;

    asyncio::event_loop loop;
    log_t log;
    int handled = 0;
    loop.add_signal_handler(SIGUSR1, [&] {
        ++handled;
        log.push_back(loop.is_running() ? "handler on the running loop" : "handler off the loop");
        loop.stop();
    });
    loop.call_soon([&] {
        std::raise(SIGUSR1);
        // raise() returns after the C-level handler ran; ours has not run yet (no signal context).
        log.push_back(handled == 0 ? "after raise: not yet" : "after raise: ran inline");
    });
    loop.run_forever();
    log_t expected{"after raise: not yet", "handler on the running loop"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(handled, 1);
    EXPECT_EQ(g_previous_handler_calls, 0);

    // A second signal runs it again.
    loop.call_soon([] { std::raise(SIGUSR1); });
    loop.run_forever();
    EXPECT_EQ(handled, 2);

    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
    EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
    struct sigaction now {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, &previous_handler);
    std::raise(SIGUSR1);
    EXPECT_EQ(g_previous_handler_calls, 1);
    loop.call_later(5ms, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(handled, 2);
    loop.close();
    ::sigaction(SIGUSR1, &saved, nullptr);
}

TEST(EventLoop, ClosingTheLoopRestoresSignalDispositions) {
    struct sigaction mine {
    }, saved{};
    mine.sa_handler = previous_handler;
    sigemptyset(&mine.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR2, &mine, &saved), 0);
    {
        asyncio::event_loop loop;
        loop.add_signal_handler(SIGUSR2, [] {});
        struct sigaction during {};
        ::sigaction(SIGUSR2, nullptr, &during);
        EXPECT_NE(during.sa_handler, &previous_handler);
        loop.close();
    }
    struct sigaction after {};
    ::sigaction(SIGUSR2, nullptr, &after);
    EXPECT_EQ(after.sa_handler, &previous_handler);
    ::sigaction(SIGUSR2, &saved, nullptr);
}

TEST(EventLoop, InvalidSignalNumbersThrowInvalidArgument) {
    asyncio::event_loop loop;
    for (int signo : {0, -1, 1000, SIGKILL, SIGSTOP})
        EXPECT_THROW(loop.add_signal_handler(signo, [] {}), std::invalid_argument) << "signal " << signo;
    EXPECT_FALSE(loop.remove_signal_handler(SIGUSR2));
    loop.close();
}

// --- tasks and futures made by the loop ----------------------------------------------------------------

asyncio::coro<void> record_loop(asyncio::event_loop** out) {
    *out = &asyncio::get_running_loop();
    co_return;
}

TEST(EventLoop, TasksRunOnTheLoopThatMadeThem) {
    asyncio::event_loop loop;
    asyncio::event_loop* seen = nullptr;
    loop.run_until_complete(record_loop(&seen));
    EXPECT_EQ(seen, &loop);
    loop.close();
}

TEST(EventLoop, ClosingWithAPendingTaskReportsIt) {
    asyncio::event_loop loop;
    std::vector<std::string> messages;
    loop.set_exception_handler([&](asyncio::event_loop&, const asyncio::exception_context& ctx) {
        messages.push_back(ctx.message);
    });
    asyncio::task<void> t = loop.create_task(record_loop(nullptr), "never-run");
    loop.close();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_NE(messages[0].find("never-run"), std::string::npos) << messages[0];
    EXPECT_NE(messages[0].find("pending"), std::string::npos) << messages[0];
}

}  // namespace

// --- backend selection -------------------------------------------------------------------------

TEST(EventLoopBackend, EpollAndAutomaticWork) {
    asyncio::loop_options o;
    o.backend = asyncio::backend::epoll;
    asyncio::event_loop a{o};
    o.backend = asyncio::backend::automatic;
    asyncio::event_loop b{o};
    EXPECT_FALSE(a.is_closed());
    EXPECT_FALSE(b.is_closed());
}

// The io_uring side (selection, fallback, its errors) is in test_backend.cpp.
TEST(EventLoopBackend, UnknownBackendIsAClearError) {
    // The suite runs under ASYNCIO_BACKEND=epoll and =io_uring (scripts/test): put it back after.
    const char* before = std::getenv("ASYNCIO_BACKEND");
    std::string saved = before ? before : "";
    ::setenv("ASYNCIO_BACKEND", "kqueue", 1);
    EXPECT_THROW(asyncio::event_loop{}, std::invalid_argument);
    ::setenv("ASYNCIO_BACKEND", "epoll", 1);
    EXPECT_NO_THROW(asyncio::event_loop{});
    if (before)
        ::setenv("ASYNCIO_BACKEND", saved.c_str(), 1);
    else
        ::unsetenv("ASYNCIO_BACKEND");
}
