// asyncio::any_task: a type-erased handle to a task of any result type (current_task(),
// all_tasks(), the exception handler's context).
#pragma once

#include <ostream>
#include <string>
#include <utility>

#include "detail/task_core.hpp"

namespace asyncio {

class any_task {
  public:
    any_task() noexcept = default;
    explicit any_task(detail::task_core* t) noexcept : t_(t) {
        if (t_) t_->add_ref();
    }
    any_task(const any_task& o) noexcept : any_task(o.t_) {}
    any_task(any_task&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    any_task& operator=(any_task o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~any_task() {
        if (t_) t_->release();
    }

    /// False when empty (no task is running, say).
    explicit operator bool() const noexcept { return t_ != nullptr; }
    friend bool operator==(const any_task& a, const any_task& b) noexcept { return a.t_ == b.t_; }

    std::string name() const { return t_ ? t_->get_name() : std::string(); }
    bool done() const noexcept { return t_ && t_->done(); }
    bool cancelled() const noexcept { return t_ && t_->cancelled(); }
    /// Python: Task.cancel(msg). False when the task is done (or the handle empty).
    bool cancel(const std::string& msg = {}) const { return t_ && t_->cancel(msg); }
    int cancelling() const noexcept { return t_ ? t_->cancelling() : 0; }
    int uncancel() const noexcept { return t_ ? t_->uncancel() : 0; }
    /// Prints where the task waits: one line per suspended frame, outermost first.
    void print_stack(std::ostream& os) const;

    detail::task_core* core() const noexcept { return t_; }

  private:
    detail::task_core* t_ = nullptr;
};

namespace detail {
void print_task_stack(const task_core* t, std::ostream& os);
}

inline void any_task::print_stack(std::ostream& os) const {
    if (t_)
        detail::print_task_stack(t_, os);
    else
        os << "No task\n";
}

}  // namespace asyncio
