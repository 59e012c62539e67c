// net.hpp — TCP and Unix stream sockets for fibers (Go's net package:
// Listen, Dial, Conn, Listener).
//
//   auto ln = weft::net::listen("tcp", "127.0.0.1:8080");
//   for (;;) {
//       weft::net::Conn c = ln.accept();
//       weft::go([c = std::move(c)]() mutable {   // a fiber per connection
//           std::byte buf[4096];
//           while (size_t n = c.read(buf)) c.write_all({buf, n});
//       });
//   }
//
// Blocking style, non-blocking underneath: every socket is O_NONBLOCK and
// close-on-exec; a call that would block parks the calling *fiber* on the
// netpoller (sched/netpoll.hpp) and the thread runs other fibers meanwhile.
//
// Contexts: everything that does I/O (listen, dial, accept, read, write,
// shutdown, set_*deadline, close) is called from a fiber inside weft::run.
// Each is a preemption point. listen, dial, accept, read, write and the
// deadlines anywhere else (a plain thread, inside weft::blocking, with no
// run active) are fatal, naming the call; close works anywhere. A Conn or Listener must not outlive the
// weft::run that created it (destroying it afterwards only closes it).
//
// Concurrency: one Conn may be used by several fibers at once — typically
// one reading while another writes. Concurrent reads are served one after
// another (likewise writes, and accepts on a Listener); a write_all is
// never interleaved with another write. close() may be called by any
// fiber at any time: fibers blocked on the Conn wake and throw ClosedError.
//
// Lifetime: a Conn or Listener may be destroyed (or moved over) by any
// fiber once no other fiber is inside one of its calls. A call that threw
// ClosedError because another fiber closed the object counts as returned,
// even while that close() is still finishing: the shutdown idiom
//
//   owner:        ln.close();                  // wakes the accept loop
//   accept loop:  catch (ClosedError&) { ...; destroy the Listener }
//
// is safe (the destructor waits for a close() in progress to finish).
// Destroying an object while another fiber still uses it is a bug.
//
// Errors (net_error.hpp): std::system_error with the errno and a message
// naming the operation and the addresses, e.g.
//   "dial tcp 127.0.0.1:1: Connection refused"
//   "read tcp 127.0.0.1:40000->127.0.0.1:8080: Connection reset by peer"
//   "write tcp ...: Broken pipe"        (never SIGPIPE: sends use MSG_NOSIGNAL)
// TimeoutError (ETIMEDOUT, "...: i/o timeout") when a deadline or the dial
// timeout passes; ClosedError (EBADF, "...: use of closed network
// connection") on a closed Conn/Listener. Malformed arguments throw
// std::invalid_argument ("listen tcp: '127.0.0.1' has no port").
//
// Deadlines (as Go's SetDeadline): an absolute weft::TimePoint after which
// blocked and future calls in that direction throw TimeoutError, until the
// deadline is moved. TimePoint{} (the clock's epoch) means none. A deadline
// in the past fails the next call at once, even if data is available.
// Deadlines are not reset by successful calls.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <weft/clock.hpp>
#include <weft/net_addr.hpp>
#include <weft/net_error.hpp>

namespace weft {
class ContextBinding;
namespace sched {
class CancelSet;
}
}  // namespace weft

namespace weft::net {

namespace detail {
class NetFd;
}

struct ListenOptions {
    // listen(2)'s backlog; the kernel caps it at net.core.somaxconn.
    int backlog = 4096;
    // SO_REUSEPORT: several listeners on one port share the connections
    // (tcp only). SO_REUSEADDR is always set for tcp listeners.
    bool reuse_port = false;
};

// A connected stream socket. Move-only; owns the descriptor; the
// destructor closes it. A default-constructed or moved-from Conn is empty:
// its operations throw ClosedError, close() does nothing.
class Conn {
public:
    Conn() noexcept;
    ~Conn();
    Conn(Conn&& other) noexcept;
    Conn& operator=(Conn&& other) noexcept;  // closes what *this held
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    // Reads what is available, at least 1 byte, into buf; parks until some
    // arrives. Returns 0 at end of stream (the peer shut down or closed its
    // side) — or when buf is empty. Throws on error (ECONNRESET when the
    // peer reset the connection), TimeoutError, ClosedError.
    size_t read(std::span<std::byte> buf);
    size_t read(char* buf, size_t n) { return read(std::as_writable_bytes(std::span<char>(buf, n))); }
    // Reads until buf is full or the stream ends; returns the bytes read
    // (< buf.size() only at end of stream). Errors as read().
    size_t read_full(std::span<std::byte> buf);

    // Writes at least 1 byte of buf (0 if buf is empty), parking while the
    // socket buffer is full; returns how many. Throws on error (EPIPE,
    // ECONNRESET), TimeoutError, ClosedError.
    size_t write(std::span<const std::byte> buf);
    size_t write(std::string_view s) { return write(std::as_bytes(std::span<const char>(s.data(), s.size()))); }
    // Writes all of buf (write() until done, holding the write side: other
    // writers wait). On an exception an unknown prefix may have been sent.
    void write_all(std::span<const std::byte> buf);
    void write_all(std::string_view s) { write_all(std::as_bytes(std::span<const char>(s.data(), s.size()))); }

