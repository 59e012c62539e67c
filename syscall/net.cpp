// net.cpp — listen and dial, and the Conn/Listener handles (as Go's
// net/dial.go, sock_posix.go and tcpsock_posix.go).
//
// Owns no state beyond the handles: each Conn/Listener owns one NetFd
// (net_fd.hpp), which owns the descriptor and its PollDesc.
//
// Protocol (dial; as Go's netFD.connect):
//   1. Resolve the address (numeric and "localhost" locally; other names
//      through weft::sys::getaddrinfo, off the P).
//   2. socket(SOCK_NONBLOCK | SOCK_CLOEXEC); TCP_NODELAY for tcp.
//   3. connect(2): done, or EINPROGRESS (EINTR, EALREADY: the same); any
//      other errno fails the dial. A udp connect only sets the peer: it is
//      done at once, and sends nothing.
//   4. Register with the poller only now: registering an unconnected TCP
//      socket reports it writable/hung-up at once (the initial edge), which
//      would look like a finished connect.
//   5. Wait writable with the dial deadline as the write deadline, then
//      SO_ERROR (NetFd::wait_connected); the deadline is cleared after.
//
// Protocol (listen): socket, SO_REUSEADDR (and SO_REUSEPORT on request),
// IPV6_V6ONLY off for "tcp" (one socket serves IPv4 and IPv6) and on for
// "tcp6", bind, listen(2), register.
#include <weft/net.hpp>

#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

#include <weft/bufio.hpp>
#include <weft/clock.hpp>
#include "sched/call_context.hpp"
#include "sched/fiber.hpp"
#include "syscall/net_fd.hpp"
#include "syscall/socket.hpp"

namespace weft::net {
namespace {

using detail::fail;
using detail::family_of;
using detail::Network;
using detail::op_context;
using detail::set_int_opt;
using detail::sockname;
using detail::to_when;

// The listening socket of listen(); returns the fd, bound and listening.
int listen_socket(Network net, Addr& a, const ListenOptions& opts, const std::string& context) {
    int fd = detail::bound_socket(net, a, SOCK_STREAM, opts.reuse_port, context);
    if (::listen(fd, opts.backlog) != 0) fail(errno, fd, context);
    return fd;
}

}  // namespace

// ------------------------------------------------------------ listen, dial

Listener listen(std::string_view network, std::string_view address, const ListenOptions& options) {
    sched::require_fiber("net::listen");
    Network net = detail::parse_network("listen", network);
    Addr a = detail::resolve("listen", net, address);
    std::string context = op_context("listen", net, net == Network::kUnix ? a.path() : a.to_string());
    int fd = listen_socket(net, a, options, context);
    Addr local = sockname(fd);
    if (local.family() == Addr::Family::kNone) local = a;
    auto nfd = std::make_unique<detail::NetFd>(fd, net, local, Addr{}, "listen");
    if (net == Network::kUnix && a.path()[0] != '@') nfd->set_unlink_on_close(std::string(a.path()));
    return Listener(std::move(nfd));
}

Conn dial(std::string_view network, std::string_view address, Duration timeout) {
    return dial_impl(network, address, timeout, nullptr);
}

Conn dial_impl(std::string_view network, std::string_view address, Duration timeout, sched::CancelSet* cancel) {
    sched::require_fiber("net::dial");
    Network net = detail::parse_network("dial", network, detail::NetworkKind::kAny);
    int64_t deadline = 0;
    if (timeout > Duration::zero()) {
        int64_t now = base::nanotime();
        deadline = timeout.count() > INT64_MAX - now ? INT64_MAX : now + timeout.count();
    }
    Addr ra = detail::resolve("dial", net, address);  // step 1
    std::string context = op_context("dial", net, ra.to_string());
    bool datagram = detail::is_datagram(net);
    int type = datagram ? SOCK_DGRAM : SOCK_STREAM;
    int fd = ::socket(family_of(ra), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);  // step 2
    if (fd < 0) fail(errno, -1, context);
    if (net != Network::kUnix && !datagram) set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1, context);
    sockaddr_storage ss;
    socklen_t len = ra.to_sockaddr(ss);
    bool pending = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {  // step 3
        int err = errno;
        if (err == EINPROGRESS || err == EALREADY || err == EINTR) pending = true;
        else if (err != EISCONN) fail(err, fd, context);
    }
    auto nfd = std::make_unique<detail::NetFd>(fd, net, Addr{}, ra, "dial");  // step 4
    if (pending) {  // step 5
        if (cancel != nullptr) nfd->bind_cancel(cancel);
        nfd->wait_connected(deadline);
        if (cancel != nullptr) nfd->bind_cancel(nullptr);
    }
    Addr local = sockname(fd);
    if (local.family() == Addr::Family::kNone && net == Network::kUnix) local = Addr::unix_path("");
    nfd->set_local(local);
    return Conn(std::move(nfd));
}

