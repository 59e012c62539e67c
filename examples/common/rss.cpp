// rss.cpp — see rss.hpp.
#include "common/rss.hpp"

#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>

namespace ex {

int64_t current_rss_bytes() {
    // statm: size resident shared text lib data dt, all in pages.
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return -1;
    long long size = 0, resident = 0;
    int got = std::fscanf(f, "%lld %lld", &size, &resident);
    std::fclose(f);
    if (got != 2) return -1;
    return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

int64_t peak_rss_kb() {
    rusage ru{};
    int64_t peak = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;  // KiB on Linux
    // The kernel folds per-thread RSS counters into the high-water mark
    // lazily, so right after growth it can read below the current RSS.
    int64_t now_kb = current_rss_bytes() / 1024;
    return now_kb > peak ? now_kb : peak;
}

}  // namespace ex
