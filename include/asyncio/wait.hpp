// asyncio::wait: wait until some or all of a set of tasks are done. Python: asyncio.wait.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <vector>

#include "detail/child_wait.hpp"
#include "detail/loop_core.hpp"
#include "task.hpp"

namespace asyncio {

enum class return_when { first_completed, first_exception, all_completed };

struct wait_options {
    std::optional<clock::duration> timeout;  // unset: no limit
    asyncio::return_when return_when = return_when::all_completed;
};

template <class T>
struct wait_result {
    std::vector<task<T>> done;
    std::vector<task<T>> pending;
};

namespace detail {
inline child_wait::until to_until(return_when rw) {
    switch (rw) {
        case return_when::first_completed:
            return child_wait::until::first_done;
        case return_when::first_exception:
            return child_wait::until::first_exception;
        case return_when::all_completed:
            break;
    }
    return child_wait::until::all_done;
}
}  // namespace detail

/// Waits until the `return_when` condition holds or `timeout` passes, then splits the tasks
/// into done and pending (input order kept). Cancels nothing, retrieves no exception.
/// Throws std::invalid_argument for an empty set.
/// Cancellation: stops waiting and throws cancelled_error; the tasks run on.
/// Python: asyncio.wait(aws, timeout=, return_when=).
template <class T>
coro<wait_result<T>> wait(std::vector<task<T>> tasks, wait_options opts = {}) {
    if (tasks.empty()) throw std::invalid_argument("Set of Tasks/Futures is empty.");
    detail::child_wait w(tasks.size(), detail::to_until(opts.return_when),
                         detail::child_wait::on_cancel_do::stop_waiting);
    for (std::size_t i = 0; i < tasks.size(); ++i) w.set_child(i, tasks[i].state_ptr());
    if (opts.timeout) {
        auto& loop = detail::require_running_loop();
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*opts.timeout).count();
        w.set_deadline(loop.now_ns() + (ns < 0 ? 0 : ns));
    }
    co_await w;
    if (w.outer_cancelled()) w.throw_outer_cancel();
    wait_result<T> r;
    for (auto& t : tasks) (t.done() ? r.done : r.pending).push_back(std::move(t));
    co_return r;
}

}  // namespace asyncio
