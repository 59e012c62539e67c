// collector.cpp — the cycle: phases, stack scans, mark workers, assists,
// termination, pacing, sweeping (as Go's mgc.go of the Dijkstra era).
//
// One collector fiber runs every cycle (started on first need, parked
// between cycles). A cycle, each phase switch made with the world stopped
// (stop_the_world collects running, idle and syscall Ps):
//   1. finish_sweep: every span swept (heap.hpp H3).
//   2. STW: phase GCscan; run tracking on (new epoch). Start the world.
//   3. Scan every fiber's stack and entry closure, concurrently: a fiber is
//      scanned while it is not running (scan bit, g.hpp); running ones are
//      asked to stop at a safe point and retried. Allocating fibers and
//      idle Ps help, so the scan is paced (stack_scan.hpp). Objects found
//      are shaded (grey) but not traced yet; the barrier is still off,
//      which is safe because nothing is black: every grey object is traced
//      after step 4.
//   4. STW: phase GCmark, barrier on. Start the world. Shade every Root.
//   5. Mark: the collector fiber drains work in slices, parked between
//      them (a fractional background worker, kWorkerUtilization of the
//      Ps), Ps with nothing to run drain in idle time, and allocating
//      fibers assist in proportion to their allocation, in bounded slices.
//      New objects are allocated black. Every drain but the stopper's
//      gives up at a pending stop-the-world.
//   6. Termination (K2): when no work has been visible for a quiet
//      period (mark_loop), STW and flush every P's
//      buffer (a ragged barrier done at once: every P is stopped at a safe
//      point, so none is half-way through a shade). If any P had work, start
//      the world and go back to 5. Else, still stopped: phase
//      GCmarktermination; re-scan exactly the fibers that ran since their
//      scan (run tracking) and drain; checkmark if asked; release every P's
//      cache; sweepgen += 2; barrier off; pacing for the next cycle; phase
//      GCsweep. Start the world.
//   7. Sweep in the background (and lazily by allocators), then STW: GCoff.
//
// Rejected: rescanning every stack in mark termination (the pause would
// grow with the number of fibers); "no worker busy and the global list
// empty" as the termination test (a P can hold grey objects in its own
// buffer, or be between popping an object and pushing its children).
#include "gc/collector.hpp"

#include <sched.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/clock.hpp>
#include <weft/gc.hpp>
#include <weft/internal/barrier.hpp>
#include <weft/internal/external_root.hpp>
#include <weft/internal/lock.hpp>
#include "gc/checkmark.hpp"
#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "gc/poison.hpp"
#include "gc/roots.hpp"
#include "gc/stack_scan.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/env.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/timers.hpp"
#include "sched/trace.hpp"

namespace weft::gc::detail {

// Read by every allocation: on a line of read-mostly variables (barrier.cpp).
alignas(64) std::atomic<Phase> g_phase{Phase::kOff};

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::kOff: return "GCoff";
        case Phase::kScan: return "GCscan";
        case Phase::kMark: return "GCmark";
        case Phase::kMarkTermination: return "GCmarktermination";
        case Phase::kSweep: return "GCsweep";
    }
    return "?";
}

