// backtrace.cpp — see backtrace.hpp.
//
// Capture protocol (another M's thread):
//   BT1. The requester publishes its request in m->capture (CAS from null;
//       one request per M at a time) and sends SIGURG to m's thread (tgkill
//       by thread id: an M that has exited yields ESRCH, not a signal to a
//       recycled pthread_t).
//   BT2. The handler, on m's alternate signal stack, takes the request with
//       an exchange to null, walks from the interrupted rip/rbp inside the
//       stack that holds the interrupted rsp, and sets `done` (release).
//       Under TSan the handler may instead run later, on the interrupted
//       stack itself (capture_in_handler says why); it then walks from its
//       own frame.
//   BT3. The requester waits for `done` (acquire), bounded: past the bound
//       it waits on only while the kernel says m's thread is runnable (it
//       will run the handler once it gets a CPU; a loaded machine can keep
//       it off one for longer than the bound), up to kRunnableWaitNs more.
//       Then it takes the request back with an exchange: if that returns
//       its own request the handler never saw it; if null, the handler
//       holds it and the requester must wait for `done` before its request
//       (on its stack) may go away — a walk is bounded, so that wait is
//       short.
#include "sched/backtrace.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/backoff.hpp"
#include "sched/sanitizers.hpp"
#include "sched/sched.hpp"

namespace weft::sched {

struct CaptureRequest {
    base::Frames* out = nullptr;
    base::StackCopy* copy = nullptr;
    G* g = nullptr;  // what the M was running when the handler walked
    std::atomic<bool> done{false};
};

namespace {

constinit thread_local void* t_fatal_context = nullptr;

// BT3: how long past the caller's bound a requester waits for a thread
// that stays runnable. A thread spinning with SIGURG blocked is runnable
// too, so this is a cap, not a guess at scheduling delay.
constexpr int64_t kRunnableWaitNs = 10'000'000'000;

// Whether the kernel has thread `tid` of this process running or ready to
// run (state R in /proc/self/task/<tid>/stat). Only async-signal-safe
// calls: a dump runs in a signal handler. False when the file cannot be
// read.
bool thread_runnable(int tid) {
    char path[48] = "/proc/self/task/";
    size_t n = strlen(path);
    char digits[16];
    size_t k = 0;
    for (unsigned v = static_cast<unsigned>(tid); k == 0 || v != 0; v /= 10) digits[k++] = static_cast<char>('0' + v % 10);
    while (k > 0) path[n++] = digits[--k];
    memcpy(path + n, "/stat", 6);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[256];
    ssize_t got = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (got <= 0) return false;
    buf[got] = '\0';
    // "tid (comm) S ...": comm may hold spaces and parentheses, so the
    // state follows the last ')'.
    const char* close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'R';
}
struct sigaction g_old_urg;
bool g_installed = false;

base::StackRegion region_of(const void* lo, size_t size) {
    auto a = reinterpret_cast<uintptr_t>(lo);
    return base::StackRegion{a, a + size};
}

// Captures the code a signal interrupted on m's thread, running g (or the
// scheduler): from the exact pc, inside whichever stack holds its sp (for
// a stack overflow, sp is below the fiber's stack; its frames are not).
__attribute__((no_sanitize("address", "thread"))) void capture_interrupted(M* m, G* g, void* ucv, base::StackCopy* copy,
                                                                           base::Frames& out) {
    auto* uc = static_cast<ucontext_t*>(ucv);
    auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
    auto fp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]);
    auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
    base::StackRegion r{};
    base::StackRegion fiber = g ? region_of(g->stack.lo, g->stack.size) : base::StackRegion{};
    base::StackRegion g0 = region_of(m->g0.stack_lo, m->g0.stack_size);
    if (fiber.contains(sp, 1) || (sp < fiber.lo && fiber.contains(fp, 1))) r = fiber;
    else if (g0.contains(sp, 1)) r = g0;
    base::capture(pc, sp, fp, true, r, copy, out);
}

