// select.cpp — select over several channels (as Go's select.go selectgo).
//
// Owns no state of its own: it borrows the channels' locks and queues (the
// invariants C1-C6 of chan_core.cpp hold throughout) and the selecting
// fiber's G::select_done and G::param. The case array, its waiters and the
// two orders live in the caller's frame (select.hpp): no allocation.
//
// Invariants:
//   X1. A selecting fiber is woken at most once per select: every waker
//       must win the CAS select_done 0 -> 1 (WaitQueue::dequeue) before it
//       touches a select waiter; losers just drop the waiter.
//   X2. select_done is 0 whenever the fiber is not inside pass 2/3; pass 3
//       resets it while holding every case's lock, after which none of its
//       waiters is in any queue.
//   X3. Locks are taken in increasing channel address, each channel once
//       (lock_ordered: equal rank, checked by address). Park's unlockf
//       releases them in the same order, each only after reading the next
//       case from the selecting fiber's frame, and reads nothing after the
//       last (highest) one: a fiber woken early through a released channel
//       needs every lock again in pass 3, so its frame cannot be popped
//       while the unlockf still reads it.
//   X4. The winning waiter is handed over in G::param (set by the waker
//       under the channel lock, before ready()); its `success` says whether
//       the value moved or the channel closed.
//   X5. Among cases on one channel, lockorder keeps their pollorder.
//       Pass 2 queues the waiters in lockorder, so a partner that comes
//       after the select parked meets them in random order: with argument
//       order, two cases on one channel were decided by their position
//       (Go's TestPseudoRandomSend).
//
// Protocol (select over n cases):
//   0. pollorder: a uniformly random permutation (Fisher-Yates on the M's
//      fastrand) of the cases whose channel is not nil: a nil channel's
//      case is left out of both orders, so it is never chosen and never
//      waited on (Go's selectgo omits them too). None left: a select that
//      may block parks for good ("select (no cases)"), one that may not
//      returns -1. lockorder: pollorder sorted stably by channel address
//      (X5). Lock all (X3).
//   1. Pass 1, in pollorder, take the first case that can proceed now:
//        recv: a sender waits (handoff, as recv step 2) / the ring has a
//              value / the channel is closed (no value);
//        send: closed (unlock all, throw) / a receiver waits (handoff) /
//              the ring has room.
//      On success: unlock all, ready the partner if any, return the case.
//      Nothing ready and a default exists: unlock all, return -1.
//   2. Pass 2: enqueue one waiter per case (is_select) in lockorder, clear
//      G::param, park with an unlockf that releases every lock (X3).
//   3. Pass 3, once woken: lock all again; select_done = 0 (X2); the waiter
//      in G::param is the winner; remove every other waiter from its queue
//      (a waker may already have dropped it); unlock all. A winning send
//      without success means the channel closed: throw.
//
// Rejected:
//   - Locking one channel at a time and rechecking: loses the atomicity of
//     "enqueue on every channel, then sleep" that makes wake-ups exact.
//   - A global select lock: serialises every select in the process.
//   - Heap-allocated case or waiter arrays: sizes are known at compile
//     time, so select.hpp puts them in the caller's frame. (A select over
//     a span of SelectCase, whose size is known only at run time, keeps up
//     to 16 on its own stack and allocates beyond.)
//   - Polling cases in argument order: starves later cases (Go's fairness
//     guarantee needs the random pollorder).
#include <weft/select.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <weft/chan.hpp>
#include "runtime/base/check.hpp"
#include "runtime/base/fastrand.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/fiber.hpp"

