// context.hpp — saved execution contexts and the one switch primitive.
//
// The only file that includes Boost.Context (its fcontext layer: a saved
// context is the stack pointer of a suspended stack, valid for exactly one
// resume). Every switch goes through switch_to(), which also tells ASan and
// TSan about the change of stack so both sanitizers follow fibers as they
// migrate between threads.
//
// Protocol of one switch from A to B:
//   1. A announces the switch to the sanitizers (ASan: B's stack bounds and
//      where to keep A's fake stack; TSan: B's fiber handle).
//   2. A jumps; Boost spills A's callee-saved registers onto A's stack and
//      returns in B, handing B a pointer to A's Context.
//   3. B stores A's new stack pointer into A's Context (A can now be resumed
//      by anyone who owns it) and finishes the sanitizer switch.
// Step 3 runs on B's stack, so A's Context is written only after A has
// stopped executing: nobody can resume A before it is fully suspended.
#pragma once

#include <cstddef>

namespace weft::sched {

struct Context {
    Context() = default;
    Context(const Context&) = delete;  // a saved context resumes once: no copies
    Context& operator=(const Context&) = delete;

    void* fctx = nullptr;  // suspended stack pointer; null while running
    // Stack bounds of this context (for ASan); the thread stack for a g0.
    const void* stack_lo = nullptr;
    size_t stack_size = 0;
    void* asan_fake_stack = nullptr;  // ASan fake-stack save slot
    void* tsan_fiber = nullptr;       // TSan fiber handle
    void (*entry)() = nullptr;        // run at the first resume
};

using ContextEntry = void (*)();

// Prepares `c` to start `entry` on the stack [lo, lo + size) at its first
// resume. `entry` must never return: it ends by switching away for good.
void context_make(Context& c, void* lo, size_t size, ContextEntry entry);

// Suspends the caller into `from` and resumes `to`. Returns when someone
// resumes `from`. `from_dying`: the caller's stack is being abandoned.
void switch_to(Context& from, Context& to, bool from_dying = false);

// Runs fn(arg) on the stack [lo, lo + size) and returns on the caller's
// stack: for work that needs more stack than the caller may have left (the
// fatal dump on a fiber's small stack). fn must not switch fibers or throw.
void run_on_stack(void* lo, size_t size, void (*fn)(void*), void* arg);

// For a thread's own context (a g0): records its stack bounds and TSan fiber.
void context_init_thread(Context& c);

// TSan fiber handles for fiber contexts; no-ops without TSan.
void context_create_fiber(Context& c);
void context_destroy_fiber(Context& c);

}  // namespace weft::sched
