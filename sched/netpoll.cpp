// netpoll.cpp — the epoll poller and poll descriptors (as Go's netpoll.go
// and netpoll_epoll.go).
//
// Owns the epoll instance, the eventfd used to break a blocked poll, and
// every PollDesc (one per registered descriptor). It is also the runtime's
// timed sleep: the last idle M blocks here until the earliest timer
// (find_runnable step 7), so an idle program sleeps in the kernel.
//
// A PollDesc has two wait slots, rg (read) and wg (write). Each is one
// atomic word holding one of
//
//   state     meaning                                   who moves it on
//   -----     -------                                   ---------------
//   kNil      nobody waits, no notification pending     waiter (-> kWait),
//                                                       netpoll (-> kReady)
//   kReady    readiness arrived and nobody took it      waiter (-> kNil),
//                                                       poll_prepare (-> kNil)
//   kWait     a fiber is about to park                  its commit (-> G),
//                                                       any unblock (-> kReady/kNil)
//   G*        that fiber is parked (kWaiting)           the one unblock that swaps it out
//
// Invariants:
//   N1. At most one M blocks in netpoll (Sched::lastpoll == 0 while it does).
//   N2. netpoll_break writes the eventfd at most once until the poller
//       drains it (g_break_pending), so a burst of breaks costs one write.
//   N3. Exactly one wake per wait: a parked G leaves its slot only through
//       a successful CAS/exchange in unblock(), and whoever performs it
//       (netpoll, a deadline timer, poll_unblock) readies that G — once.
//       An event racing a deadline: one of them swaps the G out, the other
//       finds kNil/kReady and wakes nobody.
//   N4. g_waiters >= the number of G*s in all slots plus the Gs netpoll
//       has taken out of slots and its caller has not yet queued: commit
//       raises it before installing the G; a deadline or close lowers it
//       after removing one (its M holds a P, so it is not idle), and
//       netpoll's caller lowers it (netpoll_waiters_done) only after it put
//       the Gs on a run queue or took one to run with a P. So
//       netpoll_has_waiters() never says "no" while a fiber is parked on a
//       descriptor or on its way from one to a queue, and checkdead never
//       misses one. (Lowering it inside netpoll let sysmon's poll hide the
//       last waiter from an M going idle: checkdead then saw no waiter, no
//       queued fiber and every M idle, and declared a deadlock while sysmon
//       held the fiber; test "a fiber taken by sysmon's poll ...".)
//   N5. A PollDesc is never freed while the process lives (epoll's data and
//       timer args name it by index); it is recycled through g_free. A
//       stale event (tagged with an old fdseq) or a stale deadline timer
//       (an old rseq/wseq) of a recycled descriptor is ignored.
//   N6. Deadline fields rd/wd: 0 none, < 0 passed, > 0 the nanotime when
//       it passes. Written under pd->lock; read without it by waiters.
//   N7. canceled: a context bound to the descriptor ended; both directions
//       fail as a passed deadline does, and the same protocol (step 3)
//       keeps a waiter from missing it. Written under pd->lock.
//
// Protocol (a fiber waits; as netpollblock):
//   1. poll_wait checks closing and the deadline: kClosed/kTimeout at once.
//   2. Slot kReady -> kNil: readiness arrived earlier, return (kReady).
//      Slot kNil -> kWait; any other value is a second waiter: fatal.
//   3. Re-check closing and the deadline (seq_cst): a closer or a deadline
//      stores its flag before it looks at the slot, the waiter stores kWait
//      before it looks at the flags, so one of them sees the other.
//   4. park(commit): on g0, once the fiber is suspended, commit raises
//      g_waiters (N4) and CASes kWait -> G. If the CAS fails an unblock got
//      there first: the fiber resumes at once.
//   5. Awake: exchange the slot to kNil; kReady means an event, anything
//      else (kNil) a deadline or close: go back to step 1's check.
//
// Protocol (wake; as netpollunblock): CAS the slot from its current value
// to kReady (an event) or kNil (deadline, close; only if a fiber waits);
// if the old value was a G, lower g_waiters and ready it — after dropping
// pd->lock (STYLE: never wake under a lock).
//
// Deadlines: one sched::Timer per direction, armed on the setter's P. The
// timer's arg is (index, seq); every re-arming and poll_unblock bump the
// direction's seq, so an old arming whose callback is already on its way
// (timers.cpp pops it before calling it) finds a new seq and does nothing.
// That is why a deadline is disarmed by a plain heap removal, not
// timer_stop: timer_stop waits for a running callback, and our callback
// takes pd->lock, which the disarming setter holds.
//
// Lock order: pd->lock (rank kSudog) is taken by fibers and by deadline
// callbacks, before the timer heap lock (timer_add) and the sched lock
// (wakep inside timer_add); g_cache_lock (kLeaf) is taken alone.
//
// Rejected: level-triggered epoll with EPOLLONESHOT re-armed per wait (a
// syscall per wait; Go moved away from it); one heap-allocated timer per
// deadline with seq in the arg and no removal (stale timers pile up in the
// heaps of servers that set a deadline per request); freeing PollDescs on
// close (an event already copied out of epoll_wait would point at freed
// memory).
#include "sched/netpoll.hpp"

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"
#include "sched/timers.hpp"

