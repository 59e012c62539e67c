// frames.cpp — see frames.hpp.
#include "runtime/base/frames.hpp"

namespace weft::base {

__attribute__((no_sanitize("address", "thread"))) void walk_frames(uintptr_t pc, uintptr_t fp, const StackRegion* regions, int nregions, Frames& out) {
    if (pc == 0) return;
    out.fp_of[out.n] = 0;
    out.pc[out.n++] = pc;
    int r = 0;
    uintptr_t floor = 0;  // the last frame's address within regions[r]
    while (nregions > 0 && out.n < Frames::kMax) {
        // A frame is two words: the caller's fp, then the return address.
        if (fp % sizeof(uintptr_t) != 0) return;
        if (!regions[r].contains(fp, 2 * sizeof(uintptr_t)) || fp <= floor) {
            // Leaving the first region (the alternate signal stack) is
            // allowed once; the chain must then be inside the next one.
            if (r + 1 >= nregions || !regions[r + 1].contains(fp, 2 * sizeof(uintptr_t))) return;
            r++;
            floor = 0;
        }
        auto* frame = reinterpret_cast<const uintptr_t*>(fp);
        uintptr_t next_fp = frame[0];
        uintptr_t ret = frame[1];
        if (ret == 0) return;
        out.fp_of[out.n] = fp;
        out.pc[out.n++] = ret;
        floor = fp;
        fp = next_fp;
    }
    out.truncated = fp != 0;
}

__attribute__((no_sanitize("address", "thread"))) void walk_interrupted_frames(uintptr_t pc, uintptr_t sp, uintptr_t fp,
                                                                            StackRegion region, Frames& out) {
    out.n = 0;
    out.truncated = false;
    out.first_is_exact = true;
    out.sp = sp;
    out.fp = fp;
    out.ntop = 0;
    while (out.ntop < Frames::kTopWords && region.contains(sp + out.ntop * sizeof(uintptr_t), sizeof(uintptr_t))) {
        out.top[out.ntop] = reinterpret_cast<const uintptr_t*>(sp)[out.ntop];
        out.ntop++;
    }
    walk_frames(pc, fp, &region, region.hi > region.lo ? 1 : 0, out);
}

__attribute__((noinline, no_sanitize("address", "thread"))) void capture_here(StackRegion here, StackRegion next, Frames& out) {
    StackRegion regions[2] = {here, next};
    auto fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    // Start at our caller: its pc is our return address, its fp the one
    // our frame saved.
    if (!here.contains(fp, 2 * sizeof(uintptr_t))) return;
    walk_frames(frame[1], frame[0], regions, next.hi > next.lo ? 2 : 1, out);
}

}  // namespace weft::base
