// asyncio::run_coroutine_threadsafe: hand coroutines to a loop that runs on another thread.
// ctest-labels: threads
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/run_coroutine_threadsafe.hpp>
#include <asyncio/sleep.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr auto generous = 30s;

// Takes the exception out of a std::future and keeps a reference to it. Reading a caught
// exception's members while the loop thread may drop the last reference is fine in C++, but
// libstdc++'s exception_ptr count is not instrumented, so ThreadSanitizer would take a free on
// the loop thread for a data race with our reads. Holding a reference until the loop thread has
// been joined makes this thread the one that frees it.
template <class T>
std::exception_ptr error_of(std::future<T>& f) {
    try {
        (void)f.get();
    } catch (...) {
        return std::current_exception();
    }
    return nullptr;
}

asyncio::coro<int> add_later(int a, int b) {
    co_await asyncio::sleep(1ms);
    co_return a + b;
}

asyncio::coro<std::thread::id> which_thread() {
    co_await asyncio::sleep(0s);
    co_return std::this_thread::get_id();
}

asyncio::coro<void> set_flag(bool& flag) {
    co_await asyncio::sleep(0s);
    flag = true;
}

asyncio::coro<std::string> fails(std::string what) {
    co_await asyncio::sleep(1ms);
    throw std::logic_error(what);
}

asyncio::coro<int> sleep_long() {
    co_await asyncio::sleep(1h);
    co_return 0;
}

asyncio::coro<void> wait_until_set(asyncio::future<void>& stop) { co_await stop; }

// A loop running run_forever on a thread of its own.
struct forever_loop {
    asyncio::event_loop loop;
    std::thread thread;
    std::thread::id id;
    forever_loop() {
        thread = std::thread([this] { loop.run_forever(); });
        id = thread.get_id();
    }
    ~forever_loop() {
        if (thread.joinable()) stop();
        loop.close();
    }
    void stop() {
        loop.call_soon_threadsafe([this] { loop.stop(); });
        thread.join();
    }
};

TEST(RunCoroutineThreadsafe, RunForeverLoopReturnsResultsThroughStdFuture) {
    forever_loop l;
    std::future<int> sum = asyncio::run_coroutine_threadsafe(add_later(2, 3), l.loop);
    std::future<std::thread::id> where = asyncio::run_coroutine_threadsafe(which_thread(), l.loop);
    ASSERT_EQ(sum.wait_for(generous), std::future_status::ready);
    EXPECT_EQ(sum.get(), 5);
    ASSERT_EQ(where.wait_for(generous), std::future_status::ready);
    EXPECT_EQ(where.get(), l.id);
    bool flag = false;  // written on the loop thread; the std::future's get() orders it before us
    std::future<void> done = asyncio::run_coroutine_threadsafe(set_flag(flag), l.loop);
    ASSERT_EQ(done.wait_for(generous), std::future_status::ready);
    done.get();
    EXPECT_TRUE(flag);
    l.stop();
}

