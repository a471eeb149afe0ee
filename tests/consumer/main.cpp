// Smallest program against an installed asyncio: find_package + umbrella header + run().
#include <asyncio/asyncio.hpp>
#include <chrono>

asyncio::coro<int> hello() {
    co_await asyncio::sleep(std::chrono::milliseconds(1));
    co_return 42;
}

int main() { return asyncio::run(hello()) == 42 ? 0 : 1; }
