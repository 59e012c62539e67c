// stack_scan.cpp — the step-3 stack scan job and its helpers. Protocol and
// invariants: stack_scan.hpp.
#include "gc/stack_scan.hpp"

#include <algorithm>
#include <atomic>
#include <utility>

#include <weft/clock.hpp>
#include <weft/internal/lock.hpp>
#include "gc/phase.hpp"
#include "runtime/base/check.hpp"
#include "sched/fiber.hpp"

namespace weft::gc::detail {

namespace {

// The share of the cycle's heap runway within which helpers alone would
// finish the list.
constexpr double kScanRunwayShare = 0.25;
// Most fibers one helper scans at once (bounds an allocation's stall: a
// fiber with a few KB of stack in use takes a few microseconds).
constexpr int64_t kMaxHelperBatch = 32;
// Fibers the collector fiber claims at once.
constexpr size_t kWorkerBatch = 16;

struct Job {
    // Written by the collector fiber while the job is closed; read-only
    // while it is open (published by the seq_cst store of open).
    std::vector<sched::G*> fibers;
    sched::G* collector = nullptr;
    double fibers_per_byte = 0;

    std::atomic<bool> open{false};
    std::atomic<size_t> next{0};      // S1: the claim cursor
    std::atomic<int64_t> in_flight{0};  // S2: helpers inside the job

    std::atomic<uint64_t> helped{0};  // statistics only: relaxed

