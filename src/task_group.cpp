// The task group's bookkeeping: children, errors and cancellation counting. The logic follows
// CPython's Lib/asyncio/taskgroups.py (3.15, with the fixes for gh-95289, gh-116720, gh-135736
// and gh-155433); see task_group.hpp for the behaviour it gives.
#include <asyncio/task_group.hpp>
#include <stdexcept>

#include "task_group_registry.hpp"

namespace asyncio::detail {

namespace {
bool is_cancellation(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
        return false;
    }
}
// Python's "base errors" (SystemExit, KeyboardInterrupt) are re-raised as they are.
bool is_base_error(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const keyboard_interrupt&) {
        return true;
    } catch (...) {
        return false;
    }
}
}  // namespace

// One child: listens for its completion (as a waiter on its future state) and sits in the
// group's list of running children. Holds a reference to the child task.
struct task_group_state::child_entry : waiter {
    struct group_hook_t : list_hook {
        child_entry* entry = nullptr;
    } group_hook;
    task_group_state* group = nullptr;
    task_core* task = nullptr;
    static child_entry* from_group_hook(list_hook* h) noexcept {
        return static_cast<group_hook_t*>(h)->entry;
    }
};

// The exit's wait: until no child runs. A cancellation of the parent task while it waits here
// is absorbed (it aborts the group, and is remembered for after the wait), as Python's __aexit__
// catches CancelledError around its wait and loops.
class task_group_state::exit_awaiter : public wait_point {
  public:
    explicit exit_awaiter(task_group_state* g) noexcept : g_(g) { ops = &ops_; }
    exit_awaiter(exit_awaiter&& o) noexcept : exit_awaiter(o.g_) {}
    bool await_ready() const noexcept { return g_->n_children_ == 0; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_ = h.promise().task;
        g_->exit_waiter_ = this;
        task_->suspend_at(this);
    }
    void await_resume() noexcept { g_->exit_waiter_ = nullptr; }

    void wake() noexcept {
        if (task_ && !woken_) {
            woken_ = true;
            task_->wake();
        }
    }

  private:
    static bool on_cancel(wait_point* wp, task_core*, const std::string& msg) {
        auto* self = static_cast<exit_awaiter*>(wp);
        task_group_state* g = self->g_;
        g->pending_cancel_ = msg;
        if (!g->aborting_) {
            // The enclosing task is cancelled while the group waits for its children.
            g->propagate_cancel_ = msg;
            g->abort();
        }
        return true;  // taken: the wait goes on until every child is done
    }

    static void describe(const wait_point* wp, wait_info& info) {
        const task_group_state* g = static_cast<const exit_awaiter*>(wp)->g_;
        info.what = "the end of its task group's children";
        g->children_of(info.awaits);
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};

    task_group_state* g_;
    task_core* task_ = nullptr;
    bool woken_ = false;
};

task_group_state* new_task_group_state() {
    loop_core& l = require_running_loop();
    task_core* parent = l.current_task();
    if (!parent) throw std::runtime_error("TaskGroup cannot determine the parent task");
    return new task_group_state(parent);
}

namespace {
// Loops are per thread, so are their groups: no lock.
intrusive_list& live_groups() {
    thread_local intrusive_list groups;
    return groups;
}
}  // namespace

task_group_state* task_group_state::from_live_hook(list_hook* h) noexcept {
    return static_cast<live_hook*>(h)->group;
}

std::vector<std::pair<const task_core*, std::vector<const task_core*>>> task_group_edges(
    const loop_core* loop) {
    std::vector<std::pair<const task_core*, std::vector<const task_core*>>> out;
    intrusive_list& groups = live_groups();
    for (list_hook* h = groups.begin(); h != groups.end(); h = h->next) {
        task_group_state* g = task_group_state::from_live_hook(h);
        if (g->loop() != loop || g->size() == 0) continue;
        std::vector<const task_core*> kids;
        g->children_of(kids);
        out.emplace_back(g->parent(), std::move(kids));
    }
    return out;
}

task_group_state::task_group_state(task_core* parent) : parent_(parent), loop_(parent->loop) {
    parent_->add_ref();
    live_hook_.group = this;
    live_groups().push_back(&live_hook_);
}

task_group_state::~task_group_state() {
    // Only when the group's frame was destroyed without finishing (a task abandoned at loop
    // close): stop listening to the children.
    while (list_hook* h = children_.pop_front()) {
        child_entry* e = child_entry::from_group_hook(h);
        if (e->linked()) future_state_base::remove_waiter(e);
        e->task->release();
        delete e;
    }
    intrusive_list::unlink(&live_hook_);
    parent_->release();
}