std::atomic<int64_t> g_scavenge_idle_ns{2'000'000'000};

namespace {

constexpr int64_t kMinHeap = int64_t{4} << 20;  // first trigger, as Go's heapminimum
// Assist debt (bytes of scan work) past which an allocating fiber that
// found nothing to scan yields its P (after_refill).
constexpr int64_t kAssistYieldDebt = int64_t{256} << 10;
// Most scan work one assist does at once (bounds a mutator operation's
// stall; the rest stays owed and is paid at the next refills).
constexpr int64_t kMaxAssistSlice = int64_t{256} << 10;
// The collector fiber's slice of background work (marking, sweeping, stack
// scanning) before it parks or yields. Short because a mutator that hands
// its P over at a refill safe point (worker_due) waits a whole slice in the
// middle of an operation, so the slice bounds a mutator's p99 latency while
// a cycle runs; shorter slices cost more switches for little more (the
// figures are in the commit that set it and in docs/PERFORMANCE.md).
constexpr int64_t kWorkerSliceNs = 50'000;
// Scan work the collector fiber does between two reads of the clock while
// marking (a few microseconds of it), so a slice ends close to its length.
constexpr int64_t kWorkerDrainChunk = 16 << 10;
constexpr double kWorkerUtilization = 0.25;      // the collector fiber's share of all Ps (background work)
constexpr int64_t kIdleSliceBytes = 256 << 10;  // idle-P marking per hook call

struct Config {
    int gogc = 100;  // < 0: off
    bool trace = false;
    bool checkmark = false;
    bool stoptheworld = false;
    bool poison = false;
    bool stress = false;  // gcstress: each cycle requests the next
};

struct Controller {
    base::Lock lock{base::LockRank::kGCRoots};  // the fields below up to `waiters`
    std::atomic<sched::G*> worker{nullptr};  // the collector fiber (this run)
    bool worker_spawned = false;
    bool worker_parked = false;
    uint64_t requested = 0;         // cycles asked for (a counter: collect() waits on its number)
    uint64_t started = 0;
    std::vector<std::pair<sched::G*, uint64_t>> waiters;  // collect() callers and the cycle they wait for

    std::atomic<uint64_t> completed{0};
    std::atomic<int64_t> trigger{kMinHeap};
    std::atomic<int64_t> goal{kMinHeap};
    double trigger_ratio = 0.7;
    // Scan work this cycle's marking is expected to take (bytes): the heap
    // marked by the last cycle. Written with the world stopped at GCmark.
    std::atomic<int64_t> scan_expected{kMinHeap};
    // Pages an allocating fiber sweeps per byte it allocates (GCsweep), so
    // sweeping ends before the heap reaches the next trigger however fast
    // the mutators allocate (Go's proportional sweep). Written with the
    // world stopped, like assist_ratio.
    double sweep_pages_per_byte = 0;
    uint32_t epoch = 0;
    Config cfg;

    // stats (pauses under stats_lock)
    base::Lock stats_lock{base::LockRank::kLeaf};
    std::vector<int64_t> pauses;
    Stats st;
    std::atomic<int64_t> assist_ns{0};  // statistics only: relaxed adds and loads
    std::atomic<int64_t> total_worker_ns{0};  // every cycle's worker_ns (statistics only)
    std::atomic<int64_t> idle_mark_ns{0};     // idle_work's time (statistics only: relaxed)
    // Termination attempts that found grey objects left in some P's buffer
    // (this cycle; written by the collector fiber).
    int64_t term_retries = 0;
    int64_t term_retry_pause_ns = 0;  // the pauses of those retries
    int64_t mark_ns = 0;  // GCmark's length, this cycle
    int64_t stop_wait_max_ns = 0;  // the longest wait for the Ps to stop, this cycle
    int64_t rescanned_concurrently = 0;  // fibers re-scanned before termination, this cycle (mark_loop)

    // -- the background worker (Go's fractional worker): the collector
    // fiber alternates slices of work with parks (worker_pause).
    int64_t mark_start_ns = 0;  // when this cycle's GCmark began (collector fiber)
    int64_t worker_ns = 0;      // the collector fiber's marking time since then
    // When the parked collector fiber is due to run again (INT64_MAX while
    // it runs): an allocating fiber past that time yields its P, so the
    // timer that readies the fiber fires and it runs, rather than waiting
    // for a mutator that never blocks to end its time slice. Relaxed: a
    // pacing hint; a stale value delays or adds one yield.
    std::atomic<int64_t> worker_due{INT64_MAX};
    int64_t start_time = 0;
    int64_t cycle_cpu_ns = 0;

    // scan_fibers' lists (collector fiber). Here, not on the collector
    // fiber's stack: a run that ends while that fiber is parked between
    // slices abandons it, and its stack is released (proc.cpp
    // allg_free_all), so buffers only the stack referenced would leak.
    std::vector<sched::G*> scan_pending;
    std::vector<sched::G*> scan_retry;
};

Controller& controller() {
    static Controller* c = new Controller;
    return *c;
}

// ---------------------------------------------------------------- config

Config read_config() {
    Config c;
    if (auto v = base::getenv_str("WEFT_GOGC")) {
        if (*v == "off") c.gogc = -1;
        else c.gogc = static_cast<int>(base::parse_int("WEFT_GOGC", *v, 1, 100000));
    }
    c.trace = base::debug_flag("gctrace");
    c.checkmark = base::debug_flag("gccheckmark");
    c.stoptheworld = base::debug_flag("gcstoptheworld");
    c.poison = base::debug_flag("gcpoison");
    c.stress = base::debug_flag("gcstress");
    return c;
}

}  // namespace

void check_config() { (void)read_config(); }

namespace {

// ---------------------------------------------------------------- pauses

struct Pause {
    int64_t start;
    explicit Pause(const char* why) : start(base::nanotime()) {
        sched::stop_the_world(why);
        // How long the Ps took to reach a safe point (gctrace).
        int64_t wait = base::nanotime() - start;
        Controller& c = controller();
        if (wait > c.stop_wait_max_ns) c.stop_wait_max_ns = wait;
    }
    explicit Pause(int64_t stopped_at) : start(stopped_at) {}  // the world is already stopped
    int64_t end() {
        int64_t d = sched::start_the_world() - start;
        Controller& c = controller();
        base::LockGuard l(c.stats_lock);
        c.pauses.push_back(d);
        c.st.stw_pauses++;
        c.st.total_pause_ns += d;
        c.st.max_pause_ns = std::max(c.st.max_pause_ns, d);
        static constexpr int64_t kBounds[] = {10'000, 50'000, 100'000, 250'000, 500'000,
                                              1'000'000, 2'000'000, 5'000'000, 10'000'000};
        int b = 0;
        while (b < 9 && d >= kBounds[b]) ++b;
        c.st.pause_histogram[b]++;
        return d;
    }
};

void set_phase(Phase p) {  // world stopped
    g_phase.store(p, std::memory_order_relaxed);
    g_barrier_on.store(p == Phase::kMark || p == Phase::kMarkTermination, std::memory_order_relaxed);
    if (sched::trace::on()) [[unlikely]] {
        sched::trace::gc_phase(phase_name(p));
        // Relaxed: the counters are statistics here.
        sched::trace::heap(static_cast<uint64_t>(heap().heap_live.load(std::memory_order_relaxed)),
                           static_cast<uint64_t>(controller().goal.load(std::memory_order_relaxed)));
    }
}

// ---------------------------------------------------------------- per-P state

MCache* cache_of(sched::P* p) { return static_cast<MCache*>(p->ext[kExtCache]); }
GCWork* work_of(sched::P* p) { return static_cast<GCWork*>(p->ext[kExtWork]); }

// ---------------------------------------------------------------- the worker's pacing

// The collector fiber is due to run (see Controller::worker_due).
bool worker_due() {
    int64_t due = controller().worker_due.load(std::memory_order_relaxed);
    return due != INT64_MAX && base::nanotime() >= due;  // the clock only while it is parked
}

// Parks the collector fiber for ns (a timer readies it).
void park_for(int64_t ns) {
    Controller& c = controller();
    int64_t when = base::nanotime() + ns;
    c.worker_due.store(when, std::memory_order_relaxed);
    sched::park_until(when, sched::WaitReason::kGCWorkerPause);
    c.worker_due.store(INT64_MAX, std::memory_order_relaxed);
}

// Yields to the fibers waiting to run, and is due again at once:
// allocating fibers hand their P back at their next refill.
void yield_to_others() {
    Controller& c = controller();
    c.worker_due.store(base::nanotime(), std::memory_order_relaxed);
    sched::gosched_global();
    c.worker_due.store(INT64_MAX, std::memory_order_relaxed);
}

// Between two slices of background work (marking or sweeping): the
// collector fiber runs kWorkerUtilization of all Ps, in slices of
// kWorkerSliceNs. Below one whole P it parks between slices (on 2 Ps: a
// slice, then a slice's length parked; on 1 P: three), and its P runs
// other fibers, stealing them from other Ps if need be, or does idle-time
// work. From one whole P up it only yields, to the global run queue.
void worker_pause() {
    double ps = kWorkerUtilization * static_cast<double>(sched::nprocs_now());
    if (ps >= 1.0) {
        yield_to_others();
        return;
    }
    park_for(static_cast<int64_t>(static_cast<double>(kWorkerSliceNs) * (1.0 / ps - 1.0)));
}

// ---------------------------------------------------------------- stacks

// Scans the fibers in `pending` (but self) concurrently, in slices of
// background work; fibers found running (asked to stop at a safe point)
// are retried after each round.
void scan_fibers(std::vector<sched::G*>&& fibers, sched::G* self) {
    std::vector<sched::G*>& pending = controller().scan_pending;
    std::vector<sched::G*>& retry = controller().scan_retry;
    pending = std::move(fibers);
    retry.clear();
    size_t i = 0;
    while (!pending.empty()) {
        GCWork* w = work_of_current_p();  // the P may change across a pause
        int64_t until = base::nanotime() + kWorkerSliceNs;
        while (i < pending.size() && base::nanotime() < until) {
            sched::G* g = pending[i++];
            if (g != self && !try_scan(w, g)) retry.push_back(g);
        }
        if (i == pending.size()) {
            pending.swap(retry);
            retry.clear();
            i = 0;
        }
        flush(w);  // the shaded objects, for any P's marking
        // Not worker_pause: what is scanned here is short (the fibers step
        // 3 found running) or what termination waits for (mark_loop's
        // re-scan). Yielding lets the fibers asked to stop reach their
        // safe points.
        if (!pending.empty()) yield_to_others();
    }
}

// Step 3: every fiber but the collector's own, with help (stack_scan.hpp).
// The collector fiber scans in slices paced as the background worker;
// allocating fibers pay for what they allocate in fibers scanned. With
// the world stopped (gcstoptheworld) it scans everything at once: no one
// else runs, and the collector fiber must not park.
void scan_all_stacks(sched::G* self, int64_t runway_bytes, bool world_stopped) {
    std::vector<sched::G*> all;
    sched::for_each_g([](sched::G* g, void* a) { static_cast<std::vector<sched::G*>*>(a)->push_back(g); }, &all);
    stack_scan_begin(std::move(all), self, runway_bytes);
    for (;;) {
        GCWork* w = work_of_current_p();  // the P may change across a pause
        sched::trace::gc_work(true);
        bool more = stack_scan_slice(w, world_stopped ? INT64_MAX : base::nanotime() + kWorkerSliceNs);
        flush(w);  // the shaded objects, for any P's marking
        sched::trace::gc_work(false);
        if (!more) break;
        worker_pause();
    }
    std::vector<sched::G*> retry = stack_scan_end();  // those found running
    if (!world_stopped) {
        scan_fibers(std::move(retry), self);
        return;
    }
    GCWork* w = work_of_current_p();
    for (sched::G* g : retry) scan_stopped(w, g);  // none runs; one may be leaving a system call
}

uint32_t next_epoch() {
    Controller& c = controller();
    if (++c.epoch == 0) ++c.epoch;  // 0 means off
    return c.epoch;
}

// Step 6: re-scan the fibers of `list` (tracked in `epoch`), world
// stopped; returns how many.
int64_t rescan_tracked(GCWork* w, sched::G* list, uint32_t epoch, sched::G* self) {
    int64_t n = 0;
    for (sched::G* g = list; g; g = sched::next_tracked(g, epoch), ++n)
        if (g != self) scan_stopped(w, g);
    return n;
}

void shade_roots(GCWork* w) {
    for_each_root([](const void* obj, void* a) { shade(static_cast<GCWork*>(a), obj); }, w);
    for_each_external_root(
        [](void* a, const void* p, size_t n) {
            auto lo = reinterpret_cast<uintptr_t>(p);
            scan_range(static_cast<GCWork*>(a), lo, lo + n);
        },
        w);
}

// ---------------------------------------------------------------- mark

// Scan bytes an allocating fiber owes per byte it allocates during GCmark
// (Go's assist ratio, revised as marking goes): the scan work still
// expected over the heap growth still allowed before the goal. Past the
// goal the distance is measured to a hard goal 10% higher, and it never
// falls under a twentieth of the goal, so the ratio stays bounded (at most
// about 20x when no work is done yet) and one allocation never owes a
// whole heap's worth of scanning.
double assist_ratio() {
    Controller& c = controller();
    // Relaxed: pacing estimates; a stale value only mis-sizes one assist.
    int64_t expected = c.scan_expected.load(std::memory_order_relaxed);
    int64_t remaining = std::max(expected - scan_work_done(), expected / 10);
    int64_t goal = c.goal.load(std::memory_order_relaxed);
    int64_t live = heap().heap_live.load(std::memory_order_relaxed);
    int64_t target = live < goal ? goal : goal + goal / 10;
    int64_t distance = std::max({target - live, goal / 20, int64_t{1} << 20});
    return static_cast<double>(remaining) / static_cast<double>(distance);
}

// With the world stopped: moves every P's buffer to the global list;
// true if there was any work anywhere.
bool flush_all_ps() {
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) flush(work_of(sched::p_at(i)));
    return !global_work_empty();
}

// Returns with the world stopped (since the returned time), no work left
// anywhere (K2), and in *tracked the fibers to re-scan before the world
// starts: those tracked in the current epoch.
//
// Termination is tried only after the global list has stayed empty for a
// quiet period, and only while no drain is in flight: while mutators still
// publish grey objects (barrier shades of objects made before the cycle,
// assists' leftovers) an attempt would stop the world only to find them.
// The period starts at kQuietMinNs and doubles after each failed attempt
// up to kQuietMaxNs; meanwhile assists and idle Ps keep marking what
// appears.
//
// If the attempt finds at least kRescanConcurrentMin fibers to re-scan
// (fibers created during the cycle, a burst of activity), it starts a new
// tracking epoch and the world, and re-scans them concurrently; whichever
// runs again is tracked anew. So the termination pause re-scans only what
// ran since, not every fiber the cycle saw (at most kRescanRounds times a
// cycle, so a program that keeps many fibers busy still terminates).
int64_t mark_loop(sched::G* self, sched::G** tracked) {
    constexpr int64_t kQuietMinNs = 20'000;
    constexpr int64_t kQuietMaxNs = 1'000'000;
    constexpr size_t kRescanConcurrentMin = 64;
    constexpr int kRescanRounds = 4;
    Controller& c = controller();
    int64_t quiet = kQuietMinNs;
    int rounds = 0;
    for (;;) {
        int64_t t = base::nanotime();
        int64_t until = t + kWorkerSliceNs;
        GCWork* w = work_of_current_p();
        sched::trace::gc_work(true);
        while (drain(w, kWorkerDrainChunk) > 0)
            if (base::nanotime() >= until) break;
        flush(w);
        sched::trace::gc_work(false);
        int64_t worked = base::nanotime() - t;
        c.worker_ns += worked;
        c.total_worker_ns.fetch_add(worked, std::memory_order_relaxed);
        if (!global_work_empty()) {
            worker_pause();
            continue;
        }
        park_for(quiet);
        // A drain in flight (an assist, an idle P) holds grey objects the
        // global list does not show, and publishes what it leaves when it
        // ends: stopping the world now would only find them.
        if (!global_work_empty() || drains_in_flight() > 0) continue;
        Pause p("gc: mark termination");
        if (flush_all_ps()) {
            c.term_retry_pause_ns += p.end();  // some P had grey objects: back to concurrent marking
            c.term_retries++;
            quiet = std::min(quiet * 2, kQuietMaxNs);
            continue;
        }
        uint32_t e = c.epoch;
        sched::G* list = sched::take_tracked(e);
        std::vector<sched::G*> rescan;
        if (rounds < kRescanRounds) {
            for (sched::G* g = list; g && rescan.size() < kRescanConcurrentMin; g = sched::next_tracked(g, e))
                rescan.push_back(g);
        }
        if (rescan.size() < kRescanConcurrentMin) {
            *tracked = list;
            return p.start;
        }
        // Epoch e's list is ours to walk until the next call of next_epoch
        // (collector_support.hpp): this loop's next termination attempt.
        sched::set_track_epoch(next_epoch());
        p.end();
        rounds++;
        for (sched::G* g = sched::next_tracked(rescan.back(), e); g; g = sched::next_tracked(g, e)) rescan.push_back(g);
        c.rescanned_concurrently += static_cast<int64_t>(rescan.size());
        stack_scan_new_pass();  // S4: each of them is scanned again
        scan_fibers(std::move(rescan), self);
        quiet = kQuietMinNs;
    }
}

// ---------------------------------------------------------------- cycle

int64_t sum_marked_bytes() {
    int64_t m = 0;
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) {
        GCWork* w = work_of(sched::p_at(i));
        m += w->marked_bytes;
        w->marked_bytes = 0;
    }
    return m;
}

