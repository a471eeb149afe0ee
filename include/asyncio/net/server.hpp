// asyncio::start_server / start_unix_server and the server they return. Python:
// asyncio.start_server, asyncio.start_unix_server, asyncio.Server.
//
//     asyncio::coro<void> handle(asyncio::stream_reader reader, asyncio::stream_writer writer) {
//         for (;;) {
//             std::string data = co_await reader.read(64 * 1024);
//             if (data.empty()) break;
//             writer.write(data);
//             co_await writer.drain();
//         }
//     }
//     asyncio::server srv = co_await asyncio::start_server(handle, "127.0.0.1", 0);
//     std::printf("serving on port %d\n", srv.port());
//     co_await srv.serve_forever();
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../coro.hpp"
#include "../detail/unique_function.hpp"
#include "socket.hpp"
#include "streams.hpp"

namespace asyncio {

/// Options of start_server / start_unix_server. (`ssl` of the API comes with TLS.)
struct server_options {
    /// listen()'s backlog (Python's default: 100).
    int backlog = 100;
    /// SO_REUSEPORT: several sockets (one loop per thread, say) listen on one port and the kernel
    /// spreads the connections over them. TCP only.
    bool reuse_port = false;
    /// The readers' limit (see connection_options). Must be > 0.
    std::ptrdiff_t limit = default_stream_limit;
    /// How long accepting pauses when no descriptor is left (EMFILE, ENFILE) or memory is short
    /// (ENOBUFS, ENOMEM). Python: constants.ACCEPT_RETRY_DELAY, 1 s.
    std::chrono::milliseconds accept_retry_delay{1000};
};

/// What a server calls for each connection (Python: client_connected_cb).
using client_connected_handler = detail::unique_function<coro<void>(stream_reader, stream_writer)>;

namespace detail {
struct server_state;
struct server_access;
}  // namespace detail

/// A listening server: Python's asyncio.Server. Move-only; destroying it closes it (stops
/// listening; the connections' tasks run on). Loop thread only.
///
/// Each accepted connection runs `handler(reader, writer)` as a task of its own. The server
/// keeps track of these tasks: wait_closed() waits for them. An exception escaping a handler is
/// reported to the loop's exception handler ("Unhandled exception in client_connected_cb") and
/// its stream is closed, as in Python. When the handler returns, its stream closes once the
/// last reader/writer of it is gone.
///
/// Out of descriptors (EMFILE/ENFILE) or memory (ENOBUFS/ENOMEM) at accept: reported to the
/// exception handler ("socket.accept() out of system resource"), then accepting pauses for
/// `accept_retry_delay` (no busy loop; the pending connections wait in the backlog) and resumes.
class server {
  public:
    server(server&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    server& operator=(server&& o) noexcept;
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server();

    /// Serves until close() (then returns) or until cancelled: then closes the server and waits
    /// for wait_closed() before the cancellation goes on (Python). Throws std::runtime_error when
    /// the server is closed or another task already awaits serve_forever(). (Python's
    /// serve_forever raises CancelledError when another task calls close(); this one returns.)
    [[nodiscard]] coro<void> serve_forever();
    /// Stops listening: the listening sockets are closed (a Unix socket's file is removed if it
    /// is still ours); connections already accepted go on. Idempotent. Python: close().
    void close() noexcept;
    /// Closes every connection's stream (its handler's reads see EOF and writes fail). Python
    /// 3.13: close_clients().
    void close_clients() noexcept;
    /// Waits until the server is closed and every connection task has finished (Python 3.12+).
    /// Cancellation: nothing changes.
    [[nodiscard]] coro<void> wait_closed();
    /// close() then wait_closed(): for asyncio::async_with (Python: `async with server`).
    /// Cancellation: the server is closed already; its connections run on.
    [[nodiscard]] coro<void> aclose();
    /// True until close(). Python: is_serving().
    bool is_serving() const noexcept;
    /// The port the first listening socket is bound to (so that tests bind port 0); stays
    /// readable after close(); 0 for a Unix server.
    int port() const noexcept;
    /// The listening sockets (empty after close()). Python: sockets.
    const std::vector<net::socket>& sockets() const noexcept;
    /// Connection tasks still running.
    std::size_t active_connections() const noexcept;

  private:
    friend struct detail::server_access;
    explicit server(detail::server_state* s) noexcept : s_(s) {}
    detail::server_state* s_;
};

namespace detail {
[[nodiscard]] coro<server> start_server_erased(client_connected_handler handler, std::string host, int port,
                                               server_options opts);
[[nodiscard]] coro<server> start_unix_server_erased(client_connected_handler handler, std::string path,
                                                    server_options opts);
template <class H>
constexpr void check_handler() {
    static_assert(
        std::is_invocable_r_v<coro<void>, H&, stream_reader, stream_writer>,
        "a server's handler is called as handler(stream_reader, stream_writer) and returns coro<void>");
}
}  // namespace detail

/// Listens on host:port and serves each connection with `handler` (see server). `host`: an
/// address literal or a name (every address it resolves to gets a socket); "" listens on all
/// interfaces (IPv4 and IPv6). Each socket gets SO_REUSEADDR, SO_REUSEPORT with `reuse_port`,
/// IPV6_V6ONLY for IPv6 (as Python). Accepting starts at once. Throws std::system_error (bind:
/// EADDRINUSE, EACCES; the resolver's errors), std::invalid_argument for limit <= 0 or a bad port.
/// Cancellation (while resolving): nothing is left open. Python: asyncio.start_server.
template <class H>
[[nodiscard]] coro<server> start_server(H handler, std::string host, int port, server_options opts = {}) {
    detail::check_handler<H>();
    return detail::start_server_erased(client_connected_handler(std::move(handler)), std::move(host), port,
                                       opts);
}

/// Listens on the Unix-domain socket `path` (a leading '\0': the abstract namespace). A stale
/// socket file at `path` is removed first, and close() removes the file if it is still the one
/// the server made (Python 3.13's cleanup_socket). Throws std::system_error (bind: EACCES,
/// EADDRINUSE), std::invalid_argument for limit <= 0 or a path longer than sun_path. Does not
/// suspend, so it cannot be cancelled half-way. Python: asyncio.start_unix_server.
template <class H>
[[nodiscard]] coro<server> start_unix_server(H handler, std::string path, server_options opts = {}) {
    detail::check_handler<H>();
    return detail::start_unix_server_erased(client_connected_handler(std::move(handler)), std::move(path),
                                            opts);
}

}  // namespace asyncio
