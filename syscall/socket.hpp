// socket.hpp — socket(2) plumbing that net.cpp (streams) and packet.cpp
// (datagrams) share: making and binding a socket, its options, the
// addresses and error contexts of the calls. Internal to syscall/.
#pragma once

#include <cstdint>
#include <string>
#include <sys/socket.h>

#include <weft/clock.hpp>
#include <weft/net_addr.hpp>

namespace weft::net::detail {

// A deadline for NetFd::set_deadline: 0 for TimePoint{} (none), else
// nanotime() time (a time before the epoch is long past: 1).
int64_t to_when(TimePoint t);

// "listen tcp 127.0.0.1:80" (the op, the network, an address).
std::string op_context(const char* op, Network net, const std::string& address);

// Closes fd (if >= 0) and throws std::system_error(err, context).
[[noreturn]] void fail(int err, int fd, const std::string& context);

// AF_INET, AF_INET6 or AF_UNIX for a's family.
int family_of(const Addr& a);

// setsockopt of an int; on failure closes fd and throws (fail).
void set_int_opt(int fd, int level, int name, int value, const std::string& context);

// getsockname as an Addr (kNone if it fails).
Addr sockname(int fd);

// A non-blocking, close-on-exec socket of `type` (SOCK_STREAM,
// SOCK_DGRAM) bound to a: SO_REUSEADDR for IP streams (and SO_REUSEPORT
// if asked); on an IPv6 address IPV6_V6ONLY is on for tcp6/udp6 and off
// otherwise, so that "tcp" and "udp" wildcards serve IPv4 as well. A
// dual-stack wildcard on a host without IPv6 falls back to 0.0.0.0 (a is
// updated). On failure throws (fail) with `context`.
int bound_socket(Network net, Addr& a, int type, bool reuse_port, const std::string& context);

}  // namespace weft::net::detail
