// Tests of <asyncio/net/datagram.hpp>: open_datagram_endpoint and datagram_socket. Round trips
// over UDP v4 and v6, connected and unconnected, and over Unix datagram sockets; host/port ends
// resolved (and paired by family); many datagrams in order; the largest UDP datagrams and
// EMSGSIZE just above; truncation (silent in recv_from, reported by recv_from_into); empty
// datagrams; ICMP port unreachable as ECONNREFUSED at the next recv and send of a connected
// socket, once; cancellation at every await (a cancelled receive takes no datagram, a cancelled
// send sends nothing, a cancelled open makes no socket; /proc/self/fd counted); no deadlock report
// while a task waits to receive; bad input (wrong family, wrong peer, no destination, closed
// socket, not a datagram socket, no common family, EADDRINUSE, EACCES for broadcast). Loopback
// and abstract Unix addresses only, port 0.
// ctest-labels: threads
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/debug.hpp>
#include <asyncio/detail/io_wait.hpp>
#include <asyncio/net/datagram.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <asyncio/timeout.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using asyncio::coro;
using asyncio::datagram_socket;
using asyncio::open_datagram_endpoint;
using asyncio::net::address;
using net_socket = asyncio::net::socket;
using ep = asyncio::net::endpoint;

#include "support/open_fds.hpp"

namespace {

using test_support::open_fds;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string dump() {
    std::ostringstream os;
    asyncio::dump_tasks(os);
    return os.str();
}

// Bytes that show where they were: a comparison fails on any gap, reordering or truncation.
std::string pattern(std::size_t n, std::uint64_t seed = 1) {
    std::string s(n + 8, '\0');
    for (std::uint64_t i = 0; i * 8 < n; ++i) {
        std::uint64_t word = (i + seed) * 0x9E3779B97F4A7C15ull;
        std::memcpy(&s[i * 8], &word, 8);
    }
    s.resize(n);
    return s;
}

// A port nobody listens on: bound once, then released. (A bound UDP socket would receive the
// datagrams instead of refusing them, so the port cannot be held as in the TCP tests.)
int closed_udp_port(const std::string& ip) {
    net_socket s(address(ip, 0).family(), SOCK_DGRAM);
    s.bind(address(ip, 0));
    return s.local_address().port();
}

// The code of the std::system_error `c` throws (0 if none, -1 for another exception).
template <class C>
coro<int> error_of(C c) {
    int err = 0;
    try {
        co_await std::move(c);
    } catch (const std::system_error& e) {
        err = e.code().value();
    } catch (...) {
        err = -1;
    }
    co_return err;
}

coro<std::string> invalid_argument_of(coro<void> c) {
    std::string what;
    try {
        co_await std::move(c);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    co_return what;
}

coro<std::string> recv_text(datagram_socket& s) {
    std::string got = co_await s.recv();
    co_return got;
}

// --- round trips --------------------------------------------------------------------------------

coro<void> unconnected_round_trip(std::string ip) {
    ep here(ip, 0);
    datagram_socket server = co_await open_datagram_endpoint(here);
    datagram_socket client = co_await open_datagram_endpoint(here);
    EXPECT_EQ(server.family(), address(ip, 0).family());
    EXPECT_NE(server.local_address().port(), 0);
    EXPECT_FALSE(server.remote_address());
    EXPECT_FALSE(client.is_connected());

    co_await client.send_to("hello", server.local_address());
    auto [data, from] = co_await server.recv_from();
    EXPECT_EQ(data, "hello");
    EXPECT_EQ(from, client.local_address());
    co_await server.send_to("world", from);
    auto [reply, replier] = co_await client.recv_from();
    EXPECT_EQ(reply, "world");
    EXPECT_EQ(replier, server.local_address());
}

ASYNC_TEST(Datagram, UnconnectedRoundTripV4) {
    std::size_t fds = open_fds();
    co_await unconnected_round_trip("127.0.0.1");
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Datagram, UnconnectedRoundTripV6) {
    std::size_t fds = open_fds();
    co_await unconnected_round_trip("::1");
    EXPECT_EQ(open_fds(), fds);
}

coro<void> connected_round_trip(std::string ip) {
    datagram_socket server = co_await open_datagram_endpoint(ep(ip, 0));
    address server_address = server.local_address();
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server_address);
    EXPECT_TRUE(client.is_connected());
    CO_ASSERT_TRUE(client.remote_address());
    EXPECT_EQ(*client.remote_address(), server_address);
    EXPECT_EQ(client.socket().peer_address(), server_address);
    EXPECT_NE(client.local_address().port(), 0);  // connect bound it

    co_await client.send("ping");
    auto [data, from] = co_await server.recv_from();
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(from, client.local_address());

    // A connected socket only receives from its peer: the kernel drops the stranger's datagram.
    datagram_socket stranger = co_await open_datagram_endpoint(ep(ip, 0));
    co_await stranger.send_to("from a stranger", client.local_address());
    co_await server.send_to("pong", from);
    std::string reply = co_await client.recv();
    EXPECT_EQ(reply, "pong");
    // send_to the peer itself is allowed on a connected socket.
    co_await client.send_to("again", server_address);
    std::string again = co_await recv_text(server);
    EXPECT_EQ(again, "again");
}

ASYNC_TEST(Datagram, ConnectedRoundTripV4) {
    std::size_t fds = open_fds();
    co_await connected_round_trip("127.0.0.1");
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Datagram, ConnectedRoundTripV6) {
    std::size_t fds = open_fds();
    co_await connected_round_trip("::1");
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Datagram, HostAndPortAreResolvedAndPairedByFamily) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    int port = server.local_address().port();
    // "localhost" may resolve to ::1 first; the local end is IPv4 only, so the IPv4 one is used.
    datagram_socket client = co_await open_datagram_endpoint(ep("127.0.0.1", 0), ep("localhost", port));
    EXPECT_EQ(client.family(), AF_INET);
    CO_ASSERT_TRUE(client.remote_address());
    EXPECT_EQ(*client.remote_address(), address("127.0.0.1", port));
    co_await client.send("resolved");
    std::string got = co_await recv_text(server);
    EXPECT_EQ(got, "resolved");

