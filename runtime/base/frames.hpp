// frames.hpp — call stacks as return addresses: what a walk captures.
//
// A capture records where a stack stopped (pc, sp, rbp), a copy of the
// stack above sp (StackCopy, up to 64 KiB), and the frame-pointer chain
// from rbp. Naming the frames later (symbolize.hpp) unwinds the copy by
// the unwind tables (.eh_frame), which every frame has, frame pointer or
// not, and follows the chain only past the end of the copy, where frames
// built with frame pointers can still be found.
//
// Capturing is async-signal-safe and safe on a stack that changes under it
// (another thread's, a fiber resumed meanwhile): it allocates nothing,
// takes no lock, and reads memory only inside the stack region it is
// given, the chain with each frame strictly above the last. A stale or
// broken stack therefore yields a short or wrong list, never a fault.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::base {

// [lo, hi): memory a capture may read.
struct StackRegion {
    uintptr_t lo = 0, hi = 0;
    bool contains(uintptr_t a, size_t n) const { return a >= lo && a + n <= hi && a + n > a; }
};

// The words of a stack from sp upwards.
struct StackCopy {
    static constexpr size_t kWords = 8192;  // 64 KiB
    uintptr_t sp = 0;  // the address words[0] was copied from
    size_t nwords = 0;
    uintptr_t words[kWords];

    bool word_at(uintptr_t addr, uintptr_t* v) const {
        if (addr < sp || addr % sizeof(uintptr_t) != 0) return false;
        uintptr_t i = (addr - sp) / sizeof(uintptr_t);
        if (i >= nwords) return false;
        *v = words[i];
        return true;
    }
};

struct Frames {
    static constexpr int kMax = 64;
    uintptr_t pc[kMax];
    // For i >= 1, the frame pointer pc[i] was read above (pc[i] is the
    // word at fp_of[i] + 8); 0 for frames found otherwise.
    uintptr_t fp_of[kMax];
    int n = 0;
    // pc[0] is where the code was interrupted (a signal's context), not a
    // return address: looked up as is rather than as the call before it.
    bool first_is_exact = false;
    bool truncated = false;  // more frames than were found
    // Where the walk started, and the stack above sp (null: none taken).
    uintptr_t sp = 0, fp = 0;
    const StackCopy* copy = nullptr;
};

// Appends pc, then the return address of each frame of the fp chain from
// fp outwards, inside `region`.
void walk_frames(uintptr_t pc, uintptr_t fp, StackRegion region, Frames& out);

// A capture (above) of a stack stopped at (pc, sp, fp) inside `region`;
// `exact`: pc is the interrupted instruction, not a return address.
// `copy` may be null (no copy: the chain alone).
void capture(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool exact, StackRegion region, StackCopy* copy, Frames& out);

// A capture of the caller's own stack, from its caller outwards; `region`
// is the stack the caller runs on.
void capture_here(StackRegion region, StackCopy* copy, Frames& out);

}  // namespace weft::base
