// What every coroutine frame and every task share: the promise base (the frame chain of a task)
// and task_core (the task's stepping, cancellation and completion).
//
// A task is a chain of coroutine frames. `co_await child()` links the child under its parent and
// the loop's driver (task_core::step) resumes it; a finished child hands control back the same
// way. Every resumption returns to the driver loop, so a chain of any length of coroutines that
// complete without suspending never grows the native stack (no reliance on tail calls).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "frame_allocator.hpp"
#include "future_state.hpp"

namespace asyncio::detail {

class task_core;

struct wait_point;

/// "0x55d0c0a8" (names an object in task dumps and deadlock reports).
inline std::string describe_address(const void* p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    return buf;
}

/// What a waiting task waits for, as a leaf describes it (task dumps, deadlock reports).
struct wait_info {
    std::string what;                      // "sleep", "lock 0x55d0c0", "future 0x55d0c8", ...
    std::vector<const task_core*> awaits;  // the tasks it waits for (an awaited task, gather's children)
    const task_core* holder = nullptr;     // the task that must act first (the owner of a lock)
};

/// A leaf's operations. `cancel` returns true when the leaf took the cancellation (it will wake
/// the task, whose `co_await` then throws cancelled_error), false when it could not (the task
/// keeps waiting and throws at its next resumption instead). `describe` may be null.
struct wait_ops {
    bool (*cancel)(wait_point*, task_core*, const std::string& msg);
    void (*describe)(const wait_point*, wait_info&);
};

/// The point a task waits at (a timer, a future, a gather...): one pointer, to its operations.
struct wait_point {
    const wait_ops* ops = nullptr;
};

// Awaits an lvalue awaiter in place. GCC 12 copies the lvalue an await_transform returns
// (even as a reference), which breaks awaiters that must not move (they are linked into lists).
template <class A>
struct lvalue_awaiter {
    A& a;
    decltype(auto) await_ready() { return a.await_ready(); }
    template <class H>
    decltype(auto) await_suspend(H h) {
        return a.await_suspend(h);
    }
    decltype(auto) await_resume() { return a.await_resume(); }
};

template <class A>
concept has_await_members = requires(A& a) {
    a.await_ready();
};
template <class A>
concept has_member_co_await = requires(A& a) {
    a.operator co_await();
};

struct promise_base {
    std::coroutine_handle<> self;
    std::coroutine_handle<> continuation;  // the awaiting frame; null for a task's root frame
    promise_base* parent = nullptr;
    task_core* task = nullptr;
    std::exception_ptr exception;
    // Where this frame is suspended (set by await_transform): print_stack and debug output.
    const char* await_file = nullptr;
    unsigned await_line = 0;

    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }

    std::suspend_always initial_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) noexcept;
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    // Records the co_await's source line (cheap: two stores), then hands the awaitable on.
    template <class A>
    decltype(auto) await_transform(A&& a, const char* file = __builtin_FILE(),
                                   unsigned line = __builtin_LINE()) {
        await_file = file;
        await_line = line;
        if constexpr (std::is_lvalue_reference_v<A> && has_await_members<std::remove_reference_t<A>>)
            return lvalue_awaiter<std::remove_reference_t<A>>{a};
        else if constexpr (std::is_lvalue_reference_v<A> && has_member_co_await<std::remove_reference_t<A>>)
            return a.operator co_await();
        else
            return static_cast<A&&>(a);
    }
};

class task_core : public future_state_base, public ready_node {
  public:
    explicit task_core(loop_core* l) : future_state_base(l) {
        is_task = true;
        run = &task_core::run_step;
        id = next_id();
        add_ref();  // the loop's reference while pending
    }

    ~task_core() override {
        // Reported here rather than in ~future_state_base, where the name (in `extras`) is gone.
        if (log_exception) {
            log_exception = false;
            if (loop)
                loop->report_unretrieved(this, exception);
            else
                report_orphan_exception(this, exception);  // its loop is gone: to stderr
        }
    }

    /// Moves the finished root frame's result into the task's value (knows T).
    virtual void take_root_result() = 0;

    // --- Python Task API -----------------------------------------------------------------
    bool cancel(const std::string& msg = {}) {
        if (done()) return false;
        ++num_cancels_requested;
        if (waiting) {
            wait_point* wp = waiting;
            if (wp->ops->cancel(wp, this, msg)) return true;
        }
        must_cancel = true;
        set_cancel_message(msg);
        return true;
    }
    int cancelling() const noexcept { return num_cancels_requested; }
    int uncancel() noexcept {
        if (num_cancels_requested > 0) {
            if (--num_cancels_requested == 0) must_cancel = false;
        }
        return num_cancels_requested;
    }
    std::string get_name() const { return has_name() ? extras->name : "Task-" + std::to_string(id); }

