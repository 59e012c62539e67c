// rss.hpp — the process's resident memory, for the workloads' figures.
//
// Linux only. Callable from any thread or fiber; each call reads the kernel's
// accounting afresh (a syscall or a small /proc read), so keep it out of hot
// loops.
#pragma once

#include <cstdint>

namespace ex {

// Peak resident set size so far, in KiB: getrusage's ru_maxrss (the
// kernel's high-water mark, VmHWM in /proc/self/status), or the current RSS
// if that is higher (the mark is updated lazily).
int64_t peak_rss_kb();

// Resident set size now, in bytes (/proc/self/statm's resident pages times
// the page size). Returns -1 if /proc is not readable.
int64_t current_rss_bytes();

}  // namespace ex
