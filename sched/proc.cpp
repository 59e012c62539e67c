// proc.cpp — the M:N scheduler (as Go's proc.go).
//
// Owns: the Sched state, M creation and parking, P hand-over, the run
// queues' policy, fiber creation/exit, park/ready, and the runtime lifetime.
//
// Invariants:
//   S1. An M runs fibers only while it holds a P; a P is held by at most one
//       M (p->m == m && m->p == p), or is idle on sched.pidle, or is in
//       syscall/gcstop state.
//   S2. A runnable G is in exactly one run queue (a P's runnext or ring, the
//       global queue, or a list being injected).
//   S3. nmspinning counts Ms with m->spinning set; at most about half of the
//       busy Ps' worth of Ms spin (find_runnable's admission check).
//   S4. No lost wake-ups: whoever makes work runnable calls wakep(), which
//       starts an M unless one is spinning; a spinning M that gives up
//       decrements nmspinning *before* re-checking every run queue, each
//       P's and the global one (find_runnable step 6), so either it sees
//       the new work or the producer sees nmspinning == 0 and wakes
//       someone. A seq_cst fence on each side (after the producer's store,
//       after the spinner's decrement) keeps "either" true on hardware
//       that lets a load pass an earlier store.
//   S5. No runtime lock is held across a switch to a fiber, except the
//       lock a parking fiber hands to its unlockf, released on g0.
//   S6. A timer wake-up never overtakes an earlier one on its P (so
//       sleepers on one P wake in deadline order): it takes runnext only
//       when no fiber readied by a timer waits on the P, in runnext
//       (G::timer_woken) or in the ring (P::timer_queued, never below
//       their number: counted where one enters the ring, reset only when
//       the ring is empty); else it queues at the ring's tail.
//
// Protocol (a fiber parks; mirrors gopark/park_m):
//   1. The fiber sets m->action = kPark with its unlockf and switches to g0.
//   2. On g0 (the fiber is now fully suspended): status running -> waiting.
//   3. unlockf runs; from here a waker may ready() the fiber on any M.
//   4. If unlockf returned false: waiting -> runnable, resume it at once.
//
// Protocol (find_runnable; mirrors findRunnable):
//   1. stop-the-world pending: give the P up and wait (gcstopm).
//   2. run due timers of this P.
//   3. local run queue (runnext first), then the global queue.
//   4. netpoll without blocking, if anyone waits on an fd.
//   5. spin: steal half of another P's ring (their timers and runnext too
//      on the last pass), if admitted as a spinner (S3).
//   6. drop the P; if we were spinning, stop spinning, then re-check every
//      P's queue and the global queue (S4) and take a P back if work
//      appeared.
//   7. block in netpoll until the earliest timer if no other M does; else
//      sleep on m->park until startm hands us a P.
//
// Rejected: a single global queue with a mutex (contention at 2+ Ps, no
// locality); switching directly fiber-to-fiber without g0 (saves one jump
// but runs the scheduler on a fiber stack that may be stolen mid-decision).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/backoff.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/cpu_relax.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/backtrace.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/debug_table.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace weft::sched {

namespace {
CollectorHooks g_collector;
// Run tracking (collector_support.hpp). Relaxed epoch: it is set with the
// world stopped and start_the_world orders it before any M runs a fiber.
std::atomic<uint32_t> g_track_epoch{0};
std::atomic<G*> g_tracked[2] = {nullptr, nullptr};  // the lists of the epochs of each parity

}  // namespace

// Pushes g on the tracked list once per epoch. Called by the M that is
// about to run g, has just created it, or runs it again after a system
// call, so run_epoch has one writer. Touches scheduler words only (Y2).
void track_run(G* g) {
    note_stack_changed(g);
    uint32_t e = g_track_epoch.load(std::memory_order_relaxed);
    if (e == 0 || g->run_epoch == e) return;
    g->run_epoch = e;
    std::atomic<G*>& list = g_tracked[e & 1];
    // Release on success: the taker's acquire exchange (take_tracked) then
    // sees tracklink; relaxed reads of head only seed the retry.
    G* head = list.load(std::memory_order_relaxed);
    do g->tracklink[e & 1] = head;
    while (!list.compare_exchange_weak(head, g, std::memory_order_release, std::memory_order_relaxed));
}

Sched* g_sched = nullptr;

