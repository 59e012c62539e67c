// net_addr.cpp — Addr conversions and the parsing of network addresses
// (as Go's net.SplitHostPort and the numeric part of its resolver).
//
// Owns no state. Names other than "localhost" go to weft::sys::getaddrinfo,
// which runs the resolver between entersyscall/exitsyscall, so a slow DNS
// answer blocks only the dialing fiber.
#include <weft/net_addr.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/un.h>

#include <weft/sys.hpp>

namespace weft::net {

Addr Addr::from_sockaddr(const sockaddr* sa, socklen_t len) {
    Addr a;
    if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return a;
    switch (sa->sa_family) {
        case AF_INET: {
            sockaddr_in in;
            std::memcpy(&in, sa, sizeof in);
            a.family_ = Family::kIPv4;
            a.port_ = ntohs(in.sin_port);
            std::memcpy(a.ip_.data(), &in.sin_addr, 4);
            return a;
        }
        case AF_INET6: {
            sockaddr_in6 in6;
            std::memcpy(&in6, sa, sizeof in6);
            a.family_ = Family::kIPv6;
            a.port_ = ntohs(in6.sin6_port);
            a.scope_id_ = in6.sin6_scope_id;
            std::memcpy(a.ip_.data(), &in6.sin6_addr, 16);
            return a;
        }
        case AF_UNIX: {
            a.family_ = Family::kUnix;
            sockaddr_un un{};
            std::memcpy(&un, sa, std::min<size_t>(len, sizeof un));
            if (len <= offsetof(sockaddr_un, sun_path)) return a;  // unnamed
            // The kernel may report a longer address than sockaddr_un holds:
            // only the copied bytes are read.
            size_t n = std::min<size_t>(len - offsetof(sockaddr_un, sun_path), sizeof un.sun_path);
            if (un.sun_path[0] == '\0') {  // abstract: "@name"
                a.path_.reserve(n);
                a.path_.push_back('@');
                a.path_.append(un.sun_path + 1, n - 1);
            } else {
                a.path_ = std::string(un.sun_path, strnlen(un.sun_path, n));
            }
            return a;
        }
        default: return a;
    }
}

Addr Addr::ipv4(const std::array<uint8_t, 4>& ip, uint16_t port) {
    Addr a;
    a.family_ = Family::kIPv4;
    a.port_ = port;
    std::memcpy(a.ip_.data(), ip.data(), 4);
    return a;
}

Addr Addr::ipv6(const std::array<uint8_t, 16>& ip, uint16_t port, uint32_t scope_id) {
    Addr a;
    a.family_ = Family::kIPv6;
    a.port_ = port;
    a.scope_id_ = scope_id;
    a.ip_ = ip;
    return a;
}

Addr Addr::unix_path(std::string_view path) {
    Addr a;
    a.family_ = Family::kUnix;
    a.path_ = std::string(path);
    return a;
}

socklen_t Addr::to_sockaddr(sockaddr_storage& ss) const {
    std::memset(&ss, 0, sizeof ss);
    switch (family_) {
        case Family::kNone: return 0;
        case Family::kIPv4: {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            in.sin_port = htons(port_);
            std::memcpy(&in.sin_addr, ip_.data(), 4);
            std::memcpy(&ss, &in, sizeof in);
            return sizeof in;
        }
        case Family::kIPv6: {
            sockaddr_in6 in6{};
            in6.sin6_family = AF_INET6;
            in6.sin6_port = htons(port_);
            in6.sin6_scope_id = scope_id_;
            std::memcpy(&in6.sin6_addr, ip_.data(), 16);
            std::memcpy(&ss, &in6, sizeof in6);
            return sizeof in6;
        }
        case Family::kUnix: {
            sockaddr_un un{};
            un.sun_family = AF_UNIX;
            // resolve() checked the length; a longer path is cut, not overrun.
            size_t n = std::min(path_.size(), sizeof un.sun_path - 1);
            std::memcpy(un.sun_path, path_.data(), n);
            socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
            if (!path_.empty() && path_[0] == '@') {
                un.sun_path[0] = '\0';  // abstract: no terminator, length counts
            } else {
                len += 1;  // the terminating NUL
            }
            std::memcpy(&ss, &un, sizeof un);
            return len;
        }
    }
    return 0;
}

std::string Addr::ip_string() const {
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    switch (family_) {
        case Family::kNone: return "";
        case Family::kIPv4: inet_ntop(AF_INET, ip_.data(), buf, sizeof buf); return buf;
        case Family::kIPv6: {
            inet_ntop(AF_INET6, ip_.data(), buf, sizeof buf);
            std::string s = buf;
            if (scope_id_ != 0) {
                char ifname[IF_NAMESIZE];
                if (if_indextoname(scope_id_, ifname) != nullptr) s += fmt::format("%{}", ifname);
                else s += fmt::format("%{}", scope_id_);
            }
            return s;
        }
        case Family::kUnix: return path_;
    }
    return "";
}

std::string Addr::to_string() const {
    switch (family_) {
        case Family::kNone: return "";
        case Family::kIPv4: return fmt::format("{}:{}", ip_string(), port_);
        case Family::kIPv6: return fmt::format("[{}]:{}", ip_string(), port_);
        case Family::kUnix: return path_;
    }
    return "";
}

namespace detail {
namespace {

[[noreturn]] void bad(std::string_view op, Network net, const std::string& why) {
    throw std::invalid_argument(fmt::format("{} {}: {}", op, network_name(net), why));
}

struct HostPort {
    std::string host;
    std::string port;
};

// As Go's SplitHostPort, with messages that name the address.
HostPort split_host_port(std::string_view op, Network net, std::string_view address) {
    std::string a(address);
    if (a.empty()) bad(op, net, "empty address (want host:port, [ipv6]:port or :port)");
    size_t colon = a.rfind(':');
    if (colon == std::string::npos) bad(op, net, fmt::format("'{}' has no port", a));
    HostPort hp;
    if (a[0] == '[') {
        size_t end = a.find(']');
        if (end == std::string::npos) bad(op, net, fmt::format("'{}' is missing ']'", a));
        if (end + 1 == a.size()) bad(op, net, fmt::format("'{}' has no port", a));
        if (a[end + 1] != ':') bad(op, net, fmt::format("'{}' has junk after ']'", a));
        hp.host = a.substr(1, end - 1);
        hp.port = a.substr(end + 2);
        if (hp.host.find('[') != std::string::npos || hp.host.find(']') != std::string::npos)
            bad(op, net, fmt::format("'{}' has an unexpected bracket", a));
    } else {
        hp.host = a.substr(0, colon);
        hp.port = a.substr(colon + 1);
        if (hp.host.find(':') != std::string::npos)
            bad(op, net, fmt::format("'{}' has too many colons (write IPv6 addresses in brackets: [::1]:80)", a));
        if (hp.host.find('[') != std::string::npos || hp.host.find(']') != std::string::npos)
            bad(op, net, fmt::format("'{}' has an unexpected bracket", a));
    }
    return hp;
}

uint16_t parse_port(std::string_view op, Network net, std::string_view address, const std::string& port) {
    if (port.empty()) bad(op, net, fmt::format("'{}' has no port", address));
    uint32_t v = 0;
    for (char c : port) {
        if (c < '0' || c > '9')
            bad(op, net, fmt::format("port '{}' in '{}' is not a number (service names are not resolved)", port, address));
        v = v * 10 + static_cast<uint32_t>(c - '0');
        if (v > 65535) bad(op, net, fmt::format("port {} in '{}' is out of range (0-65535)", port, address));
    }
    return static_cast<uint16_t>(v);
}

bool want_v4(Network n) { return !is_v6_only(n); }
bool want_v6(Network n) { return !is_v4_only(n); }

Addr loopback(Network net, uint16_t port) {
    if (is_v6_only(net)) {
        std::array<uint8_t, 16> ip{};
        ip[15] = 1;
        return Addr::ipv6(ip, port);
    }
    return Addr::ipv4({127, 0, 0, 1}, port);
}

// A numeric host, or nullopt-like kNone when it is not numeric.
Addr parse_numeric(std::string_view op, Network net, std::string_view address, const std::string& host,
                   uint16_t port) {
    std::array<uint8_t, 16> ip{};
    if (inet_pton(AF_INET, host.c_str(), ip.data()) == 1) {
        if (!want_v4(net)) {
            if (is_v6_only(net)) {
                // An IPv4 address on tcp6: the v4-mapped form, as Go.
                std::array<uint8_t, 16> m{};
                m[10] = m[11] = 0xff;
                std::memcpy(&m[12], ip.data(), 4);
                return Addr::ipv6(m, port);
            }
        }
        return Addr::ipv4({ip[0], ip[1], ip[2], ip[3]}, port);
    }
    std::string h = host;
    uint32_t scope = 0;
    size_t pct = h.find('%');
    std::string zone;
    if (pct != std::string::npos) {
        zone = h.substr(pct + 1);
        h = h.substr(0, pct);
    }
    if (inet_pton(AF_INET6, h.c_str(), ip.data()) == 1) {
        if (!want_v6(net)) {
            bool mapped = std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t b) { return b == 0; }) && ip[10] == 0xff &&
                          ip[11] == 0xff;
            if (!mapped) bad(op, net, fmt::format("'{}' in '{}' is not an IPv4 address", host, address));
            return Addr::ipv4({ip[12], ip[13], ip[14], ip[15]}, port);
        }
        if (!zone.empty()) {
            bool digits = std::all_of(zone.begin(), zone.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (digits) {
                scope = static_cast<uint32_t>(std::stoul(zone));
            } else {
                scope = if_nametoindex(zone.c_str());
                if (scope == 0) bad(op, net, fmt::format("unknown zone '{}' in '{}'", zone, address));
            }
        }
        return Addr::ipv6(ip, port, scope);
    }
    if (pct != std::string::npos) bad(op, net, fmt::format("'{}' in '{}' is not an IPv6 address", host, address));
    return Addr{};
}

Addr resolve_name(std::string_view op, Network net, const std::string& host, uint16_t port) {
    sys::AddrHints hints;
    hints.family = is_v4_only(net) ? AF_INET : is_v6_only(net) ? AF_INET6 : AF_UNSPEC;
    hints.socktype = is_datagram(net) ? SOCK_DGRAM : SOCK_STREAM;
    std::error_code ec;
    std::vector<sys::Address> found = sys::getaddrinfo(host.c_str(), nullptr, hints, ec);
    if (ec) throw std::system_error(ec, fmt::format("{} {}: lookup {}", op, network_name(net), host));
    // Prefer IPv4 on "tcp" (as Go's dialer, which tries IPv4 first only
    // when it is listed first; the resolver order decides).
    for (const sys::Address& a : found) {
        Addr r = Addr::from_sockaddr(reinterpret_cast<const sockaddr*>(&a.addr), a.len);
        if (!r.is_ip()) continue;
        if (r.family() == Addr::Family::kIPv4) return Addr::ipv4({r.ip_bytes()[0], r.ip_bytes()[1], r.ip_bytes()[2], r.ip_bytes()[3]}, port);
        return Addr::ipv6(r.ip_bytes(), port, r.scope_id());
    }
    throw std::system_error(std::make_error_code(std::errc::address_not_available),
                            fmt::format("{} {}: lookup {}: no suitable address", op, network_name(net), host));
}

}  // namespace

std::string_view network_name(Network n) {
    switch (n) {
        case Network::kTcp: return "tcp";
        case Network::kTcp4: return "tcp4";
        case Network::kTcp6: return "tcp6";
        case Network::kUnix: return "unix";
        case Network::kUdp: return "udp";
        case Network::kUdp4: return "udp4";
        case Network::kUdp6: return "udp6";
    }
    return "?";
}

Network parse_network(std::string_view op, std::string_view network, NetworkKind kind) {
    static constexpr Network kAll[] = {Network::kTcp, Network::kTcp4, Network::kTcp6, Network::kUnix,
                                       Network::kUdp, Network::kUdp4, Network::kUdp6};
    for (Network n : kAll) {
        if (network != network_name(n)) continue;
        if (kind == NetworkKind::kStream && is_datagram(n))
            throw std::invalid_argument(
                fmt::format("{} {}: {} is a datagram network (use listen_packet)", op, network, network));
        if (kind == NetworkKind::kDatagram && !is_datagram(n))
            throw std::invalid_argument(fmt::format("{} {}: {} is a stream network (use {})", op, network, network,
                                                    op == "listen_packet" ? "listen" : "dial"));
        return n;
    }
    const char* known = kind == NetworkKind::kStream     ? "tcp, tcp4, tcp6 or unix"
                        : kind == NetworkKind::kDatagram ? "udp, udp4 or udp6"
                                                         : "tcp, tcp4, tcp6, unix, udp, udp4 or udp6";
    throw std::invalid_argument(fmt::format("{} {}: unknown network '{}' (use {})", op, network, network, known));
}

Addr resolve(std::string_view op, Network net, std::string_view address) {
    if (net == Network::kUnix) {
        if (address.empty()) bad(op, net, "empty socket path");
        constexpr size_t kMax = sizeof(sockaddr_un::sun_path) - 1;
        if (address.size() > kMax)
            bad(op, net, fmt::format("socket path '{}' is too long ({} bytes, at most {})", address, address.size(), kMax));
        if (address.find('\0') != std::string_view::npos) bad(op, net, "socket path contains a NUL byte");
        return Addr::unix_path(address);
    }
    HostPort hp = split_host_port(op, net, address);
    uint16_t port = parse_port(op, net, address, hp.port);
    if (hp.host.empty()) {
        if (op == "listen" || op == "listen_packet") {
            if (is_v4_only(net)) return Addr::ipv4({0, 0, 0, 0}, port);
            return Addr::ipv6({}, port);  // "tcp", "udp": dual-stack, see the header
        }
        return loopback(net, port);
    }
    if (hp.host == "localhost") return loopback(net, port);
    Addr a = parse_numeric(op, net, address, hp.host, port);
    if (a.family() != Addr::Family::kNone) return a;
    return resolve_name(op, net, hp.host, port);
}

}  // namespace detail
}  // namespace weft::net
