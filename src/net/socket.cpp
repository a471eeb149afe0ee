// asyncio::net::socket and the loop's low-level socket operations (event_loop::sock_*,
// getaddrinfo). These are the only places that make socket syscalls for tasks: each tries its
// syscall first and parks the task at a detail::io_wait only on EAGAIN. They never start
// io_uring's multishot receive or accept (streams and servers do, src/net/streams.cpp and
// server.cpp): what the kernel took into the loop's buffers would be lost when the caller
// release()s the socket, or uses it after the loop is gone; readiness leaves it in the socket.
#include "asyncio/net/socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "asyncio/detail/io_wait.hpp"
#include "fd_user.hpp"

namespace asyncio {

namespace net {
// For the operations below: a socket around an fd known to be a non-blocking socket already
// (accept4's), without adopt()'s fcntl: no syscall beyond the accept itself.
struct detail_access {
    static socket own(int fd) noexcept {
        socket s;
        s.fd_ = fd;
        return s;
    }
};
}  // namespace net

namespace {

using detail::io_direction;

using detail::fd_user;
using detail::throw_errno;
using detail::would_block;

coro<std::size_t> recv_op(event_loop& loop, net::socket* sock, int fd, char* p, std::size_t n) {
    fd_user u(loop, sock, fd, "sock_recv");
    for (;;) {
        if (u.may_be_ready(io_direction::read)) {
            ssize_t r = ::recv(u.fd(), p, n, 0);
            if (r >= 0) co_return static_cast<std::size_t>(r);
            int err = errno;
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, "recv");
            u.not_ready(io_direction::read);
        }
        co_await u.wait(io_direction::read);
        u.check_attached();
    }
}

coro<std::string> recv_string_op(event_loop& loop, net::socket* sock, int fd, std::size_t n) {
    std::string buf(n, '\0');
    std::size_t got = co_await recv_op(loop, sock, fd, buf.data(), n);
    buf.resize(got);
    co_return buf;
}

coro<std::size_t> send_op(event_loop& loop, net::socket* sock, int fd, std::string_view data) {
    fd_user u(loop, sock, fd, "sock_send");
    for (;;) {
        if (u.may_be_ready(io_direction::write)) {
            ssize_t r = ::send(u.fd(), data.data(), data.size(), MSG_NOSIGNAL);
            if (r >= 0) co_return static_cast<std::size_t>(r);
            int err = errno;
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, "send");
            u.not_ready(io_direction::write);
        }
        co_await u.wait(io_direction::write);
        u.check_attached();
    }
}

coro<void> sendall_op(event_loop& loop, net::socket* sock, int fd, std::string_view data) {
    fd_user u(loop, sock, fd, "sock_sendall");
    std::size_t sent = 0;
    while (sent < data.size()) {
        if (u.may_be_ready(io_direction::write)) {
            ssize_t r = ::send(u.fd(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (r >= 0) {
                sent += static_cast<std::size_t>(r);
                continue;
            }
            int err = errno;
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, "send");
            u.not_ready(io_direction::write);
        }
        co_await u.wait(io_direction::write);
        u.check_attached();
    }
}

coro<std::pair<net::socket, net::address>> accept_op(event_loop& loop, net::socket* sock, int fd) {
    fd_user u(loop, sock, fd, "sock_accept");
    for (;;) {
        if (u.may_be_ready(io_direction::read)) {
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            int c = ::accept4(u.fd(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                net::socket conn = net::detail_access::own(c);  // owned at once: nothing below leaks it
                net::address from = net::address::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), len);
                co_return std::pair<net::socket, net::address>(std::move(conn), std::move(from));
            }
            int err = errno;
            // A connection reset before we took it, or (Linux, accept(2)) a network error already
            // pending on it: nothing for the caller; the next one may be there. Python's
            // sock_accept raises ConnectionAbortedError here; its servers skip it, as we do.
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
            if (!would_block(err)) throw_errno(err, "accept");  // EMFILE, ENFILE: at once, no retry
            u.not_ready(io_direction::read);
        }
        co_await u.wait(io_direction::read);
        u.check_attached();
    }
}

