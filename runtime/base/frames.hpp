// frames.hpp — call stacks as return addresses, by frame-pointer walk.
//
// libweft is built with -fno-omit-frame-pointer, and so is code built with
// its pkg-config flags or its meson dependency: every such frame starts
// with the caller's frame pointer and, above it, the return address. A
// walk follows that chain from a (pc, fp) pair.
//
// The walk is async-signal-safe and safe on a stack that changes under it
// (another thread's, a fiber resumed meanwhile): it allocates nothing, takes
// no lock, and reads memory only inside the stack regions it is given, with
// each frame strictly above the last within a region. A stale or broken
// chain therefore ends the walk early or yields wrong frames, never a
// fault. Frames of code built without frame pointers (glibc, libstdc++'s
// compiled parts, a user's -O2 build that overrides the flag) may be
// skipped, or may end the walk there.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::base {

struct Frames {
    static constexpr int kMax = 64;
    uintptr_t pc[kMax];
    // For i >= 1, the frame pointer pc[i] was read above (pc[i] is the
    // word at fp[i] + 8); 0 for frames found otherwise.
    uintptr_t fp_of[kMax];
    int n = 0;
    // pc[0] is where the code was interrupted (a signal's context), not a
    // return address: symbolized as is rather than as the call before it.
    bool first_is_exact = false;
    bool truncated = false;  // more than kMax frames
    // With first_is_exact: the interrupted sp and fp, and the words above
    // sp. Code at pc[0] that has not set up its frame (a prologue, an
    // epilogue, a function built without frame pointers, as glibc's) keeps
    // its callers' return addresses among these words, out of the fp
    // chain's sight; symbolize.hpp's fix_interrupted_frames recovers them
    // from the unwind tables.
    static constexpr int kTopWords = 384;
    uintptr_t sp = 0, fp = 0;
    uintptr_t top[kTopWords] = {};
    int ntop = 0;
};

// [lo, hi): memory the walk may read.
struct StackRegion {
    uintptr_t lo = 0, hi = 0;
    bool contains(uintptr_t a, size_t n) const { return a >= lo && a + n <= hi && a + n > a; }
};

// Appends pc, then the return address of each frame from fp outwards. The
// chain may leave regions[0] for regions[1] once (a signal handler's frames
// on the alternate stack lead back to the interrupted stack).
void walk_frames(uintptr_t pc, uintptr_t fp, const StackRegion* regions, int nregions, Frames& out);

// For an interrupted context: records sp and the words above it (inside
// `region`), then walks from (pc, fp). Sets first_is_exact.
void walk_interrupted_frames(uintptr_t pc, uintptr_t sp, uintptr_t fp, StackRegion region, Frames& out);

// The caller's own stack, from its caller outwards; `here` is the region
// the calling thread runs on, `next` where its chain may continue (or an
// empty region).
void capture_here(StackRegion here, StackRegion next, Frames& out);

}  // namespace weft::base
