// Tests of the I/O backends.
// - Choosing one: loop_options::backend, ASYNCIO_BACKEND, event_loop::backend(); `automatic` falls
//   back to epoll with one line on stderr per process when io_uring is unavailable, and an
//   explicit io_uring request that cannot be met throws naming the reason. Unavailability is
//   simulated with ASYNCIO_IO_URING_DISABLE=1, and made real in child processes by a seccomp
//   filter failing io_uring_setup with EPERM (as containers do) or ENOSYS.
// - The poller interface of src/poller/poller.hpp, driven directly on both backends, for what the
//   loop relies on: edge interests report each new readiness once (a consumer that did not drain
//   is woken by new data, one that did hears nothing more: no storm of events); level interests
//   report on every wait while ready; removal before close really closes the file (io_uring's
//   poll holds a reference to it), also when the poller goes first; a reused fd number never gets
//   an old token; bursts larger than the rings; waits interrupted by a signal or woken by another
//   thread.
// - The loop on each backend: sockets, add_reader, call_soon_threadsafe, signals, deadlocks.
// The io_uring cases are skipped, saying why, where the kernel does not allow io_uring. The whole
// suite also runs under ASYNCIO_BACKEND=epoll and =io_uring (scripts/test).
//
// ctest-labels: threads
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <asyncio/errors.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/future.hpp>
#include <asyncio/net/socket.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../src/poller/poller.hpp"  // white-box: the interface both backends implement

using namespace std::chrono_literals;
using asyncio::backend;
using asyncio::coro;
using asyncio::detail::poll_event;
using asyncio::detail::poller;

