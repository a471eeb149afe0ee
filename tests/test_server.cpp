// Tests of <asyncio/net/server.hpp>: start_server / start_unix_server and asyncio::server: many
// clients at once over IPv4 and IPv6, port 0 and port(), serve_forever (returns at close(),
// closes and waits when cancelled), close / close_clients / wait_closed with connections still
// open, a handler's exception reported to the exception handler, reuse_port, Unix sockets (a
// stale file removed, the file removed at close), accept under descriptor exhaustion
// (RLIMIT_NOFILE lowered, 500 clients from a child process: no busy loop, every client served
// once descriptors are free), cancellation of start_server, and interoperation with Python's own
// asyncio (tests/interop/echo_peer.py): our server answers its client, our client talks to its
// server, 1 MiB messages included. Loopback only, port 0.
// ctest-labels: threads
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

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

std::string pattern(std::size_t n) {
    std::string s(n + 8, '\0');
    for (std::uint64_t i = 0; i * 8 < n; ++i) {
        std::uint64_t word = (i + 1) * 0x9E3779B97F4A7C15ull;  // the same bytes as echo_peer.py's
        std::memcpy(&s[i * 8], &word, 8);
    }
    s.resize(n);
    return s;
}

// The handler of most tests: echoes until EOF, then closes.
coro<void> echo(stream_reader reader, stream_writer writer) {
    for (;;) {
        std::string data = co_await reader.read(64 * 1024);
        if (data.empty()) break;
        writer.write(data);
        co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
}

// A client: sends `lines` one by one, reads each back with readline.
coro<std::vector<std::string>> line_client(std::string host, int port, int id, int n) {
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection(host, port);
    std::vector<std::string> back;
    for (int i = 0; i < n; ++i) {
        rw.second.write("client " + std::to_string(id) + " line " + std::to_string(i) + "\n");
        co_await rw.second.drain();
        back.push_back(co_await rw.first.readline());
    }
    rw.second.close();
    co_await rw.second.wait_closed();
    co_return back;
}

ASYNC_TEST(Server, EchoesManyClientsAtOnceOverV4AndV6) {
    std::size_t fds = open_fds();
    for (const char* ip : {"127.0.0.1", "::1"}) {
        asyncio::server srv = co_await asyncio::start_server(echo, ip, 0);
        EXPECT_TRUE(srv.is_serving());
        EXPECT_GT(srv.port(), 0);
        CO_ASSERT_EQ(srv.sockets().size(), 1u);
        EXPECT_EQ(srv.sockets()[0].local_address(), address(ip, srv.port()));
        std::vector<asyncio::task<std::vector<std::string>>> clients;
        for (int id = 0; id < 20; ++id)
            clients.push_back(asyncio::create_task(line_client(ip, srv.port(), id, 5)));
        std::vector<std::vector<std::string>> results = co_await asyncio::gather(std::move(clients));
        for (int id = 0; id < 20; ++id)
            for (int i = 0; i < 5; ++i)
                EXPECT_EQ(results[static_cast<std::size_t>(id)][static_cast<std::size_t>(i)],
                          "client " + std::to_string(id) + " line " + std::to_string(i) + "\n");
        srv.close();
        EXPECT_FALSE(srv.is_serving());
        EXPECT_TRUE(srv.sockets().empty());
        EXPECT_GT(srv.port(), 0);  // still known
        co_await srv.wait_closed();
        EXPECT_EQ(srv.active_connections(), 0u);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Server, AClosedServerRefusesNewConnections) {
    asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
    int port = srv.port();
    srv.close();
    co_await srv.wait_closed();
    CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", port), std::system_error);
}

coro<void> close_soon(asyncio::server& srv) {
    co_await asyncio::sleep(10ms);
    srv.close();
}

ASYNC_TEST(Server, ServeForeverReturnsWhenClosed) {
    asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
    auto closer = asyncio::create_task(close_soon(srv));
    co_await srv.serve_forever();  // returns (Python raises CancelledError here)
    co_await closer;
    EXPECT_FALSE(srv.is_serving());
    std::string what;
    try {
        co_await srv.serve_forever();
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "serve_forever(): the server is closed");
}

// A connection whose client stays: the handler waits in read() until the client leaves.
coro<void> hold_then_leave(int port, asyncio::clock::duration hold) {
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection("127.0.0.1", port);
    rw.second.write("x");
    std::string back = co_await rw.first.readexactly(1);
    EXPECT_EQ(back, "x");
    co_await asyncio::sleep(hold);
    rw.second.close();
    co_await rw.second.wait_closed();
}

ASYNC_TEST(Server, ServeForeverTwiceIsAnErrorAndCancelClosesThenWaits) {
    asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
    auto client = asyncio::create_task(hold_then_leave(srv.port(), 200ms));
    auto serving = asyncio::create_task(srv.serve_forever());
    co_await asyncio::sleep(50ms);
    std::string what;
    try {
        co_await srv.serve_forever();
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "serve_forever(): the server is already being awaited on serve_forever()");
    EXPECT_EQ(srv.active_connections(), 1u);
    serving.cancel();
    co_await asyncio::sleep(20ms);
    EXPECT_FALSE(srv.is_serving());  // closed at once...
    EXPECT_FALSE(serving.done());    // ...but it waits for the connection
    CO_ASSERT_THROW(co_await serving, asyncio::cancelled_error);
    EXPECT_TRUE(client.done());  // the client left first
    EXPECT_EQ(srv.active_connections(), 0u);
    co_await client;
}

ASYNC_TEST(Server, WaitClosedWaitsForOpenConnectionsAndCloseClientsEndsThem) {
    std::size_t fds = open_fds();
    {
        asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
        std::pair<stream_reader, stream_writer> rw =
            co_await asyncio::open_connection("127.0.0.1", srv.port());
        rw.second.write("ping");
        std::string back = co_await rw.first.readexactly(4);
        EXPECT_EQ(back, "ping");
        srv.close();  // stops listening; the connection goes on
        EXPECT_EQ(srv.active_connections(), 1u);
        CO_ASSERT_THROW(co_await asyncio::wait_for(srv.wait_closed(), 50ms), asyncio::timeout_error);
        rw.second.write("pong");
        std::string again = co_await rw.first.readexactly(4);
        EXPECT_EQ(again, "pong");
        srv.close_clients();  // the handler's read sees EOF, it closes
        std::string eof = co_await rw.first.read();
        EXPECT_EQ(eof, "");
        co_await srv.wait_closed();
        EXPECT_EQ(srv.active_connections(), 0u);
        rw.second.close();
        co_await rw.second.wait_closed();
    }
    EXPECT_EQ(open_fds(), fds);
}

coro<void> failing_handler(stream_reader reader, stream_writer writer) {
    std::string line = co_await reader.readline();
    writer.write("got " + line);
    throw std::runtime_error("handler failed on purpose");
}

ASYNC_TEST(Server, AHandlersExceptionIsReportedAndItsStreamClosed) {
    asyncio::server srv = co_await asyncio::start_server(failing_handler, "127.0.0.1", 0);
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection("127.0.0.1", srv.port());
    rw.second.write("hi\n");
    std::string all = co_await rw.first.read();  // the reply, then EOF: the server closed it
    EXPECT_EQ(all, "got hi\n");
    srv.close();
    co_await srv.wait_closed();
    std::vector<asyncio::testing::report> reports = asyncio::testing::take_reports();
    CO_ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].message, "Unhandled exception in client_connected_cb");
    std::string what;
    try {
        std::rethrow_exception(reports[0].exception);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "handler failed on purpose");
    rw.second.close();
    co_await rw.second.wait_closed();
}

