// netpoll.cpp — the epoll poller (as Go's netpoll_epoll.go).
//
// Owns the epoll instance and the eventfd used to break a blocked poll.
// Also the runtime's timed sleep: the last idle M blocks here until the
// earliest timer (find_runnable step 7), so an idle program sleeps in the
// kernel. File descriptors are registered by the net layer (issue #3).
//
// Invariants:
//   N1. At most one M blocks in netpoll (Sched::lastpoll == 0 while it does).
//   N2. netpoll_break writes the eventfd at most once until the poller
//       drains it (g_break_pending), so a burst of breaks costs one write.
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/base/check.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

int g_epfd = -1;
int g_breakfd = -1;
std::atomic<bool> g_break_pending{false};
std::atomic<int32_t> g_waiters{0};

}  // namespace

void netpoll_init() {
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) base::fatal("netpoll: epoll_create1 failed: errno %d", errno);
    g_breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g_breakfd < 0) base::fatal("netpoll: eventfd failed: errno %d", errno);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &g_breakfd;
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

bool netpoll_has_waiters() { return g_waiters.load(std::memory_order_relaxed) > 0; }

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
    (void)out;
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
    int32_t ready = 0;
    for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == &g_breakfd) {
            uint64_t v;
            while (read(g_breakfd, &v, sizeof v) > 0) {
            }
            g_break_pending.store(false);
            continue;
        }
        // fd records arrive with the net layer.
    }
    return ready;
}

}  // namespace weft::sched
