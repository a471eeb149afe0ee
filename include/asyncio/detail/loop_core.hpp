// The part of the event loop that futures, tasks and timers need inline: the ready queue, the
// timers, the registry of live futures and the task being stepped. event_loop (the public
// class) derives from it and adds I/O, threads, signals and the exception handler.
#pragma once

#include <atomic>
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
    /// Differs for every loop the process makes. A new loop may get the address of one that was
    /// closed, and a primitive bound to the closed one must still tell them apart.
    std::uint64_t serial() const noexcept { return serial_; }

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

    /// Tasks parked on an fd (detail::io_wait): each can be woken by the outside world (a peer),
    /// so the loop neither reports a deadlock nor jumps virtual time while any waits.
    void io_wait_started() noexcept { ++io_waits_; }
    void io_wait_ended() noexcept { --io_waits_; }
    std::size_t io_waits() const noexcept { return io_waits_; }

  protected:
    ~loop_core() = default;

    ready_queue ready_;
    timer_queue timers_;
    intrusive_list futures_;
    std::size_t live_futures_ = 0;
    std::size_t io_waits_ = 0;
    task_core* current_task_ = nullptr;
    clock_kind clock_ = clock_kind::real_time;
    std::int64_t virtual_now_ = 0;
    bool closed_ = false;
    bool debug_ = false;
    std::thread::id thread_ = std::this_thread::get_id();

  private:
    const std::uint64_t serial_ = next_serial();
    static std::uint64_t next_serial() noexcept {
        static std::atomic<std::uint64_t> n{0};
        return n.fetch_add(1, std::memory_order_relaxed) + 1;
    }
};

// --- debug mode: coroutine frames that are never started (never-awaited reports) ------------
/// The number of event loops in the process that are in debug mode. While it is 0, creating or
/// destroying a coro costs a load of this and a not-taken branch (frames carry nothing extra).
inline std::atomic<int> debug_loop_count{0};

/// Where a coroutine was defined, as the promise's constructor sees it (its default arguments
/// are evaluated in the coroutine's own code). `explicit`: a coroutine parameter never converts
/// to it (the compiler first tries the promise constructor with the coroutine's arguments).
struct coro_origin {
    explicit coro_origin(const char* fn = __builtin_FUNCTION(), const char* f = __builtin_FILE(),
                         unsigned l = __builtin_LINE()) noexcept
        : function(fn), file(f), line(l) {}
    const char* function;
    const char* file;
    unsigned line;
};
/// Records a frame created while the running loop is in debug mode (a side table, keyed by the
/// promise's address, holding the origin and the loop). Out of line: debug mode only.
void note_coro_created(const void* promise, const coro_origin& origin) noexcept;
/// Forgets the frame; one never `started` is reported to its loop's exception handler.
void note_coro_destroyed(const void* promise, bool started) noexcept;

/// Reports a failed future or task whose exception nobody retrieved and whose loop is gone (its
/// handle outlived the loop): written to stderr, as the loop's handler is gone with it.
void report_orphan_exception(future_state_base* f, std::exception_ptr e) noexcept;

/// The loop running on this thread, or nullptr.
loop_core* running_loop_core() noexcept;
/// The running loop; throws std::runtime_error("no running event loop") when there is none.
loop_core& require_running_loop();

}  // namespace asyncio::detail
