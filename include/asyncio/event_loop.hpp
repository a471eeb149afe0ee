// asyncio::event_loop: one thread running many tasks that wait on timers, I/O and each other.
// Python: asyncio.AbstractEventLoop (asyncio.new_event_loop()).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "any_task.hpp"
#include "coro.hpp"
#include "detail/loop_core.hpp"
#include "detail/mpsc_queue.hpp"
#include "detail/unique_function.hpp"
#include "executor.hpp"
#include "future.hpp"
#include "task.hpp"

namespace asyncio {

/// Which kernel interface waits for I/O. `automatic` (the default; ASYNCIO_BACKEND=epoll|io_uring
/// chooses when the option is left at it) is io_uring when the kernel has it and allows it (Linux
/// 5.13 or later, not blocked by seccomp or kernel.io_uring_disabled, a build with liburing), else
/// epoll with one line on stderr per process. Asking for io_uring explicitly when it is
/// unavailable throws std::runtime_error naming the reason. ASYNCIO_IO_URING_DISABLE=1 makes it
/// unavailable (for tests of the fallback). event_loop::backend() says which one runs.
enum class backend { automatic, epoll, io_uring };

struct loop_options {
    std::optional<bool> debug;  // unset: ASYNCIO_DEBUG=1 decides
    asyncio::backend backend = backend::automatic;
    clock_kind clock = clock_kind::real_time;
};

/// What the exception handler is told (Python: the context dict).
struct exception_context {
    std::string message;
    std::exception_ptr exception;  // may be null
    any_task task;                 // may be empty
};

class event_loop;

namespace net {
class address;
class socket;
}  // namespace net

namespace detail {
struct fd_state;

// A callback in the ready queue (call_soon, call_later, add_reader...). Reference-counted by
// the loop (while it may still run) and by its handle.
struct callback_node final : ready_node {
    template <class F>
    explicit callback_node(F&& f) : fn(std::forward<F>(f)) {
        run = &run_callback;
        discard = &discard_callback;
    }
    static void run_callback(ready_node* n) noexcept;
    static void discard_callback(ready_node* n) noexcept;
    /// Stops a watcher (fd or signal) for good; frees it now unless it is queued or running.
    void retire() noexcept {
        cancelled = true;
        persistent = false;
        if (!queued && !running) release();
    }
    void add_ref() noexcept { ++refs; }
    void release() noexcept {
        if (--refs == 0) delete this;
    }
    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }

    unique_function<void()> fn;
    loop_core* loop = nullptr;
    timer_id timer;
    std::int64_t when = 0;
    std::uint32_t refs = 1;  // the loop's
    bool cancelled = false;
    bool persistent = false;  // an fd or signal watcher: the loop keeps it between runs
    bool running = false;
};
}  // namespace detail

/// Returned by call_soon: cancel() stops a callback that has not run yet. Python: asyncio.Handle.
class handle {
  public:
    handle() noexcept = default;
    explicit handle(detail::callback_node* n) noexcept : n_(n) {
        if (n_) n_->add_ref();
    }
    handle(const handle& o) noexcept : handle(o.n_) {}
    handle(handle&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
    handle& operator=(handle o) noexcept {
        std::swap(n_, o.n_);
        return *this;
    }
    ~handle() {
        if (n_) n_->release();
    }
    void cancel() noexcept;
    bool cancelled() const noexcept { return n_ && n_->cancelled; }
    explicit operator bool() const noexcept { return n_ != nullptr; }

  protected:
    detail::callback_node* n_ = nullptr;
};

/// Returned by call_later/call_at. Python: asyncio.TimerHandle.
class timer_handle : public handle {
  public:
    using handle::handle;
    clock::time_point when() const noexcept {
        return clock::time_point(
            std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(n_ ? n_->when : 0)));
    }
};

class event_loop;

/// Keeps a loop from declaring a deadlock while held (see event_loop::keep_alive). Move-only;
/// may be released on any thread, but before the loop is closed.
class keep_alive_token {
  public:
    keep_alive_token() noexcept = default;
    keep_alive_token(keep_alive_token&& o) noexcept : loop_(std::exchange(o.loop_, nullptr)) {}
    keep_alive_token& operator=(keep_alive_token&& o) noexcept {
        if (this != &o) {
            reset();
            loop_ = std::exchange(o.loop_, nullptr);
        }
        return *this;
    }
    ~keep_alive_token() { reset(); }
    inline void reset() noexcept;
    explicit operator bool() const noexcept { return loop_ != nullptr; }

  private:
    friend class event_loop;
    explicit keep_alive_token(event_loop* l) noexcept : loop_(l) {}
    event_loop* loop_ = nullptr;
};