void release_all_caches() {
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) {
        MCache* c = cache_of(sched::p_at(i));
        mcache_release(c);
        c->assist_debt = 0;
    }
}

void set_goal(int64_t marked) {
    Controller& c = controller();
    if (c.cfg.gogc < 0) {
        c.goal.store(INT64_MAX);
        c.trigger.store(INT64_MAX);
        return;
    }
    int64_t goal = std::max(kMinHeap, marked + marked * c.cfg.gogc / 100);
    c.goal.store(goal);
    int64_t trig = marked + static_cast<int64_t>(static_cast<double>(goal - marked) * c.trigger_ratio);
    c.trigger.store(std::max(trig, marked + (64 << 10)));
}

// Adjusts the trigger ratio from how far past (or short of) the goal the
// heap got by the end of marking (a proportional controller, as Go's).
void adjust_trigger(int64_t live_at_end, int64_t marked_before) {
    Controller& c = controller();
    int64_t goal = c.goal.load();
    int64_t room = goal - marked_before;
    if (room <= 0 || goal == INT64_MAX) return;
    double err = static_cast<double>(live_at_end - goal) / static_cast<double>(room);
    c.trigger_ratio = std::clamp(c.trigger_ratio - 0.5 * err, 0.3, 0.95);
}

// One cycle's figures for its gctrace line (the format is in README.md).
struct CycleTrace {
    uint64_t n = 0;
    int64_t t0 = 0;                           // when the cycle began
    int64_t pause[4] = {};                    // start, mark, termination, sweep done
    int64_t heap_start = 0, heap_end = 0;     // heap_live at the start and at the end of marking
    int64_t marked = 0, goal = 0;
    int64_t mark_ns = 0, worker_ns = 0, assist_ns = 0;
    int64_t retries = 0, retry_pause_ns = 0, stop_wait_ns = 0;
    int64_t rescans_concurrent = 0, rescans_stopped = 0;  // fibers re-scanned in mark_loop, in termination
};