namespace {

// A fiber left kWaiting (metrics: fibers waiting by reason). On the P of
// the M that woke it, else (sysmon, a plain thread, an M without a P) on
// the shared counter.
// The trace's unblock event: by src, or, with `from_m`, by whatever m is
// doing (trace::wake_source). Out of line: only while a trace records.
__attribute__((noinline, cold)) void trace_unblock(M* m, G* g, trace::WakeSource src, bool from_m) {
    trace::go_unblock(g->id, from_m ? trace::wake_source(m) : src);
}

void count_unpark(M* m, G* g, trace::WakeSource src, bool from_m = false) {
    if (trace::on()) [[unlikely]]
        trace_unblock(m, g, src, from_m);
    auto r = static_cast<size_t>(g->wait_reason);
    if (m != nullptr && m->p != nullptr) bump(m->p->unparked[r]);
    else sched_state().unparked_outside[r].fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

}  // namespace

// initial-exec: libweft is loaded at startup, so the static TLS model is
// available and saves a __tls_get_addr call per access.
constinit __attribute__((tls_model("initial-exec"))) thread_local M* t_m = nullptr;

namespace {

std::atomic<bool> g_running{false};

// Outside wakers (fiber.hpp). g_outside_mu orders registrations, spawns
// and the last unregistration against the end of a run, which bumps
// g_run_number under it before tearing anything down: a thread holding
// it either sees its run still active (and the Sched alive until it
// unlocks) or sees another number and touches nothing. Taken before
// Sched::lock, never inside it. checkdead reads g_outside under the sched
// lock without g_outside_mu: a registration made before the fiber that
// made it parks is seen by every later checkdead.
std::mutex g_outside_mu;
uint64_t g_run_number = 0;  // the active or last run; guarded by g_outside_mu
bool g_outside_open = false;  // the run's Sched is up and accepts outside wakers; guarded by g_outside_mu
std::atomic<int32_t> g_outside{0};       // outside wakers of the active run

constexpr int32_t kGoidBatch = 16;

// Fiber-local storage keys (process-wide, never recycled).
constexpr uint32_t kMaxLocals = 256;
std::atomic<uint32_t> g_nlocal_keys{0};
void (*g_local_dtors[kMaxLocals])(void*) = {};

void mloop(M* m);

}  // namespace

// ---------------------------------------------------------------- Gs

// The all-G registry is a lock-free push-only list through a side table so
// G::schedlink stays free for queues.
namespace {

struct AllGNode {
    G* g;
    AllGNode* next;
};
std::atomic<AllGNode*> g_allg{nullptr};
static_assert(sizeof(std::atomic<AllGNode*>) == sizeof(AllGNode*), "the debug table reads g_allg as a pointer");

void allg_register(G* g) {
    auto* n = new AllGNode{g, g_allg.load()};
    while (!g_allg.compare_exchange_weak(n->next, n)) {
    }
    sched_state().ngs.fetch_add(1, std::memory_order_relaxed);  // statistic only
}

// Gs abandoned at the end of a run (alive when the main fiber returned),
// over the process's life. Kept, never freed: see allg_free_all.
G* g_abandoned = nullptr;

// At the end of a run, with every M stopped. A dead G's closure and locals
// are gone already (fiber_main), so it is freed. A G still alive is
// abandoned, as Go abandons goroutines at exit: none of its code runs
// again, and neither does any destructor of what it owns, its closure's
// captures and fiber-locals included. Those destructors are user code that
// may close a socket, lock a Mutex or send on a channel, which needs a
// running fiber and a P, and nothing of the ended run is left for them to
// wake. So the G with its closure stays allocated on g_abandoned (which
// also keeps what it owns reachable for LeakSanitizer); its stack is
// released with every stack (stack_release_all).
void allg_free_all() {
    AllGNode* n = g_allg.exchange(nullptr);
    while (n) {
        AllGNode* next = n->next;
        G* g = n->g;
        context_destroy_fiber(g->ctx);
        // Relaxed: every M has stopped; their last status stores happened
        // before the joins in run_main.
        if (g->status.load(std::memory_order_relaxed) == GStatus::kDead) {
            WEFT_DCHECK(!g->fn, "allg_free_all: a dead G kept its closure");
            delete[] g->locals;  // every slot was cleared as it exited
            delete g;
        } else {
            g->stack = Stack{};
            g->schedlink = g_abandoned;
            g_abandoned = g;
        }
        delete n;
        n = next;
    }
}

uint64_t next_goid(P* p) {
    if (p == nullptr) return sched_state().goid_gen.fetch_add(1) + 1;
    if (p->goid_next == p->goid_end) {
        p->goid_next = sched_state().goid_gen.fetch_add(kGoidBatch) + 1;
        p->goid_end = p->goid_next + kGoidBatch;
    }
    return p->goid_next++;
}

// Dead Gs: per-P array, the most recently freed (warmest) taken first;
// when full, its older half spills to the global list, and an empty one
// refills half from it. Only G pointers move (P::gfree says why).
void gfput(P* p, G* g) {
    constexpr int32_t kHalf = P::kGFreeMax / 2;
    if (p->ngfree == P::kGFreeMax) {
        Sched& s = sched_state();
        {
            base::LockGuard l(s.gflock);
            s.gfree.insert(s.gfree.end(), p->gfree, p->gfree + kHalf);
            s.ngfree.store(static_cast<int32_t>(s.gfree.size()), std::memory_order_relaxed);
        }
        std::copy(p->gfree + kHalf, p->gfree + P::kGFreeMax, p->gfree);
        p->ngfree -= kHalf;
    }
    p->gfree[p->ngfree++] = g;
}

G* gfget(P* p) {
    Sched& s = sched_state();
    if (p->ngfree == 0 && s.ngfree.load(std::memory_order_relaxed) > 0) {
        base::LockGuard l(s.gflock);
        while (p->ngfree < P::kGFreeMax / 2 && !s.gfree.empty()) {
            p->gfree[p->ngfree++] = s.gfree.back();
            s.gfree.pop_back();
        }
        s.ngfree.store(static_cast<int32_t>(s.gfree.size()), std::memory_order_relaxed);
    }
    if (p->ngfree == 0) return nullptr;
    G* g = p->gfree[--p->ngfree];
    g->schedlink = nullptr;
    return g;
}

// Free stacks: per-P cache, spilling half to / refilling half from the
// global list, as gfput/gfget do for Gs.
Stack stack_get(P* p) {
    if (p->nstack_cache == 0) {
        Sched& s = sched_state();
        base::LockGuard l(s.gflock);
        while (p->nstack_cache < P::kStackCacheMax / 2 && !s.free_stacks.empty()) {
            p->stack_cache[p->nstack_cache++] = s.free_stacks.back();
            s.free_stacks.pop_back();
        }
    }
    if (p->nstack_cache == 0) p->nstack_cache = stack_alloc_batch(p->stack_cache, P::kStackCacheMax / 2);
    return p->stack_cache[--p->nstack_cache];
}

void stack_put(P* p, const Stack& st) {
    if (p->nstack_cache == P::kStackCacheMax) {
        Sched& s = sched_state();
        base::LockGuard l(s.gflock);
        while (p->nstack_cache > P::kStackCacheMax / 2) s.free_stacks.push_back(p->stack_cache[--p->nstack_cache]);
    }
    p->stack_cache[p->nstack_cache++] = st;
}

void free_fiber_locals(G* g) {
    for (uint32_t k = 0; k < g->nlocals; k++) {
        if (g->locals[k]) {
            void* v = g->locals[k];
            g->locals[k] = nullptr;
            if (g_local_dtors[k]) g_local_dtors[k](v);
        }
    }
}

// The first code every fiber runs, on its own stack.
void fiber_main() {
    G* g = getm()->curg.load(std::memory_order_relaxed);
    try {
        g->fn();
        g->fn.reset();  // captures die on the fiber's stack, where they may block
        if (g->locals) free_fiber_locals(g);
    } catch (const std::exception& e) {
        base::fatal("uncaught exception in fiber %llu: %s", static_cast<unsigned long long>(g->id), e.what());
    } catch (...) {
        base::fatal("uncaught exception in fiber %llu (not derived from std::exception)",
                    static_cast<unsigned long long>(g->id));
    }
    M* m = getm();  // may differ from the M we started on
    m->action = MAction::kExit;
    switch_to(g->ctx, m->g0, /*from_dying=*/true);
    WEFT_UNREACHABLE("dead fiber resumed");
}

}  // namespace

void for_each_g(void (*fn)(G*, void*), void* arg) {
    for (AllGNode* n = g_allg.load(); n; n = n->next) fn(n->g, arg);
}

}  // namespace weft::sched

// For debuggers (debug_table.hpp). offsetof on G, M: standard-layout types
// as far as these fields go (GCC and Clang lay them out as declared).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
extern "C" __attribute__((visibility("default"), used)) const weft::sched::DebugTable weft_debug_table = {
    weft::sched::kDebugTableVersion,
    sizeof(weft::sched::DebugTable),
    &weft::sched::g_allg,
    offsetof(weft::sched::AllGNode, g),
    offsetof(weft::sched::AllGNode, next),
    offsetof(weft::sched::G, id),
    offsetof(weft::sched::G, status),
    offsetof(weft::sched::G, wait_reason),
    offsetof(weft::sched::G, wait_since),
    offsetof(weft::sched::G, ctx) + offsetof(weft::sched::Context, fctx),
    offsetof(weft::sched::G, stack) + offsetof(weft::sched::Stack, lo),
    offsetof(weft::sched::G, stack) + offsetof(weft::sched::Stack, size),
    offsetof(weft::sched::G, m),
    offsetof(weft::sched::G, created_at) + offsetof(weft::sched::SourceSite, file),
    offsetof(weft::sched::G, created_at) + offsetof(weft::sched::SourceSite, function),
    offsetof(weft::sched::G, created_at) + offsetof(weft::sched::SourceSite, line),
    offsetof(weft::sched::G, parent_id),
    offsetof(weft::sched::G, system),
    offsetof(weft::sched::M, id),
    offsetof(weft::sched::M, tid),
    weft::sched::kStatusNames,
    weft::sched::kGStatuses,
    weft::sched::kWaitReasons,
    weft::sched::kWaitReasonNames,
    weft::sched::kSavedFpOffset,
    weft::sched::kSavedPcOffset,
    &weft::sched::g_debug_now_coarse,
};
#pragma GCC diagnostic pop