void task_group_state::check_can_add() const {
    if (exiting_ && n_children_ == 0) throw std::runtime_error("TaskGroup is finished");
    if (aborting_) throw std::runtime_error("TaskGroup is shutting down");
}

void task_group_state::adopt(task_core* child) {
    auto* e = new child_entry;
    e->group = this;
    e->task = child;
    e->group_hook.entry = e;
    e->on_done = &on_child_done;
    child->add_ref();
    children_.push_back(&e->group_hook);
    ++n_children_;
    child->add_waiter(e);
}

void task_group_state::children_of(std::vector<const task_core*>& out) const {
    for (const list_hook* h = children_.cbegin(); h != children_.cend(); h = h->next)
        out.push_back(child_entry::from_group_hook(const_cast<list_hook*>(h))->task);
}

void task_group_state::abort() noexcept {
    aborting_ = true;
    for (list_hook* h = children_.begin(); h != children_.end();) {
        list_hook* next = h->next;  // cancel() never completes a task inline, but stay safe
        task_core* t = child_entry::from_group_hook(h)->task;
        if (!t->done()) {
            try {
                t->cancel();
            } catch (...) {
                loop_->report_callback_error("TaskGroup: cancelling a child failed",
                                             std::current_exception());
            }
        }
        h = next;
    }
}

void task_group_state::cancel() {
    if (exiting_ && n_children_ == 0) return;  // finished: nothing to do
    if (aborting_) return;
    abort();
    if (!parent_cancel_requested_) {
        parent_cancel_requested_ = true;
        parent_->cancel();
    }
}

void task_group_state::on_child_done(waiter* w) noexcept {
    auto* e = static_cast<child_entry*>(w);
    task_group_state* g = e->group;
    task_core* t = e->task;
    intrusive_list::unlink(&e->group_hook);
    --g->n_children_;
    delete e;
    if (g->n_children_ == 0 && g->exit_waiter_) g->exit_waiter_->wake();

    if (!t->cancelled() && t->exception) {
        std::exception_ptr err = t->exception;
        t->log_exception = false;  // the group hands it on
        try {
            g->errors_.push_back(err);
        } catch (...) {
            g->loop_->report_callback_error("TaskGroup: cannot record a child's error", err);
        }
        if (!g->base_error_ && is_base_error(err)) g->base_error_ = err;
        if (!g->aborting_ && !g->parent_cancel_requested_) {
            // Abort what the body runs now; the group's own cancel is taken back at the exit.
            g->abort();
            g->parent_cancel_requested_ = true;
            try {
                g->parent_->cancel();
            } catch (...) {
            }
        }
    }
    t->release();
}

coro<void> task_group_state::exit(std::exception_ptr body_error) {
    exiting_ = true;
    if (body_error) {
        if (is_cancellation(body_error)) {
            try {
                std::rethrow_exception(body_error);
            } catch (const cancelled_error& c) {
                propagate_cancel_ = c.message();
            }
        } else if (!base_error_ && is_base_error(body_error)) {
            base_error_ = body_error;
        } else {
            // Recorded when it happened: the errors come in the order of failure.
            errors_.push_back(body_error);
        }
        if (!aborting_) abort();
    }

    co_await exit_awaiter(this);  // absorbs cancellations until every child is done

    if (base_error_) {
        // The base error propagates alone: report the other errors rather than losing them
        // (gh-135736).
        for (const std::exception_ptr& e : errors_)
            if (e != base_error_)
                loop_->report_callback_error(
                    "TaskGroup task exception was not propagated because the TaskGroup is being closed "
                    "with a keyboard_interrupt",
                    e);
        std::rethrow_exception(base_error_);
    }

    if (parent_cancel_requested_) {
        // The group cancelled its parent itself: take that request back (gh-95289).
        if (parent_->uncancel() == 0)
            propagate_cancel_.reset();
        else if (!propagate_cancel_)
            propagate_cancel_ = pending_cancel_;  // the remaining one is not ours (gh-155433)
    }

    if (propagate_cancel_ && errors_.empty()) throw cancelled_error(*propagate_cancel_);

    if (!errors_.empty()) {
        // An outside cancel stays pending: the errors win now, the cancellation is delivered at
        // the next co_await (gh-116720), with the count unchanged.
        if (parent_->cancelling() > 0) {
            parent_->uncancel();
            parent_->cancel(propagate_cancel_.value_or(std::string()));
        }
        std::vector<std::exception_ptr> errors = std::move(errors_);
        errors_.clear();
        throw exception_group("unhandled errors in a TaskGroup", std::move(errors));
    }
}

}  // namespace asyncio::detail