// A handler that is a lambda with state (copied into the server), and sees the client's address.
ASYNC_TEST(Server, TheHandlerMayBeAStatefulCallableAndSeesThePeer) {
    int served = 0;
    auto handler = [&served](stream_reader r, stream_writer w) -> coro<void> {
        ++served;
        return echo(std::move(r), std::move(w));
    };
    asyncio::server srv = co_await asyncio::start_server(handler, "127.0.0.1", 0);
    std::vector<std::string> lines = co_await line_client("127.0.0.1", srv.port(), 1, 2);
    EXPECT_EQ(lines.size(), 2u);
    EXPECT_EQ(served, 1);
    srv.close();
    co_await srv.wait_closed();
}

coro<void> peer_reporter(stream_reader, stream_writer writer) {
    writer.write(writer.peername().to_string() + " " + writer.sockname().to_string());
    writer.close();
    co_return;
}

ASYNC_TEST(Server, PeernameAndSocknameOfAcceptedStreams) {
    asyncio::server srv = co_await asyncio::start_server(peer_reporter, "127.0.0.1", 0);
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection("127.0.0.1", srv.port());
    std::string text = co_await rw.first.read();
    EXPECT_EQ(text, rw.second.sockname().to_string() + " " + rw.second.peername().to_string());
    rw.second.close();
    co_await rw.second.wait_closed();
    srv.close();
    co_await srv.wait_closed();
}