void trace_line(const CycleTrace& t) {
    Controller& c = controller();
    auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
    std::fprintf(stderr,
                 "gc %" PRIu64 " @%.3fs: %.3f ms; pauses %.3f+%.3f+%.3f+%.3f ms; heap %" PRId64 "->%" PRId64 "->%" PRId64
                 " MB, %" PRId64 " MB goal; mark %.3f ms: worker %.3f ms, assist %.3f ms; %" PRId64
                 " termination retries, %.3f ms paused; rescans %" PRId64 "+%" PRId64
                 " fibers; longest stop wait %.3f ms; %d P\n",
                 t.n, static_cast<double>(t.t0 - c.start_time) / 1e9, ms(base::nanotime() - t.t0), ms(t.pause[0]),
                 ms(t.pause[1]), ms(t.pause[2]), ms(t.pause[3]), t.heap_start >> 20, t.heap_end >> 20, t.marked >> 20,
                 t.goal >> 20, ms(t.mark_ns), ms(t.worker_ns), ms(t.assist_ns), t.retries, ms(t.retry_pause_ns),
                 t.rescans_concurrent, t.rescans_stopped, ms(t.stop_wait_ns), sched::nprocs_now());
}

// Test hook point (runtime/base/test_hooks.hpp).
void phase_hook(Phase p) { base::test_hook(base::HookPoint::kPhaseSwitched, static_cast<uint64_t>(p)); }

