// stack.hpp — fiber stacks.
//
// A stack is a fixed-size region of anonymous memory, committed lazily by
// the kernel as the fiber touches it, so a parked fiber costs the pages it
// used, not its size. Default size kDefaultStackSize (WEFT_STACK_SIZE or
// Options::stack_size change it).
//
// Two kinds (invariant: a stack's kind never changes):
//  - guarded: a PROT_NONE page below it; running off the end faults on
//    that page and the SIGSEGV handler reports "fiber stack overflow (G n)".
//    Costs two kernel VMAs. (Not Linux 6.13's MADV_GUARD_INSTALL guard
//    regions, which cost none: a debugger's reads of the mapping fail on
//    them, so gdb's gcore leaves every fiber stack out of the core.)
//  - canary: one of a batch mapped back to back (one VMA for many stacks).
//    Its lowest kCanaryBytes must stay zero; they are checked each time the
//    fiber switches out. The canary is never written: fresh anonymous
//    memory is zero, and reading an untouched page maps the kernel's shared
//    zero page, so the check commits no memory (writing a magic word would
//    cost every fiber a second resident page). A fiber that really uses its
//    stack down to the last 64 bytes is reported as overflowing too.
//    Detection is after the fact and best effort.
// The kernel's vm.max_map_count (65530 by default) caps VMAs per process, so
// guarded stacks are used until about half of that budget is spent; past it
// new stacks are canary stacks (mode "auto", the default). WEFT_STACK_GUARD=
// always|never forces one kind ("always" fails with a clear error instead of
// degrading).
//
// A G holds a stack only from its first run to its exit; free stacks wait
// in per-P caches and a global list (proc.cpp) and are unmapped only when
// the runtime stops. New stacks are made in batches that fill half of a P's
// cache (stack_alloc_batch).
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::sched {

inline constexpr size_t kDefaultStackSize = 256 * 1024;
inline constexpr size_t kMinStackSize = 16 * 1024;
inline constexpr size_t kCanaryWords = 8;  // 64 bytes

enum class StackGuardMode { kAuto, kAlways, kNever };

struct Stack {
    void* lo = nullptr;  // lowest usable address
    size_t size = 0;     // usable bytes
    bool guarded = false;

    bool contains(const void* p) const {
        auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(lo);
        return a >= b && a < b + size;
    }
    // Whether p lies in this stack's guard page.
    bool in_guard(const void* p) const;
    bool canary_intact() const {
        if (guarded) return true;
        const auto* w = static_cast<const uint64_t*>(lo);
        uint64_t any = 0;
        for (size_t i = 0; i < kCanaryWords; i++) any |= w[i];
        return any == 0;
    }
};

// Configures the allocator for one runtime lifetime. Called by run().
// budget < 0: derive the guarded-stack budget from vm.max_map_count.
void stack_init(size_t size, StackGuardMode mode, int64_t budget = -1);
// Makes up to n (>= 1) new stacks into out[] and returns how many: fewer
// than n only where the guarded-stack budget runs out inside the batch.
// One mapping per batch, so a P that runs out of free stacks pays one mmap
// (and, guarded, one mprotect per stack) for the next several fibers
// rather than a system call pair and a contended lock for each. Fatal when
// the OS refuses memory.
int stack_alloc_batch(Stack* out, int n);
// Unmaps every stack handed out since stack_init (runtime teardown).
void stack_release_all();

struct StackStats {
    int64_t guarded = 0;
    int64_t canary = 0;
    size_t size = 0;
};
StackStats stack_stats();

}  // namespace weft::sched