ASYNC_TEST(Server, ReusePortLetsTwoServersShareAPort) {
    asyncio::server_options opts;
    opts.reuse_port = true;
    asyncio::server a = co_await asyncio::start_server(echo, "127.0.0.1", 0, opts);
    EXPECT_EQ(a.sockets()[0].get_option(SOL_SOCKET, SO_REUSEPORT), 1);
    asyncio::server b = co_await asyncio::start_server(echo, "127.0.0.1", a.port(), opts);
    EXPECT_EQ(b.port(), a.port());
    std::vector<std::string> lines = co_await line_client("127.0.0.1", a.port(), 7, 1);
    EXPECT_EQ(lines[0], "client 7 line 0\n");
    int err = 0;
    try {
        asyncio::server c = co_await asyncio::start_server(echo, "127.0.0.1", a.port());  // without
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_EQ(err, EADDRINUSE);
    a.close();
    b.close();
    co_await a.wait_closed();
    co_await b.wait_closed();
}

ASYNC_TEST(Server, UnixServerRemovesAStaleFileAndItsOwnAtClose) {
    std::size_t fds = open_fds();
    std::string path = "/tmp/asyncio-server-" + std::to_string(::getpid()) + ".sock";
    {
        net_socket stale(AF_UNIX, SOCK_STREAM);  // a socket file left behind by a dead server
        ::unlink(path.c_str());
        stale.bind(address::unix_path(path));
    }
    struct stat st {};
    CO_ASSERT_EQ(::stat(path.c_str(), &st), 0);
    asyncio::server srv = co_await asyncio::start_unix_server(echo, path);
    EXPECT_EQ(srv.port(), 0);
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_unix_connection(path);
    rw.second.write(pattern(300000));
    std::string back = co_await rw.first.readexactly(300000);
    EXPECT_TRUE(back == pattern(300000));
    rw.second.close();
    co_await rw.second.wait_closed();
    srv.close();
    co_await srv.wait_closed();
    EXPECT_NE(::stat(path.c_str(), &st), 0);  // removed
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Server, BadArguments) {
    asyncio::server_options opts;
    opts.limit = 0;
    CO_ASSERT_THROW(co_await asyncio::start_server(echo, "127.0.0.1", 0, opts), std::invalid_argument);
    opts.limit = -1;
    CO_ASSERT_THROW(co_await asyncio::start_unix_server(echo, "/tmp/x.sock", opts), std::invalid_argument);
    CO_ASSERT_THROW(co_await asyncio::start_server(echo, "127.0.0.1", 70000), std::invalid_argument);
    CO_ASSERT_THROW(co_await asyncio::start_server(echo, "no-such-host.invalid", 0), std::system_error);
}

ASYNC_TEST(Server, CancelledStartServerLeavesNothingOpen) {
    std::size_t fds = open_fds();
    for (int steps = 0; steps < 4; ++steps) {
        auto starting = asyncio::create_task(asyncio::start_server(echo, "localhost", 0));
        for (int i = 0; i < steps; ++i) co_await asyncio::sleep(0s);
        starting.cancel();
        try {
            asyncio::server srv = co_await starting;
            srv.close();  // it made it before the cancel
            co_await srv.wait_closed();
        } catch (const asyncio::cancelled_error&) {
        }
    }
    // A cancelled lookup runs to its end on its executor thread, with the resolver's own
    // sockets open meanwhile: wait for those threads (a leak of ours would stay).
    co_await asyncio::get_running_loop().shutdown_default_executor();
    EXPECT_EQ(open_fds(), fds);
}

// Cancelled while its lookup is certainly still queued (the executor is busy): no socket is
// made, nothing listens, and the dropped lookup fails nothing later.
ASYNC_TEST(Server, CancelledStartServerMidResolveMakesNoSocket) {
    std::size_t fds = open_fds();
    {
        test_support::blocked_resolver resolver;
        auto starting = asyncio::create_task(asyncio::start_server(echo, "localhost", 0));
        co_await asyncio::sleep(0s);
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(starting.done());
        EXPECT_EQ(open_fds(), fds);  // the executor's thread has no fd; nothing of ours yet
        starting.cancel();
        CO_ASSERT_THROW(co_await starting, asyncio::cancelled_error);
        co_await resolver.release();
    }
    EXPECT_EQ(open_fds(), fds);
}

// wait_closed() cancelled while a connection is still open changes nothing: the connection is
// still served, and a later wait_closed() returns once it is gone.
ASYNC_TEST(Server, CancelledWaitClosedChangesNothing) {
    std::size_t fds = open_fds();
    {
        asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
        std::pair<stream_reader, stream_writer> rw =
            co_await asyncio::open_connection("127.0.0.1", srv.port());
        rw.second.write("ping");
        std::string back = co_await rw.first.readexactly(4);
        EXPECT_EQ(back, "ping");
        srv.close();
        auto waiting = asyncio::create_task(srv.wait_closed());
        co_await asyncio::sleep(20ms);
        EXPECT_FALSE(waiting.done());
        waiting.cancel();
        CO_ASSERT_THROW(co_await waiting, asyncio::cancelled_error);
        EXPECT_EQ(srv.active_connections(), 1u);
        rw.second.write("pong");
        std::string again = co_await rw.first.readexactly(4);
        EXPECT_EQ(again, "pong");  // still served
        rw.second.close();         // the handler sees EOF and closes
        co_await rw.second.wait_closed();
        co_await asyncio::wait_for(srv.wait_closed(), 5s);
        EXPECT_EQ(srv.active_connections(), 0u);
    }
    EXPECT_EQ(open_fds(), fds);
}

// serve_forever() cancelled: the server closes, and the task ends once its connections are gone
// (ServeForeverTwice... shows the order); here: with no connection it ends at once, leaving no fd.
ASYNC_TEST(Server, CancelledServeForeverClosesAndLeavesNoFd) {
    std::size_t fds = open_fds();
    {
        asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
        int port = srv.port();
        auto serving = asyncio::create_task(srv.serve_forever());
        co_await asyncio::sleep(10ms);
        EXPECT_FALSE(serving.done());
        serving.cancel();
        CO_ASSERT_THROW(co_await serving, asyncio::cancelled_error);
        EXPECT_FALSE(srv.is_serving());
        CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", port), std::system_error);
    }
    EXPECT_EQ(open_fds(), fds);
}

ASYNC_TEST(Server, DestroyingTheServerStopsListening) {
    std::size_t fds = open_fds();
    int port = 0;
    {
        asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
        port = srv.port();
    }
    co_await asyncio::sleep(0s);  // its accept task ends
    CO_ASSERT_THROW(co_await asyncio::open_connection("127.0.0.1", port), std::system_error);
    EXPECT_EQ(open_fds(), fds);
}

// --- accept under descriptor exhaustion ------------------------------------------------------------

// The handler of the exhaustion test: one byte back, then wait for the client to leave.
int g_served_one_byte = 0;
coro<void> echo_one_byte(stream_reader reader, stream_writer writer) {
    std::string b = co_await reader.readexactly(1);
    ++g_served_one_byte;
    writer.write(b);
    co_await writer.drain();
    std::string rest = co_await reader.read();
    writer.close();
}

// In a child process (its own descriptors): `n` connections, all made at once (they wait in the
// backlog), then each in turn sends a byte, waits for it to come back, and closes.
[[noreturn]] void exhaustion_clients(int port, int n) {
    ::close_range(3, ~0u, 0);  // nothing of the parent's: not its listener, not its epoll
    std::vector<int> socks;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; ++i) {
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) ::_exit(10);
        timeval tv{30, 0};
        ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        socks.push_back(s);
    }
    for (int i = 0; i < n; ++i) {
        char c = static_cast<char>('a' + i % 26), back = 0;
        if (::send(socks[static_cast<std::size_t>(i)], &c, 1, MSG_NOSIGNAL) != 1) ::_exit(11);
        if (::recv(socks[static_cast<std::size_t>(i)], &back, 1, 0) != 1 || back != c) ::_exit(12);
        ::close(socks[static_cast<std::size_t>(i)]);
    }
    ::_exit(0);
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Waits (polling, the loop keeps running) for a child to exit; its status, or -1 after `limit`.
coro<int> wait_child(pid_t pid, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) co_return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            co_return -1;
        }
        co_await asyncio::sleep(20ms);
    }
}