    // Half-close (shutdown(2)): after shutdown_write the peer reads end of
    // stream and may still send; after shutdown_read reads return 0.
    void shutdown_read();
    void shutdown_write();

    // Closes the connection. Fibers blocked on it wake and throw
    // ClosedError; returns once the descriptor is closed. Idempotent.
    void close();

    // Deadlines (see the file comment). set_deadline sets both.
    void set_deadline(TimePoint t);
    void set_read_deadline(TimePoint t);
    void set_write_deadline(TimePoint t);

    // Addresses, fixed when the connection was made (a Unix client's own
    // address is usually unnamed: to_string() is "").
    Addr local_addr() const;
    Addr remote_addr() const;
    // The descriptor (-1 when empty or closed). For setsockopt and such;
    // do not close it or make it blocking.
    int fd() const;
    explicit operator bool() const;

private:
    friend class Listener;
    friend Conn dial(std::string_view, std::string_view, Duration);
    friend Conn dial_impl(std::string_view, std::string_view, Duration, sched::CancelSet*);
    friend class weft::ContextBinding;
    explicit Conn(std::unique_ptr<detail::NetFd> fd) noexcept;
    detail::NetFd& get(const char* op) const;
    std::unique_ptr<detail::NetFd> fd_;
};

// A listening stream socket. Move-only; the destructor closes it. A Unix
// listener removes its socket file when closed (abstract "@name" sockets
// have none).
class Listener {
public:
    Listener() noexcept;
    ~Listener();
    Listener(Listener&& other) noexcept;
    Listener& operator=(Listener&& other) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // Waits for the next connection. Throws TimeoutError after the
    // deadline, ClosedError once closed. Out of descriptors (EMFILE,
    // ENFILE) or memory, it does not fail: it retries with a backoff from
    // 5 ms doubling up to 1 s, leaving the connection queued, and says so
    // on stderr when it begins ("weft: accept tcp ...: too many open
    // files; retrying with backoff ..."), every 10 s while it lasts ("...:
    // still too many open files: N attempts refused ...") and when it
    // ends ("...: accepting again, after N refused attempts over T s").
    // Other errors throw.
    Conn accept();
    // Stops listening; fibers in accept() throw ClosedError. Idempotent.
    void close();
    // The bound address (with the real port after listening on port 0).
    Addr addr() const;
    // Deadline for accept() (see the file comment).
    void set_deadline(TimePoint t);
    int fd() const;
    explicit operator bool() const;

private:
    friend Listener listen(std::string_view, std::string_view, const ListenOptions&);
    friend class weft::ContextBinding;
    explicit Listener(std::unique_ptr<detail::NetFd> fd) noexcept;
    detail::NetFd& get(const char* op) const;
    std::unique_ptr<detail::NetFd> fd_;
};

// Listens on `address` of `network`:
//   "tcp"   "127.0.0.1:0", "[::1]:8080", "localhost:8080" (127.0.0.1),
//           ":8080" (every address, IPv6 and IPv4 when the host has IPv6)
//   "tcp4"  IPv4 only (":8080" is 0.0.0.0)
//   "tcp6"  IPv6 only (IPV6_V6ONLY; ":8080" is [::])
//   "unix"  a socket path ("/tmp/s.sock"; fails with EADDRINUSE if the
//           file exists) or "@name" in the abstract namespace.
// Port 0 picks a free port (see addr()). Host names other than localhost
// are resolved with weft::sys::getaddrinfo (only the calling fiber waits).
// Throws std::invalid_argument for a malformed network or address,
// std::system_error ("listen tcp 127.0.0.1:80: Permission denied").
Listener listen(std::string_view network, std::string_view address, const ListenOptions& options = {});

// Connects to `address` (forms as listen; an empty host is the loopback
// address). Also takes "udp", "udp4" and "udp6": the Conn is then a
// connected datagram socket, each read one datagram, each write one
// (packet.hpp says how datagrams differ from a stream). timeout > 0 bounds the connection attempt (TimeoutError);
// zero means none (the kernel's own SYN retries still end it, after about
// two minutes). Sets TCP_NODELAY. Throws as listen, e.g. "dial tcp
// 127.0.0.1:1: Connection refused"; a Unix listener with a full backlog
// refuses at once with EAGAIN ("Resource temporarily unavailable").
Conn dial(std::string_view network, std::string_view address, Duration timeout = Duration::zero());
// Internal: dial, its connect also ended by `cancel` (a context's; null:
// none). The public form with a context is in <weft/context.hpp>.
Conn dial_impl(std::string_view network, std::string_view address, Duration timeout, sched::CancelSet* cancel);

}  // namespace weft::net
