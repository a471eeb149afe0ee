// asyncio::coro<T>: the coroutine type, Python's `async def`.
#pragma once

#include <coroutine>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "detail/task_core.hpp"

namespace asyncio {

template <class T>
class coro;

namespace detail {
template <class T>
struct coro_promise_value : promise_base {
    template <class U = T>
    requires std::convertible_to<U&&, T>
    void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
    std::optional<T> value;
};
template <>
struct coro_promise_value<void> : promise_base {
    void return_void() noexcept {}
};
}  // namespace detail

/// A lazy coroutine returning T. Calling a coroutine function runs nothing; `co_await f()`
/// runs it inside the awaiting task (no trip through the loop); `create_task(f())` runs it as
/// a task of its own. Move-only; awaited at most once.
///
/// Deep chains of `co_await` (also of coroutines that complete without suspending) cost heap
/// frames, never native stack. Cancellation: a cancelled task's innermost `co_await` throws
/// cancelled_error; it unwinds through the frames like any exception. Python: `async def`.
template <class T = void>
class [[nodiscard]] coro {
    static_assert(!std::is_reference_v<T>, "coro<T&> is not supported");

  public:
    using value_type = T;
    struct promise_type : detail::coro_promise_value<T> {
        coro get_return_object() noexcept {
            auto h = std::coroutine_handle<promise_type>::from_promise(*this);
            this->self = h;
            return coro(h);
        }
    };
    using handle_type = std::coroutine_handle<promise_type>;

    coro() noexcept = default;
    coro(coro&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    coro& operator=(coro&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    ~coro() { destroy(); }

    /// False for a moved-from or default-constructed coro.
    explicit operator bool() const noexcept { return h_ != nullptr; }

    struct awaiter {
        handle_type h;
        bool await_ready() const {
            if (!h) throw std::runtime_error("awaiting an empty coro");
            if (h.promise().task || h.done()) throw std::runtime_error("coroutine was already awaited");
            return false;
        }
        template <class P>
        void await_suspend(std::coroutine_handle<P> parent) noexcept {
            detail::promise_base& pp = parent.promise();
            promise_type& cp = h.promise();
            cp.parent = &pp;
            cp.continuation = parent;
            cp.task = pp.task;
            pp.task->innermost = &cp;
            pp.task->next_resume = h;
        }
        T await_resume() {
            promise_type& cp = h.promise();
            if (cp.exception) std::rethrow_exception(cp.exception);
            if constexpr (!std::is_void_v<T>) return std::move(*cp.value);
        }
    };
    awaiter operator co_await() && noexcept { return awaiter{h_}; }
    awaiter operator co_await() & noexcept { return awaiter{h_}; }

    /// Gives up ownership of the frame (library use: a task takes it over).
    handle_type release() noexcept { return std::exchange(h_, nullptr); }
    handle_type handle() const noexcept { return h_; }

  private:
    explicit coro(handle_type h) noexcept : h_(h) {}
    void destroy() noexcept {
        if (h_) {
            h_.destroy();
            h_ = nullptr;
        }
    }
    handle_type h_ = nullptr;
};

template <class T>
struct is_coro : std::false_type {};
template <class T>
struct is_coro<coro<T>> : std::true_type {};

}  // namespace asyncio
