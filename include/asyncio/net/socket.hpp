// asyncio::net::socket: an owning, non-blocking socket handle, and (with this header) the loop's
// low-level socket operations: event_loop::sock_recv, sock_recv_into, sock_send, sock_sendall,
// sock_accept, sock_connect, getaddrinfo (declared in event_loop.hpp, documented there).
// Python: socket.socket (setblocking(False)) with loop.sock_*.
//
//     asyncio::net::socket listener(AF_INET, SOCK_STREAM);
//     listener.bind(asyncio::net::address("127.0.0.1", 0));
//     listener.listen();
//     auto [conn, peer] = co_await loop.sock_accept(listener);
//     std::string data = co_await loop.sock_recv(conn, 4096);
//     co_await loop.sock_sendall(conn, data);
#pragma once

#include <sys/socket.h>

#include <string>
#include <utility>

#include "../event_loop.hpp"
#include "address.hpp"

namespace asyncio::net {

/// Owns one socket fd (non-blocking, close-on-exec). Move-only; closes on destruction.
/// The loop's operations register it with the poller the first time one of them has to wait
/// (edge-triggered, one registration for the socket's life); close() unregisters it first, so a
/// socket must be closed (or destroyed, or released) on the thread of the loop that used it, and
/// not with ::close(fd()) behind its back. A socket that outlives its loop closes without it.
/// Used with one loop at a time: another loop using it while the first still has it registered
/// gets std::runtime_error.
class socket {
  public:
    /// No socket (fd() == -1).
    socket() noexcept = default;
    /// A new socket: socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol).
    /// Throws std::system_error (EAFNOSUPPORT, EMFILE, ...).
    explicit socket(int family, int type = SOCK_STREAM, int protocol = 0);
    /// Takes ownership of `fd` (which must be a socket) and makes it non-blocking.
    /// Throws std::system_error (EBADF) without taking it when `fd` is not open.
    static socket adopt(int fd);
    /// A connected pair (socketpair): AF_UNIX by default. Python: socket.socketpair().
    static std::pair<socket, socket> pair(int family = AF_UNIX, int type = SOCK_STREAM, int protocol = 0);

    socket(socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), io_(std::exchange(o.io_, nullptr)) {}
    socket& operator=(socket&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
            io_ = std::exchange(o.io_, nullptr);
        }
        return *this;
    }
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;
    ~socket() { close(); }

    int fd() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    /// Unregisters from the loop's poller (an operation waiting on the socket fails with
    /// std::system_error(EBADF)), then closes. Idempotent. Python: socket.close().
    void close() noexcept;
    /// Unregisters as close() does, but gives the fd to the caller instead of closing it.
    int release() noexcept;

    // Thin wrappers, each throwing std::system_error naming the call (and the address).
    void bind(const address& a);
    /// Python's default backlog: min(SOMAXCONN, 128).
    void listen(int backlog = 128);
    address local_address() const;  // getsockname
    address peer_address() const;   // getpeername
    void set_option(int level, int name, int value);
    int get_option(int level, int name) const;
    /// SHUT_RD, SHUT_WR or SHUT_RDWR.
    void shutdown(int how);
    /// SO_DOMAIN: AF_INET, AF_INET6, AF_UNIX.
    int family() const;

  private:
    friend class asyncio::event_loop;
    friend struct detail_access;
    void detach() noexcept;
    int fd_ = -1;
    detail::fd_state* io_ = nullptr;  // the loop's state for this fd, once an operation used it
};

}  // namespace asyncio::net
