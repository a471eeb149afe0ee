// The state behind a stream_reader / stream_writer pair: one connected socket (or none: a reader
// fed by hand), the read buffer, the write buffer with its flow control, and the closing state.
// Python splits this into a transport, a protocol and the two stream objects; here it is one
// object, and the reader does its own recv() (syscall first, then a detail::io_wait on EAGAIN)
// instead of a transport callback feeding it: no task, no callback and no copy between the
// kernel and the reader's buffer. On io_uring, after the first EAGAIN the kernel's multishot
// receive reads for it (fill -> take_received: one copy from its provided buffers).
//
// Private to the library (src/net). Loop thread only; reference-counted without atomics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "asyncio/detail/io_wait.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/net/address.hpp"
#include "asyncio/net/socket.hpp"
#include "asyncio/net/streams.hpp"
#include "asyncio/sync/event.hpp"

namespace asyncio::detail {

/// A growable byte buffer: the bytes [begin, end) of one malloc'ed block. Consuming moves
/// `begin` (no memmove per read); the live bytes move to the front only when room is needed.
class byte_buffer {
  public:
    byte_buffer() noexcept = default;
    byte_buffer(const byte_buffer&) = delete;
    byte_buffer& operator=(const byte_buffer&) = delete;
    ~byte_buffer() { std::free(data_); }

    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    const char* data() const noexcept { return data_ + begin_; }
    std::string_view view() const noexcept { return {data_ + begin_, end_ - begin_}; }
    std::size_t capacity() const noexcept { return cap_; }

    /// At least `n` bytes of room after the data (a first block holds at least `first`);
    /// returns where they start. Throws std::bad_alloc.
    char* prepare(std::size_t n, std::size_t first) {
        if (cap_ - end_ >= n) return data_ + end_;
        std::size_t live = size();
        if (cap_ - live >= n && begin_ >= live) {  // moving the live bytes is cheap enough
            std::memmove(data_, data_ + begin_, live);
            begin_ = 0;
            end_ = live;
            return data_ + end_;
        }
        std::size_t want = live + n;
        std::size_t cap = cap_ ? cap_ * 2 : first;
        if (cap < want) cap = want;
        auto* p = static_cast<char*>(std::malloc(cap));
        if (!p) throw std::bad_alloc();
        if (live) std::memcpy(p, data_ + begin_, live);
        std::free(data_);
        data_ = p;
        cap_ = cap;
        begin_ = 0;
        end_ = live;
        return data_ + end_;
    }
    /// The room after the data (valid after prepare).
    std::size_t room() const noexcept { return cap_ - end_; }
    void commit(std::size_t n) noexcept { end_ += n; }
    void append(std::string_view s, std::size_t first) {
        if (s.empty()) return;
        std::memcpy(prepare(s.size(), first), s.data(), s.size());
        end_ += s.size();
    }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    /// The first `n` bytes, taken out.
    std::string take(std::size_t n) {
        std::string s(data_ + begin_, n);
        consume(n);
        return s;
    }
    void clear() noexcept { begin_ = end_ = 0; }
    /// Gives a large block back once it is empty (one big write must not pin its memory).
    void trim(std::size_t keep) noexcept {
        if (empty() && cap_ > keep) {
            std::free(data_);
            data_ = nullptr;
            cap_ = 0;
            begin_ = end_ = 0;
        }
    }

