// frames.cpp — see frames.hpp.
#include "runtime/base/frames.hpp"

namespace weft::base {

// no_sanitize: reads other fibers' and threads' stacks while they may
// change, by design (frames.hpp).
__attribute__((no_sanitize("address", "thread"))) void walk_frames(uintptr_t pc, uintptr_t fp, StackRegion region,
                                                                   Frames& out) {
    if (pc == 0 || out.n >= Frames::kMax) return;
    out.fp_of[out.n] = 0;
    out.pc[out.n++] = pc;
    uintptr_t floor = 0;  // the last frame's address
    while (out.n < Frames::kMax) {
        // A frame is two words: the caller's fp, then the return address.
        if (fp % sizeof(uintptr_t) != 0 || !region.contains(fp, 2 * sizeof(uintptr_t)) || fp <= floor) return;
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

__attribute__((no_sanitize("address", "thread"))) void capture(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool exact,
                                                               StackRegion region, StackCopy* copy, Frames& out) {
    out.n = 0;
    out.truncated = false;
    out.first_is_exact = exact;
    out.sp = sp;
    out.fp = fp;
    out.copy = copy;
    if (copy) {
        // From sp, or from the region's bottom when sp is below it (a
        // stack overflow), up to the region's top or the copy's size.
        uintptr_t from = sp < region.lo ? region.lo : sp;
        from &= ~(sizeof(uintptr_t) - 1);
        copy->sp = from;
        copy->nwords = 0;
        while (copy->nwords < StackCopy::kWords && region.contains(from + copy->nwords * sizeof(uintptr_t), sizeof(uintptr_t))) {
            copy->words[copy->nwords] = reinterpret_cast<const uintptr_t*>(from)[copy->nwords];
            copy->nwords++;
        }
    }
    walk_frames(pc, fp, region, out);
}

__attribute__((noinline, no_sanitize("address", "thread"))) void capture_here(StackRegion region, StackCopy* copy,
                                                                              Frames& out) {
    // This function has a frame pointer (it asks for its frame address):
    // its caller resumes at our return address with sp just above our
    // frame and rbp as our frame saved it.
    auto self = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (!region.contains(self, 2 * sizeof(uintptr_t))) {
        out.n = 0;
        return;
    }
    auto* frame = reinterpret_cast<const uintptr_t*>(self);
    capture(frame[1], self + 2 * sizeof(uintptr_t), frame[0], false, region, copy, out);
}

}  // namespace weft::base
