// lock.hpp — the runtime's OS-level mutex (Go's lock_futex.go).
//
// A three-state futex mutex: 0 unlocked, 1 locked, 2 locked with sleepers.
// It blocks the whole OS thread, so it guards only short critical sections
// and is never held across a fiber switch (park). Fibers block on channels,
// weft::Mutex and friends instead.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/lock_rank.hpp>

namespace weft::base {

class Lock {
public:
    explicit constexpr Lock(LockRank rank) : rank_(rank) {}
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    void lock();
    // For several locks of one rank taken in increasing address order
    // (select over channels); the rank check allows equal ranks then.
    void lock_ordered();
    void unlock();
    bool try_lock();
    LockRank rank() const { return rank_; }

private:
    void lock_slow();
    std::atomic<uint32_t> state_{0};
    LockRank rank_;
};

// Debug rank bookkeeping; no-ops unless WEFT_DEBUG_CHECKS.
void rank_acquire(const Lock* l);
void rank_release(const Lock* l);
// Same-rank locks taken in address order (select over several channels).
void rank_acquire_ordered(const Lock* l);

class LockGuard {
public:
    explicit LockGuard(Lock& l) : l_(l) { l_.lock(); }
    ~LockGuard() { l_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    Lock& l_;
};

}  // namespace weft::base
