// g.hpp — G, a fiber.
//
// A G is allocated once and recycled through the free-G lists; it is never
// freed while the runtime runs, so a G* stays valid (Go's allgs). Its status
// is the single source of truth for who may touch it:
//
//   status      owner of the G and its stack        on a run queue?
//   ------      ----------------------------        ---------------
//   kIdle       the allocator (being set up)         no
//   kRunnable   the run queue it sits in             yes
//   kRunning    the M executing it (m_ is set)       no
//   kSyscall    its M, which has no P                no
//   kWaiting    whoever will ready() it (a wait      no
//               queue, a timer, the netpoller)
//   kDead       the free list                        no
//
// Every change checks the old status: cas_status() where another thread may
// race the change, set_status() for the owner's transitions out of kRunning,
// where no one else writes the status: a release store, with the old status
// checked in debug builds.
//
// The scan bit (as Go's _Gscan): a stack scanner owns a G that is not
// running by setting kScanBit on top of kRunnable, kWaiting or kSyscall
// (try_begin_scan, by CAS), reads its stack and closure, and clears the bit
// (end_scan). While the bit is set nobody may move the G out of that status:
// every transition out of kRunnable, kWaiting and kSyscall is a cas_status(),
// which waits for the scan to end. Transitions out of kRunning need no CAS:
// a scanner never takes a running G.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/closure.hpp>
#include "runtime/base/check.hpp"
#include "runtime/base/symbolize.hpp"
#include "sched/context.hpp"
#include "sched/eh_state.hpp"
#include "sched/stack.hpp"

namespace weft::sched {

struct M;
struct P;

enum class GStatus : uint32_t { kIdle, kRunnable, kRunning, kSyscall, kWaiting, kDead };

// Set on top of kRunnable, kWaiting or kSyscall while a scanner reads the
// G's stack (see above).
inline constexpr uint32_t kScanBit = 0x100;
inline GStatus with_scan(GStatus s) { return static_cast<GStatus>(static_cast<uint32_t>(s) | kScanBit); }
inline GStatus without_scan(GStatus s) { return static_cast<GStatus>(static_cast<uint32_t>(s) & ~kScanBit); }
inline bool is_scannable(GStatus s) {
    return s == GStatus::kRunnable || s == GStatus::kWaiting || s == GStatus::kSyscall;
}

enum class WaitReason : uint8_t {
    kNone,
    kChanReceive,
    kChanSend,
    kChanReceiveNilChan,  // recv or range-for on a nil Chan: never woken
    kChanSendNilChan,     // send on a nil Chan: never woken
    kSelect,
    kSelectNoCases,
    kSleep,
    kMutexLock,
    kRWMutexRLock,
    kRWMutexLock,
    kWaitGroupWait,
    kCondWait,
    kSemacquire,
    kOnce,
    kIOWait,
    kTimerWait,
#if defined(WEFT_TEST_HOOKS)
    kTestHook,  // the suites' own parks (tests/support); not in an installed library
#endif
    kGCWorkerIdle,
    kGCWorkerPause,  // the collector fiber between slices of background work
    kGCCollect,
    kGCScanSelf,    // an allocating fiber stopped for an instant while its stack is scanned
    kShutdownAbandoned,  // gave up a stop-the-world because the run is ending
};

// Every wait reason has an index below this (counters per reason).
inline constexpr int kWaitReasons = static_cast<int>(WaitReason::kShutdownAbandoned) + 1;
inline constexpr int kGStatuses = static_cast<int>(GStatus::kDead) + 1;
// Names by index, for the debugger's table (debug_table.hpp).
extern const char* const kStatusNames[kGStatuses];
extern const char* const* const kWaitReasonNames;  // kWaitReasons of them

const char* status_name(GStatus s);
const char* wait_reason_name(WaitReason r);
// The public call that waits for reason r, for misuse messages ("Chan::send").
const char* wait_reason_api(WaitReason r);

struct SourceSite {
    const char* file = "";
    const char* function = "";
    uint32_t line = 0;
    // The file's name without its directories, for dumps and reports.
    const char* file_name() const { return base::file_name_of(file); }
};

struct G {
    // -- identity and state
    uint64_t id = 0;
    std::atomic<GStatus> status{GStatus::kIdle};
    WaitReason wait_reason = WaitReason::kNone;
    // When the G last parked (nanotime), for dumps. Written by the G's own M.
    int64_t wait_since = 0;
    // Set by sysmon or stop-the-world; checked at safe points. Relaxed: a
    // late observation only delays the yield to the next safe point.
    std::atomic<bool> preempt{false};
    // Readied by a timer and not yet run (ReadyAt::kTimer, S6 in proc.cpp).
    // Relaxed: the owner P's M reads it as a hint, the G's next run clears it.
    std::atomic<bool> timer_woken{false};
    // Fibers this G started since it was last scheduled (spawn_check); its
    // own M only.
    uint32_t spawned_since_run = 0;

