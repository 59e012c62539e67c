// weft.hpp — the one header users include.
//
// weft gives C++ Go's concurrency: fibers scheduled M:N over OS threads,
// channels and select, sync primitives and timers. See README.md.
#pragma once

#include "gc/gc.hpp"
#include "runtime/chan.hpp"
#include "runtime/fiber_local.hpp"
#include "runtime/run.hpp"
#include "runtime/select.hpp"
#include "runtime/sync.hpp"
#include "runtime/time.hpp"
