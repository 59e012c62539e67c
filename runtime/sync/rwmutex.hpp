// rwmutex.hpp — weft::RWMutex, a reader/writer lock for fibers (Go's
// sync.RWMutex).
//
//   weft::RWMutex rw;
//   { std::shared_lock r(rw); read(table); }    // many readers at once
//   { std::lock_guard w(rw);  write(table); }   // one writer, no readers
//
// Any number of readers or one writer. Writer preference: once a writer is
// waiting in lock(), new rlock() calls block until it has had its turn, so a
// stream of readers cannot starve a writer. Consequently a fiber must not
// rlock() an RWMutex it already read-locks (recursive read locking
// deadlocks as soon as a writer queues between the two calls), and a reader
// cannot upgrade to a writer. The design essay is in rwmutex.cpp.
//
// Contract:
//  - lock(), rlock() and the unlocks are called from a fiber (a blocking
//    call outside a fiber is fatal); try_lock() and try_rlock() never block.
//  - Not owned by a fiber: any fiber may unlock what another locked.
//  - unlock() without a writer holding it is fatal: "sync: Unlock of
//    unlocked RWMutex"; runlock() without a reader holding it is fatal:
//    "sync: RUnlock of unlocked RWMutex".
//  - Lifetime: destroy an RWMutex only once no fiber is inside any of its
//    methods. Unlike weft::Mutex, unlock() still releases blocked readers
//    after a new reader may already have got in; that reader must not free
//    the RWMutex under it.
//  - lock_shared / try_lock_shared / unlock_shared are the standard names
//    for the read side, so std::shared_lock works; lock / try_lock / unlock
//    make it Lockable for std::lock_guard and std::unique_lock.
//  - Constant-initialisable; neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/entry.hpp>
#include <weft/internal/sema.hpp>
#include <weft/sync/mutex.hpp>

namespace weft {

class RWMutex;

namespace detail {
// Tests and diagnostics: readers holding or waiting, minus kRWMutexMaxReaders
// while a writer holds or waits for the lock (so negative then).
int32_t rwmutex_reader_count(const RWMutex& rw);
inline constexpr int32_t kRWMutexMaxReaders = 1 << 30;
}  // namespace detail

class RWMutex {
public:
    constexpr RWMutex() = default;
    RWMutex(const RWMutex&) = delete;
    RWMutex& operator=(const RWMutex&) = delete;

    // Locks for writing: waits for other writers, then for the readers
    // already inside to leave; new readers wait meanwhile. A preemption point.
    void lock();
    // Locks for writing if no writer or reader holds it; never blocks.
    bool try_lock();
    // Unlocks for writing; readers that queued meanwhile get in first.
    void unlock();

    // Locks for reading; waits only while a writer holds or waits for the
    // lock. A preemption point.
    void rlock() {
        sched::preempt_check("RWMutex::rlock");
        // Acquire: pairs with the last writer's release in unlock(), whose
        // critical section we may now read. Negative: a writer is pending.
        if (reader_count_.fetch_add(1, std::memory_order_acquire) < 0) rlock_slow();
    }
    // Locks for reading if no writer holds or waits for it; never blocks.
    bool try_rlock();
    // Unlocks one read lock; the last reader out lets a waiting writer in.
    void runlock() {
        // Release: our reads happen before a later writer's critical section.
        int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
        if (r < 0) runlock_slow(r);
    }

    void lock_shared() { rlock(); }
    bool try_lock_shared() { return try_rlock(); }
    void unlock_shared() { runlock(); }

private:
    friend int32_t detail::rwmutex_reader_count(const RWMutex& rw);
    void rlock_slow();  // waits for the pending writer
    void runlock_slow(int32_t r);

    Mutex w_;                              // held by the writer, queues writers
    sched::Sema writer_sem_;              // the writer waits here for readers to leave
    sched::Sema reader_sem_;              // readers wait here for the writer to finish
    std::atomic<int32_t> reader_count_{0};  // readers in or waiting; - max while a writer is pending
    std::atomic<int32_t> reader_wait_{0};   // readers the pending writer still waits for
};

}  // namespace weft
