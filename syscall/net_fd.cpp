// net_fd.cpp — NetFd: blocking-style socket calls on a non-blocking fd
// (as Go's internal/poll/fd_unix.go and net/fd_unix.go).
//
// Owns one socket descriptor, its PollDesc, and the reference state that
// keeps the descriptor number alive while any operation may still use it.
//
// Invariants:
//   F1. state_ = closed bit | 2 * (operations in flight). An operation
//       holds a reference from entry to exit; incref fails once the closed
//       bit is set, so no operation starts after close() began.
//   F2. The descriptor number stays open until every reference is gone:
//       close() sets the bit, wakes the waiters (poll_unblock), and if
//       references remained, parks on close_sema_ until the decref that
//       brings state_ to exactly "closed, none in flight" releases it.
//       Only then poll_close and close(2). Without this, a fiber between
//       its poll_wait and its read(2) could read from an unrelated socket
//       that reused the number (Go's fdMutex exists for the same reason).
//   F3. At most one fiber waits per direction: readers and accepts hold
//       rmu_ across their wait, writers and connect hold wmu_.
//   F4. close() runs whole under close_mu_, and a close() that finds the
//       object closed returns only once the first one has finished. So
//       the NetFd may be destroyed as soon as any close() returned, by any
//       fiber: typically the one that close() woke, whose accept or read
//       returned ClosedError while the closer was still waiting for it
//       (F2) or calling poll_close (Go's close-then-return idiom; Go's
//       collector keeps the object alive for the closer, C++ must wait).
//
// Protocol (one read; write and accept are the same shape):
//   1. require_fiber (a preemption point); take a reference (F1) or throw
//      ClosedError.
//   2. lock rmu_ (F3); poll_prepare: closed/deadline passed -> throw.
//   3. read(2): data or EOF -> return; EINTR -> again; EAGAIN -> 4;
//      any other errno -> throw std::system_error naming the connection.
//   4. poll_wait(kRead): kReady -> 3; kTimeout -> TimeoutError; kClosed ->
//      ClosedError.
//   5. Unlock, drop the reference (unwinding does both on a throw).
//
// Rejected: closing the descriptor in close() at once and letting in-flight
// calls fail with EBADF (the number may be reused by then: F2); Go's full
// fdMutex with its own reader/writer wait queues (a binary sched::Sema per
// direction gives the same serialisation, FIFO, and waking them is done by
// the holder, which close() wakes first).
#include "syscall/net_fd.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fmt/format.h>
#include <mutex>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

#include <weft/clock.hpp>
#include <weft/context_error.hpp>
#include <weft/net_error.hpp>
#include "runtime/base/fatal.hpp"
#include "sched/call_context.hpp"
#include "sched/fiber.hpp"
#include "sched/timers.hpp"