namespace {

// Sets (or unsets, with nullptr) an environment variable for a scope, then puts it back.
class scoped_env {
  public:
    scoped_env(const char* name, const char* value) : name_(name) {
        if (const char* v = std::getenv(name)) before_ = v;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~scoped_env() {
        if (before_)
            ::setenv(name_, before_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

  private:
    const char* name_;
    std::optional<std::string> before_;
};

// Why io_uring cannot be used here, or empty when it can (ASYNCIO_IO_URING_DISABLE=1 in the
// environment counts: the io_uring cases are then skipped, as on a machine without io_uring).
std::string io_uring_unusable() {
    try {
        asyncio::detail::make_io_uring_poller();
        return {};
    } catch (const asyncio::detail::io_uring_unavailable& e) {
        return e.what();
    }
}

const char* name_of(backend b) {
    return b == backend::epoll ? "epoll" : b == backend::io_uring ? "io_uring" : "automatic";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// --- selection ---------------------------------------------------------------------------------

// Not a check: the line scripts/test reads to know whether this machine can run the io_uring pass.
TEST(BackendSelection, ReportsWhetherIoUringIsAvailable) {
    std::string why = io_uring_unusable();
    std::printf("asyncio-backend-probe: io_uring %s\n",
                why.empty() ? "available" : ("unavailable (" + why + ")").c_str());
}

TEST(BackendSelection, ExplicitEpollRunsEpoll) {
    asyncio::loop_options o;
    o.backend = backend::epoll;
    asyncio::event_loop loop{o};
    EXPECT_EQ(loop.backend(), backend::epoll);
}

TEST(BackendSelection, ExplicitIoUringRunsIoUringOrSaysWhyNot) {
    asyncio::loop_options o;
    o.backend = backend::io_uring;
    std::string why = io_uring_unusable();
    if (why.empty()) {
        asyncio::event_loop loop{o};
        EXPECT_EQ(loop.backend(), backend::io_uring);
    } else {
        try {
            asyncio::event_loop loop{o};
            FAIL() << "io_uring is unavailable (" << why << ") yet a loop was made";
        } catch (const std::runtime_error& e) {
            EXPECT_TRUE(contains(e.what(), "io_uring backend is unavailable")) << e.what();
            EXPECT_TRUE(contains(e.what(), why)) << e.what();
        }
    }
}

TEST(BackendSelection, AutomaticPicksIoUringWhenItWorks) {
    scoped_env no_env("ASYNCIO_BACKEND", nullptr);
    scoped_env no_disable("ASYNCIO_IO_URING_DISABLE", nullptr);
    asyncio::event_loop loop;
    EXPECT_EQ(loop.backend(), io_uring_unusable().empty() ? backend::io_uring : backend::epoll);
}

TEST(BackendSelection, EnvironmentChoosesWhenTheOptionIsAutomatic) {
    scoped_env no_disable("ASYNCIO_IO_URING_DISABLE", nullptr);
    {
        scoped_env env("ASYNCIO_BACKEND", "epoll");
        asyncio::event_loop loop;
        EXPECT_EQ(loop.backend(), backend::epoll);
    }
    if (io_uring_unusable().empty()) {
        scoped_env env("ASYNCIO_BACKEND", "io_uring");
        asyncio::event_loop loop;
        EXPECT_EQ(loop.backend(), backend::io_uring);
        // An explicit option wins over the environment.
        asyncio::loop_options o;
        o.backend = backend::epoll;
        asyncio::event_loop other{o};
        EXPECT_EQ(other.backend(), backend::epoll);
    }
    {
        scoped_env env("ASYNCIO_BACKEND", "automatic");
        asyncio::event_loop loop;
        EXPECT_NE(loop.backend(), backend::automatic);
    }
}

coro<backend> running_backend() { co_return asyncio::get_running_loop().backend(); }

TEST(BackendSelection, RunOptionsChooseTheBackend) {
    for (backend b : {backend::epoll, backend::io_uring}) {
        if (b == backend::io_uring && !io_uring_unusable().empty()) continue;
        asyncio::run_options o;
        o.backend = b;
        EXPECT_EQ(asyncio::run(running_backend(), o), b) << name_of(b);
    }
}

TEST(BackendSelection, DisabledIoUringExplicitRequestThrowsNamingTheReason) {
    scoped_env disable("ASYNCIO_IO_URING_DISABLE", "1");
    asyncio::loop_options o;
    o.backend = backend::io_uring;
    try {
        asyncio::event_loop loop{o};
        FAIL() << "ASYNCIO_IO_URING_DISABLE=1 yet an io_uring loop was made";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "the io_uring backend is unavailable: disabled by ASYNCIO_IO_URING_DISABLE");
    }
    scoped_env env("ASYNCIO_BACKEND", "io_uring");
    EXPECT_THROW(asyncio::event_loop{}, std::runtime_error);
}

TEST(BackendSelection, DisabledIoUringAutomaticFallsBackToEpoll) {
    scoped_env disable("ASYNCIO_IO_URING_DISABLE", "1");
    scoped_env no_env("ASYNCIO_BACKEND", nullptr);
    asyncio::event_loop loop;
    EXPECT_EQ(loop.backend(), backend::epoll);
    // "0" does not disable.
    scoped_env enable("ASYNCIO_IO_URING_DISABLE", "0");
    asyncio::event_loop again;
    EXPECT_EQ(again.backend(), io_uring_unusable().empty() ? backend::io_uring : backend::epoll);
}

// What a container's seccomp profile does to io_uring: io_uring_setup fails with `err` (EPERM in
// Docker's default profile, ENOSYS in some others), for this process and its threads.
void forbid_io_uring_setup(int err) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
        throw std::system_error(errno, std::generic_category(), "seccomp");
}

// Run by the tests below in a child process (the line is said once per process, and a seccomp
// filter cannot be taken back): three loops on `automatic`, one on epoll, then an explicit
// io_uring request. ASYNCIO_TEST_SECCOMP=EPERM|ENOSYS installs a filter first.
TEST(BackendChild, AutomaticLoopsThenExplicitOnes) {
    if (!std::getenv("ASYNCIO_TEST_BACKEND_CHILD"))
        GTEST_SKIP() << "run in a child process by BackendSelection";
    if (const char* s = std::getenv("ASYNCIO_TEST_SECCOMP"))
        forbid_io_uring_setup(std::string(s) == "ENOSYS" ? ENOSYS : EPERM);
    for (int i = 0; i < 3; ++i) {
        asyncio::event_loop loop;
        std::printf("child: loop %d on %s\n", i, name_of(loop.backend()));
    }
    asyncio::loop_options o;
    o.backend = backend::epoll;
    asyncio::event_loop loop{o};
    std::printf("child: explicit epoll on %s\n", name_of(loop.backend()));
    o.backend = backend::io_uring;
    try {
        asyncio::event_loop uring{o};
        std::printf("child: explicit io_uring on %s\n", name_of(uring.backend()));
    } catch (const std::runtime_error& e) {
        std::printf("child: explicit io_uring threw: %s\n", e.what());
    }
    std::fflush(stdout);
}

// `env`: env(1)'s arguments, "-u NAME" options first, then NAME=value settings.
std::string run_child(const std::string& env) {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) throw std::runtime_error("readlink /proc/self/exe");
    self[n] = '\0';
    std::string cmd = "env -u ASYNCIO_BACKEND " + env + " ASYNCIO_TEST_BACKEND_CHILD=1 '" + self +
                      "' --gtest_filter=BackendChild.AutomaticLoopsThenExplicitOnes 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) throw std::runtime_error("popen");
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    int status = ::pclose(f);
    EXPECT_EQ(status, 0) << out;
    return out;
}

std::size_t count_of(const std::string& s, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
    return n;
}

TEST(BackendSelection, FallbackLogsOneLinePerProcess) {
    std::string out = run_child("ASYNCIO_IO_URING_DISABLE=1");
    EXPECT_EQ(count_of(out,
                       "asyncio: io_uring unavailable (disabled by ASYNCIO_IO_URING_DISABLE), using "
                       "epoll\n"),
              1u)
        << out;
    EXPECT_EQ(count_of(out, "asyncio: io_uring unavailable"), 1u) << out;
    EXPECT_EQ(count_of(out, "child: loop"), 3u) << out;
    EXPECT_EQ(count_of(out, "on epoll"), 4u) << out;
    EXPECT_EQ(count_of(out,
                       "child: explicit io_uring threw: the io_uring backend is unavailable: disabled by "
                       "ASYNCIO_IO_URING_DISABLE\n"),
              1u)
        << out;
    if (io_uring_unusable().empty()) {
        // Where io_uring works, no line at all.
        std::string quiet = run_child("-u ASYNCIO_IO_URING_DISABLE");
        EXPECT_EQ(count_of(quiet, "asyncio: io_uring unavailable"), 0u) << quiet;
        EXPECT_EQ(count_of(quiet, "on io_uring"), 4u) << quiet;
        EXPECT_EQ(count_of(quiet, "explicit epoll on epoll"), 1u) << quiet;
    }
}

// The real thing, not the test switch: io_uring_setup forbidden by a seccomp filter, as in a
// container (EPERM) or on a kernel built without io_uring (ENOSYS).
TEST(BackendSelection, ForbiddenBySeccompFallsBackNamingTheErrno) {
    if (std::string why = io_uring_unusable(); contains(why, "ASYNCIO_WITH_IO_URING=OFF"))
        GTEST_SKIP() << why;
    struct expectation {
        const char* errno_name;
        const char* reason;
    };
    for (const expectation& x :
         {expectation{"EPERM",
                      "io_uring_setup: Operation not permitted; a seccomp filter (as in containers) or "
                      "kernel.io_uring_disabled forbids it"},
          expectation{"ENOSYS", "io_uring_setup: Function not implemented; the kernel has no io_uring"}}) {
        std::string out =
            run_child(std::string("-u ASYNCIO_IO_URING_DISABLE ASYNCIO_TEST_SECCOMP=") + x.errno_name);
        EXPECT_EQ(
            count_of(out, "asyncio: io_uring unavailable (" + std::string(x.reason) + "), using epoll\n"), 1u)
            << out;
        EXPECT_EQ(count_of(out, "asyncio: io_uring unavailable"), 1u) << out;
        EXPECT_EQ(count_of(out, "on epoll"), 4u) << out;
        EXPECT_EQ(count_of(out, "child: explicit io_uring threw: the io_uring backend is unavailable: " +
                                    std::string(x.reason) + "\n"),
                  1u)
            << out;
    }
}

// --- the poller interface, on each backend -----------------------------------------------------

class Poller : public ::testing::TestWithParam<backend> {
  protected:
    void SetUp() override {
        if (GetParam() == backend::io_uring) {
            std::string why = io_uring_unusable();
            if (!why.empty()) GTEST_SKIP() << "io_uring unavailable here: " << why;
            p_ = asyncio::detail::make_io_uring_poller();
        } else {
            p_ = asyncio::detail::make_epoll_poller();
        }
    }
    void TearDown() override {
        p_.reset();
        for (int fd : fds_) ::close(fd);
    }
    bool is_uring() const { return GetParam() == backend::io_uring; }

