// asyncio::sleep: wait a while (or yield once). Python: asyncio.sleep.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <string>
#include <utility>

#include "detail/task_core.hpp"

namespace asyncio {

namespace detail {
// A timer leaf: the timer's target is the task itself, so a firing timer only queues the task.
struct sleep_awaiter : wait_point {
    explicit sleep_awaiter(std::int64_t ns) noexcept : delay_ns(ns) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task = h.promise().task;
        if (delay_ns <= 0) {  // sleep(0): yield to the loop exactly once
            task->loop->schedule(task);
            return;
        }
        ops = &ops_;
        timer = task->loop->add_timer(task->loop->now_ns() + delay_ns, task);
        task->suspend_at(this);
    }
    void await_resume() {
        if (cancelled) throw task->take_cancellation();
        task->throw_if_cancel_pending();
    }
    static bool on_cancel(wait_point* wp, task_core* t, const std::string& msg) {
        auto* self = static_cast<sleep_awaiter*>(wp);
        if (!t->loop->cancel_timer(self->timer)) return false;  // fired already: the task is queued
        self->cancelled = true;
        t->set_cancel_message(msg);
        t->wake();
        return true;
    }
    static void describe(const wait_point*, wait_info& info) { info.what = "sleep"; }
    static constexpr wait_ops ops_{&on_cancel, &describe};
    std::int64_t delay_ns;
    task_core* task = nullptr;
    timer_id timer;
    bool cancelled = false;
};

template <class T>
struct sleep_value_awaiter : sleep_awaiter {
    sleep_value_awaiter(std::int64_t ns, T v) : sleep_awaiter(ns), value(std::move(v)) {}
    T await_resume() {
        sleep_awaiter::await_resume();
        return std::move(value);
    }
    T value;
};

template <class Rep, class Period>
std::int64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
    if (d <= std::chrono::duration<Rep, Period>::zero()) return 0;
    using namespace std::chrono;
    // Saturate: sleep(hours::max()) means "forever", not an overflow.
    if (duration<double, std::nano>(d).count() >= 9.0e18) return INT64_MAX / 2;
    auto ns = ceil<nanoseconds>(d).count();
    return ns;
}
}  // namespace detail

/// Suspends the calling task for `delay`; `sleep(0s)` (or a negative delay) yields to the loop
/// exactly once. Cancellation: throws cancelled_error; the timer is gone, nothing else changes.
/// Python: asyncio.sleep(delay).
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::sleep_awaiter(detail::to_ns(delay));
}

/// As sleep(delay), then returns `value`. Python: asyncio.sleep(delay, result).
template <class Rep, class Period, class T>
[[nodiscard]] detail::sleep_value_awaiter<T> sleep(std::chrono::duration<Rep, Period> delay, T value) {
    return detail::sleep_value_awaiter<T>(detail::to_ns(delay), std::move(value));
}

}  // namespace asyncio
