// The FIFO of tasks waiting on a synchronisation primitive (lock, semaphore, event, condition,
// barrier, queue). Each waiter is the awaiter object in the waiting coroutine's frame: no
// allocation. What a waiter waits for is handed to it directly ("granted") when it becomes
// available, so a task arriving later cannot barge past it: FIFO-fair by construction.
//
// Cancellation: a waiter still in the queue is unlinked and its task woken with cancelled_error
// (it took nothing). A waiter already granted but not yet resumed cannot be un-granted by the
// hook; its task has a cancellation pending, and the primitive's await_resume gives back what it
// was granted (a lock, a permit, an item) before throwing cancelled_error, as Python does.
//
// A primitive destroyed while tasks wait in it (a bug in the program: Python cannot get there)
// orphans its waiters: they keep waiting, but a cancellation still wakes them (so asyncio::run's
// final cancel-all does not hang), and their await_resume must then not touch the primitive.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "task_core.hpp"

namespace asyncio::detail {

class waiter_queue;

struct sync_waiter : wait_point, list_hook {
    sync_waiter() noexcept { ops = &ops_; }
    // GCC 12 moves the awaiter an await_transform returns; that happens before it is linked,
    // so a move starts a fresh, unlinked waiter.
    sync_waiter(sync_waiter&&) noexcept : sync_waiter() {}
    sync_waiter& operator=(const sync_waiter&) = delete;
    // A frame destroyed while waiting (a task abandoned at loop close) must not leave a dangling
    // entry in the primitive's queue.
    inline ~sync_waiter();

    /// True when a cancellation arrived after the grant: the caller gives back what it got.
    bool cancel_pending_after_grant() const noexcept { return granted && task && task->must_cancel; }

    task_core* task = nullptr;
    waiter_queue* queue = nullptr;  // while linked
    bool granted = false;           // handed what it waited for (woken by the primitive)
    bool cancelled = false;         // taken out by a cancellation (woken by the hook)
    bool orphaned = false;          // its primitive was destroyed while it waited: do not touch it

  private:
    inline static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg);
    inline static void describe(const wait_point* wp, wait_info& info);
    static constexpr wait_ops ops_{&on_cancel, &describe};
};

class waiter_queue {
  public:
    waiter_queue() noexcept = default;
    waiter_queue(const waiter_queue&) = delete;
    waiter_queue& operator=(const waiter_queue&) = delete;
    /// A primitive destroyed with tasks still waiting leaves them waiting (until cancelled):
    /// they no longer point at it.
    ~waiter_queue() {
        while (auto* w = pop_front()) w->orphaned = true;
    }

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    /// Links `w` at the back and parks its task (from an await_suspend). `who` names the
    /// primitive in the error when it is bound to another loop.
    template <class P>
    void suspend(std::coroutine_handle<P> h, sync_waiter* w, const char* who) {
        task_core* t = h.promise().task;
        bind(t->loop, who);
        who_ = who;
        w->task = t;
        w->queue = this;
        list_.push_back(w);
        ++size_;
        t->suspend_at(w);  // a cancellation already pending takes it out again at once
    }

    sync_waiter* front() noexcept { return static_cast<sync_waiter*>(list_.front()); }
    sync_waiter* pop_front() noexcept {
        auto* w = static_cast<sync_waiter*>(list_.pop_front());
        if (w) {
            --size_;
            w->queue = nullptr;
        }
        return w;
    }
    void remove(sync_waiter* w) noexcept {
        if (!w->linked()) return;
        intrusive_list::unlink(w);
        --size_;
        w->queue = nullptr;
    }
    /// Hands `w` what it waited for and wakes its task (through the ready queue).
    static void grant(sync_waiter* w) noexcept {
        w->granted = true;
        w->task->wake();
    }
    /// Pops and grants the first waiter; false when there is none.
    bool grant_first() noexcept {
        sync_waiter* w = pop_front();
        if (!w) return false;
        grant(w);
        return true;
    }

    /// Python 3.10+: a primitive binds to the loop it is first used on.
    void bind(loop_core* l, const char* who) {
        // By serial, not address: a later loop may be built where a closed one was.
        if (loop_serial_ == l->serial()) [[likely]]
            return;
        bind_first(l->serial(), who);
    }

    /// Iteration for statistics and debug output (front to back).
    template <class F>
    void for_each(F&& f) {
        for (list_hook* h = list_.begin(); h != list_.end(); h = h->next) f(static_cast<sync_waiter*>(h));
    }

    /// A primitive with an owner (a lock) names it: deadlock reports follow it.
    void set_owner_slot(task_core* const* slot) noexcept { owner_slot_ = slot; }
    const char* who() const noexcept { return who_; }
    const task_core* owner() const noexcept { return owner_slot_ ? *owner_slot_ : nullptr; }

  private:
    // Off the hot path (every contended wait binds): the first use, or the error.
    [[gnu::noinline, gnu::cold]] void bind_first(std::uint64_t serial, const char* who) {
        if (loop_serial_ != 0)
            throw std::runtime_error(std::string(who) + " is bound to a different event loop");
        loop_serial_ = serial;
    }

    intrusive_list list_;
    std::size_t size_ = 0;
    std::uint64_t loop_serial_ = 0;  // 0: not bound yet
    const char* who_ = "a primitive";
    task_core* const* owner_slot_ = nullptr;
};

inline sync_waiter::~sync_waiter() {
    if (queue) queue->remove(this);
}

inline bool sync_waiter::on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
    auto* w = static_cast<sync_waiter*>(wp);
    if (w->queue)
        w->queue->remove(w);
    else if (!w->orphaned)
        return false;  // granted already: the primitive's await_resume handles it
    w->cancelled = true;
    t->set_cancel_message(msg);
    t->wake();
    return true;
}

inline void sync_waiter::describe(const wait_point* wp, wait_info& info) {
    auto* w = static_cast<const sync_waiter*>(wp);
    if (!w->queue) {
        info.what = "a primitive that was handed over";
        return;
    }
    info.what = std::string(w->queue->who()) + " " + describe_address(w->queue);
    info.holder = w->queue->owner();
}

}  // namespace asyncio::detail
