// The leaf that gather, wait, wait_for and as_completed suspend on: a task waits for a set of
// children (futures or tasks) until a condition holds, an optional deadline passes, or it is
// cancelled. What a cancellation does is the caller's choice: cancel the children and keep
// waiting until all are done (gather, wait_for), or stop waiting at once (wait).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "task_core.hpp"

namespace asyncio::detail {

class child_wait : public wait_point {
  public:
    enum class until { all_done, first_done, first_exception, first_failure_cancels_rest };
    enum class on_cancel_do { cancel_children_and_wait, stop_waiting };

    child_wait(std::size_t n, until u, on_cancel_do oc)
        : children_(new child[n]), n_(n), until_(u), on_cancel_(oc) {}
    child_wait(const child_wait&) = delete;
    child_wait& operator=(const child_wait&) = delete;
    ~child_wait() {
        detach_all();
        disarm_timer();
    }

    void set_child(std::size_t i, future_state_base* st) noexcept {
        children_[i].st = st;
        children_[i].owner = this;
        children_[i].on_done = &on_child_done;
    }
    /// Wake up at `deadline_ns` on the loop's clock at the latest.
    void set_deadline(std::int64_t deadline_ns) noexcept {
        deadline_ = deadline_ns;
        has_deadline_ = true;
    }

    bool await_ready() const noexcept { return n_ == 0; }
    // One pass over the children (with a million children each one is a cache miss): note the
    // ones already done, listen to the others.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task_ = h.promise().task;
        loop_ = task_->loop;
        bool stop_early = false;
        for (std::size_t i = 0; i < n_; ++i) {
            future_state_base* st = children_[i].st;
            if (st->done()) {
                if (!note_done(st)) stop_early = true;
            } else {
                ++pending_;
                st->add_waiter(&children_[i]);
            }
        }
        if (first_error_ && until_ == until::first_failure_cancels_rest) cancel_children({});
        if (stop_early || satisfied()) {
            detach_if_stopping();
            return false;
        }
        if (has_deadline_) {
            if (deadline_ <= loop_->now_ns()) {
                timed_out_ = true;
                detach_if_stopping();
                return false;
            }
            timer_node_.owner = this;
            timer_node_.run = &on_timer;
            timer_node_.fire_inline = true;
            timer_ = loop_->add_timer(deadline_, &timer_node_);
        }
        ops = &ops_;
        suspended_ = true;
        task_->suspend_at(this);
        return true;
    }
    void await_resume() noexcept {
        suspended_ = false;
        disarm_timer();
    }

    /// After an outside cancel: throws cancelled_error (or what the loop injected instead).
    [[noreturn]] void throw_outer_cancel() const {
        task_->rethrow_injected();
        throw cancelled_error(cancel_msg_);
    }

    bool timed_out() const noexcept { return timed_out_; }
    bool outer_cancelled() const noexcept { return outer_cancelled_; }
    const std::string& cancel_message() const noexcept { return cancel_msg_; }
    /// The first child that failed (a cancelled child counts), for gather.
    std::exception_ptr first_error() const noexcept { return first_error_; }
    std::size_t pending() const noexcept { return pending_; }

    /// Cancels every child not yet done (their completion is still waited for).
    void cancel_children(const std::string& msg) {
        for (std::size_t i = 0; i < n_; ++i) {
            future_state_base* st = children_[i].st;
            if (st->done()) continue;
            if (st->is_task)
                static_cast<task_core*>(st)->cancel(msg);
            else
                st->cancel_future(msg);
        }
    }

  private:
    struct child : waiter {
        child_wait* owner = nullptr;
        future_state_base* st = nullptr;
    };
    struct timer_target : ready_node {
        child_wait* owner = nullptr;
    };

    // Returns false when the wait is over because of this child (first_done etc.).
    bool note_done(future_state_base* st) {
        bool failed = st->state == fstate::cancelled || st->exception;
        if (failed && !first_error_) first_error_ = st->exception;
        if (until_ == until::first_done) return false;
        if (until_ == until::first_exception && st->state == fstate::done && st->exception) {
            first_exception_seen_ = true;
            return false;
        }
        return true;
    }
    bool satisfied() const noexcept {
        if (pending_ == 0) return true;
        if (outer_cancelled_) return on_cancel_ == on_cancel_do::stop_waiting;
        switch (until_) {
            case until::all_done:
            case until::first_failure_cancels_rest:
                return false;
            case until::first_done:
                return pending_ < n_;
            case until::first_exception:
                return first_exception_seen_;
        }
        return false;
    }
    static void on_child_done(waiter* w) noexcept {
        auto* c = static_cast<child*>(w);
        child_wait* self = c->owner;
        --self->pending_;
        future_state_base* st = c->st;
        bool failed = st->state == fstate::cancelled || st->exception;
        if (failed && !self->first_error_) {
            self->first_error_ = st->exception;
            if (self->until_ == until::first_failure_cancels_rest && !self->outer_cancelled_) {
                try {
                    self->cancel_children({});
                } catch (...) {
                }
            }
        }
        if (self->until_ == until::first_exception && st->state == fstate::done && st->exception)
            self->first_exception_seen_ = true;
        self->maybe_wake();
    }
    static void on_timer(ready_node* n) noexcept {
        child_wait* self = static_cast<timer_target*>(n)->owner;
        self->timer_ = {};
        self->timed_out_ = true;
        self->finish_wait();
    }
    static bool on_outer_cancel(wait_point* wp, task_core*, const std::string& msg) {
        auto* self = static_cast<child_wait*>(wp);
        self->outer_cancelled_ = true;
        self->cancel_msg_ = msg;
        if (self->on_cancel_ == on_cancel_do::cancel_children_and_wait) self->cancel_children(msg);
        self->maybe_wake();
        return true;
    }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const child_wait*>(wp);
        info.what =
            "children (" + std::to_string(self->pending_) + " of " + std::to_string(self->n_) + " pending)";
        for (std::size_t i = 0; i < self->n_; ++i) {
            const future_state_base* st = self->children_[i].st;
            if (!st->done() && st->is_task) info.awaits.push_back(static_cast<const task_core*>(st));
        }
    }
    static constexpr wait_ops ops_{&on_outer_cancel, &describe};

    void maybe_wake() noexcept {
        if (suspended_ && !woken_ && satisfied()) finish_wait();
    }
    void finish_wait() noexcept {
        if (!suspended_ || woken_) return;
        woken_ = true;
        disarm_timer();
        detach_if_stopping();
        task_->wake();
    }
    void detach_if_stopping() noexcept {
        // Waits that end before every child is done stop listening to the rest.
        if (pending_ != 0) detach_all();
    }
    void detach_all() noexcept {
        for (std::size_t i = 0; i < n_; ++i)
            if (children_[i].linked()) future_state_base::remove_waiter(&children_[i]);
    }
    void disarm_timer() noexcept {
        if (timer_) {
            loop_->cancel_timer(timer_);
            timer_ = {};
        }
    }

    std::unique_ptr<child[]> children_;
    std::size_t n_;
    std::size_t pending_ = 0;
    until until_;
    on_cancel_do on_cancel_;
    task_core* task_ = nullptr;
    loop_core* loop_ = nullptr;
    std::exception_ptr first_error_;
    std::string cancel_msg_;
    timer_target timer_node_;
    timer_id timer_;
    std::int64_t deadline_ = 0;
    bool has_deadline_ = false;
    bool suspended_ = false;
    bool woken_ = false;
    bool timed_out_ = false;
    bool outer_cancelled_ = false;
    bool first_exception_seen_ = false;
};

}  // namespace asyncio::detail
