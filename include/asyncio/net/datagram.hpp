// UDP (and Unix datagram) sockets for tasks: asyncio::open_datagram_endpoint and
// asyncio::datagram_socket. Python: loop.create_datagram_endpoint(local_addr=, remote_addr=),
// with the transport's sendto and the protocol's datagram_received turned into awaitable calls.
//
//     using asyncio::net::endpoint;
//     // A server: bound, unconnected; it answers whoever wrote.
//     asyncio::datagram_socket server = co_await asyncio::open_datagram_endpoint(endpoint("127.0.0.1",
//     9999)); auto [data, from] = co_await server.recv_from(); co_await server.send_to(data, from);
//
//     // A client: connected to one peer (it only receives from that peer).
//     asyncio::datagram_socket client =
//         co_await asyncio::open_datagram_endpoint(std::nullopt, endpoint("localhost", 9999));
//     co_await client.send("ping");
//     std::string reply = co_await client.recv();
//
// (GCC 12 miscompiles a braced list in a statement with co_await: write endpoint("host", port),
// not {"host", port}, in the co_await's statement, or build the endpoint in a statement before.)
//
// Where we differ from Python, on purpose:
// - Python's transport.sendto() never waits: when the kernel says EAGAIN it buffers the datagram
//   in user space, without bound. send_to/send here wait for room instead (back-pressure), so
//   nothing is buffered and a send that returned has handed its datagram to the kernel.
// - Python reports receive and send errors to protocol.error_received(exc); here the recv or send
//   that met the error throws it (std::system_error), once, and the socket stays usable.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "../coro.hpp"
#include "address.hpp"
#include "socket.hpp"

namespace asyncio {

namespace net {

/// One end given to open_datagram_endpoint: nothing, an address (used as is), or a host and a
/// port that are resolved with loop.getaddrinfo (Python's ('host', port) tuples):
///     open_datagram_endpoint(endpoint("127.0.0.1", 0))                 // local only: bind
///     open_datagram_endpoint(std::nullopt, endpoint("localhost", 53))  // remote only: connect
///     open_datagram_endpoint(std::nullopt, some_address)
///     open_datagram_endpoint(address::unix_path("/run/x.sock"))        // a Unix datagram socket
class endpoint {
  public:
    /// Nothing (Python's None).
    endpoint() noexcept = default;
    endpoint(std::nullopt_t) noexcept {}
    /// An address, used without a lookup (of any family: IPv4, IPv6 or a Unix path).
    endpoint(address a) : address_(std::move(a)) {}
    endpoint(std::optional<address> a) : address_(std::move(a)) {}
    /// A host name or IP literal, and a port (0-65535), resolved at open_datagram_endpoint.
    endpoint(std::string host, int port) : host_(std::move(host)), port_(port), named_(true) {}