    base::Lock retry_lock{base::LockRank::kLeaf};
    std::vector<sched::G*> retry;  // under retry_lock
};

Job& job() {
    static Job* j = new Job;  // never destroyed: helpers may run at exit
    return *j;
}

// Scans fibers [i, end) of the job onto w; those found running go to the
// retry list.
void scan_claimed(Job& j, GCWork* w, size_t i, size_t end) {
    sched::G* me = sched::current_g();
    for (; i < end; ++i) {
        sched::G* g = j.fibers[i];
        if (g == j.collector) continue;  // as before the job: its stack holds no references to trace
        if (g == me || !try_scan(w, g)) {  // a fiber cannot scan its own running stack
            base::LockGuard l(j.retry_lock);
            j.retry.push_back(g);
        }
    }
}

// A helper: if the job is open (S2), claims fibers and scans them; true if
// it claimed any. An allocating fiber (debt given) first adds bytes x the
// job's rate to *debt and claims what it owes; an idle P (no debt) claims
// a batch. Either way at most kMaxHelperBatch.
bool help(GCWork* w, double* debt, int64_t bytes) {
    Job& j = job();
    bool claimed = false;
    j.in_flight.fetch_add(1);
    if (j.open.load()) {
        int64_t n = kMaxHelperBatch;
        if (debt != nullptr) {
            *debt += static_cast<double>(bytes) * j.fibers_per_byte;
            n = std::min(static_cast<int64_t>(*debt), kMaxHelperBatch);
            // What a capped claim leaves stays owed, up to one more batch.
            *debt = std::min(*debt - static_cast<double>(n), static_cast<double>(kMaxHelperBatch));
        }
        size_t total = j.fibers.size();
        // Relaxed: a hint that spares the cursor once all is claimed; the
        // fetch_add decides (S1).
        if (n > 0 && j.next.load(std::memory_order_relaxed) < total) {
            size_t i = j.next.fetch_add(static_cast<size_t>(n));
            if (i < total) {
                size_t end = std::min(total, i + static_cast<size_t>(n));
                scan_claimed(j, w, i, end);
                j.helped.fetch_add(end - i, std::memory_order_relaxed);
                claimed = true;
            }
        }
    }
    j.in_flight.fetch_sub(1);
    return claimed;
}

}  // namespace

namespace {
std::atomic<uint64_t> g_summary_scans{0};  // statistics only: relaxed
// S4: the current pass. Written by the collector fiber; read by scanners
// and by fibers at their safe points (relaxed: a stale pass number only
// costs a scan that was not needed, or a retry).
std::atomic<uint64_t> g_pass{1};

// The park's unlock step of scan_self_if_due, on the M's g0 with g stopped
// (waiting): scans it onto the P's work, and keeps it running (false).
bool scan_self_unlock(sched::G* g, void*) {
    (void)try_scan(work_of_current_p(), g);
    return false;
}
}  // namespace

void stack_scan_new_pass() { g_pass.fetch_add(1, std::memory_order_relaxed); }

void scan_self_if_due() {
    if (phase() != Phase::kScan) return;
    sched::G* g = sched::current_g();
    // The runtime's own fibers (the collector's) are left to step 3.
    if (g == nullptr || g->system) return;
    if (g->scanned_pass.load(std::memory_order_relaxed) == g_pass.load(std::memory_order_relaxed)) return;
    sched::park(scan_self_unlock, nullptr, sched::WaitReason::kGCScanSelf);
}

void scan_g(GCWork* w, sched::G* g, sched::GStatus was) {
    // Acquire: pairs with track_run's release, so what a waker wrote into
    // the stack before it bumped stack_gen is seen by a full scan below.
    uint64_t gen = g->stack_gen.load(std::memory_order_acquire);
    bool parked = was == sched::GStatus::kWaiting || was == sched::GStatus::kRunnable;
    if (parked && g->scan_nwords != sched::G::kNoScanSummary && g->scan_gen == gen) {
        // S3: the stack is as the last full scan saw it, and the objects
        // its words pointed to are allocated still (marked by every cycle
        // since, through these very words).
        for (uint32_t k = 0; k < g->scan_nwords; ++k) shade_conservative(w, g->scan_words[k]);
        g_summary_scans.fetch_add(1, std::memory_order_relaxed);
    } else {
        sched::MemRange r = sched::g_stack_range(g, was);
        ScanHits hits{g->scan_words, sched::G::kScanSummaryWords};
        if (r.lo < r.hi) scan_stack_range(w, r.lo, r.hi, sched::g_fake_stack(g, was), &hits);
        g->scan_gen = gen;
        g->scan_nwords = hits.overflow ? sched::G::kNoScanSummary : hits.n;
    }
    sched::MemRange c = sched::g_closure_range(g);
    if (c.lo < c.hi) scan_range(w, c.lo, c.hi);
}

uint64_t stack_scans_from_summary() { return g_summary_scans.load(std::memory_order_relaxed); }

bool try_scan(GCWork* w, sched::G* g) {
    uint64_t pass = g_pass.load(std::memory_order_relaxed);
    // Relaxed: the scanner that set it held g's scan bit, whose release
    // (end_scan) orders its work before a later pass's; within a pass a
    // stale value only costs a second scan.
    if (g->scanned_pass.load(std::memory_order_relaxed) == pass) return true;  // S4
    sched::GStatus was;
    if (sched::try_begin_scan(g, &was)) {
        scan_g(w, g, was);
        g->scanned_pass.store(pass, std::memory_order_relaxed);
        sched::end_scan(g, was);
        return true;
    }
    // Relaxed: which way to retry; a stale status only costs a retry round.
    sched::GStatus s = g->status.load(std::memory_order_relaxed);
    if (s == sched::GStatus::kDead || s == sched::GStatus::kIdle) return true;
    if (s == sched::GStatus::kRunning) g->preempt.store(true, std::memory_order_relaxed);  // to a safe point
    return false;
}

void scan_stopped(GCWork* w, sched::G* g) {
    sched::GStatus was;
    if (!sched::begin_scan_stopped(g, &was)) return;
    scan_g(w, g, was);
    g->scanned_pass.store(g_pass.load(std::memory_order_relaxed), std::memory_order_relaxed);
    sched::end_scan(g, was);
}

void stack_scan_begin(std::vector<sched::G*> fibers, sched::G* self, int64_t runway_bytes) {
    Job& j = job();
    WEFT_CHECK(!j.open.load() && j.in_flight.load() == 0, "stack scan: a job is already open");
    double share = std::max(kScanRunwayShare * static_cast<double>(runway_bytes), double{1 << 20});
    j.fibers_per_byte = static_cast<double>(fibers.size()) / share;
    j.fibers = std::move(fibers);
    j.collector = self;
    j.next.store(0, std::memory_order_relaxed);  // published by the store of open below
    {
        base::LockGuard l(j.retry_lock);
        j.retry.clear();
    }
    j.open.store(true);  // publishes the fields above (S2's order too)
}

bool stack_scan_slice(GCWork* w, int64_t until_ns) {
    Job& j = job();
    size_t total = j.fibers.size();
    for (;;) {
        size_t i = j.next.fetch_add(kWorkerBatch);
        if (i >= total) return false;
        scan_claimed(j, w, i, std::min(total, i + kWorkerBatch));
        // Relaxed: "more" is a hint; the next slice's fetch_add decides.
        if (base::nanotime() >= until_ns) return j.next.load(std::memory_order_relaxed) < total;
    }
}

std::vector<sched::G*> stack_scan_end() {
    Job& j = job();
    j.open.store(false);
    // S2: a helper inside claimed before the job closed and scans at most
    // kMaxHelperBatch fibers; it holds a P and cannot be stopped there.
    while (j.in_flight.load() != 0) sched::gosched();
    std::vector<sched::G*> retry;
    {
        base::LockGuard l(j.retry_lock);
        retry.swap(j.retry);
    }
    j.fibers.clear();
    j.fibers.shrink_to_fit();
    return retry;
}

bool stack_scan_assist(GCWork* w, double* debt, int64_t bytes) {
    // Relaxed: a hint that skips the counter outside GCscan's job; help()
    // decides (S2).
    return job().open.load(std::memory_order_relaxed) && help(w, debt, bytes);
}

bool stack_scan_idle(GCWork* w) { return job().open.load(std::memory_order_relaxed) && help(w, nullptr, 0); }

uint64_t stack_scans_helped() { return job().helped.load(std::memory_order_relaxed); }

}  // namespace weft::gc::detail
