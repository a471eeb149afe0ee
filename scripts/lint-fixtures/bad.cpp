// Fixture for `scripts/lint-coroutines --self-test`: every line marked `expect: <rule>` must be
// reported with that rule, and no other line may be. Never compiled.
#include <asyncio/asyncio.hpp>

#include <vector>

asyncio::coro<bool> ready();
asyncio::coro<int> value();
asyncio::coro<int> sum(std::vector<int> v);

asyncio::coro<void> conditions(asyncio::event& ev) {
    if (co_await ready()) {  // expect: co_await-condition
    }
    while (co_await ready()) {  // expect: co_await-condition
    }
    if (!co_await ready()) {  // expect: co_await-condition
    }
    bool both = ev.is_set() && co_await ready();  // expect: co_await-condition
    bool either = ev.is_set() ||  // expect: co_await-condition
                  co_await ready();
    (void)both;
    (void)either;
}

asyncio::coro<void> lambdas(int x) {
    int a = co_await [x]() -> asyncio::coro<int> { co_return x; }();  // expect: capturing-lambda
    int b = co_await asyncio::timeout(std::chrono::seconds(1), [&]() -> asyncio::coro<int> {  // expect: capturing-lambda
        co_return co_await value();
    });
    int c = co_await asyncio::shield(
        [this_x = x](int k) mutable -> coro<int> { co_return this_x + k; }(1));  // expect: capturing-lambda
    (void)a; (void)b; (void)c;
}

asyncio::coro<void> braces(int a) {
    std::vector<int> v = std::vector<int>{a, co_await value()};  // expect: braced-init
    int s = co_await sum(std::vector<int>{a, 2});  // expect: braced-init
    int t = co_await sum({a, 2});  // expect: braced-init
    auto r = co_await asyncio::wait(tasks,
                                    asyncio::wait_options{.timeout = std::chrono::seconds(1)});  // expect: braced-init
    (void)v; (void)s; (void)t; (void)r;
}

// A capturing lambda that is only an argument inside a co_await statement.
asyncio::coro<void> lambda_argument(int p) {
    auto r = co_await asyncio::get_running_loop().run_in_executor(nullptr, [p]() { return p; });  // expect: capturing-lambda
    (void)r;
}
