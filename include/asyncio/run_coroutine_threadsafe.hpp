// asyncio::run_coroutine_threadsafe: hand a coroutine to a loop running on another thread.
// Python: asyncio.run_coroutine_threadsafe.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>

#include "event_loop.hpp"

namespace asyncio {

/// Runs `c` as a task on `loop` (from any thread) and returns a std::future of its result.
/// The loop counts the hand-off as work in flight until the task is done. If the loop closes
/// before the task ran, the std::future reports std::future_error (broken_promise), not a hang.
/// Throws std::runtime_error if the loop is closed already.
template <class T>
std::future<T> run_coroutine_threadsafe(coro<T> c, event_loop& loop) {
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> result = promise->get_future();
    loop.keepalive_acquire();
    try {
        loop.call_soon_threadsafe([c = std::move(c), promise, &loop]() mutable {
            try {
                task<T> t = loop.create_task(std::move(c));
                t.add_done_callback([promise, &loop](future<T> f) {
                    try {
                        if constexpr (std::is_void_v<T>) {
                            f.result();
                            promise->set_value();
                        } else {
                            promise->set_value(f.result());
                        }
                    } catch (...) {
                        promise->set_exception(std::current_exception());
                    }
                    loop.keepalive_release();
                });
            } catch (...) {
                promise->set_exception(std::current_exception());
                loop.keepalive_release();
            }
        });
    } catch (...) {
        loop.keepalive_release();
        throw;
    }
    return result;
}

}  // namespace asyncio