namespace weft::sched {

// ---------------------------------------------------------------- collector support

void set_collector_hooks(const CollectorHooks& hooks) {
    WEFT_CHECK(!g_running.load(), "set_collector_hooks: the runtime is running");
    g_collector = hooks;
}

void set_track_epoch(uint32_t epoch) { g_track_epoch.store(epoch, std::memory_order_relaxed); }

G* take_tracked(uint32_t epoch) { return g_tracked[epoch & 1].exchange(nullptr, std::memory_order_acquire); }

G* next_tracked(const G* g, uint32_t epoch) { return g->tracklink[epoch & 1]; }

MemRange g_stack_range(const G* g, GStatus was) {
    if (g->stack.lo == nullptr) return {};
    auto hi = reinterpret_cast<uintptr_t>(g->stack.lo) + g->stack.size;
    uintptr_t sp = 0;
    if (was == GStatus::kSyscall) sp = g->syscall_sp;
    else if (g->ctx.fctx != nullptr) sp = reinterpret_cast<uintptr_t>(g->ctx.fctx);
    if (sp == 0) return {};
    WEFT_CHECK(sp >= reinterpret_cast<uintptr_t>(g->stack.lo) && sp <= hi, "g_stack_range: saved sp outside the stack");
    return {sp & ~uintptr_t{7}, hi};
}

void* g_fake_stack(const G* g, GStatus was) {
    return was == GStatus::kSyscall ? g->syscall_fake_stack : g->ctx.asan_fake_stack;
}

MemRange g_closure_range(const G* g) {
    auto [p, n] = g->fn.captures();
    auto lo = reinterpret_cast<uintptr_t>(p);
    return {lo, lo + n};
}

// Every allocation asks: one call, reading the TLS itself (noinline for
// the reason getm is, below).
__attribute__((noinline)) P* current_p() {
    M* m = t_m;
    return m ? m->p : nullptr;
}

__attribute__((noinline)) P* current_p_and_g(G** g) {
    M* m = t_m;
    if (m == nullptr) {
        *g = nullptr;
        return nullptr;
    }
    *g = m->curg.load(std::memory_order_relaxed);  // this M's own store
    return m->p;
}

int32_t nprocs_now() { return g_sched ? sched_state().nprocs : 0; }

P* p_at(int32_t i) { return sched_state().allp[static_cast<size_t>(i)]; }

int64_t fibers_alive() {
    Sched& s = sched_state();
    // Relaxed: statistics. Fibers starting or ending while the sum is taken
    // may be missed or counted on either side, so the count may be off by
    // those (and is kept from going below 0), never by more.
    uint64_t started = s.fibers_started_outside.load(std::memory_order_relaxed), ended = 0;
    for (const P* p : s.allp) {
        started += p->fibers_started.load(std::memory_order_relaxed);
        ended += p->fibers_ended.load(std::memory_order_relaxed);
    }
    return started >= ended ? static_cast<int64_t>(started - ended) : 0;
}

int64_t user_fibers_alive() {
    if (g_sched == nullptr) return 0;
    // Relaxed: a statistic, as fibers_alive. Read after the sum, so a
    // system fiber that starts during it is subtracted without having
    // been counted at worst, hence the clamp.
    int64_t n = fibers_alive() - sched_state().nsys.load(std::memory_order_relaxed);
    return n > 0 ? n : 0;
}

void wake_idle_p() {
    if (sched_state().npidle.load() > 0 && sched_state().nmspinning.load() == 0) wakep();
}

// Relaxed: a hint; the stopper re-flags fibers until every P has stopped.
bool world_stopping() { return g_sched && sched_state().gcwaiting.load(std::memory_order_relaxed); }

// noinline: see sched.hpp. GCC treats a TLS address as invariant within a
// function, so an inlined accessor could hand back the old thread's M after
// a switch resumed the fiber elsewhere.
__attribute__((noinline)) M* getm() { return t_m; }

__attribute__((noinline)) G* getg() {
    M* m = t_m;
    return m ? m->curg.load(std::memory_order_relaxed) : nullptr;
}

G* current_g() { return getg(); }

uint64_t fiber_id() {
    G* g = getg();
    return g ? g->id : 0;
}

bool runtime_running() { return g_running.load(); }
int32_t nprocs() { return g_sched ? sched_state().nprocs : 0; }

// ---------------------------------------------------------------- Ps

void acquirep(M* m, P* p) {
    WEFT_CHECK(m->p == nullptr, "acquirep: M already holds a P");
    WEFT_CHECK(p->m.load(std::memory_order_relaxed) == nullptr, "acquirep: P already held by an M");
    PStatus st = p->status.load();
    WEFT_CHECK(st == PStatus::kIdle, "acquirep: P is not idle");
    p->status.store(PStatus::kRunning);
    p->m.store(m, std::memory_order_release);  // hint for sysmon (p.hpp)
    m->p = p;
    trace::proc_start(p->id);
}

P* releasep(M* m) {
    P* p = m->p;
    WEFT_CHECK(p != nullptr && p->m.load(std::memory_order_relaxed) == m && p->status.load() == PStatus::kRunning,
               "releasep: invalid P state");
    m->p = nullptr;
    p->m.store(nullptr, std::memory_order_relaxed);  // hint for sysmon (p.hpp)
    p->status.store(PStatus::kIdle);
    trace::proc_stop(p->id);
    return p;
}

void pidleput(P* p) {
    WEFT_DCHECK(p->runq.empty(), "pidleput: P has runnable fibers");
    p->status.store(PStatus::kIdle);
    p->link = sched_state().pidle;
    sched_state().pidle = p;
    sched_state().npidle.fetch_add(1);
}

P* pidleget() {
    Sched& s = sched_state();
    P* p = s.pidle;
    if (p) {
        s.pidle = p->link;
        p->link = nullptr;
        // seq_cst decrement, then seq_cst load of sysmon_idle: pairs with
        // sysmon's store-then-check (sysmon.cpp) so one of us sees the other.
        s.npidle.fetch_sub(1);
        if (s.sysmon_idle.load()) sysmon_wake();
    }
    return p;
}

// ---------------------------------------------------------------- run queues

void globrunqput(G* g) {
    sched_state().runq.push_back(g);
    sched_state().runqsize.fetch_add(1, std::memory_order_relaxed);  // hint; the list is under lock
}

void globrunqput_batch(GQueue& q, int32_t n) {
    sched_state().runq.append(q);
    sched_state().runqsize.fetch_add(n, std::memory_order_relaxed);  // hint; the list is under lock
}

namespace {

// Takes a batch from the global queue (under lock): one to run, some more
// into p's ring (as globrunqget).
G* globrunqget(P* p, int32_t max) {
    Sched& s = sched_state();
    int32_t size = s.runqsize.load(std::memory_order_relaxed);
    if (size == 0) return nullptr;
    int32_t n = std::min(size, size / s.nprocs + 1);
    if (max > 0 && n > max) n = max;
    n = std::min<int32_t>(n, LocalRunQueue::kSize / 2);
    s.runqsize.fetch_sub(n, std::memory_order_relaxed);
    G* g = s.runq.pop_front();
    for (int32_t i = 1; i < n; i++) {
        G* x = s.runq.pop_front();
        if (!p->runq.push(x)) {
            // Ring full (cannot happen: we only fill half); keep it global.
            s.runq.push_front(x);
            s.runqsize.fetch_add(1, std::memory_order_relaxed);
        }
    }
    return g;
}

}  // namespace

void runqput(P* p, G* g, bool next) {
    if (next) {
        G* old = p->runnext.exchange(g);
        if (old == nullptr) return;
        g = old;  // kick the old runnext to the ring
        if (g->timer_woken.load(std::memory_order_relaxed)) p->timer_queued++;  // S6
    }
    for (;;) {
        if (p->runq.push(g)) return;
        GQueue spill;
        if (p->runq.spill_half(g, spill)) {
            base::LockGuard l(sched_state().lock);
            globrunqput_batch(spill, LocalRunQueue::kSize / 2 + 1);
            return;
        }
    }
}

G* runqget(P* p, bool* inherit) {
    // Relaxed: only a hint for the CAS below, which (seq_cst) is what
    // claims the G and orders its state before we run it.
    G* next = p->runnext.load(std::memory_order_relaxed);
    if (next && p->runnext.compare_exchange_strong(next, nullptr)) {
        *inherit = true;
        return next;
    }
    *inherit = false;
    G* g = p->runq.pop();
    if (g != nullptr && g->timer_woken.load(std::memory_order_relaxed) && p->timer_queued > 0) p->timer_queued--;  // S6
    return g;
}

namespace {

// Steals half of p2's ring into p's; on `take_runnext`, p2's runnext too.
G* runqsteal(P* p, P* p2, bool take_runnext) {
    uint32_t n = p2->runq.steal_into(p->runq);
    if (n == 0 && take_runnext) {
        G* next = p2->runnext.load();
        if (next != nullptr) {
            // p2's M is about to run it (it readied it a moment ago); give it
            // a few microseconds before stealing, or we just bounce it.
            if (p2->status.load() == PStatus::kRunning) usleep(3);
            next = p2->runnext.load();
            if (next && p2->runnext.compare_exchange_strong(next, nullptr)) {
                bump(p->steals);
                trace::steal(p2->id, 1);
                return next;
            }
        }
        return nullptr;
    }
    if (n == 0) return nullptr;
    bump(p->steals, n);
    trace::steal(p2->id, n);
    return p->runq.take_last_stolen(n);  // run one, publish the rest (as runqsteal)
}

}  // namespace

bool runq_empty(P* p) { return p->runq.empty() && p->runnext.load() == nullptr; }

// ---------------------------------------------------------------- Ms

namespace {

void mput(M* m) {
    Sched& s = sched_state();
    m->schedlink = s.midle;
    s.midle = m;
    s.nmidle++;
    checkdead();
}

M* mget() {
    Sched& s = sched_state();
    M* m = s.midle;
    if (m) {
        s.midle = m->schedlink;
        m->schedlink = nullptr;
        s.nmidle--;
    }
    return m;
}

void* mthread(void* arg) {
    M* m = static_cast<M*>(arg);
    t_m = m;
    // Named for top, perf and gdb ("weft-m3"; the kernel keeps 15 bytes).
    // By the thread itself: naming another thread makes glibc open a file
    // under /proc, a descriptor that a program counting its own (or one
    // out of them, EMFILE) would see come and go.
    char name[16];
    std::snprintf(name, sizeof name, "weft-m%lld", static_cast<long long>(m->id));
    pthread_setname_np(pthread_self(), name);
    m->eh = thread_eh_state();
    context_init_thread(m->g0);
    signals_init_thread(m);
    P* p = m->nextp;
    m->nextp = nullptr;
    acquirep(m, p);
    mloop(m);
    trace::thread_exit();
    signals_fini_thread(m);
    t_m = nullptr;
    return nullptr;
}

// Creates an M that will start holding p (under no lock).
void newm(P* p, bool spinning) {
    Sched& s = sched_state();
    M* m = new M;
    {
        base::LockGuard l(s.lock);  // mcount was reserved by startm
        m->id = s.mnext++;
        m->alllink = s.allm;
        s.allm = m;
    }
    m->rand = base::FastRand(static_cast<uint64_t>(base::nanotime()) ^ (static_cast<uint64_t>(m->id) << 32));
    m->nextp = p;
    m->spinning = spinning;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    int err = pthread_create(&m->thread, &attr, mthread, m);
    pthread_attr_destroy(&attr);
    if (err != 0) base::fatal("cannot create an OS thread for a new M: %s", strerror(err));
    base::LockGuard l(s.lock);  // m->thread is set: run_main may join it
    s.mpending--;
}

}  // namespace

void checkdead() {
    Sched& s = sched_state();
    if (s.exiting.load() || s.gcwaiting.load()) return;
    int32_t run = s.mcount - s.nmidle;
    if (run > 0) return;
    if (run < 0) base::fatal("checkdead: inconsistent M counts (mcount %d, idle %d)", s.mcount, s.nmidle);
    // Nothing runs. A pending timer will wake someone through netpoll... but
    // nobody is in netpoll (that M would not be idle), so a pending timer
    // here means an M is about to poll: not dead.
    if (timers_earliest() != 0) return;
    if (s.runqsize.load() != 0) return;
    for (P* p : s.allp)
        if (!runq_empty(p)) return;
    if (netpoll_has_waiters()) return;
    if (g_outside.load() > 0) return;  // a plain thread may still start a fiber
    base::fatal("all fibers are asleep - deadlock!");
}

int32_t reclaim_idle_ms(int64_t now) {
    Sched& s = sched_state();
    base::LockGuard l(s.lock);
    int32_t keep = s.nprocs;  // enough to run every P at once
    M** link = &s.midle;
    while (*link && s.nmidle > keep) {
        M* m = *link;
        if (!m->is_m0 && now - m->idle_since >= s.config.idle_m_timeout_ns) {
            *link = m->schedlink;  // off the idle list and out of the count,
            m->schedlink = nullptr;  // together, so checkdead's sum holds
            s.nmidle--;
            s.mcount--;
            m->exit_requested = true;
            m->park.wakeup();  // its thread leaves mloop and ends
            continue;
        }
        link = &m->schedlink;
    }
    return s.nmidle > keep ? s.nmidle - keep : 0;
}

void startm(P* p, bool spinning) {
    Sched& s = sched_state();
    s.lock.lock();
    if (p == nullptr) {
        p = pidleget();
        if (p == nullptr) {
            s.lock.unlock();
            if (spinning) {
                // wakep raised nmspinning for the M we failed to start.
                if (s.nmspinning.fetch_sub(1) <= 0) base::fatal("startm: negative nmspinning");
            }
            return;
        }
    }
    M* m = mget();
    if (m == nullptr) {
        // Shutting down: no new thread, which run_main would have to join
        // (it waits for the ones already reserved, mpending).
        bool exiting = s.exiting.load();
        if (exiting || s.mcount >= s.config.max_threads) {
            // No thread to give p to: it waits idle until a call returns.
            bool report = !exiting && !s.maxthreads_reported;
            if (report) s.maxthreads_reported = true;
            // An idle P must have an empty queue (nobody steals from idle
            // Ps): its fibers go where any M with a P will find them.
            bool inherit;
            while (G* g = runqget(p, &inherit)) globrunqput(g);
            pidleput(p);
            s.lock.unlock();
            if (spinning && s.nmspinning.fetch_sub(1) <= 0) base::fatal("startm: negative nmspinning");
            if (report)
                base::print_err("weft: WEFT_MAXTHREADS (%d) reached: further blocking calls wait for a thread\n",
                                s.config.max_threads);
            return;
        }
        s.mcount++;  // reserve it under the lock; newm registers the M
        s.mpending++;
        s.lock.unlock();
        newm(p, spinning);
        return;
    }
    WEFT_CHECK(!m->spinning, "startm: idle M is spinning");
    WEFT_CHECK(m->nextp == nullptr, "startm: idle M has a nextp");
    m->spinning = spinning;
    m->nextp = p;
    s.lock.unlock();
    // Off the idle list, m is ours alone. Woken after the unlock: the OS
    // may run it in our place at once, and it must not find the lock held.
    m->park.wakeup();
}

void wakep() {
    Sched& s = sched_state();
    // S4's producer half: the store that made the work visible (a ring's
    // release store of its tail, the global queue's unlock) before the
    // loads below. A store followed by a load of another variable may be
    // reordered (x86 does it: the store waits in the store buffer), and a
    // spinner dropping out at that moment would then miss our work while
    // we read its stale nmspinning. The spinner fences too (find_runnable
    // step 6), so one of us sees the other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Cheap hints first: no idle P means every P already has an M.
    if (s.npidle.load() == 0) return;
    int32_t zero = 0;
    if (s.nmspinning.load() != 0 || !s.nmspinning.compare_exchange_strong(zero, 1)) return;
    startm(nullptr, true);
}

void stopm(M* m, int64_t spin_ns) {
    Sched& s = sched_state();
    WEFT_CHECK(m->p == nullptr, "stopm: M holds a P");
    WEFT_CHECK(!m->spinning, "stopm: M is spinning");
    s.lock.lock();
    if (s.exiting.load()) {  // shutdown may already have woken every idle M
        s.lock.unlock();
        return;
    }
    m->park.clear();
    m->idle_since = base::nanotime();
    trace::m_park(true);
    mput(m);
    s.lock.unlock();
    if (spin_ns > 0) {
        int64_t until = base::nanotime() + spin_ns;
        while (!m->park.woken() && base::nanotime() < until) base::cpu_relax();
    }
    m->park.sleep();
    trace::m_park(false);
    if (m->exit_requested) return;  // reclaimed by sysmon (reclaim_idle_ms)
    P* p = m->nextp;
    m->nextp = nullptr;
    if (p) acquirep(m, p);
}

// Hands off p from an M that will not run fibers (syscall, lock-up) to
// another M if it has work, else puts it idle (as handoffp).
void handoffp(P* p) {
    Sched& s = sched_state();
    s.handoffs.fetch_add(1, std::memory_order_relaxed);
    if (!runq_empty(p) || s.runqsize.load() != 0) {
        startm(p, false);
        return;
    }
    if (s.nmspinning.load() + s.npidle.load() == 0) {
        int32_t zero = 0;
        if (s.nmspinning.compare_exchange_strong(zero, 1)) {
            startm(p, true);
            return;
        }
    }
    s.lock.lock();
    if (s.gcwaiting.load()) {
        p->status.store(PStatus::kGCStop);
        if (--s.stopwait == 0) s.stopnote.wakeup();
        s.lock.unlock();
        return;
    }
    if (s.runqsize.load() != 0) {
        s.lock.unlock();
        startm(p, false);
        return;
    }
    pidleput(p);
    s.lock.unlock();
}

void injectglist(GQueue& q, int32_t n) {
    if (n == 0) return;
    Sched& s = sched_state();
    // Whoever took them off their wait (the netpoller) hands them over here.
    GQueue runnable;
    M* m = getm();
    while (G* g = q.pop_front()) {
        cas_status(g, GStatus::kWaiting, GStatus::kRunnable);
        count_unpark(m, g, trace::WakeSource::kNetpoll);
        runnable.push_back(g);
    }
    q.append(runnable);
    int32_t idle;
    {
        base::LockGuard l(s.lock);
        globrunqput_batch(q, n);
        idle = s.npidle.load();
    }
    for (int32_t i = 0; i < std::min(n, idle); i++) startm(nullptr, false);
}

// ---------------------------------------------------------------- schedule

namespace {

void resetspinning(M* m) {
    Sched& s = sched_state();
    m->spinning = false;
    trace::m_spin(false);
    int32_t left = s.nmspinning.fetch_sub(1) - 1;
    if (left < 0) base::fatal("resetspinning: negative nmspinning");
    // We were the last spinner and found work: there may be more (S4).
    wakep();
}

// The n fibers a netpoll by this M (which holds a P) took: the first is
// this M's to run, the rest go to the global queue; only then are they no
// longer counted as IO waiters (netpoll.cpp N4).
G* run_first_polled(GQueue& ready_list, int32_t n) {
    G* g = ready_list.pop_front();
    injectglist(ready_list, n - 1);
    cas_status(g, GStatus::kWaiting, GStatus::kRunnable);
    count_unpark(getm(), g, trace::WakeSource::kNetpoll);
    netpoll_waiters_done(n);
    return g;
}

// Step 5: look in other Ps. Sets *now to the time used for timers.
G* steal_work(M* m, int64_t& poll_until) {
    Sched& s = sched_state();
    P* p = m->p;
    const int32_t n = s.nprocs;
    for (int pass = 0; pass < 4; pass++) {
        bool last = pass == 3;
        uint32_t start = m->rand.below(static_cast<uint32_t>(n));
        for (int32_t i = 0; i < n; i++) {
            if (s.gcwaiting.load() || s.exiting.load()) return nullptr;
            P* p2 = s.allp[(start + static_cast<uint32_t>(i)) % static_cast<uint32_t>(n)];
            if (p2 == p) continue;
            if (last) {
                // Run their due timers here: an idle P's timers have no M.
                int64_t w = p2->timers.next_when();
                if (w != 0 && w <= base::nanotime()) {
                    int64_t next = p2->timers.run(base::nanotime());
                    if (next != 0 && (poll_until == 0 || next < poll_until)) poll_until = next;
                    bool inherit;
                    if (G* g = runqget(p, &inherit)) return g;
                }
            }
            if (p2->status.load() == PStatus::kIdle) continue;
            if (G* g = runqsteal(p, p2, last)) return g;
        }
    }
    return nullptr;
}

G* find_runnable(M* m, bool* inherit) {
    Sched& s = sched_state();
top:
    // No P after stopm: the runtime is exiting or sysmon reclaimed this M.
    if (s.exiting.load() || m->p == nullptr) return nullptr;
    if (s.gcwaiting.load()) {  // step 1
        gcstopm(m);
        goto top;
    }
    P* p = m->p;
    int64_t poll_until = 0;
    {  // step 2: read the clock only if this P has timers
        int64_t w = p->timers.next_when();
        if (w != 0) {
            int64_t now = base::nanotime();
            if (w <= now) p->timers.run(now);
        }
    }
    if (G* g = runqget(p, inherit)) return g;  // step 3
    *inherit = false;
    if (s.runqsize.load(std::memory_order_relaxed) != 0) {
        base::LockGuard l(s.lock);
        if (G* g = globrunqget(p, 0)) return g;
    }
    if (netpoll_has_waiters() && s.lastpoll.load() != 0) {  // step 4
        GQueue ready_list;
        int32_t n = netpoll(0, ready_list);
        if (n > 0) return run_first_polled(ready_list, n);
    }
    // step 5
    int32_t busy = s.nprocs - s.npidle.load();
    if (m->spinning || 2 * s.nmspinning.load() < busy) {
        if (!m->spinning) {
            m->spinning = true;
            s.nmspinning.fetch_add(1);
            trace::m_spin(true);
        }
        if (G* g = steal_work(m, poll_until)) return g;
        if (s.gcwaiting.load() || s.exiting.load()) goto top;
    }
    // step 5b: nothing to run; give the P to the collector's idle-priority
    // work for a bounded slice (as findRunnable's idle mark worker).
    if (g_collector.idle_work && g_collector.idle_work(p)) goto top;
    // step 6
    s.lock.lock();
    if (s.gcwaiting.load() || s.exiting.load()) {
        s.lock.unlock();
        goto top;
    }
    if (s.runqsize.load(std::memory_order_relaxed) != 0) {
        G* g = globrunqget(p, 0);
        s.lock.unlock();
        return g;
    }
    if (!runq_empty(p)) {  // a timer we ran, or a late runnext
        s.lock.unlock();
        goto top;
    }
    releasep(m);
    pidleput(p);
    s.lock.unlock();

    bool was_spinning = m->spinning;
    if (m->spinning) {
        base::test_hook(base::HookPoint::kDropSpinning);
        m->spinning = false;
        trace::m_spin(false);
        if (s.nmspinning.fetch_sub(1) <= 0) base::fatal("find_runnable: negative nmspinning");
        // S4's consumer half (wakep has the producer's): the decrement
        // before the loads below, whatever their memory orders.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        // S4: producers that saw us spinning did not wake anyone. Look
        // again, at every P's queue and at the global queue: a preempted
        // fiber put there since the check under the lock above, by a
        // producer whose wakep saw us spinning, is as stranded as one in
        // a P's queue.
        bool work = s.runqsize.load(std::memory_order_relaxed) != 0 ||
                    std::any_of(s.allp.begin(), s.allp.end(), [](P* p2) { return !runq_empty(p2); });
        if (work) {
            s.lock.lock();
            P* pp = pidleget();
            s.lock.unlock();
            if (pp) {
                acquirep(m, pp);
                m->spinning = true;
                s.nmspinning.fetch_add(1);
                trace::m_spin(true);
                goto top;
            }
        }
    }
    // step 7
    int64_t earliest = timers_earliest();
    if ((netpoll_has_waiters() || earliest != 0) && s.lastpoll.exchange(0) != 0) {
        int64_t delay = -1;
        if (earliest != 0) {
            delay = std::max<int64_t>(earliest - base::nanotime(), 0);
            s.poll_until.store(earliest);
        }
        GQueue ready_list;
        int32_t n = netpoll(delay, ready_list);
        s.poll_until.store(0);
        s.lastpoll.store(base::nanotime());
        s.lock.lock();
        P* pp = pidleget();
        s.lock.unlock();
        if (pp == nullptr) {
            injectglist(ready_list, n);
            netpoll_waiters_done(n);  // queued, and this M is not idle yet
        } else {
            acquirep(m, pp);
            if (n > 0) return run_first_polled(ready_list, n);
            if (was_spinning) {
                m->spinning = true;
                s.nmspinning.fetch_add(1);
                trace::m_spin(true);
            }
            goto top;
        }
    } else if (earliest != 0) {
        int64_t sleeping_until = s.poll_until.load();
        if (sleeping_until == 0 || sleeping_until > earliest) netpoll_break();
    }
    stopm(m);
    goto top;
}

// One round of scheduling (as schedule()): null when the runtime exits.
G* schedule(M* m, bool* inherit) {
    Sched& s = sched_state();
    if (s.exiting.load()) return nullptr;
    if (s.gcwaiting.load()) gcstopm(m);
    if (s.exiting.load() || m->p == nullptr) return nullptr;  // see find_runnable
    P* p = m->p;
    G* g = nullptr;
    *inherit = false;
    // Due timers first, on every round (as checkTimers): a P whose queue
    // never empties would otherwise never reach find_runnable's step 2.
    // One load when the P has no timers.
    if (int64_t w = p->timers.next_when(); w != 0) {
        int64_t now = base::nanotime();
        if (w <= now) p->timers.run(now);
    }
    // Fairness: every 61st tick look at the global queue first, so two
    // fibers handing work back and forth cannot starve it.
    if (p->schedtick.load(std::memory_order_relaxed) % 61 == 0 && s.runqsize.load(std::memory_order_relaxed) > 0) {
        base::LockGuard l(s.lock);
        g = globrunqget(p, 1);
    }
    if (!g) g = runqget(p, inherit);
    if (!g) g = find_runnable(m, inherit);
    if (g && m->spinning) resetspinning(m);
    return g;
}

void begin_shutdown() {
    Sched& s = sched_state();
    s.exiting.store(true);
    {
        base::LockGuard l(s.lock);
        while (M* m = mget()) {
            m->nextp = nullptr;
            m->park.wakeup();
        }
        // Hurry running fibers to a safe point so their Ms notice.
        for (M* m = s.allm; m; m = m->alllink)
            if (G* g = m->curg.load(std::memory_order_acquire)) g->preempt.store(true, std::memory_order_relaxed);
    }
    netpoll_break();
    sysmon_wake();
}

// What execute() does once the fiber is back on g0, by the request it made
// (M::action), each as the Go function it mirrors.

// kPark (park_m): protocol steps 2-4. Returns g to run again at once when
// its unlockf kept it, else null.
G* after_park(M* m, G* g) {
    bump(m->p->parked[static_cast<size_t>(g->wait_reason)]);
    trace::go_block(g->id, static_cast<uint8_t>(g->wait_reason));
    set_status(g, GStatus::kRunning, GStatus::kWaiting);  // protocol step 2
    g->wait_since = base::nanotime_coarse();  // for dumps only
    ParkUnlockFn f = m->unlockf;
    void* arg = m->unlock_arg;
    m->unlockf = nullptr;
    m->unlock_arg = nullptr;
    if (f && !f(g, arg)) {  // step 3/4
        cas_status(g, GStatus::kWaiting, GStatus::kRunnable);  // unlockf kept it ours
        count_unpark(m, g, trace::WakeSource::kScheduler);
        return g;
    }
    return nullptr;
}

// kYield (goschedImpl): to the back of this P's queue.
void after_yield(M* m, G* g) {
    trace::go_stop(g->id, trace::StopWhy::kYield);
    set_status(g, GStatus::kRunning, GStatus::kRunnable);
    runqput(m->p, g, false);
}

// kPreempted (gopreempt_m): to the global queue, as Go does: a fiber that
// ran a whole time slice goes behind everyone, not just this P.
void after_preempted(G* g) {
    trace::go_stop(g->id, trace::StopWhy::kPreempted);
    set_status(g, GStatus::kRunning, GStatus::kRunnable);
    {
        base::LockGuard l(sched_state().lock);
        globrunqput(g);
    }
    // An idle P could run it (or what this P runs instead) now: without a
    // wake it would wait for this P's next schedule, a whole time slice if
    // that runs a fiber that never blocks.
    wakep();
}

// kExit (goexit0): the G goes back to the free list, its stack to the P's
// cache; the main fiber's exit ends the run.
void after_exit(M* m, G* g) {
    P* p = m->p;
    trace::go_end(g->id);
    set_status(g, GStatus::kRunning, GStatus::kDead);
    g->ctx.fctx = nullptr;  // restart from scratch when reused
    stack_put(p, g->stack);
    g->stack = Stack{};
    g->wait_reason = WaitReason::kNone;
    g->param = nullptr;
    bool was_main = g == sched_state().main_g;
    bump(p->fibers_ended);
    if (g->system) sched_state().nsys.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as newproc
    gfput(p, g);
    if (was_main) begin_shutdown();
}

// kExitSyscall (exitsyscall0): syscall.cpp exitsyscall step 4; this M holds
// no P (Y2, Y3). Returns g to run at once if an idle P was taken for it,
// else null (mloop stops this M; g waits on the global queue).
G* after_exitsyscall(M* m, G* g) {
    // Its stack changed while it ran in the call: any summary of it is
    // stale now, not only once it runs again, so before it shows as
    // runnable (Y2: a word of the G). Not track_run: the world may be
    // stopped for mark termination, whose tracked list must not change
    // under it.
    note_stack_changed(g);
    cas_status(g, GStatus::kSyscall, GStatus::kRunnable);  // waits out a stack scan
    g->syscall_sp = 0;
    Sched& s = sched_state();
    s.lock.lock();
    bool stopping = s.gcwaiting.load();
    if (stopping) g_returns_during_stop.fetch_add(1, std::memory_order_relaxed);  // Y3
    // Exiting: g is not run again (as schedule() runs nothing).
    P* idle = stopping || s.exiting.load() ? nullptr : pidleget();
    if (idle == nullptr) {
        globrunqput(g);
        s.lock.unlock();
        return nullptr;
    }
    s.lock.unlock();
    acquirep(m, idle);
    return g;
}

// Runs g on m until it switches back to g0; then carries out its request.
// Returns a G to run immediately (a park whose unlockf said no), else null.
G* execute(M* m, G* g, bool inherit) {
    P* p = m->p;
    if (!inherit) {
        // Single writer (this M); sysmon only reads it, so no RMW is needed.
        p->schedtick.store(p->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    cas_status(g, GStatus::kRunnable, GStatus::kRunning);  // waits out a stack scan
    trace::go_start(g->id, p->id);
    track_run(g);
    g->m = m;
    g->preempt.store(false, std::memory_order_relaxed);
    g->timer_woken.store(false, std::memory_order_relaxed);
    g->spawned_since_run = 0;
    if (g->stack.lo == nullptr) {
        g->stack = stack_get(p);
        context_create_fiber(g->ctx);  // no-op once the G has a TSan fiber
    }
    if (g->ctx.fctx == nullptr) context_make(g->ctx, g->stack.lo, g->stack.size, fiber_main);
    // Release: sysmon and stop-the-world acquire curg and write g->preempt;
    // this orders the G's creation before their access.
    m->curg.store(g, std::memory_order_release);
    m->action = MAction::kNone;
    EhState* eh = m->eh;
    *eh = g->eh;  // the fiber's caught exceptions travel with it
    switch_to(m->g0, g->ctx);

    // Back on g0; g is suspended (or dead).
    g->eh = *eh;
    *eh = EhState{};
    m->curg.store(nullptr, std::memory_order_relaxed);
    g->m = nullptr;
    if (!g->stack.canary_intact())
        base::fatal("fiber stack overflow (G %llu): stack canary overwritten", static_cast<unsigned long long>(g->id));
    switch (m->action) {
        case MAction::kPark: return after_park(m, g);
        case MAction::kYield: after_yield(m, g); return nullptr;
        case MAction::kPreempted: after_preempted(g); return nullptr;
        case MAction::kExit: after_exit(m, g); return nullptr;
        case MAction::kExitSyscall: return after_exitsyscall(m, g);
        case MAction::kNone: break;
    }
    WEFT_UNREACHABLE("fiber switched to g0 without a request");
}

void mloop(M* m) {
    for (;;) {
        if (m->p == nullptr) {  // back from a syscall with no P to take
            stopm(m);
            if (m->p == nullptr) {
                if (sched_state().exiting.load() || m->exit_requested) return;
                continue;
            }
        }
        bool inherit;
        G* g = schedule(m, &inherit);
        if (!g) {
            if (m->p == nullptr && !m->exit_requested && !sched_state().exiting.load()) continue;
            return;
        }
        while (g) {
            g = execute(m, g, inherit);
            inherit = true;  // a fiber resumed at once keeps its time slice
        }
    }
}

}  // namespace

// ---------------------------------------------------------------- fiber API

void ready(G* g, ReadyAt at) {
    M* m = getm();
    if (m == nullptr) {
        // A plain thread: no P of its own to queue on (as a spawn from one).
        cas_status(g, GStatus::kWaiting, GStatus::kRunnable);
        count_unpark(nullptr, g, trace::WakeSource::kOutside);
        {
            base::LockGuard l(sched_state().lock);
            globrunqput(g);
        }
        wakep();
        return;
    }
    if (m->p == nullptr) [[unlikely]] {
        if (m->curg.load(std::memory_order_relaxed) != nullptr)  // relaxed: this M's own
            misuse("waking a fiber (a channel operation, an unlock, a signal or a release)", CallContext::kBlocking);
        base::fatal("ready: called on an M that holds no P");
    }
    cas_status(g, GStatus::kWaiting, GStatus::kRunnable);
    P* p = m->p;
    count_unpark(m, g, trace::WakeSource::kFiber, /*from_m=*/true);
    switch (at) {
        case ReadyAt::kNext: runqput(p, g, true); break;
        case ReadyAt::kTimer: {
            // S6: a timer wake-up runs next unless an earlier one still
            // waits on this P. Fibers readied otherwise do not hold it
            // back: behind a queue of them (W9's sleepers back from their
            // calls, each costing a hand-off) a ticker was late by
            // milliseconds. Across Ps a steal can carry a wake-up
            // elsewhere (and uncounted into another ring); no order is
            // promised there.
            g->timer_woken.store(true, std::memory_order_relaxed);
            if (p->runq.empty()) p->timer_queued = 0;
            G* next = p->runnext.load(std::memory_order_relaxed);
            if (p->timer_queued == 0 && (next == nullptr || !next->timer_woken.load(std::memory_order_relaxed))) {
                runqput(p, g, true);
            } else {
                p->timer_queued++;
                runqput(p, g, false);
            }
            break;
        }
        case ReadyAt::kBack: runqput(p, g, false); break;
    }
    wakep();
}

void park(ParkUnlockFn unlockf, void* arg, WaitReason reason) {
    // Callers check their context first and name themselves; this is the
    // one place every wait passes, named by its reason. The test reads what
    // park needs anyway (call_context() only to word the error).
    M* m = getm();
    G* g = m != nullptr ? m->curg.load(std::memory_order_relaxed) : nullptr;  // relaxed: this M's own
    if (!may_park(m, g)) [[unlikely]]
        misuse(wait_reason_api(reason), call_context());
    WEFT_CHECK(m->locks == 0, "park: fiber holds a runtime lock count");
    g->wait_reason = reason;
    m->action = MAction::kPark;
    m->unlockf = unlockf;
    m->unlock_arg = arg;
    switch_to(g->ctx, m->g0);
    g->wait_reason = WaitReason::kNone;
}

namespace {

// Switches to g0, which requeues the fiber on the global run queue if
// `global` or the fiber was asked to stop (kPreempted), else on the local
// one (kYield); a plain thread just yields.
void yield_with(bool global) {
    M* m = getm();
    G* g = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
    if (g == nullptr) {
        sched_yield();
        return;
    }
    if (!may_park(m, g)) [[unlikely]]
        misuse("weft::yield", call_context());
    m->action = global || g->preempt.load(std::memory_order_relaxed) ? MAction::kPreempted : MAction::kYield;
    switch_to(g->ctx, m->g0);
}

}  // namespace

void gosched() { yield_with(false); }

void gosched_global() { yield_with(true); }

bool can_spin(int iter) {
    constexpr int kActiveSpin = 4;
    M* m = getm();
    if (iter >= kActiveSpin || m == nullptr || m->p == nullptr) return false;
    Sched& s = sched_state();
    if (s.ncpu <= 1 || s.nprocs <= s.npidle.load() + s.nmspinning.load() + 1) return false;
    return runq_empty(m->p);
}

namespace {

// The running fiber if it may yield here, else null (not a fiber, or a
// destructor the collector runs: the request waits for the fiber's next
// safe point after it). Fatal, naming `api`, inside weft::blocking.
G* yieldable_g(const char* api) {
    M* m = getm();
    if (m == nullptr) return nullptr;
    G* g = m->curg.load(std::memory_order_relaxed);  // this M's own
    if (g == nullptr) return nullptr;
    if (m->p == nullptr) [[unlikely]]
        misuse(api, CallContext::kBlocking);
    return g->in_gc_destructor == 0 ? g : nullptr;
}

// spawn_check: fibers a spawner may start in one turn before a full ring
// makes it yield. Counting per turn keeps a spawner among many runnable
// fibers starting this many per turn, not one per turn through all of them.
constexpr uint32_t kSpawnsPerTurn = 4 * LocalRunQueue::kSize;

}  // namespace

void preempt_check(const char* api) {
    // Relaxed: as G::preempt says, a late observation only delays the yield.
    if (G* g = yieldable_g(api); g != nullptr && g->preempt.load(std::memory_order_relaxed)) gosched();
}

void spawn_check() {
    G* g = yieldable_g("weft::go");
    if (g == nullptr) return;
    bool filled = ++g->spawned_since_run >= kSpawnsPerTurn && g->m->p->runq.size() >= LocalRunQueue::kSize;
    // Relaxed: as G::preempt says, a late observation only delays the yield.
    if (filled || g->preempt.load(std::memory_order_relaxed)) gosched();
}

namespace {

// Creates a runnable G (as newproc). `wake`: start an M for it if one is
// idle; run_main passes false so no other thread exists before main_g is set.
G* newproc(Closure fn, const std::source_location& site, bool wake, bool system = false) {
    WEFT_CHECK(g_running.load(), "weft::go called while no runtime is running (call it inside weft::run)");
    M* m = getm();
    P* p = m ? m->p : nullptr;
    if (m && !p && m->curg.load(std::memory_order_relaxed)) [[unlikely]]  // relaxed: this M's own
        misuse("weft::go", CallContext::kBlocking);
    G* g = p ? gfget(p) : nullptr;
    if (g == nullptr) {
        g = new G;
        g->status.store(GStatus::kDead);
        allg_register(g);
    }
    g->fn = std::move(fn);
    g->system = system;
    // Relaxed: a count for user_fibers_alive, which only reads it.
    if (system) sched_state().nsys.fetch_add(1, std::memory_order_relaxed);
    g->id = next_goid(p);
    g->created_at = SourceSite{site.file_name(), site.function_name(), site.line()};
    G* parent = getg();
    g->parent_id = parent ? parent->id : 0;
    trace::go_create(g, g->parent_id);
    cas_status(g, GStatus::kDead, GStatus::kRunnable);
    track_run(g);
    if (p) {
        bump(p->fibers_started);
        runqput(p, g, true);
        if (wake) wakep();
    } else {
        sched_state().fibers_started_outside.fetch_add(1, std::memory_order_relaxed);
        {
            base::LockGuard l(sched_state().lock);
            globrunqput(g);
        }
        startm(nullptr, false);
    }
    return g;
}

}  // namespace

void spawn(Closure fn, const std::source_location& site) { newproc(std::move(fn), site, true); }

void spawn_system(Closure fn, const std::source_location& site) { newproc(std::move(fn), site, true, true); }

uint64_t outside_waker_add() {
    std::lock_guard<std::mutex> l(g_outside_mu);
    if (!g_outside_open) return 0;
    g_outside.fetch_add(1);
    return g_run_number;
}

void outside_waker_done(uint64_t run) {
    std::lock_guard<std::mutex> l(g_outside_mu);
    if (run != g_run_number || !g_outside_open) return;  // that run has ended
    if (g_outside.fetch_sub(1) != 1) return;
    // The last one: a deadlock it held off is now one (every M may have
    // gone idle while it lived, and no M will look again by itself).
    base::LockGuard sl(sched_state().lock);
    checkdead();
}

bool spawn_outside(uint64_t run, Closure& fn, const std::source_location& site) {
    std::lock_guard<std::mutex> l(g_outside_mu);
    if (run != g_run_number || !g_outside_open) return false;
    newproc(std::move(fn), site, true);
    return true;
}

uint32_t fiber_local_key_alloc(void (*destroy)(void*)) {
    uint32_t k = g_nlocal_keys.fetch_add(1);
    if (k >= kMaxLocals) base::fatal("too many weft::FiberLocal keys (max %u)", kMaxLocals);
    g_local_dtors[k] = destroy;
    return k;
}

void** fiber_local_slot(uint32_t key) {
    M* m = getm();
    G* g = m != nullptr ? m->curg.load(std::memory_order_relaxed) : nullptr;  // this M's own
    WEFT_CHECK(g != nullptr, "FiberLocal used outside a fiber");
    if (m->p == nullptr) [[unlikely]]
        misuse("FiberLocal", CallContext::kBlocking);
    if (key >= g->nlocals) {
        uint32_t n = std::max<uint32_t>(key + 1, 8);
        void** slots = new void*[n]();
        for (uint32_t i = 0; i < g->nlocals; i++) slots[i] = g->locals[i];
        delete[] g->locals;
        g->locals = slots;
        g->nlocals = n;
    }
    return &g->locals[key];
}

// ---------------------------------------------------------------- lifetime

void run_main(const RunConfig& cfg, Closure main_fn, const std::source_location& site) {
    bool expected = false;
    if (!g_running.compare_exchange_strong(expected, true))
        base::fatal("weft::run called while a weft runtime is already running in this process");

    g_sched = new Sched;
    Sched& s = sched_state();
    s.config = cfg;
    s.nprocs = cfg.procs;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s.ncpu = ncpu > 0 ? static_cast<int32_t>(ncpu) : 1;
    stack_init(cfg.stack_size, cfg.guard, cfg.guard_budget);
    netpoll_init();
    for (int32_t i = 0; i < s.nprocs; i++) {
        P* p = new P;
        p->id = i;
        s.allp.push_back(p);
    }
    for (int32_t i = s.nprocs - 1; i >= 1; i--) pidleput(s.allp[i]);

    M* m0 = new M;
    m0->is_m0 = true;
    m0->id = s.mnext++;
    s.mcount = 1;
    s.allm = m0;
    m0->thread = pthread_self();
    m0->rand = base::FastRand(static_cast<uint64_t>(base::nanotime()));
    t_m = m0;
    m0->eh = thread_eh_state();
    context_init_thread(m0->g0);
    signals_install();
    signals_init_thread(m0);
    acquirep(m0, s.allp[0]);
    trace::run_begin();  // WEFT_TRACE: before the main fiber is created

    if (g_collector.on_start) g_collector.on_start();
    s.main_g = newproc(std::move(main_fn), site, /*wake=*/false);
    {
        std::lock_guard<std::mutex> l(g_outside_mu);
        g_run_number++;
        g_outside.store(0);  // wakers of an ended run count no more
        g_outside_open = true;
    }
    sysmon_start();

    mloop(m0);

    // Outside wakers of this run touch nothing from here on.
    {
        std::lock_guard<std::mutex> l(g_outside_mu);
        g_run_number++;
        g_outside_open = false;
    }
    // Shutdown: every other M leaves its loop once it sees `exiting`.
    // An M that a fiber still running elsewhere asked for just before
    // exiting was set may still be in newm: wait until its thread exists
    // (startm makes no new ones once it sees exiting), so allm is final.
    sysmon_stop();
    signals_fini_thread(m0);
    for (base::Backoff backoff;; backoff.pause()) {
        base::LockGuard l(s.lock);
        if (s.mpending == 0) break;
    }
    for (M* m = s.allm; m; m = m->alllink)
        if (!m->is_m0) pthread_join(m->thread, nullptr);
    leakcheck_at_exit();  // nothing runs: every stack holds still
    trace::thread_exit();
    trace::run_end();  // every M is gone: no event is being written
    signals_restore();
    if (g_collector.on_stop) g_collector.on_stop();
    t_m = nullptr;

    for (P* p : s.allp) {
        p->timers.clear();
        delete p;
    }
    for (M* m = s.allm; m;) {
        M* next = m->alllink;
        delete m;
        m = next;
    }
    allg_free_all();
    stack_release_all();
    netpoll_close();
    delete g_sched;
    g_sched = nullptr;
    g_running.store(false);
}

}  // namespace weft::sched
