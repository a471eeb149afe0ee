// The shared state behind future<T> and task<T>: intrusively reference-counted, owned by the
// handles and (while a task is pending) by the loop. Loop thread only.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "../errors.hpp"
#include "frame_allocator.hpp"
#include "intrusive.hpp"
#include "loop_core.hpp"

namespace asyncio::detail {

template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Registered with a future; `on_done` is called once when the future completes (inline, so it
/// must only do bookkeeping and schedule: user code runs from the ready queue).
struct waiter : list_hook {
    void (*on_done)(waiter*) = nullptr;
};

enum class fstate : std::uint8_t { pending, done, cancelled };

struct future_state_base {
    explicit future_state_base(loop_core* l) : loop(l) {
        l->check_open();
        registry.owner = this;
        l->register_future(&registry);
    }
    future_state_base(const future_state_base&) = delete;
    future_state_base& operator=(const future_state_base&) = delete;
    virtual ~future_state_base() {
        if (log_exception) {
            if (loop)
                loop->report_unretrieved(this, exception);
            else
                report_orphan_exception(this, exception);  // its loop is gone: to stderr
        }
        if (loop) loop->unregister_future(&registry);
    }
    /// Where the value lives (a std::optional<stored_t<T>>).
    virtual void* value_storage() noexcept = 0;

    void add_ref() noexcept { ++refs; }
    void release() noexcept {
        if (--refs == 0) delete this;
    }

    bool done() const noexcept { return state != fstate::pending; }
    bool cancelled() const noexcept { return state == fstate::cancelled; }

    /// A plain future's cancel (a task overrides it through task_core::cancel).
    bool cancel_future(std::string msg) {
        if (state != fstate::pending) return false;
        exception = std::make_exception_ptr(cancelled_error(std::move(msg)));
        state = fstate::cancelled;
        fire();
        return true;
    }
    void set_exception_value(std::exception_ptr e) {
        exception = std::move(e);
        state = fstate::done;
        log_exception = true;
        fire();
    }
    void ensure_pending(const char* what) const {
        if (state != fstate::pending)
            throw invalid_state_error(std::string(what) + ": future is already done");
    }
    void ensure_loop() const {
        if (!loop) throw std::runtime_error("the future's event loop is gone");
    }
    /// Rethrows a stored exception (cancellation included); marks it retrieved.
    void rethrow_if_failed() {
        if (state == fstate::pending) throw invalid_state_error("result is not set");
        if (exception) {
            log_exception = false;
            std::rethrow_exception(exception);
        }
    }

    void add_waiter(waiter* w) noexcept { waiters.push_back(w); }
    static void remove_waiter(waiter* w) noexcept { intrusive_list::unlink(w); }

    /// Completion: every waiter is told once, in registration order.
    void fire() noexcept {
        add_ref();  // a waiter may drop the last handle
        while (list_hook* h = waiters.pop_front()) {
            auto* w = static_cast<waiter*>(h);
            w->on_done(w);
        }
        release();
    }

    struct registry_hook : list_hook {
        future_state_base* owner = nullptr;
    };
    registry_hook registry;  // in the loop's list of live futures
    loop_core* loop;
    std::uint32_t refs = 0;
    fstate state = fstate::pending;
    bool is_task = false;
    bool log_exception = false;  // failed, and nobody has looked at the exception yet
    std::exception_ptr exception;
    intrusive_list waiters;
};

template <class T>
struct future_state final : future_state_base {
    using future_state_base::future_state_base;
    void* value_storage() noexcept override { return &value; }
    std::optional<stored_t<T>> value;
    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }
};

}  // namespace asyncio::detail
