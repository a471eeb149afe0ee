// asyncio::run_coroutine_threadsafe: hand a coroutine to a loop running on another thread.
// Python: asyncio.run_coroutine_threadsafe.
#pragma once

#include <exception>
#include <future>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "event_loop.hpp"

namespace asyncio {

namespace detail {
/// The std::promise of one run_coroutine_threadsafe hand-off, with the loop's keep-alive token
/// (work in flight from another thread, given back on destruction). It lives in the frame of
/// the task, so it goes away with the task whatever happens to it:
/// - fulfilled by the task: the std::future has the result or the exception;
/// - destroyed unfulfilled on an open loop (the task was cancelled before its body ever ran):
///   the std::future reports cancelled_error;
/// - destroyed unfulfilled because the loop was closed first (the hand-off never ran, or the
///   pending task was destroyed): the promise breaks, the std::future reports
///   std::future_error(broken_promise) instead of waiting forever.
template <class T>
class threadsafe_promise {
  public:
    explicit threadsafe_promise(event_loop* l) : loop_(l) { loop_->keepalive_acquire(); }
    threadsafe_promise(threadsafe_promise&& o) noexcept
        : promise_(std::move(o.promise_)), loop_(std::exchange(o.loop_, nullptr)), done_(o.done_) {}
    threadsafe_promise& operator=(threadsafe_promise&&) = delete;
    ~threadsafe_promise() {
        if (!loop_) return;  // moved from
        if (!done_ && !loop_->is_closed()) promise_.set_exception(std::make_exception_ptr(cancelled_error()));
        loop_->keepalive_release();
    }
    std::future<T> get_future() { return promise_.get_future(); }
    template <class... V>
    void set_value(V&&... v) {
        promise_.set_value(std::forward<V>(v)...);
        done_ = true;
    }
    void set_exception(std::exception_ptr e) {
        promise_.set_exception(std::move(e));
        done_ = true;
    }

  private:
    std::promise<T> promise_;
    event_loop* loop_;
    bool done_ = false;
};

/// The task that run_coroutine_threadsafe creates: runs `c` and hands its outcome to `p`.
template <class T>
coro<void> deliver_to_promise(coro<T> c, threadsafe_promise<T> p) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(c);
            p.set_value();
        } else {
            T value = co_await std::move(c);
            p.set_value(std::move(value));
        }
    } catch (const cancelled_error& e) {
        // The other thread gets a copy, so that it does not share an object with the task,
        // which keeps and frees the original on the loop thread (libstdc++'s exception_ptr
        // count is not instrumented: ThreadSanitizer would take that free for a data race).
        p.set_exception(std::make_exception_ptr(e));
        throw;  // the task ends cancelled, as in Python
    } catch (...) {
        p.set_exception(std::current_exception());
    }
}
}  // namespace detail

/// Runs `c` as a task on `loop` (from any thread) and returns a std::future of its result.
/// The loop counts the hand-off as work in flight until the task is done. If the task is
/// cancelled, the std::future reports asyncio::cancelled_error. If the loop closes before the
/// task finished, the std::future reports std::future_error (broken_promise), not a hang.
/// Throws std::runtime_error if the loop is closed already.
template <class T>
std::future<T> run_coroutine_threadsafe(coro<T> c, event_loop& loop) {
    detail::threadsafe_promise<T> p(&loop);
    std::future<T> result = p.get_future();
    coro<void> job = detail::deliver_to_promise(std::move(c), std::move(p));
    // If this throws (a closed loop), the job's frame is destroyed with the lambda: the token is
    // given back and the promise breaks unused.
    loop.call_soon_threadsafe([job = std::move(job), &loop]() mutable { loop.create_task(std::move(job)); });
    return result;
}

}  // namespace asyncio
