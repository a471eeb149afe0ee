// asyncio::as_completed: the tasks in the order they finish. Python: asyncio.as_completed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "async_generator.hpp"
#include "detail/task_core.hpp"
#include "errors.hpp"
#include "task.hpp"

namespace asyncio {

namespace detail {

// What as_completed watches: a waiter on every task and, with a timeout, one timer for the whole
// iteration. It lives in the generator's frame (behind a pointer: the waiters must not move).
template <class T>
struct as_completed_state : wait_point {
    explicit as_completed_state(std::vector<task<T>> t) : tasks(std::move(t)), watchers(tasks.size()) {}
    as_completed_state(const as_completed_state&) = delete;
    as_completed_state& operator=(const as_completed_state&) = delete;
    ~as_completed_state() {
        unwatch();
        if (timer) loop->cancel_timer(timer);
    }
    struct watcher : waiter {
        as_completed_state* owner = nullptr;
        std::size_t index = 0;
    };
    struct timer_target : ready_node {
        as_completed_state* owner = nullptr;
    };

    void start(loop_core* l, std::optional<std::int64_t> deadline_ns) {
        loop = l;
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            watchers[i].owner = this;
            watchers[i].index = i;
            watchers[i].on_done = [](waiter* w) noexcept {
                auto* x = static_cast<watcher*>(w);
                as_completed_state* self = x->owner;
                self->finished.push_back(x->index);
                if (--self->watching == 0 && self->timer) {  // every task is done: no timeout any more
                    self->loop->cancel_timer(self->timer);
                    self->timer = {};
                }
                self->wake();
            };
            if (tasks[i].done()) {
                finished.push_back(i);
            } else {
                tasks[i].state_ptr()->add_waiter(&watchers[i]);
                ++watching;
            }
        }
        if (deadline_ns && watching > 0) {
            tnode.owner = this;
            tnode.fire_inline = true;
            tnode.run = [](ready_node* n) noexcept {
                auto* self = static_cast<timer_target*>(n)->owner;
                self->timer = {};
                self->expire();
            };
            timer = loop->add_timer(*deadline_ns, &tnode);
        }
    }
    void unwatch() noexcept {
        for (auto& w : watchers)
            if (w.linked()) future_state_base::remove_waiter(&w);
    }
    // Python's _handle_timeout: the tasks not done by now are no longer watched; each of them is
    // one timeout_error for next().
    void expire() noexcept {
        unwatch();
        watching = 0;
        timed_out = true;
        wake();
    }
    void wake() noexcept {
        if (!waiter_task) return;
        task_core* t = std::exchange(waiter_task, nullptr);
        t->wake();
    }
    // The leaf the generator suspends on until a task finishes or the timeout expires.
    bool await_ready() const noexcept { return !finished.empty() || timed_out; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        waiter_task = h.promise().task;
        ops = &ops_;
        waiter_task->suspend_at(this);
    }
    void await_resume() {
        task_core* t = running_loop_core()->current_task();
        if (cancelled) {
            cancelled = false;
            throw t->take_cancellation();
        }
        t->throw_if_cancel_pending();
    }

    static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
        auto* self = static_cast<as_completed_state*>(wp);
        self->cancelled = true;
        t->set_cancel_message(msg);
        self->wake();
        return true;
    }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const as_completed_state*>(wp);
        info.what = "as_completed";
        for (const task<T>& t : self->tasks)
            if (!t.done()) info.awaits.push_back(t.as_any().core());
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};

    std::vector<task<T>> tasks;
    std::vector<watcher> watchers;
    std::deque<std::size_t> finished;  // done and not yet yielded, in completion order
    std::size_t yielded = 0;           // tasks yielded and timeout_errors raised
    std::size_t watching = 0;          // tasks not done yet (and still watched)
    loop_core* loop = nullptr;
    task_core* waiter_task = nullptr;
    timer_target tnode;
    timer_id timer;
    bool timed_out = false;
    bool cancelled = false;
};

template <class T>
async_generator<task<T>> as_completed_generator(std::unique_ptr<as_completed_state<T>> s) {
    generator_trivially_closable no_cleanup;  // dropping it early is normal: nothing to clean up
    co_await no_cleanup;
    while (s->yielded < s->tasks.size()) {
        if (s->finished.empty() && !s->timed_out) {
            std::exception_ptr cancelled;
            try {
                co_await *s;
            } catch (const cancelled_error&) {
                cancelled = std::current_exception();
            }
            // Cancelled: next() throws, and the iteration goes on with the next call (no task lost;
            // Python's as_completed loses one here).
            if (cancelled) {
                generator_raise raise_cancelled{cancelled};
                co_yield std::move(raise_cancelled);
            }
            continue;
        }
        ++s->yielded;
        if (s->finished.empty()) {  // timed out: one timeout_error per task that was not done
            generator_raise raise_timeout{std::make_exception_ptr(timeout_error())};
            co_yield std::move(raise_timeout);
            continue;
        }
        std::size_t i = s->finished.front();
        s->finished.pop_front();
        co_yield s->tasks[i];
    }
}

}  // namespace detail

/// The tasks in the order they finish, each already done when it is yielded (tasks done before
/// the call come first, in input order):
///
///     auto it = asyncio::as_completed(tasks, 5s);
///     while (auto t = co_await it.next()) use(t->result());
///
/// The tasks are watched, and the timeout counts, from this call (as in Python), although the
/// generator itself is lazy. When the timeout expires, each task not done by then makes one
/// next() throw timeout_error (the tasks done before it are still yielded first); then next()
/// gives nullopt. The tasks are never cancelled. Dropping the generator early is fine (no clean-up
/// runs, nothing is reported). Needs a running loop.
/// Cancellation: next() throws cancelled_error and the iteration stays usable: no task is lost,
/// the next call yields it (a deliberate difference: Python's iterator loses one).
/// Python: asyncio.as_completed(aws, timeout=) used with `async for`.
template <class T>
async_generator<task<T>> as_completed(std::vector<task<T>> tasks,
                                      std::optional<clock::duration> timeout = std::nullopt) {
    auto& loop = detail::require_running_loop();
    auto s = std::make_unique<detail::as_completed_state<T>>(std::move(tasks));
    std::optional<std::int64_t> deadline;
    if (timeout) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout).count();
        deadline = loop.now_ns() + (ns < 0 ? 0 : ns);
    }
    s->start(&loop, deadline);
    return detail::as_completed_generator<T>(std::move(s));
}

}  // namespace asyncio
