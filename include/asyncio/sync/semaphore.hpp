// asyncio::semaphore and asyncio::bounded_semaphore: a counter of permits that tasks take and
// give back. Python: asyncio.Semaphore, asyncio.BoundedSemaphore.
#pragma once

#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <utility>

#include "../detail/waiter_queue.hpp"

namespace asyncio {

class semaphore;

/// What semaphore::statistics() reports (as Trio's Semaphore.statistics(), plus the value).
struct semaphore_statistics {
    std::ptrdiff_t value = 0;  // permits free now
    std::size_t tasks_waiting = 0;
};

/// What bounded_semaphore::statistics() reports: also the bound.
struct bounded_semaphore_statistics {
    std::ptrdiff_t value = 0;
    std::ptrdiff_t max = 0;  // the initial value, which release() may not exceed
    std::size_t tasks_waiting = 0;
};

/// Gives its permit back when destroyed (or at release()). Move-only. What
/// `co_await s.scoped()` returns: Python's `async with semaphore:`.
class [[nodiscard]] semaphore_guard {
  public:
    semaphore_guard() noexcept = default;
    explicit semaphore_guard(semaphore* s) noexcept : s_(s) {}
    semaphore_guard(semaphore_guard&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    semaphore_guard& operator=(semaphore_guard&& o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    ~semaphore_guard() { reset(); }
    /// Gives the permit back now.
    void release() noexcept { reset(); }
    bool owns_permit() const noexcept { return s_ != nullptr; }

  private:
    inline void reset() noexcept;
    semaphore* s_ = nullptr;
};

/// A counter of permits. acquire() takes one, waiting while there is none; release() gives one
/// back, handing it straight to the first waiter if there is one (FIFO: a task arriving later
/// cannot take a permit a waiter was promised, so value() stays 0 while tasks wait). Taking a
/// free permit does not suspend and allocates nothing. No permit is ever lost or created by a
/// cancellation.
///
/// Cancellation: a task cancelled while waiting in acquire() takes nothing and throws
/// cancelled_error. A task that was handed a permit and cancelled before it could run (the same
/// loop iteration) gives it back (to the next waiter, or to the count) and throws
/// cancelled_error. Taking a free permit does not suspend, so a pending cancellation is
/// delivered at the task's next suspension (as in Python).
///
/// Constructed before any loop runs, it binds to the loop it is first waited on (Python 3.10+);
/// waiting on it from another loop afterwards throws std::runtime_error("semaphore is bound to a
/// different event loop"). Destroyed while tasks wait, it leaves them waiting until cancelled.
class semaphore {
  public:
    /// Throws std::invalid_argument("Semaphore initial value must be >= 0") when `value` < 0.
    explicit semaphore(std::ptrdiff_t value = 1) : semaphore(value, unbounded) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    struct acquire_awaiter : detail::sync_waiter {
        explicit acquire_awaiter(semaphore* s) noexcept : s_(s) {}
        bool await_ready() noexcept {
            if (s_->value_ == 0) return false;  // (value_ > 0 means nobody waits: permits are handed over)
            --s_->value_;
            return true;
        }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            s_->waiters_.suspend(h, this, "semaphore");
        }
        void await_resume() {
            if (cancelled) throw task->take_cancellation();  // took nothing (also when orphaned)
            if (cancel_pending_after_grant()) {
                s_->give_back();
                throw task->take_cancellation();
            }
        }

      protected:
        semaphore* s_;
    };
    struct scoped_awaiter : acquire_awaiter {
        using acquire_awaiter::acquire_awaiter;
        semaphore_guard await_resume() {
            acquire_awaiter::await_resume();
            return semaphore_guard(s_);
        }
    };

    /// Takes a permit, waiting (FIFO) while there is none. Python: `await sem.acquire()`.
    /// Cancellation: see the class comment (a cancelled acquire holds no permit).
    /// Throws: cancelled_error; std::runtime_error when bound to a different loop.
    [[nodiscard]] acquire_awaiter acquire() noexcept { return acquire_awaiter(this); }
    /// Takes a permit and returns a guard that gives it back: `auto g = co_await s.scoped();`
    /// Python: `async with sem:`. Cancellation: as acquire(); no guard is returned.
    [[nodiscard]] scoped_awaiter scoped() noexcept { return scoped_awaiter(this); }

    /// Gives a permit back: to the first waiter if there is one, else to the count.
    /// Throws (bounded_semaphore only) std::invalid_argument("BoundedSemaphore released too many
    /// times") when that would take the value above the initial one.
    void release() {
        if (bound_ != unbounded && value_ >= bound_)
            throw std::invalid_argument("BoundedSemaphore released too many times");
        give_back();
    }

    /// True when acquire() would wait. Python: Semaphore.locked().
    bool locked() const noexcept { return value_ == 0; }
    /// The number of free permits.
    std::ptrdiff_t value() const noexcept { return value_; }
    semaphore_statistics statistics() const noexcept { return semaphore_statistics{value_, waiters_.size()}; }

  protected:
    static constexpr std::ptrdiff_t unbounded = -1;
    semaphore(std::ptrdiff_t value, std::ptrdiff_t bound) : value_(value), bound_(bound) {
        if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
    }

    detail::waiter_queue waiters_;
    std::ptrdiff_t value_;
    std::ptrdiff_t bound_;

  private:
    friend class semaphore_guard;
    void give_back() noexcept {
        if (!waiters_.grant_first()) ++value_;
    }
    // A guard cannot throw: when its permit was already given back by hand, a bounded semaphore
    // keeps its bound (where Python's __aexit__ would raise ValueError).
    void release_from_guard() noexcept {
        if (bound_ == unbounded || value_ < bound_) give_back();
    }
};

/// A semaphore whose release() refuses to take the value above the initial one (a permit given
/// back twice is a bug it reports). Python: asyncio.BoundedSemaphore.
///
/// Cancellation: as semaphore.
class bounded_semaphore : public semaphore {
  public:
    /// Throws std::invalid_argument("Semaphore initial value must be >= 0") when `value` < 0.
    explicit bounded_semaphore(std::ptrdiff_t value = 1) : semaphore(value, value) {}

    /// The bound: the initial value.
    std::ptrdiff_t max() const noexcept { return bound_; }
    bounded_semaphore_statistics statistics() const noexcept {
        return bounded_semaphore_statistics{value_, bound_, waiters_.size()};
    }
};

inline void semaphore_guard::reset() noexcept {
    if (semaphore* s = std::exchange(s_, nullptr)) s->release_from_guard();
}

}  // namespace asyncio
