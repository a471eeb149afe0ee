// asyncio::condition: a condition variable for tasks of one loop. Python: asyncio.Condition.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <type_traits>

#include "../coro.hpp"
#include "../errors.hpp"
#include "lock.hpp"

namespace asyncio {

namespace detail {
/// A callable whose result can be tested as a bool (Python's truthiness): wait_for's predicate.
template <class Pred>
concept testable_predicate =
    std::invocable<Pred&> && std::constructible_from<bool, std::invoke_result_t<Pred&>>;
}  // namespace detail

/// What statistics() reports (as Trio's Condition.statistics()).
struct condition_statistics {
    std::size_t tasks_waiting = 0;             // in wait(), not yet notified
    asyncio::lock_statistics lock_statistics;  // of the underlying lock
};

/// A condition variable: tasks holding its lock wait() until another task notify()s them.
/// Python 3.13 semantics: wait() and notify() require the lock to be held (std::runtime_error
/// otherwise); wait() releases it, waits to be notified, and takes it again before returning,
/// also when it is cancelled; notified waiters are woken in the order they started waiting.
/// As with every condition variable, check the state you wait for again after wait() returns
/// (wait_for() does): another task may have changed it before the woken one got the lock.
///
/// The lock is the one given to the constructor (which must outlive the condition), or a lock
/// of its own when none is given. Several conditions may share one lock.
///
/// Constructed before any loop runs, it binds to the loop it is first waited on (Python 3.10+);
/// waiting on it from another loop afterwards throws std::runtime_error("condition is bound to a
/// different event loop"). Destroyed while tasks wait, it leaves them waiting until cancelled;
/// then they throw cancelled_error without taking the lock again.
class condition {
  public:
    explicit condition(lock* l = nullptr) noexcept : lock_(l ? l : &own_lock_) {}
    condition(const condition&) = delete;
    condition& operator=(const condition&) = delete;

    /// Acquires the lock. Python: `await cond.acquire()`. Cancellation: as lock::acquire().
    [[nodiscard]] lock::acquire_awaiter acquire() noexcept { return lock_->acquire(); }
    /// Acquires the lock and returns a guard that releases it: `auto g = co_await c.scoped();`
    /// Python: `async with cond:`. Cancellation: as lock::scoped().
    [[nodiscard]] lock::scoped_awaiter scoped() noexcept { return lock_->scoped(); }
    /// Releases the lock. Throws std::runtime_error("Lock is not acquired.") when not locked.
    void release() { lock_->release(); }
    bool locked() const noexcept { return lock_->locked(); }

    /// Releases the lock, waits until notified, and acquires the lock again. Python:
    /// `await cond.wait()`.
    /// Cancellation: wait() takes the lock again before it throws cancelled_error (the caller
    /// holds the lock on every way out, as in Python); cancellations that arrive while it waits
    /// for the lock are absorbed and the last one is rethrown. A waiter that was notified and
    /// then cancelled (in the same iteration, or while waiting for the lock) passes its
    /// notification on to the next waiter (CPython gh-112202), so no notify() is lost.
    /// Throws: std::runtime_error("cannot wait on un-acquired lock") when the lock is not held
    /// (before releasing anything); std::runtime_error when bound to a different loop;
    /// cancelled_error.
    coro<void> wait();

    /// Waits until `pred()` is truthy, and returns its last value; returns at once (without
    /// waiting) when it is truthy to begin with. Call it holding the lock. Python:
    /// `await cond.wait_for(predicate)`. `pred` is copied into the coroutine: pass a named
    /// callable (GCC 12 miscompiles a capturing lambda written inside a co_await statement).
    /// Cancellation: as wait(): the lock is held again when cancelled_error propagates.
    /// Throws: what wait() throws, and what `pred` throws.
    template <detail::testable_predicate Pred>
    coro<std::decay_t<std::invoke_result_t<Pred&>>> wait_for(Pred pred) {
        auto result = pred();
        while (!result) {
            co_await wait();
            result = pred();
        }
        co_return result;
    }

    /// Wakes up to `n` waiters (the longest-waiting first); each returns from wait() once it has
    /// the lock again (not before the caller releases it). Python: `cond.notify(n)`.
    /// Throws std::runtime_error("cannot notify on un-acquired lock") when the lock is not held.
    void notify(std::size_t n = 1) {
        if (!lock_->locked()) throw std::runtime_error("cannot notify on un-acquired lock");
        wake(n);
    }
    /// Wakes every waiter. Python: `cond.notify_all()`. Throws as notify().
    void notify_all() { notify(waiters_.size()); }

    condition_statistics statistics() const {
        return condition_statistics{waiters_.size(), lock_->statistics()};
    }

  private:
    // The part of wait() that waits for a notification.
    struct notify_awaiter : detail::sync_waiter {
        explicit notify_awaiter(condition* c) noexcept : c_(c) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            c_->waiters_.suspend(h, this, "condition");
        }
        void await_resume() {
            // Notified then cancelled before it ran: wait() passes the notification on.
            if (cancelled || cancel_pending_after_grant()) throw task->take_cancellation();
        }

      private:
        condition* c_;
    };

    void wake(std::size_t n) noexcept {
        for (; n > 0; --n) {
            if (!waiters_.grant_first()) break;
        }
    }

    lock own_lock_;  // used when the constructor was given none
    lock* lock_;
    detail::waiter_queue waiters_;
};

inline coro<void> condition::wait() {
    if (!lock_->locked()) throw std::runtime_error("cannot wait on un-acquired lock");
    // Bound before the lock is released, so that a wrong loop leaves the caller holding it.
    waiters_.bind(&detail::require_running_loop(), "condition");
    lock_->release();

    notify_awaiter notified(this);
    std::exception_ptr error;
    try {
        co_await notified;
    } catch (const cancelled_error&) {
        error = std::current_exception();
    }
    if (notified.orphaned) std::rethrow_exception(error);  // this condition is gone: touch nothing

    // Take the lock again, whatever happens: cancellations meanwhile are kept, the last one wins.
    bool held = false;
    bool lock_gone = false;
    while (!held && !lock_gone) {
        lock::acquire_awaiter acquiring = lock_->acquire();
        try {
            co_await acquiring;
            held = true;
        } catch (const cancelled_error&) {
            error = std::current_exception();
            lock_gone = acquiring.orphaned;
        }
    }
    if (error) {
        // Python wakes another waiter on every failure; we do it only when this one had been
        // notified (a waiter cancelled before its notification consumed nothing), which keeps
        // the guarantee of gh-112202 with fewer spurious wake-ups.
        if (notified.granted && !lock_gone) wake(1);
        std::rethrow_exception(error);
    }
}

}  // namespace asyncio
