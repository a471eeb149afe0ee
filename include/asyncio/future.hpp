// asyncio::future<T>: a low-level result that one part of a program sets and others await.
// Python: asyncio.Future.
#pragma once

#include <concepts>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "detail/future_state.hpp"
#include "detail/task_core.hpp"

namespace asyncio {

template <class T>
class future;

namespace detail {

// Awaits a future or task state. Holds one reference. `Move` takes the value out when this
// awaiter holds the only reference (nobody else can look at it again).
template <class T, bool Move>
struct future_awaiter : wait_point, waiter {
    explicit future_awaiter(future_state_base* s) noexcept : st(s) {}
    future_awaiter(future_awaiter&& o) noexcept : st(std::exchange(o.st, nullptr)) {}
    ~future_awaiter() {
        if (linked()) future_state_base::remove_waiter(this);
        if (st) st->release();
    }

    bool await_ready() const noexcept { return st->done(); }

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task = h.promise().task;
        if (st->loop != task->loop)
            throw std::runtime_error("awaiting a future that belongs to a different event loop");
        on_done = &on_future_done;
        ops = &ops_;
        st->add_waiter(this);
        task->suspend_at(this);
    }

    T await_resume() {
        if (task) {
            task->rethrow_injected();  // a deadlocked main task: its awaited task was cancelled
            task->throw_if_cancel_pending();
        }
        st->rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) {
            auto& v = *static_cast<std::optional<T>*>(st->value_storage());
            if constexpr (!std::is_copy_constructible_v<T>) {
                return std::move(*v);  // a move-only result cannot be shared: the awaiter takes it
            } else {
                if constexpr (Move) {
                    if (st->refs == 1) return std::move(*v);
                }
                return *v;
            }
        }
    }

    static void on_future_done(waiter* w) noexcept { static_cast<future_awaiter*>(w)->task->wake(); }
    static bool on_cancel(wait_point* wp, task_core*, const std::string& msg) {
        auto* self = static_cast<future_awaiter*>(wp);
        if (self->st->is_task) return static_cast<task_core*>(self->st)->cancel(msg);
        return self->st->cancel_future(msg);
    }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const future_awaiter*>(wp);
        if (self->st->is_task) {
            info.what = "task '" + static_cast<const task_core*>(self->st)->get_name() + "'";
            info.awaits.push_back(static_cast<const task_core*>(self->st));
        } else {
            info.what = "future " + describe_address(self->st) + " (nobody has set it)";
        }
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};

    future_state_base* st;
    task_core* task = nullptr;
};

// A done-callback: runs from the ready queue, never inline inside set_result.
template <class T, class F>
struct done_callback final : waiter, ready_node {
    done_callback(future_state_base* s, F f) : st(s), fn(std::move(f)) {
        st->add_ref();
        on_done = &on_future_done;
        run = &run_callback;
        discard = [](ready_node* n) noexcept { delete static_cast<done_callback*>(n); };
    }
    static void on_future_done(waiter* w) noexcept {
        auto* self = static_cast<done_callback*>(w);
        self->st->loop->schedule(self);
    }
    static void run_callback(ready_node* n) noexcept {
        auto* self = static_cast<done_callback*>(n);
        loop_core* l = self->st->loop;
        try {
            if constexpr (std::is_invocable_v<F&, future<T>>)
                self->fn(future<T>(self->st));
            else
                self->fn();
        } catch (...) {
            if (l)
                l->report_callback_error("Exception in a future's done callback", std::current_exception());
        }
        delete self;
    }
    ~done_callback() { st->release(); }
    future_state_base* st;
    F fn;
};

}  // namespace detail

/// A shared, copyable handle to one result. Made by `loop.create_future<T>()`.
///
/// Awaiting it suspends until it is done, unless it is done already.
/// Cancellation: cancelling the awaiting task cancels this future (as in Python); use shield()
/// to prevent that. Throws: the stored exception; cancelled_error when cancelled.
/// Python: asyncio.Future.
template <class T = void>
class future {
    static_assert(!std::is_reference_v<T>,
                  "future<T&> is not supported; use a pointer or std::reference_wrapper");

  public:
    using value_type = T;