namespace weft::detail {

namespace {

// The argument of select's unlockf: what it needs from the frame (X3).
struct SelectLocks {
    const ChanCase* cases;
    const uint16_t* lockorder;
    int n;
};

base::FastRand& select_rand(sched::G* g) {
    if (g) return g->m->rand;  // owned by this M's thread, which runs us
    // Off-fiber (only a non-blocking select can get here): a per-thread
    // generator, used without any switch in between.
    thread_local base::FastRand r(reinterpret_cast<uintptr_t>(&r));
    return r;
}

[[noreturn]] void throw_send_closed() { throw ChannelClosed("send on closed channel"); }

// Above this many cases, step 0 sorts the lock order with std::stable_sort.
constexpr int kInsertionSortMax = 32;

}  // namespace

// select's access to channel internals (a friend of ChanCore).
struct SelectOps {
    static void sellock(const ChanCase* cases, const uint16_t* lockorder, int n);
    static void selunlock(const ChanCase* cases, const uint16_t* lockorder, int n);
    static bool selpark_unlock(sched::G* g, void* arg);
    static int run(ChanCase* cases, uint16_t* scratch, int n, bool block, bool* recv_ok);
};

void SelectOps::sellock(const ChanCase* cases, const uint16_t* lockorder, int n) {
    ChanCore* last = nullptr;
    for (int i = 0; i < n; i++) {
        ChanCore* c = cases[lockorder[i]].c;
        if (c != last) {
            c->lock_.lock_ordered();
            last = c;
        }
    }
}

void SelectOps::selunlock(const ChanCase* cases, const uint16_t* lockorder, int n) {
    ChanCore* last = nullptr;
    for (int i = 0; i < n; i++) {
        ChanCore* c = cases[lockorder[i]].c;
        if (c != last) {
            c->lock_.unlock();
            last = c;
        }
    }
}

// park's unlockf for pass 2 (on g0). Keeps the last lock until the end:
// after its release this touches neither the frame nor the channel (X3).
bool SelectOps::selpark_unlock(sched::G*, void* arg) {
    const auto* sl = static_cast<const SelectLocks*>(arg);
    ChanCore* held = nullptr;
    for (int i = 0; i < sl->n; i++) {
        ChanCore* c = sl->cases[sl->lockorder[i]].c;
        if (c != held) {
            if (held) held->lock_.unlock();
            held = c;
        }
    }
    held->lock_.unlock();
    return true;
}

int SelectOps::run(ChanCase* cases, uint16_t* scratch, int n, bool block, bool* recv_ok) {
    WEFT_DCHECK(n >= 1, "select_impl without cases");
    // Context (call_context.hpp): a fiber, or g0 holding a P for a select
    // that cannot block; never a plain thread or inside weft::blocking.
    sched::G* g = nullptr;
    if (sched::current_p_and_g(&g) == nullptr) [[unlikely]]
        sched::misuse("weft::select", sched::call_context());
    if (block) sched::preempt_check("weft::select");

    // Step 0: orders, over the cases with a channel (nil ones left out).
    uint16_t* pollorder = scratch;
    uint16_t* lockorder = scratch + n;
    base::FastRand& rnd = select_rand(g);
    int live = 0;
    for (int i = 0; i < n; i++) {
        if (cases[i].c == nullptr) continue;
        uint32_t j = rnd.below(static_cast<uint32_t>(live) + 1);
        pollorder[live] = static_cast<uint16_t>(i);
        std::swap(pollorder[live], pollorder[j]);
        live++;
    }
    if (live == 0) {
        if (!block) return -1;
        select_no_cases();
    }
    n = live;
    // X5: lock order is the poll order sorted stably by channel. Insertion
    // sort for a handful of cases (a select written in the source): stable
    // and allocates nothing. Many cases (a select over a span) would make
    // it quadratic: std::stable_sort then (it may allocate a buffer, and
    // works without one if that fails).
    std::less<ChanCore*> below;
    if (n <= kInsertionSortMax) {
        for (int i = 0; i < n; i++) {
            uint16_t x = pollorder[i];
            int k = i;
            for (; k > 0 && below(cases[x].c, cases[lockorder[k - 1]].c); k--) lockorder[k] = lockorder[k - 1];
            lockorder[k] = x;
        }
    } else {
        std::copy(pollorder, pollorder + n, lockorder);
        std::stable_sort(lockorder, lockorder + n,
                         [&](uint16_t a, uint16_t b) { return below(cases[a].c, cases[b].c); });
    }
    sellock(cases, lockorder, n);

    // Pass 1: something ready now?
    for (int k = 0; k < n; k++) {
        int i = pollorder[k];
        ChanCase& sc = cases[i];
        ChanCore* c = sc.c;
        sched::G* partner = nullptr;
        switch (sc.kind) {
            case CaseKind::kRecv:
                if (Waiter* w = c->sendq_.dequeue()) {
                    partner = c->recv_from_sender(w, sc.elem);
                    *recv_ok = true;
                } else if (c->count_.load(std::memory_order_relaxed) > 0) {  // relaxed: under its lock
                    c->buf_take(sc.elem);
                    *recv_ok = true;
                } else if (c->closed_) {
                    *recv_ok = false;
                } else {
                    continue;
                }
                break;
            case CaseKind::kSend:
                if (c->closed_) {
                    selunlock(cases, lockorder, n);
                    throw_send_closed();
                }
                if (Waiter* w = c->recvq_.dequeue()) {
                    partner = c->send_to_receiver(w, sc.elem);
                } else if (c->count_.load(std::memory_order_relaxed) < c->cap_) {  // relaxed: under its lock
                    c->buf_put(sc.elem);
                } else {
                    continue;
                }
                break;
        }
        selunlock(cases, lockorder, n);
        if (partner) sched::ready(partner);
        return i;
    }
    if (!block) {
        selunlock(cases, lockorder, n);
        return -1;
    }

    // Pass 2: wait on every channel at once.
    WEFT_CHECK(g != nullptr, "select would block outside a fiber");
    for (int k = 0; k < n; k++) {
        ChanCase& sc = cases[lockorder[k]];
        Waiter& w = sc.w;
        w.g = g;
        w.c = sc.c;
        w.elem = sc.elem;
        w.is_select = true;
        w.success = false;
        switch (sc.kind) {
            case CaseKind::kRecv: sc.c->recvq_.enqueue(&w); break;
            case CaseKind::kSend: sc.c->sendq_.enqueue(&w); break;
        }
    }
    g->param = nullptr;
    SelectLocks sl{cases, lockorder, n};
    sched::park(&selpark_unlock, &sl, sched::WaitReason::kSelect);

    // Pass 3: dequeue from the cases that lost.
    sellock(cases, lockorder, n);
    g->select_done.store(0);  // X2; seq_cst like the wakers' CAS (cheap: once per blocking select)
    auto* win = static_cast<Waiter*>(g->param);
    g->param = nullptr;
    int chosen = -1;
    for (int k = 0; k < n; k++) {
        int i = lockorder[k];
        ChanCase& sc = cases[i];
        if (&sc.w == win) {
            chosen = i;
            continue;
        }
        switch (sc.kind) {
            case CaseKind::kRecv: sc.c->recvq_.remove(&sc.w); break;
            case CaseKind::kSend: sc.c->sendq_.remove(&sc.w); break;
        }
    }
    selunlock(cases, lockorder, n);
    WEFT_CHECK(chosen >= 0, "select woken without a winning case");
    switch (cases[chosen].kind) {
        case CaseKind::kRecv: *recv_ok = win->success; break;
        case CaseKind::kSend:
            if (!win->success) throw_send_closed();
            break;
    }
    return chosen;
}

int select_impl(ChanCase* cases, uint16_t* scratch, int n, bool block, bool* recv_ok) {
    return SelectOps::run(cases, scratch, n, block, recv_ok);
}

void select_no_cases() {
    sched::park(nullptr, nullptr, sched::WaitReason::kSelectNoCases);
    WEFT_UNREACHABLE("select with no cases resumed");
}

}  // namespace weft::detail

