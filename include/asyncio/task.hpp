// asyncio::task<T>: a future that drives a coroutine on the loop. Python: asyncio.Task.
#pragma once

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "any_task.hpp"
#include "coro.hpp"
#include "future.hpp"

namespace asyncio {

namespace detail {
template <class T>
struct task_state final : task_core {
    using task_core::task_core;
    void* value_storage() noexcept override { return &value; }
    void take_root_result() override {
        if constexpr (std::is_void_v<T>)
            value.emplace();
        else
            value.emplace(std::move(*static_cast<typename coro<T>::promise_type*>(root_promise)->value));
    }
    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }
    std::optional<stored_t<T>> value;
};
}  // namespace detail

/// A running coroutine with a result. The loop keeps a pending task alive: dropping every
/// handle does not cancel it. A task that failed and whose exception nobody retrieved is
/// reported to the loop's exception handler, once.
///
/// Awaiting a task waits for it (not inline: the waiter resumes from the ready queue).
/// Cancellation: cancelling the awaiting task cancels this task too (cancellation travels down);
/// use shield() to prevent that. Python: asyncio.Task.
template <class T = void>
class task : public future<T> {
  public:
    task() noexcept = default;
    explicit task(detail::task_core* t) noexcept : future<T>(t) {}

    std::string get_name() const { return core().get_name(); }
    void set_name(std::string name) const { core().set_name(std::move(name)); }
    /// Number of pending cancel requests (Python 3.11 Task.cancelling()).
    int cancelling() const { return core().cancelling(); }
    /// Takes back one cancel request; returns the remaining count (Python 3.11 Task.uncancel()).
    int uncancel() const { return core().uncancel(); }
    void print_stack(std::ostream& os) const { detail::print_task_stack(&core(), os); }
    /// A type-erased handle to the same task.
    any_task as_any() const { return any_task(&core()); }
    operator any_task() const { return as_any(); }  // NOLINT: a task is an any_task

    auto operator co_await() const& noexcept { return future<T>::operator co_await(); }
    auto operator co_await() && noexcept { return std::move(*this).future<T>::operator co_await(); }

    // A task's result comes from its coroutine.
    void set_result() const = delete;
    template <class U>
    void set_result(U&&) const = delete;
    void set_exception(std::exception_ptr) const = delete;

  private:
    detail::task_core& core() const { return static_cast<detail::task_core&>(this->state()); }
};

namespace detail {
template <class T>
task<T> make_task(loop_core* l, coro<T>&& c, std::string name, const char* file = nullptr,
                  unsigned line = 0) {
    if (!c) throw std::invalid_argument("create_task needs a coroutine (this coro is empty)");
    auto h = c.handle();
    if (h.promise().task || h.done()) throw std::runtime_error("coroutine was already awaited");
    auto* st = new task_state<T>(l);  // checks that the loop is open
    c.release();
    st->root = h;
    st->root_promise = &h.promise();
    st->innermost = &h.promise();
    h.promise().task = st;
    if (!name.empty()) st->set_name(std::move(name));
    if (file && l->get_debug()) st->set_created_at(file, line);  // debug mode: for the reports
    l->schedule(st);
    return task<T>(st);
}
}  // namespace detail

/// Wraps `c` in a task on the running loop; its first step runs from the ready queue (the
/// caller keeps running until it suspends). Throws std::runtime_error when no loop runs.
/// Python: asyncio.create_task(coro, name=).
template <class T>
task<T> create_task(coro<T> c, std::string name = {}, const char* file = __builtin_FILE(),
                    unsigned line = __builtin_LINE()) {
    return detail::make_task(&detail::require_running_loop(), std::move(c), std::move(name), file, line);
}

/// A coro becomes a task on the running loop; a future or task is returned as it is.
/// Python: asyncio.ensure_future.
template <class T>
task<T> ensure_future(coro<T> c) {
    return create_task(std::move(c));
}
template <class T>
task<T> ensure_future(task<T> t) {
    return t;
}
template <class T>
future<T> ensure_future(future<T> f) {
    return f;
}

/// The task running now, or an empty handle. Python: asyncio.current_task().
any_task current_task() noexcept;
/// Every pending task of the running loop. Python: asyncio.all_tasks().
std::vector<any_task> all_tasks();

}  // namespace asyncio
