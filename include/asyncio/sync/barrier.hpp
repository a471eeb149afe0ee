// asyncio::barrier: `parties` tasks wait for each other, then all go on. Python: asyncio.Barrier.
#pragma once

#include <coroutine>
#include <cstddef>
#include <stdexcept>

#include "../coro.hpp"
#include "../detail/waiter_queue.hpp"
#include "../errors.hpp"

namespace asyncio {

/// What statistics() reports (Trio has no barrier: these are Python's Barrier properties).
struct barrier_statistics {
    std::size_t parties = 0;
    std::size_t n_waiting = 0;
    bool broken = false;
};

/// A cyclic barrier (Python 3.11 asyncio.Barrier). Each wait() arrives at the barrier; when the
/// `parties`-th task arrives, all of them go on, each returning its arrival index (0 for the
/// first, parties - 1 for the last, which does not suspend). The barrier then drains: tasks that
/// call wait() before every released task has left wait for the next cycle.
///
/// abort() breaks it: waiting tasks and every later wait() throw broken_barrier_error until
/// reset(). reset() makes waiting tasks throw broken_barrier_error and, once they have left,
/// the barrier fills again from zero.
///
/// Deliberate difference from CPython: a task cancelled while it waits stops counting at once,
/// so the indices of a cycle are always 0..parties-1, each once, and a cycle trips with
/// `parties` tasks that go on (CPython counts it until it has run, can trip with one task fewer
/// and can hand out an index twice after a cancellation).
///
/// Constructed before any loop runs, it binds to the loop it is first waited on (Python 3.10+);
/// waiting on it from another loop afterwards throws std::runtime_error("barrier is bound to a
/// different event loop"). Destroyed while tasks wait, it leaves them waiting until cancelled.
class barrier {
  public:
    /// Throws std::invalid_argument("parties must be >= 1") when `parties` < 1.
    explicit barrier(std::ptrdiff_t parties) : parties_(checked(parties)) {}
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    /// Arrives and waits until `parties` tasks have arrived; returns this task's arrival index.
    /// Waits first (without arriving) while the barrier drains or resets. Python:
    /// `await barrier.wait()`.
    /// Cancellation: a task cancelled while it waits to arrive changes nothing; one cancelled
    /// after arriving leaves again (n_waiting() goes down; the barrier is not broken). One
    /// released by the last arrival and cancelled before it ran throws cancelled_error too, but
    /// the barrier has tripped for the others and drains as usual (as in Python).
    /// Throws: broken_barrier_error when the barrier is broken (abort()) or is reset while this
    /// task waits; cancelled_error; std::runtime_error when bound to a different loop.
    coro<std::size_t> wait();

    struct [[nodiscard]] control_awaiter {
        barrier* b;
        void (barrier::*action)() noexcept;
        bool await_ready() const noexcept { return true; }
        void await_suspend(std::coroutine_handle<>) const noexcept {}
        void await_resume() const noexcept { (b->*action)(); }
    };
    /// Breaks the barrier: every waiting task, and every wait() until reset(), throws
    /// broken_barrier_error. Python: `await barrier.abort()`.
    /// Cancellation: it never suspends, so it cannot be cancelled mid-way (a pending
    /// cancellation is delivered at the task's next suspension, as in Python).
    control_awaiter abort() noexcept { return control_awaiter{this, &barrier::do_abort}; }
    /// Puts the barrier back to its empty, unbroken state; tasks waiting in it throw
    /// broken_barrier_error (the barrier fills again once they have left).
    /// Python: `await barrier.reset()`. Cancellation: as abort().
    control_awaiter reset() noexcept { return control_awaiter{this, &barrier::do_reset}; }

    /// The number of tasks that must arrive to trip the barrier.
    std::size_t parties() const noexcept { return parties_; }
    /// The number of tasks that have arrived and wait (0 while draining, resetting or broken).
    std::size_t n_waiting() const noexcept { return state_ == state::filling ? arrived_.size() : 0; }
    bool broken() const noexcept { return state_ == state::broken; }
    barrier_statistics statistics() const noexcept {
        return barrier_statistics{parties_, n_waiting(), broken()};
    }