    // A non-blocking Unix stream pair, closed at the end of the test.
    std::pair<int, int> pair() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
            throw std::runtime_error("socketpair");
        fds_.push_back(sv[0]);
        fds_.push_back(sv[1]);
        return {sv[0], sv[1]};
    }
    void forget(int fd) { std::erase(fds_, fd); }

    std::vector<poll_event> wait(std::chrono::milliseconds timeout, int max = 256) {
        std::vector<poll_event> ev(static_cast<std::size_t>(max));
        int n = p_->wait(std::chrono::nanoseconds(timeout).count(), ev.data(), max);
        ev.resize(static_cast<std::size_t>(n));
        return ev;
    }
    // Events for `token` over a few waits that each look for 20 ms: where a storm would show.
    std::vector<poll_event> settle(std::uint64_t token, int waits = 3) {
        std::vector<poll_event> all;
        for (int i = 0; i < waits; ++i)
            for (const poll_event& e : wait(20ms))
                if (e.token == token) all.push_back(e);
        return all;
    }
    // The first event for `token` within a second (or a failure).
    poll_event expect_event(std::uint64_t token) {
        auto deadline = std::chrono::steady_clock::now() + 1s;
        while (std::chrono::steady_clock::now() < deadline)
            for (const poll_event& e : wait(100ms))
                if (e.token == token) return e;
        ADD_FAILURE() << "no event for token " << token;
        return {};
    }

