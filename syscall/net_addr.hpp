// net_addr.hpp — weft::net::Addr, a socket address (IPv4, IPv6 or Unix).
//
//   Addr a = conn.remote_addr();
//   a.to_string();   // "127.0.0.1:8080", "[::1]:80", "[fe80::1%eth0]:22",
//                    // "/tmp/s.sock", "@abstract", "" (unnamed Unix socket)
//   a.port();        // 8080; 0 for Unix addresses
//
// A value type: copyable, comparable, cheap for IP addresses. Any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace weft::net {

class Addr {
public:
    enum class Family : uint8_t {
        kNone,  // default-constructed: no address
        kIPv4,
        kIPv6,
        kUnix,
    };

    Addr() = default;

    // From a kernel address (getsockname, accept). AF_INET, AF_INET6 and
    // AF_UNIX; anything else gives a kNone Addr.
    static Addr from_sockaddr(const sockaddr* sa, socklen_t len);
    static Addr ipv4(const std::array<uint8_t, 4>& ip, uint16_t port);
    static Addr ipv6(const std::array<uint8_t, 16>& ip, uint16_t port, uint32_t scope_id = 0);
    // A filesystem path, or "@name" for Linux's abstract namespace.
    static Addr unix_path(std::string_view path);

    // Fills ss; returns the length to pass to bind/connect (0 for kNone).
    socklen_t to_sockaddr(sockaddr_storage& ss) const;

    Family family() const { return family_; }
    bool is_ip() const { return family_ == Family::kIPv4 || family_ == Family::kIPv6; }
    // The port (0 for Unix and kNone).
    int port() const { return port_; }
    // The address without the port: "127.0.0.1", "::1", "fe80::1%eth0";
    // for Unix, the path.
    std::string ip_string() const;
    // As described above: host:port with IPv6 in brackets, or the path.
    std::string to_string() const;
    // Raw bytes of the IP (IPv4 in the first 4). Meaningful when is_ip().
    const std::array<uint8_t, 16>& ip_bytes() const { return ip_; }
    uint32_t scope_id() const { return scope_id_; }
    // The Unix path ("@name" for an abstract one; empty when unnamed).
    const std::string& path() const { return path_; }

    friend bool operator==(const Addr& a, const Addr& b) = default;

private:
    Family family_ = Family::kNone;
    uint16_t port_ = 0;
    uint32_t scope_id_ = 0;
    std::array<uint8_t, 16> ip_{};
    std::string path_;
};

namespace detail {

enum class Network : uint8_t { kTcp, kTcp4, kTcp6, kUnix, kUdp, kUdp4, kUdp6 };

inline bool is_datagram(Network n) { return n == Network::kUdp || n == Network::kUdp4 || n == Network::kUdp6; }
inline bool is_v4_only(Network n) { return n == Network::kTcp4 || n == Network::kUdp4; }
inline bool is_v6_only(Network n) { return n == Network::kTcp6 || n == Network::kUdp6; }
// "tcp" and "udp": either family (a wildcard listen serves both).
inline bool is_dual(Network n) { return n == Network::kTcp || n == Network::kUdp; }

// Parses a network name ("tcp", "tcp4", "tcp6", "unix", "udp", "udp4",
// "udp6"). `datagram`: whether the call wants a datagram network (dial
// takes either kind). Throws std::invalid_argument, e.g. "listen udp: udp
// is a datagram network (use listen_packet)", "listen_packet tcp: tcp is
// a stream network (use listen)", "dial foo: unknown network 'foo' (use
// tcp, tcp4, tcp6, unix, udp, udp4 or udp6)".
enum class NetworkKind : uint8_t { kStream, kDatagram, kAny };
Network parse_network(std::string_view op, std::string_view network, NetworkKind kind = NetworkKind::kStream);

// Resolves `address` for `op` ("listen" or "dial") on `network`:
//   tcp*, udp*: "host:port", "[v6]:port", ":port"; host is a numeric address,
//         "localhost", empty (listen: every address; dial: loopback) or a
//         name (resolved with weft::sys::getaddrinfo: may block the
//         fiber, never the other fibers);
//   unix: a path, or "@name" for the abstract namespace.
// For tcp with an empty host on listen, returns the IPv6 wildcard (the
// caller turns off IPV6_V6ONLY, falling back to 0.0.0.0 without IPv6).
// Throws std::invalid_argument with a precise message for malformed input
// ("listen tcp: '127.0.0.1' has no port"), std::system_error when a name
// does not resolve.
Addr resolve(std::string_view op, Network net, std::string_view address);

std::string_view network_name(Network n);

}  // namespace detail
}  // namespace weft::net
