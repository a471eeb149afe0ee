// Tests of deadlock detection (event_loop: when nothing can wake a waiting main task it fails with
// deadlock_error and a report), dump_tasks (debug.hpp) and keep-alive tokens: the report names
// every waiting task with the co_await lines it waits at, the cycle of a lock-order inversion, the
// chain to an event nobody can set; no false report while something outside the tasks can still
// wake them (a timer, an executor job, a thread holding a keep-alive token, an fd, a signal
// handler, run_coroutine_threadsafe).
// ctest-labels: threads
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/debug.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/run.hpp>
#include <asyncio/run_coroutine_threadsafe.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/subprocess.hpp>
#include <asyncio/sync/event.hpp>
#include <asyncio/sync/lock.hpp>
#include <asyncio/task.hpp>
#include <asyncio/task_group.hpp>
#include <asyncio/to_thread.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using asyncio::coro;

const std::string this_file = __FILE__;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
std::string at_line(int line) { return this_file + ":" + std::to_string(line); }

asyncio::run_options debug_options() {
    asyncio::run_options o;
    o.debug = true;
    return o;
}

// --- a future nobody sets --------------------------------------------------------------------

int g_future_line = 0;

coro<void> awaits_forgotten_future() {
    auto f = asyncio::get_running_loop().create_future<int>();
    g_future_line = __LINE__ + 1;
    co_await f;
}

TEST(Deadlock, MainAwaitingAFutureNobodySetsFailsWithDeadlockError) {
    std::string what;
    try {
        asyncio::run(awaits_forgotten_future(), debug_options());
    } catch (const asyncio::deadlock_error& e) {
        what = e.what();
    }
    ASSERT_FALSE(what.empty()) << "no deadlock_error";
    EXPECT_TRUE(contains(what, "deadlock: every task waits")) << what;
    EXPECT_TRUE(contains(what, "task 'main")) << what;
    EXPECT_TRUE(contains(what, "(nobody has set it)")) << what;
    EXPECT_TRUE(contains(what, at_line(g_future_line))) << what;
    EXPECT_TRUE(contains(what, "that nothing can wake")) << what;
}

// --- lock-order inversion: a cycle -------------------------------------------------------------

asyncio::lock g_first, g_second;
int g_a_line = 0, g_b_line = 0, g_gather_line = 0;
std::vector<std::string> g_log;

coro<void> takes_first_then_second() {
    auto a = co_await g_first.scoped();
    co_await asyncio::sleep(1ms);
    try {
        g_a_line = __LINE__ + 1;
        auto b = co_await g_second.scoped();
    } catch (const asyncio::cancelled_error&) {
        g_log.push_back("A cancelled, releases first");
        throw;
    }
}

coro<void> takes_second_then_first() {
    auto b = co_await g_second.scoped();
    co_await asyncio::sleep(1ms);
    g_b_line = __LINE__ + 1;
    auto a = co_await g_first.scoped();
}

coro<void> lock_inversion(std::string* what) {
    auto ta = asyncio::create_task(takes_first_then_second(), "A");
    auto tb = asyncio::create_task(takes_second_then_first(), "B");
    try {
        g_gather_line = __LINE__ + 1;
        co_await asyncio::gather(ta, tb);
    } catch (const asyncio::deadlock_error& e) {
        *what = e.what();
        g_log.push_back("main caught deadlock_error");
    }
    // gather cancelled both children before the error reached here: no task is left behind.
    EXPECT_TRUE(ta.done());
    EXPECT_TRUE(tb.done());
    EXPECT_FALSE(g_first.locked());
    EXPECT_FALSE(g_second.locked());
}

TEST(Deadlock, LockOrderInversionIsReportedAsACycle) {
    std::string what;
    g_log.clear();
    asyncio::run(lock_inversion(&what), debug_options());
    ASSERT_FALSE(what.empty());
    EXPECT_TRUE(contains(what, "3 tasks wait")) << what;
    EXPECT_TRUE(contains(what, "task 'A' waits for lock")) << what;
    EXPECT_TRUE(contains(what, "held by task 'B'")) << what;
    EXPECT_TRUE(contains(what, "held by task 'A'")) << what;
    EXPECT_TRUE(contains(what, "cycle: task 'A' waits for lock")) << what;
    EXPECT_TRUE(contains(what, at_line(g_a_line))) << what;
    EXPECT_TRUE(contains(what, at_line(g_b_line))) << what;
    EXPECT_TRUE(contains(what, at_line(g_gather_line))) << what;
    EXPECT_EQ(g_log, (std::vector<std::string>{"A cancelled, releases first", "main caught deadlock_error"}));
}

