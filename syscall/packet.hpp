// packet.hpp — UDP sockets for fibers (Go's net.ListenPacket and
// PacketConn).
//
//   auto pc = weft::net::listen_packet("udp", "127.0.0.1:5353");
//   std::byte buf[1500];
//   for (;;) {
//       weft::net::Addr from;
//       size_t n = pc.read_from(buf, from);         // parks the fiber, not the thread
//       pc.write_to({buf, n}, from);                // answer the sender
//   }
//
// A PacketConn is an unconnected datagram socket: each read_from takes
// one datagram from anyone, each write_to sends one to an address. For a
// socket connected to one peer, weft::net::dial("udp", "host:port")
// returns a Conn (net.hpp) whose read receives one datagram from that
// peer only and whose write sends one; an ICMP "port unreachable" for an
// earlier datagram fails a later read or write with ECONNREFUSED.
//
// Datagrams: a read returns one datagram; if it was longer than the
// buffer the rest is dropped (read_from says so). A datagram may be empty:
// a read then returns 0, which here is not an end of stream (UDP has
// none). A write sends the whole buffer as one datagram or throws
// (EMSGSIZE past the path's limit: at most 65,507 bytes over IPv4).
// Nothing is retried, ordered or acknowledged: UDP may drop, reorder or
// duplicate datagrams.
//
// Contexts, concurrency, lifetime, errors and deadlines as Conn's
// (net.hpp): one fiber may read while another writes; close() wakes
// fibers blocked on the socket with ClosedError; a deadline makes blocked
// and later calls in its direction throw TimeoutError until it is moved.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include <weft/clock.hpp>
#include <weft/net_addr.hpp>
#include <weft/net_error.hpp>

namespace weft::net {

namespace detail {
class NetFd;
}

// An unconnected UDP socket. Move-only; the destructor closes it. A
// default-constructed or moved-from PacketConn is empty: its operations
// throw ClosedError, close() does nothing.
class PacketConn {
public:
    PacketConn() noexcept;
    ~PacketConn();
    PacketConn(PacketConn&& other) noexcept;
    PacketConn& operator=(PacketConn&& other) noexcept;  // closes what *this held
    PacketConn(const PacketConn&) = delete;
    PacketConn& operator=(const PacketConn&) = delete;

    // Receives one datagram into buf, parking until one arrives; sets
    // `from` to its sender and returns its size in buf (see the file
    // comment). *truncated, if given, says whether the datagram was longer
    // than buf (its rest dropped). Throws TimeoutError, ClosedError,
    // std::system_error.
    size_t read_from(std::span<std::byte> buf, Addr& from, bool* truncated = nullptr);
    // Sends buf as one datagram to `to`, parking while the socket buffer
    // is full; returns buf.size(). An IPv4 destination on an IPv6 socket
    // of "udp" is sent v4-mapped. Throws std::invalid_argument for an
    // address that is not IP, TimeoutError, ClosedError,
    // std::system_error ("write udp 127.0.0.1:5000 to 10.0.0.1:9: ...").
    size_t write_to(std::span<const std::byte> buf, const Addr& to);
    size_t write_to(std::string_view s, const Addr& to) {
        return write_to(std::as_bytes(std::span<const char>(s.data(), s.size())), to);
    }

    // Closes the socket; fibers blocked on it wake and throw ClosedError.
    // Idempotent.
    void close();
    void set_deadline(TimePoint t);
    void set_read_deadline(TimePoint t);
    void set_write_deadline(TimePoint t);

    // The bound address (with the real port after binding port 0).
    Addr local_addr() const;
    int fd() const;
    explicit operator bool() const;

private:
    friend PacketConn listen_packet(std::string_view, std::string_view);
    explicit PacketConn(std::unique_ptr<detail::NetFd> fd) noexcept;
    detail::NetFd& get(const char* op) const;
    std::unique_ptr<detail::NetFd> fd_;
};

// Binds a UDP socket to `address` of `network`:
//   "udp"   "127.0.0.1:0", "[::1]:5353", "localhost:5353" (127.0.0.1),
//           ":5353" (every address, IPv6 and IPv4 when the host has IPv6)
//   "udp4"  IPv4 only (":5353" is 0.0.0.0)
//   "udp6"  IPv6 only (IPV6_V6ONLY; ":5353" is [::])
// Port 0 picks a free port (see local_addr()). Throws
// std::invalid_argument for a malformed network or address (a stream
// network: "listen_packet tcp: tcp is a stream network (use listen)"),
// std::system_error ("listen_packet udp 127.0.0.1:53: Permission denied").
PacketConn listen_packet(std::string_view network, std::string_view address);

}  // namespace weft::net