    asyncio::datagram_options v6_only;
    v6_only.family = AF_INET6;
    datagram_socket v6 = co_await open_datagram_endpoint(ep("::1", 0), std::nullopt, v6_only);
    EXPECT_EQ(v6.family(), AF_INET6);
}

ASYNC_TEST(Datagram, NeitherEndGivenMakesAnUnboundSocketOfTheFamily) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    asyncio::datagram_options v4;
    v4.family = AF_INET;
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, std::nullopt, v4);
    EXPECT_EQ(client.local_address().port(), 0);  // not bound yet
    co_await client.send_to("autobound", server.local_address());
    auto [data, from] = co_await server.recv_from();
    EXPECT_EQ(data, "autobound");
    EXPECT_EQ(client.local_address(), address("0.0.0.0", from.port()));  // the send bound it
    EXPECT_NE(from.port(), 0);
}

ASYNC_TEST(Datagram, UnixDatagramSocketsWithAbstractAddresses) {
    std::size_t fds = open_fds();
    {
        std::string tag = std::to_string(::getpid());
        address server_path = address::unix_path(std::string("\0asyncio-test-dgram-server-", 27) + tag);
        address client_path = address::unix_path(std::string("\0asyncio-test-dgram-client-", 27) + tag);
        datagram_socket server = co_await open_datagram_endpoint(server_path);
        datagram_socket client = co_await open_datagram_endpoint(client_path, server_path);
        EXPECT_EQ(server.family(), AF_UNIX);
        EXPECT_TRUE(client.is_connected());
        co_await client.send("over unix");
        auto [data, from] = co_await server.recv_from();
        EXPECT_EQ(data, "over unix");
        EXPECT_EQ(from, client_path);
        co_await server.send_to("back", from);
        std::string back = co_await client.recv();
        EXPECT_EQ(back, "back");

        // An unbound sender (a socketpair end) comes as the unnamed address.
        auto [a, b] = net_socket::pair(AF_UNIX, SOCK_DGRAM);
        datagram_socket left(std::move(a));
        datagram_socket right(std::move(b));
        EXPECT_TRUE(left.is_connected());
        co_await left.send("unnamed");
        auto [text, sender] = co_await right.recv_from();
        EXPECT_EQ(text, "unnamed");
        EXPECT_EQ(sender, address::unix_path(""));
    }
    EXPECT_EQ(open_fds(), fds);
}

// --- datagrams: order, size, truncation -----------------------------------------------------------

std::string numbered(std::uint32_t n) {
    std::string s = "datagram #" + std::to_string(n) + " ";
    return s + pattern(40 + n % 50, n);
}

