// lock_rank.hpp — the one declared lock order (as Go's lockrank.go).
//
// A thread may acquire a lock only if its rank is strictly greater than the
// rank of every lock it already holds. Debug builds check this on every
// acquire (fatal "lock order violation"). No runtime lock is ever held across
// a fiber switch, so the held set is per OS thread.
//
// The ranks, in order, each with the lock it names and what that lock
// protects, are the enum below: one list, so the order and its description
// cannot disagree.
#pragma once

namespace weft::base {

enum class LockRank : int {
    // The collector's registry of external roots: the channel rings and
    // timer closures it scans (scanning one takes its channel lock).
    kGCExternalRoots = 5,
    // A channel's or semaphore's lock: the wait queues of one object.
    // Taken by fibers, before any scheduler lock; select locks several in
    // address order (same rank, checked separately).
    kSudog = 10,
    // A netpoll descriptor's lock: its wait slots and deadlines (it takes
    // timer heap locks).
    kPollDesc = 15,
    // Sched::lock: idle M and P lists, the global run queue, the M count,
    // stop-the-world.
    kSched = 20,
    // The all-fibers list: the registry of every G.
    kAllG = 30,
    // A P's timer heap: heap order and each timer's heap_.
    kTimers = 40,
    // The global free-G and free-stack lists.
    kGFree = 50,
    // The collector's root sets: gc::Root handles, root scanners, the
    // rescan list.
    kGCRoots = 52,
    // The collector's work lists: full and empty mark buffers.
    kGCWork = 54,
    // One size class's span lists: its partial and full spans.
    kMCentral = 56,
    // The page heap: free page runs, the span map, large spans, scavenger
    // state.
    kMHeap = 58,
    // Leaf locks: nothing else is taken inside.
    kLeaf = 100,
    // The execution tracer's buffer lists (sched/trace.cpp): an event may
    // be written, and a new buffer taken, while any lock above is held.
    kTrace = 110,
};

const char* lock_rank_name(LockRank r);

}  // namespace weft::base
