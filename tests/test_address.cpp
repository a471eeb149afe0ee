// Tests of <asyncio/net/address.hpp> (net::address: IPv4, IPv6, Unix paths; parsing, printing,
// equality, sockaddr round trips).
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <asyncio/net/address.hpp>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

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

}  // namespace
