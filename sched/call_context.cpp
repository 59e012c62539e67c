// call_context.cpp — telling the caller's context apart, and the messages
// for calls made in the wrong one (call_context.hpp).
//
// Every check reads the calling thread's M and, through it, the P and the
// running G: the same loads the calls make anyway, so a check costs a
// call and no shared memory traffic.
#include "sched/call_context.hpp"

#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"

namespace weft::sched {

CallContext call_context() {
    M* m = getm();
    if (m == nullptr) return runtime_running() ? CallContext::kPlainThread : CallContext::kNoRun;
    G* g = m->curg.load(std::memory_order_relaxed);  // this M's own
    if (g == nullptr) return CallContext::kScheduler;
    if (m->p == nullptr) return CallContext::kBlocking;
    if (g->in_gc_destructor != 0) return CallContext::kGcDestructor;
    return CallContext::kFiber;
}

void misuse(const char* api, CallContext where) {
    switch (where) {
        case CallContext::kBlocking:
            base::fatal("%s called inside weft::blocking: the function given to weft::blocking runs without a P "
                        "and must not use the runtime; call it before or after (syscall/blocking.hpp)",
                        api);
        case CallContext::kGcDestructor:
            base::fatal("%s called in a destructor run by the collector: such a destructor must not block, "
                        "yield, allocate GC objects or collect (gc/gc.hpp)",
                        api);
        case CallContext::kScheduler:
            base::fatal("%s called on the scheduler's own stack, not in a fiber", api);
        case CallContext::kPlainThread:
            base::fatal("%s called on a plain thread, not in a fiber: it needs a fiber (a plain thread may start "
                        "one with weft::Spawner)",
                        api);
        case CallContext::kNoRun:
            base::fatal("%s called while no weft::run is active: call it from a fiber inside weft::run", api);
        case CallContext::kFiber: break;
    }
    base::fatal("%s: misuse reported in a context that allows it", api);
}

void require_fiber(const char* api) {
    // call_context()'s test, on the loads the preemption check needs anyway
    // (every net read and write passes here).
    // Relaxed: curg is this M's own store; a late preempt flag only delays
    // the yield to the next safe point (G::preempt).
    M* m = getm();
    G* g = m != nullptr ? m->curg.load(std::memory_order_relaxed) : nullptr;
    if (!may_park(m, g)) [[unlikely]]
        misuse(api, call_context());
    if (g->preempt.load(std::memory_order_relaxed)) gosched();
}

void require_runtime_thread(const char* api) {
    CallContext c = call_context();
    if (c == CallContext::kBlocking || c == CallContext::kPlainThread || c == CallContext::kNoRun) [[unlikely]]
        misuse(api, c);
}

}  // namespace weft::sched
