// Tests of <asyncio/testing.hpp>: ASYNC_TEST / ASYNC_TEST_F (a coroutine body on a fresh debug
// loop on virtual time; fixtures with options and async set-up/tear-down), virtual time itself
// (a one-hour timeout in no wall time, exact and repeatable; no jump while work is ready or a
// thread works for the loop), the failures run_test reports (a leaked task, an unretrieved task
// exception, an exception in a callback, an exception escaping the body, a cancelled body, a
// deadlock, a failing set-up), the CO_ASSERT_* macros, and reports()/take_reports().
//
// ctest-labels: threads
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/sync/lock.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <asyncio/timeout.hpp>
#include <asyncio/to_thread.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using log_t = std::vector<std::string>;
namespace testing_ = asyncio::testing;

asyncio::clock::duration loop_now() { return asyncio::get_running_loop().time().time_since_epoch(); }

coro<int> add_later(int a, int b, std::chrono::milliseconds d) {
    co_await asyncio::sleep(d);
    co_return a + b;
}

// --- the body runs as the main task of a fresh debug loop on virtual time ------------------------

ASYNC_TEST(AsyncTest, BodyIsTheMainTaskOfAFreshDebugLoopOnVirtualTime) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    EXPECT_EQ(asyncio::current_task().name(), "main");
    EXPECT_TRUE(loop.get_debug());
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);  // nothing left from another test
    EXPECT_EQ(loop_now(), 0ns);                  // a fresh virtual clock starts at 0
    co_await asyncio::sleep(5ms);
    EXPECT_EQ(loop_now(), 5ms);
}

ASYNC_TEST(AsyncTest, TasksGatherAndExpectWithCoAwaitInTheArguments) {
    EXPECT_EQ(co_await add_later(1, 2, 3ms), 3);
    auto t = asyncio::create_task(add_later(2, 3, 10ms), "adder");
    auto [a, b] = co_await asyncio::gather(add_later(1, 1, 5ms), t);
    EXPECT_EQ(a, 2);
    EXPECT_EQ(b, 5);
    EXPECT_EQ(loop_now(), 13ms);
}

ASYNC_TEST(AsyncTest, CoAssertionsThatHoldLetTheBodyGoOn) {
    int steps = 0;
    CO_ASSERT_TRUE(co_await add_later(1, 0, 1ms) == 1);
    ++steps;
    CO_ASSERT_FALSE(co_await add_later(0, 0, 1ms) == 1);
    ++steps;
    CO_ASSERT_EQ(co_await add_later(2, 2, 1ms), 4) << "context may be streamed";
    CO_ASSERT_NE(co_await add_later(2, 2, 1ms), 5);
    CO_ASSERT_LT(1, co_await add_later(1, 1, 1ms));
    CO_ASSERT_LE(2, co_await add_later(1, 1, 1ms));
    CO_ASSERT_GT(co_await add_later(1, 1, 1ms), 1);
    CO_ASSERT_GE(co_await add_later(1, 1, 1ms), 2);
    CO_ASSERT_STREQ("a", "a");
    ++steps;
    CO_ASSERT_THROW(co_await asyncio::wait_for(add_later(1, 1, 1h), 1min), asyncio::timeout_error);
    CO_ASSERT_THROW(throw std::runtime_error("x"), std::runtime_error);
    ++steps;
    EXPECT_EQ(steps, 4);
}

// --- virtual time -----------------------------------------------------------------------------------

coro<void> one_hour_timeout(std::vector<asyncio::clock::duration>* seen) {
    auto& loop = asyncio::get_running_loop();
    auto t0 = loop.time();
    bool timed_out = false;
    try {
        co_await asyncio::wait_for(add_later(1, 2, std::chrono::milliseconds(2h)), 1h);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    seen->push_back(loop.time() - t0);
    auto never = [] { return add_later(1, 2, std::chrono::milliseconds(24h)); };
    timed_out = false;
    try {
        co_await asyncio::timeout(90min, never);
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    seen->push_back(loop.time() - t0);
}

TEST(VirtualTime, AOneHourTimeoutTakesNoWallTimeAndIsExact) {
    std::vector<asyncio::clock::duration> seen;
    auto wall0 = std::chrono::steady_clock::now();
    testing_::test_result r = testing_::run_test(one_hour_timeout(&seen));
    auto wall = std::chrono::steady_clock::now() - wall0;
    EXPECT_TRUE(r.passed());
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], 1h);          // exactly: the clock jumped to the timeout's deadline
    EXPECT_EQ(seen[1], 1h + 90min);  // and then to the second one
    // 2.5 hours of loop time; the bound is generous (a loaded sanitizer build): the point is
    // that no hour was waited.
    EXPECT_LT(wall, 5s);
}

