// stream_reader, stream_writer, open_connection, open_unix_connection (see streams.hpp), on
// stream_transport (stream_transport.hpp). The hot paths (read, write) make their syscalls here
// directly and park at a detail::io_wait on EAGAIN, as the sock_* operations do, without a
// coroutine frame per syscall.
#include "asyncio/net/streams.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "asyncio/task.hpp"
#include "stream_transport.hpp"

namespace asyncio {
namespace detail {

namespace {
bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace

// --- stream_transport --------------------------------------------------------------------------

void stream_transport::release_handle() noexcept {
    if (--handles == 0) start_close();
    release();
}

void stream_transport::attach(net::socket s, event_loop& l) {
    io = l.io_attach(s);
    sock = std::move(s);
    loop = &l;
    closed = false;
}

void stream_transport::close_socket() noexcept {
    if (closed) return;
    closed = true;
    closing = true;
    eof = true;
    io = nullptr;
    wbuf.clear();
    wbuf.trim(0);
    // Wakes the reader and the flusher waiting on the fd (io_forget); they see `closed`.
    sock.close();
    if (paused) {
        paused = false;
        resumed.set();
    }
    closed_event.set();
}

// The socket's data comes through the kernel's multishot receive (io_uring; fd_state::rx): the
// bytes queued, then the end it reported; `wait` while it runs. False once it has ended and
// everything it took is in rbuf: the caller then reads directly (and starts it again on EAGAIN).
bool stream_transport::take_received(fill_result& out) {
    if (!io->rx.empty()) {
        std::size_t n = event_loop::io_received_size(io);
        rbuf.commit(loop->io_take_received(io, rbuf.prepare(n, recv_block), n));
        out = fill_result::progress;
        return true;
    }
    if (io->rx_error) {
        int err = std::exchange(io->rx_error, 0);
        eof = true;  // reported once, by this throw: EOF afterwards
        throw std::system_error(err, std::generic_category(), "recv");
    }
    if (io->rx_eof) {
        eof = true;
        out = fill_result::progress;
        return true;
    }
    if (io->rx_running) {
        out = fill_result::wait;  // no syscall to save by yielding first: its results come to us
        return true;
    }
    return false;
}

stream_transport::fill_result stream_transport::fill(std::size_t want, bool& first) {
    if (eof) return fill_result::progress;
    if (io && io->rx_used) {
        fill_result r;
        if (take_received(r)) return r;
    }
    bool yield_first = first;
    first = false;
    if (!io || !io->readable) return fill_result::wait;
    if (yield_first) return fill_result::yield;
    char* p = rbuf.prepare(want > min_recv_room ? want : min_recv_room, recv_block);
    std::size_t room = rbuf.room();
    for (;;) {
        ssize_t r = is_pipe ? ::read(sock.fd(), p, room) : ::recv(sock.fd(), p, room, 0);
        if (r > 0) {
            rbuf.commit(static_cast<std::size_t>(r));
            return fill_result::progress;
        }
        if (r == 0) {  // the peer's EOF; a pipe's: every writer closed it (the child ended, or closed it)
            eof = true;
            return fill_result::progress;
        }
        int err = errno;
        if (err == EINTR) continue;
        if (would_block(err)) {
            // io_uring: from now on the kernel receives for us (its results wake the reader).
            if (is_pipe || !loop->io_start_recv(io)) io->readable = false;
            return fill_result::wait;
        }
        eof = true;  // reported once, by this throw: EOF afterwards
        throw std::system_error(err, std::generic_category(), is_pipe ? "read" : "recv");
    }
}

namespace {
// One send syscall (`call`, retried on EINTR) for `total` bytes: what it took; 0 when the socket
// is full or failed. Less than asked, or EAGAIN: `io->writable` is cleared (the socket's buffer
// is full; the next edge says when it has room). An error fails the transport (`what`).
template <class Send>
std::size_t send_with(stream_transport& t, Send call, std::size_t total, const char* what) {
    for (;;) {
        ssize_t r = call();
        if (r >= 0) {
            if (static_cast<std::size_t>(r) < total) t.io->writable = false;
            return static_cast<std::size_t>(r);
        }
        int err = errno;
        if (err == EINTR) continue;
        if (would_block(err)) {
            t.io->writable = false;
            return 0;
        }
        t.fail(err, what);
        return 0;
    }
}
}  // namespace

std::size_t stream_transport::send_now(const char* p, std::size_t n) {
    if (!io->writable) return 0;
    if (is_pipe) return write_pipe(p, n);
    return send_with(
        *this, [&] { return ::send(sock.fd(), p, n, MSG_NOSIGNAL); }, n, "send");
}

std::size_t stream_transport::sendv_now(const iovec* iov, int iovcnt, std::size_t total) {
    if (!io->writable) return 0;
    if (is_pipe) return writev_pipe(iov, iovcnt, total);
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    return send_with(
        *this, [&] { return ::sendmsg(sock.fd(), &msg, MSG_NOSIGNAL); }, total, "sendmsg");
}

void stream_transport::check_writable(const char* what) {
    throw_pending_error();
    if (closing) throw std::runtime_error(std::string(what) + "() on a closed stream");
    if (eof_written) throw std::runtime_error(std::string("Cannot call ") + what + "() after write_eof()");
}

void stream_transport::buffered_more() {
    if (!flusher_running) start_flusher();
    if (!paused && wbuf.size() > high_water) {
        paused = true;
        resumed.clear();
    }
}

void stream_transport::maybe_resume() noexcept {
    if (paused && wbuf.size() <= low_water) {
        paused = false;
        resumed.set();
    }
}

void stream_transport::fail(int err, const char* what) noexcept {
    try {
        fail(std::make_exception_ptr(std::system_error(err, std::generic_category(), what)));
    } catch (...) {  // no memory for the error: close all the same
        close_socket();
    }
}

void stream_transport::fail(std::exception_ptr e) noexcept {
    if (!error) {
        error = std::move(e);
        error_reported = false;
    }
    close_socket();
}

void stream_transport::throw_pending_error() {
    if (error && !error_reported) {
        error_reported = true;
        std::rethrow_exception(error);
    }
}

void stream_transport::finish_flush() noexcept {
    wbuf.trim(keep_write_block);
    if (closed) return;
    if (eof_written && is_pipe) {  // a pipe has no half-close: its EOF is the close
        close_socket();
        return;
    }
    if (eof_written && !shut_wr) {
        shut_wr = true;
        if (::shutdown(sock.fd(), SHUT_WR) < 0 && errno != ENOTCONN) fail(errno, "shutdown");
    }
    if (closing) close_socket();
}

void stream_transport::start_close() noexcept {
    if (closing) return;
    closing = true;
    // Python stops reading at close(): the reader returns what it has, then EOF.
    eof = true;
    wake_reader();
    if (!flusher_running) close_socket();  // nothing buffered: close now
}

namespace {
// Sends the buffer in the background while the socket has no room (started by a write that
// could not send everything). Ends once the buffer is empty; then does the pending write_eof
// shutdown or close. Cancelled (the loop shuts down): the stream is closed, the rest dropped.
coro<void> flush_buffer(ref_ptr<stream_transport> t) {
    while (!t->closed && !t->wbuf.empty()) {
        if (t->io->writable) {
            std::size_t n = t->send_now(t->wbuf.data(), t->wbuf.size());
            if (t->closed) break;
            t->wbuf.consume(n);
            t->maybe_resume();
            continue;
        }
        t->loop->io_register(t->io);
        try {
            co_await io_wait(t->io, io_direction::write);
        } catch (...) {
            t->flusher_running = false;
            t->close_socket();
            throw;
        }
    }
    t->flusher_running = false;
    t->finish_flush();
}
}  // namespace

void stream_transport::start_flusher() {
    flusher_running = true;
    try {
        loop->create_task(flush_buffer(ref_ptr<stream_transport>(this)));
    } catch (...) {
        flusher_running = false;
        throw;
    }
}

net::address stream_transport::sockname() const {
    if (!have_local && !closed && !is_pipe) {
        local = sock.local_address();
        have_local = true;
    }
    return local;
}

// --- pipe mode -------------------------------------------------------------------------------------

namespace {

// A write to a pipe whose reader has gone fails with EPIPE and raises SIGPIPE, whose default
// action ends the process. Python ignores SIGPIPE for the whole process; a library must leave
// the disposition alone, so the write runs with SIGPIPE blocked for this thread: the signal
// (thread-directed) then stays pending, and is consumed, unless one was pending already (that
// one is not ours to take). Sockets need none of this: send() has MSG_NOSIGNAL.
class sigpipe_blocked {
  public:
    sigpipe_blocked() noexcept {
        sigemptyset(&sigpipe_);
        sigaddset(&sigpipe_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_mask_);
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    sigpipe_blocked(const sigpipe_blocked&) = delete;
    sigpipe_blocked& operator=(const sigpipe_blocked&) = delete;
    ~sigpipe_blocked() { pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }

    /// After a write failed with EPIPE: takes the SIGPIPE it raised. Keeps errno.
    void consume_raised() noexcept {
        if (was_pending_) return;
        int saved = errno;
        timespec zero{};
        while (::sigtimedwait(&sigpipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
        errno = saved;
    }

  private:
    sigset_t sigpipe_;
    sigset_t old_mask_;
    bool was_pending_ = false;
};

}  // namespace

void stream_transport::attach_pipe(int fd, event_loop& l) {
    net::socket s;
    try {
        s = net::socket::adopt(fd);
    } catch (...) {
        ::close(fd);
        throw;
    }
    attach(std::move(s), l);  // closes the fd if it throws
    is_pipe = true;
}

std::size_t stream_transport::write_pipe(const char* p, std::size_t n) {
    iovec one{const_cast<char*>(p), n};
    return writev_pipe(&one, 1, n);
}

std::size_t stream_transport::writev_pipe(const iovec* iov, int iovcnt, std::size_t total) {
    for (;;) {
        ssize_t r;
        int err;
        {
            sigpipe_blocked no_sigpipe;
            r = ::writev(sock.fd(), iov, iovcnt);
            err = errno;
            if (r < 0 && err == EPIPE) no_sigpipe.consume_raised();
        }
        if (r >= 0) {
            if (static_cast<std::size_t>(r) < total) io->writable = false;  // the pipe is full
            return static_cast<std::size_t>(r);
        }
        if (err == EINTR) continue;
        if (would_block(err)) {
            io->writable = false;
            return 0;
        }
        fail(err, "write");  // EPIPE: the child closed its end (Python: BrokenPipeError)
        return 0;
    }
}

void read_waiter::busy() const {
    throw std::runtime_error(std::string(fn_) +
                             "() called while another task is already waiting for incoming data");
}

void read_waiter::wrong_loop() const {
    throw std::runtime_error(std::string(fn_) + "(): the stream belongs to a different event loop");
}

// --- the reader's operations ---------------------------------------------------------------------
namespace {

using transport_ref = ref_ptr<stream_transport>;
using fill_result = stream_transport::fill_result;

std::size_t to_size(std::ptrdiff_t n) noexcept { return static_cast<std::size_t>(n); }

coro<std::string> read_op(transport_ref t, std::ptrdiff_t n) {
    t->dropping_line = nullptr;  // the rest of a dropped line is data to this read
    if (n == 0) co_return std::string();
    bool first = true;  // the first receive of this read yields to the other tasks first
    if (n < 0) {
        // Everything until EOF stays in the buffer until then: a cancelled read(-1) loses nothing.
        while (!t->eof) {
            if (fill_result r = t->fill(0, first); r != fill_result::progress)
                co_await read_waiter(t.get(), "read", r);
        }
        std::string all = t->rbuf.take(t->rbuf.size());
        t->rbuf.trim(stream_transport::keep_read_block);
        co_return all;
    }
    while (t->rbuf.empty() && !t->eof) {
        if (fill_result r = t->fill(0, first); r != fill_result::progress)
            co_await read_waiter(t.get(), "read", r);
    }
    co_return t->rbuf.take(std::min(to_size(n), t->rbuf.size()));
}

coro<std::string> readexactly_op(transport_ref t, std::size_t n) {
    t->dropping_line = nullptr;
    bool first = true;  // the first receive of this read yields to the other tasks first
    while (t->rbuf.size() < n) {
        if (t->eof) {
            std::string partial = t->rbuf.take(t->rbuf.size());
            throw incomplete_read_error(std::move(partial), n);
        }
        if (fill_result r = t->fill(n - t->rbuf.size(), first); r != fill_result::progress)
            co_await read_waiter(t.get(), "readexactly", r);
    }
    std::string data = t->rbuf.take(n);
    t->rbuf.trim(stream_transport::keep_read_block);  // a large readexactly must not pin its memory
    co_return data;
}

// The length of the chunk through the first `sep` in the buffer, or 0 when more bytes are
// needed to know. `offset`: where the search resumes (bytes before it are known not to start a
// separator). Throws limit_overrun_error as Python's readuntil: the outcome depends only on the
// bytes, never on how they arrived (the fuzz target checks this).
std::size_t scan_until(stream_transport& t, std::string_view sep, std::size_t& offset) {
    std::string_view buf = t.rbuf.view();
    if (offset > buf.size()) offset = 0;  // another task read from the buffer meanwhile
    if (buf.size() - offset < sep.size()) return 0;
    std::size_t isep = buf.find(sep, offset);
    if (isep != std::string_view::npos) {
        if (isep > t.limit)
            throw limit_overrun_error("Separator is found, but chunk is longer than limit", isep);
        return isep + sep.size();
    }
    offset = buf.size() + 1 - sep.size();
    if (offset > t.limit)
        throw limit_overrun_error("Separator is not found, and chunk exceed the limit", offset);
    return 0;
}

coro<std::string> readuntil_op(transport_ref t, std::string sep) {
    if (sep.empty()) throw std::invalid_argument("Separator should be at least one-byte string");
    t->dropping_line = nullptr;
    bool first = true;  // the first receive of this read yields to the other tasks first
    std::size_t offset = 0;
    for (;;) {
        std::size_t k = scan_until(*t, sep, offset);
        if (k) co_return t->rbuf.take(k);
        if (t->eof) {
            std::string partial = t->rbuf.take(t->rbuf.size());
            throw incomplete_read_error(std::move(partial), std::nullopt);
        }
        if (fill_result r = t->fill(0, first); r != fill_result::progress)
            co_await read_waiter(t.get(), "readuntil", r);
    }
}

coro<std::string> readline_op(transport_ref t) {
    bool first = true;  // the first receive of this read yields to the other tasks first
    std::size_t offset = 0;
    std::exception_ptr overrun = t->dropping_line;  // an earlier, cancelled readline's drop
    while (!overrun) {
        std::size_t k = 0;
        try {
            k = scan_until(*t, "\n", offset);
        } catch (const limit_overrun_error&) {
            overrun = std::current_exception();
        }
        if (overrun) break;
        if (k) co_return t->rbuf.take(k);
        if (t->eof) co_return t->rbuf.take(t->rbuf.size());
        if (fill_result r = t->fill(0, first); r != fill_result::progress)
            co_await read_waiter(t.get(), "readline", r);
    }
    // The line is too long: drop it through its end (its "\n", or EOF), then report.
    t->dropping_line = overrun;
    for (;;) {
        std::size_t nl = t->rbuf.view().find('\n');
        if (nl != std::string_view::npos) {
            t->rbuf.consume(nl + 1);
            break;
        }
        t->rbuf.consume(t->rbuf.size());
        if (t->eof) break;
        if (fill_result r = t->fill(0, first); r != fill_result::progress)
            co_await read_waiter(t.get(), "readline", r);
    }
    t->dropping_line = nullptr;
    std::rethrow_exception(overrun);
}

// --- the writer's operations -----------------------------------------------------------------------

coro<void> drain_op(transport_ref t) {
    t->throw_pending_error();
    if (t->paused) {
        co_await t->resumed.wait();
        t->throw_pending_error();
    }
}

coro<void> wait_closed_op(transport_ref t) {
    if (!t->closed) co_await t->closed_event.wait();
    t->throw_pending_error();
}

coro<void> aclose_op(transport_ref t) {
    t->start_close();
    if (!t->closed) co_await t->closed_event.wait();
    t->throw_pending_error();
}

std::size_t checked_limit(std::ptrdiff_t limit) {
    if (limit <= 0) throw std::invalid_argument("Limit cannot be <= 0");
    return to_size(limit);
}

}  // namespace

std::pair<stream_reader, stream_writer> stream_access::make_streams(net::socket sock,
                                                                    const net::address& peer,
                                                                    std::ptrdiff_t limit, socket_kind kind) {
    std::size_t lim = checked_limit(limit);
    if (!sock) throw std::invalid_argument("open_connection: the socket is closed");
    event_loop& loop = get_running_loop();
    bool known_stream = kind != socket_kind::unknown;  // ours are SOCK_STREAM (TCP or Unix)
    if (kind == socket_kind::unknown) {
        int family = sock.family();
        bool ip = family == AF_INET || family == AF_INET6;
        kind =
            ip && sock.get_option(SOL_SOCKET, SO_TYPE) == SOCK_STREAM ? socket_kind::tcp : socket_kind::other;
    }
    if (kind == socket_kind::tcp) sock.set_option(IPPROTO_TCP, TCP_NODELAY, 1);  // as Python
    auto* t = new stream_transport(lim);
    stream_reader r(*t);  // owns it from here on
    t->attach(std::move(sock), loop);
    if (known_stream || kind == socket_kind::tcp) t->io->stream_socket = 1;  // io_start_recv need not ask
    t->peer = peer;
    return {std::move(r), stream_writer(*t)};
}

namespace {
// A transport over the pipe end `fd`, for a handle to own (the fd is closed if this throws).
stream_transport* new_pipe_transport(int fd, event_loop& loop, std::size_t limit) {
    stream_transport* t = nullptr;
    try {
        t = new stream_transport(limit);
    } catch (...) {
        ::close(fd);
        throw;
    }
    try {
        t->attach_pipe(fd, loop);
    } catch (...) {
        delete t;
        throw;
    }
    return t;
}
}  // namespace

stream_reader stream_access::make_pipe_reader(int fd, event_loop& loop, std::size_t limit) {
    return stream_reader(*new_pipe_transport(fd, loop, limit));
}
stream_writer stream_access::make_pipe_writer(int fd, event_loop& loop) {
    return stream_writer(*new_pipe_transport(fd, loop, to_size(default_stream_limit)));
}

}  // namespace detail

// --- stream_reader ---------------------------------------------------------------------------------

stream_reader::stream_reader(std::ptrdiff_t limit)
    : t_(new detail::stream_transport(detail::checked_limit(limit))) {
    t_->add_handle();
}
stream_reader::stream_reader(detail::stream_transport& t) noexcept : t_(&t) { t_->add_handle(); }
stream_reader::stream_reader(const stream_reader& o) noexcept : t_(o.t_) {
    if (t_) t_->add_handle();
}
stream_reader::stream_reader(stream_reader&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
stream_reader::~stream_reader() {
    if (t_) t_->release_handle();
}

namespace {
detail::stream_transport* live(detail::stream_transport* t) {
    if (!t) throw std::logic_error("use of a moved-from stream_reader/stream_writer");
    return t;
}
}  // namespace

coro<std::string> stream_reader::read(std::ptrdiff_t n) {
    return detail::read_op(detail::transport_ref(live(t_)), n);
}
coro<std::string> stream_reader::readline() { return detail::readline_op(detail::transport_ref(live(t_))); }
coro<std::string> stream_reader::readexactly(std::ptrdiff_t n) {
    if (n < 0) throw std::invalid_argument("readexactly size can not be less than zero");
    return detail::readexactly_op(detail::transport_ref(live(t_)), detail::to_size(n));
}
coro<std::string> stream_reader::readuntil(std::string separator) {
    return detail::readuntil_op(detail::transport_ref(live(t_)), std::move(separator));
}
bool stream_reader::at_eof() const noexcept { return t_ && t_->eof && t_->rbuf.empty(); }

void stream_reader::feed_data(std::string_view data) {
    detail::stream_transport* t = live(t_);
    if (t->eof) throw std::runtime_error("feed_data after feed_eof");
    if (data.empty()) return;
    t->rbuf.append(data, detail::stream_transport::recv_block);
    t->wake_reader();
}
void stream_reader::feed_eof() noexcept {
    if (!t_) return;
    t_->eof = true;
    t_->wake_reader();
}
std::ptrdiff_t stream_reader::limit() const noexcept {
    return t_ ? static_cast<std::ptrdiff_t>(t_->limit) : 0;
}
std::size_t stream_reader::buffered() const noexcept { return t_ ? t_->rbuf.size() : 0; }

// --- stream_writer -----------------------------------------------------------------------------------

stream_writer::stream_writer(detail::stream_transport& t) noexcept : t_(&t) { t_->add_handle(); }
stream_writer::stream_writer(const stream_writer& o) noexcept : t_(o.t_) {
    if (t_) t_->add_handle();
}
stream_writer::stream_writer(stream_writer&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
stream_writer::~stream_writer() {
    if (t_) t_->release_handle();
}

void stream_writer::write(std::string_view data) {
    detail::stream_transport* t = live(t_);
    t->check_writable("write");
    if (data.empty()) return;
    if (t->wbuf.empty()) {
        std::size_t n = t->send_now(data.data(), data.size());
        if (n == data.size() || t->closed) return;  // all sent, or failed (reported later)
        data.remove_prefix(n);
    }
    t->wbuf.append(data, detail::stream_transport::write_block);
    t->buffered_more();
}

void stream_writer::writelines(std::span<const std::string_view> lines) {
    detail::stream_transport* t = live(t_);
    t->check_writable("writelines");
    std::size_t skip = 0;  // bytes of `lines` sent already
    if (t->wbuf.empty()) {
        constexpr int max_iov = 64;
        iovec iov[max_iov];
        int n = 0;
        std::size_t total = 0;
        for (std::string_view s : lines) {
            if (s.empty()) continue;
            if (n == max_iov) break;
            iov[n].iov_base = const_cast<char*>(s.data());
            iov[n].iov_len = s.size();
            total += s.size();
            ++n;
        }
        if (n == 0) return;
        skip = t->sendv_now(iov, n, total);
        if (t->closed) return;
    }
    bool more = false;
    for (std::string_view s : lines) {
        if (skip >= s.size()) {
            skip -= s.size();
            continue;
        }
        s.remove_prefix(skip);
        skip = 0;
        t->wbuf.append(s, detail::stream_transport::write_block);
        more = true;
    }
    if (more) t->buffered_more();
}

coro<void> stream_writer::drain() { return detail::drain_op(detail::transport_ref(live(t_))); }

void stream_writer::write_eof() {
    detail::stream_transport* t = live(t_);
    t->throw_pending_error();
    if (t->closing || t->eof_written) return;
    t->eof_written = true;
    if (!t->flusher_running) t->finish_flush();
}

void stream_writer::close() noexcept {
    if (t_) t_->start_close();
}
coro<void> stream_writer::wait_closed() { return detail::wait_closed_op(detail::transport_ref(live(t_))); }
coro<void> stream_writer::aclose() { return detail::aclose_op(detail::transport_ref(live(t_))); }
bool stream_writer::is_closing() const noexcept { return t_ && t_->closing; }
net::address stream_writer::peername() const { return live(t_)->peer; }
net::address stream_writer::sockname() const { return live(t_)->sockname(); }
int stream_writer::fd() const noexcept { return t_ ? t_->fd() : -1; }
std::size_t stream_writer::write_buffer_size() const noexcept { return t_ ? t_->wbuf.size() : 0; }

void stream_writer::set_write_buffer_limits(std::size_t high, std::optional<std::size_t> low) {
    detail::stream_transport* t = live(t_);
    std::size_t lo = low ? *low : high / 4;
    if (high < lo)
        throw std::invalid_argument("high (" + std::to_string(high) + ") must be >= low (" +
                                    std::to_string(lo) + ") must be >= 0");
    t->high_water = high;
    t->low_water = lo;
    if (!t->paused && t->wbuf.size() > high) {
        t->paused = true;
        t->resumed.clear();
    }
    t->maybe_resume();
}
std::pair<std::size_t, std::size_t> stream_writer::write_buffer_limits() const noexcept {
    return t_ ? std::pair<std::size_t, std::size_t>(t_->low_water, t_->high_water)
              : std::pair<std::size_t, std::size_t>(0, 0);
}

// --- connecting ---------------------------------------------------------------------------------------

namespace {

// Python's create_connection: one error as it is; several: the first if they all say the same,
// else one naming them all (with the first one's code: Python's OSError has no errno there).
[[noreturn]] void throw_connect_errors(const std::vector<std::exception_ptr>& errors) {
    if (errors.size() == 1) std::rethrow_exception(errors.front());
    std::error_code code;
    std::string text;
    bool same = true;
    std::string first;
    for (std::size_t i = 0; i < errors.size(); ++i) {
        try {
            std::rethrow_exception(errors[i]);
        } catch (const std::system_error& e) {
            if (i == 0) {
                code = e.code();
                first = e.what();
            } else if (first != e.what()) {
                same = false;
            }
            text += (i ? ", " : "") + std::string(e.what());
        }
    }
    if (same) std::rethrow_exception(errors.front());
    throw std::system_error(code, "Multiple exceptions: " + text);
}

coro<std::pair<stream_reader, stream_writer>> open_connection_op(std::string host, int port,
                                                                 connection_options opts) {
    detail::checked_limit(opts.limit);
    event_loop& loop = get_running_loop();
    std::vector<net::address> addrs = co_await loop.getaddrinfo(host, port);
    if (addrs.empty())
        throw std::system_error(EADDRNOTAVAIL, std::generic_category(), "getaddrinfo() returned empty list");
    std::vector<std::exception_ptr> errors;
    for (const net::address& a : addrs) {
        std::exception_ptr err;
        net::socket s;
        try {
            s = net::socket(a.family(), SOCK_STREAM);
            co_await loop.sock_connect(s, a);
        } catch (const std::system_error&) {
            err = std::current_exception();
        }
        if (!err)
            co_return detail::stream_access::make_streams(std::move(s), a, opts.limit,
                                                          detail::socket_kind::tcp);
        errors.push_back(err);
    }
    throw_connect_errors(errors);
}

coro<std::pair<stream_reader, stream_writer>> open_unix_connection_op(std::string path,
                                                                      connection_options opts) {
    detail::checked_limit(opts.limit);
    event_loop& loop = get_running_loop();
    net::address where = net::address::unix_path(path);
    net::socket s(AF_UNIX, SOCK_STREAM);
    co_await loop.sock_connect(s, where);
    co_return detail::stream_access::make_streams(std::move(s), where, opts.limit,
                                                  detail::socket_kind::other);
}

coro<std::pair<stream_reader, stream_writer>> adopt_connection_op(net::socket sock, connection_options opts) {
    net::address peer;
    if (sock) {
        try {
            peer = sock.peer_address();
        } catch (const std::system_error&) {  // not connected (yet): no peer to tell
        }
    }
    co_return detail::stream_access::make_streams(std::move(sock), peer, opts.limit,
                                                  detail::socket_kind::unknown);
}

}  // namespace

coro<std::pair<stream_reader, stream_writer>> open_connection(std::string host, int port,
                                                              connection_options opts) {
    return open_connection_op(std::move(host), port, opts);
}
coro<std::pair<stream_reader, stream_writer>> open_unix_connection(std::string path,
                                                                   connection_options opts) {
    return open_unix_connection_op(std::move(path), opts);
}
coro<std::pair<stream_reader, stream_writer>> open_connection(net::socket sock, connection_options opts) {
    return adopt_connection_op(std::move(sock), opts);
}

}  // namespace asyncio
