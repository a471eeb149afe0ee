// Tests of io_uring's completion-based receive and accept (src/poller/io_uring.cpp: multishot
// IORING_OP_RECV into a ring of provided buffers, multishot accept; the loop queues their results
// on the fd's state, detail::fd_state::rx). The same bodies run on epoll, where they hold too:
// - data that arrives while nobody reads waits (queued in the provided buffers: looked at
//   white-box) and comes out whole and in order; a read cancelled before it ran, also one woken
//   by its data and cancelled before it resumed, loses nothing (streams and sock_recv);
// - the loop's sock_recv/sock_accept never start the kernel's requests: a socket the caller
//   release()s still holds what nobody read (and a listener what nobody accepted);
// - EOF and a reset are reported once (then EOF), by streams and by sock_recv;
// - many connections holding unread data: each holds at most a few buffers (the cap), the
//   buffers running out loses nothing and hangs nothing (the readers fall back to recv());
// - closing a stream or a server whose receive or accept runs really closes the file at once;
// - sock_accept: queued connections come with their peer's address and close with the listener;
//   a server's multishot accept: under EMFILE it pauses and serves everyone once fds are free.
// Poller-level, io_uring only: stop_recv ends the receive with -ECANCELED after the data it took;
// remove_edge while a receive runs and holds data closes the file at once.
// Real time: the loop must really wait in the kernel for results to be harvested.
// ctest-labels: threads
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asyncio/event_loop.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/net/server.hpp>
#include <asyncio/net/socket.hpp>
#include <asyncio/net/streams.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <asyncio/timeout.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../src/poller/poller.hpp"  // white-box: the backend's completion interface
#include "asyncio/detail/io_wait.hpp"
#include "support/open_fds.hpp"

using namespace std::chrono_literals;
using asyncio::backend;
using asyncio::coro;
using asyncio::stream_reader;
using asyncio::stream_writer;
using asyncio::net::address;
using net_socket = asyncio::net::socket;

