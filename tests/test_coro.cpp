// Tests of asyncio::coro<T> (coro.hpp): laziness, running inside the awaiting task, exception
// propagation, single use, move-only results, deep chains without native stack growth, void.
#include <gtest/gtest.h>

#include <algorithm>
#include <asyncio/coro.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- laziness ----------------------------------------------------------------------------------

asyncio::coro<int> set_flag_and_return(bool* flag, int v) {
    *flag = true;
    co_return v;
}

asyncio::coro<void> lazy_main(std::vector<std::string>* log) {
    bool flag = false;
    asyncio::coro<int> c = set_flag_and_return(&flag, 7);
    log->push_back(flag ? "ran at call" : "not run at call");
    co_await asyncio::sleep(0s);
    log->push_back(flag ? "ran after a loop iteration" : "still not run");
    int v = co_await std::move(c);
    log->push_back(flag ? "ran when awaited" : "not run when awaited");
    log->push_back("value " + std::to_string(v));
}

TEST(Coro, IsLazyBodyRunsOnlyWhenAwaited) {
    std::vector<std::string> log;
    asyncio::run(lazy_main(&log));
    std::vector<std::string> expected{"not run at call", "still not run", "ran when awaited", "value 7"};
    EXPECT_EQ(log, expected);
}

TEST(Coro, NeverAwaitedCoroRunsNothingAndIsDestroyedCleanly) {
    bool flag = false;
    {
        asyncio::coro<int> c = set_flag_and_return(&flag, 1);
        EXPECT_TRUE(static_cast<bool>(c));
    }
    EXPECT_FALSE(flag);
}

TEST(Coro, MovedFromAndDefaultCoroAreEmpty) {
    bool flag = false;
    asyncio::coro<int> a = set_flag_and_return(&flag, 1);
    asyncio::coro<int> b = std::move(a);
    EXPECT_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_TRUE(static_cast<bool>(b));
    asyncio::coro<int> d;
    EXPECT_FALSE(static_cast<bool>(d));
    EXPECT_FALSE(flag);
}

// --- runs inside the same task -----------------------------------------------------------------

asyncio::coro<void> record_current_task(asyncio::any_task* out, int* steps) {
    *out = asyncio::current_task();
    co_await asyncio::sleep(0s);  // suspending inside the child still belongs to the same task
    ++*steps;
}

asyncio::coro<void> same_task_main(asyncio::any_task* outer, asyncio::any_task* inner, int* steps,
                                   std::size_t* tasks_seen) {
    *outer = asyncio::current_task();
    co_await record_current_task(inner, steps);
    *tasks_seen = asyncio::all_tasks().size();
}

TEST(Coro, CoAwaitRunsTheCoroutineInsideTheAwaitingTask) {
    asyncio::any_task outer, inner;
    int steps = 0;
    std::size_t tasks_seen = 0;
    asyncio::run(same_task_main(&outer, &inner, &steps, &tasks_seen));
    EXPECT_TRUE(static_cast<bool>(outer));
    EXPECT_TRUE(outer == inner);
    EXPECT_EQ(outer.name(), "main");
    EXPECT_EQ(steps, 1);
    EXPECT_EQ(tasks_seen, 1u);  // no task was made for the awaited coroutine
}

// A coroutine that completes without suspending runs synchronously within the awaiting step:
// a callback queued before the co_await has not run yet when it returns.
asyncio::coro<int> immediate(int v) { co_return v * 2; }

asyncio::coro<void> no_loop_trip_main(std::vector<std::string>* log) {
    asyncio::get_running_loop().call_soon([log] { log->push_back("callback"); });
    int v = co_await immediate(21);
    log->push_back("awaited " + std::to_string(v));
    co_await asyncio::sleep(0s);
    log->push_back("after sleep");
}

TEST(Coro, AwaitingACompletingCoroutineDoesNotGoThroughTheLoop) {
    std::vector<std::string> log;
    asyncio::run(no_loop_trip_main(&log));
    std::vector<std::string> expected{"awaited 42", "callback", "after sleep"};
    EXPECT_EQ(log, expected);
}

// --- exceptions --------------------------------------------------------------------------------

struct guard {
    std::vector<std::string>* log;
    std::string name;
    ~guard() { log->push_back("unwound " + name); }
};