namespace weft {

int select(std::span<SelectCase> cases) {
    // Check everything before doing anything (as Go's reflect.Select).
    constexpr size_t kMaxChannelCases = 65535;  // select_impl's uint16_t orders
    size_t ndefault = cases.size(), nchan = 0;
    for (size_t i = 0; i < cases.size(); i++) {
        if (!cases[i].impl_)
            throw std::invalid_argument("weft::select: case " + std::to_string(i) + " is empty (moved from)");
        if (!cases[i].is_default()) {
            nchan++;
        } else if (ndefault != cases.size()) {
            throw std::invalid_argument("weft::select: more than one default_case (cases " + std::to_string(ndefault) +
                                        " and " + std::to_string(i) + ")");
        } else {
            ndefault = i;
        }
    }
    if (nchan > kMaxChannelCases)
        throw std::length_error("weft::select: " + std::to_string(nchan) + " channel cases exceed the maximum of " +
                                std::to_string(kMaxChannelCases));
    bool has_default = ndefault != cases.size();
    if (nchan == 0) {
        if (!has_default) detail::select_no_cases();
        cases[ndefault].impl_->complete(false);
        return static_cast<int>(ndefault);
    }

    // The channel cases, their waiters and the orders: on this stack for a
    // few cases, else allocated (this is select's only allocation).
    constexpr size_t kOnStack = 16;
    detail::ChanCase stack_cases[kOnStack];
    uint16_t stack_scratch[2 * kOnStack];
    uint32_t stack_index[kOnStack];
    std::unique_ptr<detail::ChanCase[]> heap_cases;
    std::unique_ptr<uint16_t[]> heap_scratch;
    std::unique_ptr<uint32_t[]> heap_index;
    detail::ChanCase* sc = stack_cases;
    uint16_t* scratch = stack_scratch;
    uint32_t* index = stack_index;  // channel case j is cases[index[j]]
    if (nchan > kOnStack) {
        heap_cases = std::make_unique<detail::ChanCase[]>(nchan);
        heap_scratch = std::make_unique<uint16_t[]>(2 * nchan);
        heap_index = std::make_unique<uint32_t[]>(nchan);
        sc = heap_cases.get();
        scratch = heap_scratch.get();
        index = heap_index.get();
    }
    size_t j = 0;
    for (size_t i = 0; i < cases.size(); i++) {
        if (cases[i].is_default()) continue;
        cases[i].impl_->bind(sc[j]);
        index[j++] = static_cast<uint32_t>(i);
    }
    bool ok = false;
    int chosen = detail::select_impl(sc, scratch, static_cast<int>(nchan), !has_default, &ok);
    size_t at = chosen < 0 ? ndefault : index[chosen];
    cases[at].impl_->complete(ok);
    return static_cast<int>(at);
}

}  // namespace weft