// Real time: the back-off is a sleep, and on virtual time it would take no time at all.
struct ServerOnRealTime : asyncio::testing::async_test {
    asyncio::testing::test_options options() const override {
        asyncio::testing::test_options o;
        o.clock = asyncio::clock_kind::real_time;
        return o;
    }
};

ASYNC_TEST_F(ServerOnRealTime, AcceptBacksOffWhenOutOfDescriptorsAndServesEveryoneLater) {
    constexpr int clients = 500;
    asyncio::server_options opts;
    opts.backlog = 1024;
    opts.accept_retry_delay = 50ms;
    g_served_one_byte = 0;
    asyncio::server srv = co_await asyncio::start_server(echo_one_byte, "127.0.0.1", 0, opts);
    pid_t child = ::fork();
    CO_ASSERT_GE(child, 0);
    if (child == 0) exhaustion_clients(srv.port(), clients);

    rlimit saved{};
    CO_ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    rlimit low = saved;
    low.rlim_cur = std::max<rlim_t>(64, open_fds() + 24);  // room for about 20 connections
    CO_ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    auto wall0 = std::chrono::steady_clock::now();
    double cpu0 = cpu_seconds();
    int status = co_await wait_child(child, 120s);
    double cpu = cpu_seconds() - cpu0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    ::setrlimit(RLIMIT_NOFILE, &saved);

    EXPECT_EQ(status, 0) << "the client process failed (10: connect, 11: send, 12: no echo, -1: timed out)";
    EXPECT_EQ(g_served_one_byte, clients);  // every one of them, once descriptors were free
    EXPECT_EQ(low.rlim_cur, 64u) << "more than 40 fds were open before the test";
    srv.close();
    co_await srv.wait_closed();
    std::vector<asyncio::testing::report> reports = asyncio::testing::take_reports();
    EXPECT_GT(reports.size(), 0u) << "descriptors never ran out: the test did not test";
    for (const auto& r : reports) EXPECT_EQ(r.message, "socket.accept() out of system resource");
    // No busy loop. Each failed accept is reported, then the server waits accept_retry_delay
    // (50 ms) before it tries again: at most wall / 50 ms failures, and a busy loop would fail
    // thousands of times a second. The bounds are generous (twice that, plus 20), so a slow or
    // loaded machine does not fail them; a server that retried at once would, by far. Likewise
    // the CPU time: a busy loop burns all of the wall time, a waiting server a small part.
    EXPECT_LE(static_cast<double>(reports.size()), 2 * wall / 0.05 + 20) << wall << " s";
    EXPECT_LT(cpu, wall * 0.8 + 0.2) << "cpu " << cpu << " s over " << wall << " s";
}

