// <asyncio/testing.hpp>: GoogleTest integration. A test body is a coroutine, run as the main task
// of asyncio::run on a fresh loop, in debug mode, on virtual time; the test fails on what a
// reviewer would otherwise never see: a task left running, an exception nobody looked at, a
// deadlock. Link with the CMake target asyncio::testing (the library plus GoogleTest).
//
//     #include <asyncio/sleep.hpp>
//     #include <asyncio/testing.hpp>
//     #include <asyncio/timeout.hpp>
//
//     using namespace std::chrono_literals;
//
//     asyncio::coro<int> slow_answer() {
//         co_await asyncio::sleep(2h);
//         co_return 42;
//     }
//
//     ASYNC_TEST(Answer, TimesOutAfterOneHour) {   // runs in microseconds: virtual time
//         auto t0 = asyncio::get_running_loop().time();
//         CO_ASSERT_THROW(co_await asyncio::wait_for(slow_answer(), 1h), asyncio::timeout_error);
//         EXPECT_EQ(asyncio::get_running_loop().time() - t0, 1h);   // exactly: time only jumps
//     }
//
//     ASYNC_TEST(Answer, ComesInTime) {
//         int v = co_await asyncio::wait_for(slow_answer(), 3h);
//         CO_ASSERT_EQ(v, 42);   // a fatal failure leaves the body (co_return), like ASSERT_EQ
//     }
//
//     // Options (real time, no debug mode) and async set-up / tear-down: a fixture.
//     struct Server : asyncio::testing::async_test {
//         asyncio::testing::test_options options() const override {
//             return {.clock = asyncio::clock_kind::real_time};
//         }
//         asyncio::coro<void> async_set_up() override { co_return; }     // start things here
//         asyncio::coro<void> async_tear_down() override { co_return; }  // and stop them here
//     };
//     ASYNC_TEST_F(Server, Answers) { co_await asyncio::sleep(10ms); }
//
// What fails the test (each a GoogleTest failure at the ASYNC_TEST line, saying what happened):
// - an exception escaping the body: its type and what(); for cancelled_error its message;
// - asyncio::deadlock_error (the loop found that nothing could ever wake the waiting tasks): the
//   loop's report of who waits for what, with file:line;
// - a task still pending when the body returned ("leaked"): its name and where it waits. It is
//   then cancelled and awaited, so nothing outlives the test;
// - anything that reached the loop's exception handler: a task exception never retrieved, an
//   exception escaping a callback, a coroutine never awaited, ... (the handler's message, the
//   task, the exception's type and what()). A test that provokes such a report on purpose takes
//   it with take_reports() and checks it.
// A leaked task is cancelled after the body's frame is gone: a task must not keep pointers into
// the body's locals past its end (the sanitizer builds catch that; the failure names the task).
//
// Virtual time (test_options::clock, the default here): the loop's clock only moves when every
// task waits and nothing is ready: it then jumps to the next timer. So sleeps and timeouts of
// hours take no wall time, and timer order and durations are exact and the same on every run.
// I/O interest (add_reader/add_writer, sockets) and work on other threads (run_in_executor,
// to_thread, keep-alive tokens) stop the jump: the loop waits for them as it would on real time.
//
// Assertions: EXPECT_* work as in any test (also with co_await in their arguments). ASSERT_*
// cannot compile in a coroutine (they `return`); use CO_ASSERT_* instead: the same checks and
// messages, and on failure they `co_return` from the coroutine they are in, as ASSERT_* returns
// from the function they are in. So they work in the body and in helper coroutines returning
// coro<void>; in a coro<T> helper use EXPECT_* (or throw), and after calling a helper that may
// have failed fatally, CO_ASSERT_NO_FATAL_FAILURE(co_await helper()) leaves the body too.
// `<< "more context"` can follow every assertion.
//
// Cancellation: the body is the main task; cancelling it (Ctrl-C, or a cancel from a task) makes
// its current co_await throw cancelled_error as in any task, and the test fails with it unless
// the body catches it.
#pragma once

