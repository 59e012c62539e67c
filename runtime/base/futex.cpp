#include "runtime/base/futex.hpp"

#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/fatal.hpp"

namespace weft::base {

void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected, int64_t timeout_ns) {
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
    if (r < 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
        fatal("futex_wait failed: errno %d", errno);
}

void futex_wake(std::atomic<uint32_t>* addr, int n) {
    long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
    if (r < 0) fatal("futex_wake failed: errno %d", errno);
}

}  // namespace weft::base