// One cycle's state, handed from phase to phase by run_cycle.
struct Cycle {
    uint64_t n = 0;
    sched::G* self = nullptr;  // the collector fiber
    bool stw = false;          // stoptheworld: the whole cycle in start's pause
    int64_t t0 = 0, assist0 = 0;
    int64_t live_before = 0;
    int64_t cycle_goal = 0;  // what this cycle paces the heap against
    int64_t marked_before = 0;
    std::optional<Pause> start;   // open until the sweep is done if stw
    std::optional<Pause> term;    // the termination pause (not stw)
    sched::G* tracked = nullptr;  // the fibers to re-scan in termination
    int64_t pause_start = 0, pause_mark = 0, pause_term = 0, pause_sweep_done = 0;  // as CycleTrace's pause
    int64_t rescanned = 0;    // fibers re-scanned with the world stopped
    int64_t live_at_end = 0;  // heap_live at the end of marking
    int64_t marked = 0;
};

// Steps 1 and 2 (Go's gcStart): finishes the last cycle's sweep, then phase GCscan and a new tracking epoch.
// The world runs on return, unless stw.
void cycle_start(Cycle& cy) {
    Controller& c = controller();
    cy.t0 = base::nanotime();
    cy.assist0 = c.assist_ns.load();
    c.stop_wait_max_ns = 0;
    finish_sweep();  // step 1

    cy.start.emplace("gc: start");  // step 2
    cy.live_before = heap().heap_live.load();
    cy.cycle_goal = c.goal.load();
    cy.marked_before = heap().heap_marked.load();
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) discard(work_of(sched::p_at(i)));
    sum_marked_bytes();
    set_phase(Phase::kScan);
    stack_scan_new_pass();  // S4: step 3's
    sched::set_track_epoch(next_epoch());
    c.rescanned_concurrently = 0;
    cy.stw = c.cfg.stoptheworld;
    if (!cy.stw) cy.pause_start = cy.start->end();
    phase_hook(Phase::kScan);
}

// Steps 3 to 5 and the termination attempts of 6 (Go's mark phase and gcMarkDone): scans the stacks, phase
// GCmark, marks until no work is left anywhere (K2). Returns with the world stopped, cy.tracked to re-scan.
void cycle_mark(Cycle& cy) {
    Controller& c = controller();
    scan_all_stacks(cy.self, cy.cycle_goal - cy.live_before, cy.stw);  // step 3 (no one else runs if stw)

    std::optional<Pause> mark;  // step 4
    if (!cy.stw) mark.emplace("gc: mark");
    set_phase(Phase::kMark);
    c.scan_expected.store(std::max<int64_t>(cy.marked_before, 1 << 20));
    reset_scan_work_done();
    c.term_retries = 0;
    c.term_retry_pause_ns = 0;
    c.worker_ns = 0;
    c.mark_start_ns = base::nanotime();
    if (!cy.stw) cy.pause_mark = mark->end();
    phase_hook(Phase::kMark);
    shade_roots(work_of_current_p());

    // Steps 5 and 6.
    if (!cy.stw) {
        cy.term.emplace(mark_loop(cy.self, &cy.tracked));  // returns with the world stopped
    } else {
        cy.tracked = sched::take_tracked(c.epoch);
        GCWork* w = work_of_current_p();
        drain(w, -1);
        while (flush_all_ps()) drain(w, -1);
    }
}

