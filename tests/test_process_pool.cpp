// asyncio::process_pool_executor: CPU-bound work in forked worker processes.
// ctest-labels: threads
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/process_pool.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- functions that run in the workers ----------------------------------------------------------

std::string echo(std::string_view s) { return std::string(s); }

std::string reverse(std::string_view s) { return std::string(s.rbegin(), s.rend()); }

std::string pid_of_worker(std::string_view) { return std::to_string(::getpid()); }

std::string throws_runtime(std::string_view s) { throw std::runtime_error("bad input: " + std::string(s)); }

std::string throws_int(std::string_view) { throw 42; }

std::string dies_by_sigkill(std::string_view) {
    std::raise(SIGKILL);
    return "unreachable";
}

std::string aborts(std::string_view) { std::abort(); }

std::string exits(std::string_view) { ::_exit(3); }

// Sleeps `s` milliseconds, then answers with its own pid.
std::string nap_then_pid(std::string_view s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(std::string(s))));
    return std::to_string(::getpid());
}

// Two pipes made before the pool forks: `rendezvous("a")` and `rendezvous("b")` only both
// return "met" if they run at the same time, in two workers.
int g_pipe_ab[2] = {-1, -1};
int g_pipe_ba[2] = {-1, -1};

std::string rendezvous(std::string_view who) {
    int out = who == "a" ? g_pipe_ab[1] : g_pipe_ba[1];
    int in = who == "a" ? g_pipe_ba[0] : g_pipe_ab[0];
    char c = 'x';
    if (::write(out, &c, 1) != 1) return "write failed";
    pollfd p{in, POLLIN, 0};
    if (::poll(&p, 1, 20'000) != 1) return "alone";
    if (::read(in, &c, 1) != 1) return "read failed";
    return "met";
}

// Blocks until the test writes a byte into the gate pipe (made before the pool forks).
int g_gate[2] = {-1, -1};

std::string wait_for_gate(std::string_view) {
    pollfd p{g_gate[0], POLLIN, 0};
    if (::poll(&p, 1, 20'000) != 1) return "gate never opened";
    char c;
    if (::read(g_gate[0], &c, 1) != 1) return "read failed";
    return "gate passed";
}

// --- tests --------------------------------------------------------------------------------------

TEST(ProcessPool, SizeIsWhatWasAskedForOrOnePerCore) {
    asyncio::process_pool_executor two(2);
    EXPECT_EQ(two.size(), 2u);
    asyncio::process_pool_executor dflt;
    EXPECT_EQ(dflt.size(), std::max(1u, std::thread::hardware_concurrency()));
}

asyncio::coro<void> round_trips(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    std::string a = co_await pool.run(&echo, "hello");
    out.push_back(a);
    std::string empty = co_await pool.run(&echo, "");
    out.push_back(empty);
    std::string binary("a\0b\0\0\xff\x01", 7);
    std::string b = co_await pool.run(&reverse, binary);
    out.push_back(b);
    // 1 MiB of every byte value, reversed by the worker.
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
    std::string r = co_await pool.run(&reverse, big);
    out.push_back(r == std::string(big.rbegin(), big.rend()) ? "big ok" : "big wrong");
    out.push_back(std::to_string(r.size()));
    std::string pid = co_await pool.run(&pid_of_worker, "");
    out.push_back(pid == std::to_string(::getpid()) ? "ran in this process" : "ran in a worker");
}

TEST(ProcessPool, RoundTripsOfBytes) {
    asyncio::process_pool_executor pool(2);
    std::vector<std::string> out;
    asyncio::run(round_trips(pool, out));
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(out[0], "hello");
    EXPECT_EQ(out[1], "");
    EXPECT_EQ(out[2], std::string("\x01\xff\0\0b\0a", 7));
    EXPECT_EQ(out[3], "big ok");
    EXPECT_EQ(out[4], std::to_string(1 << 20));
    EXPECT_EQ(out[5], "ran in a worker");
}

asyncio::coro<void> exceptions(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    try {
        std::string r = co_await pool.run(&throws_runtime, "xyz");
        out.push_back("no exception: " + r);
    } catch (const std::runtime_error& e) {
        out.push_back(e.what());
    }
    try {
        std::string r = co_await pool.run(&throws_int, "");
        out.push_back("no exception: " + r);
    } catch (const std::runtime_error& e) {
        out.push_back(e.what());
    }
    // The worker that reported an exception goes on working.
    std::string ok = co_await pool.run(&echo, "still here");
    out.push_back(ok);
}

TEST(ProcessPool, AnExceptionArrivesAsRuntimeErrorWithItsMessage) {
    asyncio::process_pool_executor pool(1);
    std::vector<std::string> out;
    asyncio::run(exceptions(pool, out));
    std::vector<std::string> expected{"bad input: xyz", "unknown exception in process pool worker",
                                      "still here"};
    EXPECT_EQ(out, expected);
}

asyncio::coro<std::string> error_of(asyncio::process_pool_executor& pool,
                                    asyncio::process_pool_executor::function fn) {
    try {
        std::string r = co_await pool.run(fn, "");
        co_return "no exception: " + r;
    } catch (const std::runtime_error& e) {
        co_return e.what();
    }
}

asyncio::coro<void> crashes(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    std::string before = co_await pool.run(&pid_of_worker, "");
    out.push_back(before);
    std::string killed = co_await error_of(pool, &dies_by_sigkill);
    out.push_back(killed);
    std::string aborted = co_await error_of(pool, &aborts);
    out.push_back(aborted);
    std::string exited = co_await error_of(pool, &exits);
    out.push_back(exited);
    // The pool replaced the dead worker: it still works.
    std::string after = co_await pool.run(&pid_of_worker, "");
    out.push_back(after);
    std::string echoed = co_await pool.run(&echo, "alive");
    out.push_back(echoed);
}

TEST(ProcessPool, AWorkerThatDiesGivesAnErrorAndIsReplaced) {
    asyncio::process_pool_executor pool(1);
    std::vector<std::string> out;
    asyncio::run(crashes(pool, out));
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(out[1], "process pool worker died (killed by signal " + std::to_string(SIGKILL) + ")");
    EXPECT_EQ(out[2], "process pool worker died (killed by signal " + std::to_string(SIGABRT) + ")");
    EXPECT_EQ(out[3], "process pool worker died (exited with status 3)");
    EXPECT_NE(out[0], out[4]) << "the dead worker was not replaced";
    EXPECT_EQ(out[5], "alive");
    EXPECT_EQ(pool.size(), 1u);
}

asyncio::coro<void> six_on_two(asyncio::process_pool_executor& pool, std::vector<std::string>& pids) {
    auto j1 = pool.run(&nap_then_pid, "20");
    auto j2 = pool.run(&nap_then_pid, "1");
    auto j3 = pool.run(&echo, "third");
    auto j4 = pool.run(&reverse, "ruof");
    auto j5 = pool.run(&nap_then_pid, "5");
    auto j6 = pool.run(&echo, "sixth");
    auto [a, b, c, d, e, f] = co_await asyncio::gather(std::move(j1), std::move(j2), std::move(j3),
                                                       std::move(j4), std::move(j5), std::move(j6));
    pids = {a, b, c, d, e, f};
}

TEST(ProcessPool, SixJobsOnTwoWorkersViaGather) {
    asyncio::process_pool_executor pool(2);
    std::vector<std::string> out;
    asyncio::run(six_on_two(pool, out));
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(out[2], "third");
    EXPECT_EQ(out[3], "four");
    EXPECT_EQ(out[5], "sixth");
    std::set<std::string> pids{out[0], out[1], out[4]};
    EXPECT_LE(pids.size(), 2u);
    EXPECT_EQ(pids.count(std::to_string(::getpid())), 0u);
}

asyncio::coro<void> meet_in_two_workers(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    auto ja = pool.run(&rendezvous, "a");
    auto jb = pool.run(&rendezvous, "b");
    auto [a, b] = co_await asyncio::gather(std::move(ja), std::move(jb));
    out = {a, b};
}

TEST(ProcessPool, JobsRunConcurrentlyInDifferentWorkers) {
    ASSERT_EQ(::pipe(g_pipe_ab), 0);
    ASSERT_EQ(::pipe(g_pipe_ba), 0);
    std::vector<std::string> out;
    {
        asyncio::process_pool_executor pool(2);  // forks after the pipes exist
        asyncio::run(meet_in_two_workers(pool, out));
    }
    for (int fd : {g_pipe_ab[0], g_pipe_ab[1], g_pipe_ba[0], g_pipe_ba[1]}) ::close(fd);
    std::vector<std::string> expected{"met", "met"};
    EXPECT_EQ(out, expected);
}

asyncio::coro<std::string> await_gated(asyncio::process_pool_executor& pool) {
    std::string r = co_await pool.run(&wait_for_gate, "");
    co_return r;
}

asyncio::coro<void> cancel_a_job(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    auto& loop = asyncio::get_running_loop();
    asyncio::task<std::string> t = loop.create_task(await_gated(pool));
    co_await asyncio::sleep(10ms);  // the job is (most likely) in the worker now
    t.cancel("no longer needed");
    try {
        std::string r = co_await t;
        out.push_back("no exception: " + r);
    } catch (const asyncio::cancelled_error& e) {
        out.push_back("cancelled: " + e.message());
    }
    // "At once": the worker is still blocked on the gate, which only we can open.
    char c = 'g';
    out.push_back(::write(g_gate[1], &c, 1) == 1 ? "gate opened" : "gate write failed");
    // The one worker finishes the dropped job first; the next job gets its own answer.
    std::string next = co_await pool.run(&echo, "next job");
    out.push_back(next);
}

TEST(ProcessPool, CancellingTheAwaitingTask) {
    ASSERT_EQ(::pipe(g_gate), 0);
    std::vector<std::string> out;
    {
        asyncio::process_pool_executor pool(1);  // forks after the pipe exists
        asyncio::run(cancel_a_job(pool, out));
    }
    ::close(g_gate[0]);
    ::close(g_gate[1]);
    std::vector<std::string> expected{"cancelled: no longer needed", "gate opened", "next job"};
    EXPECT_EQ(out, expected);
}

asyncio::coro<void> two_pids(asyncio::process_pool_executor& pool, std::vector<std::string>& out) {
    auto ja = pool.run(&nap_then_pid, "20");
    auto jb = pool.run(&nap_then_pid, "20");
    auto [a, b] = co_await asyncio::gather(std::move(ja), std::move(jb));
    out = {a, b};
}

asyncio::coro<std::string> run_after_shutdown(asyncio::process_pool_executor& pool) {
    try {
        std::string r = co_await pool.run(&echo, "x");
        co_return "no exception: " + r;
    } catch (const std::runtime_error& e) {
        co_return e.what();
    }
}

TEST(ProcessPool, RunAfterShutdownThrowsAndTheWorkersAreGone) {
    asyncio::process_pool_executor pool(2);
    std::vector<std::string> pids;
    asyncio::run(two_pids(pool, pids));
    pool.shutdown();
    std::string what = asyncio::run(run_after_shutdown(pool));
    EXPECT_EQ(what, "process pool is shut down");
    // shutdown() reaped the workers: they are no longer our children.
    for (const auto& p : pids) {
        pid_t pid = static_cast<pid_t>(std::stol(p));
        errno = 0;
        EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
        EXPECT_EQ(errno, ECHILD);
    }
    pool.shutdown();  // a second shutdown is harmless
}

asyncio::coro<std::string> null_function(asyncio::process_pool_executor& pool) {
    try {
        std::string r = co_await pool.run(nullptr, "x");
        co_return "no exception: " + r;
    } catch (const std::invalid_argument& e) {
        co_return e.what();
    }
}

TEST(ProcessPool, NullFunctionIsInvalidArgument) {
    asyncio::process_pool_executor pool(1);
    EXPECT_EQ(asyncio::run(null_function(pool)), "process_pool_executor::run needs a function");
}

}  // namespace
