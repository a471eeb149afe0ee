// asyncio::datagram_socket and open_datagram_endpoint. The operations follow the loop's sock_*
// operations (src/net/socket.cpp): try the syscall first, park the task at a detail::io_wait
// only after an EAGAIN, and remember the EAGAIN until the poller reports the next edge.
#include "asyncio/net/datagram.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "asyncio/detail/io_wait.hpp"
#include "asyncio/event_loop.hpp"
#include "fd_user.hpp"

namespace asyncio {

namespace {

using detail::io_direction;

using detail::fd_user;
using detail::throw_errno;
using detail::would_block;

const char* family_name(int family) noexcept {
    switch (family) {
        case AF_INET:
            return "an IPv4";
        case AF_INET6:
            return "an IPv6";
        case AF_UNIX:
            return "a Unix";
        default:
            return "an unspecified";
    }
}

// One operation's hold on the loop's state of a datagram socket's fd (src/net/fd_user.hpp): the
// state lives as long as the socket; the hold keeps it while the operation runs, even if the
// socket is closed meanwhile.
fd_user use_socket(net::socket& sock, const char* what) {
    if (!sock.is_open())
        throw std::system_error(EBADF, std::generic_category(),
                                std::string(what) + ": the datagram socket is closed");
    return fd_user(get_running_loop(), &sock, sock.fd(), what);
}

// The sender recvfrom reported. An unnamed Unix sender may come with no address at all.
net::address sender(int family, const sockaddr_storage& from, socklen_t len) {
    if (len < static_cast<socklen_t>(sizeof(sa_family_t)))
        return family == AF_UNIX ? net::address::unix_path("") : net::address();
    return net::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), len);
}

// One recvfrom with MSG_TRUNC: the datagram's full length even when `n` is smaller (Linux: UDP,
// and Unix datagram sockets since 3.4), so truncation is known without recvmsg; -1 and errno.
ssize_t recv_datagram(int fd, char* buf, std::size_t n, sockaddr_storage& from, socklen_t& len) noexcept {
    len = sizeof from;
    return ::recvfrom(fd, buf, n, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &len);
}

constexpr std::size_t stack_buffer_size = 65536;

// recvfrom into `out`, sized to the datagram (at most `max`): 0, or the errno value. Up to 64 KiB
// goes through a stack buffer (not the coroutine's frame: hence not inlined into it), so that a
// small datagram costs neither zeroing a 64 KiB string nor keeping 64 KiB of capacity per string.
[[gnu::noinline]] int recv_string(int fd, std::size_t max, std::string& out, sockaddr_storage& from,
                                  socklen_t& len) {
    if (max <= stack_buffer_size) {
        char buf[stack_buffer_size];
        ssize_t r = recv_datagram(fd, buf, max, from, len);
        if (r < 0) return errno;
        out.assign(buf, std::min(static_cast<std::size_t>(r), max));
        return 0;
    }
    std::string big(max, '\0');
    ssize_t r = recv_datagram(fd, big.data(), max, from, len);
    if (r < 0) return errno;
    big.resize(std::min(static_cast<std::size_t>(r), max));
    if (big.capacity() - big.size() > stack_buffer_size) big.shrink_to_fit();
    out = std::move(big);
    return 0;
}

// what() of a receive error: "recv", or "recv from <peer>" on a connected socket.
std::string recv_what(const datagram_socket& self) {
    const std::optional<net::address>& peer = self.remote_address();
    return self.is_connected() && peer ? "recv from " + peer->to_string() : std::string("recv");
}

coro<std::pair<std::string, net::address>> recv_from_op(datagram_socket& self, std::size_t max) {
    fd_user u = use_socket(self.socket(), "recv_from");
    std::pair<std::string, net::address> got;
    sockaddr_storage from;
    socklen_t len = 0;
    for (;;) {
        if (u.may_be_ready(io_direction::read)) {
            int err = recv_string(u.fd(), max, got.first, from, len);
            if (err == 0) {
                got.second = sender(self.family(), from, len);
                co_return got;
            }
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, recv_what(self));
            u.not_ready(io_direction::read);
        }
        co_await u.wait(io_direction::read);
        u.check_attached();
    }
}

