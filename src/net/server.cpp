// asyncio::server, start_server, start_unix_server (see server.hpp). One accept task per
// listening socket (accept4 first, a detail::io_wait on EAGAIN, a pause on EMFILE), one task per
// connection running the handler.
#include "asyncio/net/server.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "asyncio/detail/intrusive.hpp"
#include "asyncio/sleep.hpp"
#include "asyncio/sync/event.hpp"
#include "asyncio/task.hpp"
#include "stream_transport.hpp"

namespace asyncio {
namespace detail {

struct server_state {
    static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_allocator::deallocate(p, n); }

    void add_ref() noexcept { ++refs; }
    void release() noexcept {
        if (--refs == 0) delete this;
    }

    void close() noexcept;
    void start_serving();
    void start_connection(int fd, const sockaddr_storage& peer, socklen_t len);
    void connection_ended() noexcept {
        --active;
        maybe_drained();
    }
    bool is_drained() const noexcept { return closed && active == 0 && accepting == 0; }
    void maybe_drained() noexcept {
        if (is_drained()) drained.set();
    }

    std::uint32_t refs = 0;
    event_loop* loop = nullptr;
    client_connected_handler handler;
    server_options opts;
    std::vector<net::socket> sockets;
    std::vector<task<void>> acceptors;
    intrusive_list connections;  // conn_node of each connection task
    std::size_t active = 0;
    std::size_t accepting = 0;  // accept tasks not finished yet (a closed server's end in a moment)
    int port = 0;
    bool tcp = false;  // TCP listeners (their connections get TCP_NODELAY), else Unix
    bool closed = false;
    bool serving_forever = false;
    asyncio::event stopped;  // close() was called: serve_forever returns
    asyncio::event drained;  // closed and no connection task left: wait_closed returns
    // Unix servers: the socket file to remove at close() if it is still ours.
    std::string unix_path;
    dev_t unix_dev = 0;
    ino_t unix_ino = 0;
};

struct server_access {
    static server make(server_state* s) noexcept {
        s->add_ref();
        return server(s);
    }
};

namespace {

using server_ref = ref_ptr<server_state>;

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

// A connection task's entry in its server's list. Made when the connection is accepted and
// owned by the task's coroutine (a parameter: released however the task ends, also when it is
// cancelled before its first step).
struct conn_node : list_hook {
    conn_node(server_state* s, stream_transport* t) noexcept : srv(s), transport(t) {
        srv->connections.push_back(this);
        ++srv->active;
    }
    conn_node(const conn_node&) = delete;
    conn_node& operator=(const conn_node&) = delete;
    ~conn_node() {
        intrusive_list::unlink(this);
        srv->connection_ended();
    }
    server_ref srv;
    ref_ptr<stream_transport> transport;
};

// One connection: the handler's coroutine, and Python's done-callback of its task: an exception
// is reported and the stream closed; a cancellation closes the stream too.
coro<void> run_connection(server_ref s, std::unique_ptr<conn_node> node, coro<void> body) {
    std::exception_ptr failure;
    try {
        co_await std::move(body);
    } catch (const cancelled_error&) {
        node->transport->start_close();
        throw;
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        s->loop->call_exception_handler(
            {"Unhandled exception in client_connected_cb", failure, current_task()});
        node->transport->start_close();
    }
}

// Counts a running accept task (wait_closed waits for it to end too). A parameter of the task's
// coroutine, so that it is released also when the task is cancelled before its first step (then
// only the parameters are destroyed).
struct accept_count {
    explicit accept_count(server_state* s) noexcept : srv(s) { ++srv->accepting; }
    accept_count(accept_count&& o) noexcept = default;  // the moved-from one holds nothing
    accept_count& operator=(accept_count&&) = delete;
    ~accept_count() {
        if (!srv) return;
        --srv->accepting;
        srv->maybe_drained();
    }
    server_ref srv;
};

// start_connection, reporting its failure to the loop's exception handler.
void start_connection_reporting(server_state& s, int c, const sockaddr_storage& peer,
                                socklen_t len) noexcept {
    try {
        s.start_connection(c, peer, len);
    } catch (const std::exception&) {
        s.loop->call_exception_handler(
            {"Error setting up a connection accepted by the server", std::current_exception(), {}});
    }
}

// Accepts on listening socket `index` until the server closes.
coro<void> accept_connections(server_ref s, std::size_t index, accept_count) {
    if (s->closed) co_return;
    event_loop& loop = *s->loop;
    fd_state* st = loop.io_attach(s->sockets[index]);
    const int fd = s->sockets[index].fd();
    int in_a_row = 0;
    for (;;) {
        if (s->closed) co_return;  // the socket (and `st`) may be gone
        // io_uring's multishot accept queues the connections on `st` (fd_state::rx) while it
        // runs; it stops above a cap (a flood of connections must not take all the fds) and on
        // an error (EMFILE: the pause below); accept4 takes over until its next EAGAIN.
        bool from_queue = st->rx_used && (!st->rx.empty() || st->rx_error);
        bool direct = !from_queue && st->readable && !(st->rx_used && st->rx_running);
        if (from_queue || direct) {
            if (++in_a_row > 128) {  // a flood of connections must not starve the running ones
                in_a_row = 0;
                co_await asyncio::sleep(std::chrono::seconds(0));
                continue;
            }
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            int err = 0;
            if (from_queue && !st->rx.empty()) {
                int c = event_loop::io_take_accepted(st);
                // No room for the peer's address in a multishot accept: ask for it. A connection
                // reset meanwhile has none: dropped, as accept4 would have.
                if (::getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) == 0)
                    start_connection_reporting(*s, c, peer, len);
                else
                    ::close(c);
                continue;
            } else if (from_queue) {
                err = std::exchange(st->rx_error, 0);
            } else {
                int c = ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c >= 0) {
                    start_connection_reporting(*s, c, peer, len);
                    continue;
                }
                err = errno;
                if (would_block(err)) {
                    // io_uring: from here on the kernel accepts for us (its results wake this task).
                    if (!loop.io_start_accept(st)) st->readable = false;
                    err = 0;
                }
            }
            // Nothing for us (Linux, accept(2)): the connection was aborted, or a network error
            // already pending on it; the next one may be there.
            if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN ||
                err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
                err == EOPNOTSUPP || err == ENETUNREACH)
                continue;
            if (err) {
                // Out of descriptors or memory (or worse): retrying at once would spin, as the
                // listening socket stays readable. Pause, then try again (Python).
                bool resources = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
                loop.call_exception_handler(
                    {resources ? "socket.accept() out of system resource" : "socket.accept() failed",
                     std::make_exception_ptr(std::system_error(err, std::generic_category(), "accept")),
                     {}});
                co_await asyncio::sleep(s->opts.accept_retry_delay);
                continue;
            }
        }
        in_a_row = 0;
        loop.io_register(st);
        co_await io_wait(st, io_direction::read);
    }
}

}  // namespace

