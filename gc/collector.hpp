// collector.hpp — the collector's driver, private to gc/ (collector.cpp).
#pragma once

#include <cstdint>

#include "gc/heap.hpp"

namespace weft::gc::detail {

// Allocation slow path bookkeeping (from a fiber holding c's P): counts
// `bytes` of new capacity, pays mark-assist debt while marking, and starts
// a cycle when the heap reached its trigger.
void after_refill(MCache* c, int64_t bytes);

// Installs the scheduler hooks (runtime/run.cpp, before each run).
void install_hooks();

}  // namespace weft::gc::detail
