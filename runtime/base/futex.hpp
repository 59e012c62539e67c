// futex.hpp — thin wrappers over futex(2) on a 32-bit word, process-private.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::base {

// Sleeps while *addr == expected, for at most timeout_ns (< 0: forever).
// Spurious returns are allowed; callers re-check their condition.
void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected, int64_t timeout_ns = -1);

// Wakes up to n threads sleeping on addr.
void futex_wake(std::atomic<uint32_t>* addr, int n);

}  // namespace weft::base