class event_loop final : public detail::loop_core {
  public:
    explicit event_loop(loop_options opts = {});
    ~event_loop();

    // --- running --------------------------------------------------------------------------
    /// Runs until `aw` (a coro, task or future) is done; returns its result or rethrows.
    /// Throws std::runtime_error if this loop already runs, or another loop runs on this thread.
    template <class A>
    auto run_until_complete(A aw) {
        if constexpr (is_coro<A>::value) {
            return run_until_complete(create_task(std::move(aw)));
        } else {
            if (aw.state_ptr()->loop != this)
                throw std::runtime_error("run_until_complete: the future belongs to a different event loop");
            run_until_done(aw.state_ptr());
            return detail::take_result<typename A::value_type>(aw);
        }
    }
    /// Runs until `f` is done (the untyped core of run_until_complete).
    void run_until_done(detail::future_state_base* f);
    /// Runs until stop() is called.
    void run_forever();
    /// The loop finishes the current iteration, then run_forever returns.
    void stop() noexcept { stopping_ = true; }
    /// Frees the loop's resources; pending tasks are destroyed. Throws if the loop runs.
    void close();
    bool is_running() const noexcept { return running_; }
    /// The backend this loop runs on: backend::epoll or backend::io_uring, never `automatic`
    /// (which picks io_uring when the kernel allows it, else epoll).
    asyncio::backend backend() const noexcept;
    /// The loop's clock (steady_clock, or virtual time).
    clock::time_point time() const noexcept {
        return clock::time_point(
            std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(now_ns())));
    }

    // --- callbacks ------------------------------------------------------------------------
    /// Runs `fn` from the ready queue, after the callbacks already there. Python: loop.call_soon.
    template <class F>
    handle call_soon(F&& fn) {
        check_open();
        auto* n = new detail::callback_node(std::forward<F>(fn));
        n->loop = this;
        schedule(n);
        return handle(n);
    }
    /// Runs `fn` after `delay` (a negative delay is 0). Python: loop.call_later.
    template <class Rep, class Period, class F>
    timer_handle call_later(std::chrono::duration<Rep, Period> delay, F&& fn) {
        return call_at_ns(now_ns() + clamp_ns(delay), std::forward<F>(fn));
    }
    /// Runs `fn` at `when` on the loop's clock. Python: loop.call_at.
    template <class F>
    timer_handle call_at(clock::time_point when, F&& fn) {
        return call_at_ns(
            std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count(),
            std::forward<F>(fn));
    }
    /// The one member safe to call from any thread: runs `fn` on the loop thread soon.
    /// Throws std::runtime_error if the loop is closed. Python: loop.call_soon_threadsafe.
    void call_soon_threadsafe(detail::unique_function<void()> fn);

    // --- tasks and futures ----------------------------------------------------------------
    template <class T>
    task<T> create_task(coro<T> c, std::string name = {}, const char* file = __builtin_FILE(),
                        unsigned line = __builtin_LINE()) {
        return detail::make_task(this, std::move(c), std::move(name), file, line);
    }
    template <class T = void>
    future<T> create_future() {
        return detail::make_future<T>(this);
    }

    // --- executors ------------------------------------------------------------------------
    /// Runs `fn()` on `ex` (nullptr: the default thread pool) and returns a future of its
    /// result, set on the loop thread. Cancellation: cancelling the future (or the task that
    /// awaits it) abandons the result; the call itself runs to its end on its thread.
    /// Python: loop.run_in_executor.
    template <class F>
    auto run_in_executor(executor* ex, F fn) -> future<std::invoke_result_t<F&>>;
    void set_default_executor(std::shared_ptr<executor> ex);
    /// Shuts the default executor down (without blocking the loop) and waits for its jobs.
    coro<void> shutdown_default_executor();

    // --- debug and errors -----------------------------------------------------------------
    /// Debug mode (also: loop_options/run_options `debug`, or ASYNCIO_DEBUG=1 when that is
    /// unset): slow steps are logged to debug_stream() (see slow_callback_duration), coros never
    /// awaited are reported to the exception handler (see coro). Turning it off forgets the
    /// coros it was tracking. Python: loop.set_debug.
    void set_debug(bool on) noexcept;
    using loop_core::get_debug;
    /// In debug mode, a ready callback or task step that runs longer than this (measured on the
    /// steady clock, also on virtual time) is logged to debug_stream():
    ///   asyncio: task 'NAME' step took 0.250 s (resumed at FILE:LINE, suspended at FILE:LINE)
    /// ("started" for a first step, "finished" for a last one), or
    ///   asyncio: callback took 0.250 s
    /// Python: loop.slow_callback_duration (its message is a logger warning).
    clock::duration slow_callback_duration = std::chrono::milliseconds(100);
    /// Where debug diagnostics are written, one line each, prefixed "asyncio: " (default:
    /// std::cerr; nullptr silences them). The stream must outlive its use by the loop.
    void set_debug_stream(std::ostream* os) noexcept { debug_stream_ = os; }
    /// The debug stream (a stream that discards everything when set to nullptr).
    std::ostream& debug_stream() noexcept;

    using exception_handler = std::function<void(event_loop&, const exception_context&)>;
    /// Replaces the handler (an empty function restores the default one).
    void set_exception_handler(exception_handler h) { handler_ = std::move(h); }
    const exception_handler& get_exception_handler() const noexcept { return handler_; }
    /// Prints the context to stderr.
    void default_exception_handler(const exception_context& ctx);
    /// Calls the handler (or the default); an exception escaping the handler is printed.
    void call_exception_handler(const exception_context& ctx) noexcept;

    // --- I/O readiness (Python's level-triggered add_reader/add_writer) -------------------
    /// Calls `fn` each iteration while `fd` is readable, until remove_reader. Replaces an
    /// earlier reader of `fd`. Python: loop.add_reader.
    /// An fd is watched either this way or used by the socket operations below (through a
    /// net::socket or an int fd), never both: mixing them throws std::runtime_error (the two
    /// need different registrations with the poller; Python forbids it for transports too).
    void add_reader(int fd, detail::unique_function<void()> fn);
    bool remove_reader(int fd);
    void add_writer(int fd, detail::unique_function<void()> fn);
    bool remove_writer(int fd);

    // --- sockets, low level (defined in src/net/socket.cpp; include <asyncio/net/socket.hpp>) -
    // Each takes a net::socket (registered with the poller once, edge-triggered, for the
    // socket's life: no epoll_ctl per operation) or a non-blocking int fd (registered only while
    // an operation on it waits, as Python's add_reader/remove_reader per operation: the caller
    // may close it whenever no operation on it is running; a blocking fd would block the loop,
    // and debug mode rejects it with std::invalid_argument). Every operation first tries its
    // syscall and waits only on EAGAIN. One task at a time may wait to read, and one to write,
    // on an fd: a second one gets std::runtime_error. Closing a net::socket (on the loop thread)
    // while an operation waits on it fails that operation with std::system_error(EBADF).
    // Errors are std::system_error with the errno value (generic category) and a what() naming
    // the call (and, for connect, the address). Data arguments (string_view, span) must outlive
    // the awaited coro.

    /// Receives up to `n` bytes; "" at end of stream (the peer shut down its writing side).
    /// Throws: std::system_error (ECONNRESET when the peer reset the connection).
    /// Cancellation: a cancelled receive took no data: the bytes stay in the socket for the next.
    /// Python: loop.sock_recv(sock, n).
    coro<std::string> sock_recv(net::socket& sock, std::size_t n);
    coro<std::string> sock_recv(int fd, std::size_t n);
    /// As sock_recv, into `buf`: returns the count (0 at end of stream, or for an empty `buf`).
    /// Cancellation: as sock_recv: nothing was written to `buf`. Python: loop.sock_recv_into.
    coro<std::size_t> sock_recv_into(net::socket& sock, std::span<char> buf);
    coro<std::size_t> sock_recv_into(int fd, std::span<char> buf);
    /// Sends all of `data` (MSG_NOSIGNAL: a peer that went away is EPIPE or ECONNRESET, never a
    /// SIGPIPE). Throws: std::system_error.
    /// Cancellation: a prefix of `data` may have been sent, and its length is not reported (as
    /// in Python): the peer receives exactly that prefix, never a torn byte, but the caller no
    /// longer knows where the stream stands, so it should close the socket. To know how much
    /// went out, send piecewise with sock_send. Python: loop.sock_sendall(sock, data).
    coro<void> sock_sendall(net::socket& sock, std::string_view data);
    coro<void> sock_sendall(int fd, std::string_view data);
    /// Sends what one send() takes (at least one byte unless `data` is empty; if the socket has
    /// no room, after waiting for some) and returns the count. Throws: std::system_error.
    /// Cancellation: nothing was sent. (No Python loop method: Python's sock.send on a
    /// non-blocking socket, with the wait instead of BlockingIOError.)
    coro<std::size_t> sock_send(net::socket& sock, std::string_view data);
    coro<std::size_t> sock_send(int fd, std::string_view data);
    /// Accepts a connection from a listening socket: the new socket (non-blocking, close-on-exec)
    /// and the peer's address. A connection the peer aborted before it was accepted is skipped.
    /// Throws: std::system_error; EMFILE/ENFILE (no descriptor left) at once, without waiting or
    /// retrying (as Python's sock_accept; the pending connection stays queued, and the next call
    /// takes it once descriptors are free). Servers back off before retrying.
    /// Cancellation: no connection was taken (it stays queued), no fd leaks.
    /// Python: loop.sock_accept(sock).
    coro<std::pair<net::socket, net::address>> sock_accept(net::socket& sock);
    coro<std::pair<net::socket, net::address>> sock_accept(int fd);
    /// Connects to `addr` (an address, not a host name: resolve with getaddrinfo first).
    /// Throws: std::system_error: ECONNREFUSED as soon as the peer refuses ("connect to
    /// 127.0.0.1:9: Connection refused"), EAGAIN for a Unix socket whose listener's backlog is
    /// full. Cancellation: the connection attempt is abandoned half-way: the socket is not
    /// closed (it is the caller's) but is unusable (a new connect fails with EALREADY while the
    /// kernel still tries): close it, as in Python. Python: loop.sock_connect(sock, address).
    coro<void> sock_connect(net::socket& sock, const net::address& addr);
    coro<void> sock_connect(int fd, const net::address& addr);
    /// Resolves `host` (a name or an address literal; empty: the loopback addresses) for a
    /// stream socket on `port`, on the default executor (getaddrinfo blocks), as asyncio does.
    /// `family`: AF_UNSPEC, AF_INET or AF_INET6; `flags`: AI_* flags. Returns the addresses in
    /// the resolver's order, without duplicates. A literal of the wanted family is returned at
    /// once, without a thread. Throws: std::system_error whose code() is in
    /// net::resolver_category() (the EAI_* value; what() ends with gai_strerror's text, e.g.
    /// "getaddrinfo 'x.invalid': Name or service not known"), so that `catch (std::system_error&)`
    /// catches resolver and socket failures alike, as Python's gaierror is an OSError;
    /// std::invalid_argument for a port outside 0-65535. Cancellation: the lookup runs to its end
    /// on its thread; its result is dropped. Python: loop.getaddrinfo(host, port).
    coro<std::vector<net::address>> getaddrinfo(std::string host, int port, int family = AF_UNSPEC,
                                                int flags = 0);

    // --- signals --------------------------------------------------------------------------
    /// Runs `fn` on the loop (not in signal context) each time `signo` arrives.
    /// Throws std::invalid_argument for SIGKILL/SIGSTOP or a bad number. Python: loop.add_signal_handler.
    void add_signal_handler(int signo, detail::unique_function<void()> fn);
    bool remove_signal_handler(int signo);

    // --- keep-alive -----------------------------------------------------------------------
    /// A token held by code (often another thread) that will call into the loop later, with
    /// call_soon_threadsafe: while any is held, a loop with nothing else to do waits for it
    /// instead of reporting a deadlock, and virtual time does not jump. Executors and
    /// run_coroutine_threadsafe take one for each job. libuv's uv_ref/uv_unref.
    keep_alive_token keep_alive();

    // --- library internals ----------------------------------------------------------------
    void keepalive_acquire() noexcept { keepalive_.fetch_add(1, std::memory_order_relaxed); }
    /// Thread-safe; the last release wakes the loop so that it looks again.
    void keepalive_release() noexcept;
    /// A signal handler of the library's own (asyncio::run's SIGINT, debug mode's SIGUSR1): the
    /// loop does not count it as something that could wake a waiting task.
    void add_internal_signal_handler(int signo, detail::unique_function<void()> fn);
    void report_unretrieved(detail::future_state_base* f, std::exception_ptr e) noexcept override;
    void report_callback_error(const char* message, std::exception_ptr e) noexcept override;
    executor& default_executor();
    // The fds tasks wait on (detail/io_wait.hpp): one state per fd number, reference-counted by
    // the net::socket owning the fd and by each operation in flight.
    /// The state of `fd`, or null.
    detail::fd_state* io_find(int fd) const noexcept;
    /// The state of `fd`, made if needed (not yet registered); one more reference. Throws
    /// std::runtime_error if add_reader/add_writer watch `fd`.
    detail::fd_state* io_acquire(int fd);
    /// Registers `st` with the poller (edge-triggered, for its life), once.
    void io_register(detail::fd_state* st);
    /// `st`'s fd is about to be closed: unregistered and detached; its waiters wake and fail.
    void io_forget(detail::fd_state* st) noexcept;
    /// Drops a reference; the last one unregisters and frees. On the loop's thread (any thread
    /// once the state's loop has closed).
    static void io_release(detail::fd_state* st) noexcept;
    /// The state of a socket's fd for this loop (made, and owned by the socket, on first use).
    detail::fd_state* io_attach(net::socket& sock);
    // Completion-based receive and accept (io_uring; see detail::fd_state::rx): the backend's
    // multishot request reads for the fd, and its results wait in `st->rx`.
    /// Starts the kernel's receive on a stream socket owned by a net::socket (registering it);
    /// false when it cannot (epoll, an older kernel, not a stream socket, buffers short): the
    /// caller waits for readiness as before. Call it only after the fd said EAGAIN, and only for
    /// a socket the library keeps to the end (a stream's, a server's listener): what the kernel
    /// took would be lost if the socket were release()d, so the sock_* operations never call it.
    bool io_start_recv(detail::fd_state* st);
    /// The same for a listening socket: multishot accept.
    bool io_start_accept(detail::fd_state* st);
    /// Copies up to `n` of the received bytes queued on `st` to `p` (gives emptied buffers back).
    std::size_t io_take_received(detail::fd_state* st, char* p, std::size_t n) noexcept;
    /// The bytes queued on `st`.
    static std::size_t io_received_size(const detail::fd_state* st) noexcept;
    /// Takes the first accepted fd queued on `st` (the caller owns it).
    static int io_take_accepted(detail::fd_state* st) noexcept;

    struct impl;

  private:
    template <class F>
    timer_handle call_at_ns(std::int64_t when, F&& fn) {
        check_open();
        auto* n = new detail::callback_node(std::forward<F>(fn));
        n->loop = this;
        n->when = when;
        n->timer = add_timer(when, n);
        return timer_handle(n);
    }
    template <class Rep, class Period>
    static std::int64_t clamp_ns(std::chrono::duration<Rep, Period> d) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        return ns < 0 ? 0 : ns;
    }
    void run_once();
    /// run_once's batch loop in debug mode: times each node (slow callback reports).
    void run_batch_debug(detail::ready_queue& batch) noexcept;
    void drain_inbox() noexcept;
    static std::ostream* default_debug_stream() noexcept;
    bool nothing_can_wake() const noexcept;
    void check_not_socket(int fd, const char* what) const;
    void io_drop(detail::fd_state* st) noexcept;
    void on_deadlock();

    std::unique_ptr<impl> impl_;
    exception_handler handler_;
    std::atomic<int> keepalive_{0};
    std::ostream* debug_stream_ = default_debug_stream();
    bool running_ = false;
    bool stopping_ = false;
};

