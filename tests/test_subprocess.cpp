// Tests of create_subprocess_exec/_shell and asyncio::process (subprocess.hpp): pipes both ways,
// communicate with large output on both pipes, exit codes and signals, cwd and env, bad input,
// cancellation (no zombie, no fd leak), the pidfd-less fallback, and no false deadlock report
// while the only thing left to wait for is a child.
// ctest-labels: threads
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/subprocess.hpp>
#include <asyncio/timeout.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

#include "support/open_fds.hpp"

namespace {

using asyncio::coro;
using asyncio::stdio;
using asyncio::subprocess_options;

using test_support::open_fds;

std::vector<std::string> args(std::initializer_list<const char*> list) {
    std::vector<std::string> v;
    for (const char* a : list) v.push_back(a);
    return v;
}

subprocess_options piped_out() {
    subprocess_options o;
    o.out = stdio::pipe;
    return o;
}

coro<void> echo_hello() {
    std::vector<std::string> words = args({"hello", "world"});
    asyncio::process p = co_await asyncio::create_subprocess_exec("echo", words, piped_out());
    EXPECT_GT(p.pid(), 0);
    EXPECT_FALSE(p.returncode().has_value());
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out, "hello world\n");
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(p.returncode(), 0);
}

TEST(Subprocess, ExecWithAPipedStdout) { asyncio::run(echo_hello()); }

coro<void> exit_codes() {
    asyncio::process p3 = co_await asyncio::create_subprocess_shell("exit 3");
    int rc = co_await p3.wait();
    EXPECT_EQ(rc, 3);
    EXPECT_EQ(p3.returncode(), 3);
    int again = co_await p3.wait();  // done: returns at once
    EXPECT_EQ(again, 3);

    std::vector<std::string> ten = args({"10"});
    asyncio::process killed = co_await asyncio::create_subprocess_exec("sleep", ten);
    killed.kill();
    int k = co_await killed.wait();
    EXPECT_EQ(k, -SIGKILL);

    asyncio::process termed = co_await asyncio::create_subprocess_exec("sleep", ten);
    termed.terminate();
    int t = co_await termed.wait();
    EXPECT_EQ(t, -SIGTERM);
    termed.kill();  // reaped already: nothing happens
}

TEST(Subprocess, ExitCodesAndSignals) { asyncio::run(exit_codes()); }

coro<void> cat_a_mebibyte() {
    subprocess_options o;
    o.in = stdio::pipe;
    o.out = stdio::pipe;
    asyncio::process p = co_await asyncio::create_subprocess_exec("cat", std::vector<std::string>(), o);
    std::string input(1 << 20, '\0');
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>('a' + i % 26);
    asyncio::communicate_result r = co_await p.communicate(input);
    EXPECT_EQ(r.out.size(), input.size());
    EXPECT_TRUE(r.out == input);
    EXPECT_EQ(p.returncode(), 0);
}

TEST(Subprocess, CommunicateFeedsStdinAndReadsStdout) { asyncio::run(cat_a_mebibyte()); }

coro<void> both_pipes_full() {
    subprocess_options o;
    o.out = stdio::pipe;
    o.err = stdio::pipe;
    // 4 MiB to each pipe, interleaved: a reader of one pipe at a time would deadlock.
    asyncio::process p = co_await asyncio::create_subprocess_shell(
        "for i in 1 2 3 4; do head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; done", o);
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out.size(), 4u << 20);
    EXPECT_EQ(r.err.size(), 4u << 20);
    EXPECT_EQ(p.returncode(), 0);
}

TEST(Subprocess, LargeOutputOnBothPipesDoesNotDeadlock) { asyncio::run(both_pipes_full()); }

coro<void> redirections() {
    subprocess_options merged;
    merged.out = stdio::pipe;
    merged.err = stdio::to_stdout;
    asyncio::process p = co_await asyncio::create_subprocess_shell("echo a; echo b >&2; echo c", merged);
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out, "a\nb\nc\n");

    subprocess_options quiet;
    quiet.out = stdio::devnull;
    quiet.err = stdio::pipe;
    asyncio::process q = co_await asyncio::create_subprocess_shell("echo lost; echo kept >&2", quiet);
    asyncio::communicate_result rq = co_await q.communicate();
    EXPECT_EQ(rq.out, "");
    EXPECT_EQ(rq.err, "kept\n");

    subprocess_options no_input;
    no_input.in = stdio::devnull;
    no_input.out = stdio::pipe;
    asyncio::process c =
        co_await asyncio::create_subprocess_exec("cat", std::vector<std::string>(), no_input);
    asyncio::communicate_result rc = co_await c.communicate();
    EXPECT_EQ(rc.out, "");
    EXPECT_EQ(c.returncode(), 0);
}

TEST(Subprocess, StderrToStdoutAndDevnull) { asyncio::run(redirections()); }

