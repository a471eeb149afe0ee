// The exception types of asyncio-cpp (Python: asyncio.exceptions).
//
// cancelled_error and keyboard_interrupt are BaseException-like: they do not derive from
// std::exception, so `catch (const std::exception&)` ("any failure") lets cancellation through.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asyncio {

/// Thrown at the `co_await` of a task that was cancelled. Python: asyncio.CancelledError.
class cancelled_error {
  public:
    cancelled_error() = default;
    explicit cancelled_error(std::string message) : message_(std::move(message)) {}
    /// The text given to `cancel(msg)`; empty when none was given.
    const std::string& message() const noexcept { return message_; }
    const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }

  private:
    std::string message_;
};

/// SIGINT arrived while `asyncio::run` was active. Python: KeyboardInterrupt.
class keyboard_interrupt {
  public:
    const char* what() const noexcept { return "keyboard interrupt"; }
};

/// Python: TimeoutError (raised by wait_for, timeout, as_completed).
class timeout_error : public std::runtime_error {
  public:
    timeout_error() : std::runtime_error("timed out") {}
    explicit timeout_error(const std::string& what) : std::runtime_error(what) {}
};

/// Python: asyncio.InvalidStateError (result() of a pending future, a result set twice).
class invalid_state_error : public std::logic_error {
  public:
    explicit invalid_state_error(const std::string& what) : std::logic_error(what) {}
};

/// Python: asyncio.IncompleteReadError: EOF came before the expected bytes.
class incomplete_read_error : public std::runtime_error {
  public:
    incomplete_read_error(std::string partial, std::optional<std::size_t> expected)
        : std::runtime_error(make_what(partial.size(), expected)),
          partial_(std::move(partial)),
          expected_(expected) {}
    const std::string& partial() const noexcept { return partial_; }
    std::optional<std::size_t> expected() const noexcept { return expected_; }

  private:
    static std::string make_what(std::size_t got, std::optional<std::size_t> expected) {
        return std::to_string(got) + " bytes read on a total of " +
               (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes";
    }
    std::string partial_;
    std::optional<std::size_t> expected_;
};

/// Python: asyncio.LimitOverrunError (and the ValueError of readline past the limit).
class limit_overrun_error : public std::runtime_error {
  public:
    limit_overrun_error(const std::string& what, std::size_t consumed)
        : std::runtime_error(what), consumed_(consumed) {}
    std::size_t consumed() const noexcept { return consumed_; }

  private:
    std::size_t consumed_;
};

/// Python: asyncio.QueueEmpty / QueueFull / QueueShutDown.
class queue_empty : public std::runtime_error {
  public:
    queue_empty() : std::runtime_error("queue is empty") {}
};
class queue_full : public std::runtime_error {
  public:
    queue_full() : std::runtime_error("queue is full") {}
};
class queue_shut_down : public std::runtime_error {
  public:
    queue_shut_down() : std::runtime_error("queue is shut down") {}
};

/// Python: asyncio.BrokenBarrierError.
class broken_barrier_error : public std::runtime_error {
  public:
    broken_barrier_error() : std::runtime_error("barrier is broken") {}
};

/// Python: ExceptionGroup: several errors from the children of a task group.
class exception_group : public std::runtime_error {
  public:
    exception_group(const std::string& what, std::vector<std::exception_ptr> exceptions)
        : std::runtime_error(what + " (" + std::to_string(exceptions.size()) + " sub-exception" +
                             (exceptions.size() == 1 ? "" : "s") + ")"),
          exceptions_(std::move(exceptions)) {}
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

  private:
    std::vector<std::exception_ptr> exceptions_;
};

/// No task can make progress while tasks still wait (debug mode reports who waits on what).
class deadlock_error : public std::runtime_error {
  public:
    explicit deadlock_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace asyncio
