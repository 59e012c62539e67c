// rwmutex.cpp — weft::RWMutex (as Go's sync/rwmutex.go; contract in
// rwmutex.hpp).
//
// Owns: a writer Mutex (w_), two Semas (writer_sem_, reader_sem_) and two
// counters. readerCount and readerWait are Go's names.
//
//   reader_count_   readers holding or waiting for a read lock; while a
//                   writer holds or waits for the lock, it has subtracted
//                   kMaxReaders (2^30), so the count is negative then.
//   reader_wait_    readers that were inside when the pending writer
//                   arrived and have not left yet (may dip below zero
//                   transiently: a departing reader can subtract before the
//                   writer adds them).
//
// Invariants:
//   RW1. At most one writer is pending or holding: it holds w_ from the start
//       of lock() to the end of unlock().
//   RW2. reader_count_ < 0 exactly from a writer's subtraction (lock step 2)
//       to its addition (unlock step 1); meanwhile every rlock() blocks.
//   RW3. The writer proceeds exactly when every reader that was inside at
//       its subtraction has left: reader_wait_ reaches zero once, either at
//       the writer's add (all left already) or at the last leaver's subtract
//       (who then releases writer_sem_).
//   RW4. unlock() releases reader_sem_ once per reader that blocked behind
//       the writer (the count it reads back when adding kMaxReaders).
//
// Protocol (lock, as Lock):
//   1. Lock w_ (excludes other writers, RW1).
//   2. Subtract kMaxReaders from reader_count_: new readers now block (RW2);
//      r = the readers that were inside.
//   3. If r > 0, add r to reader_wait_; unless that brings it to zero (RW3),
//      park on writer_sem_ until the last of them leaves.
//
// Protocol (unlock, as Unlock):
//   1. Add kMaxReaders back to reader_count_: new readers get in at once;
//      the result r is the readers that blocked meanwhile (RW4).
//   2. Release reader_sem_ r times, then unlock w_ (the next writer).
//
// Protocol (rlock/runlock, fast paths inline in rwmutex.hpp):
//   rlock adds one; a negative result means a writer is pending: park on
//   reader_sem_. runlock subtracts one; a negative result means a writer is
//   pending: subtract one from reader_wait_, and the last (RW3) releases
//   writer_sem_.
//
// Memory order: decisions are each made by one RMW on one counter (the
// writer's subtraction, a reader's add, the adds to reader_wait_), never by
// a store to one word and a load of another, so no seq_cst is needed.
// Critical sections are ordered by acquire on the RMWs that enter and
// release on those that leave; the Semas' locks order the parked paths.
//
// Rejected: a reader-preferring lock (writers starve under steady reads);
// waking readers one by one (each wake-up would serialise on the writer);
// making unlock() destroy-safe like Mutex's (readers must be let in before
// the blocked ones are released, so the releases necessarily follow the
// publication; see the lifetime rule in rwmutex.hpp).
#include <weft/sync/rwmutex.hpp>

#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"

namespace weft {

using detail::kRWMutexMaxReaders;

int32_t detail::rwmutex_reader_count(const RWMutex& rw) {
    // Relaxed: a snapshot for tests and diagnostics; it orders nothing.
    return rw.reader_count_.load(std::memory_order_relaxed);
}

void RWMutex::lock() {
    w_.lock_as(Mutex::Holder::kRWMutexWriter);  // step 1 (a preemption point)
    // Step 2. Acquire: readers that left before this point released with
    // their subtraction; their read sections happen before our writes.
    int32_t r = reader_count_.fetch_sub(kRWMutexMaxReaders, std::memory_order_acquire);
    // Step 3. Acquire: readers that already left through runlock_slow
    // released with their subtraction. Nobody acquires from this add.
    if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acquire) + r != 0)
        writer_sem_.acquire(sched::WaitReason::kRWMutexLock);
}

bool RWMutex::try_lock() {
    if (!w_.try_lock()) return false;
    int32_t zero = 0;
    // Acquire on success, as lock()'s subtraction.
    if (!reader_count_.compare_exchange_strong(zero, -kRWMutexMaxReaders, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
        w_.unlock();
        return false;
    }
    return true;
}

void RWMutex::unlock() {
    // Step 1. Release: our writes happen before the readers that now enter.
    int32_t r = reader_count_.fetch_add(kRWMutexMaxReaders, std::memory_order_release) + kRWMutexMaxReaders;
    if (r >= kRWMutexMaxReaders) base::fatal("sync: Unlock of unlocked RWMutex");
    // Step 2.
    for (int32_t i = 0; i < r; i++) reader_sem_.release();
    w_.unlock();
}

bool RWMutex::try_rlock() {
    // Relaxed load: only a guess for the CAS, which checks it.
    int32_t c = reader_count_.load(std::memory_order_relaxed);
    for (;;) {
        if (c < 0) return false;
        // Acquire on success, as rlock().
        if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
    }
}

void RWMutex::rlock_slow() { reader_sem_.acquire(sched::WaitReason::kRWMutexRLock); }

void RWMutex::runlock_slow(int32_t r) {
    // No reader held it: the count was 0, or -kMaxReaders under a writer.
    if (r + 1 == 0 || r + 1 == -kRWMutexMaxReaders) base::fatal("sync: RUnlock of unlocked RWMutex");
    // A writer is pending (RW3). Acq_rel: release our read section to the
    // writer; acquire the earlier leavers' so the last one carries them all.
    if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) writer_sem_.release();
}

}  // namespace weft