asyncio::coro<int> level3(std::vector<std::string>* log, bool suspend_first) {
    guard g{log, "level3"};
    if (suspend_first) co_await asyncio::sleep(0s);
    throw std::runtime_error("deep failure");
    co_return 3;
}
asyncio::coro<int> level2(std::vector<std::string>* log, bool suspend_first) {
    guard g{log, "level2"};
    int v = co_await level3(log, suspend_first);
    log->push_back("level2 continued");  // never
    co_return v;
}
asyncio::coro<int> level1(std::vector<std::string>* log, bool suspend_first) {
    guard g{log, "level1"};
    int v = co_await level2(log, suspend_first);
    co_return v;
}

asyncio::coro<std::string> exception_main(std::vector<std::string>* log, bool suspend_first) {
    std::string what;
    try {
        int v = co_await level1(log, suspend_first);
        what = "no exception, value " + std::to_string(v);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_return what;
}

TEST(Coro, ExceptionsPropagateThroughFramesAndUnwindThem) {
    for (bool suspend_first : {false, true}) {
        std::vector<std::string> log;
        std::string what = asyncio::run(exception_main(&log, suspend_first));
        EXPECT_EQ(what, "deep failure") << "suspend_first=" << suspend_first;
        std::vector<std::string> expected{"unwound level3", "unwound level2", "unwound level1"};
        EXPECT_EQ(log, expected) << "suspend_first=" << suspend_first;
    }
}

asyncio::coro<void> throws_logic() {
    throw std::logic_error("from a void coro");
    co_return;
}

TEST(Coro, ExceptionOfTheMainCoroutineReachesRun) {
    try {
        asyncio::run(throws_logic());
        FAIL() << "run did not throw";
    } catch (const std::logic_error& e) {
        EXPECT_STREQ(e.what(), "from a void coro");
    }
}

// --- single use --------------------------------------------------------------------------------

asyncio::coro<std::vector<std::string>> await_twice_main() {
    std::vector<std::string> out;
    asyncio::coro<int> c = immediate(5);
    int first = co_await c;
    out.push_back("first " + std::to_string(first));
    try {
        int second = co_await c;
        out.push_back("second " + std::to_string(second));
    } catch (const std::runtime_error& e) {
        out.push_back(std::string("runtime_error: ") + e.what());
    }
    // Neither may a task be made of it.
    try {
        auto t = asyncio::create_task(std::move(c));
        out.push_back("task made");
    } catch (const std::runtime_error& e) {
        out.push_back(std::string("runtime_error: ") + e.what());
    }
    co_return out;
}

TEST(Coro, AwaitingACoroTwiceThrowsRuntimeError) {
    auto out = asyncio::run(await_twice_main());
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], "first 10");
    EXPECT_EQ(out[1], "runtime_error: coroutine was already awaited");
    EXPECT_EQ(out[2], "runtime_error: coroutine was already awaited");
}

asyncio::coro<std::string> await_empty_main() {
    asyncio::coro<int> empty;
    std::string what;
    try {
        int v = co_await empty;
        what = "value " + std::to_string(v);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_return what;
}

TEST(Coro, AwaitingAnEmptyCoroThrowsRuntimeError) {
    EXPECT_EQ(asyncio::run(await_empty_main()), "awaiting an empty coro");
}

// --- move-only results -------------------------------------------------------------------------

asyncio::coro<std::unique_ptr<int>> make_ptr(int v) {
    co_await asyncio::sleep(0s);
    co_return std::make_unique<int>(v);
}

asyncio::coro<std::unique_ptr<int>> pass_ptr_on(int v) {
    std::unique_ptr<int> p = co_await make_ptr(v);
    *p += 1;
    co_return p;
}

asyncio::coro<int> move_only_main() {
    std::unique_ptr<int> a = co_await pass_ptr_on(10);  // through coro frames
    asyncio::task<std::unique_ptr<int>> t = asyncio::create_task(pass_ptr_on(20));
    std::unique_ptr<int> b = co_await std::move(t);  // through a task
    int sum = (a ? *a : -1000) + (b ? *b : -1000);
    co_return sum;
}

TEST(Coro, MoveOnlyResultsWorkThroughCoroAndTask) { EXPECT_EQ(asyncio::run(move_only_main()), 11 + 21); }

asyncio::coro<std::unique_ptr<int>> move_only_root() {
    auto p = co_await make_ptr(5);
    co_return p;
}

TEST(Coro, MoveOnlyResultOfRun) {
    std::unique_ptr<int> p = asyncio::run(move_only_root());
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 5);
}

TEST(Coro, MoveOnlyResultOfRunUntilComplete) {
    asyncio::event_loop loop;
    std::unique_ptr<int> p = loop.run_until_complete(move_only_root());
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 5);
    loop.close();
}

