// loop.call_soon_threadsafe: the one event_loop member that other threads may call.
// ctest-labels: threads
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// 8 threads x 100,000 calls: every callback runs exactly once, on the loop thread, and the calls
// of one thread run in the order that thread made them. The loop stops itself once all arrived.
TEST(CallSoonThreadsafe, ManyThreadsEveryCallbackOnceInPerThreadOrder) {
    constexpr std::size_t threads = 8;
    constexpr std::size_t per_thread = 100'000;
    constexpr std::size_t total = threads * per_thread;

    asyncio::event_loop loop;
    // Touched on the loop thread only (the callbacks); read by the test after the loop stopped.
    std::vector<std::vector<std::uint8_t>> seen(threads, std::vector<std::uint8_t>(per_thread, 0));
    std::vector<std::size_t> next_expected(threads, 0);
    std::size_t arrived = 0;
    std::size_t out_of_order = 0;
    std::size_t off_loop_thread = 0;
    std::size_t duplicates = 0;
    std::thread::id loop_thread;

    std::latch go(threads + 1);
    std::vector<std::thread> producers;
    producers.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
        producers.emplace_back([&, t] {
            go.arrive_and_wait();
            for (std::size_t i = 0; i < per_thread; ++i) {
                loop.call_soon_threadsafe([&, t, i] {
                    if (std::this_thread::get_id() != loop_thread) ++off_loop_thread;
                    if (seen[t][i]++ != 0) ++duplicates;
                    if (next_expected[t] != i) ++out_of_order;
                    next_expected[t] = i + 1;
                    if (++arrived == total) loop.stop();
                });
            }
        });
    }
    loop.call_soon([&] { loop_thread = std::this_thread::get_id(); });
    // A lost callback fails the test (the counts below) instead of hanging it.
    bool watchdog_fired = false;
    auto watchdog = loop.call_later(120s, [&] {
        watchdog_fired = true;
        loop.stop();
    });
    go.arrive_and_wait();
    loop.run_forever();
    for (auto& p : producers) p.join();
    watchdog.cancel();
    EXPECT_FALSE(watchdog_fired);

    EXPECT_EQ(loop_thread, std::this_thread::get_id());
    EXPECT_EQ(arrived, total);
    EXPECT_EQ(off_loop_thread, 0u);
    EXPECT_EQ(duplicates, 0u);
    EXPECT_EQ(out_of_order, 0u);
    for (std::size_t t = 0; t < threads; ++t) {
        EXPECT_EQ(next_expected[t], per_thread) << "thread " << t;
        std::size_t missing = 0;
        for (std::uint8_t s : seen[t]) missing += (s != 1);
        EXPECT_EQ(missing, 0u) << "thread " << t;
    }
    loop.close();
}

// A loop blocked in the poller (its only timer is an hour away) wakes up for a callback from
// another thread.
TEST(CallSoonThreadsafe, WakesALoopBlockedInThePoller) {
    asyncio::event_loop loop;
    bool far_timer_ran = false;  // a failed wake-up fails the test after a minute, not hangs it
    auto far = loop.call_later(60s, [&] {
        far_timer_ran = true;
        loop.stop();
    });
    std::atomic<bool> loop_started{false};
    loop.call_soon([&] { loop_started.store(true); });
    std::thread other([&] {
        while (!loop_started.load()) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms);  // let the loop go to sleep in the poller
        loop.call_soon_threadsafe([&] { loop.stop(); });
    });
    auto t0 = std::chrono::steady_clock::now();
    loop.run_forever();
    auto waited = std::chrono::steady_clock::now() - t0;
    other.join();
    EXPECT_FALSE(far_timer_ran);
    EXPECT_LT(waited, 30s);
    far.cancel();
    loop.close();
}

// Callbacks from one thread, interleaved with call_soon on the loop thread: the thread-safe ones
// keep their order and run on the loop thread.
TEST(CallSoonThreadsafe, FromTheLoopThreadItselfRunsInOrder) {
    std::vector<int> order = asyncio::run([]() -> asyncio::coro<std::vector<int>> {
        auto& loop = asyncio::get_running_loop();
        std::vector<int> v;
        for (int i = 0; i < 5; ++i) loop.call_soon_threadsafe([&v, i] { v.push_back(i); });
        co_await asyncio::sleep(1ms);
        co_await asyncio::sleep(1ms);
        co_return v;
    }());
    std::vector<int> expected{0, 1, 2, 3, 4};
    EXPECT_EQ(order, expected);
}

// An exception escaping a thread-safe callback goes to the loop's exception handler; the loop
// goes on with the next callback.
TEST(CallSoonThreadsafe, ExceptionGoesToTheExceptionHandler) {
    asyncio::event_loop loop;
    std::vector<std::string> messages;
    std::vector<std::string> whats;
    loop.set_exception_handler([&](asyncio::event_loop&, const asyncio::exception_context& ctx) {
        messages.push_back(ctx.message);
        try {
            std::rethrow_exception(ctx.exception);
        } catch (const std::exception& e) {
            whats.push_back(e.what());
        }
    });
    bool second_ran = false;
    std::thread other([&] {
        loop.call_soon_threadsafe([] { throw std::logic_error("callback failed"); });
        loop.call_soon_threadsafe([&] {
            second_ran = true;
            loop.stop();
        });
    });
    other.join();
    loop.run_forever();
    EXPECT_TRUE(second_ran);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0], "Exception in a call_soon_threadsafe callback");
    ASSERT_EQ(whats.size(), 1u);
    EXPECT_EQ(whats[0], "callback failed");
    loop.close();
}

// The loop may be closed and destroyed as soon as a thread-safe callback has run, although the
// thread that queued it may still be inside call_soon_threadsafe (waking the loop): close()
// waits for it, so it never touches a destroyed loop (ASan/TSan would see it).
TEST(CallSoonThreadsafe, LoopCanBeDestroyedRightAfterTheCallbackRan) {
    for (int i = 0; i < 300; ++i) {
        std::optional<asyncio::event_loop> loop;
        asyncio::event_loop* lp = &loop.emplace();
        std::thread producer([lp] { lp->call_soon_threadsafe([lp] { lp->stop(); }); });
        loop->run_forever();
        loop.reset();
        producer.join();
    }
}

TEST(CallSoonThreadsafe, ClosedLoopThrowsRuntimeError) {
    asyncio::event_loop loop;
    loop.close();
    bool ran = false;
    EXPECT_THROW(loop.call_soon_threadsafe([&] { ran = true; }), std::runtime_error);
    // From another thread as well.
    bool threw = false;
    std::thread other([&] {
        try {
            loop.call_soon_threadsafe([&] { ran = true; });
        } catch (const std::runtime_error& e) {
            threw = std::string(e.what()) == "Event loop is closed";
        }
    });
    other.join();
    EXPECT_TRUE(threw);
    EXPECT_FALSE(ran);
}

// Callbacks queued but never run when the loop closes are destroyed (what they own is freed:
// ASan's leak check would see it otherwise), not run.
TEST(CallSoonThreadsafe, PendingCallbacksAreDroppedAtClose) {
    auto owned = std::make_shared<int>(7);
    bool ran = false;
    {
        asyncio::event_loop loop;
        std::thread other([&, owned] { loop.call_soon_threadsafe([&ran, owned] { ran = true; }); });
        other.join();
        EXPECT_EQ(owned.use_count(), 2);
        loop.close();
    }
    EXPECT_FALSE(ran);
    EXPECT_EQ(owned.use_count(), 1);
}

}  // namespace