coro<void> connect_op(event_loop& loop, net::socket* sock, int fd, net::address addr) {
    fd_user u(loop, sock, fd, "sock_connect");
    if (::connect(u.fd(), addr.data(), addr.size()) == 0) co_return;
    int err = errno;
    // EINTR: the connection goes on asynchronously, as after EINPROGRESS (connect(2)).
    if (err != EINPROGRESS && err != EINTR) throw_errno(err, "connect to " + addr.to_string());
    for (;;) {
        u.not_ready(io_direction::write);
        co_await u.wait(io_direction::write);
        u.check_attached();
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(u.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
            throw_errno(errno, "getsockopt(SO_ERROR)");
        if (so_error == EINPROGRESS || so_error == EINTR) continue;
        if (so_error != 0) throw_errno(so_error, "connect to " + addr.to_string());
        // Writable with no error: connected, unless the wake was an old writability edge of a
        // socket registered before the connect began; then it is still in progress.
        sockaddr_storage peer{};
        socklen_t plen = sizeof peer;
        if (::getpeername(u.fd(), reinterpret_cast<sockaddr*>(&peer), &plen) == 0) co_return;
        if (errno != ENOTCONN) throw_errno(errno, "getpeername");
    }
}

std::vector<net::address> resolve(const std::string& host, int port, int family, int flags) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address (not one per socket type)
    hints.ai_flags = flags | AI_NUMERICSERV;
    std::string service = std::to_string(port);
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (rc == EAI_SYSTEM) throw_errno(errno, "getaddrinfo '" + host + "'");
    if (rc != 0) throw std::system_error(rc, net::resolver_category(), "getaddrinfo '" + host + "'");
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, &::freeaddrinfo);
    std::vector<net::address> out;
    for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        net::address a = net::address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
    return out;
}

// `host` as an address literal of a family the caller accepts, or nothing (it is a name).
std::optional<net::address> as_literal(const std::string& host, int port, int family) {
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF.:%") != std::string::npos) return {};
    try {
        net::address a(host, port);
        if (family == AF_UNSPEC || family == a.family()) return a;
    } catch (const std::invalid_argument&) {  // a name made of hex digits ("cafe"): resolve it
    }
    return {};
}

}  // namespace

// --- the loop's operations -----------------------------------------------------------------------
// Not coroutines themselves: they only bind the arguments (so a closed socket or a wrong loop is
// reported at the co_await, as in Python, not at the call).

coro<std::string> event_loop::sock_recv(net::socket& sock, std::size_t n) {
    return recv_string_op(*this, &sock, -1, n);
}
coro<std::string> event_loop::sock_recv(int fd, std::size_t n) {
    return recv_string_op(*this, nullptr, fd, n);
}
coro<std::size_t> event_loop::sock_recv_into(net::socket& sock, std::span<char> buf) {
    return recv_op(*this, &sock, -1, buf.data(), buf.size());
}
coro<std::size_t> event_loop::sock_recv_into(int fd, std::span<char> buf) {
    return recv_op(*this, nullptr, fd, buf.data(), buf.size());
}
coro<std::size_t> event_loop::sock_send(net::socket& sock, std::string_view data) {
    return send_op(*this, &sock, -1, data);
}
coro<std::size_t> event_loop::sock_send(int fd, std::string_view data) {
    return send_op(*this, nullptr, fd, data);
}
coro<void> event_loop::sock_sendall(net::socket& sock, std::string_view data) {
    return sendall_op(*this, &sock, -1, data);
}
coro<void> event_loop::sock_sendall(int fd, std::string_view data) {
    return sendall_op(*this, nullptr, fd, data);
}
coro<std::pair<net::socket, net::address>> event_loop::sock_accept(net::socket& sock) {
    return accept_op(*this, &sock, -1);
}
coro<std::pair<net::socket, net::address>> event_loop::sock_accept(int fd) {
    return accept_op(*this, nullptr, fd);
}
coro<void> event_loop::sock_connect(net::socket& sock, const net::address& addr) {
    return connect_op(*this, &sock, -1, addr);
}
coro<void> event_loop::sock_connect(int fd, const net::address& addr) {
    return connect_op(*this, nullptr, fd, addr);
}

