// note.hpp — one-shot sleep/wakeup between OS threads (Go's note).
//
// Exactly one thread sleeps on a note and at most one wakeup happens per
// clear: clear(), then one sleep() or sleep_for(), and one wakeup() from any
// thread, in either order. A second wakeup() before clear() is fatal.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::base {

class Note {
public:
    void clear() { key_.store(0, std::memory_order_relaxed); }  // owner only, before sleeping
    void wakeup();
    void sleep();
    // Returns true if woken, false on timeout.
    bool sleep_for(int64_t ns);
    bool woken() const { return key_.load(std::memory_order_acquire) != 0; }

private:
    std::atomic<uint32_t> key_{0};
};

}  // namespace weft::base
