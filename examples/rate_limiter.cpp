// rate_limiter: 20 "requests" started at once, but a semaphore of 3 lets at most 3 run at a
// time; the others wait their turn, first come first served. Python's
// `async with semaphore:` is `auto permit = co_await semaphore.scoped();`.
//
// Exits 0 if no more than 3 requests ever ran at once (and 3 did, at some point).
#include <algorithm>
#include <asyncio/asyncio.hpp>
#include <asyncio/sync/semaphore.hpp>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

constexpr int max_concurrent = 3;
int running = 0;      // requests running now
int max_running = 0;  // the most that ever ran at once

// README: begin rate_limiter
asyncio::coro<void> request(asyncio::semaphore& limit, int id) {
    auto permit = co_await limit.scoped();  // waits while 3 requests run
    max_running = std::max(max_running, ++running);
    std::printf("request %2d starts (%d running)\n", id, running);
    co_await asyncio::sleep(20ms + 5ms * (id % 4));  // stands for the network
    --running;
    std::printf("request %2d ends\n", id);
}  // the permit goes back here, to the longest-waiting request

asyncio::coro<void> main_coro() {
    asyncio::semaphore limit(max_concurrent);
    std::vector<asyncio::coro<void>> requests;
    for (int id = 1; id <= 20; ++id) requests.push_back(request(limit, id));
    co_await asyncio::gather(std::move(requests));
    std::printf("at most %d requests ran at once\n", max_running);
}
// README: end rate_limiter

int main() {
    asyncio::run(main_coro());
    bool ok = max_running == max_concurrent;
    if (!ok) std::printf("UNEXPECTED: the limit was %d, %d ran at once\n", max_concurrent, max_running);
    return ok ? 0 : 1;
}
