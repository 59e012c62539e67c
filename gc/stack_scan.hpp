// stack_scan.hpp — scanning fibers' stacks and entry closures (collector.cpp
// step 3), by the collector fiber with help from allocating fibers and
// idle Ps. Private to gc/.
//
// Step 3 is one job over the list of every fiber. The collector fiber
// publishes it (stack_scan_begin) and scans it in slices, paused between
// them like the background mark worker (a share of the Ps). Meanwhile:
//   - an allocating fiber helps at each refill: it owes fibers in
//     proportion to the bytes it allocated, at a rate set so that the list
//     is done within a quarter of the heap growth the cycle allows
//     (kScanRunwayShare). GCscan has no mark assists, so without this a
//     long list (100 000 fibers) would let the heap grow unpaced while the
//     worker scans it; with it the scan costs each allocation a few
//     microseconds instead of costing one P for the whole scan;
//   - a P with nothing to run scans a few fibers (stack_scan_idle).
// A fiber found running is asked to stop at a safe point and goes on a
// retry list, which the collector fiber scans once the job is closed. An
// allocating fiber not yet scanned in the pass stops at its refill safe
// point for an instant and its stack is scanned there (scan_self_if_due):
// a fiber that allocates without blocking is otherwise caught stopped
// only by chance (its yield puts it straight back on its P), and while the
// collector retries, the heap grew to 3x its goal beside a busy loop.
//
// Invariants
//   S1 every fiber in the list is claimed by exactly one scanner (fetch_add
//      on the cursor); a claimed fiber is scanned, or put on the retry list
//      (a running one, and a helper's own fiber), or is the collector
//      fiber, which step 3 never scans.
//   S2 once stack_scan_end returns, no helper is inside the job: a helper
//      raises in_flight before it checks that the job is open, and
//      stack_scan_end closes the job before it waits for in_flight to fall
//      to zero (both sequentially consistent), so either the helper sees
//      the job closed or stack_scan_end sees the helper.
//   S3 a parked fiber (waiting or runnable) whose stack_gen has not moved
//      since its last full scan has the stack that scan read: the stack
//      changes only while the fiber runs or is in a system call (no
//      summary is used then), and each way from there to a parked state
//      bumps stack_gen first: execute (before it runs), exitsyscall (before
//      the fiber shows as running or runnable again); a waker that writes
//      a value into a parked stack (a channel hand-off) bumps it after the
//      write (sched/g.hpp). So re-shading the words of that scan that hit
//      objects (at most G::kScanSummaryWords distinct ones, else no
//      summary) does what a full scan would: a word that hit nothing then
//      is stale and references nothing the fiber can use. An idle fiber
//      with 4 KiB of stack costs a handful of words instead of 512.
//   S4 a scan pass is step 3 (from GCscan's pause to GCmark's) or one
//      concurrent re-scan round of mark_loop; each has a new number. A
//      fiber whose scanned_pass is the current pass's has been scanned in
//      it, and try_scan counts it done: if it ran since, run tracking
//      re-scans it before the cycle ends, as for any fiber scanned once.
#pragma once

#include <cstdint>
#include <vector>

#include "gc/mark.hpp"
#include "sched/collector_support.hpp"

namespace weft::gc::detail {

// Scans g's stack (from its saved stack pointer) and entry closure; the
// caller holds g's scan bit, `was` being g's status before it. A parked
// fiber whose stack has not changed since its last full scan (S3) costs
// only the words of that scan that pointed into objects.
void scan_g(GCWork* w, sched::G* g, sched::GStatus was);
// Stack scans served by S3 since the process started.
uint64_t stack_scans_from_summary();
// Scans g unless it runs; false if it must be retried (a running g is then
// asked to stop at a safe point). Dead and never-started fibers count as
// scanned.
bool try_scan(GCWork* w, sched::G* g);
// With the world stopped: scans g (waiting out one leaving a system call);
// a dead fiber is skipped.
void scan_stopped(GCWork* w, sched::G* g);

// The collector fiber (`self`, never scanned by the job), with the world
// running: opens the job over `fibers`. `runway_bytes` is the heap growth
// the cycle allows before its goal.
void stack_scan_begin(std::vector<sched::G*> fibers, sched::G* self, int64_t runway_bytes);
// The collector fiber: scans claimed fibers onto w until `until_ns`;
// false once the whole list is claimed.
bool stack_scan_slice(GCWork* w, int64_t until_ns);
// The collector fiber: closes the job, waits out helpers in it (S2) and
// returns the fibers to retry.
std::vector<sched::G*> stack_scan_end();

// Starts a new scan pass (S4): at GCscan's pause, and before each of
// mark_loop's concurrent re-scan rounds.
void stack_scan_new_pass();
// At an allocating fiber's refill safe point in GCscan: if the calling
// fiber has not been scanned in this pass, parks it for an instant while
// its M scans its stack (the park's unlock step, with the fiber stopped),
// then runs it on at once.
void scan_self_if_due();

// An allocating fiber after a refill of `bytes` in GCscan: pays its debt
// (in fibers, carried in *debt between refills) onto w; true if it scanned
// any. No-op when no job is open.
bool stack_scan_assist(GCWork* w, double* debt, int64_t bytes);
// A P with nothing to run: scans a few fibers onto w; true if it did any.
bool stack_scan_idle(GCWork* w);
// Fibers scanned by helpers (assists and idle Ps) since the process started.
uint64_t stack_scans_helped();

}  // namespace weft::gc::detail