  private:
    char* data_ = nullptr;
    std::size_t cap_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// An owning pointer to something counted with add_ref/release (loop thread only).
template <class T>
class ref_ptr {
  public:
    ref_ptr() noexcept = default;
    explicit ref_ptr(T* p) noexcept : p_(p) {
        if (p_) p_->add_ref();
    }
    ref_ptr(const ref_ptr& o) noexcept : ref_ptr(o.p_) {}
    ref_ptr(ref_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ref_ptr& operator=(ref_ptr o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~ref_ptr() {
        if (p_) p_->release();
    }
    T* get() const noexcept { return p_; }
    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

  private:
    T* p_ = nullptr;
};

struct read_waiter;

struct stream_transport {
    static constexpr std::size_t recv_block = 64 * 1024;         // the read buffer's first block
    static constexpr std::size_t min_recv_room = 16 * 1024;      // never recv() into less room than this
    static constexpr std::size_t write_block = 16 * 1024;        // the write buffer's first block
    static constexpr std::size_t keep_write_block = 256 * 1024;  // larger blocks are freed once empty
    static constexpr std::size_t keep_read_block = 256 * 1024;   // the same for the read buffer

    explicit stream_transport(std::size_t lim) noexcept : limit(lim) {}
    stream_transport(const stream_transport&) = delete;
    stream_transport& operator=(const stream_transport&) = delete;

    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }

    // --- references -----------------------------------------------------------------------
    // `refs` counts everything that points here (handles, running operations, the flusher);
    // `handles` only the stream_reader/stream_writer objects: when the last one goes, the
    // stream is closed (after its buffered bytes are sent), as Python's StreamWriter.__del__.
    void add_ref() noexcept { ++refs; }
    void release() noexcept {
        if (--refs == 0) delete this;
    }
    void add_handle() noexcept {
        ++handles;
        ++refs;
    }
    void release_handle() noexcept;

    // --- the socket -------------------------------------------------------------------------
    /// Takes `s` over (on the loop thread of a running loop): a socket-backed stream.
    void attach(net::socket s, event_loop& l);
    int fd() const noexcept { return sock.fd(); }
    /// Closes the socket now (a waiting reader wakes and sees EOF; the flusher stops).
    void close_socket() noexcept;

    // --- reading ----------------------------------------------------------------------------
    enum class fill_result { progress, wait, yield };
    /// One attempt to get more bytes into `rbuf` without waiting: `progress` when bytes came or
    /// EOF is now known (`eof`), `wait` when the caller must wait for the socket (or feed_data),
    /// `yield` when it should let the other ready tasks run first and then call again (the
    /// caller parks at a read_waiter in either case). `want` is how many more bytes the caller
    /// needs at least (0: any). Throws std::system_error for a failed recv (ECONNRESET):
    /// reported once; the reader is at EOF afterwards.
    ///
    /// `first` (true for a read's first call, then false): a read that finds the buffer short
    /// yields once before its first recv(). The peer's next bytes usually come while the other
    /// ready tasks run (its request follows our reply), so the recv() then finds them instead of
    /// failing with EAGAIN and costing a wait: under load that saves a syscall per request.
    /// Python's reader always goes through the loop here too; Asio gets the same effect from
    /// posting completions.
    fill_result fill(std::size_t want, bool& first);
    /// fill's part for a socket the kernel receives for (io_uring's multishot receive).
    bool take_received(fill_result& out);
    /// Wakes the task waiting for data (feed_data, feed_eof, close).
    void wake_reader() noexcept;

    // --- writing ----------------------------------------------------------------------------
    /// Sends what it can of `data` now (the buffer must be empty); returns the count. A fatal
    /// error is recorded (fail()) and reported at the next write/drain/wait_closed.
    std::size_t send_now(const char* p, std::size_t n);
    /// As send_now, for pieces of `total` bytes in all (one sendmsg).
    std::size_t sendv_now(const struct iovec* iov, int iovcnt, std::size_t total);
    /// Throws what write()/writelines() must throw before they buffer anything.
    void check_writable(const char* what);
    /// After bytes went into `wbuf`: start the flusher, pause the writers above the high mark.
    void buffered_more();
    void start_flusher();
    void maybe_resume() noexcept;
    /// A fatal transport error: recorded, the buffer dropped, the socket closed (Python's
    /// _force_close): reported once by the next write/drain (or wait_closed).
    void fail(int err, const char* what) noexcept;
    void fail(std::exception_ptr e) noexcept;
    /// Throws the recorded error if it was not reported yet (then it counts as reported).
    void throw_pending_error();
    /// write_eof's shutdown(SHUT_WR) once the buffer is empty; the close once closing.
    void finish_flush() noexcept;
    /// close(): stops reading (EOF after the buffered bytes), closes the socket once the
    /// buffered bytes are sent.
    void start_close() noexcept;
    net::address sockname() const;

    // --- pipe mode (a child process's stdin, stdout or stderr) --------------------------------
    // `sock` then holds a pipe end (net::socket owns any fd; adopt() only makes it
    // non-blocking). The syscalls are read()/write()/writev() (recv/send fail on a pipe), a
    // write never raises SIGPIPE (write_pipe), write_eof() closes the pipe (as Python's
    // _UnixWritePipeTransport.write_eof), and there are no addresses (peername/sockname: an
    // empty net::address, where Python's get_extra_info gives None).
    /// Takes the pipe end `fd` over (closed by this call if it fails) on a running loop.
    void attach_pipe(int fd, event_loop& l);
    std::size_t write_pipe(const char* p, std::size_t n);
    std::size_t writev_pipe(const struct iovec* iov, int iovcnt, std::size_t total);

    std::uint32_t refs = 0;
    std::uint32_t handles = 0;
    event_loop* loop = nullptr;
    net::socket sock;
    fd_state* io = nullptr;  // the loop's state of sock's fd (owned by sock)
    bool is_tcp = false;
    bool is_pipe = false;        // pipe mode (attach_pipe)
    mutable net::address local;  // sockname, fetched on first use
    mutable bool have_local = false;
    net::address peer;

    // reader
    byte_buffer rbuf;
    std::size_t limit;
    bool eof = false;                       // nothing more will come (EOF, feed_eof, close, a reported error)
    read_waiter* waiting_reader = nullptr;  // the one task waiting for data
    // Set while readline() drops an over-long line up to its "\n" (the error it will throw): kept
    // here, not in the readline's frame, so that a readline cancelled mid-drop leaves the next
    // readline to finish the drop (the line's tail never comes out as a line). Other reads clear it.
    std::exception_ptr dropping_line;

    // writer
    byte_buffer wbuf;
    std::size_t high_water = 64 * 1024;  // Python's FlowControlMixin defaults: 64 KiB / 16 KiB
    std::size_t low_water = 16 * 1024;
    bool paused = false;     // the buffer went above high_water and not yet back to low_water
    asyncio::event resumed;  // set while not paused: drain() waits for it
    bool flusher_running = false;
    bool eof_written = false;     // write_eof() was called
    bool shut_wr = false;         // ... and the shutdown(SHUT_WR) was done
    bool closing = false;         // close() was called, or the transport failed
    bool closed = true;           // the socket is closed (or there never was one)
    asyncio::event closed_event;  // set once `closed`: wait_closed()
    std::exception_ptr error;     // the fatal error (a failed send), until reported
    bool error_reported = false;
};

/// The leaf a reading task waits at: an io_wait on the socket, or (a reader without socket) a
/// wait for feed_data/feed_eof. Cancellation: the task wakes with cancelled_error; nothing was
/// taken from the buffer.
struct read_waiter : wait_point {
    read_waiter(stream_transport* t, const char* fn, stream_transport::fill_result why) noexcept
        : t_(t),
          fn_(fn),
          io_(t->io, io_direction::read),
          yield_(why == stream_transport::fill_result::yield) {}
    // GCC moves an awaiter before using it: only ever before it is linked.
    read_waiter(read_waiter&& o) noexcept
        : wait_point(), t_(o.t_), fn_(o.fn_), io_(std::move(o.io_)), yield_(o.yield_) {}
    read_waiter& operator=(read_waiter&&) = delete;
    ~read_waiter() {
        if (t_->waiting_reader == this) t_->waiting_reader = nullptr;
        unlink_feed();
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_core* t = h.promise().task;
        if (yield_) {  // back of the ready queue, as sleep(0); a cancel then throws at resume
            task = t;
            t->loop->schedule(t);
            return;
        }
        if (t_->waiting_reader) busy();
        if (t_->io) {
            if (t_->io->loop != t->loop) wrong_loop();
            t_->loop->io_register(t_->io);
            io_.await_suspend(h);
            via_io_ = true;
            t_->waiting_reader = this;
            return;
        }
        task = t;
        ops = &ops_;
        feed_linked = true;
        t_->waiting_reader = this;
        task->suspend_at(this);
    }
    void await_resume() {
        if (yield_) {
            task->throw_if_cancel_pending();
            return;
        }
        if (t_->waiting_reader == this) t_->waiting_reader = nullptr;
        if (via_io_) {
            io_.await_resume();
            return;
        }
        if (cancelled) throw task->take_cancellation();
        task->throw_if_cancel_pending();
    }