    std::unique_ptr<poller> p_;
    std::vector<int> fds_;
};

void send_bytes(int fd, const std::string& s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}
std::size_t drain(int fd) {
    char buf[65536];
    std::size_t total = 0;
    for (;;) {
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) return total;
        total += static_cast<std::size_t>(r);
    }
}

TEST_P(Poller, EdgeReportsEachNewReadinessOnceWithoutAStorm) {
    auto [a, b] = pair();
    p_->add_edge(a, 7);
    // Registration reports what is true already: writable, not readable.
    poll_event first = expect_event(7);
    EXPECT_TRUE(first.writable);
    EXPECT_FALSE(first.readable);
    EXPECT_TRUE(settle(7).empty()) << "nothing changed, yet events came";

    send_bytes(b, "x");
    EXPECT_TRUE(expect_event(7).readable);
    // Not drained, and nothing new: no more events (epoll's EPOLLET; multishot poll must match).
    EXPECT_TRUE(settle(7).empty()) << "an undrained socket keeps reporting: a storm";
    // Still not drained, but new data: woken again.
    send_bytes(b, "y");
    EXPECT_TRUE(expect_event(7).readable);
    EXPECT_TRUE(settle(7).empty());
    // Drained: quiet until the next data.
    EXPECT_EQ(drain(a), 2u);
    EXPECT_TRUE(settle(7).empty());
    send_bytes(b, "z");
    EXPECT_TRUE(expect_event(7).readable);
    p_->remove_edge(a);
}