coro<std::vector<net::address>> event_loop::getaddrinfo(std::string host, int port, int family, int flags) {
    if (port < 0 || port > 65535)
        throw std::invalid_argument("port must be 0-65535, not " + std::to_string(port));
    // Python always goes to the executor; a literal needs no lookup (Python's sock_connect and
    // create_connection skip it the same way), so it costs no thread hop here.
    if (std::optional<net::address> literal = as_literal(host, port, family)) {
        std::vector<net::address> one(1, *literal);
        co_return one;
    }
    future<std::vector<net::address>> found = run_in_executor(
        nullptr, [host, port, family, flags]() { return resolve(host, port, family, flags); });
    std::vector<net::address> out = co_await found;
    co_return out;
}

detail::fd_state* event_loop::io_attach(net::socket& sock) {
    if (sock.io_) {
        if (sock.io_->loop == this) return sock.io_;
        if (sock.io_->loop)
            throw std::runtime_error("socket (fd " + std::to_string(sock.fd_) +
                                     ") is in use by another event loop");
        io_release(std::exchange(sock.io_, nullptr));  // its loop is gone: start afresh with this one
    }
    if (sock.fd_ < 0) throw std::system_error(EBADF, std::generic_category(), "the socket is closed");
    detail::fd_state* st = io_acquire(sock.fd_);
    st->owned = true;
    sock.io_ = st;  // the socket's reference (io_acquire's)
    return st;
}

namespace net {

socket::socket(int family, int type, int protocol) {
    fd_ = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) throw_errno(errno, "socket");
}

socket socket::adopt(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) throw_errno(errno, "adopt fd " + std::to_string(fd));
    if (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        throw_errno(errno, "fcntl(O_NONBLOCK)");
    socket s;
    s.fd_ = fd;
    return s;
}

std::pair<socket, socket> socket::pair(int family, int type, int protocol) {
    int fds[2];
    if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol, fds) < 0)
        throw_errno(errno, "socketpair");
    socket a, b;
    a.fd_ = fds[0];
    b.fd_ = fds[1];
    return {std::move(a), std::move(b)};
}

void socket::detach() noexcept {
    if (!io_) return;
    if (io_->loop) static_cast<event_loop*>(io_->loop)->io_forget(io_);
    event_loop::io_release(std::exchange(io_, nullptr));
}

void socket::close() noexcept {
    if (fd_ < 0) return;
    detach();
    ::close(std::exchange(fd_, -1));
}

int socket::release() noexcept {
    detach();
    return std::exchange(fd_, -1);
}

void socket::bind(const address& a) {
    if (::bind(fd_, a.data(), a.size()) < 0) throw_errno(errno, "bind to " + a.to_string());
}

void socket::listen(int backlog) {
    if (::listen(fd_, backlog) < 0) throw_errno(errno, "listen");
}

address socket::local_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno(errno, "getsockname");
    return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

address socket::peer_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno(errno, "getpeername");
    return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

void socket::set_option(int level, int name, int value) {
    if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) throw_errno(errno, "setsockopt");
}

int socket::get_option(int level, int name) const {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd_, level, name, &value, &len) < 0) throw_errno(errno, "getsockopt");
    return value;
}

void socket::shutdown(int how) {
    if (::shutdown(fd_, how) < 0) throw_errno(errno, "shutdown");
}

int socket::family() const { return get_option(SOL_SOCKET, SO_DOMAIN); }

}  // namespace net
}  // namespace asyncio
