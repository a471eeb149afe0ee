// hello_world: the smallest asyncio program (Python: asyncio.run(main())).
//
// Exits 0 if the coroutine really slept about a second between "hello" and "world".
// README: begin hello_world
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

asyncio::coro<void> main_coro() {
    std::printf("hello\n");
    co_await asyncio::sleep(1s);
    std::printf("world\n");
}

int main() {
    auto start = std::chrono::steady_clock::now();
    asyncio::run(main_coro());
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("asyncio::run took %.2f s\n", took.count());
    return took >= 0.9s && took < 3s ? 0 : 1;  // about 1 s (generous bounds: machines are noisy)
}
// README: end hello_world
