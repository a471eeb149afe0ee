// blocking_call: a blocking call inside a coroutine freezes the whole loop; asyncio::sleep does
// not; to_thread / run_in_executor move the blocking call to another thread so the loop runs on.
//
// A ticker task counts a tick every 50 ms while the main task waits 0.5 s in four ways.
// Exits 0 if the ticker (nearly) stopped only in the blocking case and the blocking work ran on
// another thread with to_thread / run_in_executor.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

// README: begin blocking_call
int ticks = 0;
std::thread::id work_thread;  // where blocking_work ran last

asyncio::coro<void> ticker() {
    for (;;) {
        co_await asyncio::sleep(50ms);
        ++ticks;
    }
}

// A blocking call: a synchronous library, a slow disk, a CPU-heavy computation...
void blocking_work() {
    work_thread = std::this_thread::get_id();
    std::this_thread::sleep_for(500ms);
}

asyncio::coro<void> wait_blocking() {
    blocking_work();  // wrong: the loop's only thread is stuck here for 0.5 s
    co_return;
}
asyncio::coro<void> wait_sleep() {
    co_await asyncio::sleep(500ms);  // the loop runs other tasks meanwhile
}
asyncio::coro<void> wait_to_thread() {
    co_await asyncio::to_thread(blocking_work);  // runs on the default thread pool
}
asyncio::coro<void> wait_executor() {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    co_await loop.run_in_executor(nullptr, blocking_work);  // nullptr: the default pool
}
// README: end blocking_call

// Runs `wait` while the ticker ticks; returns the number of ticks seen meanwhile.
asyncio::coro<int> ticks_during(asyncio::coro<void> wait) {
    ticks = 0;
    asyncio::task<void> t = asyncio::create_task(ticker());
    co_await asyncio::sleep(0s);  // let the ticker start
    co_await wait;
    t.cancel();
    try {
        co_await t;
    } catch (const asyncio::cancelled_error&) {
        // Expected: we cancelled the ticker. Were we cancelled ourselves, pass that on.
        if (asyncio::current_task().cancelling() > 0) throw;
    }
    co_return ticks;
}

asyncio::coro<bool> main_coro() {
    const std::thread::id loop_thread = std::this_thread::get_id();
    std::printf("a ticker task ticks every 50 ms; the main task waits 0.5 s (about 10 ticks):\n");

    int blocked = co_await ticks_during(wait_blocking());
    bool blocked_on_loop = work_thread == loop_thread;
    std::printf("  blocking_work() in the coroutine      %2d ticks  (the loop was frozen)\n", blocked);

    int slept = co_await ticks_during(wait_sleep());
    std::printf("  co_await asyncio::sleep(500ms)        %2d ticks\n", slept);

    int threaded = co_await ticks_during(wait_to_thread());
    bool to_thread_elsewhere = work_thread != loop_thread;
    std::printf("  co_await asyncio::to_thread(...)      %2d ticks  (work ran on %s thread)\n", threaded,
                to_thread_elsewhere ? "another" : "the loop's");

    int executed = co_await ticks_during(wait_executor());
    bool executor_elsewhere = work_thread != loop_thread;
    std::printf("  co_await loop.run_in_executor(...)    %2d ticks  (work ran on %s thread)\n", executed,
                executor_elsewhere ? "another" : "the loop's");

    // Generous bounds: about 0 vs about 10 ticks on any machine.
    bool as_expected = blocked <= 1 && blocked_on_loop && slept >= 5 && threaded >= 5 &&
                       to_thread_elsewhere && executed >= 5 && executor_elsewhere;
    co_return as_expected;
}

int main() {
    bool ok = asyncio::run(main_coro());
    if (!ok) std::printf("UNEXPECTED: see the tick counts above\n");
    return ok ? 0 : 1;
}
