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
#include <stdexcept>
#include <string>

#include "task_core.hpp"

namespace asyncio::detail {

struct io_wait;

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