// ------------------------------------------------------------ Conn

Conn::Conn() noexcept = default;
Conn::Conn(std::unique_ptr<detail::NetFd> fd) noexcept : fd_(std::move(fd)) {}
Conn::~Conn() = default;  // NetFd's destructor closes
Conn::Conn(Conn&& other) noexcept = default;

Conn& Conn::operator=(Conn&& other) noexcept {
    if (this != &other) fd_ = std::move(other.fd_);  // the old NetFd closes as it goes
    return *this;
}

detail::NetFd& Conn::get(const char* op) const {
    if (!fd_) throw ClosedError(op);
    return *fd_;
}

size_t Conn::read(std::span<std::byte> buf) { return get("read").read(buf.data(), buf.size()); }

size_t Conn::read_full(std::span<std::byte> buf) { return weft::detail::read_full(*this, buf); }

size_t Conn::write(std::span<const std::byte> buf) { return get("write").write(buf.data(), buf.size()); }
void Conn::write_all(std::span<const std::byte> buf) { get("write").write_all(buf.data(), buf.size()); }
void Conn::shutdown_read() { get("shutdown read").shutdown(SHUT_RD); }
void Conn::shutdown_write() { get("shutdown write").shutdown(SHUT_WR); }

void Conn::close() {
    if (fd_) fd_->close();  // keeps the NetFd: other fibers may still be returning from it
}

void Conn::set_deadline(TimePoint t) { get("set deadline").set_deadline(to_when(t), sched::PollMode::kReadWrite); }
void Conn::set_read_deadline(TimePoint t) { get("set deadline").set_deadline(to_when(t), sched::PollMode::kRead); }
void Conn::set_write_deadline(TimePoint t) { get("set deadline").set_deadline(to_when(t), sched::PollMode::kWrite); }

Addr Conn::local_addr() const { return fd_ ? fd_->local() : Addr{}; }
Addr Conn::remote_addr() const { return fd_ ? fd_->remote() : Addr{}; }
int Conn::fd() const { return fd_ ? fd_->fd() : -1; }
Conn::operator bool() const { return fd_ != nullptr && fd_->fd() >= 0; }

// ------------------------------------------------------------ Listener

Listener::Listener() noexcept = default;
Listener::Listener(std::unique_ptr<detail::NetFd> fd) noexcept : fd_(std::move(fd)) {}

Listener::~Listener() { close(); }

Listener::Listener(Listener&& other) noexcept : fd_(std::move(other.fd_)) {}

Listener& Listener::operator=(Listener&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::move(other.fd_);
    }
    return *this;
}

detail::NetFd& Listener::get(const char* op) const {
    if (!fd_) throw ClosedError(op);
    return *fd_;
}

Conn Listener::accept() {
    detail::NetFd& l = get("accept");
    Addr peer;
    int fd = l.accept(&peer);
    Addr local = sockname(fd);
    if (l.network() == Network::kUnix && peer.family() == Addr::Family::kNone) peer = Addr::unix_path("");
    return Conn(std::make_unique<detail::NetFd>(fd, l.network(), local, peer, "accept"));
}

void Listener::close() {
    if (fd_) fd_->close();  // removes a Unix socket file (set_unlink_on_close)
}

Addr Listener::addr() const { return fd_ ? fd_->local() : Addr{}; }
void Listener::set_deadline(TimePoint t) { get("set deadline").set_deadline(to_when(t), sched::PollMode::kRead); }
int Listener::fd() const { return fd_ ? fd_->fd() : -1; }
Listener::operator bool() const { return fd_ != nullptr && fd_->fd() >= 0; }

}  // namespace weft::net