TEST_P(Poller, EdgeReportsWritableWhenBufferSpaceComesBack) {
    auto [a, b] = pair();
    p_->add_edge(a, 3);
    expect_event(3);
    std::string chunk(65536, 'w');
    while (::send(a, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
    EXPECT_TRUE(settle(3).empty());
    drain(b);
    poll_event e = expect_event(3);
    EXPECT_TRUE(e.writable);
    EXPECT_FALSE(e.readable);
    p_->remove_edge(a);
}

TEST_P(Poller, EdgeHangUpIsReadableAndWritable) {
    auto [a, b] = pair();
    p_->add_edge(a, 5);
    expect_event(5);
    ::close(b);
    forget(b);
    poll_event e = expect_event(5);
    EXPECT_TRUE(e.readable);
    EXPECT_TRUE(e.writable);
    EXPECT_TRUE(settle(5).empty());
    p_->remove_edge(a);
}

// io_uring's poll holds a reference to the file: remove_edge must take effect at once, or a
// socket closed right after would stay open (no EOF for the peer, its port still bound).
TEST_P(Poller, RemoveEdgeThenCloseReallyCloses) {
    auto [a, b] = pair();
    p_->add_edge(a, 9);
    expect_event(9);
    p_->remove_edge(a);
    ::close(a);
    forget(a);
    pollfd pfd{b, POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 0), 1) << "the peer does not see the close";
    char c;
    EXPECT_EQ(::recv(b, &c, 1, 0), 0);

    // A listening TCP socket: its port is free again at once.
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(l, 8), 0);
    socklen_t len = sizeof sa;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len);
    p_->add_edge(l, 11);
    settle(11, 1);
    p_->remove_edge(l);
    ::close(l);
    int again = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::bind(again, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0)
        << "the port is still bound: " << std::strerror(errno);
    ::close(again);
}

