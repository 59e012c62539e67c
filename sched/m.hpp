// m.hpp — M, an OS thread that runs fibers.
//
// An M runs the scheduler loop on its own thread stack (g0) and switches
// into one G at a time. Fields are owned by the M's own thread unless noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstddef>
#include <pthread.h>

#include "runtime/base/fastrand.hpp"
#include "runtime/base/note.hpp"
#include "sched/context.hpp"
#include "sched/eh_state.hpp"

namespace weft::sched {

struct CaptureRequest;
struct G;
struct P;

// Each M's alternate signal stack (signals.cpp): fatal signals and the
// backtrace signal run there. They only capture stacks; naming frames runs
// on sysmon or a dump stack of its own, except when no dump stack can be
// mapped, which is what the room is for (committed only if used).
inline constexpr size_t kAltStackSize = 256 * 1024;

// What a G asked its M's g0 to do when it switched to g0 (Go's mcall).
enum class MAction : uint8_t { kNone, kPark, kYield, kPreempted, kExit, kExitSyscall };

// Called on g0 right after a G parked; returning false resumes the G at once.
using ParkUnlockFn = bool (*)(G* g, void* arg);

struct M {
    int64_t id = 0;
    Context g0;                        // the scheduler's context on the thread stack
    // The G running on this M. Stored with release by its M; other threads
    // (sysmon, stop-the-world) load it with acquire before touching the G.
    // The M's own loads, and its store of null, are relaxed: a thread
    // always sees its own writes, and null publishes nothing.
    std::atomic<G*> curg{nullptr};
    P* p = nullptr;                    // the P held; null while idle or in a syscall
    P* nextp = nullptr;                // P handed over by startm (under sched lock)
    P* oldp = nullptr;                 // the P left in syscall state
    bool spinning = false;             // looking for work; counted in Sched::nmspinning
    int locks = 0;                     // >0: no preemption, no park
    bool inwb = false;                 // the collector's write-barrier reentrancy guard
    base::Note park;                   // sleeps here while idle
    M* schedlink = nullptr;            // idle-M list (under sched lock)
    M* alllink = nullptr;              // every M, for teardown and dumps
    base::FastRand rand;
    pthread_t thread{};
    bool is_m0 = false;
    int64_t idle_since = 0;       // when it last went idle (under sched lock)
    bool exit_requested = false;  // sysmon reclaims it (under sched lock)
    void* signal_stack = nullptr;
    int tid = 0;  // the kernel's thread id, for signals aimed at this M
    // A pending request for this M's stack (backtrace.cpp BT1-BT3).
    std::atomic<CaptureRequest*> capture{nullptr};
    // This thread's C++ exception state (eh_state.hpp), looked up once: the
    // lookup goes through __tls_get_addr, and the address is fixed for the
    // thread's life.
    EhState* eh = nullptr;

    // Who the unblocks this M writes to the execution trace are by, when
    // no fiber of its own wakes them (trace.hpp WakeSource; 0: ask curg).
    uint8_t trace_wake = 0;

    // Request from the G that just switched to g0.
    MAction action = MAction::kNone;
    ParkUnlockFn unlockf = nullptr;
    void* unlock_arg = nullptr;
};

}  // namespace weft::sched
