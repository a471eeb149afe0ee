// The part of the event loop that futures, tasks and timers need inline: the ready queue, the
// timers, the registry of live futures and the task being stepped. event_loop (the public
// class) derives from it and adds I/O, threads, signals and the exception handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <thread>

#include "intrusive.hpp"
#include "timer_queue.hpp"

namespace asyncio {
using clock = std::chrono::steady_clock;
enum class clock_kind { real_time, virtual_time };
}  // namespace asyncio

namespace asyncio::detail {

class task_core;
struct future_state_base;

class loop_core {
  public:
    loop_core() = default;
    loop_core(const loop_core&) = delete;
    loop_core& operator=(const loop_core&) = delete;

    /// Puts `n` at the end of the ready queue unless it is queued already. Loop thread only.
    void schedule(ready_node* n) noexcept {
        if (n->queued) return;
        n->queued = true;
        ready_.push(n);
    }

    /// Nanoseconds on the loop's clock (steady_clock, or virtual time).
    std::int64_t now_ns() const noexcept {
        if (clock_ == clock_kind::virtual_time) return virtual_now_;
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
    }

    timer_id add_timer(std::int64_t when_ns, ready_node* target) { return timers_.schedule(when_ns, target); }
    bool cancel_timer(timer_id id) noexcept { return timers_.cancel(id); }

    void check_open() const {
        if (closed_) throw std::runtime_error("Event loop is closed");
    }
    bool is_closed() const noexcept { return closed_; }
    bool get_debug() const noexcept { return debug_; }

    task_core* current_task() const noexcept { return current_task_; }
    void set_current_task(task_core* t) noexcept { current_task_ = t; }

    void register_future(list_hook* h) noexcept {
        futures_.push_back(h);
        ++live_futures_;
    }
    void unregister_future(list_hook* h) noexcept {
        intrusive_list::unlink(h);
        --live_futures_;
    }
    intrusive_list& futures() noexcept { return futures_; }

    /// Reports a failed future or task whose exception nobody retrieved (exactly once, from its destructor).
    virtual void report_unretrieved(future_state_base* f, std::exception_ptr e) noexcept = 0;
    /// Reports an exception that escaped a callback (Python: "Exception in callback ...").
    virtual void report_callback_error(const char* message, std::exception_ptr e) noexcept = 0;

    std::thread::id thread_id() const noexcept { return thread_; }

  protected:
    ~loop_core() = default;

    ready_queue ready_;
    timer_queue timers_;
    intrusive_list futures_;
    std::size_t live_futures_ = 0;
    task_core* current_task_ = nullptr;
    clock_kind clock_ = clock_kind::real_time;
    std::int64_t virtual_now_ = 0;
    bool closed_ = false;
    bool debug_ = false;
    std::thread::id thread_ = std::this_thread::get_id();
};

/// The loop running on this thread, or nullptr.
loop_core* running_loop_core() noexcept;
/// The running loop; throws std::runtime_error("no running event loop") when there is none.
loop_core& require_running_loop();

}  // namespace asyncio::detail