// recv_from without the sender (its own loop: no second frame, no address to build).
coro<std::string> recv_op(datagram_socket& self, std::size_t max) {
    fd_user u = use_socket(self.socket(), "recv");
    std::string got;
    sockaddr_storage from;
    socklen_t len = 0;
    for (;;) {
        if (u.may_be_ready(io_direction::read)) {
            int err = recv_string(u.fd(), max, got, from, len);
            if (err == 0) co_return got;
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, recv_what(self));
            u.not_ready(io_direction::read);
        }
        co_await u.wait(io_direction::read);
        u.check_attached();
    }
}

coro<received_datagram> recv_from_into_op(datagram_socket& self, std::span<char> buf) {
    fd_user u = use_socket(self.socket(), "recv_from_into");
    sockaddr_storage from;
    socklen_t len = 0;
    for (;;) {
        if (u.may_be_ready(io_direction::read)) {
            ssize_t r = recv_datagram(u.fd(), buf.data(), buf.size(), from, len);
            if (r >= 0) {
                received_datagram got;
                got.size = std::min(static_cast<std::size_t>(r), buf.size());
                got.truncated = static_cast<std::size_t>(r) > buf.size();
                got.from = sender(self.family(), from, len);
                co_return got;
            }
            int err = errno;
            if (err == EINTR) continue;
            if (!would_block(err)) throw_errno(err, recv_what(self));
            u.not_ready(io_direction::read);
        }
        co_await u.wait(io_direction::read);
        u.check_attached();
    }
}

// Sends one datagram: to `to`, or (no `to`) to the connected peer. A datagram goes out whole or
// not at all, so there is no partial send to continue.
coro<void> send_op(datagram_socket& self, std::string_view data, std::optional<net::address> to,
                   const char* what) {
    fd_user u = use_socket(self.socket(), what);
    if (to) {
        if (to->family() != self.family())
            throw std::invalid_argument(std::string(what) + ": " + to->to_string() + " is not " +
                                        family_name(self.family()) + " address (the socket's family)");
        if (self.is_connected()) {
            // Python: "Invalid address: must be None or <peer>". Linux would send it anyway.
            if (*to != *self.remote_address())
                throw std::invalid_argument(std::string(what) + ": invalid address " + to->to_string() +
                                            ": the socket is connected to " +
                                            self.remote_address()->to_string());
            to.reset();  // the peer: plain send
        }
    }
    for (;;) {
        if (u.may_be_ready(io_direction::write)) {
            ssize_t r = to ? ::sendto(u.fd(), data.data(), data.size(), MSG_NOSIGNAL, to->data(), to->size())
                           : ::send(u.fd(), data.data(), data.size(), MSG_NOSIGNAL);
            if (r >= 0) co_return;
            int err = errno;
            if (err == EINTR) continue;
            if (!would_block(err)) {
                const std::optional<net::address>& dest = to ? to : self.remote_address();
                throw_errno(err, dest ? "send to " + dest->to_string() : std::string("send"));
            }
            u.not_ready(io_direction::write);
        }
        co_await u.wait(io_direction::write);
        u.check_attached();
    }
}

// --- open_datagram_endpoint ----------------------------------------------------------------------

coro<std::vector<net::address>> lookup(event_loop& loop, const net::endpoint& end, int family,
                                       const char* which) {
    if (end.is_name()) {
        if (family == AF_UNIX)
            throw std::invalid_argument(std::string(which) +
                                        " end: a host and port for a Unix socket (give "
                                        "net::address::unix_path)");
        std::vector<net::address> found = co_await loop.getaddrinfo(end.host(), end.port(), family);
        co_return found;
    }
    const net::address& a = *end.addr();
    if (a.family() != AF_INET && a.family() != AF_INET6 && a.family() != AF_UNIX)
        throw std::invalid_argument(std::string(which) + " address is unspecified");
    if (family != AF_UNSPEC && a.family() != family)
        throw std::invalid_argument(std::string(which) + " address " + a.to_string() + " is not " +
                                    family_name(family) + " address (options.family)");
    std::vector<net::address> one(1, a);
    co_return one;
}

const net::address* first_of_family(const std::vector<net::address>& all, int family) noexcept {
    for (const net::address& a : all)
        if (a.family() == family) return &a;
    return nullptr;
}

