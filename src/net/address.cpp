// asyncio::net::address and the resolver's error category.
#include "asyncio/net/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <ostream>
#include <stdexcept>

namespace asyncio::net {

namespace {

class resolver_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "resolver"; }
    std::string message(int code) const override { return ::gai_strerror(code); }
};

int checked_port(int port) {
    if (port < 0 || port > 65535)
        throw std::invalid_argument("port must be 0-65535, not " + std::to_string(port));
    return port;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::string_view unix_path_bytes(const sockaddr_storage& ss, socklen_t len) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string_view p(un->sun_path, n);
    if (!p.empty() && p[0] != '\0') {  // a filesystem path: up to its NUL, if the length counted it
        std::size_t nul = p.find('\0');
        if (nul != std::string_view::npos) p = p.substr(0, nul);
    }
    return p;
}

}  // namespace

const std::error_category& resolver_category() noexcept {
    static const resolver_category_impl category;
    return category;
}

address::address() noexcept : storage_{}, len_(0) { storage_.ss_family = AF_UNSPEC; }

address::address(std::string_view ip, int port) : address() {
    checked_port(port);
    std::string text(ip);  // inet_pton wants a NUL-terminated string
    if (text.find('\0') != std::string::npos)
        throw std::invalid_argument("an address literal cannot contain a NUL byte");
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage_);
    if (text.find(':') == std::string::npos) {
        if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) != 1)
            throw std::invalid_argument("'" + text + "' is not an IPv4 or IPv6 address literal");
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        len_ = sizeof(sockaddr_in);
        return;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage_);
    std::string scope;
    std::size_t pct = text.find('%');
    if (pct != std::string::npos) {
        scope = text.substr(pct + 1);
        text.resize(pct);
    }
    if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) != 1 ||
        (pct != std::string::npos && scope.empty()))
        throw std::invalid_argument("'" + std::string(ip) + "' is not an IPv4 or IPv6 address literal");
    if (!scope.empty()) {
        if (all_digits(scope) && scope.size() < 10) {
            v6->sin6_scope_id = static_cast<std::uint32_t>(std::stoul(scope));
        } else {
            v6->sin6_scope_id = ::if_nametoindex(scope.c_str());
            if (v6->sin6_scope_id == 0)
                throw std::invalid_argument("unknown network interface '" + scope + "' in '" +
                                            std::string(ip) + "'");
        }
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len_ = sizeof(sockaddr_in6);
}

address address::unix_path(std::string_view path) {
    address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    bool abstract = !path.empty() && path[0] == '\0';
    // A filesystem path needs room for its terminating NUL; an abstract name does not have one.
    std::size_t room = sizeof(un->sun_path) - (abstract ? 0 : 1);
    if (path.size() > room)
        throw std::invalid_argument("AF_UNIX path too long (" + std::to_string(path.size()) +
                                    " bytes, at most " + std::to_string(room) + ")");
    if (!abstract && path.find('\0') != std::string_view::npos)
        throw std::invalid_argument("AF_UNIX path contains a NUL byte");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                    (abstract || path.empty() ? 0 : 1));
    return a;
}

address address::from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (!sa || len < static_cast<socklen_t>(sizeof(sa_family_t)))
        throw std::invalid_argument("socket address too short");
    address a;
    switch (sa->sa_family) {
        case AF_INET:
            if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) break;
            std::memcpy(&a.storage_, sa, sizeof(sockaddr_in));
            a.len_ = sizeof(sockaddr_in);
            return a;
        case AF_INET6:
            if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) break;
            std::memcpy(&a.storage_, sa, sizeof(sockaddr_in6));
            a.len_ = sizeof(sockaddr_in6);
            return a;
        case AF_UNIX: {
            if (len > static_cast<socklen_t>(sizeof(sockaddr_un))) len = sizeof(sockaddr_un);
            std::memcpy(&a.storage_, sa, len);
            // Normalise: the kernel may or may not count a filesystem path's NUL.
            std::string_view p = unix_path_bytes(a.storage_, len);
            return unix_path(p);
        }
        default:
            throw std::invalid_argument("unsupported address family " + std::to_string(sa->sa_family));
    }
    throw std::invalid_argument("socket address too short for its family");
}

int address::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

std::string address::host() const {
    char buf[INET6_ADDRSTRLEN + 16];
    switch (family()) {
        case AF_INET:
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
            return buf;
        case AF_INET6: {
            const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
            ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
            std::string s = buf;
            if (v6->sin6_scope_id != 0) s += "%" + std::to_string(v6->sin6_scope_id);
            return s;
        }
        case AF_UNIX: {
            std::string p(unix_path_bytes(storage_, len_));
            if (!p.empty() && p[0] == '\0') p[0] = '@';
            return p;
        }
        default:
            return {};
    }
}

std::string address::to_string() const {
    switch (family()) {
        case AF_INET:
            return host() + ":" + std::to_string(port());
        case AF_INET6:
            return "[" + host() + "]:" + std::to_string(port());
        case AF_UNIX: {
            std::string p = host();
            return p.empty() ? "<unnamed>" : p;
        }
        default:
            return "<unspecified>";
    }
}

bool operator==(const address& a, const address& b) noexcept {
    if (a.family() != b.family()) return false;
    switch (a.family()) {
        case AF_INET: {
            const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage_);
            const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage_);
            return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        case AF_INET6: {
            const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage_);
            const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage_);
            return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
                   std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
        }
        case AF_UNIX:
            return unix_path_bytes(a.storage_, a.len_) == unix_path_bytes(b.storage_, b.len_);
        default:
            return true;  // both empty
    }
}

std::ostream& operator<<(std::ostream& os, const address& a) { return os << a.to_string(); }

}  // namespace asyncio::net