// --- an event nobody sets: the chain ---------------------------------------------------------

asyncio::event g_never;

coro<void> waits_for_event() { co_await g_never.wait(); }

coro<void> chain_to_event() {
    auto t = asyncio::create_task(waits_for_event(), "waiter");
    co_await t;
}

TEST(Deadlock, ChainToAnEventNobodyCanSet) {
    std::string what;
    try {
        asyncio::run(chain_to_event());  // not only in debug mode
    } catch (const asyncio::deadlock_error& e) {
        what = e.what();
    }
    ASSERT_FALSE(what.empty());
    EXPECT_TRUE(contains(what, "chain: task 'main")) << what;
    EXPECT_TRUE(contains(what, "waits for task 'waiter', which waits for event")) << what;
    EXPECT_TRUE(contains(what, "that nothing can wake")) << what;
}

coro<void> recovers(int* rounds) {
    for (int i = 0; i < 2; ++i) {
        auto f = asyncio::get_running_loop().create_future<void>();
        try {
            co_await f;
        } catch (const asyncio::deadlock_error&) {
            ++*rounds;
        }
    }
}

TEST(Deadlock, TheMainTaskMayCatchItAndGoOn) {
    int rounds = 0;
    asyncio::run(recovers(&rounds));
    EXPECT_EQ(rounds, 2);
}

TEST(Deadlock, RunUntilCompleteOfAPlainFutureFailsToo) {
    asyncio::event_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_THROW(loop.run_until_complete(f), asyncio::deadlock_error);
    loop.close();
}

// --- no false reports ------------------------------------------------------------------------

coro<void> waits_on_many_things() {
    // A timer.
    co_await asyncio::sleep(5ms);
    // An executor job.
    int v = co_await asyncio::to_thread([] {
        std::this_thread::sleep_for(30ms);
        return 7;
    });
    EXPECT_EQ(v, 7);
    // Another thread that said it will call in.
    auto& loop = asyncio::get_running_loop();
    auto f = loop.create_future<int>();
    asyncio::keep_alive_token token = loop.keep_alive();
    // The future's handle is moved on, never copied or dropped on the other thread (futures
    // are loop-thread objects).
    std::thread th([&loop, f, tok = std::move(token)]() mutable {
        std::this_thread::sleep_for(30ms);
        loop.call_soon_threadsafe([f = std::move(f)]() { f.set_result(3); });
        tok.reset();
    });
    int r = co_await f;
    th.join();
    EXPECT_EQ(r, 3);
}

TEST(Deadlock, NoFalseReportForTimersExecutorsAndKeepAliveTokens) {
    asyncio::run(waits_on_many_things(), debug_options());
}

