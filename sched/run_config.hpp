// run_config.hpp — settings of one runtime lifetime (weft::run).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sched/stack.hpp"

namespace weft::sched {

struct RunConfig {
    int32_t procs = 0;                      // Ps; 0: online cores
    size_t stack_size = kDefaultStackSize;  // bytes per fiber stack
    StackGuardMode guard = StackGuardMode::kAuto;
    int64_t preempt_after_ns = 10'000'000;  // sysmon's time slice
    // Guarded stacks allowed before degrading to canary stacks; < 0: half
    // of vm.max_map_count less a reserve. Tests lower it.
    int64_t guard_budget = -1;
    // At most this many Ms (OS threads running fibers, including ones
    // blocked in system calls). Past it, a P whose M blocks is not handed
    // to a new thread: other fibers wait for a call to return. Reported
    // once. WEFT_MAXTHREADS; Go's default is 10000.
    int32_t max_threads = 10000;
    // An M idle for this long is ended when more Ms than Ps are idle.
    int64_t idle_m_timeout_ns = 10'000'000'000;
    // WEFT_DEBUG=syscallstress=1: random delays and yields at exitsyscall
    // and around stops of the world (syscall.cpp, stw.cpp), to widen the
    // windows in which a returning fiber meets a phase switch.
    bool syscall_stress = false;
    // WEFT_DEBUG=schedtrace=MS: sysmon writes a summary of the scheduler
    // to stderr every MS ms (sysmon.cpp, as Go's GODEBUG=schedtrace); 0 off.
    int64_t schedtrace_ns = 0;
    // WEFT_DEBUG=scheddetail=1: each schedtrace line is followed by one
    // line per P, per M and per fiber (as Go's scheddetail).
    bool scheddetail = false;
    // The stall detector (stall.cpp): a fiber that has run this long (CPU
    // time of its thread) without a safe point is reported. 0: off.
    // Options::stall_threshold, else WEFT_DEBUG=stalldetect=MS.
    int64_t stall_ns = 500'000'000;
    // The rate limit: at most stall_reports_max reports per window.
    int64_t stall_window_ns = 60'000'000'000;
    int32_t stall_reports_max = 5;
    // WEFT_DEBUG=leakcheck=1: at the end of the run, list the fibers still
    // alive (leakcheck.cpp), as Go's goleak does for a test.
    bool leakcheck = false;
};

}  // namespace weft::sched