struct candidate {
    int family;
    const net::address* local;
    const net::address* remote;
};

}  // namespace

// --- datagram_socket -----------------------------------------------------------------------------
// Not coroutines themselves: they bind the arguments, so that errors (a closed socket, a wrong
// address) are reported at the co_await, as for the loop's sock_* operations.

datagram_socket::datagram_socket(net::socket sock) {
    if (!sock.is_open()) throw std::invalid_argument("datagram_socket: the socket is closed");
    if (sock.get_option(SOL_SOCKET, SO_TYPE) != SOCK_DGRAM)
        throw std::invalid_argument("datagram_socket: a datagram socket (SOCK_DGRAM) was expected");
    family_ = sock.family();
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(sock.fd(), reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
        remote_ = sender(family_, peer, len);
        connected_ = true;
    } else if (errno != ENOTCONN) {
        throw_errno(errno, "getpeername");
    }
    sock_ = std::move(sock);
}

coro<void> datagram_socket::send_to(std::string_view data, const net::address& to) {
    return send_op(*this, data, to, "send_to");
}

coro<void> datagram_socket::send(std::string_view data) {
    // With allow_broadcast the remote end is not connected: send to it by address.
    std::optional<net::address> to;
    if (!connected_) to = remote_;
    return send_op(*this, data, std::move(to), "send");
}

coro<std::pair<std::string, net::address>> datagram_socket::recv_from(std::size_t max) {
    return recv_from_op(*this, max);
}

coro<std::string> datagram_socket::recv(std::size_t max) { return recv_op(*this, max); }

coro<received_datagram> datagram_socket::recv_from_into(std::span<char> buf) {
    return recv_from_into_op(*this, buf);
}

coro<datagram_socket> open_datagram_endpoint(net::endpoint local, net::endpoint remote,
                                             datagram_options options) {
    const int family = options.family;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        throw std::invalid_argument("open_datagram_endpoint: unsupported address family " +
                                    std::to_string(family));
    if (!local && !remote && family == AF_UNSPEC) throw std::invalid_argument("unexpected address family");
    event_loop& loop = get_running_loop();

    std::vector<net::address> locals;
    std::vector<net::address> remotes;
    if (local) {
        std::vector<net::address> found = co_await lookup(loop, local, family, "local");
        locals = std::move(found);
    }
    if (remote) {
        std::vector<net::address> found = co_await lookup(loop, remote, family, "remote");
        remotes = std::move(found);
    }

    // One attempt per family the lookups gave (in the order they gave them), with the first
    // address of that family of each given end. (Python keeps the last address of each family:
    // the resolver's preferred order says the first.)
    std::vector<candidate> candidates;
    if (!local && !remote) {
        candidates.push_back(candidate{family, nullptr, nullptr});
    } else {
        std::vector<int> families;
        for (const std::vector<net::address>* list : {&locals, &remotes})
            for (const net::address& a : *list)
                if (std::find(families.begin(), families.end(), a.family()) == families.end())
                    families.push_back(a.family());
        for (int f : families) {
            const net::address* l = first_of_family(locals, f);
            const net::address* r = first_of_family(remotes, f);
            if ((local && !l) || (remote && !r)) continue;
            candidates.push_back(candidate{f, l, r});
        }
        if (candidates.empty()) throw std::invalid_argument("can not get address information");
    }

    std::exception_ptr first_error;
    for (const candidate& c : candidates) {
        net::socket sock;
        bool ready = false;
        try {
            sock = net::socket(c.family, SOCK_DGRAM);
            if (options.reuse_port) sock.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
            if (options.allow_broadcast) sock.set_option(SOL_SOCKET, SO_BROADCAST, 1);
            if (c.local) sock.bind(*c.local);
            if (c.remote && !options.allow_broadcast) co_await loop.sock_connect(sock, *c.remote);
            ready = true;
        } catch (const std::system_error&) {
            if (!first_error) first_error = std::current_exception();
        }
        if (ready) {
            std::optional<net::address> peer;
            if (c.remote) peer = *c.remote;
            const bool connected = c.remote && !options.allow_broadcast;
            co_return datagram_socket(std::move(sock), c.family, std::move(peer), connected);
        }
    }
    std::rethrow_exception(first_error);
}

}  // namespace asyncio
