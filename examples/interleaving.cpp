// interleaving: two tasks share one thread; each `co_await` on a sleep hands the thread to the
// other, so their steps interleave: a0 b0 a1 b1 a2 b2 (not a0 a1 a2 b0 b1 b2).
//
// Exits 0 if the steps came in that interleaved order.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

// README: begin interleaving
std::string order;  // the steps, in the order they ran

asyncio::coro<void> worker(std::string name) {
    for (int i = 0; i < 3; ++i) {
        std::printf("%s%d ", name.c_str(), i);
        order += name + std::to_string(i) + " ";
        co_await asyncio::sleep(100ms);  // the other task runs meanwhile
    }
}

asyncio::coro<void> main_coro() {
    co_await asyncio::gather(worker("a"), worker("b"));
    std::printf("\n");
}
// README: end interleaving

int main() {
    auto start = std::chrono::steady_clock::now();
    asyncio::run(main_coro());
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("two workers of 3 x 0.1 s each finished in %.2f s (one after the other: 0.60 s)\n",
                took.count());
    bool ok = order == "a0 b0 a1 b1 a2 b2 ";
    if (!ok) std::printf("UNEXPECTED order: %s\n", order.c_str());
    return ok ? 0 : 1;
}
