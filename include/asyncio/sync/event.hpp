// asyncio::event: a flag that tasks wait to become set. Python: asyncio.Event.
#pragma once

#include <coroutine>
#include <cstddef>

#include "../detail/waiter_queue.hpp"

namespace asyncio {

/// What statistics() reports (as Trio's Event.statistics()).
struct event_statistics {
    std::size_t tasks_waiting = 0;
};

/// A flag, initially clear. wait() returns at once when it is set, and otherwise waits until
/// set() is called; set() wakes every waiter, in the order they started waiting. A waiter woken
/// by set() returns normally even if clear() is called before it runs (as in Python).
///
/// Constructed before any loop runs, it binds to the loop it is first waited on (Python 3.10+);
/// waiting on it from another loop afterwards throws std::runtime_error("event is bound to a
/// different event loop"). Destroyed while tasks wait, it leaves them waiting until cancelled.
class event {
  public:
    event() noexcept = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    struct wait_awaiter : detail::sync_waiter {
        explicit wait_awaiter(event* e) noexcept : e_(e) {}
        bool await_ready() const noexcept { return e_->set_; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            e_->waiters_.suspend(h, this, "event");
        }
        void await_resume() {
            // Cancelled while waiting, or woken by set() and cancelled before it ran (Python
            // raises CancelledError in both cases): nothing to give back.
            if (cancelled || cancel_pending_after_grant()) throw task->take_cancellation();
        }

      private:
        event* e_;
    };

    /// Waits until the flag is set; returns at once (without suspending) if it is set already.
    /// Python: `await event.wait()`.
    /// Cancellation: the waiter leaves the queue and throws cancelled_error, also when set()
    /// woke it in the same loop iteration; the flag is not touched.
    /// Throws: cancelled_error; std::runtime_error when bound to a different loop.
    [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(this); }

    /// Sets the flag and wakes every waiter (FIFO). Does nothing if it is set already.
    void set() noexcept {
        if (set_) return;
        set_ = true;
        while (waiters_.grant_first()) {
        }
    }
    /// Clears the flag: later wait()s wait for the next set().
    void clear() noexcept { set_ = false; }
    bool is_set() const noexcept { return set_; }

    event_statistics statistics() const noexcept { return event_statistics{waiters_.size()}; }

  private:
    detail::waiter_queue waiters_;
    bool set_ = false;
};

}  // namespace asyncio
