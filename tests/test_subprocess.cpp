// Tests of create_subprocess_exec/_shell and asyncio::process (subprocess.hpp): pipes both ways,
// communicate with large output on both pipes, exit codes and signals, cwd and env, bad input,
// cancellation (no zombie, no fd leak), the pidfd-less fallback, and no false deadlock report
// while the only thing left to wait for is a child. The streams of the pipes (stdin_writer,
// stdout_reader, stderr_reader): one stream per pipe shared with communicate(), write_eof, lines
// as they come, the not-a-pipe errors, EPIPE without SIGPIPE (at its default disposition), and
// cancelled reads that keep what arrived.
// ctest-labels: threads
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/subprocess.hpp>
#include <asyncio/task.hpp>
#include <asyncio/timeout.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

// --- the pipes as streams --------------------------------------------------------------------

subprocess_options all_piped() {
    subprocess_options o;
    o.in = stdio::pipe;
    o.out = stdio::pipe;
    o.err = stdio::pipe;
    return o;
}

// True when `c` is cancelled by a timeout of `d`.
template <class T>
coro<bool> times_out(coro<T> c, std::chrono::milliseconds d) {
    bool timed_out = false;
    try {
        co_await asyncio::wait_for(std::move(c), d);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    co_return timed_out;
}

coro<void> sort_through_the_streams() {
    asyncio::process p =
        co_await asyncio::create_subprocess_exec("sort", std::vector<std::string>(), all_piped());
    asyncio::stream_writer in = p.stdin_writer();
    EXPECT_GE(in.fd(), 0);
    EXPECT_EQ(in.peername().family(), AF_UNSPEC);  // a pipe has no address
    EXPECT_EQ(in.sockname().family(), AF_UNSPEC);
    EXPECT_TRUE(in.can_write_eof());
    in.write("pear\n");
    in.writelines({"apple\n", "fig\n"});
    co_await in.drain();
    EXPECT_FALSE(in.is_closing());
    in.write_eof();  // sort sorts once it reads EOF
    EXPECT_TRUE(in.is_closing());
    asyncio::stream_reader out = p.stdout_reader();
    std::string sorted = co_await out.read();
    EXPECT_EQ(sorted, "apple\nfig\npear\n");
    EXPECT_TRUE(out.at_eof());
    std::string errors = co_await p.stderr_reader().read();
    EXPECT_EQ(errors, "");
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(SubprocessStreams, WriteThenWriteEofThenReadSorted) { asyncio::run(sort_through_the_streams()); }

coro<void> lines_as_they_come() {
    asyncio::process p = co_await asyncio::create_subprocess_shell(
        "echo one; sleep 0.05; echo two >&2; echo three", all_piped());
    std::vector<std::string> lines;
    for (;;) {
        std::string line = co_await p.stdout_reader().readline();
        if (line.empty()) break;
        lines.push_back(line);
    }
    EXPECT_EQ(lines, args({"one\n", "three\n"}));
    std::string err_line = co_await p.stderr_reader().readline();
    EXPECT_EQ(err_line, "two\n");
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(SubprocessStreams, ReadlineAsLinesCome) { asyncio::run(lines_as_they_come()); }

coro<void> one_stream_per_pipe() {
    asyncio::process p = co_await asyncio::create_subprocess_shell("printf 'first\\nsecond\\n'", piped_out());
    asyncio::stream_reader a = p.stdout_reader();
    asyncio::stream_reader b = p.stdout_reader();
    std::string first = co_await a.readline();
    EXPECT_EQ(first, "first\n");
    EXPECT_EQ(a.buffered(), b.buffered());  // one buffer behind both handles
    // communicate() goes on from where the reader is: the bytes it had buffered are not lost.
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out, "second\n");
    EXPECT_TRUE(b.at_eof());
    EXPECT_EQ(p.returncode(), 0);
}

TEST(SubprocessStreams, HandlesAndCommunicateShareOneStream) { asyncio::run(one_stream_per_pipe()); }

coro<void> buffered_input_goes_first() {
    subprocess_options o;
    o.in = stdio::pipe;
    o.out = stdio::pipe;
    asyncio::process p = co_await asyncio::create_subprocess_exec("cat", std::vector<std::string>(), o);
    std::string head(1 << 20, 'a');
    asyncio::stream_writer in = p.stdin_writer();
    in.write(head);  // more than the pipe holds: the rest stays in the writer's buffer
    EXPECT_GT(in.write_buffer_size(), 0u);
    asyncio::communicate_result r = co_await p.communicate("tail");
    EXPECT_EQ(r.out.size(), head.size() + 4);
    EXPECT_TRUE(r.out == head + "tail");
    EXPECT_TRUE(in.is_closing());
    EXPECT_EQ(p.returncode(), 0);
}

TEST(SubprocessStreams, CommunicateSendsTheWritersBufferedBytesFirst) {
    asyncio::run(buffered_input_goes_first());
}

template <class F>
std::string runtime_error_of(F&& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(no std::runtime_error)";
}

coro<void> not_a_pipe() {
    subprocess_options o;
    o.in = stdio::devnull;
    o.out = stdio::pipe;
    o.err = stdio::to_stdout;
    asyncio::process p = co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), o);
    EXPECT_EQ(runtime_error_of([&] { p.stdin_writer(); }),
              "stdin_writer(): the child's stdin is not a pipe (subprocess_options::in is not stdio::pipe)");
    EXPECT_EQ(
        runtime_error_of([&] { p.stderr_reader(); }),
        "stderr_reader(): the child's stderr is not a pipe (subprocess_options::err is not stdio::pipe)");
    asyncio::stream_reader out = p.stdout_reader();  // this one is
    asyncio::process q = co_await asyncio::create_subprocess_exec("true");
    EXPECT_EQ(
        runtime_error_of([&] { q.stdout_reader(); }),
        "stdout_reader(): the child's stdout is not a pipe (subprocess_options::out is not stdio::pipe)");
    asyncio::process moved_from = std::move(q);
    EXPECT_EQ(runtime_error_of([&] { q.stdout_reader(); }), "stdout_reader() on an empty process");
    int rc = co_await moved_from.wait();
    EXPECT_EQ(rc, 0);
    rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(SubprocessStreams, AnEndThatIsNotAPipeIsAClearError) { asyncio::run(not_a_pipe()); }

coro<void> drain_cancelled_loses_nothing() {
    subprocess_options o;
    o.in = stdio::pipe;
    o.out = stdio::pipe;
    asyncio::process p = co_await asyncio::create_subprocess_exec("cat", std::vector<std::string>(), o);
    std::string data(1 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
    asyncio::stream_writer in = p.stdin_writer();
    in.write(data);
    // cat stops once its stdout pipe is full (nobody reads it): the drain waits, and is cancelled.
    bool timed_out = co_await times_out(in.drain(), 20ms);
    EXPECT_TRUE(timed_out);
    EXPECT_GT(in.write_buffer_size(), 0u);
    asyncio::communicate_result r = co_await p.communicate();  // reads: cat goes on
    EXPECT_EQ(r.out.size(), data.size());
    EXPECT_TRUE(r.out == data);  // every byte, in order
    EXPECT_EQ(p.returncode(), 0);
}

TEST(SubprocessStreams, DrainCancelledLosesNothing) { asyncio::run(drain_cancelled_loses_nothing()); }

// --- SIGPIPE ---------------------------------------------------------------------------------

// SIGPIPE at its default disposition (it ends the process) and unblocked, as in a program that
// never heard of it; restored afterwards.
struct sigpipe_default {
    struct sigaction old_action {};
    sigset_t old_mask;
    sigpipe_default() {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        ::sigaction(SIGPIPE, &dfl, &old_action);
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_UNBLOCK, &pipe_set, &old_mask);
    }
    ~sigpipe_default() {
        pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
        ::sigaction(SIGPIPE, &old_action, nullptr);
    }
};

bool sigpipe_pending() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
}

