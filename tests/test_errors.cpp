// Tests of the exception types (errors.hpp): the BaseException-like ones are not std::exception,
// the others are; their accessors and messages.
#include <gtest/gtest.h>

#include <asyncio/errors.hpp>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

// Python's BaseException subclasses: "catch any failure" (std::exception) must let them through.
static_assert(!std::is_base_of_v<std::exception, asyncio::cancelled_error>);
static_assert(!std::is_base_of_v<std::exception, asyncio::keyboard_interrupt>);

// Everything else is a std::exception, with the standard base matching Python's.
static_assert(std::is_base_of_v<std::exception, asyncio::timeout_error>);
static_assert(std::is_base_of_v<std::exception, asyncio::invalid_state_error>);
static_assert(std::is_base_of_v<std::exception, asyncio::incomplete_read_error>);
static_assert(std::is_base_of_v<std::exception, asyncio::limit_overrun_error>);
static_assert(std::is_base_of_v<std::exception, asyncio::queue_empty>);
static_assert(std::is_base_of_v<std::exception, asyncio::queue_full>);
static_assert(std::is_base_of_v<std::exception, asyncio::queue_shut_down>);
static_assert(std::is_base_of_v<std::exception, asyncio::broken_barrier_error>);
static_assert(std::is_base_of_v<std::exception, asyncio::exception_group>);
static_assert(std::is_base_of_v<std::exception, asyncio::deadlock_error>);
static_assert(!std::is_base_of_v<asyncio::cancelled_error, asyncio::keyboard_interrupt>);
static_assert(!std::is_base_of_v<asyncio::keyboard_interrupt, asyncio::cancelled_error>);

TEST(Errors, CatchingStdExceptionDoesNotSwallowCancellation) {
    std::string caught;
    try {
        try {
            throw asyncio::cancelled_error("stop");
        } catch (const std::exception&) {
            caught = "std::exception";
        }
    } catch (const asyncio::cancelled_error& e) {
        caught = "cancelled_error " + e.message();
    }
    EXPECT_EQ(caught, "cancelled_error stop");

    try {
        try {
            throw asyncio::keyboard_interrupt();
        } catch (const std::exception&) {
            caught = "std::exception";
        }
    } catch (const asyncio::keyboard_interrupt& e) {
        caught = e.what();
    }
    EXPECT_EQ(caught, "keyboard interrupt");
}

TEST(Errors, CancelledErrorMessage) {
    asyncio::cancelled_error plain;
    EXPECT_EQ(plain.message(), "");
    EXPECT_STREQ(plain.what(), "cancelled");
    asyncio::cancelled_error with("because");
    EXPECT_EQ(with.message(), "because");
    EXPECT_STREQ(with.what(), "because");
}

TEST(Errors, TimeoutError) {
    asyncio::timeout_error t;
    EXPECT_STREQ(t.what(), "timed out");
    asyncio::timeout_error u("custom");
    EXPECT_STREQ(u.what(), "custom");
    EXPECT_THROW(throw asyncio::timeout_error(), std::runtime_error);
}

TEST(Errors, InvalidStateErrorIsALogicError) {
    EXPECT_THROW(throw asyncio::invalid_state_error("x"), std::logic_error);
    asyncio::invalid_state_error e("result is not set");
    EXPECT_STREQ(e.what(), "result is not set");
}

TEST(Errors, IncompleteReadError) {
    asyncio::incomplete_read_error known("abc", 10);
    EXPECT_EQ(known.partial(), "abc");
    ASSERT_TRUE(known.expected().has_value());
    EXPECT_EQ(*known.expected(), 10u);
    EXPECT_STREQ(known.what(), "3 bytes read on a total of 10 expected bytes");

    asyncio::incomplete_read_error unknown(std::string("\0x", 2), std::nullopt);
    EXPECT_EQ(unknown.partial().size(), 2u);
    EXPECT_FALSE(unknown.expected().has_value());
    EXPECT_STREQ(unknown.what(), "2 bytes read on a total of undefined expected bytes");
    EXPECT_THROW(throw unknown, std::runtime_error);
}

TEST(Errors, LimitOverrunError) {
    asyncio::limit_overrun_error e("separator not found", 65536);
    EXPECT_STREQ(e.what(), "separator not found");
    EXPECT_EQ(e.consumed(), 65536u);
}

TEST(Errors, QueueAndBarrierErrors) {
    EXPECT_STREQ(asyncio::queue_empty().what(), "queue is empty");
    EXPECT_STREQ(asyncio::queue_full().what(), "queue is full");
    EXPECT_STREQ(asyncio::queue_shut_down().what(), "queue is shut down");
    EXPECT_STREQ(asyncio::broken_barrier_error().what(), "barrier is broken");
    EXPECT_STREQ(asyncio::deadlock_error("stuck").what(), "stuck");
}

TEST(Errors, ExceptionGroupHoldsItsExceptions) {
    std::vector<std::exception_ptr> errors{std::make_exception_ptr(std::runtime_error("first")),
                                           std::make_exception_ptr(std::invalid_argument("second"))};
    asyncio::exception_group g("unhandled errors in a TaskGroup", errors);
    ASSERT_EQ(g.exceptions().size(), 2u);
    EXPECT_EQ(g.exceptions()[0], errors[0]);
    EXPECT_EQ(g.exceptions()[1], errors[1]);
    EXPECT_STREQ(g.what(), "unhandled errors in a TaskGroup (2 sub-exceptions)");
    try {
        std::rethrow_exception(g.exceptions()[1]);
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "second");
    }

    asyncio::exception_group one("one", {std::make_exception_ptr(std::runtime_error("x"))});
    EXPECT_STREQ(one.what(), "one (1 sub-exception)");
    EXPECT_EQ(one.exceptions().size(), 1u);
}

}  // namespace
