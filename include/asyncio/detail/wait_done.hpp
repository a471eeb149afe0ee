// An uncancellable wait for a future or task to finish, whatever its outcome (nothing is
// rethrown, nothing is retrieved). The building block of "wait for the children we cancelled".
// A cancellation that arrives meanwhile stays pending on the task and is thrown at its next
// cancellable co_await (or checked by the caller via task->must_cancel).
#pragma once

#include <coroutine>
#include <string>
#include <utility>

#include "task_core.hpp"

namespace asyncio::detail {

struct done_awaiter : wait_point, waiter {
    explicit done_awaiter(future_state_base* s) noexcept : st(s) { st->add_ref(); }
    done_awaiter(done_awaiter&& o) noexcept : st(std::exchange(o.st, nullptr)) {}
    ~done_awaiter() {
        if (linked()) future_state_base::remove_waiter(this);
        if (st) st->release();
    }
    bool await_ready() const noexcept { return st->done(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_core* t = h.promise().task;
        task = t;
        on_done = [](waiter* w) noexcept { static_cast<done_awaiter*>(w)->task->wake(); };
        ops = &ops_;
        st->add_waiter(this);
        t->suspend_at(this);
    }
    void await_resume() const noexcept {}
    static bool on_cancel(wait_point*, task_core*, const std::string&) { return false; }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const done_awaiter*>(wp);
        info.what = "the end of a cancelled child";
        if (self->st->is_task) info.awaits.push_back(static_cast<const task_core*>(self->st));
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};
    future_state_base* st;
    task_core* task = nullptr;
};

}  // namespace asyncio::detail
