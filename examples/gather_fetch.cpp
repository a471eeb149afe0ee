// gather_fetch: three "fetches" of 1 s each, awaited together with gather, take about 1 s, not 3.
// Results come back in argument order, as with Python's asyncio.gather.
//
// Exits 0 if the results are 2, 4, 6 and the whole took well under 3 s.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <tuple>

using namespace std::chrono_literals;

// README: begin gather_fetch
asyncio::coro<int> fetch(int x) {
    co_await asyncio::sleep(1s);  // stands for a network round trip
    co_return 2 * x;
}

asyncio::coro<std::tuple<int, int, int>> main_coro() {
    std::tuple<int, int, int> results = co_await asyncio::gather(fetch(1), fetch(2), fetch(3));
    auto [a, b, c] = results;
    std::printf("[%d, %d, %d]\n", a, b, c);
    co_return results;
}
// README: end gather_fetch

int main() {
    auto start = std::chrono::steady_clock::now();
    auto results = asyncio::run(main_coro());
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("three 1 s fetches took %.2f s together (one after the other: 3 s)\n", took.count());
    bool ok = results == std::make_tuple(2, 4, 6) && took >= 0.9s && took < 2.5s;
    return ok ? 0 : 1;
}
