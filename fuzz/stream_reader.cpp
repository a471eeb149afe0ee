// libFuzzer target for asyncio::stream_reader: the same bytes, fed in one chunk or in arbitrary
// chunks, must give the same results through readline / readuntil / readexactly / read(-1)
// (values, exceptions with their partial data, and what is left at the end). Only read(n) may
// depend on how bytes arrive, so it is not used.
//
// Input layout (every input is valid):
//   byte 0      the reader's limit: 1 + b % 64
//   byte 1      the number of operations: 1 + b % 16
//   next N      one byte per operation: b % 4 picks readline, readuntil, readexactly, read-all;
//               b / 4 is the readexactly size (0-63) or picks the separator
//   next 8      chunk sizes, used in turn (0 means 1)
//   the rest    the stream's bytes (then EOF)
//
// Seeds: fuzz/corpus/stream_reader/ (one input per op kind and separator, hand-made).
// Build: cmake --preset fuzz && cmake --build --preset fuzz; smoke: ctest --preset fuzz; longer:
//   build/fuzz/fuzz/stream_reader_fuzz -max_total_time=600 build/fuzz/fuzz/corpus/stream_reader
//   fuzz/corpus/stream_reader
#include <asyncio/event_loop.hpp>
#include <asyncio/net/streams.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

const char* const separators[] = {"\n", "ab", "\r\n", "xyz"};

struct plan {
    std::ptrdiff_t limit = 1;
    std::vector<std::uint8_t> ops;
    std::vector<std::size_t> chunk_sizes;
    std::string data;
};

plan parse(const std::uint8_t* p, std::size_t n) {
    plan pl;
    std::size_t i = 0;
    auto next = [&]() -> std::uint8_t { return i < n ? p[i++] : 0; };
    pl.limit = 1 + next() % 64;
    std::size_t nops = 1 + next() % 16;
    for (std::size_t k = 0; k < nops; ++k) pl.ops.push_back(next());
    for (int k = 0; k < 8; ++k) {
        std::size_t c = next();
        pl.chunk_sizes.push_back(c == 0 ? 1 : c);
    }
    if (i < n) pl.data.assign(reinterpret_cast<const char*>(p + i), n - i);
    return pl;
}

// One operation's outcome, as text: the value, or the error with its data.
asyncio::coro<std::string> run_op(asyncio::stream_reader& r, std::uint8_t op) {
    std::string out;
    try {
        switch (op % 4) {
            case 0:
                out = "line:" + co_await r.readline();
                break;
            case 1:
                out = "until:" + co_await r.readuntil(separators[(op / 4) % 4]);
                break;
            case 2:
                out = "exactly:" + co_await r.readexactly(op / 4);
                break;
            default:
                out = "all:" + co_await r.read();
                break;
        }
    } catch (const asyncio::incomplete_read_error& e) {
        out = "incomplete:" + e.partial() + ":" + (e.expected() ? std::to_string(*e.expected()) : "-");
    } catch (const asyncio::limit_overrun_error&) {
        out = "overrun";  // consumed() may differ: it says how far the reader had looked
    }
    co_return out;
}

asyncio::coro<std::vector<std::string>> run_ops(asyncio::stream_reader r, std::vector<std::uint8_t> ops) {
    std::vector<std::string> results;
    for (std::uint8_t op : ops) results.push_back(co_await run_op(r, op));
    std::string rest = co_await r.read();
    results.push_back("rest:" + rest);
    co_return results;
}

asyncio::coro<void> feed(asyncio::stream_reader r, std::string data, std::vector<std::size_t> sizes) {
    std::size_t at = 0, k = 0;
    while (at < data.size()) {
        std::size_t n = sizes[k++ % sizes.size()];
        if (n > data.size() - at) n = data.size() - at;
        r.feed_data(std::string_view(data).substr(at, n));
        at += n;
        co_await asyncio::sleep(std::chrono::seconds(0));  // the reader runs between chunks
    }
    r.feed_eof();
}

asyncio::coro<std::vector<std::string>> in_one_chunk(plan pl) {
    asyncio::stream_reader r(pl.limit);
    r.feed_data(pl.data);
    r.feed_eof();
    std::vector<std::string> out = co_await run_ops(r, pl.ops);
    co_return out;
}

asyncio::coro<std::vector<std::string>> in_chunks(plan pl) {
    asyncio::stream_reader r(pl.limit);
    auto feeder = asyncio::create_task(feed(r, pl.data, pl.chunk_sizes));
    std::vector<std::string> out = co_await run_ops(r, pl.ops);
    co_await feeder;
    co_return out;
}

asyncio::event_loop& the_loop() {
    static asyncio::event_loop* loop = new asyncio::event_loop();  // one for the whole run
    return *loop;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    plan pl = parse(data, size);
    asyncio::event_loop& loop = the_loop();
    std::vector<std::string> whole = loop.run_until_complete(in_one_chunk(pl));
    std::vector<std::string> chunked = loop.run_until_complete(in_chunks(pl));
    if (whole != chunked) {
        std::fprintf(stderr, "stream_reader: results depend on the chunking (limit %td)\n", pl.limit);
        for (std::size_t i = 0; i < whole.size() || i < chunked.size(); ++i)
            std::fprintf(stderr, "  op %zu: one chunk '%s' / chunked '%s'\n", i,
                         i < whole.size() ? whole[i].c_str() : "(none)",
                         i < chunked.size() ? chunked[i].c_str() : "(none)");
        std::abort();
    }
    return 0;
}
