// checkmark.hpp — gccheckmark=1 (private to gc/; checkmark.cpp).
#pragma once

#include "sched/g.hpp"

namespace weft::gc::detail {

// With the world stopped, after marking finished: re-marks everything
// reachable from the roots (every fiber's stack and closure except self's,
// every Root) into a separate bitmap and fails, naming the object and the
// object it was reached from, if any reachable object is not marked.
void checkmark_verify(sched::G* self);

}  // namespace weft::gc::detail
