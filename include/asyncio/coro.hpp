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
/// A coro destroyed without ever being started is a bug (its body never ran). `[[nodiscard]]`
/// catches `f();` at compile time; in debug mode the loop also reports, through its exception
/// handler (on the thread that destroys the coro), "coroutine 'f' was never awaited (created at
/// FILE:LINE)" for a coro created while the loop ran in debug mode on this thread, destroyed
/// while the loop still exists and is in debug mode. FILE:LINE is the coroutine function's
/// definition (GCC: the line of its closing brace; Clang: the line its declaration starts on),
/// not the line that called it; 'f' is the unqualified name (GCC adds template arguments;
/// "operator()" for a lambda). Not reported when stack unwinding destroys it (the exception in
/// flight is the error to see; Python's library closes such coroutines in its error paths).
/// Python: RuntimeWarning "coroutine 'f' was never awaited".
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
        // Never-awaited reports (debug mode). The coroutine's own code calls this constructor,
        // so the default arguments name the coroutine function and its definition (not the
        // caller's line: that is out of reach without a parameter in every coroutine). Off, it
        // costs one load and a not-taken branch; nothing is stored in the frame.
        promise_type(detail::coro_origin origin = detail::coro_origin()) noexcept {
            if (detail::debug_loop_count.load(std::memory_order_relaxed) != 0) [[unlikely]]
                detail::note_coro_created(this, origin);
        }
        // A frame destroyed before it was ever started (not awaited, not made a task) is what
        // debug mode reports; `task` is set by both ways of starting one.
        ~promise_type() {
            if (detail::debug_loop_count.load(std::memory_order_relaxed) != 0) [[unlikely]]
                detail::note_coro_destroyed(this, this->task != nullptr);
        }
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

namespace detail {
/// Library use, for a coroutine that holds coros and starts them only when it runs (gather):
/// they are not reported as never awaited if it never runs (the holder is). Python's gather
/// makes its children tasks at once, so it has no such case.
template <class A>
void untrack_never_awaited(const A& aw) noexcept {
    if constexpr (is_coro<A>::value) {
        if (debug_loop_count.load(std::memory_order_relaxed) != 0 && aw) [[unlikely]]
            note_coro_destroyed(&aw.handle().promise(), true);  // forgets it without a report
    }
}
}  // namespace detail

}  // namespace asyncio
