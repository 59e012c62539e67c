// phase.hpp — the collector's phase, readable anywhere (weft::gc::detail).
//
//   GCoff -> GCscan -> GCmark -> GCmarktermination -> GCsweep -> GCoff
//
// Each switch is made with the world stopped (collector.cpp), so every M
// sees the new phase (and barrier flag) before it runs a fiber again.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::gc::detail {

struct Span;

enum class Phase : uint8_t { kOff, kScan, kMark, kMarkTermination, kSweep };

// Relaxed loads: written only with the world stopped (see above).
extern std::atomic<Phase> g_phase;

inline Phase phase() { return g_phase.load(std::memory_order_relaxed); }
inline bool phase_is_marking() {
    Phase p = phase();
    return p == Phase::kMark || p == Phase::kMarkTermination;
}
const char* phase_name(Phase p);

// Allocate-black (mark.cpp): sets the new object's mark bit and counts it
// on the allocating P's work. The allocation fast path inlines it
// (mark.hpp, mark_new_object with the P's GCWork).
void mark_new_object(Span* s, uintptr_t slot);

}  // namespace weft::gc::detail
