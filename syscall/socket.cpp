// socket.cpp — see socket.hpp.
#include "syscall/socket.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <system_error>
#include <unistd.h>

namespace weft::net::detail {
namespace {

bool is_v6_wildcard(const Addr& a) {
    if (a.family() != Addr::Family::kIPv6) return false;
    for (uint8_t b : a.ip_bytes())
        if (b != 0) return false;
    return true;
}

}  // namespace

int64_t to_when(TimePoint t) {
    if (t == TimePoint{}) return 0;  // none
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    return ns > 0 ? ns : 1;  // before the epoch: long past
}

std::string op_context(const char* op, Network net, const std::string& address) {
    return fmt::format("{} {} {}", op, network_name(net), address);
}

void fail(int err, int fd, const std::string& context) {
    if (fd >= 0) ::close(fd);
    throw std::system_error(err, std::generic_category(), context);
}

int family_of(const Addr& a) {
    switch (a.family()) {
        case Addr::Family::kIPv4: return AF_INET;
        case Addr::Family::kIPv6: return AF_INET6;
        case Addr::Family::kUnix: return AF_UNIX;
        case Addr::Family::kNone: break;
    }
    return AF_UNSPEC;
}

void set_int_opt(int fd, int level, int name, int value, const std::string& context) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) fail(errno, fd, context);
}

Addr sockname(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Addr{};
    return Addr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

int bound_socket(Network net, Addr& a, int type, bool reuse_port, const std::string& context) {
    bool dual = is_dual(net) && is_v6_wildcard(a);
    int fd = ::socket(family_of(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && dual && errno == EAFNOSUPPORT) {
        a = Addr::ipv4({0, 0, 0, 0}, static_cast<uint16_t>(a.port()));  // no IPv6 on this host
        fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) fail(errno, -1, context);
    if (net != Network::kUnix) {
        if (type == SOCK_STREAM) set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1, context);
        if (reuse_port) set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1, context);
        if (a.family() == Addr::Family::kIPv6) set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, is_v6_only(net) ? 1 : 0, context);
    }
    sockaddr_storage ss;
    socklen_t len = a.to_sockaddr(ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail(errno, fd, context);
    return fd;
}

}  // namespace weft::net::detail