    // --- used by awaitables ---------------------------------------------------------------
    /// Called from a leaf's await_suspend: the task now waits at `wp`. A cancellation that is
    /// already pending goes straight to the leaf (Python: a task that must cancel cancels what it
    /// suspends on).
    void suspend_at(wait_point* wp) {
        waiting = wp;
        if (must_cancel) {
            std::string msg = take_cancel_message();
            if (wp->ops->cancel(wp, this, msg))
                must_cancel = false;
            else
                set_cancel_message(msg);
        }
    }
    /// Wakes the task from a leaf (through the ready queue, never inline).
    void wake() noexcept {
        waiting = nullptr;
        loop->schedule(this);
    }
    /// Throws cancelled_error if a cancellation is pending (called in a leaf's await_resume).
    void throw_if_cancel_pending() {
        if (must_cancel) {
            must_cancel = false;
            rethrow_injected();
            throw cancelled_error(take_cancel_message());
        }
    }
    /// Fails the task's current co_await with `e` (not a cancel request: cancelling() does not
    /// count it). The loop uses it to fail a deadlocked main task with deadlock_error. The leaf
    /// is woken through its cancel hook; what it would throw as cancelled_error is `e` instead.
    /// Returns true when the leaf took it (the task is woken).
    bool fail_with(std::exception_ptr e) {
        if (done()) return false;
        ensure_extras().injected = std::move(e);
        if (waiting) {
            wait_point* wp = waiting;
            if (wp->ops->cancel(wp, this, "")) return true;
        }
        must_cancel = true;
        return false;
    }
    /// Throws an error injected by fail_with (called where a leaf is about to throw cancelled_error).
    void rethrow_injected() {
        if (extras && extras->injected) std::rethrow_exception(std::exchange(extras->injected, nullptr));
    }
    // Names and cancel messages are rare: they live in a side allocation, not in every task.
    std::string take_cancel_message() {
        return extras ? std::exchange(extras->cancel_message, {}) : std::string();
    }
    /// The error a leaf throws when its cancel hook took a cancellation. Cancel requests made
    /// since are delivered with it, not again at the next co_await (Python: one CancelledError
    /// per step, carrying the latest message).
    cancelled_error take_cancellation() {
        must_cancel = false;
        rethrow_injected();  // `throw t->take_cancellation()` throws the injected error instead
        return cancelled_error(take_cancel_message());
    }
    void set_cancel_message(const std::string& msg) {
        if (!msg.empty() || extras) ensure_extras().cancel_message = msg;
    }
    void set_name(std::string n) { ensure_extras().name = std::move(n); }
    void set_created_at(const char* file, unsigned line) {
        task_extras& x = ensure_extras();
        x.created_file = file;
        x.created_line = line;
    }
    /// " (created at file:line)" in debug mode, else empty.
    std::string created_at() const {
        if (!extras || !extras->created_file) return {};
        return " (created at " + std::string(extras->created_file) + ":" +
               std::to_string(extras->created_line) + ")";
    }
    bool has_name() const noexcept { return extras && !extras->name.empty(); }

    /// Starts or resumes the task (the ready-queue entry point).
    static void run_step(ready_node* n) noexcept;
    void step() noexcept;
    /// Destroys the frames of a task that never finished (loop shutdown).
    void abandon() noexcept;

    promise_base* innermost = nullptr;    // the frame to resume
    std::coroutine_handle<> root;         // owned
    std::coroutine_handle<> next_resume;  // set by a transfer; the driver resumes it
    wait_point* waiting = nullptr;
    struct task_extras {
        std::string name;
        std::string cancel_message;
        std::exception_ptr injected;         // fail_with
        const char* created_file = nullptr;  // debug mode: where create_task was called
        unsigned created_line = 0;
    };
    std::unique_ptr<task_extras> extras;
    std::uint64_t id = 0;
    int num_cancels_requested = 0;
    bool must_cancel = false;
    bool root_finished = false;
    bool started = false;
    promise_base* root_promise = nullptr;

  private:
    task_extras& ensure_extras() {
        if (!extras) extras = std::make_unique<task_extras>();
        return *extras;
    }
    void finish() noexcept;
    static std::uint64_t next_id() noexcept {
        static std::atomic<std::uint64_t> n{0};  // Python names tasks Task-1, Task-2, ... per process
        return n.fetch_add(1, std::memory_order_relaxed) + 1;
    }
};

template <class P>
void promise_base::final_awaiter::await_suspend(std::coroutine_handle<P> h) noexcept {
    promise_base& p = h.promise();
    task_core* t = p.task;
    if (p.parent) {
        t->innermost = p.parent;
        t->next_resume = p.continuation;
    } else {
        t->innermost = nullptr;
        t->root_finished = true;
    }
}

inline void task_core::run_step(ready_node* n) noexcept { static_cast<task_core*>(n)->step(); }

inline void task_core::step() noexcept {
    waiting = nullptr;
    if (!started) {
        started = true;
        if (must_cancel) {  // cancelled before it ever ran: the body does not run (as in Python)
            must_cancel = false;
            innermost->exception = std::make_exception_ptr(cancelled_error(take_cancel_message()));
            root_finished = true;
            finish();
            return;
        }
    }
    loop_core* l = loop;
    task_core* prev = l->current_task();
    l->set_current_task(this);
    std::coroutine_handle<> h = innermost->self;
    while (h) {
        next_resume = nullptr;
        h.resume();
        h = next_resume;
    }
    l->set_current_task(prev);
    if (root_finished) finish();
}

inline void task_core::finish() noexcept {
    std::exception_ptr e = root_promise->exception;
    bool was_cancelled = false;
    if (e) {
        try {
            std::rethrow_exception(e);
        } catch (const cancelled_error&) {
            was_cancelled = true;
        } catch (...) {
        }
    } else if (must_cancel) {  // cancelled right before its coroutine returned (Python does the same)
        must_cancel = false;
        e = std::make_exception_ptr(cancelled_error(take_cancel_message()));
        was_cancelled = true;
    } else {
        take_root_result();
    }
    root.destroy();
    root = nullptr;
    root_promise = nullptr;
    if (was_cancelled) {
        exception = std::move(e);
        state = fstate::cancelled;
        fire();
    } else if (e) {
        set_exception_value(std::move(e));
    } else {
        state = fstate::done;
        fire();
    }
    release();  // the loop's reference
}

inline void task_core::abandon() noexcept {
    if (root) {
        root.destroy();
        root = nullptr;
        root_promise = nullptr;
        innermost = nullptr;
        release();
    }
}

}  // namespace asyncio::detail