#include <cxxabi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "coro.hpp"
#include "detail/wait_done.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "run.hpp"
#include "task.hpp"

namespace asyncio::testing {

/// How a test body is run. The defaults: debug mode, virtual time.
struct test_options {
    bool debug = true;
    clock_kind clock = clock_kind::virtual_time;
    asyncio::backend backend = backend::automatic;
};

/// One call of the loop's exception handler during a test.
struct report {
    std::string message;           // "Task exception was never retrieved (task 'x')", ...
    std::exception_ptr exception;  // may be null
    std::string task;              // the task's name; empty when the report names none

    /// The message, the task and the exception, on one or more lines.
    std::string describe() const;
};

/// A task still pending when the body returned.
struct leaked_task {
    std::string name;
    std::string stack;  // any_task::print_stack: where it was waiting (file:line per frame)
};

/// What run_test saw. Every item of it was also reported as a GoogleTest failure.
struct test_result {
    std::exception_ptr error;         // escaped the body (or asyncio::run: a deadlock)
    std::vector<leaked_task> leaked;  // pending when the body returned (then cancelled, awaited)
    std::vector<report> reports;      // handler calls the body did not take with take_reports()
    bool passed() const noexcept { return !error && leaked.empty() && reports.empty(); }
};

/// "std::runtime_error: boom", "asyncio::cancelled_error: 'msg'" (or "(no message)"), ...
std::string describe_exception(const std::exception_ptr& e);

/// The exception handler's reports so far in the running test (oldest first).
/// Throws std::logic_error when no test runs on this thread.
const std::vector<report>& reports();
/// As reports(), and forgets them: what a test takes is expected, so it does not fail the test.
std::vector<report> take_reports();

/// Base of ASYNC_TEST_F fixtures: override options() to change how the body runs, and the async
/// set-up and tear-down to prepare and release what the tests share (they run in the test's loop,
/// as part of its main task). Tear-down runs when set-up succeeded, also after a failed body; the
/// leaked-task check comes after it. Python: unittest.IsolatedAsyncioTestCase (asyncSetUp,
/// asyncTearDown).
class async_test : public ::testing::Test {
  public:
    virtual test_options options() const { return {}; }
    virtual coro<void> async_set_up() { co_return; }
    virtual coro<void> async_tear_down() { co_return; }
};

/// Runs `body` as asyncio::run's main task with `opts` (a fresh loop), then reports every problem
/// listed at the top of this header as a non-fatal GoogleTest failure at `file:line`, and returns
/// them. What ASYNC_TEST calls. Must not be called while a loop runs on this thread.
test_result run_test(coro<void> body, test_options opts = {}, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE());

// ---------------------------------------------------------------------------------------------
namespace detail {

struct test_state {
    std::vector<report> reports;
    std::vector<leaked_task> leaked;
    std::exception_ptr error;
    const char* error_where = "the test body";
};

inline thread_local test_state* current_state = nullptr;

inline test_state& require_state(const char* who) {
    if (!current_state)
        throw std::logic_error(std::string("asyncio::testing::") + who + ": no asyncio test is running");
    return *current_state;
}

inline std::string type_name(const std::type_info& t) {
    int status = 0;
    char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
    std::string s = (status == 0 && name) ? name : t.name();
    std::free(name);
    return s;
}

inline bool is_deadlock(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const deadlock_error&) {
        return true;
    } catch (...) {
        return false;
    }
}

inline std::string indent(const std::string& text, const std::string& prefix) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        out += prefix + text.substr(start, end - start) + "\n";
        start = end + 1;
    }
    return out;
}

// print_stack's output without its title line (the failure names the task already).
inline std::string frames_of(const std::string& stack) {
    if (stack.rfind("Stack for task", 0) != 0) return stack;
    std::size_t nl = stack.find('\n');
    std::string title = stack.substr(0, nl);
    std::string rest = nl == std::string::npos ? std::string() : stack.substr(nl + 1);
    if (rest.empty()) {  // "(not started)": keep what the title says about it
        std::size_t paren = title.rfind(" (");
        return paren == std::string::npos ? std::string() : title.substr(paren + 1) + "\n";
    }
    return rest;
}

