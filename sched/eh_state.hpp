// eh_state.hpp — the C++ runtime's exception state, carried per fiber.
//
// libstdc++ (and libc++abi) keep the stack of caught exceptions and the
// uncaught-exception count per OS thread (__cxa_get_globals). A fiber that
// blocks inside a catch block, or during unwinding, and resumes on another
// thread would otherwise see that thread's state: `throw;` rethrowing the
// wrong exception (or terminating), std::uncaught_exceptions() wrong, and
// the catch's end popping another fiber's exception.
//
// So the state travels with the fiber: when an M switches into a G it
// installs the G's saved state on the thread, and when the G switches back
// it saves the thread's state into the G and clears the thread's (g0 never
// runs inside a catch). Both happen on g0 of one M, on one thread; each M
// looks the thread's pointer up once when it starts (M::eh).
#pragma once

#include <cxxabi.h>

namespace weft::sched {

// Mirrors the layout of __cxa_eh_globals (Itanium C++ ABI, non-ARM-EHABI):
// the caught-exceptions stack head and the uncaught count.
struct EhState {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};

inline EhState* thread_eh_state() { return reinterpret_cast<EhState*>(abi::__cxa_get_globals()); }

}  // namespace weft::sched