namespace weft::sched {

namespace {

// Slot values (see the table above); anything larger is a G*.
constexpr uintptr_t kNil = 0;
constexpr uintptr_t kReady = 1;
constexpr uintptr_t kWait = 2;

// epoll data of the break eventfd; never a valid (index, fdseq) pair
// because indexes stay below kMaxChunks * kChunkSize.
constexpr uint64_t kBreakTag = ~uint64_t{0};

constexpr uint32_t kChunkBits = 8;
constexpr uint32_t kChunkSize = 1u << kChunkBits;  // PollDescs per allocation
constexpr uint32_t kMaxChunks = 1u << 16;          // 16M descriptors at most

}  // namespace

struct PollDesc {
    // Fixed for the process's life.
    uint32_t index = 0;
    // Set by poll_open; fd is read by poll_close.
    int fd = -1;
    // Bumped by each poll_open; epoll's data carries it (N5). Read by
    // netpoll without the lock.
    std::atomic<uint32_t> fdseq{0};
    PollDesc* next_free = nullptr;  // guarded by g_cache_lock

    std::atomic<uintptr_t> rg{kNil};
    std::atomic<uintptr_t> wg{kNil};

    base::Lock lock{base::LockRank::kPollDesc};
    // Written under lock; read by waiters without it (protocol step 3).
    std::atomic<bool> closing{false};
    std::atomic<bool> canceled{false};  // N7
    std::atomic<int64_t> rd{0};  // N6
    std::atomic<int64_t> wd{0};
    uint32_t rseq = 0;  // deadline arming generations (guarded by lock)
    uint32_t wseq = 0;
    Timer rt;  // read deadline (armed while rd > 0)
    Timer wt;  // write deadline
};

namespace {

int g_epfd = -1;
int g_breakfd = -1;
std::atomic<bool> g_break_pending{false};
std::atomic<int32_t> g_waiters{0};  // N4
std::atomic<uint64_t> g_polls{0};   // netpoll calls, for weft::metrics()
std::atomic<int64_t> g_open{0};     // registered descriptors, diagnostics

// The PollDesc table: chunk pointers, published with release so netpoll
// (which indexes without a lock) sees a fully built chunk.
std::atomic<PollDesc*> g_chunks[kMaxChunks];
base::Lock g_cache_lock{base::LockRank::kLeaf};
uint32_t g_nchunks = 0;        // guarded by g_cache_lock
PollDesc* g_free = nullptr;    // guarded by g_cache_lock

PollDesc* pd_at(uint32_t index) {
    // Acquire: pairs with the release that published the chunk.
    PollDesc* chunk = g_chunks[index >> kChunkBits].load(std::memory_order_acquire);
    return &chunk[index & (kChunkSize - 1)];
}

PollDesc* pd_alloc() {
    base::LockGuard l(g_cache_lock);
    if (g_free == nullptr) {
        if (g_nchunks == kMaxChunks) base::fatal("netpoll: more than %u descriptors", kMaxChunks * kChunkSize);
        auto* chunk = new PollDesc[kChunkSize];
        for (uint32_t i = 0; i < kChunkSize; i++) {
            chunk[i].index = g_nchunks * kChunkSize + i;
            chunk[i].next_free = i + 1 < kChunkSize ? &chunk[i + 1] : nullptr;
        }
        g_chunks[g_nchunks].store(chunk, std::memory_order_release);
        g_nchunks++;
        g_free = chunk;
    }
    PollDesc* pd = g_free;
    g_free = pd->next_free;
    pd->next_free = nullptr;
    return pd;
}

void pd_free(PollDesc* pd) {
    base::LockGuard l(g_cache_lock);
    pd->next_free = g_free;
    g_free = pd;
}

std::atomic<uintptr_t>& slot_of(PollDesc* pd, PollMode mode) { return mode == PollMode::kRead ? pd->rg : pd->wg; }

// The reason a wait in `mode` must fail now, else kReady.
PollResult check_err(PollDesc* pd, PollMode mode) {
    if (pd->closing.load()) return PollResult::kClosed;
    if (pd->canceled.load()) return PollResult::kCanceled;
    const std::atomic<int64_t>& d = mode == PollMode::kRead ? pd->rd : pd->wd;
    if (d.load() < 0) return PollResult::kTimeout;
    return PollResult::kReady;
}

// As netpollunblock. ioready: an event (leave kReady behind); otherwise a
// deadline or close (wake a waiter, leave no notification). Returns the G
// taken out of the slot, which the caller must ready (N3), and counts it
// in *taken for g_waiters (N4).
G* unblock(PollDesc* pd, PollMode mode, bool ioready, int32_t* taken) {
    std::atomic<uintptr_t>& slot = slot_of(pd, mode);
    for (;;) {
        uintptr_t old = slot.load();
        if (old == kReady) return nullptr;
        if (old == kNil && !ioready) return nullptr;  // nobody to wake; keep no note
        uintptr_t next = ioready ? kReady : kNil;
        if (slot.compare_exchange_strong(old, next)) {
            if (old == kNil || old == kWait) return nullptr;  // a kWait parker sees it in commit
            (*taken)++;
            return reinterpret_cast<G*>(old);
        }
    }
}

// Protocol step 4, on g0 after the fiber is suspended.
bool commit(G* g, void* slotp) {
    auto* slot = static_cast<std::atomic<uintptr_t>*>(slotp);
    g_waiters.fetch_add(1);  // N4: before the G is visible in the slot
    uintptr_t expected = kWait;
    if (slot->compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(g))) return true;
    g_waiters.fetch_sub(1);
    return false;
}

// Protocol steps 2-5: true if readiness was delivered, false if woken for
// another reason (the caller re-checks closing and the deadline).
bool block(PollDesc* pd, PollMode mode) {
    std::atomic<uintptr_t>& slot = slot_of(pd, mode);
    for (;;) {  // step 2
        uintptr_t v = kReady;
        if (slot.compare_exchange_strong(v, kNil)) return true;
        v = kNil;
        if (slot.compare_exchange_strong(v, kWait)) break;
        v = slot.load();
        if (v != kReady && v != kNil)
            base::fatal("netpoll: two fibers wait on one descriptor (fd %d) for %s", pd->fd,
                        mode == PollMode::kRead ? "reading" : "writing");
    }
    if (check_err(pd, mode) == PollResult::kReady)  // step 3
        park(commit, &slot, WaitReason::kIOWait);
    uintptr_t old = slot.exchange(kNil);  // step 5
    if (old > kWait) base::fatal("netpoll: corrupted poll descriptor (fd %d)", pd->fd);
    return old == kReady;
}

void ready_all(G* a, G* b) {
    if (a) ready(a, ReadyAt::kBack);
    if (b) ready(b, ReadyAt::kBack);
}

void* timer_arg(uint32_t index, uint32_t seq) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(index) | (static_cast<uintptr_t>(seq) << 32));
}

