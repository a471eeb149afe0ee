// asyncio::to_thread: run a blocking call on the default thread pool. Python: asyncio.to_thread.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "event_loop.hpp"

namespace asyncio {

/// Calls `fn(args...)` on the running loop's default executor; await the returned future for
/// its result (its exception is rethrown there). Cancellation: the awaiting task gets
/// cancelled_error at once; the call runs to its end on its thread and its result is dropped.
/// Python: asyncio.to_thread(fn, *args).
template <class F, class... Args>
auto to_thread(F fn, Args... args) -> future<std::invoke_result_t<F&, Args&...>> {
    return get_running_loop().run_in_executor(
        nullptr,
        [fn = std::move(fn), ... args = std::move(args)]() mutable { return std::invoke(fn, args...); });
}

}  // namespace asyncio
