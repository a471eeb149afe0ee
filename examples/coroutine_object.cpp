// coroutine_object: calling a coroutine function runs nothing; it returns a coroutine object
// that runs only when it is awaited (Python: `c = compute(21)` prints nothing; `await c` runs it).
//
// Exits 0 if compute() had not run after the call and ran exactly once at the co_await.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// README: begin coroutine_object
int runs = 0;  // how many times compute's body has started

asyncio::coro<int> compute(int x) {
    ++runs;
    std::printf("  compute(%d) is running\n", x);
    co_await asyncio::sleep(10ms);
    co_return x * 2;
}

asyncio::coro<bool> main_coro() {
    asyncio::coro<int> c = compute(21);  // nothing runs: c is a coroutine object
    std::printf("called compute(21): runs = %d\n", runs);
    bool lazy = runs == 0;
    int result = co_await c;  // now it runs, inside this task
    std::printf("co_await c gave %d: runs = %d\n", result, runs);
    bool as_expected = lazy && runs == 1 && result == 42;
    co_return as_expected;
}
// README: end coroutine_object

int main() {
    bool ok = asyncio::run(main_coro());
    std::printf("%s\n", ok ? "the coroutine ran only when awaited" : "UNEXPECTED: see the counts above");
    return ok ? 0 : 1;
}