// The main task: set-up, body, tear-down, then the leak check. Catches everything (it is all
// recorded in `st`), so only a deadlock of its own leak check can fail it.
inline coro<void> test_main(test_state* st, async_test* hooks, std::function<coro<void>()> make_body) {
    event_loop& loop = get_running_loop();
    event_loop::exception_handler record = [st](event_loop&, const exception_context& ctx) {
        st->reports.push_back(report{ctx.message, ctx.exception, ctx.task ? ctx.task.name() : std::string()});
    };
    loop.set_exception_handler(std::move(record));

    std::exception_ptr error;
    bool set_up = true;
    if (hooks) {
        try {
            co_await hooks->async_set_up();
        } catch (...) {
            error = std::current_exception();
            set_up = false;
        }
        if (!set_up) st->error_where = "async_set_up()";
    }
    if (set_up) {
        coro<void> body = make_body();
        try {
            co_await std::move(body);
        } catch (...) {
            error = std::current_exception();
        }
    }
    if (hooks && set_up) {
        std::exception_ptr tear_down_error;
        try {
            co_await hooks->async_tear_down();
        } catch (...) {
            tear_down_error = std::current_exception();
        }
        if (tear_down_error && !error) {
            error = tear_down_error;
            st->error_where = "async_tear_down()";
        }
    }
    st->error = error;

    // Leaked tasks: named now, then cancelled and awaited (more than once if they start others
    // or swallow the cancellation), so that nothing of the test outlives it.
    any_task self = current_task();
    std::vector<any_task> pending = all_tasks();
    std::erase_if(pending, [&self](const any_task& t) { return t == self; });
    for (const any_task& t : pending) {
        std::ostringstream stack;
        t.print_stack(stack);
        st->leaked.push_back(leaked_task{t.name(), stack.str()});
    }
    for (int pass = 0; pass < 100 && !pending.empty(); ++pass) {
        for (const any_task& t : pending) t.cancel("cancelled by asyncio::testing: leaked by the test");
        for (const any_task& t : pending) co_await ::asyncio::detail::done_awaiter(t.core());
        pending = all_tasks();
        std::erase_if(pending, [&self](const any_task& t) { return t == self; });
    }
}

inline void report_failures(const test_result& r, const char* where, const char* file, int line) {
    bool deadlocked = r.error && is_deadlock(r.error);
    if (r.error) {
        std::string what = describe_exception(r.error);
        if (deadlocked) {
            std::string report = what.substr(what.find(": ") + 2);  // without the type name
            while (!report.empty() && report.back() == '\n') report.pop_back();
            ADD_FAILURE_AT(file, line) << "the test deadlocked (the loop failed its main task with "
                                          "asyncio::deadlock_error):\n"
                                       << report;
        } else {
            ADD_FAILURE_AT(file, line) << "exception escaped " << where << ": " << what;
        }
    }
    // After a deadlock the waiting tasks are in its report already.
    if (!r.leaked.empty() && !deadlocked) {
        std::ostringstream os;
        os << r.leaked.size() << (r.leaked.size() == 1 ? " task was" : " tasks were")
           << " still pending when the test body returned (leaked; now cancelled and awaited):\n";
        for (const leaked_task& t : r.leaked)
            os << "  task '" << t.name << "'\n" << indent(frames_of(t.stack), "    ");
        if (::testing::Test::HasFatalFailure())
            os << "(the body had returned early, after a fatal assertion failure)\n";
        std::string message = os.str();
        message.pop_back();  // the last newline
        ADD_FAILURE_AT(file, line) << message;
    }
    for (const report& rep : r.reports)
        ADD_FAILURE_AT(file, line) << "the event loop's exception handler was called:\n" << rep.describe();
}