    /// Whether an end was given.
    bool has_value() const noexcept { return named_ || address_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    /// The address given, if one was (not a host and port).
    const std::optional<address>& addr() const noexcept { return address_; }
    /// The host and port given, if they were (is_name() true).
    bool is_name() const noexcept { return named_; }
    const std::string& host() const noexcept { return host_; }
    int port() const noexcept { return port_; }

  private:
    std::optional<address> address_;
    std::string host_;
    int port_ = 0;
    bool named_ = false;
};

}  // namespace net

/// Options of open_datagram_endpoint (Python's keyword arguments of the same names).
struct datagram_options {
    /// AF_UNSPEC (any the addresses have), AF_INET, AF_INET6 or AF_UNIX. Needed when neither a
    /// local nor a remote end is given; otherwise it restricts the lookup to that family.
    int family = AF_UNSPEC;
    /// SO_REUSEPORT before binding: several sockets (processes, loops) share the local port and
    /// the kernel spreads the datagrams between them.
    bool reuse_port = false;
    /// SO_BROADCAST: may send to broadcast addresses. As in Python, a remote end is then *not*
    /// connected (a connected socket only receives from its peer): it is only where send() sends.
    bool allow_broadcast = false;
};

/// What recv_from_into reports about the datagram it took.
struct received_datagram {
    std::size_t size = 0;    // bytes written into the buffer
    net::address from;       // the sender (an unnamed Unix sender: the empty Unix address)
    bool truncated = false;  // the datagram was longer than the buffer: the rest is lost
};

/// A datagram socket of a task's loop: owns a non-blocking SOCK_DGRAM net::socket. Move-only;
/// closes on destruction. Made by open_datagram_endpoint, or around a socket of one's own.
///
/// Datagrams are whole: each recv takes exactly one datagram (possibly empty: "" is an empty
/// datagram, there is no end of stream), each send sends exactly one. A datagram longer than
/// the receive size is truncated: the rest is discarded by the kernel (as in Python, silently;
/// recv_from_into reports it). The default size, 65536, holds any UDP datagram (at most 65507
/// bytes over IPv4, 65527 over IPv6). Order and delivery are not guaranteed (UDP); on loopback
/// datagrams arrive in order while the receiver's buffer (SO_RCVBUF) has room, and are dropped
/// beyond it.
///
/// Errors are std::system_error with the errno value: ECONNREFUSED at the recv or send after a
/// datagram sent on a connected socket met a closed port (the ICMP "port unreachable" the kernel
/// keeps for the socket: reported once, then the socket works on; Python's error_received),
/// EMSGSIZE for a datagram too large to send, EBADF for a closed socket (also for an operation
/// waiting on the socket when it is closed). what() names the operation and the peer: "recv from
/// 127.0.0.1:9: Connection refused", "send to [::1]:53: Message too long", "send_to: the datagram
/// socket is closed: Bad file descriptor". One task at a time may wait to receive and one to
/// send (a second one: std::runtime_error, as the loop's sock_* operations). Operations use the
/// running loop; a datagram_socket must not be moved or destroyed while an operation on it is in
/// flight. Data arguments (string_view, span) must outlive the awaited coro.
class datagram_socket {
  public:
    /// No socket (is_open() false).
    datagram_socket() noexcept = default;
    /// Takes `sock`, a SOCK_DGRAM socket (bound or not; connected or not: then its peer is the
    /// remote address). Python: create_datagram_endpoint(sock=). Throws std::invalid_argument
    /// for a socket that is closed or not of type SOCK_DGRAM ("a datagram socket was expected",
    /// Python's "A UDP Socket was expected").
    explicit datagram_socket(net::socket sock);
    /// What open_datagram_endpoint makes: `remote` is where send() sends, `connected` whether
    /// `sock` is connected to it.
    datagram_socket(net::socket sock, int family, std::optional<net::address> remote, bool connected) noexcept
        : sock_(std::move(sock)), family_(family), remote_(std::move(remote)), connected_(connected) {}

    datagram_socket(datagram_socket&&) noexcept = default;
    datagram_socket& operator=(datagram_socket&&) noexcept = default;
    datagram_socket(const datagram_socket&) = delete;
    datagram_socket& operator=(const datagram_socket&) = delete;
    ~datagram_socket() = default;