ASYNC_TEST(Datagram, ManyDatagramsArriveWholeAndInOrderOnLoopback) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    // In windows that fit the receive buffer (loopback drops what does not fit, as UDP may).
    constexpr std::uint32_t window = 64, rounds = 32;
    std::uint32_t next_sent = 0, next_expected = 0;
    for (std::uint32_t r = 0; r < rounds; ++r) {
        for (std::uint32_t i = 0; i < window; ++i) co_await client.send(numbered(next_sent++));
        for (std::uint32_t i = 0; i < window; ++i) {
            auto [data, from] = co_await server.recv_from();
            CO_ASSERT_EQ(data, numbered(next_expected)) << "datagram " << next_expected;
            ++next_expected;
        }
    }
    EXPECT_EQ(next_expected, window * rounds);
}

coro<void> echo_until_stop(datagram_socket& s) {
    for (;;) {
        auto [data, from] = co_await s.recv_from();
        if (data == "stop") co_return;
        co_await s.send_to(data, from);
    }
}

ASYNC_TEST(Datagram, ConcurrentSenderAndReceiverTasks) {
    datagram_socket server = co_await open_datagram_endpoint(ep("::1", 0));
    datagram_socket client = co_await open_datagram_endpoint(ep("::1", 0), server.local_address());
    // The receiver echoes; the sender sends the next datagram once the previous one came back.
    auto echo = asyncio::create_task(echo_until_stop(server), "echo");
    for (std::uint32_t i = 0; i < 200; ++i) {
        co_await client.send(numbered(i));
        std::string back = co_await client.recv();
        CO_ASSERT_EQ(back, numbered(i));
    }
    co_await client.send("stop");
    co_await echo;
}

coro<void> largest_datagram(std::string ip, std::size_t largest) {
    datagram_socket server = co_await open_datagram_endpoint(ep(ip, 0));
    datagram_socket client = co_await open_datagram_endpoint(ep(ip, 0));
    const std::string big = pattern(largest);
    co_await client.send_to(big, server.local_address());
    auto [data, from] = co_await server.recv_from();
    EXPECT_EQ(data.size(), largest);
    EXPECT_TRUE(data == big) << "the datagram differs from what was sent";
    EXPECT_LT(data.capacity(), 2 * largest);

    // One byte more does not fit a UDP datagram of this IP version: EMSGSIZE, nothing sent.
    const std::string too_big = pattern(largest + 1);
    std::string what;
    int err = 0;
    try {
        co_await client.send_to(too_big, server.local_address());
    } catch (const std::system_error& e) {
        err = e.code().value();
        what = e.what();
    }
    EXPECT_EQ(err, EMSGSIZE);
    EXPECT_EQ(what, "send to " + server.local_address().to_string() + ": Message too long");
    // The socket works on.
    co_await client.send_to("small", server.local_address());
    std::string small = co_await recv_text(server);
    EXPECT_EQ(small, "small");
}

ASYNC_TEST(Datagram, LargestDatagramV4AndEmsgsizeAbove) {
    co_await largest_datagram("127.0.0.1", 65507);  // 65535 - 20 (IPv4) - 8 (UDP)
}

ASYNC_TEST(Datagram, LargestDatagramV6AndEmsgsizeAbove) {
    co_await largest_datagram("::1", 65527);  // 65535 - 8 (UDP): the IPv6 header is not counted
}

ASYNC_TEST(Datagram, ALargeMaxGoesThroughTheHeap) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    co_await client.send("short");
    auto [data, from] = co_await server.recv_from(1 << 20);
    EXPECT_EQ(data, "short");
    EXPECT_LT(data.capacity(), 70000u);  // not the 1 MiB asked for
}

ASYNC_TEST(Datagram, ALongerDatagramIsTruncatedAndTheRestDiscarded) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    const std::string hundred = pattern(100);
    co_await client.send(hundred);
    co_await client.send("next");
    auto [cut, from] = co_await server.recv_from(10);
    EXPECT_EQ(cut, hundred.substr(0, 10));  // silently, as Python's recvfrom
    std::string next = co_await recv_text(server);
    EXPECT_EQ(next, "next");  // the other 90 bytes are gone, not the start of the next receive

    // recv_from_into says so.
    char buf[16];
    co_await client.send(hundred);
    asyncio::received_datagram r = co_await server.recv_from_into(std::span<char>(buf, sizeof buf));
    EXPECT_EQ(r.size, sizeof buf);
    EXPECT_TRUE(r.truncated);
    EXPECT_EQ(std::string(buf, r.size), hundred.substr(0, sizeof buf));
    EXPECT_EQ(r.from, client.local_address());
    co_await client.send(hundred.substr(0, 16));  // exactly the buffer's size
    r = co_await server.recv_from_into(std::span<char>(buf, sizeof buf));
    EXPECT_EQ(r.size, 16u);
    EXPECT_FALSE(r.truncated);
}

