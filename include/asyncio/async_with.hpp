// asyncio::async_with: the block of Python's `async with`, for resources closed by `aclose()`.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "async_generator.hpp"
#include "coro.hpp"
#include "detail/future_state.hpp"
#include "errors.hpp"

namespace asyncio {

namespace detail {

template <class A>
concept awaitable_object = requires(A&& a) {
    get_awaiter(static_cast<A&&>(a)).await_ready();
};

// The resource: what awaiting `A` gives, or `A` itself when it is not awaitable (a generator).
template <class A>
struct async_with_resource {
    using type = std::remove_cvref_t<A>;
};
template <awaitable_object A>
struct async_with_resource<A> {
    using type = std::remove_cvref_t<await_result_t<A>>;
};
template <class A>
using async_with_resource_t = typename async_with_resource<A>::type;

template <class R>
concept async_closable = requires(R& r) {
    r.aclose();
};

// What `fn(resource&)` returns (a coro), and its result.
template <class A, class F>
using async_with_block_t = std::invoke_result_t<F&, async_with_resource_t<A>&>;
template <class A, class F>
using async_with_result_t = typename async_with_block_t<A, F>::value_type;

// `aw` gives a resource with aclose(); `fn(resource&)` returns a coro.
template <class A, class F>
concept async_with_arguments =
    async_closable<async_with_resource_t<A>> && is_coro<async_with_block_t<A, F>>::value;

template <class R, class X, class A, class F>
coro<X> async_with_block(A aw, F fn) {
    std::optional<R> acquired;
    if constexpr (awaitable_object<A>) {
        R r = co_await std::move(aw);
        acquired.emplace(std::move(r));
    } else {
        acquired.emplace(std::move(aw));
    }
    R& resource = *acquired;
    std::optional<stored_t<X>> result;
    std::exception_ptr body_error;
    bool body_cancelled = false;
    try {
        if constexpr (std::is_void_v<X>) {
            co_await fn(resource);
            result.emplace();
        } else {
            X x = co_await fn(resource);
            result.emplace(std::move(x));
        }
    } catch (const cancelled_error&) {
        body_cancelled = true;
        body_error = std::current_exception();
    } catch (...) {
        body_error = std::current_exception();
    }
    if (body_error) {
        // The body's exception wins over a failure of aclose() (Python would raise aclose()'s,
        // chained): the body's error is the one that explains what went wrong. Exception: a
        // cancellation of this task during aclose() is never swallowed.
        std::exception_ptr close_cancelled;
        try {
            co_await resource.aclose();
        } catch (const cancelled_error&) {
            close_cancelled = std::current_exception();
        } catch (...) {
        }
        if (close_cancelled && !body_cancelled) std::rethrow_exception(close_cancelled);
        std::rethrow_exception(body_error);
    }
    co_await resource.aclose();
    if constexpr (!std::is_void_v<X>) co_return std::move(*result);
}

}  // namespace detail

/// Awaits `aw` (a coro<R>, a task, or any awaitable giving a resource; something that is not
/// awaitable but has aclose(), such as an async_generator, is the resource itself), runs the block
/// `fn(resource&)` (a callable returning coro<X>) in the calling task, then always
/// `co_await resource.aclose()`: after success, failure and cancellation of the block. Returns X,
/// or rethrows the block's exception once aclose() is done.
///
/// `fn` is kept alive until the block has finished, so the captures of a lambda survive (name the
/// lambda in a statement of its own: GCC 12 mis-copies a capturing lambda written inside a
/// statement with co_await).
///
/// Throws: what `aw` throws (then there is no resource and nothing to close); the block's
/// exception; aclose()'s exception after a block that succeeded. When both fail, the block's
/// exception wins and aclose()'s is dropped (a deliberate difference: Python raises aclose()'s,
/// chained), except that a cancellation arriving during aclose() is never swallowed.
/// Cancellation: while awaiting `aw`: nothing to close, cancelled_error propagates. During the
/// block: aclose() runs (its awaits are not cancelled again unless another cancel() comes), then
/// cancelled_error is rethrown. During aclose(): cancelled_error propagates from aclose().
/// Python: `async with contextlib.aclosing(await aw) as r: ...` (and `async with` in general, for
/// a resource whose __aexit__ is aclose()).
template <class A, class F>
requires detail::async_with_arguments<A, F> coro<detail::async_with_result_t<A, F>> async_with(A aw, F fn) {
    return detail::async_with_block<detail::async_with_resource_t<A>, detail::async_with_result_t<A, F>>(
        std::move(aw), std::move(fn));
}

}  // namespace asyncio
