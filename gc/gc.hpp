// gc.hpp — the garbage collector's public API (one include: weft.hpp pulls
// it in).
//
//   struct Node {
//       gc::Member<Node> left, right;
//       void trace(gc::Visitor& v) const { v.visit(left); v.visit(right); }
//   };
//   Node* n = gc::make<Node>();        // in a fiber
//   n->left = gc::make<Node>();        // barriered store
//
// Containers with traced storage and barriered stores: gc::Vector<T> (Go's
// []*T, vector.hpp) and gc::HashMap<K, V> (map[K]*V, hash_map.hpp).
//
// What keeps an object alive: a pointer anywhere on a fiber's stack (the
// stacks are scanned conservatively), a Member in a live GC object, a
// gc::Root, a value in a channel buffer, a capture of a closure passed to
// weft::go() or to a timer. Nothing else: a pointer in malloc'd memory or a
// global is invisible unless it is a Root.
//
// Rules for types:
//   - references to GC objects are gc::Member fields, reported by trace();
//     a type without trace() is allocated "no-scan" and must hold none;
//   - alignof(T) <= 8;
//   - the destructor runs when the collector frees the object (on some
//     fiber's thread, at an unspecified time after it became unreachable);
//     it must not touch other GC objects (they may be gone already), must
//     not allocate GC objects and must not block. Blocking, yielding,
//     gc::make and gc::collect inside such a destructor are fatal, naming
//     the call; debug builds make a Member load there fatal too.
//
// Constructors may block (lock a weft::Mutex, sleep, use a channel, call
// weft::blocking); the fiber may resume on another thread. Meanwhile
// other fibers run and a cycle may start: the object is reachable from
// the constructing fiber's stack, so the collector marks it and calls its
// trace() on the object as it stands, with the fields constructed so far
// and zero bytes in the others (make zeroes the memory first). So:
//   - trace() must be correct on zeroed fields. Member, gc::Vector and
//     gc::HashMap are (zero is null, empty);
//   - block in the constructor's body, after every traced field is
//     initialized: from the first block on, the collector may trace the
//     object while the constructor goes on, as it traces any object while
//     fibers store into its Members, and a field initialized after that
//     (a member initializer that blocks, then later ones) is written
//     while a marker may read it.
// gc::make never yields inside a constructor by itself: a make nested in
// another's constructor leaves its safe point to the outermost make.
//
// Environment: WEFT_GOGC=<percent>|off (default 100: the next cycle starts
// so the heap ends near live x 2); WEFT_DEBUG=gctrace=1 (a line per cycle
// on stderr), gccheckmark=1 (verify the marking with the world stopped),
// gcstoptheworld=1 (whole cycles with the world stopped), gcpoison=1
// (freed objects filled; a later load through a Member is fatal; spans are
// not returned to the page heap then, so small objects stay checkable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <weft/gc/hash_map.hpp>
#include <weft/gc/make.hpp>
#include <weft/gc/member.hpp>
#include <weft/gc/root.hpp>
#include <weft/gc/vector.hpp>
#include <weft/gc/visitor.hpp>

namespace weft::gc {

// Runs a full collection (scan, mark, sweep with destructors) and returns
// when it is done. From a fiber. If a cycle is in progress, waits for it
// and runs another.
void collect();

struct Stats {
    uint64_t cycles = 0;             // completed collections
    int64_t heap_live_bytes = 0;     // marked at the last cycle + allocated since
    int64_t heap_marked_bytes = 0;   // live after the last cycle
    int64_t heap_goal_bytes = 0;     // where the current/next cycle aims to end
    uint64_t total_alloc_bytes = 0;  // since the process started (approximate)
    uint64_t total_freed_bytes = 0;
    uint64_t objects_freed = 0;
    // Every stop-the-world the collector made. A pause runs from the stop
    // request to the start (sched::start_the_world's return value, as Go
    // measures it): it includes waiting for running fibers to reach a safe
    // point, not the OS running a woken idle M in the collector's place.
    uint64_t stw_pauses = 0;
    int64_t max_pause_ns = 0;
    int64_t total_pause_ns = 0;
    // Pauses by duration: <10us, <50us, <100us, <250us, <500us, <1ms, <2ms, <5ms, <10ms, >=10ms.
    uint64_t pause_histogram[10] = {};
    int64_t assist_ns = 0;           // time fibers spent in mark assists
    int64_t worker_ns = 0;           // time the collector fiber spent marking
    // Time Ps with nothing to run spent marking and scanning stacks for the
    // collector (idle-priority work). worker_ns + assist_ns + idle_mark_ns
    // is the collector's CPU time outside its pauses.
    int64_t idle_mark_ns = 0;
    int64_t heap_mapped_bytes = 0;   // pages the heap holds from the OS
    int64_t heap_released_bytes = 0; // pages returned to the OS (scavenged)
    // Fibers whose stacks were re-scanned because they ran during marking:
    // concurrently before mark termination, and in its pause (the pause's
    // share stays small however many fibers a cycle sees start or run).
    uint64_t stack_rescans_concurrent = 0;
    uint64_t stack_rescans_stopped = 0;
    // Fibers whose stacks allocating fibers and idle Ps scanned at a cycle's
    // start (GCscan), sharing the collector fiber's work in proportion to
    // their allocation.
    uint64_t stack_scans_helped = 0;
    // Stack scans of parked fibers whose stacks had not changed since their
    // last full scan: those cost only the few words of that scan that
    // pointed into objects (at most 4 distinct; more, and the fiber is
    // scanned in full every cycle).
    uint64_t stack_scans_from_summary = 0;
    // Mark termination attempts that stopped the world, found grey objects
    // left in some P's buffer and resumed marking (each is one more pause).
    uint64_t termination_retries = 0;
};
Stats stats();

// Every stop-the-world pause of this process, in order (nanoseconds).
std::vector<int64_t> pause_history();

}  // namespace weft::gc
