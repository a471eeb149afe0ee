// udp_echo: a UDP echo server and a client in one program, on loopback. The server is bound and
// unconnected: it answers each datagram to whoever sent it. The client is connected to the
// server: it sends five messages, one at a time, and waits for each echo, at most 1 s (UDP may
// lose datagrams, so a wait for a reply always has a bound). Then the server task is cancelled.
//
// The Python it mirrors (3.13):
//     class Echo(asyncio.DatagramProtocol):
//         def connection_made(self, transport): self.transport = transport
//         def datagram_received(self, data, addr): self.transport.sendto(data, addr)
//     server, _ = await loop.create_datagram_endpoint(Echo, local_addr=('127.0.0.1', 0))
//     client, _ = await loop.create_datagram_endpoint(Client, remote_addr=server_address)
//
// Exits 0 when every reply arrived, equal to what was sent.
#include <asyncio/asyncio.hpp>
#include <asyncio/net/datagram.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

using namespace std::chrono_literals;

constexpr int n_messages = 5;

// README: begin udp_echo
asyncio::coro<void> echo_server(asyncio::datagram_socket& server) {
    for (;;) {  // until cancelled
        auto [data, from] = co_await server.recv_from();
        std::printf("server: '%s' from %s\n", data.c_str(), from.to_string().c_str());
        co_await server.send_to(data, from);
    }
}

asyncio::coro<int> client(asyncio::net::address server_address) {
    asyncio::datagram_socket sock = co_await asyncio::open_datagram_endpoint(std::nullopt, server_address);
    int echoed = 0;
    for (int i = 1; i <= n_messages; ++i) {
        std::string message = "message " + std::to_string(i);
        co_await sock.send(message);
        std::string reply = co_await asyncio::wait_for(sock.recv(), 1s);  // timeout_error if lost
        std::printf("client: sent '%s', got '%s' back\n", message.c_str(), reply.c_str());
        if (reply == message) ++echoed;
    }
    co_return echoed;
}

asyncio::coro<int> main_coro() {
    asyncio::net::endpoint local("127.0.0.1", 0);  // port 0: the kernel picks a free one
    asyncio::datagram_socket server = co_await asyncio::open_datagram_endpoint(local);
    std::printf("server: listening on %s\n", server.local_address().to_string().c_str());
    auto serving = asyncio::create_task(echo_server(server), "echo server");
    int echoed = co_await client(server.local_address());
    serving.cancel();  // the server would wait for datagrams forever
    try {
        co_await serving;
    } catch (const asyncio::cancelled_error&) {
    }
    co_return echoed;
}
// README: end udp_echo

int main() {
    int echoed = 0;
    try {
        echoed = asyncio::run(main_coro());
    } catch (const asyncio::timeout_error&) {
        std::printf("UNEXPECTED: a reply did not come within 1 s\n");
        return 1;
    }
    std::printf("%d of %d messages echoed\n", echoed, n_messages);
    return echoed == n_messages ? 0 : 1;
}
