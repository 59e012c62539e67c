// timers.cpp — see timers.hpp for the heap protocol and invariants T1–T3.
#include "sched/timers.hpp"

#include <weft/clock.hpp>
#include "runtime/base/backoff.hpp"
#include "runtime/base/check.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace weft::sched {

namespace {
constexpr size_t kArity = 4;
}

void TimerHeap::sift_up(size_t i) {
    Timer* t = heap_[i];
    while (i > 0) {
        size_t parent = (i - 1) / kArity;
        if (heap_[parent]->when <= t->when) break;
        heap_[i] = heap_[parent];
        heap_[i]->index_ = static_cast<int32_t>(i);
        i = parent;
    }
    heap_[i] = t;
    t->index_ = static_cast<int32_t>(i);
}

void TimerHeap::sift_down(size_t i) {
    Timer* t = heap_[i];
    size_t n = heap_.size();
    for (;;) {
        size_t first = i * kArity + 1;
        if (first >= n) break;
        size_t best = first;
        for (size_t c = first + 1; c < first + kArity && c < n; c++)
            if (heap_[c]->when < heap_[best]->when) best = c;
        if (heap_[best]->when >= t->when) break;
        heap_[i] = heap_[best];
        heap_[i]->index_ = static_cast<int32_t>(i);
        i = best;
    }
    heap_[i] = t;
    t->index_ = static_cast<int32_t>(i);
}

void TimerHeap::update_next() { next_when_.store(heap_.empty() ? 0 : heap_[0]->when, std::memory_order_release); }

void TimerHeap::add(Timer* t) {
    base::LockGuard l(lock_);
    WEFT_CHECK(t->heap_.load() == nullptr, "timer armed twice");
    if (t->when <= 0) t->when = 1;  // 0 means "no timer" in next_when_
    heap_.push_back(t);
    sift_up(heap_.size() - 1);
    t->heap_.store(this, std::memory_order_release);  // T1
    update_next();
}

void TimerHeap::remove_at(size_t i) {
    Timer* t = heap_[i];
    Timer* last = heap_.back();
    heap_.pop_back();
    if (t != last) {
        heap_[i] = last;
        last->index_ = static_cast<int32_t>(i);
        sift_down(i);
        sift_up(static_cast<size_t>(last->index_));
    }
    t->index_ = -1;
    t->heap_.store(nullptr, std::memory_order_release);
}

bool TimerHeap::remove_if_here(Timer* t) {
    base::LockGuard l(lock_);
    if (t->heap_.load(std::memory_order_acquire) != this) return false;
    remove_at(static_cast<size_t>(t->index_));
    update_next();
    return true;
}

int64_t TimerHeap::run(int64_t now) {
    // Collected under the lock, run after it (T3). Small fixed batch: more
    // due timers are picked up by the next pass of the scheduler.
    constexpr int kBatch = 32;
    Timer::Fn fns[kBatch];
    void* args[kBatch];
    Timer* owned[kBatch];  // null for detached timers (T4)
    int n = 0;
    int64_t next;
    {
        base::LockGuard l(lock_);
        while (!heap_.empty() && heap_[0]->when <= now && n < kBatch) {
            Timer* t = heap_[0];
            fns[n] = t->fn;
            args[n] = t->arg;
            owned[n] = t->detached ? nullptr : t;
            if (owned[n]) t->firing_.fetch_add(1);  // T4, under the lock
            n++;
            if (t->period > 0) {
                // Skip missed periods rather than firing a burst.
                int64_t behind = now - t->when;
                t->when += t->period * (1 + behind / t->period);
                sift_down(0);
            } else {
                remove_at(0);
            }
        }
        update_next();
        next = heap_.empty() ? 0 : heap_[0]->when;
    }
    if (n == 0) return next;
    // The fibers these callbacks wake were woken by a timer (trace.hpp).
    M* m = getm();
    trace::timers_fired(n);
    uint8_t was = m ? m->trace_wake : 0;
    if (m) m->trace_wake = static_cast<uint8_t>(trace::WakeSource::kTimer);
    for (int i = 0; i < n; i++) {
        fns[i](args[i]);
        if (owned[i]) owned[i]->firing_.fetch_sub(1);  // last touch of the timer
    }
    if (m) m->trace_wake = was;
    return next;
}

size_t TimerHeap::size() {
    base::LockGuard l(lock_);
    return heap_.size();
}

void TimerHeap::clear() {
    std::vector<Timer*> dropped;
    {
        base::LockGuard l(lock_);
        for (Timer* t : heap_) {
            t->index_ = -1;
            t->heap_.store(nullptr);
            if (t->detached && t->drop) dropped.push_back(t);
        }
        heap_.clear();
        update_next();
    }
    for (Timer* t : dropped) t->drop(t->arg);  // outside the lock (T3)
}

void timer_add(Timer* t) {
    M* m = getm();
    WEFT_CHECK(m != nullptr && m->p != nullptr, "timer_add: called without a P");
    // Read before adding: once t is in the heap another M may fire it, and
    // its owner may then free it (a detached timer) or reuse the memory (a
    // sleep's timer on a fiber stack that resumed). TSan caught the read
    // below racing with the sleeper's next frame.
    int64_t when = t->when;
    m->p->timers.add(t);
    // Wake a poller that sleeps past this timer (as wakeNetPoller).
    Sched& s = sched_state();
    if (s.lastpoll.load() == 0) {
        int64_t until = s.poll_until.load();
        if (until == 0 || until > when) netpoll_break();
    } else {
        wakep();
    }
}

bool timer_cancel(Timer* t) {
    for (;;) {  // stop steps 1-3
        TimerHeap* h = t->heap_.load(std::memory_order_acquire);
        if (h == nullptr) return false;
        if (h->remove_if_here(t)) return true;
    }
}

bool timer_stop(Timer* t) {
    WEFT_DCHECK(!t->detached, "timer_stop on a detached timer");
    bool removed = timer_cancel(t);
    // T4: a callback popped before our removal may still be running on
    // another M. Callbacks are short (ready a fiber, try_send), so wait.
    base::Backoff backoff;
    while (t->firing_.load() != 0) backoff.pause();
    return removed;
}

bool timer_reset(Timer* t, int64_t when) {
    bool was = timer_stop(t);
    t->when = when;
    timer_add(t);
    return was;
}

int64_t timers_earliest() {
    int64_t best = 0;
    for (P* p : sched_state().allp) {
        int64_t w = p->timers.next_when();
        if (w != 0 && (best == 0 || w < best)) best = w;
    }
    return best;
}

void park_until(int64_t when, WaitReason reason) {
    Timer t;  // step 1
    // Detached (T4): nobody stops it, and once the callback readies the
    // fiber this frame may be gone, so run() must not touch the timer after
    // the callback.
    t.detached = true;
    t.when = when;
    t.fn = [](void* g) { ready(static_cast<G*>(g), ReadyAt::kTimer); };
    t.arg = getg();
    WEFT_CHECK(t.arg != nullptr, "park_until: not called from a fiber");
    park(  // step 2
        [](G*, void* timer) {
            timer_add(static_cast<Timer*>(timer));
            return true;
        },
        &t, reason);
}

}  // namespace weft::sched
