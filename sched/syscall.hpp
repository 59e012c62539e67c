// syscall.hpp — bracketing blocking system calls (as Go's entersyscall /
// exitsyscall).
//
// A fiber about to make a call that may block its thread calls
// entersyscall(); when the call returns, exitsyscall(). In between the
// fiber's M holds no P: the P waits in state kSyscall as the M's oldp, and
// sysmon hands it to another M if the call takes more than ~20 µs (or at
// once when there is runnable work and no idle P), so a blocked call never
// idles a core. exitsyscall re-takes the old P if it is still in kSyscall,
// else any idle P; otherwise the fiber goes to the global run queue and its
// M stops. While the world is stopped, a returning fiber waits: it takes no
// P until start_the_world.
//
// Between the two calls the fiber must not touch the runtime (no channel,
// lock, allocation from the GC heap, write barrier): it has no P.
//
// Call from a fiber only. Use weft::blocking(fn) or the syscall/ wrappers
// rather than these directly.
#pragma once

#include <cstdint>

namespace weft::sched {

void entersyscall();
// As entersyscall, for a call known to block for a while (a sleep, waiting
// for a child): the P is handed off at once instead of after a sysmon round.
void entersyscallblock();
void exitsyscall();

// How system calls and stops of the world met, since the process started
// (counters for stress tests and the weft::testing kit; relaxed, exact once
// the runtime is idle).
struct SyscallStopStats {
    uint64_t syscall_ps_stopped = 0;  // Ps a stop-the-world took from a fiber in a system call
    uint64_t returns_during_stop = 0;  // calls that returned while the world was stopping or stopped
};
SyscallStopStats syscall_stop_stats();

}  // namespace weft::sched
