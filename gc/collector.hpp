// collector.hpp — the collector's driver, private to gc/ (collector.cpp).
#pragma once

#include <atomic>
#include <cstdint>

#include "gc/heap.hpp"

namespace weft::gc::detail {

// Allocation slow path bookkeeping (from a fiber holding c's P): counts
// `bytes` of new capacity, pays mark-assist debt while marking, and starts
// a cycle when the heap reached its trigger.
void after_refill(MCache* c, int64_t bytes);

// Free pages idle this long are returned to the OS by the periodic
// scavenger (default 2 s; tests lower it).
extern std::atomic<int64_t> g_scavenge_idle_ns;

// Reads WEFT_GOGC and the collector's WEFT_DEBUG settings and throws
// std::invalid_argument on a bad value: weft::run calls it before anything
// starts, so the error leaves nothing half started (the collector reads
// them again when the run starts).
void check_config();

// Installs the scheduler hooks (runtime/run.cpp, before each run).
void install_hooks();

}  // namespace weft::gc::detail