inline test_result run_test_impl(test_options opts, async_test* hooks, std::function<coro<void>()> make_body,
                                 const char* file, int line) {
    test_state st;
    test_state* previous = std::exchange(current_state, &st);
    struct restore {
        test_state* previous;
        ~restore() { current_state = previous; }
    } restore_state{previous};

    run_options ro;
    ro.debug = opts.debug;
    ro.clock = opts.clock;
    ro.backend = opts.backend;
    std::exception_ptr run_error;
    try {
        asyncio::run(test_main(&st, hooks, std::move(make_body)), ro);
    } catch (...) {
        run_error = std::current_exception();
    }
    test_result r;
    r.error = st.error ? st.error : run_error;
    r.leaked = std::move(st.leaked);
    r.reports = std::move(st.reports);
    report_failures(r, st.error ? st.error_where : "the test's main task", file, line);
    return r;
}

/// The TestBody of ASYNC_TEST / ASYNC_TEST_F: `fixture` is the test object, `body` its coroutine.
template <class Fixture>
void run_test_body(Fixture& fixture, coro<void> (Fixture::*body)(), const char* file, int line) {
    test_options opts;
    async_test* hooks = nullptr;
    if constexpr (std::is_base_of_v<async_test, Fixture>) {
        hooks = &fixture;
        opts = hooks->options();  // through the base: an override may be protected
    }
    std::function<coro<void>()> make_body = [&fixture, body] { return (fixture.*body)(); };
    run_test_impl(opts, hooks, std::move(make_body), file, line);
}

// CO_ASSERT_THROW's bookkeeping.
struct throw_check {
    throw_check(const char* s, const char* e) noexcept : statement(s), expected(e) {}
    const char* statement;
    const char* expected;
    bool caught_expected = false;
    std::string other;  // the other exception, described
    void set_other(std::exception_ptr e) { other = describe_exception(e); }
    std::string message() const {
        return std::string("Expected: ") + statement + " throws an exception of type " + expected +
               ".\n  Actual: " + (other.empty() ? "it throws nothing." : "it throws " + other + ".");
    }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
inline std::string describe_exception(const std::exception_ptr& e) {
    if (!e) return "no exception";
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error& c) {
        return "asyncio::cancelled_error: " +
               (c.message().empty() ? std::string("(no message)") : "'" + c.message() + "'");
    } catch (const keyboard_interrupt&) {
        return "asyncio::keyboard_interrupt";
    } catch (const std::exception& x) {
        return detail::type_name(typeid(x)) + ": " + x.what();
    } catch (...) {
        return "an exception of an unknown type (not derived from std::exception)";
    }
}

inline std::string report::describe() const {
    std::string s = message.empty() ? std::string("(no message)") : message;
    if (!task.empty()) s += "\n  task: '" + task + "'";
    if (exception) s += "\n  exception: " + describe_exception(exception);
    return s;
}

inline const std::vector<report>& reports() { return detail::require_state("reports()").reports; }

inline std::vector<report> take_reports() {
    return std::exchange(detail::require_state("take_reports()").reports, {});
}

inline test_result run_test(coro<void> body, test_options opts, const char* file, int line) {
    // The body is made before the run; a coro is lazy, so nothing of it runs yet.
    auto shared_body = std::make_shared<coro<void>>(std::move(body));
    std::function<coro<void>()> make_body = [shared_body] { return std::move(*shared_body); };
    return detail::run_test_impl(opts, nullptr, std::move(make_body), file, line);
}

}  // namespace asyncio::testing

// --- test definitions ----------------------------------------------------------------------------
// The body becomes a member coroutine of a class between the fixture and GoogleTest's test class
// (so fixture members are in scope); TestBody runs it. GTEST_TEST_ is GoogleTest's own helper
// behind TEST and TEST_F (stable since 1.8); suite and fixture ids are those of TEST / TEST_F,
// so ASYNC_TEST and TEST (ASYNC_TEST_F and TEST_F) can share a suite.
#define ASYNCIO_TEST_BODY_CLASS_(suite, name) suite##_##name##_AsyncBody