void server_state::start_serving() {
    for (std::size_t i = 0; i < sockets.size(); ++i) {
        acceptors.push_back(loop->create_task(accept_connections(server_ref(this), i, accept_count(this))));
    }
}

void server_state::start_connection(int fd, const sockaddr_storage& peer, socklen_t len) {
    net::socket conn = net::socket::adopt(fd);  // owned at once: nothing below leaks it
    net::address from;
    if (len > sizeof(sa_family_t) || peer.ss_family != AF_UNIX)
        from = net::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer), len);
    else
        from = net::address::unix_path("");  // an unnamed Unix client
    std::pair<stream_reader, stream_writer> streams = stream_access::make_streams(
        std::move(conn), from, opts.limit, tcp ? socket_kind::tcp : socket_kind::other);
    stream_transport* t = stream_access::transport_of(streams.first);
    coro<void> body = handler(std::move(streams.first), std::move(streams.second));
    auto node = std::make_unique<conn_node>(this, t);
    loop->create_task(run_connection(server_ref(this), std::move(node), std::move(body)));
}

void server_state::close() noexcept {
    if (closed) return;
    closed = true;
    for (task<void>& a : acceptors) a.cancel();
    acceptors.clear();
    for (net::socket& s : sockets) s.close();
    sockets.clear();
    if (!unix_path.empty()) {
        struct stat now {};
        if (::stat(unix_path.c_str(), &now) == 0 && now.st_dev == unix_dev && now.st_ino == unix_ino)
            ::unlink(unix_path.c_str());
    }
    stopped.set();
    maybe_drained();
}

namespace {

coro<void> serve_forever_op(server_ref s) {
    if (s->closed) throw std::runtime_error("serve_forever(): the server is closed");
    if (s->serving_forever)
        throw std::runtime_error("serve_forever(): the server is already being awaited on serve_forever()");
    s->serving_forever = true;
    std::optional<cancelled_error> cancelled;
    try {
        co_await s->stopped.wait();
    } catch (const cancelled_error& e) {
        cancelled = e;
    }
    s->serving_forever = false;
    if (cancelled) {
        s->close();
        if (!s->is_drained()) co_await s->drained.wait();
        throw *cancelled;
    }
}

coro<void> wait_closed_op(server_ref s) {
    if (!s->is_drained()) co_await s->drained.wait();
}

coro<void> aclose_op(server_ref s) {
    s->close();
    if (!s->is_drained()) co_await s->drained.wait();
}

std::size_t checked_limit(std::ptrdiff_t limit) {
    if (limit <= 0) throw std::invalid_argument("Limit cannot be <= 0");
    return static_cast<std::size_t>(limit);
}

}  // namespace