// Removes t from its heap if it is armed, without waiting for a callback
// already popped (see "Deadlines" above for why not timer_stop).
void disarm(Timer* t) {
    for (;;) {
        // Acquire: pairs with the heap's release when it armed or popped t
        // (timers.hpp T1), so a popped timer's fields are ours to rewrite.
        TimerHeap* h = t->heap_.load(std::memory_order_acquire);
        if (h == nullptr || h->remove_if_here(t)) return;
    }
}

// A deadline timer fired (on g0 of an M holding a P; timers.hpp T3).
void deadline_fired(void* arg, PollMode mode) {
    auto bits = reinterpret_cast<uintptr_t>(arg);
    PollDesc* pd = pd_at(static_cast<uint32_t>(bits & 0xffffffffu));
    auto seq = static_cast<uint32_t>(bits >> 32);
    G* g = nullptr;
    int32_t taken = 0;
    {
        base::LockGuard l(pd->lock);
        uint32_t cur = mode == PollMode::kRead ? pd->rseq : pd->wseq;
        if (pd->closing.load() || seq != cur) return;  // N5: re-armed, closed or recycled
        std::atomic<int64_t>& d = mode == PollMode::kRead ? pd->rd : pd->wd;
        WEFT_CHECK(d.load() > 0, "netpoll: deadline timer fired without a deadline");
        d.store(-1);
        g = unblock(pd, mode, false, &taken);
    }
    g_waiters.fetch_sub(taken);
    ready_all(g, nullptr);
}