namespace weft::net::detail {
namespace {

// Bytes per system call, as Go's maxRW: larger buffers are split.
constexpr size_t kMaxRW = size_t{1} << 30;
constexpr uint32_t kClosed = 1;
constexpr uint32_t kRefOne = 2;

// accept's backoff after EMFILE and friends, as Go's http.Server.
constexpr Duration kBackoffMin = std::chrono::milliseconds(5);
// While accept keeps failing for want of descriptors, a reminder this often
// (a report only at the first failure would go silent for an outage of
// any length; Go's http.Server logs every retry).
constexpr int64_t kRefusalReminderNs = 10'000'000'000;
constexpr Duration kBackoffMax = std::chrono::seconds(1);
// The sleep is cut in slices so close() and deadlines are noticed soon.
constexpr Duration kBackoffSlice = std::chrono::milliseconds(50);

[[noreturn]] void throw_errno(int err, const std::string& context) {
    throw std::system_error(err, std::generic_category(), context);
}

}  // namespace

class NetFd::Ref {
public:
    Ref(NetFd* fd, const char* op) : fd_(fd) {
        if (!fd_->incref()) throw ClosedError(fd_->context(op));
    }
    ~Ref() { fd_->decref(); }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;

private:
    NetFd* fd_;
};

NetFd::NetFd(int fd, Network net, const Addr& local, const Addr& remote, const char* op)
    : fd_(fd), pd_(nullptr), net_(net), local_(local), remote_(remote) {
    pd_ = sched::poll_open(fd);
    if (pd_ == nullptr) {
        int err = errno;
        ::close(fd);
        fd_.store(-1, std::memory_order_relaxed);
        throw_errno(err, context(op));
    }
}

NetFd::~NetFd() { close(); }

bool NetFd::incref() {
    uint32_t s = state_.load();
    do {
        if (s & kClosed) return false;
    } while (!state_.compare_exchange_weak(s, s + kRefOne));
    return true;
}

void NetFd::decref() {
    uint32_t s = state_.fetch_sub(kRefOne) - kRefOne;
    if (s == kClosed) close_sema_.release();  // F2: the closer may go on
}

bool NetFd::close() {
    if (pd_ == nullptr) return false;  // the constructor failed
    close_mu_.acquire(sched::WaitReason::kSemacquire);  // F4
    uint32_t s = state_.load();
    do {
        if (s & kClosed) {
            close_mu_.release();  // the first close() has finished (F4)
            return false;
        }
    } while (!state_.compare_exchange_weak(s, s | kClosed));
    // Unbound before pd_ can be recycled: a context's hook never marks a
    // descriptor that another connection reuses (CancelSet CS3).
    if (cancel_set_ != nullptr) {
        cancel_set_->remove(&cancel_hook_);
        cancel_set_ = nullptr;
    }
    sched::poll_unblock(pd_);  // waiters wake with kClosed
    // F2. Outside a fiber no run is active: references left are held by
    // fibers abandoned at the end of one, which never drop them.
    if (s >= kRefOne && sched::current_g() != nullptr) close_sema_.acquire(sched::WaitReason::kSemacquire);
    sched::poll_close(pd_);
    // Relaxed: see fd(). EINTR from close(2) still closes on Linux.
    ::close(fd_.exchange(-1, std::memory_order_relaxed));
    if (!unlink_on_close_.empty()) ::unlink(unlink_on_close_.c_str());  // as Go's unlinkOnClose
    close_mu_.release();  // last touch of *this (sema.cpp L)
    return true;
}

std::string NetFd::context(const char* op) const {
    std::string s = fmt::format("{} {}", op, network_name(net_));
    bool has_local = local_.family() != Addr::Family::kNone;
    bool has_remote = remote_.family() != Addr::Family::kNone;
    if (has_local && has_remote) return s + fmt::format(" {}->{}", local_.to_string(), remote_.to_string());
    if (has_remote) return s + " " + remote_.to_string();
    if (has_local) return s + " " + local_.to_string();
    return s;
}

void NetFd::check(sched::PollResult r, const char* op) const {
    switch (r) {
        case sched::PollResult::kReady: return;
        case sched::PollResult::kTimeout: throw TimeoutError(context(op));
        case sched::PollResult::kClosed: throw ClosedError(context(op));
        case sched::PollResult::kCanceled:
            throw ContextError(static_cast<ContextErrc>(cancel_err_.load(std::memory_order_acquire)), context(op));
    }
}

void NetFd::bind_cancel(sched::CancelSet* set) {
    sched::require_fiber("binding a connection to a context");
    close_mu_.acquire(sched::WaitReason::kSemacquire);  // F4: not while closing
    if (state_.load() & kClosed) {
        close_mu_.release();
        return;  // closed: nothing left to end
    }
    if (cancel_set_ != nullptr) cancel_set_->remove(&cancel_hook_);
    cancel_set_ = nullptr;
    cancel_err_.store(0, std::memory_order_relaxed);  // read only after a kCanceled, which the clear below rules out
    sched::poll_set_canceled(pd_, false);
    if (set != nullptr) {
        cancel_hook_.fn = [](sched::CancelHook* h, int err) {
            NetFd* self = static_cast<BoundHook*>(h)->fd;
            self->cancel_err_.store(err, std::memory_order_release);
            sched::poll_set_canceled(self->pd_, true);
        };
        cancel_hook_.fd = this;
        cancel_set_ = set;
        if (!set->add(&cancel_hook_)) {  // already cancelled
            cancel_set_ = nullptr;
            cancel_err_.store(set->err(), std::memory_order_release);
            sched::poll_set_canceled(pd_, true);
        }
    }
    close_mu_.release();
}

size_t NetFd::read(void* buf, size_t n) {
    sched::require_fiber("net::Conn::read");  // step 1
    Ref ref(this, "read");
    std::lock_guard<IoLock> lock(rmu_);  // step 2
    if (n == 0) return 0;
    check(sched::poll_prepare(pd_, sched::PollMode::kRead), "read");
    n = std::min(n, kMaxRW);
    for (;;) {
        ssize_t r = ::read(fd(), buf, n);  // step 3
        if (r >= 0) return static_cast<size_t>(r);
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN) throw_errno(err, context("read"));
        check(sched::poll_wait(pd_, sched::PollMode::kRead), "read");  // step 4
    }
}

