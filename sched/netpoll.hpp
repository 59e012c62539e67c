// netpoll.hpp — poll descriptors: parking fibers on file descriptors (the
// role of Go's pollDesc API in runtime/netpoll.go, seen from internal/poll).
//
// The net layer (syscall/net_fd.*) registers each non-blocking socket once
// with poll_open and gets a PollDesc. A fiber whose read or write returned
// EAGAIN parks in poll_wait until the descriptor becomes ready in that
// direction, the direction's deadline passes, or the descriptor is closed.
// The scheduler drains readiness through netpoll() (sched.hpp) and runs the
// woken fibers; deadlines are per-P timers (sched/timers.hpp).
//
// Legal call sequence for one registration:
//
//   pd = poll_open(fd)                           fd non-blocking, not yet registered
//   { poll_prepare / poll_wait / poll_set_deadline }*
//   poll_unblock(pd)                             once: wakes every waiter (kClosed)
//   poll_close(pd)                               once, after every poll_wait returned
//   close(fd)                                    only now: the fd number may be reused
//
// Contexts: every function is called from a fiber while the runtime runs
// (poll_wait parks it; the others need the fiber's P for timers and
// ready()). Exception: poll_unblock and poll_close also work while no
// runtime runs, so an object that outlived its run can still be closed;
// they then wake nobody (fibers of an ended run are abandoned).
//
// At most one fiber waits per direction: the caller serialises readers and
// writers (net_fd's read/write locks). A second waiter in one direction is
// fatal ("two fibers wait on one descriptor").
#pragma once

#include <cstdint>

namespace weft::sched {

struct PollDesc;  // opaque; owned by netpoll.cpp, recycled, never freed

enum class PollMode : uint8_t {
    kRead = 1,
    kWrite = 2,
    kReadWrite = 3,  // poll_set_deadline only
};

enum class PollResult : uint8_t {
    kReady,    // the direction may be ready: retry the system call
    kTimeout,  // the direction's deadline has passed (it stays passed until reset)
    kClosed,   // poll_unblock was called: the descriptor is being closed
    kCanceled, // poll_set_canceled(pd, true): its context ended (until cleared)
};

// Registers fd (already O_NONBLOCK) with the poller, edge-triggered for both
// directions. Returns null with errno set if epoll refuses it (ENOMEM,
// ENOSPC: fs.epoll.max_user_watches; EPERM: a regular file).
PollDesc* poll_open(int fd);

// Unregisters pd and recycles it. Preconditions: poll_unblock(pd) was
// called and no fiber is inside poll_wait on it (fatal otherwise). The
// caller closes the fd afterwards.
void poll_close(PollDesc* pd);

// Marks pd closing, disarms its deadlines and wakes both waiters; every
// later poll_prepare/poll_wait returns kClosed. Fatal if called twice.
void poll_unblock(PollDesc* pd);

// Before a read (kRead) or write (kWrite) attempt: kClosed/kCanceled/kTimeout if the
// operation must fail without trying, else forgets a stale readiness
// notification (the caller is about to try the call anyway) and kReady.
PollResult poll_prepare(PollDesc* pd, PollMode mode);

// Parks the calling fiber (WaitReason::kIOWait) until the direction is
// ready, its deadline passes or pd is closed; returns at once if readiness
// arrived since the last wait. kReady may be spurious: the caller retries
// its call and waits again on EAGAIN. mode is kRead or kWrite.
PollResult poll_wait(PollDesc* pd, PollMode mode);

// Sets the deadline of the read side, the write side or both:
//   when_ns == 0         no deadline;
//   when_ns <= nanotime  already passed: a waiter wakes now with kTimeout;
//   otherwise            a timer wakes the waiter at when_ns.
// when_ns is base::nanotime() time (CLOCK_MONOTONIC, as weft::Clock).
// Ignored once pd is closing.
void poll_set_deadline(PollDesc* pd, int64_t when_ns, PollMode mode);

// Marks both directions canceled (waiters wake, every later
// poll_prepare/poll_wait returns kCanceled) or clears the mark: a context
// bound to the descriptor ended, or a new one is bound. Deadlines are left
// as they are. Ignored once pd is closing. Callable on g0 (a context's
// deadline timer).
void poll_set_canceled(PollDesc* pd, bool canceled);

// Tests and diagnostics: fibers parked in poll_wait now (the count
// netpoll_has_waiters() tests), and descriptors currently open.
int32_t netpoll_waiters();
int64_t netpoll_open_descriptors();
// Calls of netpoll() in this process (weft::metrics).
uint64_t netpoll_count();

}  // namespace weft::sched