void read_deadline_fired(void* arg) { deadline_fired(arg, PollMode::kRead); }
void write_deadline_fired(void* arg) { deadline_fired(arg, PollMode::kWrite); }

// Sets one direction's deadline (under pd->lock). d as N6.
void set_side(PollDesc* pd, PollMode mode, int64_t d) {
    bool rd = mode == PollMode::kRead;
    uint32_t& seq = rd ? pd->rseq : pd->wseq;
    Timer& t = rd ? pd->rt : pd->wt;
    seq++;
    disarm(&t);
    (rd ? pd->rd : pd->wd).store(d);
    if (d > 0) {
        t.when = d;
        t.fn = rd ? read_deadline_fired : write_deadline_fired;
        t.arg = timer_arg(pd->index, seq);
        timer_add(&t);
    }
}

}  // namespace

// ------------------------------------------------------------ the poller

void netpoll_init() {
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) base::fatal("netpoll: epoll_create1 failed: errno %d", errno);
    g_breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g_breakfd < 0) base::fatal("netpoll: eventfd failed: errno %d", errno);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kBreakTag;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_breakfd, &ev) != 0)
        base::fatal("netpoll: registering the break eventfd failed: errno %d", errno);
    g_break_pending.store(false);
    g_waiters.store(0);
}

void netpoll_close() {
    if (g_epfd >= 0) close(g_epfd);
    if (g_breakfd >= 0) close(g_breakfd);
    g_epfd = g_breakfd = -1;
}

// Relaxed: a hint. The M that parks a fiber raises the count itself
// (commit, on its g0) before it looks for work again, so that M sees its
// own waiter in find_runnable step 7 and polls; while it polls it is not
// idle, so checkdead elsewhere does not fire. Another M reading a stale
// value only skips one non-blocking poll (step 4).
bool netpoll_has_waiters() { return g_waiters.load(std::memory_order_relaxed) > 0; }

uint64_t netpoll_count() { return g_polls.load(std::memory_order_relaxed); }

void netpoll_break() {
    if (g_breakfd < 0) return;
    bool expected = false;
    if (!g_break_pending.compare_exchange_strong(expected, true)) return;  // N2
    uint64_t one = 1;
    for (;;) {
        ssize_t w = write(g_breakfd, &one, sizeof one);
        if (w == sizeof one || errno == EAGAIN) return;
        if (errno != EINTR) base::fatal("netpoll_break: write failed: errno %d", errno);
    }
}

