// packet.cpp — listen_packet and the PacketConn handle (as Go's
// net/udpsock_posix.go). Each PacketConn owns one NetFd (net_fd.hpp).
#include <weft/packet.hpp>

#include <algorithm>
#include <array>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>

#include "sched/call_context.hpp"
#include "syscall/net_fd.hpp"
#include "syscall/socket.hpp"

namespace weft::net {

using detail::Network;

PacketConn listen_packet(std::string_view network, std::string_view address) {
    sched::require_fiber("net::listen_packet");
    Network net = detail::parse_network("listen_packet", network, detail::NetworkKind::kDatagram);
    Addr a = detail::resolve("listen_packet", net, address);
    std::string context = detail::op_context("listen_packet", net, a.to_string());
    int fd = detail::bound_socket(net, a, SOCK_DGRAM, false, context);
    Addr local = detail::sockname(fd);
    if (local.family() == Addr::Family::kNone) local = a;
    return PacketConn(std::make_unique<detail::NetFd>(fd, net, local, Addr{}, "listen_packet"));
}

PacketConn::PacketConn() noexcept = default;
PacketConn::PacketConn(std::unique_ptr<detail::NetFd> fd) noexcept : fd_(std::move(fd)) {}
PacketConn::~PacketConn() = default;  // NetFd's destructor closes
PacketConn::PacketConn(PacketConn&& other) noexcept = default;

PacketConn& PacketConn::operator=(PacketConn&& other) noexcept {
    if (this != &other) fd_ = std::move(other.fd_);  // the old NetFd closes as it goes
    return *this;
}

detail::NetFd& PacketConn::get(const char* op) const {
    if (!fd_) throw ClosedError(op);
    return *fd_;
}

size_t PacketConn::read_from(std::span<std::byte> buf, Addr& from, bool* truncated) {
    bool cut = false;
    size_t n = get("read").read_from(buf.data(), buf.size(), &from, &cut);
    if (truncated) *truncated = cut;
    // An IPv4 sender seen by an IPv6 socket (a "udp" wildcard) arrives
    // v4-mapped: give it as the IPv4 address it is (write_to maps it back).
    const auto& ip = from.ip_bytes();
    if (from.family() == Addr::Family::kIPv6 && std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t b) { return b == 0; }) &&
        ip[10] == 0xff && ip[11] == 0xff)
        from = Addr::ipv4({ip[12], ip[13], ip[14], ip[15]}, static_cast<uint16_t>(from.port()));
    return n;
}

size_t PacketConn::write_to(std::span<const std::byte> buf, const Addr& to) {
    detail::NetFd& f = get("write");
    if (!to.is_ip()) throw std::invalid_argument(f.context("write") + ": '" + to.to_string() + "' is not an IP address");
    Addr dest = to;
    // An IPv4 destination from an IPv6 socket (a "udp" wildcard): its
    // v4-mapped form, which such a socket sends as IPv4.
    if (to.family() == Addr::Family::kIPv4 && f.local().family() == Addr::Family::kIPv6) {
        std::array<uint8_t, 16> m{};
        m[10] = m[11] = 0xff;
        for (int i = 0; i < 4; i++) m[12 + i] = to.ip_bytes()[i];
        dest = Addr::ipv6(m, static_cast<uint16_t>(to.port()));
    }
    return f.write_to(buf.data(), buf.size(), dest);
}

void PacketConn::close() {
    if (fd_) fd_->close();
}

void PacketConn::set_deadline(TimePoint t) {
    get("set deadline").set_deadline(detail::to_when(t), sched::PollMode::kReadWrite);
}
void PacketConn::set_read_deadline(TimePoint t) {
    get("set deadline").set_deadline(detail::to_when(t), sched::PollMode::kRead);
}
void PacketConn::set_write_deadline(TimePoint t) {
    get("set deadline").set_deadline(detail::to_when(t), sched::PollMode::kWrite);
}

Addr PacketConn::local_addr() const { return fd_ ? fd_->local() : Addr{}; }
int PacketConn::fd() const { return fd_ ? fd_->fd() : -1; }
PacketConn::operator bool() const { return fd_ != nullptr && fd_->fd() >= 0; }

}  // namespace weft::net