#define ASYNCIO_DEFINE_ASYNC_TEST_(suite, name, fixture, fixture_id)                               \
    class ASYNCIO_TEST_BODY_CLASS_(suite, name) : public fixture {                                 \
      public:                                                                                      \
        ::asyncio::coro<void> asyncio_test_body();                                                 \
    };                                                                                             \
    GTEST_TEST_(suite, name, ASYNCIO_TEST_BODY_CLASS_(suite, name), fixture_id) {                  \
        ::asyncio::testing::detail::run_test_body<ASYNCIO_TEST_BODY_CLASS_(suite, name)>(          \
            *this, &ASYNCIO_TEST_BODY_CLASS_(suite, name)::asyncio_test_body, __FILE__, __LINE__); \
    }                                                                                              \
    ::asyncio::coro<void> ASYNCIO_TEST_BODY_CLASS_(suite, name)::asyncio_test_body()

/// A GoogleTest test whose body is a coroutine (it must contain a co_await or a co_return), run by
/// asyncio::testing::run_test with the default test_options: debug mode, virtual time.
#define ASYNC_TEST(suite, name) \
    ASYNCIO_DEFINE_ASYNC_TEST_(suite, name, ::testing::Test, ::testing::internal::GetTestTypeId())

/// As ASYNC_TEST, with a fixture: the body sees its members. A fixture derived from
/// asyncio::testing::async_test chooses the options and has async set-up and tear-down.
#define ASYNC_TEST_F(fixture, name) \
    ASYNCIO_DEFINE_ASYNC_TEST_(fixture, name, fixture, ::testing::internal::GetTypeId<fixture>())

// --- assertions that leave a coroutine -----------------------------------------------------------
// GoogleTest's ASSERT_* with `co_return` in place of `return` (GoogleTest's own expansion helpers,
// so the failure messages are the same).
#define ASYNCIO_CO_FATAL_FAILURE_(message) \
    co_return GTEST_MESSAGE_(message, ::testing::TestPartResult::kFatalFailure)

#define CO_FAIL() ASYNCIO_CO_FATAL_FAILURE_("Failed")
#define CO_SKIP() co_return GTEST_MESSAGE_("", ::testing::TestPartResult::kSkip)
#define CO_ASSERT_TRUE(condition) \
    GTEST_TEST_BOOLEAN_(condition, #condition, false, true, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_FALSE(condition) \
    GTEST_TEST_BOOLEAN_(!(condition), #condition, true, false, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_EQ(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::EqHelper::Compare, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_NE(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperNE, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_LT(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperLT, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_LE(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperLE, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_GT(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperGT, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_GE(val1, val2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperGE, val1, val2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_STREQ(s1, s2) \
    GTEST_PRED_FORMAT2_(::testing::internal::CmpHelperSTREQ, s1, s2, ASYNCIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_NO_FATAL_FAILURE(statement) \
    GTEST_TEST_NO_FATAL_FAILURE_(statement, ASYNCIO_CO_FATAL_FAILURE_)

/// CO_ASSERT_THROW(co_await f(), asyncio::timeout_error): `statement` may contain co_await.
/// cancelled_error counts as an exception like any other (it is what a cancelled co_await throws).
#define CO_ASSERT_THROW(statement, expected_exception)                                                       \
    GTEST_AMBIGUOUS_ELSE_BLOCKER_                                                                            \
    if (::asyncio::testing::detail::throw_check asyncio_throw_check_(#statement, #expected_exception);       \
        true) {                                                                                              \
        try {                                                                                                \
            statement;                                                                                       \
        } catch (const expected_exception&) {                                                                \
            asyncio_throw_check_.caught_expected = true;                                                     \
        } catch (...) {                                                                                      \
            asyncio_throw_check_.set_other(std::current_exception());                                        \
        }                                                                                                    \
        if (!asyncio_throw_check_.caught_expected) goto GTEST_CONCAT_TOKEN_(asyncio_throw_label_, __LINE__); \
    } else                                                                                                   \
        GTEST_CONCAT_TOKEN_(asyncio_throw_label_, __LINE__)                                                  \
            : ASYNCIO_CO_FATAL_FAILURE_(asyncio_throw_check_.message().c_str())
