// dump.cpp — the fiber dump printed on fatal errors and SIGQUIT.
//
// Runs in a dying process, possibly in a signal handler with runtime locks
// held: it takes no runtime lock. It walks the lock-free list of every G
// (for_each_g); fields may be mid-update, which at worst prints a stale
// state. Each fiber's stack is captured without allocating
// (backtrace.hpp); naming its frames allocates (symbolize.hpp), which a
// signal handler must not: a signal-time dump captures the dying fiber's
// own stack in the handler and hands the rest to sysmon (D1-D3).
//
//   D1. The dying thread fills the one DumpState, stores kRequested
//       (release) and kicks sysmon.
//   D2. sysmon (dump_serve, each round) takes kRequested -> kServing by
//       CAS, dumps on its own stack, stores kDone (release).
//   D3. The dying thread waits for kDone, at most kHandOffWaitNs; if sysmon
//       has not even taken the request by then (stuck, or the dying thread
//       is sysmon), it takes it back by CAS and dumps itself.
#include <atomic>
#include <pthread.h>
#include <sys/mman.h>

#include <weft/clock.hpp>
#include "runtime/base/backoff.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/symbolize.hpp"
#include "sched/backtrace.hpp"
#include "sched/trace.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

constexpr size_t kDumpStackSize = 1 << 20;

// How long the dying thread waits for sysmon to take a dump (D3), and then
// to finish it.
constexpr int64_t kHandOffWaitNs = 1'000'000'000;
constexpr int64_t kServeWaitNs = 60'000'000'000;

enum DumpPhase : uint32_t { kIdle, kRequested, kServing, kDone };
std::atomic<uint32_t> g_phase{kIdle};

struct DumpState {
    int64_t now = 0;
    G* self = nullptr;  // the dumping thread's fiber, captured before the switch
    int64_t self_m = -1;
    base::Frames self_frames;
    base::StackCopy self_copy;
    base::StackCopy copy;  // each other fiber's, one at a time
    WalkResult self_result = WalkResult::kNoStack;
};

// How long a dump waits for another M to walk its own fiber's stack.
constexpr int64_t kDumpWalkTimeoutNs = 500'000'000;

}  // namespace

// no_sanitize("thread"): a dump's racy reads (above).
__attribute__((no_sanitize("thread"))) void print_fiber_header(G* g, GStatus st, int64_t now) {
    auto id = static_cast<unsigned long long>(g->id);
    if (st == GStatus::kWaiting) {
        long long ms = g->wait_since ? static_cast<long long>((now - g->wait_since) / 1'000'000) : 0;
        base::print_err("fiber %llu [%s, %lld ms]:\n", id, wait_reason_name(g->wait_reason), ms);
    } else {
        base::print_err("fiber %llu [%s]:\n", id, status_name(st));
    }
}

__attribute__((no_sanitize("thread"))) void print_fiber_origin(G* g) {
    if (g->parent_id)
        base::print_err("\tcreated by fiber %llu at %s:%u (%s)\n", static_cast<unsigned long long>(g->parent_id),
                        g->created_at.file_name(), g->created_at.line, g->created_at.function);
    else
        base::print_err("\tmain fiber, started by weft::run\n");
}

namespace {

// no_sanitize("thread"): the racy reads above are the design (a dying
// process cannot take locks it may already hold), not a bug to report.
__attribute__((no_sanitize("thread"))) void dump_one(G* g, void* state_p) {
    DumpState& state = *static_cast<DumpState*>(state_p);
    int64_t now = state.now;
    GStatus st = g->status.load(std::memory_order_relaxed);
    if (st == GStatus::kDead || st == GStatus::kIdle) return;
    print_fiber_header(g, st, now);
    base::Frames frames;
    int64_t on_m = -1;
    WalkResult r;
    if (g == state.self) {
        frames = state.self_frames;
        r = state.self_result;
        on_m = state.self_m;
    } else {
        r = fiber_backtrace(g, frames, &state.copy, kDumpWalkTimeoutNs, &on_m);
    }
    if (on_m >= 0 && (st == GStatus::kRunning || st == GStatus::kSyscall))
        base::print_err("\ton M %lld%s\n", static_cast<long long>(on_m), g == state.self ? " (this thread)" : "");
    if (r == WalkResult::kOk) base::print_frames(frames);
    else base::print_err("\t(%s)\n", walk_result_text(r));
    print_fiber_origin(g);
}

void dump_body(void* state) {
    base::print_err("\n");
    for_each_g(dump_one, state);
}

DumpState g_state;  // one dump per process (fatal.cpp's latch)

// Dumps on a stack of its own: naming frames takes more stack than a
// fiber may have (16 KiB at least) or a signal stack.
void dump_on_big_stack() {
    void* stack = mmap(nullptr, kDumpStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
    if (stack == MAP_FAILED) {
        dump_body(&g_state);
        return;
    }
    run_on_stack(stack, kDumpStackSize, dump_body, &g_state);
    munmap(stack, kDumpStackSize);
}

}  // namespace

void dump_all_fibers(bool from_signal) {
    // A flight recorder's last events first: they are what led here, and
    // writing them needs neither allocation nor naming.
    trace::at_fatal();
    g_state.now = base::nanotime_coarse();  // wait_since uses the coarse clock
    // The dying thread's own fiber is walked here, on its own stack.
    M* m = getm();
    g_state.self = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
    g_state.self_m = m ? m->id : -1;
    if (g_state.self)
        g_state.self_result = fiber_backtrace(g_state.self, g_state.self_frames, &g_state.self_copy, 0, nullptr);
    if (!from_signal || g_sched == nullptr || pthread_equal(pthread_self(), g_sched->sysmon_thread)) {
        dump_on_big_stack();
        return;
    }
    g_phase.store(kRequested, std::memory_order_release);  // D1
    sysmon_wake();
    int64_t start = base::nanotime();
    base::Backoff backoff;  // nanosleep at worst: async-signal-safe
    while (g_phase.load(std::memory_order_acquire) == kRequested && base::nanotime() - start < kHandOffWaitNs)
        backoff.pause();
    uint32_t expected = kRequested;
    if (g_phase.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) {  // D3: not taken
        dump_on_big_stack();
        return;
    }
    while (g_phase.load(std::memory_order_acquire) != kDone && base::nanotime() - start < kServeWaitNs) backoff.pause();
}

void dump_serve() {
    uint32_t expected = kRequested;
    // Relaxed: a peek, every sysmon round; the CAS decides.
    if (g_phase.load(std::memory_order_relaxed) != kRequested ||
        !g_phase.compare_exchange_strong(expected, kServing, std::memory_order_acq_rel))
        return;
    dump_body(&g_state);  // D2: sysmon's own thread stack is large enough
    g_phase.store(kDone, std::memory_order_release);
}

}  // namespace weft::sched