// Many tasks with interleaved timers: the log (with timestamps) is exact and the same each run.
coro<void> ticker(std::string name, std::chrono::milliseconds period, int n, log_t* log) {
    for (int i = 0; i < n; ++i) {
        co_await asyncio::sleep(period);
        log->push_back(
            name + "@" +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(loop_now()).count()));
    }
}

coro<void> tickers(log_t* log) {
    auto a = asyncio::create_task(ticker("a", 30ms, 3, log));
    auto b = asyncio::create_task(ticker("b", 45ms, 2, log));
    auto c = asyncio::create_task(ticker("c", 90ms, 1, log));
    co_await a;
    co_await b;
    co_await c;
}

TEST(VirtualTime, TimersFireInDeadlineThenSchedulingOrderTheSameOnEveryRun) {
    log_t first, second;
    testing_::run_test(tickers(&first));
    testing_::run_test(tickers(&second));
    // At 90 ms three timers are due: a's (armed at 60), b's (armed at 45) and c's (armed at 0):
    // by deadline, then in the order they were armed.
    log_t expected{"a@30", "b@45", "a@60", "c@90", "b@90", "a@90"};
    EXPECT_EQ(first, expected);
    EXPECT_EQ(second, first);
}

// Time stands still while anything is ready: a task that keeps yielding delays the jump.
coro<void> spin(int n, std::vector<asyncio::clock::duration>* times) {
    for (int i = 0; i < n; ++i) {
        times->push_back(loop_now());
        co_await asyncio::sleep(0s);
    }
}

ASYNC_TEST(VirtualTime, NoJumpWhileATaskIsReady) {
    std::vector<asyncio::clock::duration> times;
    auto sleeper = asyncio::create_task(add_later(0, 0, std::chrono::milliseconds(1h)));
    auto spinner = asyncio::create_task(spin(100, &times));
    co_await spinner;
    EXPECT_EQ(times.size(), 100u);
    for (auto t : times) EXPECT_EQ(t, 0ns);
    EXPECT_FALSE(sleeper.done());
    co_await sleeper;
    EXPECT_EQ(loop_now(), 1h);
}

// Work on another thread for the loop (run_in_executor / to_thread hold a keep-alive token)
// stops the jump: its result comes before a timer that is due later in loop time.
int slow_add(int a, int b) {
    std::this_thread::sleep_for(20ms);
    return a + b;
}

ASYNC_TEST(VirtualTime, NoJumpWhileAThreadWorksForTheLoop) {
    auto sleeper = asyncio::create_task(add_later(0, 0, std::chrono::milliseconds(1h)));
    co_await asyncio::sleep(0s);  // the 1 h timer is armed
    int v = co_await asyncio::to_thread(slow_add, 2, 3);
    EXPECT_EQ(v, 5);
    EXPECT_LT(loop_now(), 1min);  // the hour did not pass while the thread worked
    EXPECT_FALSE(sleeper.done());
    co_await sleeper;
    EXPECT_EQ(loop_now(), 1h);
}

// --- fixtures ---------------------------------------------------------------------------------------

struct WithSetUp : testing_::async_test {
    log_t log;
    int value = 0;
    coro<void> async_set_up() override {
        co_await asyncio::sleep(1ms);
        value = 41;
        log.push_back("set up at " + std::to_string(loop_now().count()));
    }
    coro<void> async_tear_down() override {
        co_await asyncio::sleep(1ms);
        log.push_back("tear down");
        // The same loop and main task as the body.
        EXPECT_EQ(asyncio::current_task().name(), "main");
    }
    void TearDown() override {
        log_t expected{"set up at 1000000", "body sees 41", "tear down"};
        EXPECT_EQ(log, expected);
    }
};