// Step 6, still stopped (Go's gcMarkTermination): phase GCmarktermination, re-scan and drain, checkmark, the
// new sweepgen and pacing for the next cycle. The world is stopped on entry and on return.
void cycle_terminate(Cycle& cy) {
    Controller& c = controller();
    c.mark_ns = base::nanotime() - c.mark_start_ns;
    set_phase(Phase::kMarkTermination);
    phase_hook(Phase::kMarkTermination);
    GCWork* w = work_of_current_p();
    cy.rescanned = rescan_tracked(w, cy.tracked, c.epoch, cy.self);
    do {
        drain(w, -1);
    } while (flush_all_ps());
    if (c.cfg.checkmark) checkmark_verify(cy.self);
    release_all_caches();
    cy.marked = sum_marked_bytes();
    Heap& h = heap();
    cy.live_at_end = h.heap_live.load();
    adjust_trigger(cy.live_at_end, cy.marked_before);
    h.heap_marked.store(cy.marked);
    h.heap_live.store(cy.marked);
    h.sweepgen.fetch_add(2);
    h.sweep_cursor.store(0);
    sched::set_track_epoch(0);
    set_goal(cy.marked);
    {
        // Everything in use is to be swept before the heap grows from
        // `marked` to the trigger (with a 1 MiB floor on that distance).
        auto pages = static_cast<double>(h.pages.stats().in_use_bytes / kPageSize);
        double room = static_cast<double>(std::max<int64_t>(c.trigger.load() - cy.marked, 1 << 20));
        c.sweep_pages_per_byte = pages / room;
    }
}

// Step 7 (Go's gcSweep): phase GCsweep, start the world, sweep every span, then stop it for GCoff (if stw,
// all in start's pause). Entered with the world stopped; returns with it running, every span swept, GCoff.
void cycle_sweep(Cycle& cy) {
    set_phase(Phase::kSweep);
    if (!cy.stw) cy.pause_term = cy.term->end();
    phase_hook(Phase::kSweep);

    if (cy.stw) {  // the whole cycle in one pause
        finish_sweep();
        set_phase(Phase::kOff);
        cy.pause_start = cy.start->end();
    } else {
        // Step 7: in slices, as marking; allocating fibers sweep in
        // proportion to what they allocate.
        for (;;) {
            int64_t until = base::nanotime() + kWorkerSliceNs;
            bool more = true;
            sched::trace::gc_sweep(true);
            while ((more = sweep_one() != 0) && base::nanotime() < until) {
            }
            sched::trace::gc_sweep(false);
            if (!more) break;
            worker_pause();
        }
        finish_sweep();
        Pause off("gc: sweep done");
        set_phase(Phase::kOff);
        cy.pause_sweep_done = off.end();
    }
    phase_hook(Phase::kOff);
}

// Adds the finished cycle to the stats and prints its gctrace line if asked.
void cycle_report(const Cycle& cy) {
    Controller& c = controller();
    {
        base::LockGuard l(c.stats_lock);
        c.st.cycles = cy.n;
        c.st.stack_rescans_concurrent += static_cast<uint64_t>(c.rescanned_concurrently);
        c.st.stack_rescans_stopped += static_cast<uint64_t>(cy.rescanned);
        c.st.termination_retries += static_cast<uint64_t>(c.term_retries);
    }
    if (c.cfg.trace)
        trace_line({.n = cy.n,
                    .t0 = cy.t0,
                    .pause = {cy.pause_start, cy.pause_mark, cy.pause_term, cy.pause_sweep_done},
                    .heap_start = cy.live_before,
                    .heap_end = cy.live_at_end,
                    .marked = cy.marked,
                    .goal = cy.cycle_goal,
                    .mark_ns = c.mark_ns,
                    .worker_ns = c.worker_ns,
                    .assist_ns = c.assist_ns.load() - cy.assist0,
                    .retries = c.term_retries,
                    .retry_pause_ns = c.term_retry_pause_ns,
                    .stop_wait_ns = c.stop_wait_max_ns,
                    .rescans_concurrent = c.rescanned_concurrently,
                    .rescans_stopped = cy.rescanned});
}

// One cycle, steps 1 to 7 of this file's opening comment.
void run_cycle(uint64_t n) {
    Cycle cy{.n = n, .self = sched::current_g()};
    cycle_start(cy);
    cycle_mark(cy);
    cycle_terminate(cy);
    cycle_sweep(cy);
    cycle_report(cy);
}

// ---------------------------------------------------------------- the collector fiber

bool unlock_controller(sched::G*, void* arg) {
    static_cast<base::Lock*>(arg)->unlock();
    return true;
}

// ---------------------------------------------------------------- scavenger

// Free page runs that stayed free at least g_scavenge_idle_ns go back to
// the OS (page_heap.hpp scavenge), by a runtime timer armed by the
// collector fiber at its first cycle of a run (a program that never
// collects has no timer). A tick runs on an M's scheduler stack holding a
// P, so it does at most kScavengeSliceNs of work, in steps of at most
// kScavengeStepPages, and gives up at a pending stop-the-world; a pass cut
// short goes on kScavengeBusyPeriod later (about 1% of one CPU while there
// is work, as Go's background scavenger), a finished one kScavengePeriod
// later.
constexpr int64_t kScavengePeriod = 500'000'000;
constexpr int64_t kScavengeBusyPeriod = 10'000'000;
constexpr int64_t kScavengeSliceNs = 100'000;
constexpr size_t kScavengeStepPages = 64;  // 512 KiB
sched::Timer g_scavenger;
bool g_scavenger_armed = false;  // the collector fiber's, reset by on_stop

void scavenge_tick(void*) {
    int64_t start = base::nanotime();
    // Relaxed: a tuning knob (tests lower it).
    int64_t idle = g_scavenge_idle_ns.load(std::memory_order_relaxed);
    bool pass_done = false;
    do {
        heap().pages.scavenge_step(start, idle, kScavengeStepPages, &pass_done);
    } while (!pass_done && base::nanotime() - start < kScavengeSliceNs && !sched::world_stopping());
    // One-shot, re-armed here: the callback owns the timer while it runs
    // (timers.hpp T3; on_stop stops it with every other M stopped).
    g_scavenger.when = base::nanotime() + (pass_done ? kScavengePeriod : kScavengeBusyPeriod);
    sched::timer_add(&g_scavenger);
}

