// asyncio::run: the program's entry point into the loop. Python: asyncio.run(main()).
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "coro.hpp"
#include "event_loop.hpp"
#include "task.hpp"

namespace asyncio {

/// Options of asyncio::run (a new loop is made with them).
struct run_options {
    std::optional<bool> debug;  // unset: ASYNCIO_DEBUG=1 decides
    asyncio::backend backend = backend::automatic;
    clock_kind clock = clock_kind::real_time;
};

namespace detail {
/// The part of run() that is not a template: makes the loop, runs `main`, cleans up.
/// `start` creates the main task on the loop and returns it.
void run_main(const run_options& opts, unique_function<any_task(event_loop&)> start);
}  // namespace detail

/// Runs `main` as a task on a new loop; then cancels every task still pending and waits for
/// them, shuts the default executor down, closes the loop, and returns main's result (or
/// rethrows its exception). SIGINT while it runs cancels the main task; run then throws
/// asyncio::keyboard_interrupt. Throws std::runtime_error when a loop already runs on this thread.
/// Python: asyncio.run(main(), debug=).
template <class T>
T run(coro<T> main, run_options opts = {}) {
    task<T> t;
    detail::run_main(opts, [&](event_loop& loop) {
        t = loop.create_task(std::move(main), "main");
        return t.as_any();
    });
    return detail::take_result<T>(t);
}

}  // namespace asyncio