ASYNC_TEST_F(WithSetUp, SetUpBodyTearDownInOrderInOneLoop) {
    co_await asyncio::sleep(1ms);
    log.push_back("body sees " + std::to_string(value));
}

struct RealTimeNoDebug : testing_::async_test {
  protected:  // an override may be protected
    testing_::test_options options() const override {
        return {.debug = false, .clock = asyncio::clock_kind::real_time};
    }
};

ASYNC_TEST_F(RealTimeNoDebug, OptionsChooseTheClockAndDebugMode) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    EXPECT_FALSE(loop.get_debug());
    // Real time: the loop's clock is steady_clock.
    auto t0 = loop.time();
    EXPECT_LE(t0, asyncio::clock::now());
    EXPECT_GT(t0.time_since_epoch(), 0ns);
    co_await asyncio::sleep(5ms);
    EXPECT_GE(loop.time() - t0, 5ms);
}

// Any GoogleTest fixture works; its SetUp/TearDown run outside the loop, around the body.
struct PlainFixture : ::testing::Test {
    int value = 0;
    void SetUp() override { value = 7; }
};

ASYNC_TEST_F(PlainFixture, SeesTheFixtureAndRunsOnTheDefaults) {
    EXPECT_TRUE(asyncio::get_running_loop().get_debug());
    co_await asyncio::sleep(1h);
    EXPECT_EQ(loop_now(), 1h);
    EXPECT_EQ(value, 7);
}

// A plain TEST and an ASYNC_TEST may share a suite (and TEST_F with ASYNC_TEST_F).
TEST(AsyncTest, APlainTestInTheSameSuite) { SUCCEED(); }
TEST_F(WithSetUp, APlainTestFInTheSameSuite) {
    log = {"set up at 1000000", "body sees 41", "tear down"};  // what TearDown expects
}

// --- failures: each kind is detected, with a message that says what -------------------------------

// Runs `fn` and returns the GoogleTest failures it produced (instead of failing this test).
template <class F>
std::vector<::testing::TestPartResult> failures_of(F fn) {
    ::testing::TestPartResultArray results;
    {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
        fn();
    }
    std::vector<::testing::TestPartResult> out;
    for (int i = 0; i < results.size(); ++i) out.push_back(results.GetTestPartResult(i));
    return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

coro<void> sleep_logging_cancel(std::chrono::milliseconds d, log_t* log) {
    try {
        co_await asyncio::sleep(d);
        log->push_back("woke");
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("cancelled: " + e.message());
        throw;
    }
}

coro<void> leaks_a_task(log_t* log) {
    asyncio::create_task(sleep_logging_cancel(std::chrono::milliseconds(1h), log), "forgotten sleeper");
    co_await asyncio::sleep(1ms);
}

TEST(RunTest, ALeakedTaskFailsTheTestIsNamedThenCancelledAndAwaited) {
    log_t log;
    EXPECT_NONFATAL_FAILURE(testing_::run_test(leaks_a_task(&log)), "task 'forgotten sleeper'");
    // Cancelled and awaited before run_test returned: its cleanup ran.
    EXPECT_EQ(log, log_t{"cancelled: cancelled by asyncio::testing: leaked by the test"});

    log.clear();
    testing_::test_result r;
    auto f = failures_of([&] { r = testing_::run_test(leaks_a_task(&log)); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(f[0].nonfatally_failed());
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "1 task was still pending when the test body returned")) << m;
    EXPECT_TRUE(contains(m, "test_testing.cpp:")) << m;  // where it waits
    EXPECT_TRUE(contains(f[0].file_name(), "test_testing.cpp"));
    ASSERT_EQ(r.leaked.size(), 1u);
    EXPECT_EQ(r.leaked[0].name, "forgotten sleeper");
    EXPECT_FALSE(r.passed());
    EXPECT_FALSE(r.error);
    EXPECT_TRUE(r.reports.empty());
}

coro<void> leaks_two(log_t* log) {
    asyncio::create_task(sleep_logging_cancel(std::chrono::milliseconds(1h), log), "first");
    asyncio::create_task(sleep_logging_cancel(std::chrono::milliseconds(2h), log), "second");
    co_return;  // they never even started
}

TEST(RunTest, SeveralLeakedTasksAreOneFailureNamingEach) {
    log_t log;
    auto f = failures_of([&] { testing_::run_test(leaks_two(&log)); });
    ASSERT_EQ(f.size(), 1u);
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "2 tasks were still pending")) << m;
    EXPECT_TRUE(contains(m, "task 'first'")) << m;
    EXPECT_TRUE(contains(m, "task 'second'")) << m;
    EXPECT_TRUE(log.empty());  // cancelled before they ever ran: their bodies did not run
}

