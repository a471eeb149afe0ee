// Tests of <asyncio/net/address.hpp> (net::address: IPv4, IPv6, Unix paths; parsing, printing,
// equality, sockaddr round trips) and of event_loop::getaddrinfo (run in the default executor;
// literals without a thread; the resolver's errors as std::system_error in resolver_category();
// cancellation). No network: only "localhost", literals, and a name under the reserved ".invalid"
// TLD (RFC 6761), which never resolves.
// ctest-labels: threads
#include <gtest/gtest.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <asyncio/net/address.hpp>
#include <asyncio/net/socket.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/testing.hpp>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using asyncio::net::address;

namespace {

std::string invalid_argument_of(std::string_view ip, int port) {
    try {
        address a(ip, port);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no exception)";
}

// --- parsing and printing -----------------------------------------------------------------------

TEST(Address, Ipv4LiteralAndPort) {
    address a("127.0.0.1", 8080);
    EXPECT_EQ(a.family(), AF_INET);
    EXPECT_EQ(a.port(), 8080);
    EXPECT_EQ(a.host(), "127.0.0.1");
    EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
    EXPECT_EQ(a.size(), sizeof(sockaddr_in));
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.data());
    EXPECT_EQ(ntohs(in->sin_port), 8080);
    EXPECT_EQ(ntohl(in->sin_addr.s_addr), 0x7f000001u);
    EXPECT_EQ(address("0.0.0.0", 0).to_string(), "0.0.0.0:0");
    EXPECT_EQ(address("255.255.255.255", 65535).to_string(), "255.255.255.255:65535");
}

TEST(Address, Ipv6LiteralAndPort) {
    address a("::1", 8080);
    EXPECT_EQ(a.family(), AF_INET6);
    EXPECT_EQ(a.port(), 8080);
    EXPECT_EQ(a.host(), "::1");
    EXPECT_EQ(a.to_string(), "[::1]:8080");
    EXPECT_EQ(a.size(), sizeof(sockaddr_in6));
    // Printed in the canonical (RFC 5952) form, whatever form it was written in.
    EXPECT_EQ(address("0:0:0:0:0:0:0:1", 1).to_string(), "[::1]:1");
    EXPECT_EQ(address("2001:DB8::0:1", 443).to_string(), "[2001:db8::1]:443");
    EXPECT_EQ(address("::ffff:1.2.3.4", 80).to_string(), "[::ffff:1.2.3.4]:80");
    EXPECT_EQ(address("::", 0).to_string(), "[::]:0");
}

TEST(Address, Ipv6ScopeByNameOrNumber) {
    unsigned lo = ::if_nametoindex("lo");
    ASSERT_NE(lo, 0u) << "no loopback interface";
    address by_name("fe80::1%lo", 80);
    address by_number("fe80::1%" + std::to_string(lo), 80);
    EXPECT_EQ(by_name, by_number);
    EXPECT_EQ(by_name.to_string(), "[fe80::1%" + std::to_string(lo) + "]:80");
    EXPECT_NE(by_name, address("fe80::1", 80));  // the scope is part of the address
}

TEST(Address, BadLiteralsAreInvalidArgumentsNamingTheText) {
    for (const char* bad :
         {"127.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", " 127.0.0.1", "127.0.0.1 ", "[::1]",
          "::1::", "1:2:3:4:5:6:7:8:9", "localhost", "", "::1%", "-1.0.0.0", "0x7f.0.0.1"}) {
        EXPECT_EQ(invalid_argument_of(bad, 80),
                  "'" + std::string(bad) + "' is not an IPv4 or IPv6 address literal")
            << bad;
    }
    EXPECT_EQ(invalid_argument_of(std::string_view("127.0.0.1\0x", 11), 80),
              "an address literal cannot contain a NUL byte");
    EXPECT_EQ(invalid_argument_of("fe80::1%no-such-interface0", 80),
              "unknown network interface 'no-such-interface0' in 'fe80::1%no-such-interface0'");
}

TEST(Address, PortOutOfRangeIsAnInvalidArgument) {
    EXPECT_EQ(invalid_argument_of("127.0.0.1", 65536), "port must be 0-65535, not 65536");
    EXPECT_EQ(invalid_argument_of("::1", -1), "port must be 0-65535, not -1");
    EXPECT_EQ(address("127.0.0.1", 0).port(), 0);
    EXPECT_EQ(address("::1", 65535).port(), 65535);
}