// The same while a wake-up of the poll is pending: the peer drains the buffer (so the socket
// becomes writable) while this thread runs in user space, which leaves the poll's wake-up queued
// until this thread next enters the kernel. io_uring's POLL_REMOVE fails then (-EALREADY) and the
// poll kept the file open: a child's stdin closed after communicate() wrote it never saw EOF.
TEST_P(Poller, RemoveEdgeWhileAWakeUpIsPendingStillCloses) {
    for (int round = 0; round < 20; ++round) {
        auto [a, b] = pair();
        p_->add_edge(a, 13);
        expect_event(13);
        std::string chunk(65536, 'w');
        while (::send(a, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) {
        }
        ASSERT_EQ(errno, EAGAIN);
        settle(13, 1);
        std::atomic<bool> drained{false};
        std::thread peer([&drained, b = b] {
            drain(b);
            drained.store(true, std::memory_order_release);
        });
        while (!drained.load(std::memory_order_acquire)) {
            // spin: no syscall here, or the wake-up would run before the removal
        }
        p_->remove_edge(a);
        ::close(a);
        forget(a);
        peer.join();
        pollfd pfd{b, POLLIN, 0};
        ASSERT_EQ(::poll(&pfd, 1, 1000), 1) << "round " << round << ": the peer does not see the close";
        char c;
        ASSERT_EQ(::recv(b, &c, 1, 0), 0) << "round " << round;
    }
}

// A socket that outlives its loop (closed after it): the poller's end releases the file at once.
TEST_P(Poller, DestroyedPollerLetsGoOfItsFiles) {
    auto [a, b] = pair();
    auto [c, d] = pair();
    p_->add_edge(a, 1);
    p_->set_level_interest(c, true, false, 2);
    settle(1, 1);
    p_.reset();
    ::close(a);
    ::close(c);
    forget(a);
    forget(c);
    char x;
    EXPECT_EQ(::recv(b, &x, 1, 0), 0) << "the peer does not see the close: " << std::strerror(errno);
    EXPECT_EQ(::recv(d, &x, 1, 0), 0) << "the peer does not see the close: " << std::strerror(errno);
}

TEST_P(Poller, ReusedFdNumberNeverGetsTheOldToken) {
    auto [a, b] = pair();
    p_->add_edge(a, 100);
    expect_event(100);
    send_bytes(b, "old");  // an event for the old registration may be on its way
    p_->remove_edge(a);
    ::close(a);
    forget(a);
    auto [c, d] = pair();
    ASSERT_EQ(c, a) << "the new socket did not reuse the fd number; the test needs it to";
    p_->add_edge(c, 200);
    send_bytes(d, "new");
    std::set<std::uint64_t> tokens;
    for (int i = 0; i < 3; ++i)
        for (const poll_event& e : wait(20ms)) tokens.insert(e.token);
    EXPECT_EQ(tokens, std::set<std::uint64_t>{200});
    p_->remove_edge(c);
}

TEST_P(Poller, LevelReportsOnEveryWaitWhileReady) {
    auto [a, b] = pair();
    p_->set_level_interest(a, true, false, 40);
    EXPECT_TRUE(settle(40).empty());
    send_bytes(b, "x");
    for (int i = 0; i < 4; ++i) {
        std::vector<poll_event> ev = wait(1000ms);
        ASSERT_EQ(ev.size(), 1u) << "wait " << i;
        EXPECT_EQ(ev[0].token, 40u);
        EXPECT_TRUE(ev[0].readable);
    }
    drain(a);
    EXPECT_TRUE(settle(40).empty());
    // Adding write interest keeps the token and reports writability on every wait.
    p_->set_level_interest(a, true, true, 40);
    for (int i = 0; i < 3; ++i) {
        std::vector<poll_event> ev = wait(1000ms);
        ASSERT_EQ(ev.size(), 1u);
        EXPECT_EQ(ev[0].token, 40u);
        EXPECT_TRUE(ev[0].writable);
        EXPECT_FALSE(ev[0].readable);
    }
    p_->set_level_interest(a, true, false, 40);
    EXPECT_TRUE(settle(40).empty());
    p_->set_level_interest(a, false, false, 40);
    send_bytes(b, "y");
    EXPECT_TRUE(settle(40).empty()) << "removed, yet reported";
}

TEST_P(Poller, LevelRemoveThenCloseReallyCloses) {
    auto [a, b] = pair();
    p_->set_level_interest(a, true, false, 41);
    settle(41, 1);
    p_->set_level_interest(a, false, false, 41);
    ::close(a);
    forget(a);
    char c;
    EXPECT_EQ(::recv(b, &c, 1, 0), 0) << "the peer does not see the close";
}

TEST_P(Poller, LevelInterestRefusesWhatPollCannotWatch) {
    EXPECT_THROW(p_->set_level_interest(12345, true, false, 1), std::system_error);
    char path[] = "/tmp/asyncio_backend_XXXXXX";
    int f = ::mkstemp(path);
    ASSERT_GE(f, 0);
    ::unlink(path);
    try {
        p_->set_level_interest(f, true, false, 1);
        ADD_FAILURE() << "a regular file was accepted";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EPERM);
    }
    ::close(f);
}

// A regular file cannot be polled. epoll refuses it; io_uring reports it ready once (its syscalls
// never say EAGAIN, so nobody waits on it again) and does not re-arm it in a loop.
TEST_P(Poller, EdgeOnARegularFile) {
    char path[] = "/tmp/asyncio_backend_XXXXXX";
    int f = ::mkstemp(path);
    ASSERT_GE(f, 0);
    ::unlink(path);
    fds_.push_back(f);
    if (!is_uring()) {
        try {
            p_->add_edge(f, 1);
            ADD_FAILURE() << "epoll accepted a regular file";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code().value(), EPERM);
        }
        return;
    }
    p_->add_edge(f, 1);
    poll_event e = expect_event(1);
    EXPECT_TRUE(e.readable);
    EXPECT_TRUE(e.writable);
    EXPECT_TRUE(settle(1).empty()) << "re-armed over and over";
    p_->remove_edge(f);
}

// An fd closed between its registration and the next wait (io_uring submits with the wait):
// reported once, as an error wakes both sides, so an operation's syscall reports EBADF.
// epoll checks at registration and throws.
TEST_P(Poller, EdgeOnAnFdClosedBeforeTheWait) {
    auto [a, b] = pair();
    (void)b;
    if (!is_uring()) {
        ::close(a);
        forget(a);
        EXPECT_THROW(p_->add_edge(a, 1), std::system_error);
        return;
    }
    p_->add_edge(a, 1);
    ::close(a);
    forget(a);
    poll_event e = expect_event(1);
    EXPECT_TRUE(e.readable);
    EXPECT_TRUE(e.writable);
    EXPECT_TRUE(settle(1).empty());
    p_->remove_edge(a);
}