ASYNC_TEST(Datagram, AnEmptyDatagramIsADatagramNotAnEnd) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    co_await client.send("");
    co_await client.send("after");
    auto [empty, from] = co_await server.recv_from();
    EXPECT_EQ(empty, "");
    EXPECT_EQ(from, client.local_address());
    std::string after = co_await recv_text(server);
    EXPECT_EQ(after, "after");
}

// --- errors from the network ------------------------------------------------------------------------

coro<void> refused(std::string ip) {
    address closed(ip, closed_udp_port(ip));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, closed);
    co_await client.send("anyone?");  // goes out; the ICMP answer comes back for the socket
    std::string what;
    int err = 0;
    try {
        // Virtual time advances with real time while the receive waits: a 5 s bound.
        std::string s = co_await asyncio::wait_for(client.recv(), 5s);
        ADD_FAILURE() << "received '" << s << "'";
    } catch (const std::system_error& e) {
        err = e.code().value();
        what = e.what();
    }
    EXPECT_EQ(err, ECONNREFUSED) << ip;
    EXPECT_EQ(what, "recv from " + closed.to_string() + ": Connection refused");

    // Reported once: the socket works on, and the next receive waits.
    CO_ASSERT_THROW(co_await asyncio::wait_for(client.recv(), 20ms), asyncio::timeout_error);

    // At the next send, when the error arrived before it: a send after each ICMP answer.
    int send_err = 0;
    for (int attempt = 0; attempt < 100 && send_err == 0; ++attempt) {
        send_err = co_await error_of(client.send("still there?"));
        if (send_err == 0) co_await asyncio::sleep(1ms);
    }
    EXPECT_EQ(send_err, ECONNREFUSED) << ip;
}

ASYNC_TEST(Datagram, PortUnreachableIsConnectionRefusedOnAConnectedSocketV4) {
    co_await refused("127.0.0.1");
}

ASYNC_TEST(Datagram, PortUnreachableIsConnectionRefusedOnAConnectedSocketV6) { co_await refused("::1"); }

ASYNC_TEST(Datagram, AnUnconnectedSocketHearsNothingOfAClosedPort) {
    // Without IP_RECVERR, Linux keeps ICMP errors from unconnected sockets (Python: no
    // error_received for them either).
    datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    address closed("127.0.0.1", closed_udp_port("127.0.0.1"));
    co_await s.send_to("anyone?", closed);
    CO_ASSERT_THROW(co_await asyncio::wait_for(s.recv_from(), 20ms), asyncio::timeout_error);
    co_await s.send_to("still nobody?", closed);
}

// --- cancellation at every await ------------------------------------------------------------------

ASYNC_TEST(Datagram, CancelledRecvFromTakesNoDatagram) {
    std::size_t fds = open_fds();
    {
        datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
        datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
        auto reader = asyncio::create_task(server.recv_from(), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_TRUE(
            contains(dump(), "task 'reader' waits for readable fd " + std::to_string(server.socket().fd())))
            << dump();
        reader.cancel();
        CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);
        EXPECT_EQ(asyncio::get_running_loop().io_find(server.socket().fd())->reader, nullptr);
        co_await client.send("kept");
        auto [data, from] = co_await server.recv_from();
        EXPECT_EQ(data, "kept");  // there for the next receive
    }
    EXPECT_EQ(open_fds(), fds);
}