coro<void> fails_soon(std::string what) {
    co_await asyncio::sleep(1ms);
    throw std::runtime_error(what);
}

coro<void> drops_a_failed_task() {
    {
        auto t = asyncio::create_task(fails_soon("boom"), "doomed");
        co_await asyncio::sleep(5ms);
        EXPECT_TRUE(t.done());
    }  // the last handle goes: nobody ever looked at its exception
    co_await asyncio::sleep(1ms);
}

TEST(RunTest, AnUnretrievedTaskExceptionFailsTheTest) {
    EXPECT_NONFATAL_FAILURE(testing_::run_test(drops_a_failed_task()), "std::runtime_error: boom");
    testing_::test_result r;
    auto f = failures_of([&] { r = testing_::run_test(drops_a_failed_task()); });
    ASSERT_EQ(f.size(), 1u);
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "exception handler was called")) << m;
    EXPECT_TRUE(contains(m, "Task exception was never retrieved (task 'doomed')")) << m;
    EXPECT_TRUE(contains(m, "exception: std::runtime_error: boom")) << m;
    ASSERT_EQ(r.reports.size(), 1u);
    EXPECT_TRUE(r.leaked.empty());
}

coro<void> throws_in_a_callback() {
    asyncio::get_running_loop().call_soon([] { throw std::invalid_argument("callback boom"); });
    co_await asyncio::sleep(1ms);
}

TEST(RunTest, AnExceptionInACallbackFailsTheTest) {
    auto f = failures_of([] { testing_::run_test(throws_in_a_callback()); });
    ASSERT_EQ(f.size(), 1u);
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "Exception in callback")) << m;
    EXPECT_TRUE(contains(m, "std::invalid_argument: callback boom")) << m;
}

coro<void> forgets_a_coroutine() {
    {
        coro<int> forgotten = add_later(1, 2, 1ms);  // made, never awaited
    }
    co_await asyncio::sleep(1ms);
}

TEST(RunTest, AForgottenCoroutineFailsTheTest) {
    auto f = failures_of([] { testing_::run_test(forgets_a_coroutine()); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(contains(f[0].message(), "coroutine 'add_later' was never awaited")) << f[0].message();
}

coro<void> throws_out_of_the_body() {
    co_await asyncio::sleep(1ms);
    throw std::logic_error("escaped");
}

TEST(RunTest, AnExceptionEscapingTheBodyFailsTheTest) {
    EXPECT_NONFATAL_FAILURE(testing_::run_test(throws_out_of_the_body()),
                            "exception escaped the test body: std::logic_error: escaped");
    testing_::test_result r;
    failures_of([&] { r = testing_::run_test(throws_out_of_the_body()); });
    EXPECT_TRUE(r.error);
    EXPECT_EQ(testing_::describe_exception(r.error), "std::logic_error: escaped");
}

coro<void> cancelled_body() {
    asyncio::current_task().cancel("bye");
    co_await asyncio::sleep(1ms);
}

TEST(RunTest, ACancelledBodyFailsTheTestWithTheMessage) {
    EXPECT_NONFATAL_FAILURE(testing_::run_test(cancelled_body()),
                            "exception escaped the test body: asyncio::cancelled_error: 'bye'");
}

coro<void> waits_forever() {
    asyncio::future<int> nobody_sets_this = asyncio::get_running_loop().create_future<int>();
    co_await nobody_sets_this;
}

TEST(RunTest, ADeadlockFailsTheTestWithTheLoopsReport) {
    auto f = failures_of([] { testing_::run_test(waits_forever()); });
    ASSERT_EQ(f.size(), 1u);
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "deadlock")) << m;
    EXPECT_TRUE(contains(m, "asyncio::deadlock_error")) << m;
    EXPECT_TRUE(contains(m, "'main'")) << m;  // the report names the waiting task
}