int32_t netpoll(int64_t delay_ns, GQueue& out) {
    g_polls.fetch_add(1, std::memory_order_relaxed);
    epoll_event events[128];
    int n;
    for (;;) {
        if (delay_ns < 0) {
            n = epoll_pwait2(g_epfd, events, 128, nullptr, nullptr);
        } else {
            timespec ts{static_cast<time_t>(delay_ns / 1'000'000'000), static_cast<long>(delay_ns % 1'000'000'000)};
            n = epoll_pwait2(g_epfd, events, 128, &ts, nullptr);
        }
        if (n >= 0) break;
        if (errno == ENOSYS) {
            // Kernels before 5.11: millisecond timeouts, rounded up.
            int ms = delay_ns < 0 ? -1 : static_cast<int>((delay_ns + 999'999) / 1'000'000);
            n = epoll_wait(g_epfd, events, 128, ms);
            if (n >= 0) break;
        }
        if (errno != EINTR) base::fatal("netpoll: epoll_wait failed: errno %d", errno);
        if (delay_ns > 0) return 0;  // a signal: let the caller recompute
    }
    int32_t ready_n = 0;
    int32_t taken = 0;
    for (int i = 0; i < n; i++) {
        uint64_t data = events[i].data.u64;
        if (data == kBreakTag) {
            uint64_t v;
            while (read(g_breakfd, &v, sizeof v) > 0) {
            }
            g_break_pending.store(false);
            continue;
        }
        PollDesc* pd = pd_at(static_cast<uint32_t>(data & 0xffffffffu));
        if (pd->fdseq.load() != static_cast<uint32_t>(data >> 32)) continue;  // N5: stale
        uint32_t ev = events[i].events;
        // As netpoll_epoll.go: hang-up and error wake both sides, so the
        // retried call reports what happened.
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            if (G* g = unblock(pd, PollMode::kRead, true, &taken)) {
                out.push_back(g);
                ready_n++;
            }
        }
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
            if (G* g = unblock(pd, PollMode::kWrite, true, &taken)) {
                out.push_back(g);
                ready_n++;
            }
        }
    }
    WEFT_CHECK(taken == ready_n, "netpoll: a fiber taken from a slot was not returned");
    if (ready_n > 0) trace::netpolled(ready_n);
    return ready_n;  // still counted in g_waiters: N4
}

void netpoll_waiters_done(int32_t n) {
    if (n > 0 && g_waiters.fetch_sub(n) < n) base::fatal("netpoll: waiter count below zero");
}

// ------------------------------------------------------------ descriptors

PollDesc* poll_open(int fd) {
    PollDesc* pd = pd_alloc();
    uint32_t seq;
    {
        base::LockGuard l(pd->lock);
        WEFT_CHECK(pd->rg.load() <= kReady && pd->wg.load() <= kReady, "netpoll: reusing a descriptor with a waiter");
        pd->fd = fd;
        seq = pd->fdseq.fetch_add(1) + 1;  // N5: events of the last user are stale now
        pd->rg.store(kNil);
        pd->wg.store(kNil);
        pd->closing.store(false);
        pd->canceled.store(false);
        pd->rd.store(0);
        pd->wd.store(0);
        pd->rseq++;  // N5: timers of the last user are stale now
        pd->wseq++;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = static_cast<uint64_t>(pd->index) | (static_cast<uint64_t>(seq) << 32);
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int err = errno;
        pd->closing.store(true);
        pd_free(pd);
        errno = err;
        return nullptr;
    }
    g_open.fetch_add(1, std::memory_order_relaxed);  // diagnostics only
    return pd;
}

