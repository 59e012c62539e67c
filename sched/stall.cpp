// stall.cpp — the stall detector: fibers that hold a P too long.
//
// A fiber that runs without reaching a safe point keeps every other fiber
// of its P waiting, and a stop-the-world waiting for that P stops the
// whole program. sysmon (stall_check, each round) watches, per P, which
// run of which fiber holds it: the pair (G, G::stack_gen), which changes
// whenever the fiber parks, yields or is preempted (execute bumps
// stack_gen). A run that lasts longer than RunConfig::stall_ns is a stall
// and is reported once:
//
//   weft: fiber 12 has run 503 ms without a safe point (M 3, P 1), created at server.cpp:41 (handle)
//   	...its stack, walked on its thread (backtrace.hpp)
//
// "Run" is CPU time of the M's thread, not wall time: a thread the OS
// does not schedule (a loaded machine), or a sysmon that runs late, is not
// a stalled fiber. sysmon first reads that clock once the run is a time
// slice old (10 ms: a server's ordinary runs never pay the system call)
// and counts only the CPU time after it, so "has run N ms" is a lower
// bound. A stop-the-world that has waited the threshold for a P held by such
// a run is reported too, naming the stop, even if the run already was.
//
// Reports are rate-limited to RunConfig::stall_reports_max per
// stall_window_ns (5 a minute); the next report after a suppression, and
// the end of the run, say how many were suppressed.
#include <time.h>

#include <weft/clock.hpp>
#include "runtime/base/fatal.hpp"
#include "runtime/base/symbolize.hpp"
#include "sched/backtrace.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

// How long sysmon waits for the stalled M to walk its own stack.
constexpr int64_t kWalkTimeoutNs = 200'000'000;

// sysmon's own (sysmon is one thread; stall_start/finish run while it does not).
int64_t g_recent[64];  // times of the reports in the current window, oldest first
int g_nrecent = 0;
uint64_t g_suppressed = 0;  // since the last report
base::StackCopy g_copy;     // the stalled fiber's stack, for naming its frames
std::atomic<uint64_t> g_stalls_process{0};  // every run's stalls