    // -- execution
    Context ctx;
    EhState eh;  // exception state while switched out (eh_state.hpp)
    Stack stack;
    Closure fn;
    M* m = nullptr;  // the M running it (kRunning/kSyscall), else null
    // Stack pointer recorded by entersyscall (registers spilled below it);
    // 0 when not in a system call. For stack scans of fibers in syscalls.
    uintptr_t syscall_sp = 0;
    void* syscall_fake_stack = nullptr;  // ASan builds: the fake stack then

    // -- links
    G* schedlink = nullptr;  // run queue / free list; owner per status
    // Value handed over by the fiber that readies this one (channel
    // handoffs, select's winning case). Written before ready(), read after
    // the park returns: ordered by the run-queue hand-off.
    void* param = nullptr;
    // Select: set to 1 by the first case to win; others back off.
    std::atomic<uint32_t> select_done{0};

    // -- diagnostics
    SourceSite created_at;
    uint64_t parent_id = 0;
    bool system = false;  // the runtime's own fiber (spawn_system), not the program's

    // -- gc::make constructors in progress on this fiber (gc/make.hpp),
    // which hold back the refill safe point until none is. Here, not in a
    // thread_local: a constructor may park and resume on another thread.
    // Touched only by the fiber itself.
    uint32_t gc_constructing = 0;
    // Destructors the collector's sweep is running on this fiber
    // (gc/poison.hpp DestructorScope): they must not block, yield,
    // allocate GC objects or load Members (call_context.hpp).
    uint32_t in_gc_destructor = 0;
    // -- fiber-local storage (weft::FiberLocal); owned by the running G
    void** locals = nullptr;
    uint32_t nlocals = 0;

    // -- run tracking for the collector (proc.cpp track_run). The M that
    // runs or creates the G writes run_epoch, or, while the G is parked, the
    // waker that writes a value into its stack (a channel hand-off: the
    // waker owns the G until it readies it). tracklink[e & 1] links the
    // list of epoch e; it is owned by that list until the collector has
    // walked it, which it does before it sets epoch e + 2 (so a push in
    // epoch e + 1 never touches a link being walked).
    uint32_t run_epoch = 0;
    G* tracklink[2] = {nullptr, nullptr};

    // -- what the collector found on the stack at its last full scan
    // (gc/stack_scan.cpp). stack_gen counts the times the stack may have
    // changed: track_run bumps it, in every phase, whenever the G is about
    // to run (again) or a waker has written into its parked stack, and so
    // does the slow return from a system call (same writers as run_epoch,
    // one at a time; release, so a scanner that acquires it sees the
    // write). While a parked G's stack_gen still equals scan_gen, its stack
    // holds what that scan saw, and the scan_nwords words that pointed into
    // allocated objects stand for the whole stack. Written by the scanner
    // holding the G's scan bit.
    // The collector's scan pass (gc/stack_scan.hpp S4) in which this G's
    // stack was last scanned; written by the scanner holding its scan bit.
    std::atomic<uint64_t> scanned_pass{0};
    static constexpr uint32_t kScanSummaryWords = 4;
    static constexpr uint32_t kNoScanSummary = ~0u;  // scan_nwords: none (too many, or never taken)
    std::atomic<uint64_t> stack_gen{0};
    uint64_t scan_gen = 0;
    uint32_t scan_nwords = kNoScanSummary;
    uintptr_t scan_words[kScanSummaryWords] = {};
};

// Bumps g->stack_gen (see there), after whatever changed the stack. One
// writer at a time, so no read-modify-write is needed.
inline void note_stack_changed(G* g) {
    g->stack_gen.store(g->stack_gen.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// Changes g's status from `from` to `to`, waiting while a scanner holds the
// scan bit on `from`; fatal if it was anything else.
void cas_status(G* g, GStatus from, GStatus to);

// The owner's transition out of kRunning (see above): debug-checked, then a
// release store (publishes the G's state to whoever next reads the status
// with acquire).
inline void set_status(G* g, GStatus from, GStatus to) {
    WEFT_DCHECK(from == GStatus::kRunning || from == GStatus::kIdle, "set_status: only kRunning is the owner's");
    WEFT_DCHECK(g->status.load(std::memory_order_relaxed) == from, "bad G status transition (owner)");
    (void)from;
    g->status.store(to, std::memory_order_release);
}

// Scanning (see above). try_begin_scan sets the scan bit if g is runnable,
// waiting or in a system call and returns that status in *was; false if g
// is running, dead or already being scanned. end_scan clears the bit.
bool try_begin_scan(G* g, GStatus* was);
void end_scan(G* g, GStatus was);
// As try_begin_scan, by a scanner that runs with the world stopped (mark
// termination, checkmark); false only if g has no stack (dead, never
// used). It retries while g's status changes under the CAS: a fiber back
// from a system call moves from kSyscall to the run queue on its M's g0,
// without a P, which it may do with the world stopped. Fatal if g runs.
bool begin_scan_stopped(G* g, GStatus* was);

}  // namespace weft::sched