    future() noexcept = default;
    /// Adopts a new reference to `s` (library use).
    explicit future(detail::future_state_base* s) noexcept : st_(s) {
        if (st_) st_->add_ref();
    }
    future(const future& o) noexcept : future(o.st_) {}
    future(future&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
    future& operator=(future o) noexcept {
        std::swap(st_, o.st_);
        return *this;
    }
    ~future() {
        if (st_) st_->release();
    }

    explicit operator bool() const noexcept { return st_ != nullptr; }
    friend bool operator==(const future& a, const future& b) noexcept { return a.st_ == b.st_; }

    bool done() const { return state().done(); }
    bool cancelled() const { return state().cancelled(); }

    /// The value; rethrows the stored exception; cancelled_error if cancelled;
    /// invalid_state_error while pending.
    std::add_lvalue_reference_t<const T> result() const requires(!std::is_void_v<T>) {
        state().rethrow_if_failed();
        return **static_cast<std::optional<T>*>(st_->value_storage());
    }
    void result() const requires std::is_void_v<T> { state().rethrow_if_failed(); }

    /// Null after success; the exception after failure; throws cancelled_error if cancelled and
    /// invalid_state_error while pending.
    std::exception_ptr exception() const {
        auto& s = state();
        if (!s.done()) throw invalid_state_error("exception is not set");
        if (s.cancelled()) std::rethrow_exception(s.exception);
        s.log_exception = false;
        return s.exception;
    }

    template <class U = T>
    requires(!std::is_void_v<T> && std::constructible_from<T, U&&>) void set_result(U&& v) const {
        auto& s = settable("set_result");
        static_cast<std::optional<T>*>(s.value_storage())->emplace(std::forward<U>(v));
        s.state = detail::fstate::done;
        s.fire();
    }
    void set_result() const requires std::is_void_v<T> {
        auto& s = settable("set_result");
        static_cast<std::optional<std::monostate>*>(s.value_storage())->emplace();
        s.state = detail::fstate::done;
        s.fire();
    }
    void set_exception(std::exception_ptr e) const {
        if (!e) throw std::invalid_argument("set_exception needs an exception");
        settable("set_exception").set_exception_value(std::move(e));
    }

    /// Python: Future.cancel(msg) / Task.cancel(msg). False when already done.
    bool cancel(std::string msg = {}) const {
        auto& s = state();
        if (s.is_task) return static_cast<detail::task_core&>(s).cancel(msg);
        return s.cancel_future(std::move(msg));
    }

    /// Calls `fn(future)` (or `fn()`) from the loop's ready queue once this is done.
    template <class F>
    requires(std::is_invocable_v<F&, future<T>> ||
             std::is_invocable_v<F&>) void add_done_callback(F fn) const {
        auto& s = state();
        s.ensure_loop();
        auto* cb = new detail::done_callback<T, F>(&s, std::move(fn));
        if (s.done())
            s.loop->schedule(cb);
        else
            s.add_waiter(cb);
    }

    auto operator co_await() const& noexcept {
        st_->add_ref();
        return detail::future_awaiter<T, false>(st_);
    }
    auto operator co_await() && noexcept {
        return detail::future_awaiter<T, true>(std::exchange(st_, nullptr));
    }

    /// The shared state (library use).
    detail::future_state_base* state_ptr() const noexcept { return st_; }

  protected:
    detail::future_state_base& state() const {
        if (!st_) throw invalid_state_error("empty future handle");
        return *st_;
    }
    detail::future_state_base& settable(const char* what) const {
        auto& s = state();
        if (s.is_task) throw std::runtime_error(std::string("Task does not support ") + what + "()");
        s.ensure_pending(what);
        s.ensure_loop();
        return s;
    }
    detail::future_state_base* st_ = nullptr;
};

namespace detail {
/// The result of a done future or task, moved out for a move-only T (its one consumer:
/// run, run_until_complete) and copied otherwise. Rethrows a stored exception.
template <class T>
T take_result(const future<T>& f) {
    if constexpr (std::is_void_v<T>) {
        f.result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
        return T(f.result());
    } else {
        f.result();
        return std::move(**static_cast<std::optional<T>*>(f.state_ptr()->value_storage()));
    }
}

template <class T>
future<T> make_future(loop_core* l) {
    return future<T>(new future_state<T>(l));
}
}  // namespace detail

}  // namespace asyncio