// BT2's walk, from the handler. ThreadSanitizer defers a signal another
// thread sent: its own handler saves the context and returns, and the
// program's handler is called later, from inside TSan's runtime at the
// thread's next hook, on the thread's current stack. The saved context is
// then stale: its pc and sp are where the thread was when the signal came,
// and the frames below the caller still live since are overwritten (a
// walk from them lost the fiber's own frames). A handler running on the
// fiber's or g0's stack, not the alternate stack the kernel delivers on,
// was called so: it walks from its own frame, through TSan's, out to the
// frames that are live now.
__attribute__((no_sanitize("address", "thread"))) void capture_in_handler(M* m, G* g, void* ucv,
                                                                         base::StackCopy* copy, base::Frames& out) {
#if defined(WEFT_TSAN)
    auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    base::StackRegion fiber = g ? region_of(g->stack.lo, g->stack.size) : base::StackRegion{};
    base::StackRegion g0 = region_of(m->g0.stack_lo, m->g0.stack_size);
    if (fiber.contains(here, 1)) return base::capture_here(fiber, copy, out);
    if (g0.contains(here, 1)) return base::capture_here(g0, copy, out);
#endif
    capture_interrupted(m, g, ucv, copy, out);
}

// BT2. no_sanitize: reads the interrupted stack as frames.cpp does.
__attribute__((no_sanitize("address", "thread"))) void on_capture(int, siginfo_t*, void* ucv) {
    int saved_errno = errno;
    M* m = t_m;
    CaptureRequest* req = m ? m->capture.exchange(nullptr, std::memory_order_acq_rel) : nullptr;
    if (req) {
        G* g = m->curg.load(std::memory_order_relaxed);
        capture_in_handler(m, g, ucv, req->copy, *req->out);
        req->g = g;
        req->done.store(true, std::memory_order_release);
    }
    errno = saved_errno;
}

// BT1 and BT3. no_sanitize("thread"): m->tid is read as a hint (an M that
// has not set it yet is reported unwalkable).
__attribute__((no_sanitize("thread"))) WalkResult capture_on(M* m, base::Frames& out, base::StackCopy* copy, int64_t timeout_ns, G** g_out) {
    if (m->tid == 0) return WalkResult::kNotWalkable;
    CaptureRequest req;
    req.out = &out;
    req.copy = copy;
    int64_t deadline = base::nanotime() + timeout_ns;
    base::Backoff backoff;  // nanosleep at worst: async-signal-safe, as a dump needs
    for (;;) {
        CaptureRequest* expected = nullptr;
        if (m->capture.compare_exchange_strong(expected, &req, std::memory_order_acq_rel)) break;
        if (base::nanotime() >= deadline) return WalkResult::kNoAnswer;  // another request stays pending
        backoff.pause();
    }
    if (syscall(SYS_tgkill, getpid(), m->tid, SIGURG) != 0) {
        if (m->capture.exchange(nullptr, std::memory_order_acq_rel) == &req) return WalkResult::kNotWalkable;
    } else {
        while (!req.done.load(std::memory_order_acquire) && base::nanotime() < deadline) backoff.pause();
        int64_t cap = deadline + kRunnableWaitNs;
        while (!req.done.load(std::memory_order_acquire) && base::nanotime() < cap && thread_runnable(m->tid))
            backoff.pause();
        if (!req.done.load(std::memory_order_acquire)) {
            if (m->capture.exchange(nullptr, std::memory_order_acq_rel) == &req) return WalkResult::kNoAnswer;
        }
    }
    // The handler took the request: it finishes its bounded walk soon.
    while (!req.done.load(std::memory_order_acquire)) backoff.pause();
    if (g_out) *g_out = req.g;
    return WalkResult::kOk;
}

