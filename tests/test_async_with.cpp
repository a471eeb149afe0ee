// Tests of asyncio::async_with (async_with.hpp): the resource is awaited (a coro, a task) or taken
// as it is (a generator); the block's result; aclose() called exactly once after success, failure
// and cancellation of the block; the block's exception wins over aclose()'s, except a cancellation
// during aclose(); cancellation while acquiring (nothing to close) and while closing; the block's
// lambda captures stay alive. Every test runs on virtual time.
#include <gtest/gtest.h>

#include <asyncio/async_generator.hpp>
#include <asyncio/async_with.hpp>
#include <asyncio/event_loop.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/describe.hpp"
#include "support/run_harness.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using log_t = std::vector<std::string>;

using namespace test_support;

// A resource: its aclose() takes 2 ms (a real co_await) and can be made to fail.
struct connection {
    log_t* log = nullptr;
    int* closes = nullptr;
    bool fail_close = false;
    coro<void> aclose() {
        ++*closes;
        log->push_back("close start");
        co_await asyncio::sleep(2ms);
        if (fail_close) throw std::logic_error("close failed");
        log->push_back("closed");
    }
};

coro<connection> open_connection(log_t* log, int* closes, bool fail_close = false) {
    co_await asyncio::sleep(1ms);
    log->push_back("opened");
    connection c;
    c.log = log;
    c.closes = closes;
    c.fail_close = fail_close;
    co_return c;
}

coro<connection> open_fails(log_t* log) {
    co_await asyncio::sleep(1ms);
    log->push_back("open failed");
    throw std::runtime_error("refused");
}

// --- success ----------------------------------------------------------------------------------------

// Not a coroutine: the lambda (and its captures) die when this returns, before the block runs;
// async_with keeps its own copy alive.
coro<std::unique_ptr<int>> block_with_captures(log_t* log, int* closes) {
    auto body = [tag = std::string("captured tag"), log](connection& c) -> coro<std::unique_ptr<int>> {
        co_await asyncio::sleep(1ms);
        log->push_back(tag + " body");
        EXPECT_EQ(c.log, log);
        co_return std::make_unique<int>(42);
    };
    return asyncio::async_with(open_connection(log, closes), std::move(body));
}

coro<void> success_main(log_t* log, int* closes) {
    auto t0 = now();
    std::unique_ptr<int> r = co_await block_with_captures(log, closes);
    EXPECT_TRUE(r && *r == 42);
    EXPECT_EQ(since(t0), 4ms);  // open 1 + block 1 + close 2
}

TEST(AsyncWith, SuccessReturnsTheBlocksResultAndClosesOnce) {
    log_t log;
    int closes = 0;
    run_clean(success_main(&log, &closes));
    EXPECT_EQ(log, (log_t{"opened", "captured tag body", "close start", "closed"}));
    EXPECT_EQ(closes, 1);
}

coro<void> void_block(connection& c) {
    c.log->push_back("void body");
    co_return;
}

// The resource comes from a task; the block returns void.
coro<void> void_from_task_main(log_t* log, int* closes) {
    task<connection> opening = asyncio::create_task(open_connection(log, closes));
    co_await asyncio::async_with(opening, &void_block);
}

TEST(AsyncWith, ResourceFromATaskAndAVoidBlock) {
    log_t log;
    int closes = 0;
    run_clean(void_from_task_main(&log, &closes));
    EXPECT_EQ(log, (log_t{"opened", "void body", "close start", "closed"}));
    EXPECT_EQ(closes, 1);
}

// --- failure --------------------------------------------------------------------------------------

coro<int> failing_block(connection& c) {
    co_await asyncio::sleep(1ms);
    c.log->push_back("body fails");
    throw std::runtime_error("body failed");
}

coro<void> failure_main(log_t* log, int* closes, bool fail_close, std::string* error) {
    try {
        co_await asyncio::async_with(open_connection(log, closes, fail_close), &failing_block);
    } catch (const std::exception& e) {
        *error = e.what();
    }
}

TEST(AsyncWith, FailureClosesOnceThenRethrows) {
    log_t log;
    int closes = 0;
    std::string error;
    run_clean(failure_main(&log, &closes, false, &error));
    EXPECT_EQ(log, (log_t{"opened", "body fails", "close start", "closed"}));
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(error, "body failed");
}

TEST(AsyncWith, WhenTheBlockAndAcloseBothFailTheBlocksExceptionWins) {
    log_t log;
    int closes = 0;
    std::string error;
    run_clean(failure_main(&log, &closes, true, &error));
    EXPECT_EQ(log, (log_t{"opened", "body fails", "close start"}));
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(error, "body failed");
}

coro<int> fine_block(connection& c) {
    c.log->push_back("body");
    co_return 7;
}

coro<void> close_fails_main(log_t* log, int* closes, std::string* error) {
    try {
        co_await asyncio::async_with(open_connection(log, closes, true), &fine_block);
    } catch (const std::logic_error& e) {
        *error = e.what();
    }
}

TEST(AsyncWith, AcloseFailingAfterASuccessfulBlockPropagates) {
    log_t log;
    int closes = 0;
    std::string error;
    run_clean(close_fails_main(&log, &closes, &error));
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(error, "close failed");
}

coro<void> open_fails_main(log_t* log, std::string* error) {
    try {
        co_await asyncio::async_with(open_fails(log), &fine_block);
    } catch (const std::runtime_error& e) {
        *error = e.what();
    }
}

