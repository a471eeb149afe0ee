// Tests of <asyncio/net/socket.hpp>: net::socket (RAII, move, close unregisters) and the loop's
// low-level operations sock_recv, sock_recv_into, sock_send, sock_sendall, sock_accept,
// sock_connect, on net::socket and on int fds: echo round trips over TCP v4, v6 and a Unix
// socketpair, 1 MiB both ways; cancellation at every await point (no data lost by a cancelled
// receive, a clean prefix sent by a cancelled sendall, no connection taken by a cancelled accept,
// no fd leaked anywhere: /proc/self/fd is counted); peer resets during recv and sendall with
// SIGPIPE at its default; ECONNREFUSED; EMFILE on accept; the deadlock detector and virtual time
// while a task waits on a socket; task dumps naming the fd; misuse errors. Loopback only, port 0.
// ctest-labels: threads
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/debug.hpp>
#include <asyncio/detail/io_wait.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/net/socket.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <asyncio/timeout.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using asyncio::coro;
using asyncio::net::address;
using net_socket = asyncio::net::socket;

#include "support/open_fds.hpp"

namespace {

using test_support::open_fds;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

asyncio::event_loop& loop() { return asyncio::get_running_loop(); }

// Bytes that show where they were in the stream: a prefix check fails on any gap or reordering.
std::string pattern(std::size_t n) {
    std::string s(n + 8, '\0');
    for (std::uint64_t i = 0; i * 8 < n; ++i) {
        std::uint64_t word = (i + 1) * 0x9E3779B97F4A7C15ull;  // distinct for every 8-byte slot
        std::memcpy(&s[i * 8], &word, 8);
    }
    s.resize(n);
    return s;
}

struct tcp_pair {
    net_socket client;
    net_socket server;  // the accepted end
    address client_local;
    address server_peer;  // what accept said the peer is
};

// A connected TCP pair over `ip` ("127.0.0.1" or "::1"), made with sock_connect and sock_accept.
coro<tcp_pair> connected(std::string ip) {
    address where(ip, 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen();
    tcp_pair p;
    p.client = net_socket(where.family(), SOCK_STREAM);
    co_await loop().sock_connect(p.client, listener.local_address());
    std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    p.server = std::move(accepted.first);
    p.server_peer = accepted.second;
    p.client_local = p.client.local_address();
    co_return p;
}

// Echoes what `s` receives until end of stream, then shuts its writing side.
coro<void> echo(net_socket& s) {
    for (;;) {
        std::string chunk = co_await loop().sock_recv(s, 64 * 1024);
        if (chunk.empty()) break;
        co_await loop().sock_sendall(s, chunk);
    }
    s.shutdown(SHUT_WR);
}

coro<void> send_then_shut(net_socket& s, std::string_view data) {
    co_await loop().sock_sendall(s, data);
    s.shutdown(SHUT_WR);
}

coro<std::string> recv_to_eof(net_socket& s) {
    std::string all;
    for (;;) {
        std::string chunk = co_await loop().sock_recv(s, 64 * 1024);
        if (chunk.empty()) break;
        all += chunk;
    }
    co_return all;
}

// Fills the send buffer of `s` (its peer does not read); returns how much went in.
std::size_t fill_send_buffer(net_socket& s) {
    std::string block(64 * 1024, 'f');
    std::size_t total = 0;
    for (;;) {
        ssize_t n = ::send(s.fd(), block.data(), block.size(), MSG_NOSIGNAL);
        if (n < 0) break;
        total += static_cast<std::size_t>(n);
    }
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
    return total;
}

// Reads everything there is (non-blocking, drains until EAGAIN or EOF).
std::string drain_now(int fd) {
    std::string all;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        all.append(buf, static_cast<std::size_t>(n));
    }
    return all;
}

void reset_on_close(net_socket& s) {
    linger l{1, 0};
    ASSERT_EQ(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
}

coro<void> sleep_for(asyncio::clock::duration d) { co_await asyncio::sleep(d); }

std::string dump() {
    std::ostringstream os;
    asyncio::dump_tasks(os);
    return os.str();
}

// --- round trips --------------------------------------------------------------------------------

coro<void> echo_round_trip(std::string ip) {
    tcp_pair p = co_await connected(ip);
    EXPECT_EQ(p.server_peer, p.client_local);
    EXPECT_EQ(p.client.peer_address(), p.server.local_address());
    auto server = asyncio::create_task(echo(p.server), "echo");
    co_await loop().sock_sendall(p.client, "hello, ");
    co_await loop().sock_sendall(p.client, "world");
    std::string got;
    while (got.size() < 12) {
        std::string chunk = co_await loop().sock_recv(p.client, 100);
        CO_ASSERT_FALSE(chunk.empty());
        got += chunk;
    }
    EXPECT_EQ(got, "hello, world");
    p.client.shutdown(SHUT_WR);
    co_await server;
    std::string rest = co_await loop().sock_recv(p.client, 100);
    EXPECT_EQ(rest, "");  // the echo shut its side: end of stream
}

ASYNC_TEST(Socket, EchoOverTcpV4) {
    std::size_t fds = open_fds();
    co_await echo_round_trip("127.0.0.1");
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, EchoOverTcpV6) {
    std::size_t fds = open_fds();
    co_await echo_round_trip("::1");
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, EchoOverAUnixSocketpairWithRecvInto) {
    auto [a, b] = net_socket::pair();
    EXPECT_EQ(a.family(), AF_UNIX);
    auto server = asyncio::create_task(echo(b), "echo");
    co_await loop().sock_sendall(a, "ping");
    char buf[16];
    std::size_t n = co_await loop().sock_recv_into(a, std::span<char>(buf, sizeof buf));
    EXPECT_EQ(std::string(buf, n), "ping");
    a.shutdown(SHUT_WR);
    co_await server;
    std::size_t eof = co_await loop().sock_recv_into(a, std::span<char>(buf, sizeof buf));
    EXPECT_EQ(eof, 0u);
}

coro<void> one_mib_both_ways(net_socket& client, net_socket& server) {
    const std::string payload = pattern(1 << 20);
    auto echoer = asyncio::create_task(echo(server), "echo");
    auto sender = asyncio::create_task(send_then_shut(client, payload), "sender");
    std::string back = co_await recv_to_eof(client);
    co_await sender;
    co_await echoer;
    EXPECT_EQ(back.size(), payload.size());
    EXPECT_TRUE(back == payload) << "the echo differs from what was sent";
}

ASYNC_TEST(Socket, OneMiBEchoedOverTcp) {
    std::size_t fds = open_fds();
    {
        tcp_pair p = co_await connected("127.0.0.1");
        co_await one_mib_both_ways(p.client, p.server);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, OneMiBEchoedOverTcpV6AndUnix) {
    {
        tcp_pair p = co_await connected("::1");
        co_await one_mib_both_ways(p.client, p.server);
    }
    auto [a, b] = net_socket::pair();
    co_await one_mib_both_ways(a, b);
}

// --- int fds --------------------------------------------------------------------------------------

ASYNC_TEST(Socket, IntFdsAreRegisteredOnlyWhileAnOperationWaits) {
    std::size_t fds = open_fds();
    for (int round = 0; round < 3; ++round) {  // the same fd numbers come back each round
        int sv[2];
        CO_ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        auto reader = asyncio::create_task(loop().sock_recv(sv[0], 100), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_NE(loop().io_find(sv[0]), nullptr);  // waiting: registered
        EXPECT_TRUE(contains(dump(), "readable fd " + std::to_string(sv[0])));
        co_await loop().sock_sendall(sv[1], "round " + std::to_string(round));
        std::string got = co_await reader;
        EXPECT_EQ(got, "round " + std::to_string(round));
        EXPECT_EQ(loop().io_find(sv[0]), nullptr);  // done: nothing stays registered
        EXPECT_EQ(loop().io_find(sv[1]), nullptr);
        ::close(sv[0]);  // so the caller may close it: the next round reuses the numbers
        ::close(sv[1]);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, ABlockingIntFdIsRejectedInDebugMode) {
    int sv[2];
    CO_ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::string what;
    try {
        std::string s = co_await loop().sock_recv(sv[0], 10);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_TRUE(contains(what, "sock_recv: file descriptor " + std::to_string(sv[0]) + " is blocking"))
        << what;
    ::close(sv[0]);
    ::close(sv[1]);
}

ASYNC_TEST(Socket, AnIntFdOwnedByASocketSharesItsRegistration) {
    auto [a, b] = net_socket::pair();
    auto reader = asyncio::create_task(loop().sock_recv(a, 10), "reader");
    co_await asyncio::sleep(0s);
    const asyncio::detail::fd_state* st = loop().io_find(a.fd());
    CO_ASSERT_NE(st, nullptr);
    EXPECT_TRUE(st->owned);
    co_await loop().sock_sendall(b.fd(), "x");  // the int fd path on a socket's fd
    std::string got = co_await reader;
    EXPECT_EQ(got, "x");
    EXPECT_EQ(loop().io_find(a.fd()), st);  // a socket stays registered for its life
    int fd = a.fd();
    a.close();
    EXPECT_EQ(loop().io_find(fd), nullptr);
}

// --- cancellation at every await point ------------------------------------------------------------

ASYNC_TEST(Socket, CancelledRecvTakesNoData) {
    std::size_t fds = open_fds();
    {
        auto [a, b] = net_socket::pair();
        auto reader = asyncio::create_task(loop().sock_recv(a, 100), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_TRUE(contains(dump(), "readable fd " + std::to_string(a.fd())));
        reader.cancel();
        CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);
        EXPECT_EQ(loop().io_find(a.fd())->reader, nullptr);  // the interest is gone
        co_await loop().sock_sendall(b, "kept");
        std::string got = co_await loop().sock_recv(a, 100);
        EXPECT_EQ(got, "kept");  // everything is there for the next receive
    }
    EXPECT_EQ(open_fds(), fds);
}

coro<std::size_t> recv_into_buffer(net_socket& s, std::string* buf) {
    std::size_t n = co_await loop().sock_recv_into(s, std::span<char>(buf->data(), buf->size()));
    co_return n;
}

ASYNC_TEST(Socket, CancelledRecvIntoWritesNothing) {
    auto [a, b] = net_socket::pair();
    std::string buf(8, '.');
    auto reader = asyncio::create_task(recv_into_buffer(a, &buf), "reader");
    co_await asyncio::sleep(0s);
    reader.cancel("enough");
    std::string message;
    try {
        co_await reader;
    } catch (const asyncio::cancelled_error& e) {
        message = e.message();
    }
    EXPECT_EQ(message, "enough");
    EXPECT_EQ(buf, "........");
    co_await loop().sock_sendall(b, "abc");
    std::size_t n = co_await recv_into_buffer(a, &buf);
    EXPECT_EQ(buf.substr(0, n), "abc");
}

ASYNC_TEST(Socket, CancelledSendallHasSentACleanPrefix) {
    std::size_t fds = open_fds();
    {
        tcp_pair p = co_await connected("127.0.0.1");
        const std::string payload = pattern(16 << 20);  // far more than the socket buffers hold
        auto sender = asyncio::create_task(loop().sock_sendall(p.client, payload), "sender");
        co_await asyncio::sleep(0s);  // it sent what fits, and waits for room
        EXPECT_TRUE(contains(dump(), "writable fd " + std::to_string(p.client.fd())));
        sender.cancel();
        CO_ASSERT_THROW(co_await sender, asyncio::cancelled_error);
        p.client.close();  // the caller no longer knows where the stream stands: it closes
        std::string got = co_await recv_to_eof(p.server);
        EXPECT_GT(got.size(), 0u);
        EXPECT_LT(got.size(), payload.size());
        EXPECT_TRUE(got == payload.substr(0, got.size())) << "not a prefix of what was sent";
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, CancelledSendSendsNothingAndSendReportsTheCount) {
    auto [a, b] = net_socket::pair();
    std::size_t n = co_await loop().sock_send(a, "12345");
    EXPECT_EQ(n, 5u);
    std::size_t filled = fill_send_buffer(a);
    auto sender = asyncio::create_task(loop().sock_send(a, "more"), "sender");
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(sender.done());
    sender.cancel();
    CO_ASSERT_THROW(co_await sender, asyncio::cancelled_error);
    std::string got = drain_now(b.fd());
    EXPECT_EQ(got.size(), 5 + filled);  // exactly what was sent before; nothing of "more"
}

ASYNC_TEST(Socket, CancelledAcceptTakesNoConnection) {
    std::size_t fds = open_fds();
    {
        net_socket listener(AF_INET, SOCK_STREAM);
        listener.bind(address("127.0.0.1", 0));
        listener.listen();
        auto acceptor = asyncio::create_task(loop().sock_accept(listener), "acceptor");
        co_await asyncio::sleep(0s);
        EXPECT_TRUE(contains(dump(), "readable fd " + std::to_string(listener.fd())));
        acceptor.cancel();
        CO_ASSERT_THROW(co_await acceptor, asyncio::cancelled_error);
        // A connection made now is still there for the next accept.
        net_socket client(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(client, listener.local_address());
        std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
        EXPECT_EQ(accepted.second, client.local_address());
        EXPECT_NE(accepted.first.fd(), -1);
        int flags = ::fcntl(accepted.first.fd(), F_GETFL);
        EXPECT_TRUE(flags & O_NONBLOCK);
        EXPECT_TRUE(::fcntl(accepted.first.fd(), F_GETFD) & FD_CLOEXEC);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, CancelledConnectLeavesTheSocketOpenButUnusable) {
    std::size_t fds = open_fds();
    {
        // A listener with a full accept queue (backlog 0, one connection never accepted): the
        // kernel drops further SYNs, so the next connect stays in progress.
        net_socket listener(AF_INET, SOCK_STREAM);
        listener.bind(address("127.0.0.1", 0));
        listener.listen(0);
        net_socket first(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(first, listener.local_address());
        net_socket second(AF_INET, SOCK_STREAM);
        auto connector =
            asyncio::create_task(loop().sock_connect(second, listener.local_address()), "connector");
        co_await asyncio::sleep(0s);
        co_await asyncio::sleep(20ms);  // real time: virtual time does not jump while it waits
        CO_ASSERT_FALSE(connector.done()) << "the connect did not stay in progress";
        EXPECT_TRUE(contains(dump(), "writable fd " + std::to_string(second.fd())));
        connector.cancel();
        CO_ASSERT_THROW(co_await connector, asyncio::cancelled_error);
        EXPECT_TRUE(second.is_open());  // the caller's socket is not closed ...
        int err = 0;
        try {
            co_await loop().sock_connect(second, listener.local_address());
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_EQ(err, EALREADY);  // ... but it cannot be used for a new connect
    }
    EXPECT_EQ(open_fds(), fds);
}

// --- failures -------------------------------------------------------------------------------------

ASYNC_TEST(Socket, ConnectToAClosedPortIsRefusedPromptly) {
    for (const char* ip : {"127.0.0.1", "::1"}) {
        // A bound socket that does not listen holds the port: nobody else can take it meanwhile.
        net_socket holder(address(ip, 0).family(), SOCK_STREAM);
        holder.bind(address(ip, 0));
        address closed = holder.local_address();
        net_socket client(closed.family(), SOCK_STREAM);
        std::string what;
        int err = 0;
        try {
            // Virtual time advances with real time while the connect waits: a 5 s bound.
            co_await asyncio::wait_for(loop().sock_connect(client, closed), 5s);
        } catch (const std::system_error& e) {
            err = e.code().value();
            what = e.what();
        }
        EXPECT_EQ(err, ECONNREFUSED) << ip;
        EXPECT_EQ(what, "connect to " + closed.to_string() + ": Connection refused");
    }
}

ASYNC_TEST(Socket, PeerResetDuringRecvIsOneErrorThenEndOfStream) {
    std::signal(SIGPIPE, SIG_DFL);
    std::size_t fds = open_fds();
    {
        tcp_pair p = co_await connected("127.0.0.1");
        auto reader = asyncio::create_task(loop().sock_recv(p.server, 100), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(reader.done());
        reset_on_close(p.client);
        p.client.close();  // RST
        int err = 0;
        try {
            std::string s = co_await reader;
            ADD_FAILURE() << "received '" << s << "'";
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_EQ(err, ECONNRESET);
        std::string after = co_await loop().sock_recv(p.server, 100);
        EXPECT_EQ(after, "");  // reported once; then the stream is at its end
        std::string again = co_await loop().sock_recv(p.server, 100);
        EXPECT_EQ(again, "");
    }
    EXPECT_EQ(open_fds(), fds);
}

// The same with sock_recv_into (its own receive path).
ASYNC_TEST(Socket, PeerResetDuringRecvIntoIsOneErrorThenEndOfStream) {
    std::signal(SIGPIPE, SIG_DFL);
    std::size_t fds = open_fds();
    {
        tcp_pair p = co_await connected("127.0.0.1");
        std::string buf(16, '.');
        auto reader = asyncio::create_task(recv_into_buffer(p.server, &buf), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(reader.done());
        reset_on_close(p.client);
        p.client.close();  // RST
        int err = 0;
        try {
            std::size_t n = co_await reader;
            ADD_FAILURE() << "received " << n << " bytes";
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_EQ(err, ECONNRESET);
        EXPECT_EQ(buf, std::string(16, '.'));
        std::size_t after = co_await recv_into_buffer(p.server, &buf);
        EXPECT_EQ(after, 0u);  // reported once; then the stream is at its end
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, PeerResetDuringSendallIsOneErrorAndNoSigpipe) {
    std::signal(SIGPIPE, SIG_DFL);  // MSG_NOSIGNAL must keep the process alive
    std::size_t fds = open_fds();
    {
        tcp_pair p = co_await connected("127.0.0.1");
        const std::string payload = pattern(16 << 20);
        auto sender = asyncio::create_task(loop().sock_sendall(p.client, payload), "sender");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(sender.done());
        reset_on_close(p.server);
        p.server.close();  // RST while the sender waits for room
        int err = 0;
        try {
            co_await sender;
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_TRUE(err == ECONNRESET || err == EPIPE) << err;
        int again = 0;
        try {
            co_await loop().sock_sendall(p.client, "more");
        } catch (const std::system_error& e) {
            again = e.code().value();
        }
        EXPECT_EQ(again, EPIPE);  // a later write: EPIPE, still no signal
        again = 0;
        try {
            std::size_t n = co_await loop().sock_send(p.client, "more");
            ADD_FAILURE() << "sent " << n;
        } catch (const std::system_error& e) {
            again = e.code().value();
        }
        EXPECT_EQ(again, EPIPE);  // sock_send too
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, AcceptOutOfDescriptorsFailsAtOnceAndServesAgainLater) {
    net_socket listener(AF_INET, SOCK_STREAM);
    listener.bind(address("127.0.0.1", 0));
    listener.listen();
    net_socket client(AF_INET, SOCK_STREAM);
    co_await loop().sock_connect(client, listener.local_address());

    // Few descriptors left: the soft limit just above what is open, and the rest taken by dups.
    struct descriptor_shortage {
        rlimit saved{};
        std::vector<int> hogs;
        descriptor_shortage() {
            EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
            rlimit low = saved;
            low.rlim_cur = open_fds() + 16;
            EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
            for (int d; (d = ::dup(0)) >= 0;) hogs.push_back(d);
        }
        void free_one() {
            if (hogs.empty()) return;
            ::close(hogs.back());
            hogs.pop_back();
        }
        ~descriptor_shortage() {
            for (int d : hogs) ::close(d);
            ::setrlimit(RLIMIT_NOFILE, &saved);
        }
    };
    descriptor_shortage shortage;
    int err = 0;
    try {
        std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_EQ(err, EMFILE);
    shortage.free_one();
    // The connection stayed queued: the next accept takes it at once.
    std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    EXPECT_EQ(accepted.second, client.local_address());
}

// --- the loop while tasks wait on sockets --------------------------------------------------------

ASYNC_TEST(Socket, NoDeadlockReportWhileATaskWaitsOnASocket) {
    // Nothing in the loop can wake the reader (no timer, no other task): only the peer, a thread
    // the loop knows nothing about. That is not a deadlock.
    auto [a, b] = net_socket::pair();
    std::jthread peer([fd = b.fd()] {
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(::send(fd, "late", 4, MSG_NOSIGNAL), 4);
    });
    std::string got = co_await loop().sock_recv(a, 10);
    peer.join();
    EXPECT_EQ(got, "late");
}

ASYNC_TEST(Socket, VirtualTimeDoesNotJumpWhileATaskWaitsOnASocket) {
    auto [a, b] = net_socket::pair();
    std::jthread peer([fd = b.fd()] {
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1);
    });
    auto t0 = loop().time();
    // With only the timer to wait for, virtual time would jump an hour at once and the sleeper
    // would finish first. The pending receive keeps the loop on real time.
    auto sleeper = asyncio::create_task(sleep_for(1h), "sleeper");
    std::string got = co_await loop().sock_recv(a, 10);
    peer.join();
    EXPECT_EQ(got, "x");
    EXPECT_FALSE(sleeper.done());
    EXPECT_LT(loop().time() - t0, 1h);
    EXPECT_GE(loop().time() - t0, 40ms);  // it advanced with the real time waited
    sleeper.cancel();
    CO_ASSERT_THROW(co_await sleeper, asyncio::cancelled_error);
}

ASYNC_TEST(Socket, TaskDumpsNameTheFdAndDirection) {
    tcp_pair p = co_await connected("127.0.0.1");
    // The client neither sends nor reads: the server's end waits both ways.
    auto reader = asyncio::create_task(loop().sock_recv(p.server, 10), "reader");
    fill_send_buffer(p.server);
    auto writer = asyncio::create_task(loop().sock_sendall(p.server, "more"), "writer");
    co_await asyncio::sleep(0s);
    std::string d = dump();
    EXPECT_TRUE(contains(d, "task 'reader' waits for readable fd " + std::to_string(p.server.fd()))) << d;
    EXPECT_TRUE(contains(d, "task 'writer' waits for writable fd " + std::to_string(p.server.fd()))) << d;
    reader.cancel();
    writer.cancel();
    CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);
    CO_ASSERT_THROW(co_await writer, asyncio::cancelled_error);
}

// --- misuse and lifetimes -------------------------------------------------------------------------

ASYNC_TEST(Socket, TwoReadersOnOneSocketIsAnError) {
    auto [a, b] = net_socket::pair();
    auto first = asyncio::create_task(loop().sock_recv(a, 10), "first");
    co_await asyncio::sleep(0s);
    std::string what;
    try {
        std::string s = co_await loop().sock_recv(a, 10);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "another task is already waiting for fd " + std::to_string(a.fd()) + " to be readable");
    co_await loop().sock_sendall(b, "1");
    std::string got = co_await first;  // the first reader is unharmed
    EXPECT_EQ(got, "1");
}

ASYNC_TEST(Socket, OperationsOfALoopThatIsNotRunningAreAnError) {
    auto [a, b] = net_socket::pair();
    asyncio::event_loop other;
    std::string what;
    try {
        std::string s = co_await other.sock_recv(a, 1);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "sock_recv: awaited outside a task of this event loop");
    EXPECT_EQ(other.io_find(a.fd()), nullptr);
    other.close();
}

ASYNC_TEST(Socket, AddReaderAndSocketOperationsOnOneFdAreExclusive) {
    auto [a, b] = net_socket::pair();
    auto reader = asyncio::create_task(loop().sock_recv(a, 10), "reader");
    co_await asyncio::sleep(0s);
    EXPECT_THROW(loop().add_reader(a.fd(), [] {}), std::runtime_error);
    EXPECT_THROW(loop().add_writer(a.fd(), [] {}), std::runtime_error);
    reader.cancel();
    CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);

    loop().add_reader(b.fd(), [] {});
    std::string what;
    try {
        std::string s = co_await loop().sock_recv(b, 10);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_TRUE(contains(what, "is watched with add_reader/add_writer")) << what;
    EXPECT_TRUE(loop().remove_reader(b.fd()));
}

ASYNC_TEST(Socket, ClosingASocketFailsTheOperationWaitingOnIt) {
    std::size_t fds = open_fds();
    {
        auto [a, b] = net_socket::pair();
        int fd = a.fd();
        auto reader = asyncio::create_task(loop().sock_recv(a, 10), "reader");
        co_await asyncio::sleep(0s);
        a.close();
        EXPECT_EQ(loop().io_find(fd), nullptr);
        int err = 0;
        try {
            std::string s = co_await reader;
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_EQ(err, EBADF);
        CO_ASSERT_THROW(co_await loop().sock_recv(a, 10), std::system_error);  // closed: EBADF at once
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Socket, AReusedFdNumberGetsAFreshRegistration) {
    auto [a, b] = net_socket::pair();
    auto reader = asyncio::create_task(loop().sock_recv(a, 10), "reader");
    co_await asyncio::sleep(0s);
    int old_fd = a.fd();
    std::uint32_t old_generation = loop().io_find(old_fd)->generation;
    reader.cancel();
    CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);
    a.close();
    b.close();
    auto [c, d] = net_socket::pair();  // the lowest free numbers: the ones just closed
    EXPECT_EQ(c.fd(), old_fd);
    auto reader2 = asyncio::create_task(loop().sock_recv(c, 10), "reader2");
    co_await asyncio::sleep(0s);
    CO_ASSERT_NE(loop().io_find(c.fd()), nullptr);
    EXPECT_NE(loop().io_find(c.fd())->generation, old_generation);
    co_await loop().sock_sendall(d, "new");
    std::string got = co_await reader2;
    EXPECT_EQ(got, "new");
}

ASYNC_TEST(Socket, MovedSocketsKeepTheirRegistration) {
    auto [a, b] = net_socket::pair();
    co_await loop().sock_sendall(a, "1");
    std::string one = co_await loop().sock_recv(b, 10);
    EXPECT_EQ(one, "1");
    net_socket moved = std::move(b);
    EXPECT_EQ(b.fd(), -1);
    EXPECT_FALSE(b);
    co_await loop().sock_sendall(a, "2");
    std::string two = co_await loop().sock_recv(moved, 10);
    EXPECT_EQ(two, "2");
    net_socket assigned;
    assigned = std::move(moved);
    co_await loop().sock_sendall(a, "3");
    std::string three = co_await loop().sock_recv(assigned, 10);
    EXPECT_EQ(three, "3");
    int fd = assigned.release();
    EXPECT_EQ(loop().io_find(fd), nullptr);  // released: unregistered, not closed
    EXPECT_EQ(::close(fd), 0);
}

coro<void> wait_for_one_byte(net_socket* s) {
    std::string got = co_await asyncio::get_running_loop().sock_recv(*s, 1);
    EXPECT_EQ(got, "!");
}

TEST(SocketLifetime, ASocketOutlivesItsLoopAndWorksWithTheNextOne) {
    std::size_t fds = open_fds();
    {
        auto [a, b] = net_socket::pair();
        ASSERT_EQ(::send(b.fd(), "!", 1, MSG_NOSIGNAL), 1);
        asyncio::run(wait_for_one_byte(&a));  // registers `a` with that run's loop
        ASSERT_EQ(::send(b.fd(), "!", 1, MSG_NOSIGNAL), 1);
        asyncio::run(wait_for_one_byte(&a));  // a new loop: registered afresh
    }                                         // closes after both loops are gone
    EXPECT_EQ(open_fds(), fds);
}

TEST(SocketLifetime, CreationErrorsAreSystemErrors) {
    try {
        net_socket s(-1, SOCK_STREAM);
        ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EAFNOSUPPORT);
    }
    EXPECT_THROW(net_socket::adopt(-1), std::system_error);
    net_socket s(AF_INET, SOCK_STREAM);
    try {
        s.bind(address("::1", 0));  // wrong family
        ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_TRUE(contains(e.what(), "bind to [::1]:0")) << e.what();
    }
}

}  // namespace
