// Streams: asyncio::open_connection / open_unix_connection and the stream_reader /
// stream_writer pair they return (the server side is <asyncio/net/server.hpp>).
// Python: asyncio.open_connection, asyncio.StreamReader, asyncio.StreamWriter.
//
//     auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", 8888);
//     writer.write("hello\n");
//     co_await writer.drain();
//     std::string line = co_await reader.readline();
//     writer.close();
//     co_await writer.wait_closed();
//
// Bytes are std::string when owned and std::string_view when borrowed.
//
// How it works (and where it differs from Python): the reader receives with recv() itself, when a
// read needs bytes (syscall first; it waits for the socket only on EAGAIN), instead of a transport
// reading in the background. Unread bytes therefore stay in the kernel's socket buffer, which
// gives back-pressure to the peer without Python's pause_reading at 2 * limit. The writer sends at
// once when its buffer is empty; what the socket does not take is buffered and sent by a
// background task, and drain() applies Python's flow control (pause above the high-water mark,
// 64 KiB; resume at the low-water mark, 16 KiB).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../coro.hpp"
#include "../errors.hpp"
#include "address.hpp"

namespace asyncio {

namespace net {
class socket;
}
namespace detail {
struct stream_transport;
struct stream_access;
}  // namespace detail

/// The reader's buffer limit by default: 64 KiB (Python's _DEFAULT_LIMIT, 2**16).
inline constexpr std::ptrdiff_t default_stream_limit = 64 * 1024;

/// Options of open_connection / open_unix_connection. (`ssl` and `server_hostname` of the API
/// come with TLS.)
struct connection_options {
    /// The longest line readline()/readuntil() accept (Python: limit). Must be > 0.
    std::ptrdiff_t limit = default_stream_limit;
};

/// The reading side of a stream. A handle: copies share one stream (as Python's references to
/// one StreamReader); the stream closes when the last stream_reader/stream_writer of it is gone
/// (after the bytes still buffered for writing are sent).
///
/// One task at a time may wait for data: a second read that has to wait while another waits
/// throws std::runtime_error("read() called while another task is already waiting for incoming
/// data"), as in Python. Loop thread only.
///
/// Cancellation, for every read method: a read cancelled while it waits returns nothing and
/// takes nothing: every byte received so far stays in the reader's buffer for the next read
/// (also for read(-1), unlike Python, whose read(-1) drops the blocks it gathered).
///
/// Errors: a failed receive (the peer reset the connection) throws std::system_error
/// (ECONNRESET) once; the reader is at EOF afterwards. After the stream's writer is closed the
/// reader returns what is buffered, then EOF.
class stream_reader {
  public:
    /// A reader without a socket, fed by feed_data/feed_eof (Python: StreamReader(limit)).
    /// Throws std::invalid_argument("Limit cannot be <= 0") for limit <= 0.
    explicit stream_reader(std::ptrdiff_t limit = default_stream_limit);
    stream_reader(const stream_reader& o) noexcept;
    stream_reader(stream_reader&& o) noexcept;
    stream_reader& operator=(stream_reader o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~stream_reader();

    /// Up to `n` bytes: what the buffer holds, or else what one receive brings (waiting for it);
    /// "" at EOF. n < 0: everything until EOF. n == 0: "" at once.
    [[nodiscard]] coro<std::string> read(std::ptrdiff_t n = -1);
    /// A line, with its "\n"; at EOF the bytes before it without "\n" (possibly ""). A line
    /// longer than the limit throws limit_overrun_error (Python: ValueError) after the whole
    /// line (up to its "\n" or EOF) has been dropped, so that the next readline() returns the
    /// next line. (Python drops only what it has buffered, and its next readline returns the rest
    /// of the long line; how much that is depends on how the bytes arrived.) Cancelled while it
    /// drops such a line, it has dropped the bytes seen so far (the one exception to "a cancelled
    /// read takes nothing"); the next readline() finishes the drop and throws the error.
    [[nodiscard]] coro<std::string> readline();
    /// Exactly `n` bytes. At EOF first: incomplete_read_error with partial() (the bytes there
    /// were, taken out of the buffer) and expected() == n. n < 0: std::invalid_argument
    /// ("readexactly size can not be less than zero"); n == 0: "".
    [[nodiscard]] coro<std::string> readexactly(std::ptrdiff_t n);
    /// The bytes up to and including the first `separator`. Throws std::invalid_argument for an
    /// empty separator; limit_overrun_error when the separator does not end within limit +
    /// separator.size() bytes (nothing is taken out of the buffer; consumed() says how many bytes
    /// are known not to hold it, as in Python); incomplete_read_error (partial() = everything
    /// buffered, taken out; expected() empty) at EOF without the separator.
    [[nodiscard]] coro<std::string> readuntil(std::string separator = "\n");
    /// True at EOF with nothing left in the buffer. Python: at_eof().
    bool at_eof() const noexcept;

    /// Appends bytes as if they had been received, and wakes a waiting read. Throws
    /// std::runtime_error("feed_data after feed_eof") once at EOF. Python: feed_data.
    void feed_data(std::string_view data);
    /// Marks EOF: reads return what is buffered, then "" (and wake a waiting read).
    void feed_eof() noexcept;

    std::ptrdiff_t limit() const noexcept;
    /// The bytes received but not read yet (Python: len(reader._buffer)).
    std::size_t buffered() const noexcept;

  private:
    friend struct detail::stream_access;
    explicit stream_reader(detail::stream_transport& t) noexcept;
    detail::stream_transport* t_;
};

/// The writing side of a stream. A handle, as stream_reader (copies share the stream). Loop
/// thread only.
///
/// Errors: a send that fails (the peer reset the connection: ECONNRESET or EPIPE; never a
/// SIGPIPE, sends use MSG_NOSIGNAL, and a child's stdin pipe is written with SIGPIPE blocked)
/// closes the stream (its buffer is dropped) and is thrown
/// once, as std::system_error, by the next write(), writelines(), drain() or wait_closed();
/// afterwards the writer is closing, and write() throws std::runtime_error.
class stream_writer {
  public:
    stream_writer(const stream_writer& o) noexcept;
    stream_writer(stream_writer&& o) noexcept;
    stream_writer& operator=(stream_writer o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~stream_writer();

    /// Sends `data` at once if nothing is buffered (as much as the socket takes), and buffers
    /// the rest; never waits. Throws std::runtime_error after close() ("write() on a closed
    /// stream") or write_eof() ("Cannot call write() after write_eof()"), and the stream's
    /// pending error (see above). Python: write(data).
    void write(std::string_view data);
    /// As write() for each piece, with one sendmsg() for all of them when nothing is buffered.
    /// Python 3.12: writelines (transport.writelines).
    void writelines(std::span<const std::string_view> lines);
    void writelines(std::initializer_list<std::string_view> lines) {
        writelines(std::span<const std::string_view>(lines.begin(), lines.size()));
    }
    template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view> &&
        (!std::convertible_to<const R&, std::span<const std::string_view>>)void writelines(const R& lines) {
        std::vector<std::string_view> views;
        for (auto&& piece : lines) views.emplace_back(piece);
        writelines(std::span<const std::string_view>(views));
    }
    /// Waits while the buffer is above the high-water mark, until the background sends bring
    /// it down to the low-water mark; returns at once otherwise (Python's FlowControlMixin).
    /// Throws the stream's pending error. Cancellation: nothing is lost; the buffered bytes are
    /// still sent. Python: `await writer.drain()`.
    [[nodiscard]] coro<void> drain();
    /// True: TCP and Unix stream sockets can shut their writing side (a pipe closes).
    bool can_write_eof() const noexcept { return true; }
    /// Shuts the writing side (shutdown(SHUT_WR)) once the buffered bytes are sent; the peer
    /// reads EOF; this side can still read. Does nothing once closing. On a pipe (a child's
    /// stdin, process::stdin_writer) it closes the pipe, as Python's. Python: write_eof().
    void write_eof();
    /// Closes the stream: the buffered bytes are still sent in the background, then the socket
    /// is closed; the reader returns what it has buffered, then EOF. Idempotent. Python: close().
    void close() noexcept;
    /// Waits until the socket is closed (after close(), or an error); throws the stream's error
    /// if nothing reported it yet. Cancellation: nothing changes. Python: wait_closed().
    [[nodiscard]] coro<void> wait_closed();
    /// close() and wait_closed(): for asyncio::async_with. Cancellation: the stream is closing
    /// already (its buffered bytes are still sent, then the socket closes).
    [[nodiscard]] coro<void> aclose();
    /// True after close() or once the stream failed. Python: is_closing().
    bool is_closing() const noexcept;

    /// The peer's address, as connect or accept gave it (Python: get_extra_info('peername')); an
    /// empty address (AF_UNSPEC) for a pipe, where Python gives None.
    net::address peername() const;
    /// This side's address (getsockname on first use; an empty address if the socket was
    /// closed before, or a pipe). Python: get_extra_info('sockname').
    net::address sockname() const;
    /// The socket's (or pipe's) fd, or -1 once closed (for setsockopt and the like; do not close it).
    int fd() const noexcept;

    /// The bytes written but not yet sent. Python: transport.get_write_buffer_size().
    std::size_t write_buffer_size() const noexcept;
    /// Python: transport.set_write_buffer_limits(high, low): low defaults to high / 4; throws
    /// std::invalid_argument unless high >= low. Defaults: 64 KiB and 16 KiB.
    void set_write_buffer_limits(std::size_t high, std::optional<std::size_t> low = std::nullopt);
    /// {low, high}, as Python's transport.get_write_buffer_limits().
    std::pair<std::size_t, std::size_t> write_buffer_limits() const noexcept;

  private:
    friend struct detail::stream_access;
    explicit stream_writer(detail::stream_transport& t) noexcept;
    detail::stream_transport* t_;
};

/// Connects to host:port (a name, resolved on the executor, or an address literal), trying each
/// address getaddrinfo returns in order until one accepts (as Python's create_connection), with
/// TCP_NODELAY set (as Python). Throws: the resolver's std::system_error (net::resolver_category,
/// e.g. for "x.invalid"); std::system_error(ECONNREFUSED, "connect to 127.0.0.1:9: Connection
/// refused") at once when refused; with several addresses that all fail, one std::system_error
/// with the first one's code naming every failure ("Multiple exceptions: ..."), unless they
/// all say the same; std::invalid_argument for limit <= 0 or a port outside 0-65535.
/// Cancellation: the lookup's result is dropped, a half-made connection is closed; no fd leaks.
/// Python: asyncio.open_connection(host, port, limit=).
[[nodiscard]] coro<std::pair<stream_reader, stream_writer>> open_connection(std::string host, int port,
                                                                            connection_options opts = {});
/// Connects to a Unix-domain stream socket at `path` (a leading '\0' is the abstract namespace).
/// Throws std::system_error (ENOENT, ECONNREFUSED, EAGAIN when the listener's backlog is full).
/// Cancellation: as open_connection. Python: asyncio.open_unix_connection(path).
[[nodiscard]] coro<std::pair<stream_reader, stream_writer>> open_unix_connection(
    std::string path, connection_options opts = {});
/// Streams over a socket that is already connected (Python: open_connection(sock=sock)); sets
/// TCP_NODELAY on a TCP socket. Does not suspend. Throws std::invalid_argument for limit <= 0 or
/// a closed socket.
[[nodiscard]] coro<std::pair<stream_reader, stream_writer>> open_connection(net::socket sock,
                                                                            connection_options opts = {});

}  // namespace asyncio