size_t NetFd::read_from(void* buf, size_t n, Addr* from, bool* truncated) {
    sched::require_fiber("net::PacketConn::read_from");
    Ref ref(this, "read");
    std::lock_guard<IoLock> lock(rmu_);
    check(sched::poll_prepare(pd_, sched::PollMode::kRead), "read");
    for (;;) {
        sockaddr_storage ss{};
        iovec iov{buf, n};
        msghdr msg{};
        msg.msg_name = &ss;
        msg.msg_namelen = sizeof ss;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t r = ::recvmsg(fd(), &msg, 0);
        if (r >= 0) {
            *from = Addr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), msg.msg_namelen);
            *truncated = (msg.msg_flags & MSG_TRUNC) != 0;
            return static_cast<size_t>(r);
        }
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN) throw_errno(err, context("read"));
        check(sched::poll_wait(pd_, sched::PollMode::kRead), "read");
    }
}

size_t NetFd::write_to(const void* buf, size_t n, const Addr& to) {
    sched::require_fiber("net::PacketConn::write_to");
    Ref ref(this, "write");
    std::lock_guard<IoLock> lock(wmu_);
    check(sched::poll_prepare(pd_, sched::PollMode::kWrite), "write");
    sockaddr_storage ss;
    socklen_t len = to.to_sockaddr(ss);
    if (len == 0) throw std::invalid_argument(context("write") + ": no destination address");
    for (;;) {
        ssize_t r = ::sendto(fd(), buf, n, MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&ss), len);
        if (r >= 0) return static_cast<size_t>(r);
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN) throw_errno(err, context("write") + (" to " + to.to_string()));
        check(sched::poll_wait(pd_, sched::PollMode::kWrite), "write");
    }
}

size_t NetFd::write_locked(const void* buf, size_t n) {
    n = std::min(n, kMaxRW);
    for (;;) {
        // MSG_NOSIGNAL: a peer that went away is EPIPE here, never SIGPIPE.
        ssize_t r = ::send(fd(), buf, n, MSG_NOSIGNAL);
        if (r >= 0) return static_cast<size_t>(r);
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN) throw_errno(err, context("write"));
        check(sched::poll_wait(pd_, sched::PollMode::kWrite), "write");
    }
}

size_t NetFd::write(const void* buf, size_t n) {
    sched::require_fiber("net::Conn::write");
    Ref ref(this, "write");
    std::lock_guard<IoLock> lock(wmu_);
    if (n == 0) return 0;
    check(sched::poll_prepare(pd_, sched::PollMode::kWrite), "write");
    return write_locked(buf, n);
}

void NetFd::write_all(const void* buf, size_t n) {
    sched::require_fiber("net::Conn::write_all");
    Ref ref(this, "write");
    std::lock_guard<IoLock> lock(wmu_);
    if (n == 0) return;
    check(sched::poll_prepare(pd_, sched::PollMode::kWrite), "write");
    auto* p = static_cast<const std::byte*>(buf);
    while (n > 0) {
        // A socket that never fills would not notice close() in poll_wait.
        if (state_.load() & kClosed) throw ClosedError(context("write"));
        size_t w = write_locked(p, n);
        p += w;
        n -= w;
        if (n > 0) sched::preempt_check("net::Conn::write_all");
    }
}

