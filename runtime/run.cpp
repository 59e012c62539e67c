// run.cpp — option resolution and the thin public wrappers over sched/.
#include <weft/run.hpp>

#include <sched.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>

#include "gc/collector.hpp"
#include "runtime/base/env.hpp"
#include "runtime/base/symbolize.hpp"
#include "sched/fiber.hpp"
#include "sched/sanitizers.hpp"

namespace weft {
namespace {

int online_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

constexpr int kMaxProcs = 1024;

}  // namespace

namespace detail {

void run_impl(const Options& opts, sched::Closure main, const std::source_location& site) {
    sched::RunConfig cfg;
    if (opts.procs < 0 || opts.procs > kMaxProcs)
        throw std::invalid_argument("weft::Options::procs: " + std::to_string(opts.procs) + " is not in [0, " +
                                    std::to_string(kMaxProcs) + "]");
    cfg.procs = opts.procs;
    if (cfg.procs == 0) {
        if (auto v = base::getenv_str("WEFT_PROCS"))
            cfg.procs = static_cast<int>(base::parse_int("WEFT_PROCS", *v, 1, kMaxProcs));
        else
            cfg.procs = online_cpus();
    }
    cfg.stack_size = opts.stack_size;
    if (cfg.stack_size == 0) {
        if (auto v = base::getenv_str("WEFT_STACK_SIZE"))
            cfg.stack_size = static_cast<size_t>(
                base::parse_size("WEFT_STACK_SIZE", *v, sched::kMinStackSize, int64_t{1} << 30));
        else
            cfg.stack_size = sched::kDefaultStackSize;
    }
    if (cfg.stack_size < sched::kMinStackSize)
        throw std::invalid_argument("weft::Options::stack_size: " + std::to_string(cfg.stack_size) +
                                    " is below the minimum of " + std::to_string(sched::kMinStackSize) + " bytes");
    if (auto v = base::getenv_str("WEFT_MAXTHREADS"))
        cfg.max_threads = static_cast<int32_t>(base::parse_int("WEFT_MAXTHREADS", *v, 2, 1'000'000));
    if (auto v = base::getenv_str("WEFT_STACK_GUARD")) {
        if (*v == "auto") cfg.guard = sched::StackGuardMode::kAuto;
        else if (*v == "always") cfg.guard = sched::StackGuardMode::kAlways;
        else if (*v == "never") cfg.guard = sched::StackGuardMode::kNever;
        else throw std::invalid_argument("WEFT_STACK_GUARD: '" + *v + "' is not one of auto, always, never");
    }
    if (cfg.max_threads < cfg.procs)
        throw std::invalid_argument("WEFT_MAXTHREADS: " + std::to_string(cfg.max_threads) +
                                    " is below the number of Ps (" + std::to_string(cfg.procs) + ")");
    static const char* const kKnownDebug[] = {"gctrace", "gccheckmark", "gcstoptheworld", "gcpoison", "gcstress",
                                               "syscallstress", "schedtrace", "scheddetail", "symbolize", "stalldetect",
                                               "leakcheck"};
    base::validate_debug_env(kKnownDebug, static_cast<int>(std::size(kKnownDebug)));
    cfg.syscall_stress = base::debug_flag("syscallstress");
    cfg.leakcheck = base::debug_flag("leakcheck");
    if (auto v = base::debug_option("schedtrace"))
        cfg.schedtrace_ns = base::parse_int("WEFT_DEBUG: schedtrace", *v, 0, 3'600'000) * 1'000'000;
    cfg.scheddetail = base::debug_flag("scheddetail");
    if (cfg.scheddetail && cfg.schedtrace_ns == 0)
        throw std::invalid_argument("WEFT_DEBUG: scheddetail=1 needs schedtrace=MS (it details each schedtrace line)");
    constexpr int64_t kMaxStallMs = 3'600'000;
    if (opts.stall_threshold.count() >= 0) {
        if (opts.stall_threshold.count() > kMaxStallMs)
            throw std::invalid_argument("weft::Options::stall_threshold: " +
                                        std::to_string(opts.stall_threshold.count()) + " ms is above an hour");
        cfg.stall_ns = opts.stall_threshold.count() * 1'000'000;
    } else if (opts.stall_threshold.count() != -1) {
        throw std::invalid_argument("weft::Options::stall_threshold: " + std::to_string(opts.stall_threshold.count()) +
                                    " ms; use 0 to turn the stall detector off, -1 for the default");
    } else if (auto v = base::debug_option("stalldetect")) {
        cfg.stall_ns = base::parse_int("WEFT_DEBUG: stalldetect", *v, 0, kMaxStallMs) * 1'000'000;
    } else if (sched::kSanitized) {
        // The same work costs 5-15 times the CPU under ASan or TSan: the
        // default means the same stall there.
        cfg.stall_ns *= 10;
    }
    if (auto v = base::debug_option("symbolize"))
        base::set_symbolize_names(base::parse_int("WEFT_DEBUG: symbolize", *v, 0, 1) != 0);
    else
        base::set_symbolize_names(true);
    gc::detail::check_config();
    gc::detail::install_hooks();
    sched::run_main(cfg, std::move(main), site);
}

void go_impl(sched::Closure fn, const std::source_location& site) {
    sched::spawn(std::move(fn), site);
    // A spawn is a runtime call like any other: a fiber sysmon flagged
    // yields here, and so does one whose P's queue is full. Without it a
    // loop that only spawns keeps its P and piles up fibers that cannot
    // run (Go's spawner is preempted by a signal, after 10 ms), each
    // holding a G until the loop ends.
    sched::spawn_check();
}

}  // namespace detail

Spawner::Spawner() : run_(sched::outside_waker_add()) {
    if (run_ == 0) throw std::logic_error("weft::Spawner: no weft::run is active");
}

Spawner::~Spawner() { reset(); }

Spawner::Spawner(Spawner&& other) noexcept : run_(std::exchange(other.run_, 0)) {}

Spawner& Spawner::operator=(Spawner&& other) noexcept {
    if (this != &other) {
        reset();
        run_ = std::exchange(other.run_, 0);
    }
    return *this;
}

void Spawner::reset() noexcept {
    if (run_ != 0) sched::outside_waker_done(std::exchange(run_, 0));
}

bool Spawner::go_impl(sched::Closure& fn, const std::source_location& site) {
    return run_ != 0 && sched::spawn_outside(run_, fn, site);
}

void yield() { sched::gosched(); }
void preempt_point() { sched::preempt_check("weft::preempt_point"); }
uint64_t fiber_id() { return sched::fiber_id(); }
int procs() { return sched::nprocs(); }
uint64_t num_fibers() { return static_cast<uint64_t>(sched::user_fibers_alive()); }

}  // namespace weft