namespace {

using test_support::open_fds;

asyncio::event_loop& loop() { return asyncio::get_running_loop(); }

// Whether io_uring's completion-based operations work here (else the io_uring cases skip).
bool uring_completions() {
    try {
        return asyncio::detail::make_io_uring_poller()->has_completions();
    } catch (const asyncio::detail::io_uring_unavailable&) {
        return false;
    }
}

bool uring_available() {
    try {
        asyncio::detail::make_io_uring_poller();
        return true;
    } catch (const asyncio::detail::io_uring_unavailable&) {
        return false;
    }
}

// Whether the running loop receives through the kernel's multishot requests.
bool completing() { return loop().backend() == backend::io_uring && uring_completions(); }

asyncio::detail::fd_state* state_of(int fd) { return loop().io_find(fd); }

std::string pattern(std::size_t n, std::uint64_t seed) {
    std::string s(n + 8, '\0');
    for (std::uint64_t i = 0; i * 8 < n; ++i) {
        std::uint64_t word = (i + 1 + seed * 1000003) * 0x9E3779B97F4A7C15ull;
        std::memcpy(&s[i * 8], &word, 8);
    }
    s.resize(n);
    return s;
}

struct stream_and_peer {
    stream_reader reader;
    stream_writer writer;
    net_socket peer;
};

coro<stream_and_peer> tcp_streams() {
    address where("127.0.0.1", 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen();
    std::pair<stream_reader, stream_writer> rw =
        co_await asyncio::open_connection("127.0.0.1", listener.local_address().port());
    std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    stream_and_peer s{std::move(rw.first), std::move(rw.second), std::move(accepted.first)};
    co_return s;
}

// Puts the stream in the mode under test: a read that found nothing (EAGAIN: on io_uring the
// kernel's receive starts) and then got `hello`.
coro<void> first_read(stream_and_peer& s) {
    auto reading = asyncio::create_task(s.reader.read(100));
    co_await asyncio::sleep(5ms);
    co_await loop().sock_sendall(s.peer, "hello");
    std::string got = co_await reading;
    EXPECT_EQ(got, "hello");
    if (completing()) {
        EXPECT_TRUE(state_of(s.writer.fd())->rx_running) << "the multishot receive did not start";
    }
}

class IoOps : public ::testing::TestWithParam<backend> {
  protected:
    void SetUp() override {
        // Without the completion-based operations (an older kernel, ASYNCIO_IO_URING_READINESS_ONLY=1)
        // the io_uring cases run the readiness fallback, without the white-box checks.
        if (GetParam() == backend::io_uring && !uring_available())
            GTEST_SKIP() << "io_uring is unavailable here";
    }
    void run(coro<void> body, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
        asyncio::testing::test_options o;
        o.clock = asyncio::clock_kind::real_time;
        o.backend = GetParam();
        asyncio::testing::run_test(std::move(body), o, file, line);
    }
};

// --- data waiting, cancelled reads -------------------------------------------------------------

coro<void> data_waits_for_the_reader() {
    stream_and_peer s = co_await tcp_streams();
    co_await first_read(s);
    // Nobody reads: three sends, received by the kernel meanwhile.
    co_await loop().sock_sendall(s.peer, "one,");
    co_await asyncio::sleep(2ms);
    co_await loop().sock_sendall(s.peer, "two,");
    co_await asyncio::sleep(2ms);
    co_await loop().sock_sendall(s.peer, "three");
    co_await asyncio::sleep(10ms);
    if (completing()) {
        asyncio::detail::fd_state* st = state_of(s.writer.fd());
        EXPECT_EQ(st->rx.size(), 3u) << "each arrival waits in its own buffer";
        EXPECT_EQ(asyncio::event_loop::io_received_size(st), 13u);
    }
    std::string got = co_await s.reader.read(100);
    EXPECT_EQ(got, "one,two,three");
    // Part of a buffer: readexactly leaves the rest for the next read.
    co_await loop().sock_sendall(s.peer, "abcdefgh");
    co_await asyncio::sleep(10ms);
    std::string a = co_await s.reader.readexactly(3);
    std::string b = co_await s.reader.read(100);
    EXPECT_EQ(a + "|" + b, "abc|defgh");
    s.writer.close();
    co_await s.writer.wait_closed();
}
TEST_P(IoOps, DataArrivingBeforeTheReadWaitsAndComesOutInOrder) { run(data_waits_for_the_reader()); }

coro<void> cancelled_waiting_read() {
    stream_and_peer s = co_await tcp_streams();
    co_await first_read(s);
    auto pending = asyncio::create_task(s.reader.readexactly(10));
    co_await asyncio::sleep(5ms);
    co_await loop().sock_sendall(s.peer, "12345");  // part of what it waits for
    co_await asyncio::sleep(5ms);
    EXPECT_FALSE(pending.done());
    pending.cancel();
    CO_ASSERT_THROW(co_await pending, asyncio::cancelled_error);
    co_await loop().sock_sendall(s.peer, "67890");
    std::string got = co_await s.reader.readexactly(10);
    EXPECT_EQ(got, "1234567890");
    s.writer.close();
    co_await s.writer.wait_closed();
}
TEST_P(IoOps, CancelledReadLosesNothing) { run(cancelled_waiting_read()); }

// The reader of `victim` is woken by its data (io_uring: the data is queued on its fd) and
// cancelled before it resumes, by a task that the same batch of results woke first.
coro<void> cancel_from(stream_reader other, asyncio::task<std::string>* victim, std::string* seen,
                       int victim_fd, bool check_queued) {
    std::string got = co_await other.read(100);
    *seen = got;
    if (check_queued) {
        asyncio::detail::fd_state* st = state_of(victim_fd);
        EXPECT_FALSE(st->rx.empty()) << "the victim's data was not queued yet: the test did not test";
    }
    victim->cancel();
}

coro<void> cancelled_after_its_data_came() {
    stream_and_peer a = co_await tcp_streams();
    stream_and_peer b = co_await tcp_streams();
    co_await first_read(a);
    co_await first_read(b);
    asyncio::task<std::string> victim = asyncio::create_task(a.reader.read(100));
    std::string seen;
    auto canceller = asyncio::create_task(cancel_from(b.reader, &victim, &seen, a.writer.fd(), completing()));
    co_await asyncio::sleep(5ms);
    // Both in one go: b's result comes first, so the canceller runs first.
    co_await loop().sock_sendall(b.peer, "wake");
    co_await loop().sock_sendall(a.peer, "precious");
    co_await canceller;
    EXPECT_EQ(seen, "wake");
    std::string got;
    try {
        got = co_await victim;  // on epoll it may have run first: then it has the data
        EXPECT_FALSE(completing()) << "the victim was not cancelled: the test did not test";
    } catch (const asyncio::cancelled_error&) {
    }
    if (got.empty()) got = co_await a.reader.read(100);
    EXPECT_EQ(got, "precious");
    a.writer.close();
    b.writer.close();
    co_await a.writer.wait_closed();
    co_await b.writer.wait_closed();
}
TEST_P(IoOps, ReadWokenByItsDataThenCancelledLosesNothing) { run(cancelled_after_its_data_came()); }

coro<void> cancelled_sock_recv() {
    std::pair<net_socket, net_socket> sp = net_socket::pair();
    net_socket& mine = sp.first;
    auto pending = asyncio::create_task(loop().sock_recv(mine, 100));
    co_await asyncio::sleep(5ms);
    // The loop's sock_* operations never start the kernel's receive (see released_socket below).
    EXPECT_FALSE(state_of(mine.fd())->rx_running);
    pending.cancel();
    CO_ASSERT_THROW(co_await pending, asyncio::cancelled_error);
    co_await loop().sock_sendall(sp.second, "abcdef");
    co_await asyncio::sleep(5ms);
    std::string a = co_await loop().sock_recv(mine, 2);  // part of a buffer
    std::string b = co_await loop().sock_recv(mine, 100);
    EXPECT_EQ(a + "|" + b, "ab|cdef");
}
TEST_P(IoOps, CancelledSockRecvLosesNothing) { run(cancelled_sock_recv()); }

// A socket the caller takes back with release() (or uses after the loop is gone) must still hold
// every byte nobody read, and a listener every connection nobody accepted: the loop's sock_recv
// and sock_accept wait by readiness, never by the kernel's multishot requests, which would have
// taken the bytes (connections) into the loop's buffers (queue) and lost them with the socket.
coro<void> released_socket_keeps_what_nobody_read() {
    std::pair<net_socket, net_socket> sp = net_socket::pair();
    auto pending = asyncio::create_task(loop().sock_recv(sp.first, 100));
    co_await asyncio::sleep(5ms);  // EAGAIN seen: the receive waits
    pending.cancel();
    CO_ASSERT_THROW(co_await pending, asyncio::cancelled_error);
    co_await loop().sock_sendall(sp.second, "kept for the new owner");
    co_await asyncio::sleep(10ms);  // time for a kernel-side receive to take it, were there one
    int fd = sp.first.release();
    char buf[64];
    ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    EXPECT_EQ(std::string(buf, r > 0 ? static_cast<std::size_t>(r) : 0), "kept for the new owner");
    ::close(fd);

    address where("127.0.0.1", 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen(16);
    address at = listener.local_address();
    auto accepting = asyncio::create_task(loop().sock_accept(listener));
    co_await asyncio::sleep(5ms);
    accepting.cancel();
    CO_ASSERT_THROW(co_await accepting, asyncio::cancelled_error);
    std::vector<net_socket> clients;
    for (int i = 0; i < 3; ++i) {
        net_socket c(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(c, at);
        clients.push_back(std::move(c));
    }
    co_await asyncio::sleep(10ms);
    int lfd = listener.release();
    int taken = 0;
    for (int i = 0; i < 3; ++i) {
        int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            ++taken;
            ::close(c);
        }
    }
    EXPECT_EQ(taken, 3) << "connections were taken from the released listener";
    ::close(lfd);
}
TEST_P(IoOps, ReleasedSocketKeepsWhatNobodyRead) { run(released_socket_keeps_what_nobody_read()); }

// --- EOF and reset ---------------------------------------------------------------------------------

void reset(net_socket& s) {
    linger lg{1, 0};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    s.close();  // RST
}

coro<void> eof_and_reset_once() {
    {  // EOF while a read waits, then again
        stream_and_peer s = co_await tcp_streams();
        co_await first_read(s);
        auto reading = asyncio::create_task(s.reader.read(100));
        co_await asyncio::sleep(5ms);
        co_await loop().sock_sendall(s.peer, "last");
        s.peer.shutdown(SHUT_WR);
        std::string got = co_await reading;
        std::string eof1 = co_await s.reader.read(100);
        std::string eof2 = co_await s.reader.read(100);
        EXPECT_EQ(got + "|" + eof1 + "|" + eof2, "last||");
        EXPECT_TRUE(s.reader.at_eof());
        s.writer.close();
        co_await s.writer.wait_closed();
    }
    {  // a reset while a read waits: reported once, EOF afterwards
        stream_and_peer s = co_await tcp_streams();
        co_await first_read(s);
        auto reading = asyncio::create_task(s.reader.read(100));
        co_await asyncio::sleep(5ms);
        reset(s.peer);
        int code = 0;
        try {
            co_await reading;
        } catch (const std::system_error& e) {
            code = e.code().value();
        }
        EXPECT_EQ(code, ECONNRESET);
        std::string after = co_await s.reader.read(100);
        EXPECT_EQ(after, "");
        s.writer.close();
        co_await s.writer.wait_closed();
    }
    {  // sock_recv: EOF is "" every time; a reset is reported once, then ""
        address where("127.0.0.1", 0);
        net_socket listener(where.family(), SOCK_STREAM);
        listener.bind(where);
        listener.listen();
        net_socket c(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(c, listener.local_address());
        std::pair<net_socket, address> acc = co_await loop().sock_accept(listener);
        auto reading = asyncio::create_task(loop().sock_recv(c, 100));
        co_await asyncio::sleep(5ms);
        co_await loop().sock_sendall(acc.first, "x");
        std::string x = co_await reading;
        EXPECT_EQ(x, "x");
        auto waiting = asyncio::create_task(loop().sock_recv(c, 100));
        co_await asyncio::sleep(5ms);
        reset(acc.first);
        int code = 0;
        try {
            co_await waiting;
        } catch (const std::system_error& e) {
            code = e.code().value();
        }
        EXPECT_EQ(code, ECONNRESET);
        std::string e1 = co_await loop().sock_recv(c, 100);
        std::string e2 = co_await loop().sock_recv(c, 100);
        EXPECT_EQ(e1 + "|" + e2, "|");
    }
}
TEST_P(IoOps, EofAndResetAreReportedOnce) { run(eof_and_reset_once()); }

// --- many connections, few buffers -------------------------------------------------------------

coro<std::string> read_all(stream_reader r, std::size_t n) {
    std::string got = co_await r.readexactly(static_cast<std::ptrdiff_t>(n));
    co_return got;
}

coro<void> many_holding_unread_data() {
    constexpr int conns = 48;
    constexpr std::size_t each = 160 * 1024;  // 10 buffers' worth: well past the cap
    std::size_t fds0 = open_fds();
    {
        std::vector<stream_and_peer> ss;
        for (int i = 0; i < conns; ++i) {
            stream_and_peer s = co_await tcp_streams();
            ss.push_back(std::move(s));
        }
        for (auto& s : ss) co_await first_read(s);
        // Every peer sends; nobody reads for a while.
        std::vector<std::string> sent;
        for (int i = 0; i < conns; ++i) {
            sent.push_back(pattern(each, static_cast<std::uint64_t>(i)));
            ssize_t n =
                ::send(ss[static_cast<std::size_t>(i)].peer.fd(), sent.back().data(), each, MSG_NOSIGNAL);
            EXPECT_EQ(n, static_cast<ssize_t>(each));  // loopback TCP buffers take it
        }
        co_await asyncio::sleep(30ms);
        // Once an fd holds its cap (or the buffers ran out), its receive is stopped: more data
        // stays in the socket. (The cap is reached between two looks of the loop, and the kernel
        // takes what is there in one go, up to its own batch limit, so an fd can hold more than
        // the cap once: it just takes no more.)
        std::vector<std::uint32_t> held;
        if (completing()) {
            std::uint32_t total = 0;
            for (auto& s : ss) {
                held.push_back(state_of(s.writer.fd())->rx.size());
                total += held.back();
            }
            EXPECT_LE(total, 128u);
            EXPECT_GT(total, 0u);
        }
        std::string extra = pattern(each, 999);
        for (auto& s : ss) {
            ssize_t n = ::send(s.peer.fd(), extra.data(), each, MSG_NOSIGNAL);
            EXPECT_EQ(n, static_cast<ssize_t>(each));
        }
        co_await asyncio::sleep(30ms);
        if (completing()) {
            for (std::size_t i = 0; i < ss.size(); ++i)
                EXPECT_EQ(state_of(ss[i].writer.fd())->rx.size(), held[i])
                    << "connection " << i << " took more";
        }
        // All read at once: the buffers run out over and over; nothing is lost or stuck.
        std::vector<asyncio::task<std::string>> readers;
        for (auto& s : ss) readers.push_back(asyncio::create_task(read_all(s.reader, each)));
        for (int i = 0; i < conns; ++i) {
            std::string got = co_await readers[static_cast<std::size_t>(i)];
            EXPECT_TRUE(got == sent[static_cast<std::size_t>(i)]) << "connection " << i;
        }
        for (int i = 0; i < conns; ++i)
            readers[static_cast<std::size_t>(i)] =
                asyncio::create_task(read_all(ss[static_cast<std::size_t>(i)].reader, each));
        for (int i = 0; i < conns; ++i) {
            std::string got = co_await readers[static_cast<std::size_t>(i)];
            EXPECT_TRUE(got == extra) << "connection " << i;
        }
        // And once more with the readers waiting before the data comes.
        for (int i = 0; i < conns; ++i)
            readers[static_cast<std::size_t>(i)] =
                asyncio::create_task(read_all(ss[static_cast<std::size_t>(i)].reader, each));
        co_await asyncio::sleep(2ms);
        for (int i = 0; i < conns; ++i) {
            ssize_t n = ::send(ss[static_cast<std::size_t>(i)].peer.fd(),
                               sent[static_cast<std::size_t>(conns - 1 - i)].data(), each, MSG_NOSIGNAL);
            EXPECT_EQ(n, static_cast<ssize_t>(each));
        }
        for (int i = 0; i < conns; ++i) {
            std::string got = co_await readers[static_cast<std::size_t>(i)];
            EXPECT_TRUE(got == sent[static_cast<std::size_t>(conns - 1 - i)]) << "connection " << i;
        }
        for (auto& s : ss) s.writer.close();
        for (auto& s : ss) co_await s.writer.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds0);
}
TEST_P(IoOps, ManyConnectionsHoldingUnreadDataLoseNothing) { run(many_holding_unread_data()); }

// --- closing ----------------------------------------------------------------------------------------

// Whether the other end of `fd` sees it closed (EOF or a reset), without waiting.
bool peer_sees_close(int fd) {
    char c;
    for (;;) {
        ssize_t r = ::recv(fd, &c, 1, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
        if (r < 0) return false;  // EAGAIN: still open
    }
}

coro<void> serve_one(stream_reader, stream_writer w) {
    w.write("x");
    w.close();
    co_await w.wait_closed();
}

coro<void> close_really_closes() {
    {  // a stream whose receive runs and holds unread data
        std::pair<net_socket, net_socket> sp = net_socket::pair();
        net_socket peer = std::move(sp.second);
        std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection(std::move(sp.first));
        stream_and_peer s{std::move(rw.first), std::move(rw.second), std::move(peer)};
        co_await first_read(s);
        co_await loop().sock_sendall(s.peer, "unread");
        co_await asyncio::sleep(5ms);
        s.writer.close();  // nothing buffered: the socket closes now
        EXPECT_TRUE(peer_sees_close(s.peer.fd())) << "the file is still open after close()";
    }
    {  // a server whose multishot accept runs: the port refuses connections at once
        std::size_t fds0 = open_fds();
        asyncio::server srv = co_await asyncio::start_server(serve_one, "127.0.0.1", 0);
        int port = srv.port();
        net_socket c(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(c, address("127.0.0.1", port));
        co_await asyncio::sleep(10ms);  // accepted; the next accept4 said EAGAIN
        srv.close();
        int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(port));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        int err = errno;
        ::close(probe);
        EXPECT_EQ(r, -1);
        EXPECT_EQ(err, ECONNREFUSED) << "the listening socket is still open after close()";
        co_await srv.wait_closed();
        c.close();
        EXPECT_EQ(open_fds(), fds0);
    }
}
TEST_P(IoOps, CloseReallyClosesWhileAReceiveOrAcceptRuns) { run(close_really_closes()); }

// --- accept ---------------------------------------------------------------------------------------

coro<void> queued_accepts() {
    std::size_t fds0 = open_fds();
    {
        address where("127.0.0.1", 0);
        net_socket listener(where.family(), SOCK_STREAM);
        listener.bind(where);
        listener.listen(128);
        address at = listener.local_address();
        auto first = asyncio::create_task(loop().sock_accept(listener));
        co_await asyncio::sleep(5ms);
        EXPECT_FALSE(state_of(listener.fd())->rx_running);  // sock_accept waits by readiness
        std::vector<net_socket> clients;
        std::set<std::string> expected;
        for (int i = 0; i < 50; ++i) {
            net_socket c(AF_INET, SOCK_STREAM);
            co_await loop().sock_connect(c, at);
            expected.insert(c.local_address().to_string());
            clients.push_back(std::move(c));
        }
        co_await asyncio::sleep(10ms);
        std::set<std::string> seen;
        std::pair<net_socket, address> one = co_await first;
        seen.insert(one.second.to_string());
        std::vector<net_socket> accepted;
        accepted.push_back(std::move(one.first));
        for (int i = 1; i < 50; ++i) {
            std::pair<net_socket, address> a = co_await loop().sock_accept(listener);
            EXPECT_EQ(a.first.peer_address(), a.second);
            seen.insert(a.second.to_string());
            accepted.push_back(std::move(a.first));
        }
        EXPECT_TRUE(seen == expected);
        co_await loop().sock_sendall(accepted.back(), "hi");
        std::string hi = co_await loop().sock_recv(clients.back(), 10);
        EXPECT_EQ(hi, "hi");
        // Connections queued when the listener closes are closed with it.
        net_socket late(AF_INET, SOCK_STREAM);
        co_await loop().sock_connect(late, at);
        co_await asyncio::sleep(10ms);
        listener.close();
    }
    EXPECT_EQ(open_fds(), fds0);
}
TEST_P(IoOps, QueuedAcceptsComeWithTheirPeersAndCloseWithTheListener) { run(queued_accepts()); }

coro<void> accept_under_emfile() {
    constexpr int clients = 30;
    std::vector<net_socket> cs;
    for (int i = 0; i < clients; ++i) cs.emplace_back(AF_INET, SOCK_STREAM);
    // Room for the listener and about 3 connections at a time: the free numbers below the
    // limit are filled. The server starts after (io_uring's multishot accept goes by the limit
    // of when it was submitted).
    int highest = 0;
    for (int fd = 0; fd < 65536; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
    std::vector<int> fillers;
    for (;;) {
        int f = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (f < 0 || f > highest) {
            if (f >= 0) ::close(f);
            break;
        }
        fillers.push_back(f);
    }
    rlimit saved{};
    CO_ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest + 1 + 4);
    CO_ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    asyncio::server_options opts;
    opts.accept_retry_delay = 20ms;
    asyncio::server srv = co_await asyncio::start_server(serve_one, "127.0.0.1", 0, opts);
    address at("127.0.0.1", srv.port());
    co_await asyncio::sleep(5ms);  // the acceptor's first EAGAIN: io_uring's multishot accept runs
    // All at once (a connect waits for the handshake: one by one, they would be served one by one).
    std::vector<asyncio::task<void>> connecting;
    for (auto& c : cs) connecting.push_back(asyncio::create_task(loop().sock_connect(c, at)));
    for (auto& t : connecting) co_await t;
    int served = 0;
    for (auto& c : cs) {
        std::string x = co_await asyncio::wait_for(loop().sock_recv(c, 10), 20s);
        served += x == "x";
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
    for (int f : fillers) ::close(f);
    EXPECT_EQ(served, clients);
    srv.close();
    co_await srv.wait_closed();
    std::vector<asyncio::testing::report> reports = asyncio::testing::take_reports();
    EXPECT_GT(reports.size(), 0u) << "descriptors never ran out: the test did not test";
    for (const auto& r : reports) EXPECT_EQ(r.message, "socket.accept() out of system resource");
}
TEST_P(IoOps, AcceptUnderEmfilePausesThenServesEveryone) { run(accept_under_emfile()); }

INSTANTIATE_TEST_SUITE_P(Backends, IoOps, ::testing::Values(backend::epoll, backend::io_uring),
                         [](const ::testing::TestParamInfo<backend>& i) {
                             return std::string(i.param == backend::epoll ? "epoll" : "io_uring");
                         });

// --- the poller itself (io_uring) -------------------------------------------------------------

class UringPoller : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!uring_completions()) GTEST_SKIP() << "io_uring's multishot receive is unavailable here";
        p_ = asyncio::detail::make_io_uring_poller();
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        a_ = sv[0];
        b_ = sv[1];
    }
    void TearDown() override {
        p_.reset();
        if (a_ >= 0) ::close(a_);
        if (b_ >= 0) ::close(b_);
    }
    // The events of one wait (up to 100 ms), recv results only.
    std::vector<asyncio::detail::poll_event> recv_events() {
        asyncio::detail::poll_event evs[64];
        std::vector<asyncio::detail::poll_event> out;
        for (int round = 0; round < 5 && out.empty(); ++round) {
            int n = p_->wait(20'000'000, evs, 64);
            for (int i = 0; i < n; ++i)
                if (evs[i].op == asyncio::detail::completion::recv) out.push_back(evs[i]);
        }
        return out;
    }
    std::unique_ptr<asyncio::detail::poller> p_;
    int a_ = -1, b_ = -1;
};

TEST_F(UringPoller, StopRecvEndsItAfterTheDataItTook) {
    p_->add_edge(a_, 5);
    ASSERT_TRUE(p_->start_recv(a_));
    ASSERT_EQ(::write(b_, "abc", 3), 3);
    std::vector<asyncio::detail::poll_event> evs = recv_events();
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].token, 5u);
    EXPECT_EQ(evs[0].result, 3);
    EXPECT_TRUE(evs[0].more);
    EXPECT_EQ(std::string(p_->buffer_data(evs[0].buffer), 3), "abc");
    p_->recycle(evs[0].buffer);
    p_->stop_recv(a_);
    evs = recv_events();
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].result, -ECANCELED);
    EXPECT_FALSE(evs[0].more);
    // Ended: data now stays in the socket, and a new receive takes it.
    ASSERT_EQ(::write(b_, "de", 2), 2);
    ASSERT_TRUE(p_->start_recv(a_));
    evs = recv_events();
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(std::string(p_->buffer_data(evs[0].buffer), static_cast<std::size_t>(evs[0].result)), "de");
    p_->recycle(evs[0].buffer);
}

TEST_F(UringPoller, RemoveEdgeWhileAReceiveHoldsDataReallyCloses) {
    p_->add_edge(a_, 5);
    ASSERT_TRUE(p_->start_recv(a_));
    ASSERT_EQ(::write(b_, "abc", 3), 3);
    std::vector<asyncio::detail::poll_event> evs = recv_events();
    ASSERT_EQ(evs.size(), 1u);
    ASSERT_EQ(::write(b_, "more", 4), 4);  // taken by the receive, not reported yet
    p_->remove_edge(a_);
    ::close(a_);
    a_ = -1;
    EXPECT_TRUE(peer_sees_close(b_)) << "the receive still holds the file";
    p_->recycle(evs[0].buffer);
    // Whatever the receive still reports is dropped (its buffer given back), not handed out.
    asyncio::detail::poll_event out[16];
    int n = p_->wait(10'000'000, out, 16);
    for (int i = 0; i < n; ++i) EXPECT_NE(out[i].op, asyncio::detail::completion::recv);
}

}  // namespace
