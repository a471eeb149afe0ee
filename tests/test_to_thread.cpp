// asyncio::to_thread: a blocking call on the default executor, awaited from a task.
// ctest-labels: threads
#include <gtest/gtest.h>

#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/to_thread.hpp>
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::string repeat(std::string s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

asyncio::coro<void> with_arguments(std::vector<std::string>& out) {
    // A free function and its arguments.
    std::string a = co_await asyncio::to_thread(&repeat, std::string("ab"), 3);
    out.push_back(a);
    // A lambda with several arguments of different types.
    auto join = [](int x, const std::string& sep, double y) {
        return std::to_string(x) + sep + std::to_string(y);
    };
    std::string b = co_await asyncio::to_thread(join, 4, std::string("|"), 0.5);
    out.push_back(b);
    // Arguments are taken by value when to_thread is called (Python binds them at the call too).
    std::string word = "before";
    auto identity = [](const std::string& s) { return s; };
    asyncio::future<std::string> f = asyncio::to_thread(identity, word);
    word = "after";
    std::string c = co_await f;
    out.push_back(c);
    // A move-only argument.
    auto deref = [](std::unique_ptr<int>& p) { return *p + 1; };
    auto owned = std::make_unique<int>(41);
    int d = co_await asyncio::to_thread(deref, std::move(owned));
    out.push_back(std::to_string(d));
}

TEST(ToThread, PassesArgumentsAndReturnsTheResult) {
    std::vector<std::string> out;
    asyncio::run(with_arguments(out));
    std::vector<std::string> expected{"ababab", "4|0.500000", "before", "42"};
    EXPECT_EQ(out, expected);
}

asyncio::coro<void> thread_ids(std::thread::id& loop_thread, std::thread::id& worker) {
    loop_thread = std::this_thread::get_id();
    auto who = [] { return std::this_thread::get_id(); };
    worker = co_await asyncio::to_thread(who);
}

TEST(ToThread, RunsOnAnotherThread) {
    std::thread::id loop_thread, worker;
    asyncio::run(thread_ids(loop_thread, worker));
    EXPECT_EQ(loop_thread, std::this_thread::get_id());
    EXPECT_NE(worker, std::thread::id());
    EXPECT_NE(worker, loop_thread);
}

asyncio::coro<void> void_call(std::atomic<int>& counter) {
    auto bump = [](std::atomic<int>& c, int by) { c += by; };
    co_await asyncio::to_thread(bump, std::ref(counter), 5);
    EXPECT_EQ(counter.load(), 5);
}

TEST(ToThread, VoidFunctionAndReferenceWrapper) {
    std::atomic<int> counter{0};
    asyncio::run(void_call(counter));
    EXPECT_EQ(counter.load(), 5);
}

int parse_positive(std::string s) {
    int v = std::stoi(s);
    if (v <= 0) throw std::domain_error("not positive: " + s);
    return v;
}

asyncio::coro<void> exceptions(std::vector<std::string>& seen) {
    try {
        int v = co_await asyncio::to_thread(&parse_positive, std::string("-3"));
        seen.push_back("value " + std::to_string(v));
    } catch (const std::domain_error& e) {
        seen.push_back(std::string("domain_error: ") + e.what());
    }
    try {
        int v = co_await asyncio::to_thread(&parse_positive, std::string("x"));
        seen.push_back("value " + std::to_string(v));
    } catch (const std::invalid_argument&) {
        seen.push_back("invalid_argument");  // std::stoi's own exception
    }
    int ok = co_await asyncio::to_thread(&parse_positive, std::string("12"));
    seen.push_back("value " + std::to_string(ok));
}

TEST(ToThread, ExceptionsPropagateWithTheirType) {
    std::vector<std::string> seen;
    asyncio::run(exceptions(seen));
    std::vector<std::string> expected{"domain_error: not positive: -3", "invalid_argument", "value 12"};
    EXPECT_EQ(seen, expected);
}

TEST(ToThread, NeedsARunningLoop) {
    EXPECT_THROW((void)asyncio::to_thread([] { return 1; }), std::runtime_error);
}

// Waits on a latch with a bound: true only if all `n` callers were inside at the same time.
bool meet(std::latch& l) {
    l.count_down();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!l.try_wait() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return l.try_wait();
}

asyncio::coro<void> concurrent_calls(std::latch& l, std::vector<bool>& met) {
    // The default pool has at least 5 threads, so 4 calls run at the same time.
    std::vector<asyncio::future<bool>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(asyncio::to_thread(&meet, std::ref(l)));
    met = co_await asyncio::gather(std::move(fs));
}

TEST(ToThread, CallsRunConcurrently) {
    std::latch l(4);
    std::vector<bool> met;
    asyncio::run(concurrent_calls(l, met));
    std::vector<bool> expected(4, true);
    EXPECT_EQ(met, expected);
}

asyncio::coro<int> await_to_thread(std::latch& release, std::atomic<bool>& started,
                                   std::atomic<bool>& finished) {
    auto blocking = [](std::latch& r, std::atomic<bool>& s, std::atomic<bool>& f) {
        s = true;
        r.wait();
        f = true;
        return 7;
    };
    int v = co_await asyncio::to_thread(blocking, std::ref(release), std::ref(started), std::ref(finished));
    co_return v;
}

asyncio::coro<void> cancel_to_thread(std::string& message, bool& finished_at_cancel, bool& saw_finish) {
    std::latch release(1);
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    auto& loop = asyncio::get_running_loop();
    asyncio::task<int> t = loop.create_task(await_to_thread(release, started, finished));
    co_await asyncio::sleep(0s);  // t runs up to its co_await of the executor's future
    for (int i = 0; i < 10'000 && !started.load(); ++i) co_await asyncio::sleep(1ms);
    EXPECT_TRUE(started.load());
    t.cancel("stop waiting");
    try {
        (void)co_await t;
    } catch (const asyncio::cancelled_error& e) {
        message = e.message();
    }
    EXPECT_TRUE(t.cancelled());
    finished_at_cancel = finished.load();
    release.count_down();
    for (int i = 0; i < 10'000 && !finished.load(); ++i) co_await asyncio::sleep(1ms);
    saw_finish = finished.load();
}

TEST(ToThread, CancellingTheCallerIsImmediateAndTheCallRunsToItsEnd) {
    std::string message;
    bool finished_at_cancel = true;
    bool saw_finish = false;
    asyncio::run(cancel_to_thread(message, finished_at_cancel, saw_finish));
    EXPECT_EQ(message, "stop waiting");
    EXPECT_FALSE(finished_at_cancel);
    EXPECT_TRUE(saw_finish);
}

}  // namespace