TEST(RunCoroutineThreadsafe, ExceptionsArriveThroughTheStdFuture) {
    forever_loop l;
    std::future<std::string> f = asyncio::run_coroutine_threadsafe(fails("boom"), l.loop);
    ASSERT_EQ(f.wait_for(generous), std::future_status::ready);
    std::exception_ptr error = error_of(f);
    ASSERT_TRUE(error) << "no exception";
    try {
        std::rethrow_exception(error);
    } catch (const std::logic_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
    // The loop is fine afterwards.
    std::future<int> g = asyncio::run_coroutine_threadsafe(add_later(1, 1), l.loop);
    ASSERT_EQ(g.wait_for(generous), std::future_status::ready);
    EXPECT_EQ(g.get(), 2);
    l.stop();  // while `error` is still held (see error_of)
}

// The loop runs run_until_complete of a coroutine that waits on an asyncio::future the main
// thread sets (through call_soon_threadsafe) when it is done submitting.
TEST(RunCoroutineThreadsafe, RunUntilCompleteLoopAndManySubmittingThreads) {
    asyncio::event_loop loop;
    asyncio::future<void> stop = loop.create_future<void>();
    // The loop's only task waits for `stop`, which another thread sets: that thread says so with
    // a keep-alive token (without it the loop would rightly report a deadlock).
    asyncio::keep_alive_token will_call_in = loop.keep_alive();
    std::thread runner([&] { loop.run_until_complete(wait_until_set(stop)); });

    constexpr int threads = 4;
    constexpr int per_thread = 50;
    std::vector<std::vector<int>> results(threads);
    std::vector<std::thread> submitters;
    for (int t = 0; t < threads; ++t) {
        submitters.emplace_back([&, t] {
            std::vector<std::future<int>> fs;
            for (int i = 0; i < per_thread; ++i)
                fs.push_back(asyncio::run_coroutine_threadsafe(add_later(t, i), loop));
            for (auto& f : fs) {
                if (f.wait_for(generous) != std::future_status::ready) {
                    results[t].push_back(-1);
                    continue;
                }
                results[t].push_back(f.get());
            }
        });
    }
    for (auto& s : submitters) s.join();
    loop.call_soon_threadsafe([&stop] { stop.set_result(); });
    will_call_in.reset();
    runner.join();
    EXPECT_TRUE(stop.done());
    for (int t = 0; t < threads; ++t) {
        ASSERT_EQ(results[t].size(), static_cast<std::size_t>(per_thread));
        for (int i = 0; i < per_thread; ++i) EXPECT_EQ(results[t][i], t + i) << t << "/" << i;
    }
    loop.close();
}

TEST(RunCoroutineThreadsafe, ClosedLoopThrowsRuntimeError) {
    asyncio::event_loop loop;
    loop.close();
    try {
        (void)asyncio::run_coroutine_threadsafe(add_later(1, 2), loop);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Event loop is closed");
    }
}

void expect_broken_promise(std::future<int>& f) {
    ASSERT_EQ(f.wait_for(generous), std::future_status::ready) << "the std::future hangs";
    try {
        (void)f.get();
        FAIL() << "no exception";
    } catch (const std::future_error& e) {
        EXPECT_EQ(e.code(), std::future_errc::broken_promise);
    }
}

// The hand-off never reached the loop: it was still in the inbox when the loop closed.
TEST(RunCoroutineThreadsafe, LoopClosedBeforeTheHandOffArrivedGivesBrokenPromise) {
    asyncio::event_loop loop;
    std::future<int> f;
    std::thread other([&] { f = asyncio::run_coroutine_threadsafe(add_later(1, 2), loop); });
    other.join();
    loop.close();
    expect_broken_promise(f);
}

// The task was created on the loop, but the loop stopped before the task's first step and was
// then closed (the task is destroyed pending).
TEST(RunCoroutineThreadsafe, LoopClosedAfterTheTaskWasCreatedButBeforeItRanGivesBrokenPromise) {
    asyncio::event_loop loop;
    std::vector<std::string> reports;
    loop.set_exception_handler(
        [&](asyncio::event_loop&, const asyncio::exception_context& ctx) { reports.push_back(ctx.message); });
    std::future<int> f;
    bool created_before_stop = false;
    loop.call_soon([&] {
        // Both hand-offs land in the inbox and are taken in the same iteration: the task is
        // created there, and stop() ends the loop before the task's first step.
        f = asyncio::run_coroutine_threadsafe(add_later(1, 2), loop);
        loop.call_soon_threadsafe([&] {
            created_before_stop = asyncio::all_tasks().size() == 1;
            loop.stop();
        });
    });
    loop.run_forever();
    EXPECT_TRUE(created_before_stop);
    loop.close();
    expect_broken_promise(f);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].find("Task was destroyed but it is pending"), std::string::npos) << reports[0];
}

// The hand-off task is cancelled after it was created but before its first step (its body never
// runs): the std::future reports cancelled_error.
TEST(RunCoroutineThreadsafe, TaskCancelledBeforeItRanGivesCancelledError) {
    asyncio::event_loop loop;
    std::future<int> f;
    int cancelled = 0;
    loop.call_soon([&] {
        f = asyncio::run_coroutine_threadsafe(add_later(1, 2), loop);
        // Taken from the inbox in the same iteration as the hand-off, right after it.
        loop.call_soon_threadsafe([&] {
            for (auto& t : asyncio::all_tasks()) cancelled += t.cancel("too late") ? 1 : 0;
            loop.call_soon([&] { loop.stop(); });  // runs after the task's (only) step
        });
    });
    loop.run_forever();
    EXPECT_EQ(cancelled, 1);
    ASSERT_EQ(f.wait_for(generous), std::future_status::ready);
    EXPECT_THROW((void)f.get(), asyncio::cancelled_error);
    loop.close();
}

