// leakcheck.cpp — the fibers a run leaves behind (as Uber's goleak).
//
// When the main fiber returns, weft::run ends whatever else is alive: a
// fiber still blocked on a channel that nobody will send to is a leak in
// a server (a goroutine leak in Go). At the end of a run, once every M has
// left (nothing runs, no stack moves), the runtime counts the fibers still
// blocked (parked or in a call; not the runnable ones, which were about to
// finish), but for its own (the collector's, spawn_system): abandoned_fibers_total() (and weft::metrics())
// adds them up over the runs; with WEFT_DEBUG=leakcheck=1 each is listed,
// as a dump lists it:
//
//   weft: leakcheck: 1 fiber left blocked when the main fiber returned:
//   fiber 7 [chan receive, 1203 ms]:
//   	...its stack
//   	created by fiber 1 at server.cpp:41 (main()::<lambda()>)
#include <atomic>

#include <weft/clock.hpp>
#include "runtime/base/fatal.hpp"
#include "runtime/base/symbolize.hpp"
#include "sched/backtrace.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

std::atomic<uint64_t> g_abandoned{0};
base::StackCopy g_copy;  // one fiber's at a time, on the thread ending the run

struct Walk {
    G* main = nullptr;
    bool print = false;
    uint64_t count = 0;
    int64_t now = 0;
};

bool left_behind(G* g, const Walk& w) {
    GStatus st = without_scan(g->status.load(std::memory_order_acquire));
    // Blocked: parked, or in a call. A runnable fiber (woken, say, by the
    // main fiber's last send) was about to finish, not stuck.
    return g != w.main && !g->system && (st == GStatus::kWaiting || st == GStatus::kSyscall);
}

void visit(G* g, void* arg) {
    auto& w = *static_cast<Walk*>(arg);
    if (!left_behind(g, w)) return;
    w.count++;
    if (!w.print) return;
    GStatus st = without_scan(g->status.load(std::memory_order_acquire));
    print_fiber_header(g, st, w.now);
    base::Frames frames;
    WalkResult r = fiber_backtrace(g, frames, &g_copy, 0, nullptr);
    if (r == WalkResult::kOk) base::print_frames(frames);
    else base::print_err("\t(%s)\n", walk_result_text(r));
    print_fiber_origin(g);
}

}  // namespace

void leakcheck_at_exit() {
    Sched& s = sched_state();
    Walk w;
    w.main = s.main_g;
    w.now = base::nanotime_coarse();
    for_each_g(visit, &w);
    g_abandoned.fetch_add(w.count, std::memory_order_relaxed);  // relaxed: a statistic
    if (!s.config.leakcheck || w.count == 0) return;
    base::print_err("weft: leakcheck: %llu fiber%s left blocked when the main fiber returned:\n",
                    static_cast<unsigned long long>(w.count), w.count == 1 ? "" : "s");
    w.print = true;
    w.count = 0;
    for_each_g(visit, &w);
    base::symbolize_close();
}

uint64_t abandoned_fibers_total() { return g_abandoned.load(std::memory_order_relaxed); }

}  // namespace weft::sched