// Whenever the cancel comes (before the task ran, while it waits, after the datagram arrived
// and woke it, after it returned), the datagram is received exactly once: by the reader or by
// the receive after it.
ASYNC_TEST(Datagram, NoDatagramIsLostWhereverTheCancelComes) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    int cancelled = 0, completed = 0;
    for (int round = 0; round < 24; ++round) {
        std::string payload = "round " + std::to_string(round);
        auto reader = asyncio::create_task(recv_text(server), "reader");
        const int yields_before_send = round % 3;
        const int yields_before_cancel = (round / 3) % 8;
        for (int i = 0; i < yields_before_send; ++i) co_await asyncio::sleep(0s);
        co_await client.send(payload);
        for (int i = 0; i < yields_before_cancel; ++i) co_await asyncio::sleep(0s);
        reader.cancel();
        std::optional<std::string> by_reader;
        try {
            std::string got = co_await reader;
            by_reader = got;
        } catch (const asyncio::cancelled_error&) {
        }
        if (by_reader) {
            ++completed;
            EXPECT_EQ(*by_reader, payload);
        } else {
            ++cancelled;
            std::string got = co_await asyncio::wait_for(recv_text(server), 5s);
            EXPECT_EQ(got, payload) << "round " << round;
        }
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_GT(completed, 0);
}

coro<std::string> recv_connected(datagram_socket& s) {
    std::string d = co_await s.recv();
    co_return d;
}

// recv() (a connected socket) has its own wait: cancelled there, it took no datagram either.
ASYNC_TEST(Datagram, CancelledRecvOfAConnectedSocketTakesNoDatagram) {
    std::size_t fds = open_fds();
    {
        datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
        datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
        auto reader = asyncio::create_task(recv_connected(client), "reader");
        co_await asyncio::sleep(0s);
        EXPECT_TRUE(
            contains(dump(), "task 'reader' waits for readable fd " + std::to_string(client.socket().fd())))
            << dump();
        reader.cancel();
        CO_ASSERT_THROW(co_await reader, asyncio::cancelled_error);
        co_await server.send_to("kept", client.local_address());
        std::string got = co_await asyncio::wait_for(recv_connected(client), 5s);
        EXPECT_EQ(got, "kept");  // there for the next receive
    }
    EXPECT_EQ(open_fds(), fds);
}

coro<asyncio::received_datagram> recv_into_buffer(datagram_socket& s, std::string* buf) {
    asyncio::received_datagram r = co_await s.recv_from_into(std::span<char>(buf->data(), buf->size()));
    co_return r;
}

