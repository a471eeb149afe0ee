// paged_results: an async generator walks a paged API, one page request at a time, following the
// next-page token until there is none; the consumer sees one flat stream of items (`async for`).
// Pages are fetched lazily: the next request starts only when the consumer wants the next item.
//
// The Python it mirrors:
//     async def all_items():
//         token = None
//         while True:
//             page = await fetch_page(token)
//             for item in page.items:
//                 yield item
//             if not (token := page.next_token):
//                 break
//     async for item in all_items(): print(item)
//
// Exits 0 if all 5 items of the 3 pages arrived, in order.
#include <asyncio/async_generator.hpp>
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

struct page {
    std::vector<std::string> items;
    std::optional<std::string> next_token;  // none on the last page
};

// The "server": three pages, chained by tokens.
page serve(const std::optional<std::string>& token) {
    if (!token) return page{{"apple", "banana"}, "p2"};
    if (*token == "p2") return page{{"cherry", "date"}, "p3"};
    return page{{"elderberry"}, std::nullopt};
}

// README: begin paged_results
asyncio::coro<page> fetch_page(std::optional<std::string> token) {
    co_await asyncio::sleep(50ms);  // stands for an HTTP request
    std::printf("  (fetched page %s)\n", token ? token->c_str() : "p1");
    co_return serve(token);
}

asyncio::async_generator<std::string> all_items() {
    std::optional<std::string> token;
    do {
        page p = co_await fetch_page(token);
        for (std::string& item : p.items) co_yield std::move(item);
        token = std::move(p.next_token);
    } while (token);
}

asyncio::coro<std::vector<std::string>> main_coro() {
    std::vector<std::string> seen;
    auto items = all_items();
    while (auto item = co_await items.next()) {  // async for item in all_items()
        std::printf("%s\n", item->c_str());
        seen.push_back(std::move(*item));
    }
    co_return seen;
}
// README: end paged_results

int main() {
    std::vector<std::string> seen = asyncio::run(main_coro());
    std::vector<std::string> expected{"apple", "banana", "cherry", "date", "elderberry"};
    std::printf("%zu items from 3 pages\n", seen.size());
    return seen == expected ? 0 : 1;
}
