// thread_pool_executor: a fixed set of threads taking jobs from one FIFO.
#include "asyncio/executor.hpp"

#include <algorithm>
#include <stdexcept>

namespace asyncio {

thread_pool_executor::thread_pool_executor(std::size_t n) : n_(n) {
    if (n_ == 0) n_ = std::min<std::size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
    threads_.reserve(n_);
    for (std::size_t i = 0; i < n_; ++i) threads_.emplace_back([this] { worker(); });
}

thread_pool_executor::~thread_pool_executor() { shutdown(true); }

void thread_pool_executor::submit(detail::unique_function<void()> job) {
    {
        std::lock_guard<std::mutex> g(mu_);
        if (stopping_) throw std::runtime_error("cannot schedule new jobs after shutdown");
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void thread_pool_executor::shutdown(bool wait) {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (!wait) return;
    std::vector<std::thread> threads;
    {
        std::lock_guard<std::mutex> g(mu_);
        if (joined_) return;
        joined_ = true;
        threads.swap(threads_);
    }
    for (auto& t : threads) {
        if (t.get_id() == std::this_thread::get_id())
            t.detach();  // shutdown from one of our own jobs: that thread ends by itself
        else
            t.join();
    }
}

void thread_pool_executor::worker() {
    for (;;) {
        detail::unique_function<void()> job;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, and every queued job has run
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();  // jobs catch their own exceptions (run_in_executor does)
    }
}

}  // namespace asyncio