ASYNC_TEST(Datagram, CancelledRecvFromIntoWritesNothing) {
    datagram_socket server = co_await open_datagram_endpoint(ep("::1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    std::string buf(8, '.');
    auto reader = asyncio::create_task(recv_into_buffer(server, &buf), "reader");
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
    co_await client.send("abc");
    asyncio::received_datagram r = co_await recv_into_buffer(server, &buf);
    EXPECT_EQ(buf.substr(0, r.size), "abc");
}

// Sends datagrams without waiting until the kernel says EAGAIN; returns how many went.
std::size_t fill_peer_queue(int fd) {
    std::size_t n = 0;
    while (::send(fd, "filler", 6, MSG_NOSIGNAL) == 6) ++n;
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
    return n;
}

ASYNC_TEST(Datagram, CancelledSendSentNothingAndAWaitingSendGoesOutWhole) {
    // UDP on loopback never runs out of room; a Unix datagram socket connected to a server does
    // when the server's queue is full (net.unix.max_dgram_qlen): the send waits for room.
    std::size_t fds = open_fds();
    {
        std::string tag = std::to_string(::getpid());
        address server_path = address::unix_path(std::string("\0asyncio-test-dgram-full-", 25) + tag);
        datagram_socket server = co_await open_datagram_endpoint(server_path);
        datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server_path);
        std::size_t filled = fill_peer_queue(client.socket().fd());
        CO_ASSERT_GT(filled, 0u);

        auto cancelled = asyncio::create_task(client.send("cancelled"), "cancelled send");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(cancelled.done());
        EXPECT_TRUE(contains(dump(), "waits for writable fd " + std::to_string(client.socket().fd())))
            << dump();
        cancelled.cancel();
        CO_ASSERT_THROW(co_await cancelled, asyncio::cancelled_error);

        const std::string whole = pattern(1000);
        auto waiting = asyncio::create_task(client.send(whole), "waiting send");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(waiting.done());
        std::string first = co_await recv_text(server);  // makes room for one
        EXPECT_EQ(first, "filler");
        co_await asyncio::wait_for(std::move(waiting), 5s);

        std::size_t fillers = 1;
        std::vector<std::string> others;
        for (;;) {
            std::string d = co_await asyncio::wait_for(recv_text(server), 5s);
            if (d == "filler") {
                ++fillers;
                continue;
            }
            others.push_back(d);
            if (d.size() == whole.size()) break;
        }
        EXPECT_EQ(fillers, filled);
        CO_ASSERT_EQ(others.size(), 1u) << "the cancelled datagram went out";
        EXPECT_TRUE(others[0] == whole);
    }
    EXPECT_EQ(open_fds(), fds);
}

coro<void> send_to_of(datagram_socket& s, std::string data, address to) { co_await s.send_to(data, to); }

// send_to() on an unconnected socket, waiting for room (a Unix datagram server with a full
// queue): cancelled, it sent nothing; the next one goes out whole.
ASYNC_TEST(Datagram, CancelledSendToOfAnUnconnectedSocketSentNothing) {
    std::size_t fds = open_fds();
    {
        std::string tag = std::to_string(::getpid());
        address server_path = address::unix_path(std::string("\0asyncio-test-dgram-sendto-", 27) + tag);
        datagram_socket server = co_await open_datagram_endpoint(server_path);
        datagram_socket client(net_socket(AF_UNIX, SOCK_DGRAM));
        std::size_t filled = 0;
        while (::sendto(client.socket().fd(), "filler", 6, MSG_NOSIGNAL, server_path.data(),
                        server_path.size()) == 6)
            ++filled;
        CO_ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
        CO_ASSERT_GT(filled, 0u);
        auto cancelled =
            asyncio::create_task(send_to_of(client, "cancelled", server_path), "cancelled send_to");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(cancelled.done());
        EXPECT_TRUE(contains(dump(), "waits for writable fd " + std::to_string(client.socket().fd())))
            << dump();
        cancelled.cancel();
        CO_ASSERT_THROW(co_await cancelled, asyncio::cancelled_error);
        std::size_t fillers = 0;
        std::vector<std::string> others;
        for (std::size_t i = 0; i < filled; ++i) {
            std::string d = co_await asyncio::wait_for(recv_text(server), 5s);
            if (d == "filler")
                ++fillers;
            else
                others.push_back(d);
        }
        co_await send_to_of(client, "after", server_path);
        std::string after = co_await asyncio::wait_for(recv_text(server), 5s);
        EXPECT_EQ(fillers, filled);
        EXPECT_TRUE(others.empty()) << "the cancelled datagram went out";
        EXPECT_EQ(after, "after");  // the next datagram, not the cancelled one
    }
    EXPECT_EQ(open_fds(), fds);
}

// The fds open once the lookups still running on the executor (they are not stopped by a
// cancel) have finished with theirs (/etc/hosts, ...): waits up to 5 s for `expected`.
// Real time (this test runs on virtual time, which need not advance while the lookup thread
// finishes): blocking the loop briefly is harmless here.
// The count must hold for 100 ms running: the lookup thread may open and close its files after
// a first match.
coro<std::size_t> settled_fds(std::size_t expected) {
    int stable = 0;
    for (int i = 0; i < 5000 && stable < 100; ++i) {
        std::this_thread::sleep_for(1ms);
        stable = open_fds() == expected ? stable + 1 : 0;
    }
    co_await asyncio::sleep(0s);
    co_return open_fds();
}

ASYNC_TEST(Datagram, CancelledOpenWhileResolvingMakesNoSocket) {
    {
        // An open that is not cancelled resolves and opens (and loads what the resolver loads
        // once per process, before the fds are counted).
        datagram_socket s = co_await open_datagram_endpoint(ep("localhost", 0));
        EXPECT_TRUE(s.is_open());
    }
    std::size_t fds = open_fds();
    // The local end's lookup, then the remote end's (after a literal local end).
    for (int which = 0; which < 2; ++which) {
        ep local = which == 0 ? ep("localhost", 0) : ep("127.0.0.1", 0);
        ep remote = which == 0 ? ep() : ep("localhost", 9);
        auto opener = asyncio::create_task(open_datagram_endpoint(local, remote), "opener");
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(opener.done());
        opener.cancel();
        CO_ASSERT_THROW(co_await opener, asyncio::cancelled_error) << which;
        std::size_t now = co_await settled_fds(fds);
        EXPECT_EQ(now, fds) << which;
    }
}

ASYNC_TEST(Datagram, ClosingTheSocketFailsTheReceiveWaitingOnIt) {
    std::size_t fds = open_fds();
    {
        datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
        auto reader = asyncio::create_task(s.recv_from(), "reader");
        co_await asyncio::sleep(0s);
        s.close();
        s.close();  // idempotent
        int err = co_await error_of(std::move(reader));
        EXPECT_EQ(err, EBADF);
        std::string what;
        try {
            co_await s.send_to("x", address("127.0.0.1", 9));
        } catch (const std::system_error& e) {
            what = e.what();
            EXPECT_EQ(e.code().value(), EBADF);
        }
        EXPECT_EQ(what, "send_to: the datagram socket is closed: Bad file descriptor");
        int recv_err = co_await error_of(s.recv());
        EXPECT_EQ(recv_err, EBADF);
    }
    EXPECT_EQ(open_fds(), fds);
}

// --- the loop while a task waits -------------------------------------------------------------------

ASYNC_TEST(Datagram, NoDeadlockReportWhileATaskWaitsToReceive) {
    // Only a thread the loop knows nothing about will send: that is not a deadlock.
    datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    address to = s.local_address();
    std::jthread peer([to] {
        std::this_thread::sleep_for(50ms);
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(::sendto(fd, "late", 4, 0, to.data(), to.size()), 4);
        ::close(fd);
    });
    auto [data, from] = co_await s.recv_from();
    peer.join();
    EXPECT_EQ(data, "late");
}

ASYNC_TEST(Datagram, TwoReceiversOnOneSocketIsAnError) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    auto first = asyncio::create_task(recv_text(server), "first");
    co_await asyncio::sleep(0s);
    std::string what;
    try {
        std::string s = co_await server.recv();
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "another task is already waiting for fd " + std::to_string(server.socket().fd()) +
                        " to be readable");
    co_await client.send("1");
    std::string got = co_await first;  // the first receiver is unharmed
    EXPECT_EQ(got, "1");
}

