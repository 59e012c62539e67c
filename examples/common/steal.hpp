// steal.hpp — CPU time the hypervisor took from this machine (Linux).
//
// On a virtual machine the host may deschedule a vCPU for milliseconds
// while the guest believes its thread is running: a mutator operation or
// a stop-the-world pause then lasts that long with no cause in the
// program. The GC workloads report the steal that happened during their
// measured window, so a reader can tell such a stall from the runtime's.
#pragma once

#include <cstdint>

namespace ex {

// Steal time summed over every CPU since boot, in nanoseconds: /proc/stat's
// "cpu" line, eighth value, in clock ticks (USER_HZ). Machine-wide, not
// this process's alone; -1 if /proc/stat cannot be read or parsed.
int64_t host_steal_ns();

// The steal of a measured window, as Stopwatch its time: starts when made.
class StealWindow {
public:
    StealWindow() : start_ns_(host_steal_ns()) {}
    // Steal since construction, in ms; -1 if /proc/stat could not be read.
    double elapsed_ms() const;

private:
    int64_t start_ns_;
};

}  // namespace ex