bool sigpipe_blocked() {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    return sigismember(&mask, SIGPIPE) == 1;
}

subprocess_options piped_in() {
    subprocess_options o;
    o.in = stdio::pipe;
    return o;
}

coro<void> communicate_to_a_child_that_reads_nothing() {
    std::string input(4 << 20, 'x');
    asyncio::process p =
        co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), piped_in());
    asyncio::communicate_result r = co_await p.communicate(input);  // EPIPE at some point: no error
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(p.returncode(), 0);
    // The same once the child is known to be gone: the first write fails.
    asyncio::process q =
        co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), piped_in());
    int rc = co_await q.wait();
    EXPECT_EQ(rc, 0);
    r = co_await q.communicate(input);
    EXPECT_EQ(q.returncode(), 0);
}

TEST(SubprocessSigpipe, CommunicateWithAChildThatReadsNothingReturnsNormally) {
    sigpipe_default dfl;
    asyncio::run(communicate_to_a_child_that_reads_nothing());
    EXPECT_FALSE(sigpipe_pending());
    EXPECT_FALSE(sigpipe_blocked());  // the mask is as it was
}

// Python: BrokenPipeError from drain(), once.
coro<void> writer_to_a_gone_child(bool wait_first, bool writelines) {
    asyncio::process p =
        co_await asyncio::create_subprocess_exec("true", std::vector<std::string>(), piped_in());
    if (wait_first) {
        int rc = co_await p.wait();
        EXPECT_EQ(rc, 0);
    }
    asyncio::stream_writer in = p.stdin_writer();
    std::string data(4 << 20, 'x');
    if (writelines)
        in.writelines({std::string_view(data), std::string_view("more")});
    else
        in.write(data);  // never throws the error it meets: the next drain does
    int err = 0;
    try {
        co_await in.drain();
    } catch (const std::system_error& e) {
        err = e.code().value();
    }
    EXPECT_EQ(err, EPIPE);
    EXPECT_TRUE(in.is_closing());
    co_await in.drain();        // reported once
    co_await in.wait_closed();  // ... also here
    EXPECT_EQ(runtime_error_of([&] { in.write("x"); }), "write() on a closed stream");
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(SubprocessSigpipe, WriteToAGoneChildIsEpipeOnceNotASignal) {
    sigpipe_default dfl;
    asyncio::run(writer_to_a_gone_child(true, false));
    asyncio::run(writer_to_a_gone_child(true, true));
    asyncio::run(writer_to_a_gone_child(false, false));
    EXPECT_FALSE(sigpipe_pending());
    EXPECT_FALSE(sigpipe_blocked());
}

TEST(SubprocessSigpipe, ASigpipePendingBeforeStaysPendingAndTheMaskStays) {
    sigpipe_default dfl;
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    pthread_kill(pthread_self(), SIGPIPE);  // someone else's, pending while blocked
    ASSERT_TRUE(sigpipe_pending());
    asyncio::run(writer_to_a_gone_child(true, false));
    EXPECT_TRUE(sigpipe_pending());  // not taken by the library
    EXPECT_TRUE(sigpipe_blocked());
    timespec zero{};
    EXPECT_EQ(sigtimedwait(&pipe_set, nullptr, &zero), SIGPIPE);
    EXPECT_FALSE(sigpipe_pending());  // there was one only: the library's was consumed
}

// --- cancellation ----------------------------------------------------------------------------

coro<void> readline_cancelled_while_the_child_is_silent() {
    asyncio::process p =
        co_await asyncio::create_subprocess_shell("printf par; sleep 0.3; printf 'tial\\n'", piped_out());
    asyncio::stream_reader out = p.stdout_reader();
    int timeouts = 0;
    while (out.buffered() < 3 && timeouts < 100) {  // until "par" has arrived (and more reads waited)
        try {
            std::string line = co_await asyncio::wait_for(out.readline(), 20ms);
            ADD_FAILURE() << "a line came: " << line;
        } catch (const asyncio::timeout_error&) {
            ++timeouts;
        }
    }
    EXPECT_EQ(out.buffered(), 3u);
    std::string line = co_await out.readline();
    EXPECT_EQ(line, "partial\n");  // the cancelled readline took nothing
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
}

TEST(SubprocessStreams, ReadlineCancelledKeepsWhatArrived) {
    asyncio::run(readline_cancelled_while_the_child_is_silent());
}

coro<void> communicate_cancelled_keeps_what_was_read() {
    asyncio::process p =
        co_await asyncio::create_subprocess_shell("echo early; sleep 0.3; echo late", all_piped());
    asyncio::stream_writer in = p.stdin_writer();
    auto talking = asyncio::create_task(p.communicate());
    for (int i = 0; i < 300 && p.stdout_reader().buffered() < 6; ++i) co_await asyncio::sleep(5ms);
    EXPECT_EQ(p.stdout_reader().buffered(), 6u);  // "early\n", read by communicate()
    EXPECT_FALSE(talking.done());
    talking.cancel();
    bool cancelled = false;
    try {
        co_await talking;
    } catch (const asyncio::cancelled_error&) {
        cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(in.is_closing());  // communicate() closed stdin before it was cancelled
    asyncio::communicate_result r = co_await p.communicate();
    EXPECT_EQ(r.out, "early\nlate\n");
    EXPECT_EQ(p.returncode(), 0);
}

TEST(SubprocessStreams, CommunicateCancelledKeepsWhatWasRead) {
    asyncio::run(communicate_cancelled_keeps_what_was_read());
}

coro<void> handles_and_fds(pid_t* pid) {
    std::size_t fds_before = open_fds();
    std::optional<asyncio::stream_reader> kept;
    {
        asyncio::process p =
            co_await asyncio::create_subprocess_shell("echo started; exec sleep 10", all_piped());
        *pid = p.pid();
        asyncio::stream_writer in = p.stdin_writer();
        asyncio::stream_reader err = p.stderr_reader();
        kept = p.stdout_reader();
        std::string line = co_await kept->readline();
        EXPECT_EQ(line, "started\n");
        bool timed_out = co_await times_out(err.readline(), 20ms);  // the child says nothing there
        EXPECT_TRUE(timed_out);
        timed_out = co_await times_out(p.wait(), 20ms);
        EXPECT_TRUE(timed_out);
        p.kill();
    }  // the process is gone; stdout lives on in `kept`
    EXPECT_GT(open_fds(), fds_before);
    std::string rest = co_await kept->read();  // EOF: the child was killed
    EXPECT_EQ(rest, "");
    kept.reset();
    EXPECT_EQ(open_fds(), fds_before);
}

TEST(SubprocessStreams, CancelledReadsAndWaitLeaveNoFdAndNoZombie) {
    pid_t pid = -1;
    asyncio::run(handles_and_fds(&pid));
    ASSERT_GT(pid, 0);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {
        gone = reaped(pid);
        if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "process " << pid << " was not reaped";
}

}  // namespace
