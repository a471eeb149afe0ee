// Timeouts: asyncio::timeout / timeout_at (Python 3.11's `async with asyncio.timeout(...)`) and
// asyncio::wait_for.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "detail/awaitable_traits.hpp"
#include "detail/child_wait.hpp"
#include "detail/wait_done.hpp"

namespace asyncio {

namespace detail {

// The timer of a timeout block: when it expires, it cancels the task running the block and
// remembers that it did, so that only that cancellation becomes timeout_error.
class timeout_scope : ready_node {
  public:
    timeout_scope(task_core* t, std::int64_t deadline_ns) : task_(t) {
        run = &expire;
        fire_inline = true;
        if (deadline_ns <= t->loop->now_ns())
            expire(this);  // already due: cancel at the first suspension (Python does the same)
        else
            timer_ = t->loop->add_timer(deadline_ns, this);
    }
    timeout_scope(const timeout_scope&) = delete;
    ~timeout_scope() { disarm(); }
    void disarm() noexcept {
        if (timer_) {
            task_->loop->cancel_timer(timer_);
            timer_ = {};
        }
    }
    bool expired() const noexcept { return expired_; }
    /// The expiry found another cancellation requested but not yet delivered (the task's
    /// must_cancel): both arrive as one cancelled_error, which is then not ours to convert, even
    /// when that request predates the block and so hides from the cancelling() count (gh-134471).
    bool merged_with_pending_cancel() const noexcept { return merged_; }

  private:
    static void expire(ready_node* n) noexcept {
        auto* self = static_cast<timeout_scope*>(n);
        self->timer_ = {};
        self->expired_ = true;
        self->merged_ = self->task_->must_cancel;
        try {
            self->task_->cancel();
        } catch (...) {
        }
    }
    task_core* task_;
    timer_id timer_;
    bool expired_ = false;
    bool merged_ = false;
};

template <class Rep, class Period>
std::int64_t deadline_after(loop_core& l, std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return l.now_ns() + (ns < 0 ? 0 : ns);
}
inline std::int64_t to_loop_ns(clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

template <class F>
using block_result_t = typename std::invoke_result_t<F&>::value_type;

template <class F>
coro<block_result_t<F>> timeout_block(std::int64_t deadline_ns, F fn) {
    using R = block_result_t<F>;
    task_core* t = require_running_loop().current_task();
    if (!t) throw std::runtime_error("timeout() must be used inside a task");
    const int cancelling_at_entry = t->cancelling();
    std::optional<stored_t<R>> result;
    std::exception_ptr error;
    bool was_cancelled = false;
    {
        timeout_scope scope(t, deadline_ns);
        try {
            if constexpr (std::is_void_v<R>) {
                co_await fn();
                result.emplace();
            } else {
                R r = co_await fn();
                result.emplace(std::move(r));
            }
        } catch (const cancelled_error&) {
            was_cancelled = true;
            error = std::current_exception();
        } catch (...) {
            error = std::current_exception();
        }
        scope.disarm();
        // Only the cancellation this timeout caused becomes timeout_error; any other (an outside
        // cancel, counted by cancelling()) goes on as cancelled_error (gh-86296, gh-134471).
        if (scope.expired() && t->uncancel() <= cancelling_at_entry && was_cancelled &&
            !scope.merged_with_pending_cancel())
            throw timeout_error();
    }
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

template <class T>
coro<T> wait_for_impl(future<T> inner, std::int64_t deadline_ns) {
    future_state_base* st = inner.state_ptr();
    bool timed_out = false;
    {
        child_wait w(1, child_wait::until::all_done, child_wait::on_cancel_do::cancel_children_and_wait);
        w.set_child(0, st);
        w.set_deadline(deadline_ns);
        co_await w;
        if (w.outer_cancelled()) {  // the inner work was cancelled and has finished
            st->log_exception = false;
            w.throw_outer_cancel();
        }
        timed_out = w.timed_out() && !st->done();
    }
    if (timed_out) {
        // Cancel the inner work and wait until it has really finished (it may clean up, or
        // even complete anyway: then its result wins).
        if (st->is_task)
            static_cast<task_core*>(st)->cancel();
        else
            st->cancel_future({});
        co_await done_awaiter(st);
        task_core* self = require_running_loop().current_task();
        if (self->must_cancel) {  // an outside cancel arrived meanwhile: it is never swallowed
            st->log_exception = false;
            self->throw_if_cancel_pending();
        }
        if (st->state == fstate::cancelled) throw timeout_error();
    }
    if constexpr (std::is_void_v<T>)
        inner.result();
    else
        co_return take_value<T>(st);
}

}  // namespace detail

/// Runs the block `fn()` (a callable returning coro<R>) in the calling task; if it is still
/// running at `when`, it is cancelled and timeout_error is thrown instead of cancelled_error.
/// Cancellation from outside is never turned into timeout_error (counted with cancelling()).
/// Python: `async with asyncio.timeout_at(when): ...`.
template <class F>
requires is_coro<std::invoke_result_t<F&>>::value coro<detail::block_result_t<F>> timeout_at(
    clock::time_point when, F fn) {
    return detail::timeout_block(detail::to_loop_ns(when), std::move(fn));
}

/// As timeout_at(now + delay, fn). Python: `async with asyncio.timeout(delay): ...`.
template <class Rep, class Period, class F>
requires is_coro<std::invoke_result_t<F&>>::value coro<detail::block_result_t<F>> timeout(
    std::chrono::duration<Rep, Period> delay, F fn) {
    return detail::timeout_block(detail::deadline_after(detail::require_running_loop(), delay),
                                 std::move(fn));
}

/// Awaits `aw` (a coro becomes a task) for at most `timeout`. On expiry it cancels the inner
/// work, waits until it has finished, and throws timeout_error — or returns the result if the
/// inner work completed anyway. Cancellation: cancels the inner work, waits for it, throws
/// cancelled_error (never swallowed). Python: asyncio.wait_for(aw, timeout).
template <detail::composable A, class Rep, class Period>
coro<detail::value_of_t<A>> wait_for(A aw, std::chrono::duration<Rep, Period> timeout) {
    auto deadline = detail::deadline_after(detail::require_running_loop(), timeout);
    if constexpr (is_coro<A>::value)
        return detail::wait_for_impl(detail::as_future(std::move(aw)), deadline);
    else
        return detail::wait_for_impl(detail::as_future(aw), deadline);
}

}  // namespace asyncio
