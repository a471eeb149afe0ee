// echo_client: talks to a TCP echo server with asyncio::open_connection and checks every byte.
//
//   echo_client [--host H] [--port P]
//
// Sends a few lines (reading each echo with readline), then a 1 MiB message (readexactly), then
// shuts its writing side (write_eof) and reads until the server closes. Without --port it first
// starts an echo server of its own, in the same loop, on a free port (what ctest and the tour
// run), so it needs nothing else; `echo_server --port 8888` and `echo_client --port 8888` talk
// across processes. Exits 0 when every byte came back.
//
// The Python it mirrors:
//     reader, writer = await asyncio.open_connection(host, port)
//     writer.write(b"hello\n")
//     await writer.drain()
//     line = await reader.readline()
//     ...
//     writer.close()
//     await writer.wait_closed()
#include <asyncio/asyncio.hpp>
#include <asyncio/net/server.hpp>
#include <asyncio/net/streams.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

// Bytes that show where they were in the stream: a gap or a reordering changes them.
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s[i] = static_cast<char>(x);
    }
    return s;
}

// README: begin echo_client
asyncio::coro<bool> talk(std::string host, int port) {
    auto [reader, writer] = co_await asyncio::open_connection(host, port);
    std::printf("connected to %s from %s\n", writer.peername().to_string().c_str(),
                writer.sockname().to_string().c_str());
    bool all_good = true;
    for (std::string line : {"hello\n", "how are you?\n", "bye\n"}) {
        writer.write(line);
        co_await writer.drain();
        std::string echoed = co_await reader.readline();
        std::printf("sent %-16s got back %s", ("'" + line.substr(0, line.size() - 1) + "'").c_str(),
                    echoed.c_str());
        all_good = all_good && echoed == line;
    }
    const std::string big = pattern(1 << 20);  // 1 MiB: more than the socket buffers hold
    writer.write(big);                         // sends what it can now, buffers the rest
    co_await writer.drain();                   // waits while the buffer is above 64 KiB
    std::string echoed = co_await reader.readexactly(static_cast<std::ptrdiff_t>(big.size()));
    std::printf("sent 1 MiB, got back %zu bytes: %s\n", echoed.size(),
                echoed == big ? "identical" : "DIFFERENT");
    all_good = all_good && echoed == big;
    writer.write_eof();                         // no more from us...
    std::string rest = co_await reader.read();  // ...the server echoes the rest and closes: EOF
    all_good = all_good && rest.empty() && reader.at_eof();
    writer.close();
    co_await writer.wait_closed();
    co_return all_good;
}
// README: end echo_client

// The echo server used without --port (see examples/echo_server.cpp).
asyncio::coro<void> echo(asyncio::stream_reader reader, asyncio::stream_writer writer) {
    for (;;) {
        std::string data = co_await reader.read(64 * 1024);
        if (data.empty()) break;
        writer.write(data);
        co_await writer.drain();
    }
    writer.close();
}

asyncio::coro<int> main_coro(std::string host, std::optional<int> port) {
    std::optional<asyncio::server> own;
    if (!port) {
        own.emplace(co_await asyncio::start_server(echo, host, 0));
        port = own->port();
        std::printf("started an echo server on %s port %d\n", host.c_str(), *port);
    }
    bool ok = co_await talk(host, *port);
    if (own) {
        own->close();
        co_await own->wait_closed();
    }
    std::printf("%s\n", ok ? "every byte came back" : "MISMATCH");
    co_return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::optional<int> port;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--host" && i + 1 < argc) {
            host = argv[++i];
        } else if (a == "--port" && i + 1 < argc) {
            port = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P]\n", argv[0]);
            return 2;
        }
    }
    try {
        return asyncio::run(main_coro(host, port));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
}