void arm_scavenger() {
    if (g_scavenger_armed) return;
    g_scavenger_armed = true;
    g_scavenger.fn = scavenge_tick;
    g_scavenger.arg = nullptr;
    g_scavenger.period = 0;
    g_scavenger.when = base::nanotime() + kScavengePeriod;
    sched::timer_add(&g_scavenger);
}

void worker_main() {
    Controller& c = controller();
    arm_scavenger();
    for (;;) {
        c.lock.lock();
        while (c.started >= c.requested) {
            c.worker_parked = true;
            sched::park(unlock_controller, &c.lock, sched::WaitReason::kGCWorkerIdle);
            c.lock.lock();
        }
        uint64_t n = ++c.started;
        c.lock.unlock();

        run_cycle(n);

        c.completed.store(n);
        if (c.cfg.stress) {  // gcstress: cycles back to back, as long as the run lasts
            base::LockGuard l(c.lock);
            c.requested = std::max(c.requested, n + 1);
        }
        std::vector<sched::G*> wake;
        c.lock.lock();
        std::erase_if(c.waiters, [&](const std::pair<sched::G*, uint64_t>& w) {
            if (w.second > n) return false;
            wake.push_back(w.first);
            return true;
        });
        c.lock.unlock();
        for (sched::G* g : wake) sched::ready(g, sched::ReadyAt::kBack);
    }
}

// Asks for cycles up to number `upto`; starts or wakes the collector fiber.
// From a fiber.
void request_cycle(uint64_t upto) {
    Controller& c = controller();
    sched::G* wake = nullptr;
    bool spawn = false;
    {
        base::LockGuard l(c.lock);
        if (c.requested >= upto) return;
        c.requested = upto;
        if (!c.worker_spawned) {
            spawn = true;
            c.worker_spawned = true;
        } else if (c.worker_parked) {
            c.worker_parked = false;
            wake = c.worker;
        }
    }
    if (spawn) sched::spawn_system(sched::Closure([] {
                                controller().worker = sched::current_g();
                                worker_main();
                            }),
                            std::source_location::current());
    if (wake) sched::ready(wake, sched::ReadyAt::kBack);
}

// ---------------------------------------------------------------- scheduler hooks

void on_start() {
    Controller& c = controller();
    c.cfg = read_config();
    set_poison(c.cfg.poison);
    if (c.start_time == 0) c.start_time = base::nanotime();
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) {
        sched::P* p = sched::p_at(i);
        p->ext[kExtCache] = new MCache;
        p->ext[kExtWork] = new GCWork;
    }
    c.worker = nullptr;
    c.worker_spawned = false;
    c.worker_parked = false;
    c.requested = c.started;
    c.completed.store(c.started);
    c.waiters.clear();
    set_goal(std::max(heap().heap_marked.load(), heap().heap_live.load()));
}

// The run is over (every other M stopped). A cycle cut short is abandoned:
// its mark bits are cleared so the next run starts clean.
void on_stop() {
    if (g_scavenger_armed) {
        sched::timer_stop(&g_scavenger);
        g_scavenger_armed = false;
    }
    Phase ph = phase();
    if (ph == Phase::kScan || ph == Phase::kMark || ph == Phase::kMarkTermination) {
        Heap& h = heap();
        size_t n = h.nspans.load();
        for (size_t i = 0; i < n; ++i) {
            Span* s = span_at(i);
            if (s->state.load() != SpanState::kInUse) continue;
            h.marks.clear_range(s->base, s->npages * kPageSize);
        }
        (void)sched::take_tracked(controller().epoch);
        sched::set_track_epoch(0);
        discard_global();
    }
    set_phase(Phase::kOff);  // a sweep cut short goes on lazily next time
    for (int32_t i = 0; i < sched::nprocs_now(); ++i) {
        sched::P* p = sched::p_at(i);
        mcache_release(cache_of(p));
        discard(work_of(p));
        delete cache_of(p);
        delete work_of(p);
        p->ext[kExtCache] = nullptr;
        p->ext[kExtWork] = nullptr;
    }
    controller().worker = nullptr;
}

// Idle-priority work: a P with nothing to run scans a few stacks in
// GCscan, or drains a slice of marking in GCmark. (Not sweeping: sweeping
// runs destructors, which must run on a fiber.)
bool idle_work(sched::P* p) {
    GCWork* w = work_of(p);
    Phase ph = phase();
    if (ph != Phase::kScan && ph != Phase::kMark) return false;
    if (ph == Phase::kMark && global_work_empty() && !has_local_work(w)) return false;
    int64_t t = base::nanotime();
    sched::trace::gc_work(true);
    bool did;
    if (ph == Phase::kScan) {
        did = stack_scan_idle(w);
    } else {
        did = drain(w, kIdleSliceBytes, DrainUntil::kBudgetOrStop) > 0;
    }
    flush(w);  // what was left, for other markers (see after_refill)
    sched::trace::gc_work(false);
    controller().idle_mark_ns.fetch_add(base::nanotime() - t, std::memory_order_relaxed);
    return did;
}

}  // namespace

// ---------------------------------------------------------------- allocation hooks

// The allocating fiber yields at the end of this allocation (its refill
// safe point), not inside it: the slot it is taking is not published yet.
void request_yield() {
    // Relaxed: read by the same fiber's safe point.
    if (sched::G* g = sched::current_g()) g->preempt.store(true, std::memory_order_relaxed);
}