// More registrations in one iteration than the submission ring holds (io_uring: 256), and a wait
// that takes fewer events than are ready: every one arrives, once.
TEST_P(Poller, BurstsLargerThanTheRings) {
    constexpr int n = 300;
    std::vector<std::pair<int, int>> pairs;
    for (int i = 0; i < n; ++i) pairs.push_back(pair());
    for (int i = 0; i < n; ++i) p_->add_edge(pairs[i].first, static_cast<std::uint64_t>(1000 + i));
    auto collect = [&](bool want_readable) {
        std::vector<int> seen(n, 0);
        int distinct = 0;
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (distinct < n && std::chrono::steady_clock::now() < deadline) {
            for (const poll_event& e : wait(100ms, 64)) {
                EXPECT_GE(e.token, 1000u);
                EXPECT_LT(e.token, 1000u + n);
                if ((want_readable ? e.readable : e.writable) && seen[e.token - 1000]++ == 0) ++distinct;
            }
        }
        return distinct;
    };
    EXPECT_EQ(collect(false), n);
    for (auto& [a, b] : pairs) send_bytes(b, "r");
    EXPECT_EQ(collect(true), n);
    for (auto& [a, b] : pairs) p_->remove_edge(a);
}

TEST_P(Poller, WokenByAnotherThreadAndTimesOut) {
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    fds_.push_back(efd);
    p_->set_level_interest(efd, true, false, 77);
    EXPECT_TRUE(wait(10ms).empty());
    std::thread t([efd] {
        std::this_thread::sleep_for(20ms);
        std::uint64_t one = 1;
        ssize_t r = ::write(efd, &one, sizeof one);
        (void)r;
    });
    // No limit. It may return early with nothing (0 means "interrupted": a signal, or task work
    // that a destroyed io_uring ring of an earlier test queued on this thread): wait again.
    std::vector<poll_event> ev;
    for (int i = 0; i < 10 && ev.empty(); ++i) ev = wait(std::chrono::milliseconds(-1));
    t.join();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].token, 77u);
    std::uint64_t v;
    ASSERT_EQ(::read(efd, &v, sizeof v), 8);
    EXPECT_TRUE(wait(10ms).empty());
}

extern "C" void on_sigusr2(int) {}

TEST_P(Poller, SignalInterruptsAWaitWithoutAnError) {
    struct sigaction sa {
    }, old{};
    sa.sa_handler = on_sigusr2;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the wait returns
    ::sigaction(SIGUSR2, &sa, &old);
    pthread_t self = ::pthread_self();
    std::atomic<bool> waiting{false};
    std::thread t([&] {
        while (!waiting.load()) std::this_thread::yield();
        std::this_thread::sleep_for(30ms);
        ::pthread_kill(self, SIGUSR2);
    });
    waiting = true;
    std::vector<poll_event> ev;
    EXPECT_NO_THROW(ev = wait(std::chrono::milliseconds(5000)));
    t.join();
    ::sigaction(SIGUSR2, &old, nullptr);
    EXPECT_TRUE(ev.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, Poller, ::testing::Values(backend::epoll, backend::io_uring),
                         [](const auto& info) { return std::string(name_of(info.param)); });

// --- the loop on each backend ---------------------------------------------------------------------

class LoopOn : public ::testing::TestWithParam<backend> {
  protected:
    void SetUp() override {
        if (GetParam() == backend::io_uring) {
            std::string why = io_uring_unusable();
            if (!why.empty()) GTEST_SKIP() << "io_uring unavailable here: " << why;
        }
    }
    asyncio::run_options options() const {
        asyncio::run_options o;
        o.backend = GetParam();
        o.debug = true;
        o.clock = asyncio::clock_kind::virtual_time;
        return o;
    }
};

coro<std::string> read_all(int fd, std::size_t n) {
    std::string got;
    while (got.size() < n) {
        std::string part = co_await asyncio::get_running_loop().sock_recv(fd, 65536);
        if (part.empty()) break;
        got += part;
    }
    co_return got;
}

coro<std::size_t> exchange_mib(int a, int b, backend want) {
    EXPECT_EQ(asyncio::get_running_loop().backend(), want);
    std::string data(1 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + i / 7);
    asyncio::task<std::string> reader = asyncio::create_task(read_all(b, data.size()));
    co_await asyncio::get_running_loop().sock_sendall(a, data);
    std::string got = co_await reader;
    EXPECT_TRUE(got == data);
    co_return got.size();
}

TEST_P(LoopOn, SocketsMoveAMebibyteBothWays) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    EXPECT_EQ(asyncio::run(exchange_mib(sv[0], sv[1], GetParam()), options()), 1u << 20);
    EXPECT_EQ(asyncio::run(exchange_mib(sv[1], sv[0], GetParam()), options()), 1u << 20);
    ::close(sv[0]);
    ::close(sv[1]);
}