void poll_unblock(PollDesc* pd) {
    G* rg = nullptr;
    G* wg = nullptr;
    int32_t taken = 0;
    {
        base::LockGuard l(pd->lock);
        WEFT_CHECK(!pd->closing.load(), "netpoll: poll_unblock called twice");
        pd->closing.store(true);  // protocol step 3: before looking at the slots
        pd->rseq++;
        pd->wseq++;
        disarm(&pd->rt);
        disarm(&pd->wt);
        rg = unblock(pd, PollMode::kRead, false, &taken);
        wg = unblock(pd, PollMode::kWrite, false, &taken);
    }
    g_waiters.fetch_sub(taken);
    // Without a runtime the Gs belong to an ended run: nobody to wake.
    if (runtime_running()) ready_all(rg, wg);
}

void poll_close(PollDesc* pd) {
    WEFT_CHECK(pd->closing.load(), "netpoll: poll_close without poll_unblock");
    if (runtime_running()) {
        WEFT_CHECK(pd->rg.load() <= kReady && pd->wg.load() <= kReady, "netpoll: poll_close while a fiber waits");
    } else {
        pd->rg.store(kNil);  // abandoned waiters of an ended run
        pd->wg.store(kNil);
    }
    // The descriptor is still open: remove it so no event names pd while
    // it sits on the free list (stale ones are caught by fdseq, N5).
    if (g_epfd >= 0) epoll_ctl(g_epfd, EPOLL_CTL_DEL, pd->fd, nullptr);
    pd->fd = -1;
    g_open.fetch_sub(1, std::memory_order_relaxed);
    pd_free(pd);
}

PollResult poll_prepare(PollDesc* pd, PollMode mode) {
    PollResult r = check_err(pd, mode);
    if (r != PollResult::kReady) return r;
    uintptr_t v = kReady;
    slot_of(pd, mode).compare_exchange_strong(v, kNil);  // the caller tries the call anyway
    return PollResult::kReady;
}

PollResult poll_wait(PollDesc* pd, PollMode mode) {
    WEFT_CHECK(mode == PollMode::kRead || mode == PollMode::kWrite, "poll_wait: mode must be kRead or kWrite");
    PollResult r = check_err(pd, mode);  // step 1
    if (r != PollResult::kReady) return r;
    while (!block(pd, mode)) {
        r = check_err(pd, mode);
        if (r != PollResult::kReady) return r;
        // Woken by a deadline that was reset before we ran: wait again.
    }
    return PollResult::kReady;
}

void poll_set_deadline(PollDesc* pd, int64_t when_ns, PollMode mode) {
    int64_t d = when_ns;
    if (d != 0 && d <= base::nanotime()) d = -1;  // N6: already passed
    G* rg = nullptr;
    G* wg = nullptr;
    int32_t taken = 0;
    {
        base::LockGuard l(pd->lock);
        if (pd->closing.load()) return;
        if (static_cast<uint8_t>(mode) & static_cast<uint8_t>(PollMode::kRead)) {
            set_side(pd, PollMode::kRead, d);
            if (d < 0) rg = unblock(pd, PollMode::kRead, false, &taken);
        }
        if (static_cast<uint8_t>(mode) & static_cast<uint8_t>(PollMode::kWrite)) {
            set_side(pd, PollMode::kWrite, d);
            if (d < 0) wg = unblock(pd, PollMode::kWrite, false, &taken);
        }
    }
    g_waiters.fetch_sub(taken);
    ready_all(rg, wg);
}

void poll_set_canceled(PollDesc* pd, bool canceled) {
    G* rg = nullptr;
    G* wg = nullptr;
    int32_t taken = 0;
    {
        base::LockGuard l(pd->lock);
        if (pd->closing.load()) return;
        pd->canceled.store(canceled);  // N7: before looking at the slots
        if (canceled) {
            rg = unblock(pd, PollMode::kRead, false, &taken);
            wg = unblock(pd, PollMode::kWrite, false, &taken);
        }
    }
    g_waiters.fetch_sub(taken);
    ready_all(rg, wg);
}

int32_t netpoll_waiters() { return g_waiters.load(); }
int64_t netpoll_open_descriptors() { return g_open.load(std::memory_order_relaxed); }

}  // namespace weft::sched
