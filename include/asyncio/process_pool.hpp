// asyncio::process_pool_executor: CPU-bound work in worker processes (Python:
// concurrent.futures.ProcessPoolExecutor with loop.run_in_executor).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "coro.hpp"

namespace asyncio {

/// `n` worker processes, forked at construction. A job is a plain function and a byte string;
/// the worker calls it and sends the returned bytes back. Functions are passed as addresses, so
/// they must be functions of this program (the workers are forks of it).
class process_pool_executor {
  public:
    using function = std::string (*)(std::string_view);

    /// `n` = 0: one worker per core. Throws std::system_error if a worker cannot be started.
    explicit process_pool_executor(std::size_t n = 0);
    ~process_pool_executor();
    process_pool_executor(const process_pool_executor&) = delete;
    process_pool_executor& operator=(const process_pool_executor&) = delete;

    /// Runs `fn(arg)` in a worker process and returns its result.
    /// Throws: std::runtime_error with the worker's exception text if `fn` threw; std::runtime_error
    /// ("process pool worker died ...") if the worker died (it is replaced: the pool goes on);
    /// std::runtime_error after shutdown; std::invalid_argument for a null function.
    /// Cancellation: the caller gets cancelled_error at once; the worker finishes the job and
    /// its result is dropped.
    coro<std::string> run(function fn, std::string arg);

    /// Waits for running jobs, then ends the workers. Called by the destructor.
    void shutdown();
    std::size_t size() const noexcept;

    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace asyncio