// --- interoperation with Python's asyncio ------------------------------------------------------

std::string interop_script() {
    return (std::filesystem::path(__FILE__).parent_path() / "interop" / "echo_peer.py").string();
}

// Runs `python3 echo_peer.py args...` with stdin and stdout on pipes.
struct python_peer {
    pid_t pid = -1;
    int to_child = -1;    // its stdin
    int from_child = -1;  // its stdout

    explicit python_peer(std::vector<std::string> args) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0) return;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        std::vector<std::string> argv_s;
        argv_s.push_back("python3");
        argv_s.push_back(interop_script());
        for (auto& a : args) argv_s.push_back(a);
        std::vector<char*> argv;
        for (auto& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (::posix_spawnp(&pid, "python3", &fa, nullptr, argv.data(), environ) != 0) pid = -1;
        posix_spawn_file_actions_destroy(&fa);
        ::close(in[0]);
        ::close(out[1]);
        to_child = in[1];
        from_child = out[0];
    }
    // One line of its stdout (blocking, at most 20 s).
    std::string read_line() {
        std::string line;
        char c;
        while (line.size() < 200) {
            pollfd p{from_child, POLLIN, 0};
            if (::poll(&p, 1, 20000) <= 0) break;
            if (::read(from_child, &c, 1) != 1 || c == '\n') break;
            line += c;
        }
        return line;
    }
    void close_stdin() {
        if (to_child >= 0) ::close(std::exchange(to_child, -1));
    }
    ~python_peer() {
        close_stdin();
        if (from_child >= 0) ::close(from_child);
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

bool have_python() {
    return ::access("/usr/bin/python3", X_OK) == 0 || ::system("python3 -c 0 2>/dev/null") == 0;
}

ASYNC_TEST(Interop, OurServerAnswersPythonsAsyncioClient) {
    CO_ASSERT_TRUE(have_python()) << "python3 (standard library only) is needed for the interop tests";
    asyncio::server srv = co_await asyncio::start_server(echo, "127.0.0.1", 0);
    python_peer py({"client", std::to_string(srv.port())});
    CO_ASSERT_GT(py.pid, 0);
    int status = co_await wait_child(std::exchange(py.pid, -1), 60s);
    std::string said = py.read_line();
    EXPECT_EQ(status, 0);
    EXPECT_EQ(said, "ok");
    srv.close();
    co_await srv.wait_closed();
}

ASYNC_TEST(Interop, OurClientTalksToPythonsAsyncioServer) {
    CO_ASSERT_TRUE(have_python()) << "python3 (standard library only) is needed for the interop tests";
    python_peer py({"server"});
    CO_ASSERT_GT(py.pid, 0);
    int port = std::atoi(py.read_line().c_str());
    CO_ASSERT_GT(port, 0);
    std::pair<stream_reader, stream_writer> rw = co_await asyncio::open_connection("127.0.0.1", port);
    std::vector<std::string> messages;
    messages.push_back("hello\n");
    messages.push_back(pattern(1 << 20));
    messages.push_back(std::string(100000, 'x'));
    messages.push_back("last line\n");
    for (const std::string& m : messages) {
        rw.second.write(m);
        co_await rw.second.drain();
        std::string back = co_await rw.first.readexactly(static_cast<std::ptrdiff_t>(m.size()));
        EXPECT_TRUE(back == m) << "echo of a " << m.size() << "-byte message differs";
    }
    std::vector<std::string> chunks;
    std::string all;
    for (int i = 0; i < 20; ++i) {
        chunks.push_back(pattern(static_cast<std::size_t>(1000 * (i + 1))));
        all += chunks.back();
    }
    rw.second.writelines(chunks);
    co_await rw.second.drain();
    std::string back = co_await rw.first.readexactly(static_cast<std::ptrdiff_t>(all.size()));
    EXPECT_TRUE(back == all);
    rw.second.write_eof();
    std::string rest = co_await rw.first.read();
    EXPECT_EQ(rest, "");  // Python's handler closed after our EOF
    rw.second.close();
    co_await rw.second.wait_closed();
    py.close_stdin();
    int status = co_await wait_child(std::exchange(py.pid, -1), 30s);
    EXPECT_EQ(status, 0);
}

}  // namespace
