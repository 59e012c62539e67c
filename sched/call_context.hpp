// call_context.hpp — where a runtime call is made from, and the fatal error
// for a call made where it must not be.
//
// The public API's calls each allow some of these contexts (their headers
// say which); a call made in another is a misuse, fatal with one message
// that names the call and the rule:
//
//   context          what it is                              how it is told
//   -------          ----------                              --------------
//   kFiber           a fiber holding its P                   M, P and curg set
//   kBlocking        a fiber inside weft::blocking (or a     curg set, no P: its
//                    weft::sys call): no P, must not use     M gave it up in
//                    the runtime (syscall/blocking.hpp)      entersyscall
//   kGcDestructor    a fiber running a destructor called     G::in_gc_destructor
//                    by the collector's sweep (gc/gc.hpp)
//   kScheduler       an M's g0: timer callbacks, the         M set, no curg
//                    scheduler's own code
//   kPlainThread     a thread that is not an M               no M; runtime_running
//   kNoRun           any thread while no weft::run is        no M, no run
//                    active
#pragma once

#include <cstdint>

namespace weft::sched {

enum class CallContext : uint8_t { kFiber, kBlocking, kGcDestructor, kScheduler, kPlainThread, kNoRun };

CallContext call_context();

// "fatal error: <api> called <context's phrase>: <the context's rule>".
[[noreturn]] void misuse(const char* api, CallContext where);

// For calls that may block the fiber or yield: fatal in every context but
// kFiber. Also the entry preemption point (preempt_check).
void require_fiber(const char* api);

// For calls that do not block but may wake or start a fiber, or touch
// per-fiber state: fatal inside weft::blocking and off the runtime (plain
// threads, no run); allowed in fibers, collector-run destructors and g0.
void require_runtime_thread(const char* api);

}  // namespace weft::sched
