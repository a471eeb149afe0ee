// Tests of <asyncio/net/streams.hpp>: stream_reader (fed by hand and over sockets: every method
// on chunked input, separators split across chunks, the limit, EOF mid-line, readexactly's
// partial data, bad arguments, one waiting reader at a time), stream_writer (immediate sends,
// buffering, drain's flow control with a slow peer and bounded memory, writelines with one
// sendmsg, write_eof, close with buffered bytes, errors after close), open_connection and
// open_unix_connection (IPv4, IPv6, refused, unknown host), peer resets with SIGPIPE at its
// default, and cancellation at every await point with no fd leaked (/proc/self/fd is counted)
// and no byte lost by a cancelled read. Loopback only, port 0.
// ctest-labels: threads
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/debug.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/net/socket.hpp>
#include <asyncio/net/streams.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <asyncio/timeout.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using asyncio::coro;
using asyncio::stream_reader;
using asyncio::stream_writer;
using asyncio::net::address;
using net_socket = asyncio::net::socket;

#include "support/blocked_resolver.hpp"
#include "support/open_fds.hpp"

namespace {

using test_support::open_fds;

// Resident set now (not the peak), in KiB.
long rss_kb() {
    long size = 0, res = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        std::fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

asyncio::event_loop& loop() { return asyncio::get_running_loop(); }

// Bytes that show where they were in the stream: a comparison fails on any gap or reordering.
std::string pattern(std::size_t n) {
    std::string s(n + 8, '\0');
    for (std::uint64_t i = 0; i * 8 < n; ++i) {
        std::uint64_t word = (i + 1) * 0x9E3779B97F4A7C15ull;
        std::memcpy(&s[i * 8], &word, 8);
    }
    s.resize(n);
    return s;
}

// Feeds `chunks` one per loop iteration (so that readers see them arrive separately), then EOF.
coro<void> feed(stream_reader r, std::vector<std::string> chunks, bool eof) {
    for (const std::string& c : chunks) {
        co_await asyncio::sleep(0s);
        r.feed_data(c);
    }
    co_await asyncio::sleep(0s);
    if (eof) r.feed_eof();
}

std::vector<std::string> chunks_of(const std::string& s, std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size(); i += n) out.push_back(s.substr(i, n));
    return out;
}

// What a read method gave: its value, or the exception's kind and data.
struct outcome {
    std::string value;
    std::string error;  // "", "incomplete", "overrun"
    std::string partial;
    std::optional<std::size_t> expected;
};

coro<outcome> catch_read(coro<std::string> op) {
    outcome o;
    try {
        o.value = co_await std::move(op);
    } catch (const asyncio::incomplete_read_error& e) {
        o.error = "incomplete";
        o.partial = e.partial();
        o.expected = e.expected();
    } catch (const asyncio::limit_overrun_error& e) {
        o.error = "overrun";
        o.expected = e.consumed();
    }
    co_return o;
}

// --- a connected stream and its raw peer --------------------------------------------------------

struct stream_and_peer {
    stream_reader reader;
    stream_writer writer;
    net_socket peer;  // the other end, accepted from a listener
};

coro<stream_and_peer> connect_streams(std::string ip, asyncio::connection_options opts = {}) {
    address where(ip, 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen();
    std::pair<stream_reader, stream_writer> rw =
        co_await asyncio::open_connection(ip, listener.local_address().port(), opts);
    std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    stream_and_peer s{std::move(rw.first), std::move(rw.second), std::move(accepted.first)};
    co_return s;
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

void reset_on_close(net_socket& s) {
    linger l{1, 0};
    ASSERT_EQ(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
}

// ==== stream_reader, fed by hand =================================================================

ASYNC_TEST(StreamReader, ReadReturnsWhatIsBufferedUpToN) {
    stream_reader r;
    r.feed_data("abc");
    std::string a = co_await r.read(2);
    EXPECT_EQ(a, "ab");
    std::string b = co_await r.read(10);
    EXPECT_EQ(b, "c");  // what there is: does not wait for 10
    auto later = asyncio::create_task(r.read(10));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(later.done());  // empty: waits for data
    r.feed_data("de");
    r.feed_data("f");
    std::string c = co_await later;
    EXPECT_EQ(c, "def");
    std::string zero = co_await r.read(0);
    EXPECT_EQ(zero, "");
    r.feed_eof();
    std::string end = co_await r.read(5);
    EXPECT_EQ(end, "");
    EXPECT_TRUE(r.at_eof());
}

ASYNC_TEST(StreamReader, ReadAllCollectsChunksUntilEof) {
    stream_reader r;
    auto feeder = asyncio::create_task(feed(r, chunks_of(pattern(100000), 777), true));
    std::string all = co_await r.read();
    co_await feeder;
    EXPECT_TRUE(all == pattern(100000));
    EXPECT_TRUE(r.at_eof());
    std::string again = co_await r.read();
    EXPECT_EQ(again, "");
}

ASYNC_TEST(StreamReader, ReadlineOnChunksWithTheNewlineSplitOff) {
    stream_reader r;
    std::vector<std::string> chunks;
    chunks.push_back("fir");
    chunks.push_back("st");
    chunks.push_back("\n");
    chunks.push_back("second\nthi");
    chunks.push_back("rd\n\nno newline at the end");
    auto feeder = asyncio::create_task(feed(r, chunks, true));
    std::vector<std::string> lines;
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) break;
        lines.push_back(line);
    }
    co_await feeder;
    std::vector<std::string> expected;
    expected.push_back("first\n");
    expected.push_back("second\n");
    expected.push_back("third\n");
    expected.push_back("\n");
    expected.push_back("no newline at the end");  // EOF mid-line: the partial line
    EXPECT_EQ(lines, expected);
    EXPECT_TRUE(r.at_eof());
}

ASYNC_TEST(StreamReader, ReaduntilFindsASeparatorSplitAcrossChunks) {
    stream_reader r;
    std::vector<std::string> chunks;
    chunks.push_back("GET / HTTP/1.1\r");
    chunks.push_back("\nHost: x\r\n\r");
    chunks.push_back("\n");
    chunks.push_back("body-<");
    chunks.push_back("<");
    chunks.push_back("E");
    chunks.push_back("ND>>tail");
    auto feeder = asyncio::create_task(feed(r, chunks, true));
    std::string head = co_await r.readuntil("\r\n\r\n");
    EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string body = co_await r.readuntil("<<END>>");
    EXPECT_EQ(body, "body-<<END>>");
    outcome rest = co_await catch_read(r.readuntil("<<END>>"));
    co_await feeder;
    EXPECT_EQ(rest.error, "incomplete");  // EOF first: everything there was, no expected size
    EXPECT_EQ(rest.partial, "tail");
    EXPECT_FALSE(rest.expected.has_value());
    EXPECT_TRUE(r.at_eof());
}

ASYNC_TEST(StreamReader, ReaduntilPastTheLimitKeepsTheData) {
    stream_reader r(8);
    EXPECT_EQ(r.limit(), 8);
    // Found, but after the limit.
    r.feed_data("0123456789;rest");
    outcome found = co_await catch_read(r.readuntil(";"));
    EXPECT_EQ(found.error, "overrun");
    EXPECT_EQ(found.expected, 10u);  // consumed(): where the separator is (Python)
    EXPECT_EQ(r.buffered(), 15u);    // nothing was taken
    std::string taken = co_await r.readexactly(11);
    EXPECT_EQ(taken, "0123456789;");
    // Not found, and already more than limit + separator bytes, arriving in chunks.
    stream_reader s(8);
    auto feeder = asyncio::create_task(feed(s, chunks_of("abcdefghijklmnop", 3), false));
    outcome missing = co_await catch_read(s.readuntil("!!"));
    co_await feeder;
    EXPECT_EQ(missing.error, "overrun");
    EXPECT_GT(*missing.expected, 8u);
    // Exactly at the limit is fine: the separator starts at offset `limit`.
    stream_reader t(4);
    t.feed_data("abcd!!");
    std::string at_limit = co_await t.readuntil("!!");
    EXPECT_EQ(at_limit, "abcd!!");
}

ASYNC_TEST(StreamReader, ReadlinePastTheLimitDropsTheWholeLine) {
    stream_reader r(10);
    std::vector<std::string> chunks;
    chunks.push_back("short\nthis line is far ");
    chunks.push_back("too long for the limit");
    chunks.push_back(" of ten\nnext\n");
    auto feeder = asyncio::create_task(feed(r, chunks, true));
    std::string first = co_await r.readline();
    EXPECT_EQ(first, "short\n");
    outcome too_long = co_await catch_read(r.readline());
    EXPECT_EQ(too_long.error, "overrun");
    std::string next = co_await r.readline();
    EXPECT_EQ(next, "next\n");  // the long line is gone up to its newline, however it arrived
    co_await feeder;
    // A long line that EOF ends: dropped up to EOF.
    stream_reader s(4);
    s.feed_data("abcdefgh");
    s.feed_eof();
    outcome eof_line = co_await catch_read(s.readline());
    EXPECT_EQ(eof_line.error, "overrun");
    EXPECT_TRUE(s.at_eof());
}

ASYNC_TEST(StreamReader, ReadexactlyOnChunksAndPartialAtEof) {
    stream_reader r;
    auto feeder = asyncio::create_task(feed(r, chunks_of("0123456789abc", 2), true));
    std::string a = co_await r.readexactly(5);
    EXPECT_EQ(a, "01234");
    std::string b = co_await r.readexactly(5);
    EXPECT_EQ(b, "56789");
    std::string none = co_await r.readexactly(0);
    EXPECT_EQ(none, "");
    outcome c = co_await catch_read(r.readexactly(5));
    co_await feeder;
    EXPECT_EQ(c.error, "incomplete");
    EXPECT_EQ(c.partial, "abc");
    EXPECT_EQ(c.expected, 5u);
    EXPECT_TRUE(r.at_eof());  // the partial bytes were taken out
}

ASYNC_TEST(StreamReader, BadArguments) {
    std::string what;
    try {
        stream_reader zero(0);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "Limit cannot be <= 0");
    EXPECT_THROW(stream_reader(-5), std::invalid_argument);
    stream_reader r;
    EXPECT_THROW((void)r.readexactly(-1), std::invalid_argument);
    what.clear();
    try {
        std::string s = co_await r.readexactly(-1);
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "readexactly size can not be less than zero");
    what.clear();
    try {
        std::string s = co_await r.readuntil("");
    } catch (const std::invalid_argument& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "Separator should be at least one-byte string");
    r.feed_eof();
    EXPECT_THROW(r.feed_data("x"), std::runtime_error);
    r.feed_eof();  // twice: fine
    asyncio::connection_options bad;
    bad.limit = 0;
    CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", 1, bad), std::invalid_argument);
    CO_ASSERT_THROW(co_await asyncio::open_unix_connection("/nonexistent.sock", bad), std::invalid_argument);
    std::pair<net_socket, net_socket> sp = net_socket::pair();
    bad.limit = -1;
    CO_ASSERT_THROW(co_await asyncio::open_connection(std::move(sp.first), bad), std::invalid_argument);
    CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", 70000), std::invalid_argument);
    CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", -1), std::invalid_argument);
}

ASYNC_TEST(StreamReader, OneReaderWaitsAtATime) {
    stream_reader r;
    auto first = asyncio::create_task(r.readline());
    co_await asyncio::sleep(0s);
    std::string what;
    try {
        std::string s = co_await r.readexactly(3);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "readexactly() called while another task is already waiting for incoming data");
    r.feed_data("line\n");
    std::string line = co_await first;
    EXPECT_EQ(line, "line\n");
}

// A read cancelled while it waits takes nothing: every byte fed before and after is read later.
coro<void> cancel_then_read_all(coro<std::string> first, stream_reader r) {
    auto pending = asyncio::create_task(std::move(first));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(pending.done());
    pending.cancel();
    CO_ASSERT_THROW(co_await pending, asyncio::cancelled_error);
    r.feed_data("-more");
    r.feed_eof();
    std::string all = co_await r.read();
    EXPECT_EQ(all, "partial-more");
}

ASYNC_TEST(StreamReader, ACancelledReadLosesNoData) {
    for (int which = 0; which < 5; ++which) {
        stream_reader r;
        r.feed_data("partial");
        coro<std::string> op;
        if (which == 0) op = r.readexactly(100);
        if (which == 1) op = r.readline();
        if (which == 2) op = r.readuntil("\r\n");
        if (which == 3) op = r.read();  // until EOF: keeps what it gathered in the buffer
        if (which == 4) {
            // read(n) with an empty buffer: the bytes go to a reader made empty first.
            std::string taken = co_await r.read(100);
            EXPECT_EQ(taken, "partial");
            r.feed_data("partial");
            op = r.readexactly(8);
        }
        CO_ASSERT_NO_FATAL_FAILURE(co_await cancel_then_read_all(std::move(op), r)) << which;
    }
}

// readline() on a line longer than the limit drops the line through its "\n" before it throws
// (the next readline() returns the next line). Cancelled while it waits for that "\n", the rest
// of the long line must still not come out as a line of its own.
ASYNC_TEST(StreamReader, ACancelledReadlineDroppingALongLineLeavesNoFragment) {
    stream_reader r(4);
    r.feed_data("far too long");  // no "\n" yet: readline drops what it has and waits for it
    auto reading = asyncio::create_task(r.readline());
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(reading.done());
    reading.cancel();
    CO_ASSERT_THROW(co_await reading, asyncio::cancelled_error);
    r.feed_data("ab\nnext\n");  // the long line ends with "ab\n" (short enough for a line)
    outcome after = co_await catch_read(r.readline());
    // Either the next readline reports the overrun (it finished the drop), or it returns the
    // next line: never "ab\n", the fragment of the dropped line, as if it were a line.
    EXPECT_NE(after.value, "ab\n");
    if (after.error.empty()) {
        EXPECT_EQ(after.value, "next\n");
    } else {
        EXPECT_EQ(after.error, "overrun");
        std::string next = co_await r.readline();
        EXPECT_EQ(next, "next\n");
    }
}

// ==== streams over sockets ========================================================================

ASYNC_TEST(Streams, EchoRoundTripOverTcpV4AndV6) {
    std::size_t fds = open_fds();
    for (const char* ip : {"127.0.0.1", "::1"}) {
        stream_and_peer s = co_await connect_streams(ip);
        EXPECT_EQ(s.writer.peername(), s.peer.local_address());
        EXPECT_EQ(s.writer.sockname(), s.peer.peer_address());
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        EXPECT_EQ(::getsockopt(s.writer.fd(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
        EXPECT_NE(nodelay, 0);  // as Python
        s.writer.write("hello\n");
        co_await s.writer.drain();
        std::string got = co_await loop().sock_recv(s.peer, 100);
        EXPECT_EQ(got, "hello\n");
        co_await loop().sock_sendall(s.peer, "line one\nline two\n");
        std::string l1 = co_await s.reader.readline();
        std::string l2 = co_await s.reader.readline();
        EXPECT_EQ(l1, "line one\n");
        EXPECT_EQ(l2, "line two\n");
        s.peer.shutdown(SHUT_WR);
        std::string end = co_await s.reader.read();
        EXPECT_EQ(end, "");
        EXPECT_TRUE(s.reader.at_eof());
        s.writer.close();
        EXPECT_TRUE(s.writer.is_closing());
        co_await s.writer.wait_closed();
        EXPECT_EQ(s.writer.fd(), -1);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, OneMiBBothWaysWithReadexactly) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        const std::string payload = pattern(1 << 20);
        s.writer.write(payload);  // more than the socket takes at once: the rest is buffered
        auto peer_side = asyncio::create_task(recv_to_eof(s.peer));
        co_await s.writer.drain();
        s.writer.write_eof();
        co_await loop().sock_sendall(s.peer, payload);
        std::string back = co_await s.reader.readexactly(1 << 20);
        EXPECT_TRUE(back == payload);
        std::string got = co_await peer_side;
        EXPECT_TRUE(got == payload);  // then EOF: write_eof shut our side after the buffer
        s.writer.close();
        co_await s.writer.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, CloseSendsTheBufferedBytesFirst) {
    std::size_t fds = open_fds();
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    const std::string payload = pattern(8 << 20);
    s.writer.write(payload);
    EXPECT_GT(s.writer.write_buffer_size(), 0u);
    s.writer.close();
    EXPECT_TRUE(s.writer.is_closing());
    std::string what;
    try {
        s.writer.write("x");
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "write() on a closed stream");
    std::string got = co_await recv_to_eof(s.peer);
    EXPECT_TRUE(got == payload);
    co_await s.writer.wait_closed();
    s.peer.close();
    EXPECT_EQ(open_fds(), fds - 0);
}

ASYNC_TEST(Streams, DroppingEveryHandleClosesTheConnection) {
    std::size_t fds = open_fds();
    net_socket peer;
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        peer = std::move(s.peer);
        stream_reader copy = s.reader;  // a copy shares the stream
        s.writer.write("bye");
    }
    std::string got = co_await recv_to_eof(peer);
    EXPECT_EQ(got, "bye");
    peer.close();
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, WriteAfterCloseOrWriteEofIsAnError) {
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    s.writer.write_eof();
    std::string what;
    try {
        s.writer.write("x");
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "Cannot call write() after write_eof()");
    std::string eof = co_await loop().sock_recv(s.peer, 10);
    EXPECT_EQ(eof, "");  // the peer sees EOF; we can still read
    co_await loop().sock_sendall(s.peer, "still open");
    std::string got = co_await s.reader.readexactly(10);
    EXPECT_EQ(got, "still open");
    s.writer.close();
    s.writer.close();  // idempotent
    what.clear();
    try {
        s.writer.writelines({"a", "b"});
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "writelines() on a closed stream");
    co_await s.writer.wait_closed();
    std::string after = co_await s.reader.read();
    EXPECT_EQ(after, "");  // closed: EOF for the reader
}

ASYNC_TEST(Streams, WritelinesSendsThePiecesInOrder) {
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    std::vector<std::string> pieces;
    std::string expected;
    for (int i = 0; i < 100; ++i) {  // more pieces than one sendmsg takes
        pieces.push_back(std::to_string(i) + ",");
        expected += pieces.back();
    }
    s.writer.writelines(pieces);
    s.writer.writelines({"x", "", "y"});
    std::vector<std::string_view> views;
    views.push_back("[");
    views.push_back("]");
    s.writer.writelines(std::span<const std::string_view>(views));
    expected += "xy[]";
    s.writer.close();
    std::string got = co_await recv_to_eof(s.peer);
    EXPECT_EQ(got, expected);
    co_await s.writer.wait_closed();
}

// The peer reads 1 KiB every 10 ms. The writer offers up to 256 MiB in 64 KiB pieces, with
// drain() after each: its buffer must stay within the high-water mark (plus the piece written
// last) and the process's memory flat, until the test stops it after a while. (Scaled: all of
// 256 MiB at 100 KiB/s would take 44 minutes; 1.5 s of it reaches the same steady state: the
// writer paused in drain(), the buffer at the mark, RSS measured over it.)
coro<void> slow_reader(net_socket& s, bool& stop) {
    char buf[1024];
    while (!stop) {
        std::size_t n = co_await loop().sock_recv_into(s, std::span<char>(buf, sizeof buf));
        if (n == 0) break;
        co_await asyncio::sleep(10ms);
    }
}

coro<void> back_pressure(bool use_writelines) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        // Small kernel buffers: the kernel wakes a blocked sender only once a third of its
        // buffer is free, which takes 10 s at 100 KiB/s with the default 4 MiB.
        int small = 32 * 1024;
        EXPECT_EQ(::setsockopt(s.writer.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
        s.peer.set_option(SOL_SOCKET, SO_RCVBUF, small);
        bool stop = false;
        auto reader = asyncio::create_task(slow_reader(s.peer, stop));
        const std::string piece(64 * 1024, 'p');
        const std::size_t high = s.writer.write_buffer_limits().second;
        EXPECT_EQ(high, 64u * 1024);
        EXPECT_EQ(s.writer.write_buffer_limits().first, 16u * 1024);
        long rss_before = rss_kb();
        std::size_t max_buffered = 0;
        std::size_t offered = 0;
        int pauses = 0;
        auto deadline = std::chrono::steady_clock::now() + 1500ms;
        while (offered < (256u << 20) && std::chrono::steady_clock::now() < deadline) {
            if (use_writelines) {
                std::string_view half(piece.data(), piece.size() / 2);
                s.writer.writelines({half, half});
            } else {
                s.writer.write(piece);
            }
            offered += piece.size();
            max_buffered = std::max(max_buffered, s.writer.write_buffer_size());
            if (s.writer.write_buffer_size() > high) ++pauses;
            co_await s.writer.drain();
            // drain() returns at once only at or below the mark; above it, it waits for the
            // low-water mark: either way the buffer is within the mark afterwards.
            EXPECT_LE(s.writer.write_buffer_size(), high);
        }
        long growth_kb = rss_kb() - rss_before;

        EXPECT_LT(offered, 256u << 20);  // the slow peer held it back
        EXPECT_GT(pauses, 0);            // drain() did wait
        EXPECT_LE(max_buffered, high + piece.size());
        EXPECT_LT(growth_kb, 2 * 1024) << "RSS grew by " << growth_kb << " KiB";
        stop = true;
        reset_on_close(s.peer);
        s.peer.close();  // the peer gives up: the writer's error ends it
        reader.cancel();
        try {
            co_await reader;
        } catch (const std::exception&) {  // EBADF: its socket was closed under it
        } catch (const asyncio::cancelled_error&) {
        }
        s.writer.close();
        try {
            co_await s.writer.wait_closed();
        } catch (const std::system_error&) {  // the reset: reported here if nothing else did
        }
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, DrainHoldsTheBufferAtTheHighWaterMarkWithASlowPeer) { co_await back_pressure(false); }
ASYNC_TEST(Streams, DrainHoldsTheBufferAtTheHighWaterMarkWithWritelines) { co_await back_pressure(true); }

ASYNC_TEST(Streams, WriteBufferLimitsCanBeChanged) {
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    s.writer.set_write_buffer_limits(1000);
    EXPECT_EQ(s.writer.write_buffer_limits(), std::make_pair(std::size_t(250), std::size_t(1000)));
    EXPECT_THROW(s.writer.set_write_buffer_limits(10, 20), std::invalid_argument);
    s.writer.close();
    co_await s.writer.wait_closed();
}

// --- errors ----------------------------------------------------------------------------------------

ASYNC_TEST(Streams, PeerResetDuringReadIsOneErrorThenEof) {
    std::signal(SIGPIPE, SIG_DFL);
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        auto reading = asyncio::create_task(s.reader.read(100));
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(reading.done());
        reset_on_close(s.peer);
        s.peer.close();  // RST
        int err = 0;
        try {
            std::string got = co_await reading;
            ADD_FAILURE() << "read '" << got << "'";
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        EXPECT_EQ(err, ECONNRESET);
        std::string after = co_await s.reader.read(100);
        EXPECT_EQ(after, "");  // once; then EOF
        EXPECT_TRUE(s.reader.at_eof());
        s.writer.close();
        co_await s.writer.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds);
}

// A read that already holds some of the bytes it needs when the peer resets (SIGPIPE at its
// default): the reset is reported once, by that read; the bytes received before it are still
// there for the next read (nothing invented, nothing lost); then EOF.
coro<void> reset_mid_read(int which) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        co_await loop().sock_sendall(s.peer, "partial");
        coro<std::string> op;
        if (which == 0) op = s.reader.readexactly(100);
        if (which == 1) op = s.reader.readline();
        if (which == 2) op = s.reader.readuntil("\r\n");
        if (which == 3) op = s.reader.read();
        auto reading = asyncio::create_task(std::move(op));
        co_await asyncio::sleep(20ms);  // it took "partial" in and waits for more
        EXPECT_FALSE(reading.done());
        EXPECT_EQ(s.reader.buffered(), 7u);
        reset_on_close(s.peer);
        s.peer.close();  // RST
        int errors = 0, err = 0;
        try {
            std::string got = co_await reading;
            ADD_FAILURE() << "read '" << got << "'";
        } catch (const std::system_error& e) {
            ++errors;
            err = e.code().value();
        }
        EXPECT_EQ(err, ECONNRESET);
        std::string after;
        for (int i = 0; i < 3; ++i) {
            try {
                after += co_await s.reader.read();
            } catch (const std::system_error&) {
                ++errors;
            }
        }
        EXPECT_EQ(errors, 1);
        EXPECT_EQ(after, "partial");
        EXPECT_TRUE(s.reader.at_eof());
        s.writer.close();
        co_await s.writer.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, PeerResetMidReadIsOneErrorAndKeepsWhatCameBefore) {
    std::signal(SIGPIPE, SIG_DFL);
    for (int which = 0; which < 4; ++which)
        CO_ASSERT_NO_FATAL_FAILURE(co_await reset_mid_read(which)) << which;
}

// The peer resets while the writer waits in drain() with most of 16 MiB buffered (written with
// write() or writelines()): drain() reports it once, and nothing after it does; the buffer is
// dropped; no SIGPIPE (MSG_NOSIGNAL) although SIGPIPE is at its default.
coro<void> reset_mid_write(bool use_writelines) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        const std::string payload = pattern(16 << 20);  // the peer does not read: most is buffered
        if (use_writelines) {
            std::string_view all(payload);
            s.writer.writelines(
                {all.substr(0, 1000), all.substr(1000, 8 << 20), all.substr(1000 + (8 << 20))});
        } else {
            s.writer.write(payload);
        }
        EXPECT_GT(s.writer.write_buffer_size(), 0u);
        auto draining = asyncio::create_task(s.writer.drain());
        co_await asyncio::sleep(0s);
        EXPECT_FALSE(draining.done());
        reset_on_close(s.peer);
        s.peer.close();  // RST while the writer waits for room
        int errors = 0, err = 0;
        try {
            co_await draining;
        } catch (const std::system_error& e) {
            ++errors;
            err = e.code().value();
        }
        EXPECT_TRUE(err == ECONNRESET || err == EPIPE) << err;
        EXPECT_TRUE(s.writer.is_closing());
        EXPECT_EQ(s.writer.write_buffer_size(), 0u);  // dropped
        int closed_errors = 0;
        try {
            co_await s.writer.drain();
        } catch (const std::system_error&) {
            ++errors;
        }
        for (int i = 0; i < 2; ++i) {
            try {
                if (i == 0) s.writer.write("more");
                if (i == 1) s.writer.writelines({"more", "still"});
            } catch (const std::system_error&) {
                ++errors;
            } catch (const std::runtime_error&) {  // writing to a closed stream: not the error again
                ++closed_errors;
            }
        }
        EXPECT_EQ(closed_errors, 2);
        try {
            co_await s.writer.wait_closed();
        } catch (const std::system_error&) {
            ++errors;
        }
        EXPECT_EQ(errors, 1);
        std::string eof = co_await s.reader.read();
        EXPECT_EQ(eof, "");
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, PeerResetDuringWriteIsOneErrorAndNoSigpipe) {
    std::signal(SIGPIPE, SIG_DFL);  // MSG_NOSIGNAL keeps the process alive
    CO_ASSERT_NO_FATAL_FAILURE(co_await reset_mid_write(false));
    CO_ASSERT_NO_FATAL_FAILURE(co_await reset_mid_write(true));
}

ASYNC_TEST(Streams, AnErrorNobodyReportedComesFromWaitClosed) {
    std::signal(SIGPIPE, SIG_DFL);
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    reset_on_close(s.peer);
    s.peer.close();
    co_await asyncio::sleep(50ms);
    s.writer.write("x");  // sent into a reset connection: EPIPE or ECONNRESET, recorded
    s.writer.close();
    int err = 0;
    try {
        co_await s.writer.wait_closed();
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_TRUE(err == ECONNRESET || err == EPIPE) << err;
}

ASYNC_TEST(Streams, ConnectionRefusedIsPrompt) {
    for (const char* ip : {"127.0.0.1", "::1"}) {
        net_socket holder(address(ip, 0).family(), SOCK_STREAM);  // holds the port, not listening
        holder.bind(address(ip, 0));
        int port = holder.local_address().port();
        int err = 0;
        std::string what;
        try {
            std::pair<stream_reader, stream_writer> rw =
                co_await asyncio::wait_for(asyncio::open_connection(ip, port), 5s);
        } catch (const std::system_error& e) {
            err = e.code().value();
            what = e.what();
        }
        EXPECT_EQ(err, ECONNREFUSED) << ip;
        EXPECT_TRUE(contains(what, "Connection refused")) << what;
    }
}

ASYNC_TEST(Streams, UnknownHostIsTheResolversError) {
    std::string what;
    bool resolver = false;
    try {
        std::pair<stream_reader, stream_writer> rw =
            co_await asyncio::open_connection("no-such-host.invalid", 80);
    } catch (const std::system_error& e) {
        what = e.what();
        resolver = e.code().category() == asyncio::net::resolver_category();
    }
    EXPECT_TRUE(resolver) << what;
    EXPECT_TRUE(contains(what, "no-such-host.invalid")) << what;
}

ASYNC_TEST(Streams, UnixConnectionAndAdoptedSockets) {
    std::string path = "/tmp/asyncio-streams-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    net_socket listener(AF_UNIX, SOCK_STREAM);
    listener.bind(address::unix_path(path));
    listener.listen();
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_unix_connection(path);
    std::pair<net_socket, address> accepted = co_await loop().sock_accept(listener);
    EXPECT_EQ(rw.second.peername(), address::unix_path(path));
    rw.second.write("over unix\n");
    std::string got = co_await loop().sock_recv(accepted.first, 100);
    EXPECT_EQ(got, "over unix\n");
    rw.second.close();
    co_await rw.second.wait_closed();
    ::unlink(path.c_str());
    CO_ASSERT_THROW(co_await asyncio::open_unix_connection(path), std::system_error);  // ENOENT

    // A socketpair, adopted.
    std::pair<net_socket, net_socket> sp = net_socket::pair();
    net_socket other = std::move(sp.second);
    std::pair<stream_reader, stream_writer> a = co_await asyncio::open_connection(std::move(sp.first));
    co_await loop().sock_sendall(other, "pair\n");
    std::string line = co_await a.first.readline();
    EXPECT_EQ(line, "pair\n");
    a.second.close();
    co_await a.second.wait_closed();
}

// --- cancellation at every await point --------------------------------------------------------------

// Where a read is when it is cancelled: before it ran at all, at its first receive's yield (a
// read first lets the other ready tasks run: stream_transport::fill), or waiting for the socket.
enum class read_point { not_started, at_first_yield, waiting_for_socket };

const char* name_of(read_point p) {
    switch (p) {
        case read_point::not_started:
            return "not started";
        case read_point::at_first_yield:
            return "at its first yield";
        default:
            return "waiting for the socket";
    }
}

// Starts read `which` (none can complete: each needs more than the peer sent), cancels it at
// `when`; the stream is then still usable and nothing was lost: the bytes the peer sent, before
// and after, all come out of the next reads, in order.
coro<void> cancel_socket_read(int which, read_point when) {
    stream_and_peer s = co_await connect_streams("127.0.0.1");
    co_await loop().sock_sendall(s.peer, "partial");
    std::string taken;  // what the set-up read itself
    coro<std::string> op;
    if (which == 0) op = s.reader.readexactly(100);
    if (which == 1) op = s.reader.readline();
    if (which == 2) op = s.reader.readuntil("\r\n");
    if (which == 3) op = s.reader.read();
    if (which == 4 || which == 5) {
        taken = co_await s.reader.read(100);
        EXPECT_EQ(taken, "partial");
        if (which == 4) {
            co_await loop().sock_sendall(s.peer, "partial");
            op = s.reader.readexactly(10);  // 7 of the 10 bytes are there
        } else {
            op = s.reader.read(100);  // nothing buffered, nothing in the socket
        }
    }
    auto pending = asyncio::create_task(std::move(op), "pending read");
    if (when == read_point::at_first_yield) co_await asyncio::sleep(0s);
    if (when == read_point::waiting_for_socket) {
        co_await asyncio::sleep(20ms);
        std::ostringstream dump;
        asyncio::dump_tasks(dump);
        EXPECT_TRUE(contains(dump.str(), "readable fd " + std::to_string(s.writer.fd()))) << dump.str();
    }
    EXPECT_FALSE(pending.done());
    pending.cancel();
    CO_ASSERT_THROW(co_await pending, asyncio::cancelled_error);
    co_await loop().sock_sendall(s.peer, "-more");
    s.peer.shutdown(SHUT_WR);
    std::string rest = co_await s.reader.read();
    EXPECT_EQ(taken + rest, which == 5 ? "partial-more" : taken + "partial-more");
    s.writer.close();
    co_await s.writer.wait_closed();
}

ASYNC_TEST(Streams, CancelledReadsLoseNothingAndLeakNoFd) {
    std::size_t fds = open_fds();
    for (read_point when :
         {read_point::not_started, read_point::at_first_yield, read_point::waiting_for_socket})
        for (int which = 0; which < 6; ++which)
            CO_ASSERT_NO_FATAL_FAILURE(co_await cancel_socket_read(which, when))
                << "read " << which << " cancelled " << name_of(when);
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, CancelledDrainAndWaitClosedChangeNothing) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        const std::string payload = pattern(8 << 20);
        s.writer.write(payload);
        auto draining = asyncio::create_task(s.writer.drain());
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(draining.done());
        draining.cancel();
        CO_ASSERT_THROW(co_await draining, asyncio::cancelled_error);
        s.writer.close();
        auto closing = asyncio::create_task(s.writer.wait_closed());
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(closing.done());
        closing.cancel();
        CO_ASSERT_THROW(co_await closing, asyncio::cancelled_error);
        std::string got = co_await recv_to_eof(s.peer);  // every byte still arrives
        EXPECT_TRUE(got == payload);
        co_await s.writer.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Streams, CancelledOpenConnectionLeaksNoFd) {
    std::size_t fds = open_fds();
    address where("127.0.0.1", 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen();
    int port = listener.local_address().port();
    // While resolving a name (on the executor), and at every later point up to the connect.
    for (int steps = 0; steps < 4; ++steps) {
        auto opening = asyncio::create_task(asyncio::open_connection("localhost", port));
        for (int i = 0; i < steps; ++i) co_await asyncio::sleep(0s);
        opening.cancel();
        try {
            std::pair<stream_reader, stream_writer> rw = co_await opening;
            rw.second.close();  // it made it before the cancel
            co_await rw.second.wait_closed();
        } catch (const asyncio::cancelled_error&) {
        }
    }
    listener.close();
    // A cancelled lookup runs to its end on its executor thread, with the resolver's own
    // sockets open meanwhile: wait for those threads (a leak of ours would stay).
    co_await loop().shutdown_default_executor();
    EXPECT_EQ(open_fds(), fds);
}

// The lookup is certainly still queued (the executor is busy) when the cancel comes: nothing
// connects, no fd is left, and the dropped lookup does not fail anything later.
ASYNC_TEST(Streams, CancelledOpenConnectionMidResolveConnectsNothing) {
    std::size_t fds = open_fds();
    address where("127.0.0.1", 0);
    net_socket listener(where.family(), SOCK_STREAM);
    listener.bind(where);
    listener.listen();
    {
        test_support::blocked_resolver resolver;
        auto opening =
            asyncio::create_task(asyncio::open_connection("localhost", listener.local_address().port()));
        co_await asyncio::sleep(0s);
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(opening.done());
        opening.cancel();
        CO_ASSERT_THROW(co_await opening, asyncio::cancelled_error);
        co_await resolver.release();  // the lookup ran to its end meanwhile; its result is dropped
    }
    co_await asyncio::sleep(10ms);
    // Nobody connected: the listener has nothing to accept.
    EXPECT_EQ(::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), -1);
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
    listener.close();
    EXPECT_EQ(open_fds(), fds);
}

// A listener whose accept queue is full (backlog 0 and one connection never accepted): the
// kernel drops further SYNs, so a connect to it stays in progress.
struct full_listener {
    net_socket listener{AF_INET, SOCK_STREAM};
    net_socket queued{AF_INET, SOCK_STREAM};
    int port = 0;
};

coro<void> fill_accept_queue(full_listener& f) {
    f.listener.bind(address("127.0.0.1", 0));
    f.listener.listen(0);
    f.port = f.listener.local_address().port();
    co_await loop().sock_connect(f.queued, f.listener.local_address());
}

ASYNC_TEST(Streams, CancelledOpenConnectionMidConnectLeaksNoFd) {
    std::size_t fds = open_fds();
    {
        full_listener full;
        co_await fill_accept_queue(full);
        std::size_t with_listener = open_fds();
        auto opening = asyncio::create_task(asyncio::open_connection("127.0.0.1", full.port), "opening");
        co_await asyncio::sleep(0s);
        co_await asyncio::sleep(20ms);  // real time: virtual time does not jump while it waits
        CO_ASSERT_FALSE(opening.done()) << "the connect did not stay in progress";
        EXPECT_EQ(open_fds(), with_listener + 1);  // its socket, connecting
        std::ostringstream dump;
        asyncio::dump_tasks(dump);
        EXPECT_TRUE(contains(dump.str(), "task 'opening' waits for writable fd")) << dump.str();
        opening.cancel();
        CO_ASSERT_THROW(co_await opening, asyncio::cancelled_error);
        EXPECT_EQ(open_fds(), with_listener);  // the half-made connection is closed
    }
    EXPECT_EQ(open_fds(), fds);
}

// aclose() cancelled while it waits for the buffered bytes to go: the stream is closing anyway;
// every byte still arrives, then the socket closes.
ASYNC_TEST(Streams, CancelledAcloseStillSendsEverythingAndCloses) {
    std::size_t fds = open_fds();
    {
        stream_and_peer s = co_await connect_streams("127.0.0.1");
        const std::string payload = pattern(8 << 20);
        s.writer.write(payload);
        auto closing = asyncio::create_task(s.writer.aclose());
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(closing.done());
        closing.cancel();
        CO_ASSERT_THROW(co_await closing, asyncio::cancelled_error);
        EXPECT_TRUE(s.writer.is_closing());
        std::string got = co_await recv_to_eof(s.peer);
        EXPECT_TRUE(got == payload) << got.size() << " of " << payload.size() << " bytes";
        co_await s.writer.wait_closed();
        EXPECT_EQ(s.writer.fd(), -1);
    }
    EXPECT_EQ(open_fds(), fds);
}

// A stream belongs to the loop it was made on: waiting for it in another loop is an error.
coro<std::pair<stream_reader, stream_writer>> make_pair_streams(net_socket* other) {
    std::pair<net_socket, net_socket> sp = net_socket::pair();
    *other = std::move(sp.second);
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection(std::move(sp.first));
    co_return rw;
}

coro<std::string> read_some(stream_reader r) {
    std::string s = co_await r.read(10);
    co_return s;
}

TEST(StreamLifetime, AStreamIsUsedOnTheLoopThatMadeIt) {
    net_socket other;
    std::pair<stream_reader, stream_writer> rw = asyncio::run(make_pair_streams(&other));
    std::string what;
    try {
        std::string s = asyncio::run(read_some(rw.first));  // nothing to read: it would wait
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "read(): the stream belongs to a different event loop");
}

}  // namespace