coro<void> cwd_and_env() {
    subprocess_options o = piped_out();
    o.cwd = "/tmp";
    asyncio::process p = co_await asyncio::create_subprocess_exec("pwd", std::vector<std::string>(), o);
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out, "/tmp\n");

    subprocess_options e = piped_out();
    std::vector<std::string> env;
    env.push_back("GREETING=bonjour");
    env.push_back("PATH=/usr/bin:/bin");
    e.env = env;
    asyncio::process q = co_await asyncio::create_subprocess_shell("echo \"$GREETING ${HOME:-nohome}\"", e);
    asyncio::communicate_result rq = co_await q.communicate();
    EXPECT_EQ(rq.out, "bonjour nohome\n");
}

TEST(Subprocess, CwdAndEnvironment) { asyncio::run(cwd_and_env()); }

coro<void> bad_input() {
    int err = 0;
    try {
        asyncio::process p = co_await asyncio::create_subprocess_exec("no-such-program-asyncio-test");
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_EQ(err, ENOENT);

    err = 0;
    subprocess_options bad_cwd;
    bad_cwd.cwd = "/no/such/dir";
    try {
        asyncio::process p =
            co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), bad_cwd);
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_EQ(err, ENOENT);

    subprocess_options stdout_to_stdout;
    stdout_to_stdout.out = stdio::to_stdout;
    bool invalid = false;
    try {
        asyncio::process p =
            co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), stdout_to_stdout);
    } catch (const std::invalid_argument&) {
        invalid = true;
    }
    EXPECT_TRUE(invalid);

    subprocess_options bad_env;
    std::vector<std::string> env;
    env.push_back("NOEQUALS");
    bad_env.env = env;
    invalid = false;
    try {
        asyncio::process p =
            co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), bad_env);
    } catch (const std::invalid_argument&) {
        invalid = true;
    }
    EXPECT_TRUE(invalid);

    // Input for a child whose stdin is not a pipe.
    asyncio::process p = co_await asyncio::create_subprocess_exec("true");
    invalid = false;
    try {
        co_await p.communicate("data");
    } catch (const std::invalid_argument&) {
        invalid = true;
    }
    EXPECT_TRUE(invalid);
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(Subprocess, BadInputIsAClearError) { asyncio::run(bad_input()); }

bool reaped(pid_t pid) {
    // ECHILD: not our child any more (reaped). 0: still running or a zombie.
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

coro<void> cancelled_wait(pid_t* dropped_pid) {
    std::size_t fds_before = open_fds();
    {
        std::vector<std::string> a = args({"0.3"});
        asyncio::process p = co_await asyncio::create_subprocess_exec("sleep", a);
        bool timed_out = false;
        try {
            co_await asyncio::wait_for(p.wait(), 20ms);
        } catch (const asyncio::timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_FALSE(p.returncode().has_value());
        int rc = co_await p.wait();  // the wait can be taken up again
        EXPECT_EQ(rc, 0);
    }
    {
        subprocess_options o = piped_out();
        asyncio::process p = co_await asyncio::create_subprocess_shell("sleep 0.2; echo late", o);
        bool timed_out = false;
        try {
            co_await asyncio::wait_for(p.communicate(), 20ms);
        } catch (const asyncio::timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        *dropped_pid = p.pid();
        // Dropped while the child runs: its pipe closes now, and it is reaped when it ends.
    }
    EXPECT_EQ(open_fds(), fds_before);
}

TEST(Subprocess, CancelledWaitAndDroppedProcessLeaveNoZombieAndNoFd) {
    pid_t dropped = -1;
    asyncio::run(cancelled_wait(&dropped));
    ASSERT_GT(dropped, 0);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {  // up to 3 s for a child that needs 0.2 s
        gone = reaped(dropped);
        if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "process " << dropped << " was not reaped";
}

coro<void> only_a_child_to_wait_for() {
    // The main task's only wait is the child: no deadlock report, the loop waits for the pidfd.
    std::vector<std::string> a = args({"0.1"});
    asyncio::process p = co_await asyncio::create_subprocess_exec("sleep", a);
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(Subprocess, WaitingOnAChildIsNotADeadlock) {
    asyncio::run_options o;
    o.debug = true;
    asyncio::run(only_a_child_to_wait_for(), o);
}

TEST(Subprocess, WorksWithoutPidfd) {
    ::setenv("ASYNCIO_NO_PIDFD", "1", 1);
    asyncio::run(exit_codes());
    asyncio::run(echo_hello());
    ::unsetenv("ASYNCIO_NO_PIDFD");
}

coro<void> many_children() {
    std::size_t fds_before = open_fds();
    std::vector<asyncio::process> ps;
    for (int i = 0; i < 20; ++i) {
        asyncio::process p =
            co_await asyncio::create_subprocess_shell("echo " + std::to_string(i), piped_out());
        ps.push_back(std::move(p));
    }
    for (int i = 0; i < 20; ++i) {
        asyncio::communicate_result r = co_await ps[static_cast<std::size_t>(i)].communicate();
        EXPECT_EQ(r.out, std::to_string(i) + "\n");
    }
    ps.clear();
    EXPECT_EQ(open_fds(), fds_before);
}

TEST(Subprocess, TwentyChildrenNoFdLeaked) { asyncio::run(many_children()); }

}  // namespace