int NetFd::accept(Addr* peer) {
    sched::require_fiber("net::Listener::accept");
    Ref ref(this, "accept");
    std::lock_guard<IoLock> lock(rmu_);
    check(sched::poll_prepare(pd_, sched::PollMode::kRead), "accept");
    Duration delay{0};
    for (;;) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        int nfd = ::accept4(fd(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (nfd >= 0) {
            *peer = Addr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
            if (refused_since_ != 0) {  // the episode is over: say so, with its size
                std::string ctx = context("accept");
                base::print_err("weft: %s: accepting again, after %llu refused attempts over %.1f s\n", ctx.c_str(),
                                static_cast<unsigned long long>(refused_),
                                static_cast<double>(base::nanotime() - refused_since_) / 1e9);
                refused_since_ = 0;
            }
            return nfd;
        }
        int err = errno;
        switch (err) {
            case EAGAIN: check(sched::poll_wait(pd_, sched::PollMode::kRead), "accept"); continue;
            // The connection died in the queue, or (accept(2), "Error
            // handling") a network error pending on it: take the next one.
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case ENETDOWN:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case ENETUNREACH:
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM: {
                // Out of descriptors or memory: the connection waits in the
                // queue while we back off (as Go's http.Server), so a server
                // at its limit slows down instead of spinning or dying.
                const char* what = err == EMFILE || err == ENFILE ? "too many open files" : "out of memory";
                int64_t now = base::nanotime();
                refused_++;
                refused_since_report_++;
                if (refused_since_ == 0) {
                    refused_since_ = refused_reported_at_ = now;
                    refused_ = refused_since_report_ = 1;
                    std::string ctx = context("accept");
                    base::print_err("weft: %s: %s; retrying with backoff (a reminder every %lld s until it accepts again)\n",
                                    ctx.c_str(), what, static_cast<long long>(kRefusalReminderNs / 1'000'000'000));
                } else if (now - refused_reported_at_ >= kRefusalReminderNs) {
                    std::string ctx = context("accept");
                    base::print_err("weft: %s: still %s: %llu attempts refused in the last %.0f s\n", ctx.c_str(), what,
                                    static_cast<unsigned long long>(refused_since_report_),
                                    static_cast<double>(now - refused_reported_at_) / 1e9);
                    refused_reported_at_ = now;
                    refused_since_report_ = 0;
                }
                delay = delay == Duration::zero() ? kBackoffMin : std::min(delay * 2, kBackoffMax);
                for (Duration left = delay; left > Duration::zero(); left -= kBackoffSlice) {
                    int64_t slice = std::min(left, kBackoffSlice).count();
                    sched::park_until(base::nanotime() + slice, sched::WaitReason::kSleep);
                    check(sched::poll_prepare(pd_, sched::PollMode::kRead), "accept");
                }
                continue;
            }
            default: throw_errno(err, context("accept"));
        }
    }
}

void NetFd::wait_connected(int64_t deadline_ns) {
    sched::require_fiber("net::dial");
    Ref ref(this, "dial");
    std::lock_guard<IoLock> lock(wmu_);
    struct ClearDeadline {
        sched::PollDesc* pd;
        bool armed;
        ~ClearDeadline() {
            if (armed) sched::poll_set_deadline(pd, 0, sched::PollMode::kWrite);
        }
    } clear{pd_, deadline_ns != 0};
    if (deadline_ns != 0) sched::poll_set_deadline(pd_, deadline_ns, sched::PollMode::kWrite);
    for (;;) {
        // As Go's netFD.connect: after the poller says writable, SO_ERROR
        // tells how the connect ended; a wake-up with no error yet may be
        // spurious, so getpeername confirms.
        check(sched::poll_wait(pd_, sched::PollMode::kWrite), "dial");
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (::getsockopt(fd(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) throw_errno(errno, context("dial"));
        switch (soerr) {
            case EINPROGRESS:
            case EALREADY:
            case EINTR: continue;
            case EISCONN: return;
            case 0: {
                sockaddr_storage ss{};
                socklen_t sl = sizeof ss;
                if (::getpeername(fd(), reinterpret_cast<sockaddr*>(&ss), &sl) == 0) return;
                continue;
            }
            default: throw_errno(soerr, context("dial"));
        }
    }
}

void NetFd::shutdown(int how) {
    Ref ref(this, how == SHUT_RD ? "shutdown read" : "shutdown write");
    if (::shutdown(fd(), how) != 0) throw_errno(errno, context(how == SHUT_RD ? "shutdown read" : "shutdown write"));
}

void NetFd::set_deadline(int64_t when_ns, sched::PollMode mode) {
    sched::require_runtime_thread("a net deadline (set_deadline, set_read_deadline, set_write_deadline)");
    Ref ref(this, "set deadline");
    sched::poll_set_deadline(pd_, when_ns, mode);
}

}  // namespace weft::net::detail
