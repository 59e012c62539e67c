// entry.hpp — the scheduler calls the public headers make inline (the
// preemption check at every blocking entry, fiber-local slots). Part of the
// internal layer users' builds see (docs/DESIGN.md, "The public tier"):
// declarations only, nothing of G, M or P.
#pragma once

#include <cstdint>

namespace weft::sched {

// Yields if sysmon or stop-the-world asked this fiber to (not inside a
// destructor run by the collector, which must not yield). Fatal, naming
// `api`, inside weft::blocking (call_context.hpp): every blocking
// operation's entry is one.
void preempt_check(const char* api = "a weft runtime call");
// After a spawn (weft::go): yields as preempt_check does, and also when the
// P's run queue is full and this fiber has started a ring's worth since it
// last ran, so a fiber spawning faster than fibers run stops piling up Gs
// (each one held until it runs) and lets them drain.
void spawn_check();

// The running fiber's fiber-local slots (weft::FiberLocal).
void** fiber_local_slot(uint32_t key);
uint32_t fiber_local_key_alloc(void (*destroy)(void*));

}  // namespace weft::sched
