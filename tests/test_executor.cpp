// thread_pool_executor, and loop.run_in_executor / set_default_executor on top of it.
// ctest-labels: threads
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/executor.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// An executor that counts what it is asked to do and hands the jobs to a real pool.
class counting_executor final : public asyncio::executor {
  public:
    explicit counting_executor(std::size_t n) : pool_(n) {}
    void submit(asyncio::detail::unique_function<void()> job) override {
        ++submitted;
        pool_.submit(std::move(job));
    }
    void shutdown(bool wait) override {
        ++shutdowns;
        last_wait = wait;
        pool_.shutdown(wait);
    }
    std::atomic<int> submitted{0};
    std::atomic<int> shutdowns{0};
    std::atomic<bool> last_wait{false};

  private:
    asyncio::thread_pool_executor pool_;
};

// Waits (on the loop, without blocking it) until `flag` is set; false after ~10 s.
asyncio::coro<bool> wait_for_flag(const std::atomic<bool>& flag) {
    for (int i = 0; i < 10'000; ++i) {
        if (flag.load()) co_return true;
        co_await asyncio::sleep(1ms);
    }
    co_return flag.load();
}

// --- thread_pool_executor on its own ------------------------------------------------------------

TEST(ThreadPoolExecutor, SizeIsWhatWasAskedForOrPythonsDefault) {
    asyncio::thread_pool_executor three(3);
    EXPECT_EQ(three.size(), 3u);
    asyncio::thread_pool_executor dflt;
    std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    EXPECT_EQ(dflt.size(), std::min<std::size_t>(32, cores + 4));
}

