// Executors: where blocking work runs so that the loop does not stop.
// Python: concurrent.futures.Executor, ThreadPoolExecutor, ProcessPoolExecutor.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "detail/unique_function.hpp"

namespace asyncio {

/// Something that runs jobs on other threads. Implementations must be thread-safe.
class executor {
  public:
    virtual ~executor() = default;
    /// Queues `job`; throws std::runtime_error after shutdown.
    virtual void submit(detail::unique_function<void()> job) = 0;
    /// Stops taking jobs; with `wait`, returns once every queued job has run.
    virtual void shutdown(bool wait = true) = 0;
};

/// A fixed pool of `n` threads (Python: ThreadPoolExecutor(max_workers=n)). Jobs run in FIFO
/// order. The destructor shuts down and waits.
class thread_pool_executor final : public executor {
  public:
    /// `n` = 0 picks Python's default, min(32, cores + 4).
    explicit thread_pool_executor(std::size_t n = 0);
    ~thread_pool_executor() override;
    thread_pool_executor(const thread_pool_executor&) = delete;
    thread_pool_executor& operator=(const thread_pool_executor&) = delete;

    void submit(detail::unique_function<void()> job) override;
    void shutdown(bool wait = true) override;
    std::size_t size() const noexcept { return n_; }

  private:
    void worker();
    std::size_t n_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<detail::unique_function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stopping_ = false;
    bool joined_ = false;
};

}  // namespace asyncio
