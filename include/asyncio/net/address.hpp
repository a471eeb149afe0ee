// asyncio::net::address: a socket address as a small value type (IPv4, IPv6 or a Unix path).
// Python passes addresses as tuples ('127.0.0.1', 8080) / ('::1', 8080, flowinfo, scope_id) or
// path strings; this is the one type for all of them, ready for bind/connect (data(), size()).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>

namespace asyncio::net {

/// The error category of name resolution failures (event_loop::getaddrinfo): the value is the
/// EAI_* code, the message gai_strerror's text. Python: socket.gaierror (an OSError, as this is
/// a std::system_error).
const std::error_category& resolver_category() noexcept;

class address {
  public:
    /// No address (family() == AF_UNSPEC, to_string() == "<unspecified>").
    address() noexcept;
    /// An IPv4 or IPv6 address literal and a port: "127.0.0.1", "::1", "fe80::1%lo" (a scope
    /// by interface name or number). Strict: "127.1", " ::1", "[::1]" and host names are not
    /// literals. Throws std::invalid_argument: "'x' is not an IPv4 or IPv6 address literal",
    /// "port must be 0-65535, not 70000" (Python's message), "unknown network interface 'x'".
    address(std::string_view ip, int port);
    /// A Unix-domain socket path. A path starting with '\0' is in Linux's abstract namespace
    /// (shown with a leading '@'); "" is the unnamed address (of an unbound or unnamed socket).
    /// Throws std::invalid_argument when the path does not fit sun_path (107 bytes).
    static address unix_path(std::string_view path);
    /// Copies what accept/getsockname/getpeername/getaddrinfo returned. Throws
    /// std::invalid_argument for a family other than AF_INET, AF_INET6, AF_UNIX (or a short length).
    static address from_sockaddr(const sockaddr* sa, socklen_t len);

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for an empty address.
    int family() const noexcept { return storage_.ss_family; }
    /// The port (host byte order); 0 for a Unix or empty address.
    int port() const noexcept;
    /// The IP literal ("127.0.0.1", "::1", "fe80::1%2" with the scope's number) or the Unix path
    /// (abstract: "@name"); "" for an empty address.
    std::string host() const;
    /// "127.0.0.1:8080", "[::1]:8080", "/run/x.sock", "@abstract", "<unnamed>" (Unix), "<unspecified>".
    std::string to_string() const;

    /// For bind/connect/sendto.
    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return len_; }

    /// Same family, address, port (IPv6: and scope; flow info is ignored), or same Unix path.
    friend bool operator==(const address& a, const address& b) noexcept;

  private:
    sockaddr_storage storage_;
    socklen_t len_;
};

std::ostream& operator<<(std::ostream& os, const address& a);

}  // namespace asyncio::net