// The submitted coroutine itself is cancelled while it runs: cancelled_error with its message.
TEST(RunCoroutineThreadsafe, TaskCancelledWhileRunningGivesCancelledErrorWithItsMessage) {
    forever_loop l;
    std::future<int> f = asyncio::run_coroutine_threadsafe(sleep_long(), l.loop);
    std::promise<int> cancelled;
    // Once the task waits in its sleep, cancel it from the loop thread.
    std::future<int> marker = asyncio::run_coroutine_threadsafe(add_later(0, 0), l.loop);
    ASSERT_EQ(marker.wait_for(generous), std::future_status::ready);
    l.loop.call_soon_threadsafe([&cancelled] {
        int n = 0;
        for (auto& t : asyncio::all_tasks()) n += t.cancel("stop it") ? 1 : 0;
        cancelled.set_value(n);
    });
    EXPECT_EQ(cancelled.get_future().get(), 1);
    ASSERT_EQ(f.wait_for(generous), std::future_status::ready);
    std::exception_ptr error = error_of(f);
    ASSERT_TRUE(error) << "no exception";
    try {
        std::rethrow_exception(error);
    } catch (const asyncio::cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop it");
    }
    l.stop();  // while `error` is still held (see error_of)
}

asyncio::coro<void> nap() { co_await asyncio::sleep(5ms); }

asyncio::coro<int> wait_forever(asyncio::future<int>& never) {
    int v = co_await never;
    co_return v;
}

// The task ran and waits on something that never happens when its loop is closed: the
// std::future must not hang either.
TEST(RunCoroutineThreadsafe, LoopClosedWhileTheTaskWaitsGivesBrokenPromise) {
    asyncio::event_loop loop;
    loop.set_exception_handler([](asyncio::event_loop&, const asyncio::exception_context&) {});
    asyncio::future<int> never = loop.create_future<int>();
    std::future<int> f = asyncio::run_coroutine_threadsafe(wait_forever(never), loop);
    loop.run_until_complete(nap());
    loop.close();
    expect_broken_promise(f);
}

asyncio::coro<void> publish_loop_and_wait(std::promise<asyncio::event_loop*>& where,
                                          std::promise<asyncio::future<void>*>& stopper) {
    auto& loop = asyncio::get_running_loop();
    asyncio::future<void> stop = loop.create_future<void>();
    // Only the test's thread can set `stop`: it will call in (no deadlock meanwhile).
    asyncio::keep_alive_token other_thread_calls_in = loop.keep_alive();
    where.set_value(&loop);
    stopper.set_value(&stop);
    co_await stop;
}

// asyncio::run on a thread: at its end it cancels the tasks still pending, and a submitted task
// that was cancelled reports cancelled_error through its std::future.
TEST(RunCoroutineThreadsafe, TasksCancelledAtTheEndOfRunReportCancelledError) {
    std::promise<asyncio::event_loop*> where;
    std::promise<asyncio::future<void>*> stopper;
    std::thread runner([&] { asyncio::run(publish_loop_and_wait(where, stopper)); });
    asyncio::event_loop* loop = where.get_future().get();
    asyncio::future<void>* stop = stopper.get_future().get();

    std::future<int> ok = asyncio::run_coroutine_threadsafe(add_later(20, 22), *loop);
    ASSERT_EQ(ok.wait_for(generous), std::future_status::ready);
    EXPECT_EQ(ok.get(), 42);
    std::future<int> long_one = asyncio::run_coroutine_threadsafe(sleep_long(), *loop);
    // Make sure the long task runs before the loop is told to stop.
    std::future<int> marker = asyncio::run_coroutine_threadsafe(add_later(0, 0), *loop);
    ASSERT_EQ(marker.wait_for(generous), std::future_status::ready);
    loop->call_soon_threadsafe([stop] { stop->set_result(); });
    runner.join();  // the loop is gone now

    ASSERT_EQ(long_one.wait_for(generous), std::future_status::ready);
    EXPECT_THROW((void)long_one.get(), asyncio::cancelled_error);
}

}  // namespace