TEST(AsyncWith, AcquisitionFailingRunsNeitherBlockNorAclose) {
    log_t log;
    std::string error;
    run_clean(open_fails_main(&log, &error));
    EXPECT_EQ(log, (log_t{"open failed"}));
    EXPECT_EQ(error, "refused");
}

// --- cancellation ---------------------------------------------------------------------------------

coro<int> long_block(connection& c) {
    c.log->push_back("body waits");
    co_await asyncio::sleep(1h);
    c.log->push_back("body done (not reached)");
    co_return 0;
}

// A connection whose close takes an hour.
struct slow_connection {
    log_t* log = nullptr;
    int* closes = nullptr;
    coro<void> aclose() {
        ++*closes;
        log->push_back("slow close start");
        co_await asyncio::sleep(1h);
        log->push_back("slow close done (not reached)");
    }
};

coro<slow_connection> open_slow(log_t* log, int* closes) {
    co_await asyncio::sleep(1ms);
    slow_connection c;
    c.log = log;
    c.closes = closes;
    co_return c;
}

coro<int> quick_slow_block(slow_connection&) { co_return 1; }
coro<int> failing_slow_block(slow_connection&) {
    co_await asyncio::sleep(1ms);
    throw std::runtime_error("body failed");
}

enum class where_cancelled { acquiring, in_block, in_aclose, in_aclose_after_failure };

coro<int> cancellable_with(where_cancelled w, log_t* log, int* closes) {
    switch (w) {
        case where_cancelled::acquiring:
        case where_cancelled::in_block: {
            int r = co_await asyncio::async_with(open_connection(log, closes), &long_block);
            co_return r;
        }
        case where_cancelled::in_aclose: {
            int r = co_await asyncio::async_with(open_slow(log, closes), &quick_slow_block);
            co_return r;
        }
        case where_cancelled::in_aclose_after_failure: {
            int r = co_await asyncio::async_with(open_slow(log, closes), &failing_slow_block);
            co_return r;
        }
    }
    co_return -1;
}

coro<void> cancel_main(where_cancelled w, log_t* log, int* closes) {
    task<int> t = asyncio::create_task(cancellable_with(w, log, closes));
    co_await asyncio::sleep(w == where_cancelled::acquiring ? 0ms : 10ms);
    auto t0 = now();
    t.cancel("stop");
    std::exception_ptr e;
    try {
        co_await t;
    } catch (...) {
        e = std::current_exception();
    }
    log->push_back(describe(e));
    EXPECT_TRUE(t.cancelled());
    // In the block: aclose() runs to its end (2 ms) before the cancellation is rethrown.
    EXPECT_EQ(since(t0), w == where_cancelled::in_block ? 2ms : 0ms);
}

TEST(AsyncWith, CancelWhileAcquiringClosesNothing) {
    log_t log;
    int closes = 0;
    run_clean(cancel_main(where_cancelled::acquiring, &log, &closes));
    EXPECT_EQ(log, (log_t{"cancelled_error: stop"}));
    EXPECT_EQ(closes, 0);
}

TEST(AsyncWith, CancelInTheBlockClosesOnceThenRethrows) {
    log_t log;
    int closes = 0;
    run_clean(cancel_main(where_cancelled::in_block, &log, &closes));
    EXPECT_EQ(log, (log_t{"opened", "body waits", "close start", "closed", "cancelled_error: stop"}));
    EXPECT_EQ(closes, 1);
}

TEST(AsyncWith, CancelInAclosePropagates) {
    log_t log;
    int closes = 0;
    run_clean(cancel_main(where_cancelled::in_aclose, &log, &closes));
    EXPECT_EQ(log, (log_t{"slow close start", "cancelled_error: stop"}));
    EXPECT_EQ(closes, 1);
}

TEST(AsyncWith, CancelInAcloseAfterTheBlockFailedIsNotSwallowed) {
    log_t log;
    int closes = 0;
    run_clean(cancel_main(where_cancelled::in_aclose_after_failure, &log, &closes));
    EXPECT_EQ(log, (log_t{"slow close start", "cancelled_error: stop"}));
    EXPECT_EQ(closes, 1);
}

// --- a generator as the resource (Python: `async with contextlib.aclosing(gen())`) -----------------

asyncio::async_generator<int> numbers(log_t* log) {
    bool closing = false;
    try {
        for (int i = 0;; ++i) co_yield i;
    } catch (const asyncio::generator_exit&) {
        closing = true;
    }
    if (closing) {
        co_await asyncio::sleep(1ms);
        log->push_back("generator cleaned up");
    }
}

coro<int> sum_first_three(asyncio::async_generator<int>& g) {
    int sum = 0;
    for (int i = 0; i < 3; ++i) {
        std::optional<int> v = co_await g.next();
        sum += v.value_or(100);
    }
    co_return sum;
}

coro<void> generator_main(log_t* log) {
    int sum = co_await asyncio::async_with(numbers(log), &sum_first_three);
    log->push_back("sum " + std::to_string(sum));
}

TEST(AsyncWith, AGeneratorIsClosedAfterTheBlock) {
    log_t log;
    run_clean(generator_main(&log));  // debug mode: an abandoned generator would be reported
    EXPECT_EQ(log, (log_t{"generator cleaned up", "sum 3"}));
}

}  // namespace
