// sieve.cpp — W5: the classic concurrent prime sieve.
//
// A generator fiber sends 2, 3, 4, ... on an unbuffered channel. The main
// fiber receives a prime p from the head of the chain, starts a filter fiber
// that copies the chain's values except multiples of p onto a new unbuffered
// channel, and makes that channel the new head — n times. See shared
// docs/BENCHMARKS.md, W5; this is the program from the Go tour, plus a clean
// shutdown.
//
// Shutdown (so every fiber ends and nothing leaks), in steps:
//  1. The main fiber sets `stop` and drains the head channel.
//  2. The generator checks `stop` before each send; seeing it, it closes its
//     channel and exits. At most one more number is sent after step 1.
//  3. Each filter's range loop ends when its input is closed; the filter
//     closes its output and exits, so the closes cascade down the chain.
//  4. The main fiber's drain ends when the head channel closes; a WaitGroup
//     then confirms that the generator and every filter have returned.
// Values in flight during shutdown keep flowing because the main fiber
// keeps receiving until step 4.
//
// Check: the primes equal those of a plain sequential sieve of Eratosthenes,
// and for n = 5000 the last one is 48611, as docs/BENCHMARKS.md states.
//
// The timing window (wall_ms) runs from starting the generator to receiving
// the n-th prime; shutdown is timed separately (shutdown_ms).
//
// JSON: workload, procs, n, last_prime, wall_ms, shutdown_ms.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <fmt/core.h>
#include <optional>
#include <string>
#include <vector>

#include <weft/chan.hpp>
#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

namespace {

constexpr int kShown = 5;  // primes shown at each end unless --print-all

// The first n primes, by a sequential sieve of Eratosthenes. For n >= 6 the
// n-th prime is below n (ln n + ln ln n) (Rosser's theorem).
std::vector<int> sequential_primes(int n) {
    double x = n;
    int limit = n < 6 ? 13 : static_cast<int>(x * (std::log(x) + std::log(std::log(x)))) + 1;
    std::vector<bool> composite(static_cast<size_t>(limit) + 1);
    std::vector<int> primes;
    for (int i = 2; i <= limit && static_cast<int>(primes.size()) < n; ++i) {
        if (composite[static_cast<size_t>(i)]) continue;
        primes.push_back(i);
        for (int64_t j = int64_t{i} * i; j <= limit; j += i) composite[static_cast<size_t>(j)] = true;
    }
    return primes;
}

void print_primes(const std::vector<int>& primes, bool all) {
    if (all) {
        for (int p : primes) fmt::print("{}\n", p);
        return;
    }
    std::string line;
    for (size_t i = 0; i < primes.size(); ++i) {
        bool head = i < kShown, tail = i + kShown >= primes.size();
        if (head || tail) line += fmt::format(" {}", primes[i]);
        else if (i == kShown) line += " ...";
    }
    fmt::print("sieve: first {} primes:{}\n", primes.size(), line);
}

}  // namespace

int main(int argc, char** argv) {
    int64_t n = 5000, procs = 0;
    bool print_all = false;
    ex::Flags flags("sieve", "W5: the concurrent prime sieve; prints the first N primes.");
    flags.add_int("n", &n, 1, 100'000, "primes to find");
    flags.add_procs(&procs);
    flags.add_bool("print-all", &print_all, "print every prime, one per line");
    flags.parse(argc, argv);

    return ex::run("sieve", procs, [n, print_all]() -> int {
        std::atomic<bool> stop{false};
        weft::WaitGroup wg;
        std::vector<int> primes;
        primes.reserve(static_cast<size_t>(n));

        ex::Stopwatch sw;
        weft::Chan<int> head;
        wg.add(1);
        weft::go([out = head, s = &stop, w = &wg]() mutable {
            for (int i = 2; !s->load(); ++i) out.send(i);
            out.close();
            w->done();
        });
        for (int64_t k = 0; k < n; ++k) {
            std::optional<int> prime = head.recv();
            if (!prime) {
                fmt::print(stderr, "sieve: FAILED: the chain closed after {} primes\n", k);
                return 1;
            }
            primes.push_back(*prime);
            weft::Chan<int> next;
            wg.add(1);
            weft::go([in = head, out = next, p = *prime, w = &wg]() mutable {
                for (int v : in)
                    if (v % p != 0) out.send(v);
                out.close();
                w->done();
            });
            head = next;
        }
        double wall_ms = sw.elapsed_ms();

        ex::Stopwatch shutdown;
        stop.store(true);
        int64_t drained = 0;
        for (int v : head) {
            (void)v;
            ++drained;
        }
        wg.wait();
        double shutdown_ms = shutdown.elapsed_ms();

        print_primes(primes, print_all);
        std::vector<int> expected = sequential_primes(static_cast<int>(n));
        if (primes != expected) {
            size_t i = 0;
            while (i < primes.size() && primes[i] == expected[i]) ++i;
            fmt::print(stderr, "sieve: FAILED: prime #{} is {}, expected {}\n", i + 1, primes[i], expected[i]);
            return 1;
        }
        if (n == 5000 && primes.back() != 48611) {
            fmt::print(stderr, "sieve: FAILED: the 5000th prime is {}, expected 48611\n", primes.back());
            return 1;
        }
        fmt::print("sieve: {} primes on {} Ps in {:.1f} ms, last {} (checked); shutdown of {} fibers in {:.1f} ms "
                   "({} in-flight values drained)\n",
                   n, weft::procs(), wall_ms, primes.back(), n + 1, shutdown_ms, drained);
        ex::JsonLine("sieve")
            .add("procs", weft::procs())
            .add("n", n)
            .add("last_prime", primes.back())
            .add("wall_ms", wall_ms)
            .add("shutdown_ms", shutdown_ms)
            .print();
        return 0;
    });
}
