// What the compositions accept (a coro, a task or a future) and how they turn it into a future.
#pragma once

#include <type_traits>

#include "../coro.hpp"
#include "../future.hpp"
#include "../task.hpp"

namespace asyncio::detail {

template <class A>
struct awaitable_traits;
template <class T>
struct awaitable_traits<coro<T>> {
    using value_type = T;
};
template <class T>
struct awaitable_traits<task<T>> {
    using value_type = T;
};
template <class T>
struct awaitable_traits<future<T>> {
    using value_type = T;
};

template <class A>
concept composable = requires {
    typename awaitable_traits<std::remove_cvref_t<A>>::value_type;
};

template <class A>
using value_of_t = typename awaitable_traits<std::remove_cvref_t<A>>::value_type;

/// A coro becomes a task on the running loop; a task or future is shared as it is.
template <class T>
future<T> as_future(coro<T>&& c) {
    return create_task(std::move(c));
}
template <class T>
future<T> as_future(const task<T>& t) {
    return t;
}
template <class T>
future<T> as_future(const future<T>& f) {
    return f;
}
template <class T>
future<T> as_future(task<T>&& t) {
    return std::move(t);
}
template <class T>
future<T> as_future(future<T>&& f) {
    return std::move(f);
}

/// The value of a done future, moved out when nobody else holds the state.
template <class T>
stored_t<T> take_value(future_state_base* st) {
    st->rethrow_if_failed();
    auto& v = *static_cast<std::optional<stored_t<T>>*>(st->value_storage());
    if constexpr (std::is_copy_constructible_v<stored_t<T>>) {
        if (st->refs > 1) return *v;
    }
    return std::move(*v);
}

}  // namespace asyncio::detail