coro<int> count_reader_calls(int r, int w) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    int calls = 0;
    loop.add_reader(r, [&calls] { ++calls; });
    char c = 'x';
    EXPECT_EQ(::write(w, &c, 1), 1);
    // Level-triggered: the callback runs on each iteration while the pipe stays readable.
    for (int i = 0; i < 20 && calls < 3; ++i) co_await asyncio::sleep(1ms);
    int while_ready = calls;
    EXPECT_EQ(::read(r, &c, 1), 1);
    co_await asyncio::sleep(1ms);
    int after_drain = calls;
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(1ms);
    EXPECT_EQ(calls, after_drain) << "called while not readable";
    loop.remove_reader(r);
    co_return while_ready;
}

TEST_P(LoopOn, AddReaderIsLevelTriggered) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    asyncio::run_options o = options();
    o.clock = asyncio::clock_kind::real_time;  // the loop must really wait on the pipe
    EXPECT_GE(asyncio::run(count_reader_calls(p[0], p[1]), o), 3);
    ::close(p[0]);
    ::close(p[1]);
}

coro<int> woken_from_thread() {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    asyncio::future<int> f = loop.create_future<int>();
    asyncio::keep_alive_token token = loop.keep_alive();
    asyncio::future<int>* target = &f;  // touched on the loop thread only (the callback)
    std::thread t([&loop, target] {
        std::this_thread::sleep_for(20ms);
        loop.call_soon_threadsafe([target] { target->set_result(42); });
    });
    int v = co_await f;
    t.join();
    co_return v;
}

TEST_P(LoopOn, CallSoonThreadsafeWakesAnIdleLoop) {
    EXPECT_EQ(asyncio::run(woken_from_thread(), options()), 42);
}

coro<int> signal_arrives() {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    asyncio::future<int> f = loop.create_future<int>();
    loop.add_signal_handler(SIGUSR2, [f]() mutable {
        if (!f.done()) f.set_result(SIGUSR2);
    });
    pthread_t self = ::pthread_self();
    std::thread t([self] {
        std::this_thread::sleep_for(20ms);
        ::pthread_kill(self, SIGUSR2);
    });
    int v = co_await f;
    t.join();
    loop.remove_signal_handler(SIGUSR2);
    co_return v;
}

TEST_P(LoopOn, SignalHandlerRunsOnTheLoop) { EXPECT_EQ(asyncio::run(signal_arrives(), options()), SIGUSR2); }

coro<void> wait_forever() {
    asyncio::future<void> never = asyncio::get_running_loop().create_future<void>();
    co_await never;
}

TEST_P(LoopOn, DeadlockIsDetected) {
    asyncio::run_options o = options();
    o.debug = false;
    EXPECT_THROW(asyncio::run(wait_forever(), o), asyncio::deadlock_error);
}

INSTANTIATE_TEST_SUITE_P(Backends, LoopOn, ::testing::Values(backend::epoll, backend::io_uring),
                         [](const auto& info) { return std::string(name_of(info.param)); });

}  // namespace
