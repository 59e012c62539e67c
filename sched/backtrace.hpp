// backtrace.hpp — the stack of any fiber, captured (frames.hpp).
//
// A parked fiber (runnable, waiting) is captured from the context its
// switch saved; the calling fiber from its own frame; a fiber running, or
// in a system call, on another M on that M's own thread: the caller
// signals the M (SIGURG, as Go's preemption signal) and the handler
// captures from the interrupted registers. All of it is async-signal-safe
// (no allocation, no lock); a capture raced by the fiber moving on is
// detected and said so, never a fault. `copy` (may be null) receives the
// stack's top for unwinding by the tables when the frames are named.
#pragma once

#include <cstdint>

#include "runtime/base/frames.hpp"

namespace weft::sched {

struct G;
struct M;

// A parked fiber's first frame: Boost.Context's jump_fcontext (x86-64
// System V) leaves, at the saved stack pointer, 0x38 bytes of saved state
// (control words, r12-r15, rbx, then rbp at +0x30) below the return
// address into its caller, switch_to, at +0x38.
inline constexpr uint32_t kSavedFpOffset = 0x30, kSavedPcOffset = 0x38;

enum class WalkResult {
    kOk,
    kNoStack,      // never ran, or dead
    kMoved,        // the fiber ran (or stopped) while it was being walked
    kNoAnswer,     // its M did not answer the signal in time
    kNotWalkable,  // running on a thread the runtime cannot signal
};
const char* walk_result_text(WalkResult r);

// g's stack, innermost first. `timeout_ns` bounds the wait for another M's
// signal handler. *on_m: the M g was found running on (-1 if parked).
WalkResult fiber_backtrace(G* g, base::Frames& out, base::StackCopy* copy, int64_t timeout_ns, int64_t* on_m);

// The stack of whatever m's thread is running now (a fiber or the
// scheduler), walked on that thread. *g_out: the fiber it was running, if
// any. For the stall detector and stop-the-world reports.
WalkResult m_backtrace(M* m, base::Frames& out, base::StackCopy* copy, int64_t timeout_ns, G** g_out);

// A fatal signal's handler records the interrupted context here before it
// dumps, so that the dying thread's own fiber is captured from the exact
// point of the fault rather than from the handler's frames.
void note_fatal_signal_context(void* ucontext);

// Installs the capture signal's handler (signals_install calls it).
void backtrace_install();
void backtrace_restore();

}  // namespace weft::sched