coro<void> holds_and_waits(asyncio::lock* l, asyncio::future<void> never) {
    auto guard = co_await l->scoped();
    co_await never;
}

// The lock outlives the body: the holder, leaked, is cancelled after the body's frame is gone.
coro<void> lock_deadlock(asyncio::lock* l) {
    asyncio::future<void> never = asyncio::get_running_loop().create_future<void>();
    auto holder = asyncio::create_task(holds_and_waits(l, never), "holder");
    co_await asyncio::sleep(1ms);
    auto guard = co_await l->scoped();
}

TEST(RunTest, ADeadlockOverALockIsOneFailureThatNamesBothTasks) {
    testing_::test_result r;
    asyncio::lock l;
    auto f = failures_of([&] { r = testing_::run_test(lock_deadlock(&l)); });
    ASSERT_EQ(f.size(), 1u);  // the waiting tasks are in the deadlock report, not a second failure
    std::string m = f[0].message();
    EXPECT_TRUE(contains(m, "deadlock")) << m;
    EXPECT_TRUE(contains(m, "'holder'")) << m;
    EXPECT_TRUE(contains(m, "'main'")) << m;
    ASSERT_EQ(r.leaked.size(), 1u);  // still listed in the result, and cancelled
    EXPECT_EQ(r.leaked[0].name, "holder");
}

log_t g_fatal_log;

coro<void> fatal_assertion_body() {
    g_fatal_log.push_back("before");
    CO_ASSERT_EQ(co_await add_later(1, 1, 1ms), 3) << "two is not three";
    g_fatal_log.push_back("after");  // never
}

TEST(RunTest, ACoAssertFailureIsFatalAndLeavesTheBody) {
    g_fatal_log.clear();
    EXPECT_FATAL_FAILURE(asyncio::testing::run_test(fatal_assertion_body()), "two is not three");
    EXPECT_EQ(g_fatal_log, log_t{"before"});
}

coro<void> throw_assertions(int which) {
    if (which == 0) {
        CO_ASSERT_THROW(co_await add_later(1, 1, 1ms), asyncio::timeout_error);
    }
    if (which == 1) {
        CO_ASSERT_THROW(co_await fails_soon("other"), asyncio::timeout_error);
    }
    if (which == 2) CO_FAIL() << "explicit";
    if (which == 3) CO_SKIP() << "not here";
    EXPECT_NE(which, 3);  // not reached after CO_SKIP
}

