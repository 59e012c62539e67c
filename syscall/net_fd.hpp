// net_fd.hpp — NetFd, a socket registered with the netpoller (the role of
// Go's internal/poll.FD plus net.netFD). Internal to syscall/: the public
// face is weft::net::Conn and Listener (net.hpp), which own one each.
//
// Contract (callers are Conn/Listener, always on a fiber):
//  - read/write/accept/connect/shutdown/set_deadline may run concurrently
//    from several fibers; reads (and accepts) are serialised among
//    themselves, writes among themselves, so at most one fiber waits per
//    direction (netpoll.hpp's rule).
//  - close() may be called from any fiber at any time, also while others
//    are blocked: they wake and throw ClosedError. It returns once the
//    descriptor is really closed (after every operation in flight ended).
//    Closing twice is a no-op (returns false), once the first close() has
//    finished.
//  - The NetFd must outlive every call on it (Conn's destructor closes,
//    then frees it: destroying a Conn other fibers still use is a bug).
//    Once any close() has returned, no call is left using it: a fiber
//    that close() woke may destroy it while the closer still returns.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/socket.h>

#include <weft/internal/sema.hpp>
#include <weft/net_addr.hpp>
#include "sched/cancel.hpp"
#include "sched/g.hpp"
#include "sched/netpoll.hpp"

namespace weft::net::detail {

// Serialises one direction of a NetFd (F3, net_fd.cpp): a counter of
// holders and waiters, and a runtime semaphore the waiters park on, FIFO
// (a benaphore). Uncontended, lock and unlock are one atomic RMW each.
// unlock() touches the IoLock after handing it on: safe here because the
// NetFd outlives every operation holding a reference (F1, F2).
class IoLock {
public:
    void lock() {
        // Acquire: the previous holder's critical section happens before ours.
        if (count_.fetch_add(1, std::memory_order_acquire) > 0) sema_.acquire(sched::WaitReason::kIOWait);
    }
    void unlock() {
        // Release: ours happens before the next holder's.
        if (count_.fetch_sub(1, std::memory_order_release) > 1) sema_.release();
    }

private:
    std::atomic<int32_t> count_{0};  // holders (0 or 1) + waiters
    sched::Sema sema_;
};

class NetFd {
public:
    // Takes ownership of fd (a non-blocking, close-on-exec socket) and
    // registers it with the poller. On failure closes fd and throws
    // std::system_error naming `op` and the address.
    NetFd(int fd, Network net, const Addr& local, const Addr& remote, const char* op);
    ~NetFd();
    NetFd(const NetFd&) = delete;
    NetFd& operator=(const NetFd&) = delete;

    // Relaxed: the number is written once by the constructor (published
    // with the NetFd itself) and once by close(), after which no operation
    // uses it (F2); a racing fd() caller only learns "closed" late.
    int fd() const { return fd_.load(std::memory_order_relaxed); }
    Network network() const { return net_; }
    const Addr& local() const { return local_; }
    const Addr& remote() const { return remote_; }
    void set_local(const Addr& a) { local_ = a; }  // before sharing the NetFd
    void set_remote(const Addr& a) { remote_ = a; }
    // A Unix socket file that close() removes (before sharing the NetFd).
    void set_unlink_on_close(std::string path) { unlink_on_close_ = std::move(path); }

    // Binds the blocking calls to a context's cancel set: once it is
    // cancelled (or if it already is), waits end and calls fail with
    // ContextError until another set (or none: null) is bound. From a
    // fiber; serialised with close(), which unbinds. The set must outlive
    // the binding.
    void bind_cancel(sched::CancelSet* set);

    // One read(2): >= 1 byte, 0 at end of stream (or for n == 0).
    size_t read(void* buf, size_t n);
    // One send(2) (MSG_NOSIGNAL): >= 1 byte (0 for n == 0).
    size_t write(const void* buf, size_t n);
    // One recvfrom(2): a datagram's bytes (at most n; the rest of a longer
    // one is dropped), its sender in *from, and in *truncated whether it
    // was longer than n.
    size_t read_from(void* buf, size_t n, Addr* from, bool* truncated);
    // One sendto(2) (MSG_NOSIGNAL) of a whole datagram to `to`.
    size_t write_to(const void* buf, size_t n, const Addr& to);
    // Writes all n bytes, holding the write side throughout (concurrent
    // write_all calls do not interleave).
    void write_all(const void* buf, size_t n);
    // accept4(SOCK_NONBLOCK | SOCK_CLOEXEC); fills *peer. Survives EMFILE
    // and friends with a backoff (net.hpp, Listener::accept).
    int accept(Addr* peer);
    // After a non-blocking connect(2) said EINPROGRESS: waits until the
    // connection is established or failed, or until deadline_ns (0: none).
    void wait_connected(int64_t deadline_ns);
    void shutdown(int how);
    // when_ns: 0 none, else base::nanotime() time.
    void set_deadline(int64_t when_ns, sched::PollMode mode);
    bool close();

    // "read tcp 127.0.0.1:1->127.0.0.1:2" (op, network, addresses).
    std::string context(const char* op) const;

private:
    // An operation in flight; see the reference protocol in net_fd.cpp.
    class Ref;
    bool incref();
    void decref();
    void check(sched::PollResult r, const char* op) const;
    size_t write_locked(const void* buf, size_t n);

    std::atomic<int> fd_;
    sched::PollDesc* pd_;
    const Network net_;
    Addr local_;
    Addr remote_;
    // bit 0: closed; bits 1..31: operations in flight (F1, net_fd.cpp).
    std::atomic<uint32_t> state_{0};
    weft::sched::Sema close_sema_;  // the closer waits here for the last op
    weft::sched::Sema close_mu_{1};  // held across close() (F4)
    std::string unlink_on_close_;
    // The bound cancel set (guarded by close_mu_), its hook, and the
    // reason it gave, for the error (written by the hook before it marks
    // the poll descriptor, read after poll_* returned kCanceled).
    struct BoundHook : sched::CancelHook {
        NetFd* fd = nullptr;
    };
    sched::CancelSet* cancel_set_ = nullptr;
    BoundHook cancel_hook_;
    std::atomic<int> cancel_err_{0};
    IoLock rmu_;                     // serialises readers and accepts (F3)
    IoLock wmu_;                     // serialises writers and connect
    // Under rmu_: accept's refusals for want of descriptors or memory, for
    // its reports (one when they begin, a reminder every kRefusalReminder
    // while they last, one when accepting works again).
    int64_t refused_since_ = 0;        // nanotime of the episode's first; 0: none
    int64_t refused_reported_at_ = 0;  // the last report's nanotime
    uint64_t refused_ = 0;             // refusals in the episode
    uint64_t refused_since_report_ = 0;
};

}  // namespace weft::net::detail