inline void keep_alive_token::reset() noexcept {
    if (event_loop* l = std::exchange(loop_, nullptr)) l->keepalive_release();
}

/// The loop running on this thread; throws std::runtime_error("no running event loop").
/// Python: asyncio.get_running_loop().
event_loop& get_running_loop();

template <class F>
auto event_loop::run_in_executor(executor* ex, F fn) -> future<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    check_open();
    if (!ex) ex = &default_executor();
    future<R> fut = create_future<R>();
    detail::future_state_base* st = fut.state_ptr();
    st->add_ref();  // the job's reference; only ever touched back on the loop thread
    keepalive_acquire();
    auto job = [this, st, fn = std::move(fn)]() mutable {
        std::exception_ptr err;
        std::optional<detail::stored_t<R>> value;
        try {
            if constexpr (std::is_void_v<R>) {
                fn();
                value.emplace();
            } else {
                value.emplace(fn());
            }
        } catch (...) {
            err = std::current_exception();
        }
        // `err` is moved, not copied: the exception must not be released on this thread after
        // the hand-off (the loop thread may be using it; libstdc++'s uninstrumented refcount
        // then looks like a data race to ThreadSanitizer).
        auto deliver = [this, st, value = std::move(value), err = std::move(err)]() mutable {
            if (!st->done()) {
                if (err)
                    st->set_exception_value(err);
                else {
                    *static_cast<std::optional<detail::stored_t<R>>*>(st->value_storage()) = std::move(value);
                    st->state = detail::fstate::done;
                    st->fire();
                }
            }
            st->release();
            keepalive_release();
        };
        try {
            call_soon_threadsafe(std::move(deliver));
        } catch (const std::runtime_error&) {
            // The loop was closed meanwhile (Python logs and drops the result too). The state
            // cannot be released from this thread (its count is not atomic): it leaks.
        }
    };
    try {
        ex->submit(std::move(job));
    } catch (...) {
        st->release();
        keepalive_release();
        throw;
    }
    return fut;
}

}  // namespace asyncio
