// asyncio::gather: run awaitables concurrently and collect every result. Python: asyncio.gather.
#pragma once

#include <array>
#include <exception>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "detail/awaitable_traits.hpp"
#include "detail/child_wait.hpp"

namespace asyncio {

/// A child's result under return_exceptions: a value or the exception it failed with.
template <class T>
class outcome {
  public:
    explicit outcome(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    explicit outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}
    bool has_value() const noexcept { return v_.index() == 0; }
    /// The value; rethrows the child's exception.
    T& value() & {
        if (!has_value()) std::rethrow_exception(std::get<1>(v_));
        return std::get<0>(v_);
    }
    const T& value() const& {
        if (!has_value()) std::rethrow_exception(std::get<1>(v_));
        return std::get<0>(v_);
    }
    T&& value() && {
        if (!has_value()) std::rethrow_exception(std::get<1>(v_));
        return std::get<0>(std::move(v_));
    }
    /// Null when the child succeeded.
    std::exception_ptr error() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }

  private:
    std::variant<T, std::exception_ptr> v_;
};

/// Tag: gather(return_exceptions, ...) gives outcome<R> per child instead of throwing.
struct return_exceptions_t {
    explicit constexpr return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

namespace detail {

template <class T>
outcome<stored_t<T>> take_outcome(future_state_base* st) {
    st->log_exception = false;
    if (st->exception) {
        st->log_exception = false;
        return outcome<stored_t<T>>(st->exception);
    }
    return outcome<stored_t<T>>(take_value<T>(st));
}

// Every child's exception counts as seen by gather (Python marks them retrieved too).
inline void mark_retrieved(future_state_base* st) noexcept { st->log_exception = false; }

inline void finish_gather(child_wait& w) {
    if (w.outer_cancelled()) w.throw_outer_cancel();
    if (w.first_error()) std::rethrow_exception(w.first_error());
}

template <class A>
std::vector<future<value_of_t<A>>> to_futures(std::vector<A>&& aws) {
    std::vector<future<value_of_t<A>>> fs;
    fs.reserve(aws.size());
    for (auto& a : aws) {
        if constexpr (is_coro<A>::value)
            fs.push_back(as_future(std::move(a)));
        else
            fs.push_back(std::move(a));  // a moved handle: the state is not touched
    }
    return fs;
}

// The children become tasks when the gather coroutine starts, not when gather() is called: a
// gather that never runs (cancelled before its first step) leaves no orphan children behind.
// A braced list is evaluated left to right: children start in argument order, as in Python.
template <class... A>
coro<std::tuple<stored_t<value_of_t<A>>...>> gather_tuple(A... aws) {
    std::tuple<future<value_of_t<A>>...> fs{as_future(std::move(aws))...};
    auto states = std::apply(
        [](auto&... f) { return std::array<future_state_base*, sizeof...(A)>{f.state_ptr()...}; }, fs);
    child_wait w(sizeof...(A), child_wait::until::first_failure_cancels_rest,
                 child_wait::on_cancel_do::cancel_children_and_wait);
    for (std::size_t i = 0; i < states.size(); ++i) w.set_child(i, states[i]);
    co_await w;
    for (auto* st : states) mark_retrieved(st);
    finish_gather(w);
    co_return std::apply(
        [](auto&... f) {
            return std::tuple<stored_t<value_of_t<A>>...>(take_value<value_of_t<A>>(f.state_ptr())...);
        },
        fs);
}

template <class... A>
coro<std::tuple<outcome<stored_t<value_of_t<A>>>...>> gather_tuple_outcomes(A... aws) {
    std::tuple<future<value_of_t<A>>...> fs{as_future(std::move(aws))...};
    auto states = std::apply(
        [](auto&... f) { return std::array<future_state_base*, sizeof...(A)>{f.state_ptr()...}; }, fs);
    child_wait w(sizeof...(A), child_wait::until::all_done,
                 child_wait::on_cancel_do::cancel_children_and_wait);
    for (std::size_t i = 0; i < states.size(); ++i) w.set_child(i, states[i]);
    co_await w;
    for (auto* st : states) mark_retrieved(st);
    if (w.outer_cancelled()) w.throw_outer_cancel();
    co_return std::apply(
        [](auto&... f) {
            return std::tuple<outcome<stored_t<value_of_t<A>>>...>(
                take_outcome<value_of_t<A>>(f.state_ptr())...);
        },
        fs);
}

template <class A, class T = value_of_t<A>>
coro<std::vector<stored_t<T>>> gather_vector(std::vector<A> aws) {
    std::vector<future<T>> fs = to_futures(std::move(aws));
    child_wait w(fs.size(), child_wait::until::first_failure_cancels_rest,
                 child_wait::on_cancel_do::cancel_children_and_wait);
    for (std::size_t i = 0; i < fs.size(); ++i) w.set_child(i, fs[i].state_ptr());
    co_await w;
    if (w.outer_cancelled() || w.first_error()) {
        for (auto& f : fs) mark_retrieved(f.state_ptr());
        finish_gather(w);
    }
    std::vector<stored_t<T>> out;  // every child succeeded: one pass takes the values
    out.reserve(fs.size());
    for (auto& f : fs) out.push_back(take_value<T>(f.state_ptr()));
    co_return out;
}

template <class A, class T = value_of_t<A>>
coro<std::vector<outcome<stored_t<T>>>> gather_vector_outcomes(std::vector<A> aws) {
    std::vector<future<T>> fs = to_futures(std::move(aws));
    child_wait w(fs.size(), child_wait::until::all_done, child_wait::on_cancel_do::cancel_children_and_wait);
    for (std::size_t i = 0; i < fs.size(); ++i) w.set_child(i, fs[i].state_ptr());
    co_await w;
    if (w.outer_cancelled()) {
        for (auto& f : fs) mark_retrieved(f.state_ptr());
        w.throw_outer_cancel();
    }
    std::vector<outcome<stored_t<T>>> out;
    out.reserve(fs.size());
    for (auto& f : fs) out.push_back(take_outcome<T>(f.state_ptr()));
    co_return out;
}

}  // namespace detail

/// Runs every argument (coro, task or future) concurrently; each coro becomes a task when the
/// gather starts (it is lazy, like every coro: a gather never awaited starts nothing).
/// Returns their results in argument order (`void` gives std::monostate).
/// Throws: the first child's exception (a cancelled child fails with cancelled_error); the
/// other children are cancelled and awaited first, so no child outlives the call.
/// Cancellation: cancels every child, waits for them, throws cancelled_error.
/// Python: asyncio.gather(*aws).
template <detail::composable... A>
coro<std::tuple<detail::stored_t<detail::value_of_t<A>>...>> gather(A... aws) {
    (detail::untrack_never_awaited(aws), ...);  // debug mode: a gather that never runs is what is reported
    return detail::gather_tuple(std::move(aws)...);
}

/// As gather(aws...), but each child's failure is returned as its outcome; nothing is
/// cancelled because a child failed. Python: asyncio.gather(*aws, return_exceptions=True).
template <detail::composable... A>
coro<std::tuple<outcome<detail::stored_t<detail::value_of_t<A>>>...>> gather(return_exceptions_t, A... aws) {
    (detail::untrack_never_awaited(aws), ...);
    return detail::gather_tuple_outcomes(std::move(aws)...);
}

/// gather over a range: results in input order.
template <detail::composable A>
coro<std::vector<detail::stored_t<detail::value_of_t<A>>>> gather(std::vector<A> aws) {
    for (const A& a : aws) detail::untrack_never_awaited(a);
    return detail::gather_vector(std::move(aws));
}

template <detail::composable A>
coro<std::vector<outcome<detail::stored_t<detail::value_of_t<A>>>>> gather(return_exceptions_t,
                                                                           std::vector<A> aws) {
    for (const A& a : aws) detail::untrack_never_awaited(a);
    return detail::gather_vector_outcomes(std::move(aws));
}

}  // namespace asyncio
