// asyncio::shield: protect work from the cancellation of whoever awaits it. Python: asyncio.shield.
#pragma once

#include <coroutine>
#include <string>
#include <utility>

#include "detail/awaitable_traits.hpp"
#include "detail/task_core.hpp"

namespace asyncio {

namespace detail {
struct shield_leaf : wait_point, waiter {
    explicit shield_leaf(future_state_base* s) noexcept : st(s) {}
    shield_leaf(const shield_leaf&) = delete;
    ~shield_leaf() {
        if (linked()) future_state_base::remove_waiter(this);
    }
    bool await_ready() const noexcept { return st->done(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task = h.promise().task;
        on_done = [](waiter* w) noexcept { static_cast<shield_leaf*>(w)->task->wake(); };
        ops = &ops_;
        st->add_waiter(this);
        task->suspend_at(this);
    }
    void await_resume() {
        if (cancelled) throw task->take_cancellation();
        if (task) task->throw_if_cancel_pending();
    }
    static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
        auto* self = static_cast<shield_leaf*>(wp);
        future_state_base::remove_waiter(self);  // the inner work runs on; only we stop waiting
        self->cancelled = true;
        t->set_cancel_message(msg);
        t->wake();
        return true;
    }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const shield_leaf*>(wp);
        info.what = "shield";
        if (self->st->is_task) info.awaits.push_back(static_cast<const task_core*>(self->st));
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};
    future_state_base* st;
    task_core* task = nullptr;
    bool cancelled = false;
};

template <class T>
coro<T> shield_impl(future<T> inner) {
    shield_leaf leaf(inner.state_ptr());
    co_await leaf;
    if constexpr (std::is_void_v<T>)
        inner.result();
    else
        co_return take_value<T>(inner.state_ptr());
}
}  // namespace detail

/// Awaits `aw` (a coro becomes a task at once); cancelling the caller does not cancel it: the
/// caller gets cancelled_error, the inner work runs on as a task (its failure, if nobody
/// awaits it, goes to the exception handler). If the inner work itself is cancelled, the
/// caller gets cancelled_error too. Python: asyncio.shield(aw).
template <detail::composable A>
coro<detail::value_of_t<A>> shield(A aw) {
    if constexpr (is_coro<A>::value)
        return detail::shield_impl(detail::as_future(std::move(aw)));
    else
        return detail::shield_impl(detail::as_future(aw));
}

}  // namespace asyncio
