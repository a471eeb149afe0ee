// asyncio::with_task_group and task_group: structured concurrency. Python: asyncio.TaskGroup
// (3.11 semantics, with the cancellation fixes of gh-95289, gh-116720 and gh-155433, and
// TaskGroup.cancel() of 3.15).
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coro.hpp"
#include "detail/task_core.hpp"
#include "task.hpp"

namespace asyncio {

namespace detail {

/// The shared state of one task group: its children, the errors they raised, and the
/// cancellation bookkeeping. Reference-counted by the task_group handles (loop thread only).
class task_group_state {
  public:
    explicit task_group_state(task_core* parent);
    task_group_state(const task_group_state&) = delete;
    task_group_state& operator=(const task_group_state&) = delete;
    ~task_group_state();

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) delete this;
    }

    /// Throws std::runtime_error when the group cannot take a task now.
    void check_can_add() const;
    /// Watches a new child (its completion updates the group).
    void adopt(task_core* child);
    void cancel();
    /// Python's __aexit__: waits for every child, then returns or throws what the group's
    /// outcome is. `body_error` is what the body threw (null when it returned).
    coro<void> exit(std::exception_ptr body_error);

    std::size_t size() const noexcept { return n_children_; }
    task_core* parent() const noexcept { return parent_; }
    /// Appends the running children (task dumps).
    void children_of(std::vector<const task_core*>& out) const;
    loop_core* loop() const noexcept { return loop_; }
    static task_group_state* from_live_hook(list_hook* h) noexcept;

  private:
    struct child_entry;
    class exit_awaiter;
    static void on_child_done(waiter* w) noexcept;
    void abort() noexcept;

    std::uint32_t refs_ = 0;
    struct live_hook : list_hook {
        task_group_state* group = nullptr;
    } live_hook_;        // in this thread's list of live groups (task dumps)
    task_core* parent_;  // holds a reference
    loop_core* loop_;
    intrusive_list children_;  // child_entry::group_hook
    std::size_t n_children_ = 0;
    std::vector<std::exception_ptr> errors_;     // non-cancellation errors, in order of failure
    std::exception_ptr base_error_;              // a keyboard_interrupt: re-raised as it is
    std::optional<std::string> pending_cancel_;  // the last cancel absorbed while exiting
    std::optional<std::string> propagate_cancel_;
    exit_awaiter* exit_waiter_ = nullptr;
    bool exiting_ = false;
    bool aborting_ = false;
    bool parent_cancel_requested_ = false;
};

}  // namespace detail

/// A handle to a running task group (copyable; it keeps the group's state alive, so a copy
/// kept past the group's end gives a clear error instead of a dangling reference).
class task_group {
  public:
    explicit task_group(detail::task_group_state* s) noexcept : s_(s) { s_->add_ref(); }
    task_group(const task_group& o) noexcept : task_group(o.s_) {}
    task_group& operator=(const task_group& o) noexcept {
        task_group tmp(o);
        std::swap(s_, tmp.s_);
        return *this;
    }
    ~task_group() { s_->release(); }

    /// Starts `c` as a task of this group (call_soon semantics, as asyncio::create_task).
    /// Throws std::runtime_error when the group has finished ("TaskGroup is finished") or is
    /// being cancelled ("TaskGroup is shutting down"); `c` is then destroyed without running.
    /// Python: TaskGroup.create_task(coro, name=).
    template <class T>
    task<T> create_task(coro<T> c, std::string name = {}, const char* file = __builtin_FILE(),
                        unsigned line = __builtin_LINE()) {
        s_->check_can_add();
        task<T> t = detail::make_task(s_->parent()->loop, std::move(c), std::move(name), file, line);
        s_->adopt(t.as_any().core());
        return t;
    }

    /// Cancels every child and the body; the group then ends without cancelled_error (unless
    /// the enclosing task was also cancelled from outside, or children failed). Idempotent;
    /// does nothing once the group has finished. Python 3.15: TaskGroup.cancel().
    void cancel() { s_->cancel(); }

    /// Children still running.
    std::size_t size() const noexcept { return s_->size(); }

  private:
    friend detail::task_group_state& detail_state(const task_group& tg) noexcept { return *tg.s_; }
    detail::task_group_state* s_;
};

namespace detail {
template <class F>
using task_group_body_t = std::invoke_result_t<F&, task_group&>;

template <class F>
concept task_group_body = is_coro<task_group_body_t<F>>::value;

/// A new group whose parent is the running task (std::runtime_error outside a task).
task_group_state* new_task_group_state();
}  // namespace detail

/// Runs `fn(tg)` (a callable returning coro<R>) as the body of a new task group in the calling
/// task, then waits for every child the body (or a child) started with `tg.create_task`.
/// Returns the body's result. Python 3.11+: `async with asyncio.TaskGroup() as tg:`.
///
/// - The first child that fails (with anything but cancelled_error) cancels the other children
///   and the body; when all are done, `exception_group` is thrown with every non-cancellation
///   error, in the order they happened (an error thrown by the body counts too, at the time it
///   left the body).
/// - Cancelled mid-way (the enclosing task is cancelled, in the body or while waiting for the
///   children): every child is cancelled and waited for, then cancelled_error propagates.
///   Children's errors take priority over that cancelled_error; the cancellation then stays
///   pending (task.cancelling() keeps counting it) and the next co_await throws it.
/// - `tg.cancel()`: cancels the children and the body; the group ends without an error.
/// - A child throwing keyboard_interrupt makes the group rethrow that, as Python does with
///   KeyboardInterrupt; other errors then go to the exception handler.
/// - `fn` is kept alive until the group ends (a lambda's captures stay valid in the body).
template <class F>
requires detail::task_group_body<F>
auto with_task_group(F fn) -> detail::task_group_body_t<F> {
    using R = typename detail::task_group_body_t<F>::value_type;
    task_group tg(detail::new_task_group_state());
    std::exception_ptr body_error;
    std::optional<detail::stored_t<R>> result;
    try {
        if constexpr (std::is_void_v<R>) {
            co_await fn(tg);
        } else {
            R r = co_await fn(tg);
            result.emplace(std::move(r));
        }
    } catch (...) {
        body_error = std::current_exception();
    }
    co_await detail_state(tg).exit(std::move(body_error));
    if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace asyncio