// --- deep chains must not grow the native stack (run under GCC -O0 ASan) ------------------------

// The native stack position of the caller: equal positions mean the native stack did not grow.
[[gnu::noinline]] std::uintptr_t native_sp() {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

struct sp_range {
    std::uintptr_t lo = UINTPTR_MAX;
    std::uintptr_t hi = 0;
    void add(std::uintptr_t sp) {
        lo = std::min(lo, sp);
        hi = std::max(hi, sp);
    }
    std::uintptr_t spread() const { return hi - lo; }
};

asyncio::coro<int> one(sp_range* r) {
    r->add(native_sp());
    co_return 1;
}

asyncio::coro<long> long_chain_main(long n, sp_range* r) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        int v = co_await one(r);
        sum += v;
    }
    co_return sum;
}

TEST(Coro, TenMillionCompletingAwaitsInALoop) {
    constexpr long n = 10'000'000;
    sp_range r;
    EXPECT_EQ(asyncio::run(long_chain_main(n, &r)), n);
    EXPECT_LT(r.spread(), 4096u) << "the native stack grew across the loop";
}

asyncio::coro<int> rec(int n, sp_range* r) {
    if (n == 0 || n == 100'000) r->add(native_sp());
    if (n == 0) co_return 0;
    int v = co_await rec(n - 1, r);
    co_return v + 1;
}

TEST(Coro, RecursionDepthOfOneHundredThousand) {
    sp_range r;
    EXPECT_EQ(asyncio::run(rec(100'000, &r)), 100'000);
    EXPECT_LT(r.spread(), 4096u) << "the native stack grew with the recursion depth";
}

asyncio::coro<int> rec_suspend_at_bottom(int n) {
    if (n == 0) {
        co_await asyncio::sleep(0s);
        co_return 0;
    }
    int v = co_await rec_suspend_at_bottom(n - 1);
    co_return v + 1;
}

TEST(Coro, RecursionDepthOfOneHundredThousandSuspendingAtTheBottom) {
    EXPECT_EQ(asyncio::run(rec_suspend_at_bottom(100'000)), 100'000);
}

asyncio::coro<int> rec_throw(int n) {
    if (n == 0) throw std::runtime_error("bottom");
    int v = co_await rec_throw(n - 1);
    co_return v + 1;
}

asyncio::coro<std::string> deep_throw_main() {
    std::string what;
    try {
        int v = co_await rec_throw(100'000);
        what = "value " + std::to_string(v);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_return what;
}

TEST(Coro, ExceptionPropagatesThroughOneHundredThousandFrames) {
    EXPECT_EQ(asyncio::run(deep_throw_main()), "bottom");
}

asyncio::coro<int> rec_sleep_forever(int n, int* unwound) {
    struct count_unwind {
        int* n;
        ~count_unwind() { ++*n; }
    } c{unwound};
    if (n == 0) {
        co_await asyncio::sleep(1h);
        co_return 0;
    }
    int v = co_await rec_sleep_forever(n - 1, unwound);
    co_return v + 1;
}

asyncio::coro<std::string> deep_cancel_main(int* unwound) {
    auto t = asyncio::create_task(rec_sleep_forever(100'000, unwound));
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    t.cancel("deep cancel");
    std::string what;
    try {
        int v = co_await t;
        what = "value " + std::to_string(v);
    } catch (const asyncio::cancelled_error& e) {
        what = "cancelled: " + e.message();
    }
    co_return what;
}

TEST(Coro, CancellationUnwindsOneHundredThousandFrames) {
    int unwound = 0;
    EXPECT_EQ(asyncio::run(deep_cancel_main(&unwound)), "cancelled: deep cancel");
    EXPECT_EQ(unwound, 100'001);
}

// --- void coroutines ---------------------------------------------------------------------------

asyncio::coro<void> append(std::vector<int>* v, int x) {
    v->push_back(x);
    co_return;
}

asyncio::coro<void> append_after_sleep(std::vector<int>* v, int x) {
    co_await asyncio::sleep(0s);
    v->push_back(x);
}

asyncio::coro<void> void_main(std::vector<int>* v) {
    co_await append(v, 1);
    co_await append_after_sleep(v, 2);
    co_await append(v, 3);
}

TEST(Coro, VoidCoroutines) {
    std::vector<int> v;
    asyncio::run(void_main(&v));
    std::vector<int> expected{1, 2, 3};
    EXPECT_EQ(v, expected);
}

}  // namespace
