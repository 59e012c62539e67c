// fastrand.hpp — a small per-M pseudo-random generator (wyrand).
//
// Not for cryptography; used for steal order, select fairness and jitter.
#pragma once

#include <cstdint>

namespace weft::base {

class FastRand {
public:
    explicit FastRand(uint64_t seed = 0x9e3779b97f4a7c15ULL) : state_(seed) {}
    uint64_t next() {
        state_ += 0xa0761d6478bd642fULL;
        __uint128_t m = static_cast<__uint128_t>(state_) * (state_ ^ 0xe7037ed1a0b428dbULL);
        return static_cast<uint64_t>(m >> 64) ^ static_cast<uint64_t>(m);
    }
    // Uniform in [0, n) without modulo bias worth caring about (Lemire).
    uint32_t below(uint32_t n) {
        return static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(next())) * n) >> 32);
    }

private:
    uint64_t state_;
};

}  // namespace weft::base