coro<void> echo_one(datagram_socket* s) {
    auto [data, from] = co_await s->recv_from();
    co_await s->send_to(data, from);
}

TEST(DatagramLifetime, ASocketOutlivesItsLoopAndWorksWithTheNextOne) {
    std::size_t fds = open_fds();
    {
        datagram_socket s(net_socket(AF_INET, SOCK_DGRAM));
        s.socket().bind(address("127.0.0.1", 0));
        net_socket peer(AF_INET, SOCK_DGRAM);
        peer.bind(address("127.0.0.1", 0));
        address to = s.local_address();
        for (int run = 0; run < 2; ++run) {  // each run registers the socket with its own loop
            ASSERT_EQ(::sendto(peer.fd(), "!", 1, 0, to.data(), to.size()), 1);
            asyncio::run(echo_one(&s));
            char c = 0;
            ASSERT_EQ(::recv(peer.fd(), &c, 1, 0), 1);
            EXPECT_EQ(c, '!');
        }
        datagram_socket moved = std::move(s);
        EXPECT_FALSE(s.is_open());
        EXPECT_TRUE(moved.is_open());
    }
    EXPECT_EQ(open_fds(), fds);
}

// --- bad input -------------------------------------------------------------------------------------

ASYNC_TEST(Datagram, SendingToAnAddressOfTheWrongFamilyIsInvalidArgument) {
    datagram_socket v4 = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket v6 = co_await open_datagram_endpoint(ep("::1", 0));
    std::string what = co_await invalid_argument_of(v4.send_to("x", v6.local_address()));
    EXPECT_EQ(what,
              "send_to: " + v6.local_address().to_string() + " is not an IPv4 address (the socket's family)");
    what = co_await invalid_argument_of(v6.send_to("x", v4.local_address()));
    EXPECT_EQ(what,
              "send_to: " + v4.local_address().to_string() + " is not an IPv6 address (the socket's family)");
    what = co_await invalid_argument_of(v4.send_to("x", address::unix_path("/tmp/x")));
    EXPECT_EQ(what, "send_to: /tmp/x is not an IPv4 address (the socket's family)");
    // Nothing went out, and the sockets work on.
    co_await v4.send_to("fine", v4.local_address());
    auto [data, from] = co_await v4.recv_from();
    EXPECT_EQ(data, "fine");
}

ASYNC_TEST(Datagram, SendingElsewhereFromAConnectedSocketIsInvalidArgument) {
    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket other = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    datagram_socket client = co_await open_datagram_endpoint(std::nullopt, server.local_address());
    std::string what = co_await invalid_argument_of(client.send_to("x", other.local_address()));
    EXPECT_EQ(what, "send_to: invalid address " + other.local_address().to_string() +
                        ": the socket is connected to " + server.local_address().to_string());
}

