// lock_rank.hpp — the one declared lock order (as Go's lockrank.go).
//
// A thread may acquire a lock only if its rank is strictly greater than the
// rank of every lock it already holds. Debug builds check this on every
// acquire (fatal "lock order violation"). No runtime lock is ever held across
// a fiber switch, so the held set is per OS thread.
//
//   rank            lock                          protects
//   ----            ----                          --------
//   kGCExternalRoots the collector's registry     channel rings and timer
//                   of external roots             closures it scans (scanning
//                                                 one takes its channel lock)
//   kSched          Sched::lock                   idle M/P lists, global run
//                                                 queue, M count, stop-the-world
//   kAllG           the all-fibers list           registry of every G
//   kSudog          channel / semaphore locks     wait queues of one object;
//                                                 select locks several in
//                                                 address order (same rank,
//                                                 checked separately)
//   kPollDesc       a netpoll descriptor's lock   its wait slots, deadlines
//                                                 (takes timer heap locks)
//   kTimers         a P's timer heap              heap order and timer.heap_
//   kGFree          global free-G / stack lists   recycled Gs and stacks
//   kGCRoots        the collector's root sets     gc::Root handles, root
//                                                 scanners, the rescan list
//   kGCWork         the collector's work lists    full/empty mark buffers
//   kMCentral       one size class's span lists   partial/full spans of a class
//   kMHeap          the page heap                 free page runs, span map,
//                                                 large spans, scavenger state
//   kLeaf           leaf locks                    nothing else taken inside
#pragma once

namespace weft::base {

enum class LockRank : int {
    kGCExternalRoots = 5,
    kSudog = 10,  // taken by fibers, before any scheduler lock
    kPollDesc = 15,
    kSched = 20,
    kAllG = 30,
    kTimers = 40,
    kGFree = 50,
    kGCRoots = 52,
    kGCWork = 54,
    kMCentral = 56,
    kMHeap = 58,
    kLeaf = 100,
};

const char* lock_rank_name(LockRank r);

}  // namespace weft::base
