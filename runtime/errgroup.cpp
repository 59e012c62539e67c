// errgroup.cpp — weft::ErrGroup (see errgroup.hpp).
//
// Invariant E1: wg_.done() is a fiber's last touch of the group, so the
// fiber whose wait() returned may destroy it at once (WaitGroup's lifetime
// rule); running_ falls before it, so it reads zero once wait() returned.
#include <weft/errgroup.hpp>

#include <mutex>
#include <stdexcept>

#include "runtime/base/fatal.hpp"

namespace weft {

ErrGroup::~ErrGroup() {
    if (running_.load(std::memory_order_acquire) != 0)
        base::fatal("errgroup: an ErrGroup destroyed while %lld of its fibers run (call wait() first)",
                    static_cast<long long>(running_.load()));
}

void ErrGroup::set_limit(int64_t n) {
    if (running_.load(std::memory_order_acquire) != 0)
        throw std::logic_error("ErrGroup::set_limit: the limit changed while fibers of the group run");
    limit_ = n > 0 ? std::make_unique<Semaphore>(n) : nullptr;
}

void ErrGroup::fail(std::exception_ptr e) {
    {
        std::lock_guard g(mu_);
        if (first_) return;
        first_ = std::move(e);
    }
    cancel_();
}

void ErrGroup::finish() {
    if (limit_) limit_->release();
    running_.fetch_sub(1, std::memory_order_release);
    wg_.done();  // E1: the last touch
}

void ErrGroup::wait() {
    wg_.wait();
    cancel_();
    std::exception_ptr e;
    {
        std::lock_guard g(mu_);
        e = std::exchange(first_, nullptr);
    }
    if (e) std::rethrow_exception(e);
}

}  // namespace weft
