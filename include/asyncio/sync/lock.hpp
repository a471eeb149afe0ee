// asyncio::lock: a mutual-exclusion lock for tasks of one loop. Python: asyncio.Lock.
#pragma once

#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <utility>

#include "../any_task.hpp"
#include "../detail/waiter_queue.hpp"

namespace asyncio {

class lock;

/// What statistics() reports (as Trio's Lock.statistics()).
struct lock_statistics {
    bool locked = false;
    any_task owner;  // the task that acquired it (empty when free)
    std::size_t tasks_waiting = 0;
};

/// Releases the lock it holds when destroyed (or at release()). Move-only. What
/// `co_await l.scoped()` returns: Python's `async with lock:`.
class [[nodiscard]] lock_guard {
  public:
    lock_guard() noexcept = default;
    explicit lock_guard(lock* l) noexcept : l_(l) {}
    lock_guard(lock_guard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    lock_guard& operator=(lock_guard&& o) noexcept {
        if (this != &o) {
            reset();
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    ~lock_guard() { reset(); }
    /// Releases now. If the lock is not locked any more (released by hand), does nothing: a
    /// destructor cannot throw Python's RuntimeError.
    void release() noexcept { reset(); }
    bool owns_lock() const noexcept { return l_ != nullptr; }

  private:
    inline void reset() noexcept;
    lock* l_ = nullptr;
};

/// A lock that tasks acquire in the order they asked (FIFO): release() hands it straight to the
/// first waiter, so a task arriving later cannot barge past the queue. Acquiring a free lock does
/// not suspend (no trip through the loop: a task scheduled earlier does not run in between) and
/// allocates nothing. Any task may release it (as in Python); statistics() names the task that
/// acquired it.
///
/// Cancellation: a task cancelled while waiting in acquire() takes nothing and throws
/// cancelled_error. A task that was handed the lock and cancelled before it could run (the same
/// loop iteration) releases it again (to the next waiter) and throws cancelled_error: the lock
/// is never held by a task that did not see its acquire() return. Acquiring a free lock does not
/// suspend, so a pending cancellation is delivered at the task's next suspension (as in Python).
///
/// Constructed before any loop runs, it binds to the loop it is first waited on (Python 3.10+);
/// waiting on it from another loop afterwards throws std::runtime_error("lock is bound to a
/// different event loop"). Destroyed while tasks wait, it leaves them waiting until cancelled.
class lock {
  public:
    lock() noexcept { waiters_.set_owner_slot(&owner_); }  // deadlock reports name the owner
    lock(const lock&) = delete;
    lock& operator=(const lock&) = delete;
    ~lock() { set_owner(nullptr); }

    struct acquire_awaiter : detail::sync_waiter {
        explicit acquire_awaiter(lock* l) noexcept : l_(l) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (!l_->locked_ && l_->waiters_.empty()) {  // free: take it without suspending
                l_->locked_ = true;
                l_->set_owner(h.promise().task);
                return false;
            }
            l_->waiters_.suspend(h, this, "lock");
            return true;
        }
        void await_resume() {
            if (cancelled) throw task->take_cancellation();  // took nothing (also when orphaned)
            if (cancel_pending_after_grant()) {
                l_->release();  // to the next waiter
                throw task->take_cancellation();
            }
        }

      protected:
        lock* l_;
    };
    struct scoped_awaiter : acquire_awaiter {
        using acquire_awaiter::acquire_awaiter;
        lock_guard await_resume() {
            acquire_awaiter::await_resume();
            return lock_guard(l_);
        }
    };

    /// Waits until the lock is free and takes it. Python: `await lock.acquire()`.
    /// Cancellation: see the class comment (the lock is never left held by a cancelled acquire).
    /// Throws: cancelled_error; std::runtime_error when bound to a different loop.
    [[nodiscard]] acquire_awaiter acquire() noexcept { return acquire_awaiter(this); }
    /// Acquires and returns a guard that releases: `auto g = co_await l.scoped();`
    /// Python: `async with lock:`. Cancellation: as acquire(); no guard is returned.
    [[nodiscard]] scoped_awaiter scoped() noexcept { return scoped_awaiter(this); }

    /// Releases the lock, handing it to the first waiter if there is one.
    /// Throws std::runtime_error("Lock is not acquired.") when it is not locked.
    void release() {
        if (!locked_) throw std::runtime_error("Lock is not acquired.");
        if (detail::sync_waiter* w = waiters_.pop_front()) {
            set_owner(w->task);  // stays locked: handed over
            detail::waiter_queue::grant(w);
            return;
        }
        locked_ = false;
        set_owner(nullptr);
    }

    bool locked() const noexcept { return locked_; }
    lock_statistics statistics() const { return lock_statistics{locked_, any_task(owner_), waiters_.size()}; }
    /// The task holding the lock (debug mode's deadlock report), or null.
    detail::task_core* owner_task() const noexcept { return owner_; }

  private:
    void set_owner(detail::task_core* t) noexcept {
        if (t) t->add_ref();
        if (owner_) owner_->release();
        owner_ = t;
    }

    detail::waiter_queue waiters_;
    detail::task_core* owner_ = nullptr;
    bool locked_ = false;
};

inline void lock_guard::reset() noexcept {
    if (lock* l = std::exchange(l_, nullptr)) {
        if (l->locked()) l->release();
    }
}

}  // namespace asyncio