  private:
    enum class state { filling, draining, resetting, broken };

    // Waits, without having arrived, until the barrier has drained or been reset.
    struct blocked_awaiter : detail::sync_waiter {
        explicit blocked_awaiter(barrier* b) noexcept : b_(b) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            b_->arrived_.bind(h.promise().task->loop, "barrier");  // one loop for both queues
            b_->blocked_.suspend(h, this, "barrier");
        }
        void await_resume() {
            if (cancelled || cancel_pending_after_grant()) throw task->take_cancellation();  // nothing taken
        }

      private:
        barrier* b_;
    };
    // Has arrived; waits for the trip (which hands it its index), an abort or a reset.
    struct arrival_awaiter : detail::sync_waiter {
        explicit arrival_awaiter(barrier* b) noexcept : b_(b) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            b_->arrived_.suspend(h, this, "barrier");
        }
        void await_resume() {
            if (cancelled) throw task->take_cancellation();  // left the queue: no longer arrived
            if (cancel_pending_after_grant()) {              // released (or broken) before it ran
                b_->leave();
                throw task->take_cancellation();
            }
        }

        std::size_t index = 0;  // set by the trip

      private:
        barrier* b_;
    };

    static std::size_t checked(std::ptrdiff_t parties) {
        if (parties < 1) throw std::invalid_argument("parties must be >= 1");
        return static_cast<std::size_t>(parties);
    }
    static void wake_all(detail::waiter_queue& q) noexcept {
        while (q.grant_first()) {
        }
    }
    // Wakes every arrived task; each must leave() once it runs.
    void release_arrived() noexcept {
        while (detail::sync_waiter* w = arrived_.pop_front()) {
            ++unfinished_;
            detail::waiter_queue::grant(w);
        }
    }
    // A released task leaves (returning, failing or cancelled). The last one to leave ends the
    // draining or the reset, and lets the tasks blocked meanwhile arrive.
    void leave() noexcept {
        if (--unfinished_ > 0) return;
        drained();
    }
    void drained() noexcept {
        if (state_ == state::draining || state_ == state::resetting) state_ = state::filling;
        wake_all(blocked_);
    }
    void do_abort() noexcept {
        state_ = state::broken;
        release_arrived();
        wake_all(blocked_);
    }
    void do_reset() noexcept {
        if (!arrived_.empty() || unfinished_ > 0) {
            state_ = state::resetting;  // the waiting tasks fail, then the last to leave refills it
            release_arrived();
        } else {
            state_ = state::filling;  // (also mends a broken barrier nobody is in)
        }
        wake_all(blocked_);
    }

    detail::waiter_queue arrived_;  // arrived, waiting for the trip
    detail::waiter_queue blocked_;  // waiting for the draining or the reset to end
    std::size_t parties_;
    std::size_t unfinished_ = 0;  // released (woken by a trip, abort or reset) and not yet left
    state state_ = state::filling;
};

inline coro<std::size_t> barrier::wait() {
    // As in Python, a woken task looks at the state when it runs, not when it was woken: it may
    // have to wait for another drain, or see an abort that came after the trip.
    while (state_ == state::draining || state_ == state::resetting) {
        blocked_awaiter unblocked(this);
        co_await unblocked;
    }
    if (state_ == state::broken) throw broken_barrier_error();
    if (arrived_.size() + 1 == parties_) {
        // The last arrival: hands the waiting tasks their indices in arrival order, releases
        // them, and goes on at once with the last index.
        state_ = state::draining;
        std::size_t index = 0;
        while (detail::sync_waiter* w = arrived_.pop_front()) {
            static_cast<arrival_awaiter*>(w)->index = index++;
            ++unfinished_;
            detail::waiter_queue::grant(w);
        }
        if (unfinished_ == 0) drained();  // parties == 1
        co_return index;
    }
    arrival_awaiter released(this);
    co_await released;  // cancelled: it has left already
    bool failed = state_ == state::broken || state_ == state::resetting;
    leave();
    if (failed) throw broken_barrier_error();
    co_return released.index;
}

}  // namespace asyncio