int64_t thread_cpu_ns(int tid) {
    if (tid == 0) return -1;
    // The kernel's per-thread CPU clock id for a thread id (what
    // pthread_getcpuclockid computes, without needing a live pthread_t).
    auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return -1;
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool rate_allows(const RunConfig& cfg, int64_t now) {
    int keep = 0;
    for (int i = 0; i < g_nrecent; i++)
        if (now - g_recent[i] < cfg.stall_window_ns) g_recent[keep++] = g_recent[i];
    g_nrecent = keep;
    int max = cfg.stall_reports_max < 64 ? cfg.stall_reports_max : 64;
    if (g_nrecent >= max) return false;
    g_recent[g_nrecent++] = now;
    return true;
}

// What a report says of the fiber, copied while it still runs.
struct FiberFacts {
    uint64_t id = 0, parent_id = 0;
    SourceSite created_at;
};

// The G is not sysmon's: it may end and be recycled for a new fiber at any
// moment, so its fields are read racily and then confirmed: still the same
// run on the same M (gen), else the copy is thrown away.
__attribute__((no_sanitize("thread"))) bool copy_facts(M* m, G* g, uint64_t gen, FiberFacts& out) {
    out.id = g->id;
    out.parent_id = g->parent_id;
    out.created_at = g->created_at;
    std::atomic_thread_fence(std::memory_order_acquire);
    return m->curg.load(std::memory_order_relaxed) == g && g->stack_gen.load(std::memory_order_relaxed) == gen;
}

// stw: the start of the stop-the-world waiting for p, or 0.
void report(Sched& s, P* p, M* m, G* g, int64_t ran_ns, int64_t now, int64_t stw) {
    base::Frames frames;
    G* seen = nullptr;
    WalkResult r = m_backtrace(m, frames, &g_copy, kWalkTimeoutNs, &seen);
    FiberFacts f;
    // The fiber reached a safe point while we looked: not a stall after all.
    if ((r == WalkResult::kOk && seen != g) || !copy_facts(m, g, p->stall_gen, f)) return;
    // Relaxed: counts, read as statistics (tests poll them to end a spin).
    s.stalls.fetch_add(1, std::memory_order_relaxed);
    g_stalls_process.fetch_add(1, std::memory_order_relaxed);
    if (stw != 0) s.stw_stalls.fetch_add(1, std::memory_order_relaxed);
    if (!rate_allows(s.config, now)) {
        g_suppressed++;
        return;
    }
    if (g_suppressed > 0) {
        base::print_err("weft: %llu stall report%s suppressed (at most %d per %lld s)\n",
                        static_cast<unsigned long long>(g_suppressed), g_suppressed == 1 ? "" : "s",
                        s.config.stall_reports_max, static_cast<long long>(s.config.stall_window_ns / 1'000'000'000));
        g_suppressed = 0;
    }
    char origin[512];
    if (f.parent_id)
        snprintf(origin, sizeof origin, "created at %s:%u (%s)", f.created_at.file_name(), f.created_at.line,
                 f.created_at.function);
    else
        snprintf(origin, sizeof origin, "the main fiber");
    auto ms = [](int64_t ns) { return static_cast<long long>(ns / 1'000'000); };
    if (stw != 0) {
        const char* why = s.stw_reason.load(std::memory_order_relaxed);
        base::print_err("weft: stop-the-world (%s) has waited %lld ms for P %d, held by fiber %llu:\n",
                        why ? why : "?", ms(now - stw), p->id, static_cast<unsigned long long>(f.id));
    }
    base::print_err("weft: fiber %llu has run %lld ms without a safe point (M %lld, P %d), %s\n",
                    static_cast<unsigned long long>(f.id), ms(ran_ns), static_cast<long long>(m->id), p->id, origin);
    if (r == WalkResult::kOk) base::print_frames(frames);
    else base::print_err("\t(%s)\n", walk_result_text(r));
    base::symbolize_close();
}

}  // namespace

void stall_check(Sched& s, int64_t now) {
    const int64_t threshold = s.config.stall_ns;
    for (P* p : s.allp) {
        M* m = p->status.load(std::memory_order_relaxed) == PStatus::kRunning ? p->m.load(std::memory_order_acquire)
                                                                               : nullptr;
        // M and G records outlive the run (g.hpp, m.hpp): stale reads are safe.
        G* g = m ? m->curg.load(std::memory_order_acquire) : nullptr;
        uint64_t gen = g ? g->stack_gen.load(std::memory_order_acquire) : 0;
        if (g != p->stall_g || gen != p->stall_gen) {
            p->stall_g = g;
            p->stall_gen = gen;
            p->stall_since = now;
            p->stall_cpu_at = 0;
            p->stall_reported = false;
            continue;
        }
        if (g == nullptr) continue;
        int64_t wall = now - p->stall_since;
        if (p->stall_cpu_at == 0) {
            // The run is a slice old: from here on, count its thread's CPU.
            // (Runs are also flagged for preemption at this age, so what
            // follows is CPU time spent not honouring that request.)
            if (wall < s.config.preempt_after_ns) continue;
            p->stall_cpu = thread_cpu_ns(m->tid);
            p->stall_cpu_at = now;
            continue;
        }
        if (wall < threshold) continue;
        int64_t stw = s.gcwaiting.load(std::memory_order_relaxed) ? s.stw_since.load(std::memory_order_acquire) : 0;
        bool stw_waited = stw != 0 && now - stw >= threshold && stw != p->stall_stw;
        // Reported already: only a stop-the-world held up by it is news
        // (and only then is the clock read again).
        if (p->stall_reported && !stw_waited) continue;
        int64_t cpu = thread_cpu_ns(m->tid);
        if (cpu < 0 || p->stall_cpu < 0) continue;
        // Only CPU time since the clock was first read counts: the wall
        // time before it may be a thread the OS did not run, or sysmon
        // late. So the figure reported is a lower bound.
        int64_t ran = cpu - p->stall_cpu;
        if (ran < threshold) continue;
        p->stall_reported = true;
        if (stw_waited) p->stall_stw = stw;
        report(s, p, m, g, ran, now, stw_waited ? stw : 0);
    }
}

void stall_start() {
    g_nrecent = 0;
    g_suppressed = 0;
}

void stall_finish() {
    if (g_suppressed == 0) return;
    base::print_err("weft: %llu more stall report%s suppressed\n", static_cast<unsigned long long>(g_suppressed),
                    g_suppressed == 1 ? "" : "s");
    g_suppressed = 0;
}

uint64_t stalls_found_total() { return g_stalls_process.load(std::memory_order_relaxed); }

uint64_t stalls_found() { return g_sched ? g_sched->stalls.load(std::memory_order_relaxed) : 0; }
uint64_t stw_stalls_found() { return g_sched ? g_sched->stw_stalls.load(std::memory_order_relaxed) : 0; }

}  // namespace weft::sched
