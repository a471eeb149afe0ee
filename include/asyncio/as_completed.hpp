// asyncio::as_completed: the tasks in the order they finish. Python: asyncio.as_completed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detail/task_core.hpp"
#include "errors.hpp"
#include "task.hpp"

namespace asyncio {

/// Yields each task once it is done, in completion order: `while (auto t = co_await it.next())`.
/// (The async-generator shape of Python's as_completed; `next()` gives nullopt at the end.)
template <class T>
class as_completed_iterator {
  public:
    as_completed_iterator(std::vector<task<T>> tasks, std::optional<clock::duration> timeout)
        : s_(std::make_unique<state>(std::move(tasks))) {
        auto& loop = detail::require_running_loop();
        s_->loop = &loop;
        if (timeout) {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout).count();
            s_->deadline = loop.now_ns() + (ns < 0 ? 0 : ns);
        }
        s_->watch();
    }

    /// The next task to finish (already done when returned); nullopt when all were yielded.
    /// Throws timeout_error once the timeout has passed (the tasks are not cancelled).
    /// Cancellation: throws cancelled_error; no task is lost (the next call yields it).
    coro<std::optional<task<T>>> next() { return next_impl(s_.get()); }

  private:
    struct state : detail::wait_point {
        explicit state(std::vector<task<T>> t) : tasks(std::move(t)), watchers(tasks.size()) {}
        ~state() {
            for (auto& w : watchers)
                if (w.linked()) detail::future_state_base::remove_waiter(&w);
            disarm();
        }
        struct watcher : detail::waiter {
            state* owner = nullptr;
            std::size_t index = 0;
        };
        struct timer_target : detail::ready_node {
            state* owner = nullptr;
        };
        void watch() {
            for (std::size_t i = 0; i < tasks.size(); ++i) {
                watchers[i].owner = this;
                watchers[i].index = i;
                watchers[i].on_done = [](detail::waiter* w) noexcept {
                    auto* x = static_cast<watcher*>(w);
                    x->owner->finished.push_back(x->index);
                    x->owner->wake();
                };
                if (tasks[i].done())
                    finished.push_back(i);
                else
                    tasks[i].state_ptr()->add_waiter(&watchers[i]);
            }
        }
        void wake() noexcept {
            if (!waiter_task) return;
            disarm();
            detail::task_core* t = std::exchange(waiter_task, nullptr);
            t->wake();
        }
        void disarm() noexcept {
            if (timer) {
                loop->cancel_timer(timer);
                timer = {};
            }
        }
        // The leaf next() suspends on.
        bool await_ready() const noexcept { return !finished.empty(); }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            waiter_task = h.promise().task;
            cancel = [](detail::wait_point* wp, detail::task_core* t, const std::string& msg) {
                auto* self = static_cast<state*>(wp);
                self->cancelled = true;
                t->set_cancel_message(msg);
                self->wake();
                return true;
            };
            if (deadline) {
                tnode.owner = this;
                tnode.fire_inline = true;
                tnode.run = [](detail::ready_node* n) noexcept {
                    auto* self = static_cast<timer_target*>(n)->owner;
                    self->timer = {};
                    self->timed_out = true;
                    self->wake();
                };
                timer = loop->add_timer(*deadline, &tnode);
            }
            waiter_task->suspend_at(this);
        }
        void await_resume() {
            detail::task_core* t = detail::running_loop_core()->current_task();
            if (cancelled) {
                cancelled = false;
                throw t->take_cancellation();
            }
            t->throw_if_cancel_pending();
        }

        std::vector<task<T>> tasks;
        std::vector<watcher> watchers;
        std::deque<std::size_t> finished;
        std::size_t yielded = 0;
        detail::loop_core* loop = nullptr;
        std::optional<std::int64_t> deadline;
        detail::task_core* waiter_task = nullptr;
        timer_target tnode;
        detail::timer_id timer;
        bool timed_out = false;
        bool cancelled = false;
    };

    static coro<std::optional<task<T>>> next_impl(state* s) {
        if (s->yielded == s->tasks.size()) co_return std::nullopt;
        if (s->finished.empty()) {
            if (s->deadline && *s->deadline <= s->loop->now_ns()) throw timeout_error();
            s->timed_out = false;
            co_await *s;
            if (s->finished.empty()) throw timeout_error();
        }
        std::size_t i = s->finished.front();
        s->finished.pop_front();
        ++s->yielded;
        co_return s->tasks[i];
    }

    std::unique_ptr<state> s_;
};

/// Python: asyncio.as_completed(aws, timeout=). The timeout counts from this call.
template <class T>
as_completed_iterator<T> as_completed(std::vector<task<T>> tasks,
                                      std::optional<clock::duration> timeout = std::nullopt) {
    return as_completed_iterator<T>(std::move(tasks), timeout);
}

}  // namespace asyncio