TEST(RunTest, CoAssertThrowSaysWhatWasThrownInstead) {
    auto f = failures_of([] { asyncio::testing::run_test(throw_assertions(0)); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(f[0].fatally_failed());
    EXPECT_TRUE(contains(f[0].message(), "Actual: it throws nothing.")) << f[0].message();
    f = failures_of([] { asyncio::testing::run_test(throw_assertions(1)); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(contains(f[0].message(), "it throws std::runtime_error: other")) << f[0].message();
    f = failures_of([] { asyncio::testing::run_test(throw_assertions(2)); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(contains(f[0].message(), "explicit")) << f[0].message();
    f = failures_of([] { asyncio::testing::run_test(throw_assertions(3)); });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(f[0].skipped());
    EXPECT_TRUE(contains(f[0].message(), "not here")) << f[0].message();
}

coro<void> helper_that_fails(log_t* log) {
    CO_ASSERT_TRUE(false) << "in the helper";
    log->push_back("helper went on");
}

coro<void> calls_failing_helper(log_t* log) {
    CO_ASSERT_NO_FATAL_FAILURE(co_await helper_that_fails(log));
    log->push_back("body went on");
}

TEST(RunTest, CoAssertNoFatalFailureLeavesTheCallerToo) {
    log_t log;
    auto f = failures_of([&] { asyncio::testing::run_test(calls_failing_helper(&log)); });
    ASSERT_EQ(f.size(), 2u);  // the helper's, then the caller's
    EXPECT_TRUE(contains(f[0].message(), "in the helper")) << f[0].message();
    EXPECT_TRUE(contains(f[1].message(), "doesn't generate new fatal failures")) << f[1].message();
    EXPECT_TRUE(log.empty());
}

coro<void> returns_early_and_leaks(log_t* log) {
    asyncio::create_task(sleep_logging_cancel(std::chrono::milliseconds(1h), log), "left behind");
    co_await asyncio::sleep(1ms);
    CO_ASSERT_TRUE(false);
}

TEST(RunTest, ALeakAfterAFatalFailureIsStillReported) {
    log_t log;
    auto f = failures_of([&] { asyncio::testing::run_test(returns_early_and_leaks(&log)); });
    ASSERT_EQ(f.size(), 2u);
    EXPECT_TRUE(f[0].fatally_failed());
    EXPECT_TRUE(contains(f[1].message(), "task 'left behind'")) << f[1].message();
    EXPECT_EQ(log.size(), 1u);
}

struct FailingSetUp : testing_::async_test {
    void TestBody() override {}
    log_t log;
    coro<void> async_set_up() override {
        co_await asyncio::sleep(1ms);
        throw std::runtime_error("no database");
    }
    coro<void> async_tear_down() override {
        log.push_back("tear down");
        co_return;
    }
    coro<void> body() {
        log.push_back("body");
        co_return;
    }
};

TEST(RunTest, AFailingSetUpSkipsBodyAndTearDownAndSaysSo) {
    FailingSetUp fixture;
    auto f = failures_of([&] {
        testing_::detail::run_test_body<FailingSetUp>(fixture, &FailingSetUp::body, __FILE__, __LINE__);
    });
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(contains(f[0].message(), "exception escaped async_set_up(): std::runtime_error: no database"))
        << f[0].message();
    EXPECT_TRUE(fixture.log.empty());
}

coro<void> clean_body() {
    auto t = asyncio::create_task(add_later(1, 2, 10ms));
    EXPECT_EQ(co_await t, 3);
}

TEST(RunTest, ACleanBodyPasses) {
    auto f = failures_of([] { EXPECT_TRUE(testing_::run_test(clean_body()).passed()); });
    EXPECT_TRUE(f.empty());
}

// --- reports --------------------------------------------------------------------------------------

ASYNC_TEST(Reports, AnExpectedReportTakenByTheBodyDoesNotFailTheTest) {
    EXPECT_TRUE(testing_::reports().empty());
    {
        auto t = asyncio::create_task(fails_soon("expected"), "expected failure");
        co_await asyncio::sleep(5ms);
    }
    CO_ASSERT_EQ(testing_::reports().size(), 1u);
    std::vector<testing_::report> taken = testing_::take_reports();
    CO_ASSERT_EQ(taken.size(), 1u);
    // ASYNC_TEST runs in debug mode: the report also says where the task was created.
    EXPECT_EQ(taken[0].message.rfind(
                  "Task exception was never retrieved (task 'expected failure') (created at ", 0),
              0u)
        << taken[0].message;
    EXPECT_EQ(testing_::describe_exception(taken[0].exception), "std::runtime_error: expected");
    EXPECT_TRUE(contains(taken[0].describe(), "exception: std::runtime_error: expected"));
    EXPECT_TRUE(testing_::reports().empty());
}

TEST(Reports, OutsideATestReportsThrows) {
    EXPECT_THROW(testing_::reports(), std::logic_error);
    EXPECT_THROW(testing_::take_reports(), std::logic_error);
}

TEST(Reports, DescribeException) {
    EXPECT_EQ(testing_::describe_exception(nullptr), "no exception");
    EXPECT_EQ(testing_::describe_exception(std::make_exception_ptr(asyncio::cancelled_error())),
              "asyncio::cancelled_error: (no message)");
    EXPECT_EQ(testing_::describe_exception(std::make_exception_ptr(asyncio::timeout_error())),
              "asyncio::timeout_error: timed out");
    EXPECT_EQ(testing_::describe_exception(std::make_exception_ptr(42)),
              "an exception of an unknown type (not derived from std::exception)");
}

}  // namespace
