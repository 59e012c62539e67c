// sync.hpp — the sync primitives for fibers, in one include (Go's sync
// package, plus x/sync's weighted semaphore).
//
//   weft::Mutex      mutual exclusion (normal and starvation modes)
//   weft::RWMutex    readers/writer lock with writer preference
//   weft::WaitGroup  wait for a set of fibers to finish
//   weft::Once       run an initialiser exactly once
//   weft::Cond       condition variable over a weft::Mutex
//   weft::Semaphore  weighted FIFO semaphore
//
// All block by parking the calling fiber, never its thread; each header
// states its contract.
#pragma once

#include "runtime/sync/cond.hpp"
#include "runtime/sync/mutex.hpp"
#include "runtime/sync/once.hpp"
#include "runtime/sync/rwmutex.hpp"
#include "runtime/sync/semaphore.hpp"
#include "runtime/sync/waitgroup.hpp"