__attribute__((no_sanitize("address", "thread"))) WalkResult capture_parked(G* g, void* fctx, base::StackCopy* copy,
                                                                               base::Frames& out) {
    base::StackRegion r = region_of(g->stack.lo, g->stack.size);
    auto sp = reinterpret_cast<uintptr_t>(fctx);
    if (!r.contains(sp, kSavedPcOffset + sizeof(uintptr_t))) return WalkResult::kMoved;
    auto pc = *reinterpret_cast<const uintptr_t*>(sp + kSavedPcOffset);
    auto fp = *reinterpret_cast<const uintptr_t*>(sp + kSavedFpOffset);
    // As if jump_fcontext had returned: switch_to resumes at pc with sp
    // above the return address.
    base::capture(pc, sp + kSavedPcOffset + sizeof(uintptr_t), fp, false, r, copy, out);
    return WalkResult::kOk;
}

}  // namespace

const char* walk_result_text(WalkResult r) {
    switch (r) {
        case WalkResult::kOk: return "ok";
        case WalkResult::kNoStack: return "no stack (not started)";
        case WalkResult::kMoved: return "stack not taken: the fiber moved on while it was walked";
        case WalkResult::kNoAnswer: return "stack not taken: its thread did not answer in time";
        case WalkResult::kNotWalkable: return "stack not taken: its thread cannot be signalled";
    }
    return "?";
}

WalkResult m_backtrace(M* m, base::Frames& out, base::StackCopy* copy, int64_t timeout_ns, G** g_out) {
    out.n = 0;
    out.truncated = false;
    out.copy = nullptr;
    if (g_out) *g_out = nullptr;
    return capture_on(m, out, copy, timeout_ns, g_out);
}

// no_sanitize("thread"): reads another thread's G as dumps do, racily by
// design, each read then confirmed (stack_gen, status) or harmless.
__attribute__((no_sanitize("thread"))) WalkResult fiber_backtrace(G* g, base::Frames& out, base::StackCopy* copy,
                                                                  int64_t timeout_ns, int64_t* on_m) {
    out.n = 0;
    out.truncated = false;
    out.copy = nullptr;
    if (on_m) *on_m = -1;
    M* self = t_m;
    if (self && self->curg.load(std::memory_order_relaxed) == g) {
        if (on_m) *on_m = self->id;
        if (t_fatal_context) {
            capture_interrupted(self, g, t_fatal_context, copy, out);
            return WalkResult::kOk;
        }
        // Our own fiber, from here.
        base::capture_here(region_of(g->stack.lo, g->stack.size), copy, out);
        return WalkResult::kOk;
    }
    GStatus st = without_scan(g->status.load(std::memory_order_acquire));
    if (st == GStatus::kDead || st == GStatus::kIdle || g->stack.lo == nullptr) return WalkResult::kNoStack;
    if (st == GStatus::kRunning || st == GStatus::kSyscall) {
        M* m = g->m;
        if (m == nullptr) return WalkResult::kMoved;
        if (on_m) *on_m = m->id;
        G* seen = nullptr;
        WalkResult r = capture_on(m, out, copy, timeout_ns, &seen);
        if (r == WalkResult::kOk && seen != g) {
            out.n = 0;
            return WalkResult::kMoved;
        }
        return r;
    }
    // Parked. The stack holds still while stack_gen does (g.hpp: bumped
    // whenever the fiber is about to run again).
    uint64_t gen = g->stack_gen.load(std::memory_order_acquire);
    void* fctx = g->ctx.fctx;
    if (fctx == nullptr) return WalkResult::kMoved;
    if (!g->stack.contains(fctx)) return WalkResult::kNoStack;  // made, never switched in
    WalkResult r = capture_parked(g, fctx, copy, out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g->stack_gen.load(std::memory_order_relaxed) != gen ||
        without_scan(g->status.load(std::memory_order_relaxed)) != st) {
        out.n = 0;
        return WalkResult::kMoved;
    }
    return r;
}

void note_fatal_signal_context(void* ucontext) { t_fatal_context = ucontext; }

void backtrace_install() {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_capture;
    // SA_RESTART: a system call the signal interrupts resumes by itself.
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, &g_old_urg);
    g_installed = true;
}

void backtrace_restore() {
    if (!g_installed) return;
    sigaction(SIGURG, &g_old_urg, nullptr);
    g_installed = false;
}

}  // namespace weft::sched
