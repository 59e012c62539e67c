// steal.cpp — see steal.hpp.
#include "common/steal.hpp"

#include <cstdio>
#include <unistd.h>

namespace ex {

int64_t host_steal_ns() {
    FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return -1;
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    unsigned long long v[8] = {};
    int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                          &v[5], &v[6], &v[7]);
    std::fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (got != 8 || hz <= 0) return -1;
    return static_cast<int64_t>(v[7]) * (1'000'000'000 / hz);
}

double StealWindow::elapsed_ms() const {
    int64_t now = host_steal_ns();
    if (start_ns_ < 0 || now < 0) return -1.0;
    return static_cast<double>(now - start_ns_) / 1e6;
}

}  // namespace ex