void after_refill(MCache* c, int64_t bytes) {
    Controller& ctl = controller();
    Phase ph = phase();
    if (ph != Phase::kOff && worker_due()) request_yield();
    if (ph == Phase::kScan) {
        // Stack-scan assist: fibers in proportion to the allocation.
        int64_t t = base::nanotime();
        uint64_t goid = sched::trace::on() ? sched::fiber_id() : 0;
        sched::trace::gc_assist(goid, true);
        if (stack_scan_assist(work_of_current_p(), &c->stack_scan_debt, bytes))
            ctl.assist_ns.fetch_add(base::nanotime() - t, std::memory_order_relaxed);
        sched::trace::gc_assist(goid, false);
        return;
    }
    if (ph == Phase::kMark) {
        // Assist: scan work in proportion to the allocation, in small
        // slices (a refill is one span's worth).
        auto owed = static_cast<int64_t>(static_cast<double>(bytes) * assist_ratio());
        c->assist_debt += owed;
        if (c->assist_debt > 0) {
            int64_t t = base::nanotime();
            uint64_t goid = sched::trace::on() ? sched::fiber_id() : 0;
            sched::trace::gc_assist(goid, true);
            GCWork* w = work_of_current_p();
            int64_t done = drain(w, std::min(c->assist_debt, kMaxAssistSlice), DrainUntil::kBudgetOrStop);
            // Publish what the drain left: this P may not mark again for a
            // long time, and work parked in its buffer is invisible to the
            // collector fiber, whose termination attempt would stop the
            // world only to find it and start over.
            flush(w);
            c->assist_debt = std::max<int64_t>(0, c->assist_debt - done);
            ctl.assist_ns.fetch_add(base::nanotime() - t, std::memory_order_relaxed);
            sched::trace::gc_assist(goid, false);
            // No grey object left to pay with: the marking is with other
            // fibers (the collector's, idle Ps) or in other Ps' buffers.
            // Instead of allocating on unchecked, give them this P at the
            // refill's safe point (Go parks such a goroutine until credit
            // appears; yielding is the bounded form of that).
            if (c->assist_debt > kAssistYieldDebt) request_yield();
        }
        return;
    }
    if (ph == Phase::kSweep) {
        // Proportional sweep: pay for the allocation in swept pages.
        c->sweep_debt += static_cast<double>(bytes) * ctl.sweep_pages_per_byte;
        if (c->sweep_debt > 0) sched::trace::gc_sweep(true);
        while (c->sweep_debt > 0) {
            size_t n = sweep_one();
            if (n == 0) {
                c->sweep_debt = 0;
                break;
            }
            c->sweep_debt -= static_cast<double>(n);
        }
        sched::trace::gc_sweep(false);
        return;
    }
    // gcstress: the first allocation starts the back-to-back cycles.
    // Relaxed heap_live: the trigger is a pacing threshold (heap.hpp).
    if (ph == Phase::kOff && (ctl.cfg.stress || heap().heap_live.load(std::memory_order_relaxed) >= ctl.trigger.load())) {
        request_cycle(ctl.completed.load() + 1);
        request_yield();  // let the collector fiber start at once
    }
}

void install_hooks() {
    // Once: the first weft::run installs them; a nested (misused) run must
    // reach run_main's own check, not touch hooks a running runtime reads.
    static bool installed = [] {
        sched::CollectorHooks h;
        h.on_start = on_start;
        h.on_stop = on_stop;
        h.idle_work = idle_work;
        sched::set_collector_hooks(h);
        return true;
    }();
    (void)installed;
}

}  // namespace weft::gc::detail

namespace weft::gc {

void collect() {
    using namespace detail;
    sched::G* me = sched::current_g();
    if (me == nullptr) throw std::logic_error("gc::collect: not called from a fiber (call it inside weft::run)");
    // Inside weft::blocking, or in a destructor its own sweep runs (which
    // would wait for itself).
    if (sched::CallContext where = sched::call_context(); where != sched::CallContext::kFiber) [[unlikely]]
        sched::misuse("gc::collect", where);
    Controller& c = controller();
    c.lock.lock();
    // A cycle already past its stack scan may miss what this fiber just
    // dropped or made: wait for one that starts after this call.
    uint64_t target = c.started + 1;
    c.waiters.emplace_back(me, target);
    c.lock.unlock();
    request_cycle(target);
    c.lock.lock();
    if (c.completed.load() >= target) {
        std::erase_if(c.waiters, [&](const auto& w) { return w.first == me; });
        c.lock.unlock();
        return;
    }
    sched::park(unlock_controller, &c.lock, sched::WaitReason::kGCCollect);
}

Stats stats() {
    using namespace detail;
    Controller& c = controller();
    Stats s;
    {
        base::LockGuard l(c.stats_lock);
        s = c.st;
    }
    Heap& h = heap();
    s.heap_live_bytes = h.heap_live.load();
    s.heap_marked_bytes = h.heap_marked.load();
    s.heap_goal_bytes = c.goal.load();
    s.total_alloc_bytes = h.total_alloc.load();
    s.total_freed_bytes = h.total_freed.load();
    s.objects_freed = h.objects_freed.load();
    s.assist_ns = c.assist_ns.load();
    s.worker_ns = c.total_worker_ns.load(std::memory_order_relaxed);
    s.idle_mark_ns = c.idle_mark_ns.load(std::memory_order_relaxed);
    s.stack_scans_helped = stack_scans_helped();
    s.stack_scans_from_summary = stack_scans_from_summary();
    PageHeapStats ps = h.pages.stats();
    s.heap_mapped_bytes = static_cast<int64_t>(ps.mapped_bytes);
    s.heap_released_bytes = static_cast<int64_t>(ps.released_bytes);
    return s;
}

std::vector<int64_t> pause_history() {
    detail::Controller& c = detail::controller();
    base::LockGuard l(c.stats_lock);
    return c.pauses;
}

}  // namespace weft::gc
