// Waiting for an fd inside a task: the per-fd state the loop keeps for the fds that tasks wait on
// (sockets and the int-fd sock_* operations), and the leaf a task parks at until the poller
// reports the fd ready. Library internals: sockets, streams, servers and subprocess pipes build on
// this; users call event_loop::sock_* (and, later, the streams).
//
// The readiness model is epoll's edge-triggered one: the operation tries its syscall first and
// waits only when the kernel said EAGAIN; the poller reports each new edge (data arrived, buffer
// space freed, hang-up, error) once, and the loop wakes the waiting task, which retries the
// syscall. `readable`/`writable` remember, between waits, whether an EAGAIN was seen since the
// last edge: an operation that knows the fd is not ready waits at once instead of making a
// syscall that is sure to fail.
#pragma once

#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "task_core.hpp"

namespace asyncio::detail {

struct io_wait;

/// One result of a completion-based operation (io_uring's multishot receive or accept), waiting
/// to be consumed: received bytes in a provided buffer of the loop's poller, or an accepted fd.
struct rx_item {
    std::int32_t value;    // recv: the bytes left in the buffer; accept: the fd
    std::uint32_t offset;  // recv: where they start in the buffer
    std::uint16_t buffer;  // recv: the provided buffer (given back once consumed)
};

/// The FIFO of rx_items of one fd: a ring that grows by doubling and keeps its block (the loop
/// caps how many items an fd holds, so it stays small).
class rx_queue {
  public:
    rx_queue() noexcept = default;
    rx_queue(const rx_queue&) = delete;
    rx_queue& operator=(const rx_queue&) = delete;
    ~rx_queue() { std::free(items_); }

    bool empty() const noexcept { return size_ == 0; }
    std::uint32_t size() const noexcept { return size_; }
    rx_item& front() noexcept { return items_[head_]; }
    const rx_item& at(std::uint32_t i) const noexcept { return items_[(head_ + i) & (cap_ - 1)]; }
    void pop() noexcept {
        head_ = (head_ + 1) & (cap_ - 1);
        --size_;
    }
    /// Appends `it`; std::terminate when no memory is left (the kernel took the bytes already:
    /// there is no way to give them back).
    void push(const rx_item& it) noexcept {
        if (size_ == cap_) grow();
        items_[(head_ + size_) & (cap_ - 1)] = it;
        ++size_;
    }

  private:
    void grow() noexcept {
        std::uint32_t cap = cap_ ? cap_ * 2 : 8;
        auto* p = static_cast<rx_item*>(std::malloc(sizeof(rx_item) * cap));
        if (!p) std::terminate();
        for (std::uint32_t i = 0; i < size_; ++i) p[i] = at(i);
        std::free(items_);
        items_ = p;
        cap_ = cap;
        head_ = 0;
    }
    rx_item* items_ = nullptr;
    std::uint32_t cap_ = 0;  // a power of two
    std::uint32_t head_ = 0;
    std::uint32_t size_ = 0;
};

/// What the loop knows about one fd that tasks wait on. Owned by the loop's fd table while an
/// operation or a net::socket holds a reference; outlives the loop when a socket still holds it
/// (then `loop` is null). Loop thread only.
struct fd_state {
    int fd = -1;
    std::uint32_t generation = 0;  // tells a reused fd number apart in poll events
    std::uint32_t refs = 0;        // the net::socket that owns the fd, and each operation in flight
    io_wait* reader = nullptr;     // the task waiting for the fd to be readable (one at most)
    io_wait* writer = nullptr;     // ... writable
    loop_core* loop = nullptr;     // null once detached: its socket was closed, or the loop closed
    bool readable = true;          // false after an EAGAIN on reading, until the next edge
    bool writable = true;          // false after an EAGAIN on writing, until the next edge
    bool registered = false;       // with the poller (edge-triggered, once for the fd's life)
    bool owned = false;            // a net::socket holds it: registered until the socket closes

    // Completion-based receive or accept (io_uring, event_loop::io_start_recv/io_start_accept):
    // the kernel's multishot request reads for us. What it produced waits in `rx`, in order,
    // then the end it reported (`rx_eof`, `rx_error`). While it runs (`rx_running`) the fd must
    // not be read directly (bytes would come out of order); once it ended and `rx` is empty, the
    // operation reads directly again and, on EAGAIN, starts it again.
    rx_queue rx;
    std::int32_t rx_error = 0;       // after the items: an errno to report (once)
    bool rx_eof = false;             // after the items: EOF (receive)
    bool rx_used = false;            // a request was started once: look at `rx` first
    bool rx_running = false;         // a request runs in the kernel (until its last event)
    bool rx_stopping = false;        // ... and the loop cancelled it (`rx` reached its cap)
    bool rx_accepts = false;         // the items are accepted fds, not received bytes
    signed char stream_socket = -1;  // SOCK_STREAM (1) or not (0); -1: not asked yet

    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }
};

enum class io_direction : unsigned char { read, write };

/// The leaf: a task waits at it until the fd becomes ready in one direction (or the task is
/// cancelled). One reader and one writer per fd at a time: a second one is a std::runtime_error
/// (Python's selector loop would silently replace the first waiter, which then hangs).
/// Cancellation: unregisters the interest and wakes the task, which throws cancelled_error;
/// nothing was read or written by the wait itself.
struct io_wait : wait_point {
    io_wait(fd_state* s, io_direction d) noexcept : st(s), dir(d) {}
    // GCC moves an awaiter returned by value before using it: only ever before it is linked.
    io_wait(io_wait&& o) noexcept : wait_point(), st(o.st), dir(o.dir) {}
    io_wait& operator=(io_wait&&) = delete;
    ~io_wait() { unlink(); }

    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task = h.promise().task;
        io_wait*& s = slot();
        if (s) throw std::runtime_error(busy_message());
        s = this;
        linked = true;
        ops = &ops_;
        task->loop->io_wait_started();
        task->suspend_at(this);
    }
    void await_resume() {
        if (cancelled) throw task->take_cancellation();
        task->throw_if_cancel_pending();
    }

    /// The poller reported the fd ready (or its socket is closing): the task retries.
    void ready() noexcept {
        unlink();
        task->wake();
    }

    io_wait*& slot() const noexcept { return dir == io_direction::read ? st->reader : st->writer; }
    void unlink() noexcept {
        if (!linked) return;
        linked = false;
        slot() = nullptr;
        task->loop->io_wait_ended();
    }
    std::string busy_message() const {
        return std::string("another task is already waiting for fd ") + std::to_string(st->fd) +
               (dir == io_direction::read ? " to be readable" : " to be writable");
    }
    static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
        auto* self = static_cast<io_wait*>(wp);
        self->unlink();
        self->cancelled = true;
        t->set_cancel_message(msg);
        t->wake();
        return true;
    }
    static void describe(const wait_point* wp, wait_info& info) {
        auto* self = static_cast<const io_wait*>(wp);
        info.what = (self->dir == io_direction::read ? "readable fd " : "writable fd ") +
                    std::to_string(self->st->fd);
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};

    fd_state* st;
    task_core* task = nullptr;
    io_direction dir;
    bool linked = false;
    bool cancelled = false;
};

}  // namespace asyncio::detail