coro<void> waits_on_a_socket() {
    int fds[2];
    int made = ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    EXPECT_EQ(made, 0);
    if (made != 0) co_return;
    auto& loop = asyncio::get_running_loop();
    auto readable = loop.create_future<void>();
    loop.add_reader(fds[0], [readable]() {
        if (!readable.done()) readable.set_result();
    });
    std::thread writer([fd = fds[1]] {
        std::this_thread::sleep_for(30ms);
        char c = 'x';
        EXPECT_EQ(::write(fd, &c, 1), 1);
    });
    co_await readable;
    loop.remove_reader(fds[0]);
    writer.join();
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(Deadlock, NoFalseReportWhileWatchingAnFd) { asyncio::run(waits_on_a_socket(), debug_options()); }

// A task waiting for a child process (its pidfd is watched; without pidfd, waitpid is polled on
// a timer) and reading its stdout can be woken by the child: no report.
coro<void> waits_on_a_child() {
    asyncio::subprocess_options o;
    o.out = asyncio::stdio::pipe;
    asyncio::process p = co_await asyncio::create_subprocess_shell("sleep 0.05; echo done", o);
    std::string line = co_await p.stdout_reader().readline();
    EXPECT_EQ(line, "done\n");
    int rc = co_await p.wait();
    EXPECT_EQ(rc, 0);
    std::vector<std::string> args(1, "0.05");
    asyncio::process q = co_await asyncio::create_subprocess_exec("sleep", std::move(args));
    int rq = co_await q.wait();
    EXPECT_EQ(rq, 0);
}

TEST(Deadlock, NoFalseReportWhileWaitingForAChildProcess) {
    asyncio::run(waits_on_a_child(), debug_options());
    ::setenv("ASYNCIO_NO_PIDFD", "1", 1);
    asyncio::run(waits_on_a_child(), debug_options());
    ::unsetenv("ASYNCIO_NO_PIDFD");
}

coro<int> answer() {
    co_await asyncio::sleep(1ms);
    co_return 42;
}

TEST(Deadlock, NoFalseReportForRunCoroutineThreadsafe) {
    // The loop runs in another thread with nothing to do but wait for the caller.
    // The loop thread waits for a `stop` future that only another thread sets; it holds a
    // keep-alive token meanwhile (without it, the loop would report a deadlock at once).
    asyncio::event_loop* loop_ptr = nullptr;
    asyncio::future<void>* stop_ptr = nullptr;
    std::promise<void> ready;
    bool deadlocked = false;
    std::thread loop_thread([&] {
        asyncio::event_loop loop;
        auto stop = loop.create_future<void>();
        loop_ptr = &loop;
        stop_ptr = &stop;
        asyncio::keep_alive_token token = loop.keep_alive();
        ready.set_value();
        try {
            loop.run_until_complete(stop);
        } catch (const asyncio::deadlock_error&) {
            deadlocked = true;
        }
        token.reset();
        loop.close();
    });
    ready.get_future().wait();
    auto result = asyncio::run_coroutine_threadsafe(answer(), *loop_ptr);
    EXPECT_EQ(result.get(), 42);
    loop_ptr->call_soon_threadsafe([stop_ptr]() { stop_ptr->set_result(); });
    loop_thread.join();
    EXPECT_FALSE(deadlocked);
}

coro<void> waits_for_signal(int* got) {
    auto& loop = asyncio::get_running_loop();
    auto f = loop.create_future<void>();
    loop.add_signal_handler(SIGUSR2, [f]() {
        if (!f.done()) f.set_result();
    });
    std::thread sender([] {
        std::this_thread::sleep_for(30ms);
        ::kill(::getpid(), SIGUSR2);
    });
    co_await f;
    sender.join();
    loop.remove_signal_handler(SIGUSR2);
    ++*got;
}

TEST(Deadlock, NoFalseReportWhileASignalHandlerIsSet) {
    int got = 0;
    asyncio::run(waits_for_signal(&got), debug_options());
    EXPECT_EQ(got, 1);
}

// --- dump_tasks ------------------------------------------------------------------------------

int g_child_line = 0, g_group_line = 0;

coro<void> child_sleeps() {
    g_child_line = __LINE__ + 1;
    co_await asyncio::sleep(1h);
}

coro<void> group_body(asyncio::task_group& tg, std::string* out) {
    tg.create_task(child_sleeps(), "group-child");
    co_await asyncio::sleep(0s);
    std::ostringstream os;
    asyncio::dump_tasks(os);
    *out = os.str();
    tg.cancel();
}

coro<void> tree(std::string* out) {
    auto body = [out](asyncio::task_group& tg) { return group_body(tg, out); };
    g_group_line = __LINE__ + 1;
    co_await asyncio::with_task_group(body);
}

coro<void> dump_main(std::string* out) {
    auto t = asyncio::create_task(tree(out), "grouping");
    co_await t;
}

TEST(DumpTasks, PrintsTheTreeOfWhoAwaitsWhomWithFileLines) {
    std::string out;
    asyncio::run(dump_main(&out), debug_options());
    EXPECT_TRUE(contains(out, "asyncio: 3 tasks")) << out;
    // main awaits "grouping", whose task group holds "group-child".
    auto main_pos = out.find("* task 'main");
    auto grouping_pos = out.find("    * task 'grouping' is running");
    auto child_pos = out.find("        * task 'group-child' waits for sleep");
    EXPECT_NE(main_pos, std::string::npos) << out;
    EXPECT_NE(grouping_pos, std::string::npos) << out;
    EXPECT_NE(child_pos, std::string::npos) << out;
    EXPECT_LT(main_pos, grouping_pos);
    EXPECT_LT(grouping_pos, child_pos);
    EXPECT_TRUE(contains(out, at_line(g_child_line))) << out;
}

coro<void> raise_usr1() {
    std::raise(SIGUSR1);
    co_await asyncio::sleep(1ms);  // the loop handles the signal meanwhile
}

TEST(DumpTasks, Sigusr1InDebugModePrintsTheTreeToStderr) {
    testing::internal::CaptureStderr();
    asyncio::run(raise_usr1(), debug_options());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(contains(err, "asyncio: 1 task")) << err;
    EXPECT_TRUE(contains(err, "waits for sleep")) << err;
}

}  // namespace
