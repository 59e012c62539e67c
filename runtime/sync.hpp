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
// states its contract. Contexts, for all of them:
//  - in a fiber: everything;
//  - on a plain thread while run() is active: what does not block. An
//    unlock, release, done() or signal that wakes a fiber queues it on the
//    runtime; if every fiber may be waiting for that thread, it must hold
//    a weft::Spawner (run.hpp) or the runtime may report a deadlock first.
//    A call that would block there is fatal, naming it;
//  - inside weft::blocking: nothing that blocks or wakes a fiber (fatal,
//    naming the call and the rule); an uncontended try_lock or unlock is
//    not checked;
//  - in a destructor run by the collector: nothing that blocks (fatal).
#pragma once

#include <weft/sync/cond.hpp>
#include <weft/sync/mutex.hpp>
#include <weft/sync/once.hpp>
#include <weft/sync/rwmutex.hpp>
#include <weft/sync/semaphore.hpp>
#include <weft/sync/waitgroup.hpp>