TEST(Address, UnixPaths) {
    address a = address::unix_path("/run/app.sock");
    EXPECT_EQ(a.family(), AF_UNIX);
    EXPECT_EQ(a.port(), 0);
    EXPECT_EQ(a.host(), "/run/app.sock");
    EXPECT_EQ(a.to_string(), "/run/app.sock");
    EXPECT_EQ(a.size(), offsetof(sockaddr_un, sun_path) + std::strlen("/run/app.sock") + 1);

    address abstract = address::unix_path(std::string_view("\0hidden", 7));
    EXPECT_EQ(abstract.to_string(), "@hidden");
    EXPECT_EQ(abstract.size(), offsetof(sockaddr_un, sun_path) + 7);  // no terminating NUL counted
    EXPECT_NE(abstract, address::unix_path("@hidden"));               // '@' is only how it prints

    EXPECT_EQ(address::unix_path("").to_string(), "<unnamed>");

    std::string longest(sizeof(sockaddr_un{}.sun_path) - 1, 'x');
    EXPECT_EQ(address::unix_path(longest).host(), longest);
    try {
        (void)address::unix_path(longest + "x");
        ADD_FAILURE() << "no exception for a path too long";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "AF_UNIX path too long (108 bytes, at most 107)");
    }
    EXPECT_THROW((void)address::unix_path(std::string_view("a\0b", 3)), std::invalid_argument);
}

TEST(Address, EqualityComparesWhatMatters) {
    EXPECT_EQ(address("127.0.0.1", 80), address("127.0.0.1", 80));
    EXPECT_NE(address("127.0.0.1", 80), address("127.0.0.1", 81));
    EXPECT_NE(address("127.0.0.1", 80), address("127.0.0.2", 80));
    EXPECT_NE(address("127.0.0.1", 80), address("::ffff:127.0.0.1", 80));  // different families
    EXPECT_EQ(address("::1", 80), address("0::1", 80));
    EXPECT_EQ(address::unix_path("/a"), address::unix_path("/a"));
    EXPECT_NE(address::unix_path("/a"), address::unix_path("/b"));
    EXPECT_EQ(address(), address());
    EXPECT_NE(address(), address("0.0.0.0", 0));
    EXPECT_EQ(address().family(), AF_UNSPEC);
    EXPECT_EQ(address().to_string(), "<unspecified>");
    EXPECT_EQ(address().host(), "");
}

TEST(Address, PrintsToAStream) {
    std::ostringstream os;
    os << address("::1", 7) << " " << address("10.0.0.1", 8);
    EXPECT_EQ(os.str(), "[::1]:7 10.0.0.1:8");
}

TEST(Address, FromSockaddrRoundTrips) {
    for (const address& a :
         {address("192.168.1.2", 1234), address("2001:db8::5", 99), address::unix_path("/tmp/s")}) {
        EXPECT_EQ(address::from_sockaddr(a.data(), a.size()), a) << a;
    }
    // The kernel may or may not count a Unix path's NUL: both give the same address.
    address with_nul = address::unix_path("/tmp/s");
    address without = address::from_sockaddr(with_nul.data(), with_nul.size() - 1);
    EXPECT_EQ(without, with_nul);
    EXPECT_EQ(without.size(), with_nul.size());

    sockaddr other{};
    other.sa_family = AF_APPLETALK;
    EXPECT_THROW((void)address::from_sockaddr(&other, sizeof other), std::invalid_argument);
    address v6("::1", 1);
    EXPECT_THROW((void)address::from_sockaddr(v6.data(), sizeof(sockaddr_in)), std::invalid_argument);
}

TEST(Address, BoundSocketsReportTheirAddress) {
    asyncio::net::socket s(AF_INET6, SOCK_STREAM);
    s.bind(address("::1", 0));
    address local = s.local_address();
    EXPECT_EQ(local.family(), AF_INET6);
    EXPECT_EQ(local.host(), "::1");
    EXPECT_GT(local.port(), 0);
    EXPECT_EQ(local, address("::1", local.port()));
}