ASYNC_TEST(Datagram, SendWithoutARemoteEndIsDestinationAddressRequired) {
    datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    int err = co_await error_of(s.send("nowhere"));
    EXPECT_EQ(err, EDESTADDRREQ);
}

ASYNC_TEST(Datagram, OpenRejectsBadEnds) {
    std::string what;
    try {
        datagram_socket s = co_await open_datagram_endpoint(std::nullopt, std::nullopt);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "unexpected address family");  // Python's ValueError

    what.clear();
    try {
        datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0), address("::1", 9));
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "can not get address information");  // no family in common

    what.clear();
    asyncio::datagram_options v6;
    v6.family = AF_INET6;
    try {
        datagram_socket s = co_await open_datagram_endpoint(address("127.0.0.1", 0), std::nullopt, v6);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "local address 127.0.0.1:0 is not an IPv6 address (options.family)");

    what.clear();
    asyncio::datagram_options packet;
    packet.family = 17;
    try {
        datagram_socket s = co_await open_datagram_endpoint(std::nullopt, std::nullopt, packet);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "open_datagram_endpoint: unsupported address family 17");

    what.clear();
    try {
        datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 70000));
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "port must be 0-65535, not 70000");

    what.clear();
    try {
        datagram_socket s = co_await open_datagram_endpoint(address());
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "local address is unspecified");
}

ASYNC_TEST(Datagram, AdoptingRequiresAnOpenDatagramSocket) {
    EXPECT_THROW(static_cast<void>(datagram_socket(net_socket(AF_INET, SOCK_STREAM))), std::invalid_argument);
    EXPECT_THROW(static_cast<void>(datagram_socket(net_socket())), std::invalid_argument);
    datagram_socket empty;
    EXPECT_FALSE(empty.is_open());
    int err = co_await error_of(empty.recv());
    EXPECT_EQ(err, EBADF);
}

ASYNC_TEST(Datagram, BindingATakenPortIsAddressInUseUnlessBothReusePort) {
    datagram_socket first = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    address taken = first.local_address();
    std::string what;
    int err = 0;
    try {
        datagram_socket second = co_await open_datagram_endpoint(taken);
    } catch (const std::system_error& e) {
        err = e.code().value();
        what = e.what();
    }
    EXPECT_EQ(err, EADDRINUSE);
    EXPECT_EQ(what, "bind to " + taken.to_string() + ": Address already in use");

    asyncio::datagram_options shared;
    shared.reuse_port = true;
    datagram_socket a = co_await open_datagram_endpoint(ep("127.0.0.1", 0), std::nullopt, shared);
    datagram_socket b = co_await open_datagram_endpoint(a.local_address(), std::nullopt, shared);
    EXPECT_EQ(a.local_address(), b.local_address());
    EXPECT_EQ(b.socket().get_option(SOL_SOCKET, SO_REUSEPORT), 1);
}

ASYNC_TEST(Datagram, BroadcastNeedsAllowBroadcastWhichLeavesTheRemoteUnconnected) {
    datagram_socket s = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    EXPECT_EQ(s.socket().get_option(SOL_SOCKET, SO_BROADCAST), 0);
    int err = co_await error_of(s.send_to("all", address("255.255.255.255", 9)));
    EXPECT_EQ(err, EACCES);

    datagram_socket server = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    asyncio::datagram_options broadcast;
    broadcast.allow_broadcast = true;
    datagram_socket b =
        co_await open_datagram_endpoint(ep("127.0.0.1", 0), server.local_address(), broadcast);
    EXPECT_EQ(b.socket().get_option(SOL_SOCKET, SO_BROADCAST), 1);
    EXPECT_FALSE(b.is_connected());  // as Python: the remote end is only the default destination
    CO_ASSERT_TRUE(b.remote_address());
    EXPECT_EQ(*b.remote_address(), server.local_address());
    co_await b.send("to the remote end");
    auto [data, from] = co_await server.recv_from();
    EXPECT_EQ(data, "to the remote end");
    EXPECT_EQ(from, b.local_address());
    // Unconnected: it hears from anyone.
    datagram_socket stranger = co_await open_datagram_endpoint(ep("127.0.0.1", 0));
    co_await stranger.send_to("hi", b.local_address());
    auto [hi, who] = co_await b.recv_from();
    EXPECT_EQ(hi, "hi");
    EXPECT_EQ(who, stranger.local_address());
}

}  // namespace
