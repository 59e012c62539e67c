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

// The running fiber's fiber-local slots (weft::FiberLocal).
void** fiber_local_slot(uint32_t key);
uint32_t fiber_local_key_alloc(void (*destroy)(void*));

}  // namespace weft::sched