coro<server> start_server_erased(client_connected_handler handler, std::string host, int port,
                                 server_options opts) {
    checked_limit(opts.limit);
    if (!handler) throw std::invalid_argument("start_server: the handler is empty");
    event_loop& loop = get_running_loop();
    std::vector<net::address> addrs = co_await loop.getaddrinfo(host, port, AF_UNSPEC, AI_PASSIVE);
    if (addrs.empty())
        throw std::system_error(EADDRNOTAVAIL, std::generic_category(), "getaddrinfo() returned empty list");
    server_ref s(new server_state);
    s->loop = &loop;
    s->handler = std::move(handler);
    s->opts = opts;
    s->tcp = true;
    for (const net::address& a : addrs) {
        net::socket sock(a.family(), SOCK_STREAM);
        sock.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
        if (opts.reuse_port) sock.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
        // One socket per family: the IPv6 one must not take the IPv4 addresses too (Python).
        if (a.family() == AF_INET6) sock.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        sock.bind(a);
        s->sockets.push_back(std::move(sock));
    }
    for (net::socket& sock : s->sockets) sock.listen(opts.backlog);
    s->port = s->sockets.front().local_address().port();
    s->start_serving();
    co_return server_access::make(s.get());
}

coro<server> start_unix_server_erased(client_connected_handler handler, std::string path,
                                      server_options opts) {
    checked_limit(opts.limit);
    if (!handler) throw std::invalid_argument("start_unix_server: the handler is empty");
    event_loop& loop = get_running_loop();
    net::address where = net::address::unix_path(path);
    bool abstract = !path.empty() && path[0] == '\0';
    if (!abstract && !path.empty()) {
        struct stat old {};
        if (::stat(path.c_str(), &old) == 0 && S_ISSOCK(old.st_mode))
            ::unlink(path.c_str());  // stale (Python)
    }
    server_ref s(new server_state);
    s->loop = &loop;
    s->handler = std::move(handler);
    s->opts = opts;
    net::socket sock(AF_UNIX, SOCK_STREAM);
    sock.bind(where);
    if (!abstract && !path.empty()) {
        struct stat made {};
        if (::stat(path.c_str(), &made) == 0) {
            s->unix_path = path;
            s->unix_dev = made.st_dev;
            s->unix_ino = made.st_ino;
        }
    }
    s->sockets.push_back(std::move(sock));
    try {
        s->sockets.front().listen(opts.backlog);
    } catch (...) {
        s->close();  // removes the file
        throw;
    }
    s->start_serving();
    co_return server_access::make(s.get());
}

}  // namespace detail

// --- server ------------------------------------------------------------------------------------------

server& server::operator=(server&& o) noexcept {
    if (this != &o) {
        if (s_) {
            s_->close();
            s_->release();
        }
        s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
}

server::~server() {
    if (s_) {
        s_->close();
        s_->release();
    }
}

namespace {
detail::server_state* live(detail::server_state* s) {
    if (!s) throw std::logic_error("use of a moved-from server");
    return s;
}
}  // namespace

coro<void> server::serve_forever() { return detail::serve_forever_op(detail::server_ref(live(s_))); }
void server::close() noexcept {
    if (s_) s_->close();
}
void server::close_clients() noexcept {
    if (!s_) return;
    for (detail::list_hook* h = s_->connections.begin(); h != s_->connections.end();) {
        auto* node = static_cast<detail::conn_node*>(h);
        h = h->next;  // closing may end nothing synchronously, but stay safe
        node->transport->start_close();
    }
}
coro<void> server::wait_closed() { return detail::wait_closed_op(detail::server_ref(live(s_))); }
coro<void> server::aclose() { return detail::aclose_op(detail::server_ref(live(s_))); }
bool server::is_serving() const noexcept { return s_ && !s_->closed; }
int server::port() const noexcept { return s_ ? s_->port : 0; }
const std::vector<net::socket>& server::sockets() const noexcept {
    static const std::vector<net::socket> none;
    return s_ ? s_->sockets : none;
}
std::size_t server::active_connections() const noexcept { return s_ ? s_->active : 0; }

}  // namespace asyncio