    /// feed_data/feed_eof/close: the waiting task retries.
    void wake() noexcept {
        if (via_io_) {
            if (io_.linked) io_.ready();
            return;
        }
        if (!feed_linked) return;
        unlink_feed();
        task->wake();
    }

  private:
    [[noreturn]] void busy() const;
    [[noreturn]] void wrong_loop() const;
    void unlink_feed() noexcept { feed_linked = false; }
    static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
        auto* self = static_cast<read_waiter*>(wp);
        self->unlink_feed();
        self->cancelled = true;
        t->set_cancel_message(msg);
        t->wake();
        return true;
    }
    static void describe(const wait_point* wp, wait_info& info) {
        (void)wp;
        info.what = "stream_reader feed_data";
    }
    static constexpr wait_ops ops_{&on_cancel, &describe};

    stream_transport* t_;
    const char* fn_;
    io_wait io_;
    task_core* task = nullptr;
    bool yield_;           // only lets the other ready tasks run (fill_result::yield)
    bool via_io_ = false;  // waits at io_ (a socket), else for feed_data/feed_eof
    bool feed_linked = false;
    bool cancelled = false;
};

/// What make_streams knows of a socket: TCP gets TCP_NODELAY; unknown asks the socket.
enum class socket_kind { tcp, other, unknown };

/// Makes the public handles (their constructors are private).
struct stream_access {
    /// A stream over a connected socket; throws std::invalid_argument for limit <= 0.
    static std::pair<stream_reader, stream_writer> make_streams(net::socket sock, const net::address& peer,
                                                                std::ptrdiff_t limit, socket_kind kind);
    static stream_transport* transport_of(const stream_reader& r) noexcept { return r.t_; }
    static stream_transport* transport_of(const stream_writer& w) noexcept { return w.t_; }
    /// Streams over a pipe end (pipe mode), for the subprocess module: `fd` is taken over (and
    /// closed if this throws). A reader with `limit` (> 0); a writer.
    static stream_reader make_pipe_reader(int fd, event_loop& loop, std::size_t limit);
    static stream_writer make_pipe_writer(int fd, event_loop& loop);
};

inline void stream_transport::wake_reader() noexcept {
    if (waiting_reader) waiting_reader->wake();
}

}  // namespace asyncio::detail
