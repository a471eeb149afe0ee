// Fixture for `scripts/lint-coroutines --self-test`: shapes that must NOT be reported. Never compiled.
#include <asyncio/asyncio.hpp>

#include <string>
#include <vector>

asyncio::coro<bool> ready();
asyncio::coro<int> value();
asyncio::coro<int> sum(std::vector<int> v);
asyncio::coro<int> add(int a, int b) { co_return a + b; }

// Conditions: the awaited value is stored first. A declaration in the condition is not rule 1.
asyncio::coro<void> conditions(asyncio::async_generator<int>& gen) {
    bool ok = co_await ready();
    if (ok) {
    }
    if (auto n = co_await value(); n > 0) {
    }
    while (auto v = co_await gen.next()) {
    }
    int n = co_await value();
    if (n != 0 && ok) {
    }
    bool not_ok = !ok;  // "!co_await" in a comment or "if (co_await x)" in a string is fine
    const char* s = "while (co_await x) && co_await y || !co_await z";
    (void)not_ok; (void)s;
}

// Lambdas: no capture, or capture outside any co_await statement.
asyncio::coro<void> lambdas(int x) {
    int a = co_await []() -> asyncio::coro<int> { co_return 1; }();
    int b = co_await add(x, 2);
    auto fn = [x](int k) { return x + k; };
    std::vector<int> values(static_cast<std::size_t>(x), 0);
    int c = co_await value();
    c += fn(values[0]);
    (void)a; (void)b;
}

// Braces: blocks, lambda bodies and initializers in statements of their own.
asyncio::coro<void> braces(int a) {
    std::vector<int> v{a, 2};
    int s = co_await sum(std::move(v));
    auto opts = asyncio::wait_options{.timeout = std::chrono::seconds(1)};
    auto r = co_await asyncio::wait(tasks, opts);
    for (int i = 0; i < 3; ++i) {
        s += co_await value();
    }
    auto t = co_await asyncio::gather(value(), value());
    struct point { int x, y; };
    if (s > 0) { s = co_await value(); } else { s = 1'000; }
    (void)r; (void)t;
}

// An exempted line: the comment names why it is safe.
asyncio::coro<void> exempt() {
    if (co_await ready()) {  // lint: allow-coroutine-pattern (fixture: shows the exemption)
    }
}