TEST(ThreadPoolExecutor, OneThreadRunsJobsInFifoOrder) {
    asyncio::thread_pool_executor pool(1);
    std::vector<int> order;  // only the pool's one thread writes; read after shutdown joined it
    std::set<std::thread::id> ids;
    for (int i = 0; i < 1000; ++i) {
        pool.submit([&order, &ids, i] {
            order.push_back(i);
            ids.insert(std::this_thread::get_id());
        });
    }
    pool.shutdown(true);
    ASSERT_EQ(order.size(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(order[i], i);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_NE(*ids.begin(), std::this_thread::get_id());
}

TEST(ThreadPoolExecutor, SubmitAfterShutdownThrowsRuntimeError) {
    asyncio::thread_pool_executor pool(2);
    pool.shutdown(true);
    bool ran = false;
    try {
        pool.submit([&ran] { ran = true; });
        FAIL() << "submit after shutdown did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "cannot schedule new jobs after shutdown");
    }
    EXPECT_FALSE(ran);
    pool.shutdown(true);  // a second shutdown is harmless
}

TEST(ThreadPoolExecutor, ShutdownWaitRunsEveryQueuedJob) {
    asyncio::thread_pool_executor pool(1);
    std::atomic<int> count{0};
    pool.submit([&count] {
        std::this_thread::sleep_for(20ms);  // the others are still queued when shutdown starts
        ++count;
    });
    for (int i = 0; i < 200; ++i) pool.submit([&count] { ++count; });
    pool.shutdown(true);
    EXPECT_EQ(count.load(), 201);
}

TEST(ThreadPoolExecutor, ShutdownWithoutWaitStopsSubmitsButQueuedJobsStillRun) {
    std::atomic<int> count{0};
    {
        std::latch gate(1);  // declared first: it must outlive the pool's threads, which wait on it
        asyncio::thread_pool_executor pool(2);
        for (int i = 0; i < 2; ++i) {
            pool.submit([&gate, &count] {
                gate.wait();
                ++count;
            });
        }
        for (int i = 0; i < 50; ++i) pool.submit([&count] { ++count; });
        pool.shutdown(false);  // returns although both threads are blocked
        EXPECT_THROW(pool.submit([] {}), std::runtime_error);
        EXPECT_EQ(count.load(), 0);
        gate.count_down();
        // The destructor waits for the queue to drain.
    }
    EXPECT_EQ(count.load(), 52);
}

TEST(ThreadPoolExecutor, JobsRunConcurrentlyOnNThreads) {
    asyncio::thread_pool_executor pool(4);
    std::latch all_in(4);
    std::atomic<int> met{0};
    std::mutex mu;
    std::set<std::thread::id> ids;
    for (int i = 0; i < 4; ++i) {
        pool.submit([&] {
            {
                std::lock_guard<std::mutex> g(mu);
                ids.insert(std::this_thread::get_id());
            }
            all_in.count_down();
            // Four jobs can only all get past this point if they run at the same time.
            auto deadline = std::chrono::steady_clock::now() + 20s;
            while (!all_in.try_wait() && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(1ms);
            if (all_in.try_wait()) ++met;
        });
    }
    pool.shutdown(true);
    EXPECT_EQ(met.load(), 4);
    EXPECT_EQ(ids.size(), 4u);
}

// --- run_in_executor ----------------------------------------------------------------------------

asyncio::coro<void> value_and_thread(int& value, std::thread::id& job_thread, std::thread::id& loop_thread) {
    auto& loop = asyncio::get_running_loop();
    loop_thread = std::this_thread::get_id();
    auto job = [&job_thread] {
        job_thread = std::this_thread::get_id();
        return 6 * 7;
    };
    asyncio::future<int> f = loop.run_in_executor(nullptr, job);
    EXPECT_FALSE(f.done());  // the result is set on the loop thread, later
    value = co_await f;
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.result(), 42);
}

TEST(RunInExecutor, DeliversTheValueFromAnotherThread) {
    int value = 0;
    std::thread::id job_thread, loop_thread;
    asyncio::run(value_and_thread(value, job_thread, loop_thread));
    EXPECT_EQ(value, 42);
    EXPECT_EQ(loop_thread, std::this_thread::get_id());
    EXPECT_NE(job_thread, std::thread::id());
    EXPECT_NE(job_thread, loop_thread);
}

asyncio::coro<std::string> string_and_void() {
    auto& loop = asyncio::get_running_loop();
    bool void_ran = false;
    auto void_job = [&void_ran] { void_ran = true; };
    asyncio::future<void> v = loop.run_in_executor(nullptr, void_job);
    co_await v;
    EXPECT_TRUE(void_ran);
    auto string_job = [] { return std::string(100'000, 'x') + "end"; };
    std::string s = co_await loop.run_in_executor(nullptr, string_job);
    co_return s;
}

TEST(RunInExecutor, VoidAndLargeValues) {
    std::string s = asyncio::run(string_and_void());
    EXPECT_EQ(s.size(), 100'003u);
    EXPECT_EQ(s.substr(s.size() - 4), "xend");
}

struct custom_error : std::exception {
    explicit custom_error(int c) : code(c) {}
    const char* what() const noexcept override { return "custom_error"; }
    int code;
};

asyncio::coro<void> exceptions_arrive(std::vector<std::string>& seen) {
    auto& loop = asyncio::get_running_loop();
    auto out_of_range = []() -> int { throw std::out_of_range("index 7 out of range"); };
    try {
        (void)co_await loop.run_in_executor(nullptr, out_of_range);
        seen.push_back("no exception");
    } catch (const std::out_of_range& e) {
        seen.push_back(std::string("out_of_range: ") + e.what());
    }
    auto custom = [] { throw custom_error(17); };
    try {
        co_await loop.run_in_executor(nullptr, custom);
        seen.push_back("no exception");
    } catch (const custom_error& e) {
        seen.push_back("custom_error " + std::to_string(e.code));
    }
    auto non_std = []() -> std::string { throw 5; };
    asyncio::future<std::string> f = loop.run_in_executor(nullptr, non_std);
    try {
        (void)co_await f;
        seen.push_back("no exception");
    } catch (int i) {
        seen.push_back("int " + std::to_string(i));
    }
    // The future keeps the exception: result() rethrows it again.
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_THROW((void)f.result(), int);
}

TEST(RunInExecutor, ExceptionsArriveWithTheirTypeAndMessage) {
    std::vector<std::string> seen;
    asyncio::run(exceptions_arrive(seen));
    std::vector<std::string> expected{"out_of_range: index 7 out of range", "custom_error 17", "int 5"};
    EXPECT_EQ(seen, expected);
}

asyncio::coro<void> on_custom_pool(asyncio::thread_pool_executor& pool, std::vector<std::thread::id>& ids) {
    auto& loop = asyncio::get_running_loop();
    auto job = [] { return std::this_thread::get_id(); };
    std::vector<asyncio::future<std::thread::id>> fs;
    for (int i = 0; i < 5; ++i) fs.push_back(loop.run_in_executor(&pool, job));
    ids = co_await asyncio::gather(std::move(fs));
}

TEST(RunInExecutor, CustomThreadPoolExecutor) {
    asyncio::thread_pool_executor pool(1);
    // Find the id of the pool's one thread first.
    std::thread::id pool_thread;
    pool.submit([&pool_thread] { pool_thread = std::this_thread::get_id(); });
    std::vector<std::thread::id> ids;
    asyncio::run(on_custom_pool(pool, ids));
    ASSERT_EQ(ids.size(), 5u);
    for (auto id : ids) EXPECT_EQ(id, pool_thread);
    EXPECT_NE(pool_thread, std::this_thread::get_id());
    // asyncio::run shuts down only the default executor: ours still takes jobs.
    std::atomic<bool> ran{false};
    pool.submit([&ran] { ran = true; });
    pool.shutdown(true);
    EXPECT_TRUE(ran.load());
}

asyncio::coro<void> many_in_order(std::vector<int>& results) {
    auto& loop = asyncio::get_running_loop();
    asyncio::thread_pool_executor pool(4);
    std::vector<asyncio::future<int>> fs;
    for (int i = 0; i < 100; ++i) {
        auto job = [i] {
            if (i % 10 == 0) std::this_thread::sleep_for(1ms);
            return i * i;
        };
        fs.push_back(loop.run_in_executor(&pool, job));
    }
    results = co_await asyncio::gather(std::move(fs));
}

TEST(RunInExecutor, ManyJobsGatheredInArgumentOrder) {
    std::vector<int> results;
    asyncio::run(many_in_order(results));
    ASSERT_EQ(results.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(results[i], i * i);
}

asyncio::coro<void> uses_default(std::shared_ptr<counting_executor> ex, int& sum) {
    auto& loop = asyncio::get_running_loop();
    loop.set_default_executor(ex);
    auto one = [] { return 1; };
    auto two = [] { return 2; };
    int a = co_await loop.run_in_executor(nullptr, one);
    int b = co_await loop.run_in_executor(nullptr, two);
    sum = a + b;
    EXPECT_EQ(ex->submitted.load(), 2);
    EXPECT_EQ(ex->shutdowns.load(), 0);
}

TEST(RunInExecutor, NullptrUsesTheDefaultExecutorWhichRunShutsDown) {
    auto ex = std::make_shared<counting_executor>(2);
    int sum = 0;
    asyncio::run(uses_default(ex, sum));
    EXPECT_EQ(sum, 3);
    EXPECT_EQ(ex->submitted.load(), 2);
    // asyncio::run ends with shutdown_default_executor: one shutdown, waiting for the jobs.
    EXPECT_EQ(ex->shutdowns.load(), 1);
    EXPECT_TRUE(ex->last_wait.load());
}

asyncio::coro<void> explicit_default_shutdown(std::shared_ptr<counting_executor> ex) {
    auto& loop = asyncio::get_running_loop();
    loop.set_default_executor(ex);
    auto job = [] { std::this_thread::sleep_for(5ms); };
    asyncio::future<void> f = loop.run_in_executor(nullptr, job);
    co_await loop.shutdown_default_executor();
    EXPECT_EQ(ex->shutdowns.load(), 1);
    // The job ran to its end before the shutdown finished; its result reaches the future.
    co_await f;
    EXPECT_TRUE(f.done());
}

TEST(RunInExecutor, ShutdownDefaultExecutorWaitsWithoutBlockingTheLoop) {
    auto ex = std::make_shared<counting_executor>(1);
    asyncio::run(explicit_default_shutdown(ex));
    EXPECT_EQ(ex->shutdowns.load(), 1);
}

TEST(RunInExecutor, SetDefaultExecutorRejectsNull) {
    asyncio::event_loop loop;
    EXPECT_THROW(loop.set_default_executor(nullptr), std::invalid_argument);
    loop.close();
}

asyncio::coro<int> await_int(asyncio::future<int> f) {
    int v = co_await f;
    co_return v;
}

struct cancel_probe {
    std::latch release{1};
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    std::string message;
    bool finished_when_cancelled = true;
    bool future_cancelled = false;
    bool task_cancelled = false;
    bool saw_finish = false;
};

asyncio::coro<void> cancel_awaiting_task(cancel_probe& p, asyncio::executor* ex) {
    auto& loop = asyncio::get_running_loop();
    auto job = [&p] {
        p.started = true;
        p.release.wait();
        p.finished = true;
        return 1;
    };
    asyncio::future<int> f = loop.run_in_executor(ex, job);
    asyncio::task<int> t = loop.create_task(await_int(f));
    co_await asyncio::sleep(0s);  // t runs up to its co_await of f
    bool started = co_await wait_for_flag(p.started);
    EXPECT_TRUE(started);
    t.cancel("enough");
    try {
        (void)co_await t;
    } catch (const asyncio::cancelled_error& e) {
        p.message = e.message();
    }
    // At once: the job is still blocked on its latch.
    p.finished_when_cancelled = p.finished.load();
    p.task_cancelled = t.cancelled();
    p.future_cancelled = f.cancelled();
    p.release.count_down();
    p.saw_finish = co_await wait_for_flag(p.finished);
    if (ex) {
        // The pool has one thread: once this job's result is back, the cancelled job's
        // completion (posted earlier by the same thread) has been processed too.
        auto marker = [] { return 0; };
        (void)co_await loop.run_in_executor(ex, marker);
    }
}

TEST(RunInExecutor, CancellingTheAwaitingTaskIsImmediateAndTheJobRunsToItsEnd) {
    cancel_probe p;
    asyncio::run(cancel_awaiting_task(p, nullptr));
    EXPECT_EQ(p.message, "enough");
    EXPECT_FALSE(p.finished_when_cancelled);
    EXPECT_TRUE(p.task_cancelled);
    EXPECT_TRUE(p.future_cancelled);
    EXPECT_TRUE(p.saw_finish);
    EXPECT_TRUE(p.finished.load());
}

TEST(RunInExecutor, CancellingWithACustomExecutorThatOutlivesTheLoop) {
    asyncio::thread_pool_executor pool(1);
    cancel_probe p;
    asyncio::run(cancel_awaiting_task(p, &pool));
    EXPECT_EQ(p.message, "enough");
    EXPECT_FALSE(p.finished_when_cancelled);
    EXPECT_TRUE(p.task_cancelled);
    EXPECT_TRUE(p.future_cancelled);
    EXPECT_TRUE(p.saw_finish);
}

asyncio::coro<void> cancel_the_future_itself(std::atomic<bool>& finished, bool& cancel_result) {
    auto& loop = asyncio::get_running_loop();
    auto job = [&finished] {
        std::this_thread::sleep_for(5ms);
        finished = true;
        return std::string("dropped");
    };
    asyncio::future<std::string> f = loop.run_in_executor(nullptr, job);
    cancel_result = f.cancel();
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW((void)f.result(), asyncio::cancelled_error);
    bool done = co_await wait_for_flag(finished);
    EXPECT_TRUE(done);
    co_await asyncio::sleep(1ms);
    EXPECT_TRUE(f.cancelled());  // the late result does not overwrite the cancellation
}

TEST(RunInExecutor, CancellingTheFutureDropsTheLateResult) {
    std::atomic<bool> finished{false};
    bool cancel_result = false;
    asyncio::run(cancel_the_future_itself(finished, cancel_result));
    EXPECT_TRUE(cancel_result);
    EXPECT_TRUE(finished.load());
}

asyncio::coro<void> submit_to_shut_pool(std::string& what) {
    auto& loop = asyncio::get_running_loop();
    asyncio::thread_pool_executor pool(1);
    pool.shutdown(true);
    bool ran = false;
    auto job = [&ran] { ran = true; };
    try {
        // Throws at the call, not at the co_await.
        asyncio::future<void> f = loop.run_in_executor(&pool, job);
        what = "no exception";
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    co_await asyncio::sleep(1ms);
    EXPECT_FALSE(ran);
}

TEST(RunInExecutor, ShutDownExecutorThrowsRuntimeErrorAtTheCall) {
    std::string what;
    asyncio::run(submit_to_shut_pool(what));
    EXPECT_EQ(what, "cannot schedule new jobs after shutdown");
}

TEST(RunInExecutor, ClosedLoopThrowsRuntimeError) {
    asyncio::event_loop loop;
    loop.close();
    EXPECT_THROW((void)loop.run_in_executor(nullptr, [] { return 1; }), std::runtime_error);
}

}  // namespace