// --- getaddrinfo ----------------------------------------------------------------------------------

ASYNC_TEST(GetAddrInfo, LocalhostResolvesToLoopbackAddressesWithThePort) {
    auto& loop = asyncio::get_running_loop();
    std::vector<address> found = co_await loop.getaddrinfo("localhost", 8080);
    CO_ASSERT_FALSE(found.empty());
    for (const address& a : found) {
        EXPECT_EQ(a.port(), 8080) << a;
        EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a;
    }
    for (std::size_t i = 0; i < found.size(); ++i)  // one entry per address, not per socket type
        for (std::size_t j = i + 1; j < found.size(); ++j) EXPECT_NE(found[i], found[j]);

    std::vector<address> v4 = co_await loop.getaddrinfo("localhost", 1, AF_INET);
    CO_ASSERT_FALSE(v4.empty());
    for (const address& a : v4) EXPECT_EQ(a.family(), AF_INET) << a;
}

ASYNC_TEST(GetAddrInfo, LiteralsComeBackAsTheyAre) {
    auto& loop = asyncio::get_running_loop();
    std::vector<address> v4 = co_await loop.getaddrinfo("127.0.0.1", 443);
    CO_ASSERT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4[0], address("127.0.0.1", 443));
    std::vector<address> v6 = co_await loop.getaddrinfo("::1", 443, AF_INET6);
    CO_ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0], address("::1", 443));
    // An empty host: the loopback addresses (no AI_PASSIVE).
    std::vector<address> empty = co_await loop.getaddrinfo("", 5);
    CO_ASSERT_FALSE(empty.empty());
    for (const address& a : empty) EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a;
}

ASYNC_TEST(GetAddrInfo, UnknownHostIsAResolverSystemError) {
    auto& loop = asyncio::get_running_loop();
    std::string what;
    std::error_code code;
    try {
        std::vector<address> found = co_await loop.getaddrinfo("no-such-host.invalid", 80);
        ADD_FAILURE() << "resolved to " << found.size() << " addresses";
    } catch (const std::system_error& e) {
        what = e.what();
        code = e.code();
    }
    CO_ASSERT_EQ(&code.category(), &asyncio::net::resolver_category()) << what;
    EXPECT_NE(code.value(), 0);
    EXPECT_EQ(std::string(code.category().name()), "resolver");
    EXPECT_EQ(what, "getaddrinfo 'no-such-host.invalid': " + std::string(::gai_strerror(code.value())));
}

ASYNC_TEST(GetAddrInfo, AFamilyTheLiteralIsNotIsAResolverError) {
    auto& loop = asyncio::get_running_loop();
    std::error_code code;
    try {
        std::vector<address> found = co_await loop.getaddrinfo("::1", 80, AF_INET);
        ADD_FAILURE() << "resolved to " << found.size() << " addresses";
    } catch (const std::system_error& e) {
        code = e.code();
    }
    EXPECT_EQ(&code.category(), &asyncio::net::resolver_category()) << code.message();
}

ASYNC_TEST(GetAddrInfo, BadPortIsAnInvalidArgument) {
    auto& loop = asyncio::get_running_loop();
    CO_ASSERT_THROW(co_await loop.getaddrinfo("localhost", 70000), std::invalid_argument);
    CO_ASSERT_THROW(co_await loop.getaddrinfo("127.0.0.1", -5), std::invalid_argument);
}

ASYNC_TEST(GetAddrInfo, CancelledWhileTheLookupRunsThrowsCancelledError) {
    auto& loop = asyncio::get_running_loop();
    auto lookup = asyncio::create_task(loop.getaddrinfo("localhost", 80), "lookup");
    co_await asyncio::sleep(0s);  // the lookup task started and waits for the executor
    EXPECT_FALSE(lookup.done());
    lookup.cancel();
    CO_ASSERT_THROW(co_await lookup, asyncio::cancelled_error);
    EXPECT_TRUE(lookup.cancelled());
    // The loop still resolves afterwards (the abandoned job's result was dropped).
    std::vector<address> again = co_await loop.getaddrinfo("localhost", 80);
    EXPECT_FALSE(again.empty());
}

}  // namespace