    /// Sends `data` as one datagram to `to`. Waits only while the kernel has no room (EAGAIN).
    /// Throws std::invalid_argument when `to` is of another family than the socket ("send_to:
    /// [::1]:5 is not an IPv4 address", instead of the kernel's answers, which differ by family
    /// and may even send an IPv4 datagram from an IPv6 socket), or when the socket is connected
    /// and `to` is not its peer (Python's "Invalid address: must be None or ..."); std::system_error
    /// (EMSGSIZE, ECONNREFUSED, EACCES for a broadcast address without allow_broadcast, ...).
    /// Cancellation: datagram sends are atomic, and send_to only waits *before* its datagram
    /// went out (for room): a cancelled send_to sent nothing. Once the kernel took the datagram,
    /// send_to returns normally (a cancel then arrives at the task's next await).
    coro<void> send_to(std::string_view data, const net::address& to);
    /// Sends `data` as one datagram to the remote end (connected, or with allow_broadcast the
    /// remote address). Throws std::system_error(EDESTADDRREQ) when there is no remote end;
    /// otherwise as send_to. Cancellation: as send_to: nothing or the whole datagram was sent.
    coro<void> send(std::string_view data);
    /// Receives one datagram of at most `max` bytes (longer ones are truncated) and its sender.
    /// A connected socket only receives from its peer. Throws std::system_error (ECONNREFUSED:
    /// see above). Cancellation: a cancelled recv_from took no datagram: it stays queued in the
    /// kernel for the next receive.
    coro<std::pair<std::string, net::address>> recv_from(std::size_t max = 65536);
    /// As recv_from, without the sender (for a connected socket).
    coro<std::string> recv(std::size_t max = 65536);
    /// As recv_from, into `buf`, and says whether the datagram was truncated (longer than `buf`).
    /// Cancellation: as recv_from: nothing was written to `buf` and no datagram was taken.
    /// Python: loop.sock_recvfrom_into.
    coro<received_datagram> recv_from_into(std::span<char> buf);

    /// getsockname: where the socket is bound (after a bind to port 0: the port it got).
    /// Python: transport.get_extra_info('sockname'). Throws std::system_error (EBADF when closed).
    net::address local_address() const { return sock_.local_address(); }
    /// The remote end given to open_datagram_endpoint (or the peer of an adopted connected
    /// socket); none for an unconnected socket. Python: get_extra_info('peername').
    const std::optional<net::address>& remote_address() const noexcept { return remote_; }
    /// Whether the socket is connected to remote_address() (not with allow_broadcast).
    bool is_connected() const noexcept { return connected_; }
    /// AF_INET, AF_INET6 or AF_UNIX.
    int family() const noexcept { return family_; }

    /// Closes the socket (an operation waiting on it fails with std::system_error(EBADF)).
    /// Idempotent. Python: transport.close() (which also waits for its buffer to drain; nothing
    /// is buffered here).
    void close() noexcept { sock_.close(); }
    bool is_open() const noexcept { return sock_.is_open(); }
    /// The socket itself, for options (set_option) and fd(). Python: get_extra_info('socket').
    net::socket& socket() noexcept { return sock_; }
    const net::socket& socket() const noexcept { return sock_; }

  private:
    net::socket sock_;
    int family_ = AF_UNSPEC;
    std::optional<net::address> remote_;
    bool connected_ = false;
};

/// Opens a datagram socket: `local`, if given, is bound; `remote`, if given, is connected (so
/// that send() needs no address and only the peer's datagrams arrive), except with
/// allow_broadcast. Host names are resolved with loop.getaddrinfo (on the executor); IP
/// literals and net::address values need no lookup. With both ends given, a family both have
/// is used; each family the lookups gave is tried in turn (the first address of each) until one
/// works, and the first error is thrown if none does (as Python). Neither end given: an unbound
/// socket of options.family.
/// Throws: std::invalid_argument when neither end is given and options.family is AF_UNSPEC
/// ("unexpected address family", Python's ValueError), when the ends have no family in common
/// ("can not get address information"), for an address not of options.family, or for a
/// family other than AF_INET, AF_INET6, AF_UNIX; std::system_error for a failed lookup (code
/// in net::resolver_category()), bind (EADDRINUSE: "bind to 127.0.0.1:53: Address already in
/// use") or connect. Unlike Python, an existing socket file at a local Unix path is not removed
/// first: bind then fails with EADDRINUSE.
/// Cancellation: only a lookup of a host name waits (UDP connects at once); cancelled there,
/// no socket was made (the lookup runs to its end on its thread; its result is dropped).
/// Python: loop.create_datagram_endpoint(factory, local_addr=, remote_addr=, family=,
/// reuse_port=, allow_broadcast=).
coro<datagram_socket> open_datagram_endpoint(net::endpoint local, net::endpoint remote = {},
                                             datagram_options options = {});

}  // namespace asyncio
