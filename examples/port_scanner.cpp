// port_scanner: scans 100 TCP ports of 127.0.0.1 with at most 10 connects at a time (a
// semaphore), each bounded by a timeout, as a real scanner would for hosts that drop packets.
// An open port accepts the connection; a closed one refuses it at once.
//
// So that the right answer is known, the program first opens ports itself: a listener on port 0
// (the kernel picks a free port P) and two more listeners in the scanned range P-50 .. P+49.
// Every other port of the range is bound without listening: that holds it (nobody else can
// listen there meanwhile) and a connect to it is refused. A port that someone else already
// holds is left out of the check.
//
// The Python it mirrors (3.13):
//     async def is_open(limit, host, port):
//         async with limit:
//             try:
//                 _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
//                 writer.close()
//                 return True
//             except (OSError, TimeoutError):
//                 return False
//     limit = asyncio.Semaphore(10)
//     found = await asyncio.gather(*(is_open(limit, '127.0.0.1', p) for p in ports))
//
// Exits 0 when the ports found open are exactly the listening ones.
#include <sys/socket.h>

#include <algorithm>
#include <asyncio/asyncio.hpp>
#include <asyncio/sync/semaphore.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using asyncio::net::address;

constexpr int max_concurrent = 10;
int connecting = 0;      // connects in progress now
int max_connecting = 0;  // the most that were ever in progress at once

// README: begin port_scanner
asyncio::coro<bool> is_open(asyncio::semaphore& limit, address target) {
    auto permit = co_await limit.scoped();  // waits while 10 connects are in progress
    max_connecting = std::max(max_connecting, ++connecting);
    asyncio::net::socket sock(target.family(), SOCK_STREAM);
    bool open = false;
    try {
        co_await asyncio::wait_for(asyncio::get_running_loop().sock_connect(sock, target), 1s);
        open = true;
    } catch (const std::system_error&) {       // ECONNREFUSED: closed
    } catch (const asyncio::timeout_error&) {  // no answer at all: filtered
    }
    --connecting;
    co_return open;
}  // the socket closes here, then the permit goes to the next probe

asyncio::coro<std::vector<int>> scan(std::string host, int first, int last) {
    asyncio::semaphore limit(max_concurrent);
    std::vector<asyncio::coro<bool>> probes;
    for (int port = first; port <= last; ++port) probes.push_back(is_open(limit, address(host, port)));
    std::vector<bool> open = co_await asyncio::gather(std::move(probes));
    std::vector<int> open_ports;
    for (int port = first; port <= last; ++port)
        if (open[port - first]) open_ports.push_back(port);
    co_return open_ports;
}
// README: end port_scanner

// The ports the scan must find: our listeners; and the ports we hold closed.
struct known_ports {
    int first = 0, last = 0;
    std::vector<asyncio::net::socket> sockets;  // listening or just bound: kept open while scanning
    std::vector<int> listening;
    std::vector<int> not_ours;  // held by someone else already: could be either
};

bool bind_port(known_ports& k, int port, bool listen) {
    try {
        asyncio::net::socket s(AF_INET, SOCK_STREAM);
        s.bind(address("127.0.0.1", port));
        if (listen) s.listen();
        k.sockets.push_back(std::move(s));
        return true;
    } catch (const std::system_error&) {  // EADDRINUSE: someone else's
        k.not_ours.push_back(port);
        return false;
    }
}

known_ports open_known_ports() {
    known_ports k;
    asyncio::net::socket first_listener(AF_INET, SOCK_STREAM);
    first_listener.bind(address("127.0.0.1", 0));
    first_listener.listen();
    int p = first_listener.local_address().port();
    k.sockets.push_back(std::move(first_listener));
    k.listening.push_back(p);
    k.first = std::max(1, p - 50);
    k.last = std::min(65535, k.first + 99);
    for (int port = k.first; port <= k.last; ++port) {
        if (port == p) continue;
        bool listen = port == k.first + 17 || port == k.last - 8;
        if (bind_port(k, port, listen) && listen) k.listening.push_back(port);
    }
    std::sort(k.listening.begin(), k.listening.end());
    return k;
}

std::string join(const std::vector<int>& ports) {
    std::string s;
    for (int p : ports) s += (s.empty() ? "" : " ") + std::to_string(p);
    return s.empty() ? "none" : s;
}

int main() {
    known_ports known = open_known_ports();
    std::printf("listening on 127.0.0.1 ports %s\n", join(known.listening).c_str());
    std::printf("scanning 127.0.0.1 ports %d-%d, at most %d connects at once\n", known.first, known.last,
                max_concurrent);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int> found = asyncio::run(scan("127.0.0.1", known.first, known.last));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("open: %s (%lld ms; at most %d connects were in progress at once)\n", join(found).c_str(),
                static_cast<long long>(ms.count()), max_connecting);

    // Ports held by others (rare: a scan racing other programs) may come out either way.
    std::vector<int> ours_found;
    for (int port : found)
        if (std::find(known.not_ours.begin(), known.not_ours.end(), port) == known.not_ours.end())
            ours_found.push_back(port);
    if (!known.not_ours.empty())
        std::printf("(%zu ports of the range were in use by others: not checked)\n", known.not_ours.size());
    bool ok = ours_found == known.listening && max_connecting <= max_concurrent;
    if (!ok) std::printf("UNEXPECTED: expected open ports %s\n", join(known.listening).c_str());
    return ok ? 0 : 1;
}
