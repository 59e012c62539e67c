#include "sched/g.hpp"

#include <array>
#include <utility>

#include "runtime/base/backoff.hpp"
#include "runtime/base/fatal.hpp"

namespace weft::sched {

const char* status_name(GStatus s) {
    if (static_cast<uint32_t>(s) & kScanBit) {
        switch (without_scan(s)) {
            case GStatus::kRunnable: return "runnable (being scanned)";
            case GStatus::kWaiting: return "waiting (being scanned)";
            case GStatus::kSyscall: return "syscall (being scanned)";
            default: return "? (scan bit on a status that cannot be scanned)";
        }
    }
    switch (s) {
        case GStatus::kIdle: return "idle";
        case GStatus::kRunnable: return "runnable";
        case GStatus::kRunning: return "running";
        case GStatus::kSyscall: return "syscall";
        case GStatus::kWaiting: return "waiting";
        case GStatus::kDead: return "dead";
    }
    return "?";
}

namespace {
constexpr const char* reason_text(WaitReason r) {
    switch (r) {
        case WaitReason::kNone: return "";
        case WaitReason::kChanReceive: return "chan receive";
        case WaitReason::kChanSend: return "chan send";
        case WaitReason::kChanReceiveNilChan: return "chan receive (nil chan)";
        case WaitReason::kChanSendNilChan: return "chan send (nil chan)";
        case WaitReason::kSelect: return "select";
        case WaitReason::kSelectNoCases: return "select (no cases)";
        case WaitReason::kSleep: return "sleep";
        case WaitReason::kMutexLock: return "sync.Mutex.Lock";
        case WaitReason::kRWMutexRLock: return "sync.RWMutex.RLock";
        case WaitReason::kRWMutexLock: return "sync.RWMutex.Lock";
        case WaitReason::kWaitGroupWait: return "sync.WaitGroup.Wait";
        case WaitReason::kCondWait: return "sync.Cond.Wait";
        case WaitReason::kSemacquire: return "semacquire";
        case WaitReason::kOnce: return "sync.Once";
        case WaitReason::kIOWait: return "IO wait";
        case WaitReason::kTimerWait: return "timer wait";
#if defined(WEFT_TEST_HOOKS)
        case WaitReason::kTestHook: return "test hook";
#endif
        case WaitReason::kGCWorkerIdle: return "GC worker (idle)";
        case WaitReason::kGCWorkerPause: return "GC worker (between slices)";
        case WaitReason::kGCCollect: return "gc::collect";
        case WaitReason::kGCScanSelf: return "GC scan of its own stack";
        case WaitReason::kShutdownAbandoned: return "stop-the-world abandoned at shutdown";
    }
    return "?";
}
}  // namespace

const char* const kStatusNames[kGStatuses] = {"idle", "runnable", "running", "syscall", "waiting", "dead"};

namespace {
template <size_t... I>
constexpr std::array<const char*, sizeof...(I)> reason_texts(std::index_sequence<I...>) {
    return {reason_text(static_cast<WaitReason>(I))...};
}
constexpr std::array<const char*, kWaitReasons> kReasonTexts = reason_texts(std::make_index_sequence<kWaitReasons>());
}  // namespace

const char* const* const kWaitReasonNames = kReasonTexts.data();

const char* wait_reason_name(WaitReason r) { return reason_text(r); }

const char* wait_reason_api(WaitReason r) {
    switch (r) {
        case WaitReason::kChanReceive: return "Chan::recv";
        case WaitReason::kChanSend: return "Chan::send";
        case WaitReason::kChanReceiveNilChan: return "Chan::recv";
        case WaitReason::kChanSendNilChan: return "Chan::send";
        case WaitReason::kSelect: return "weft::select";
        case WaitReason::kSelectNoCases: return "weft::select with no cases";
        case WaitReason::kSleep: return "weft::sleep";
        case WaitReason::kMutexLock: return "Mutex::lock";
        case WaitReason::kRWMutexRLock: return "RWMutex::rlock";
        case WaitReason::kRWMutexLock: return "RWMutex::lock";
        case WaitReason::kWaitGroupWait: return "WaitGroup::wait";
        case WaitReason::kCondWait: return "Cond::wait";
        case WaitReason::kSemacquire: return "a wait for a semaphore (Semaphore::acquire, a net close)";
        case WaitReason::kOnce: return "Once::call";
        case WaitReason::kIOWait: return "a net::Conn or Listener call that waits";
        case WaitReason::kTimerWait: return "a timer wait";
        case WaitReason::kGCCollect: return "gc::collect";
        default: return "a runtime wait";
    }
}

void cas_status(G* g, GStatus from, GStatus to) {
    // seq_cst: status changes publish the G to other Ms (dumps, sysmon, a
    // stack scanner, whose CAS acquires what the G wrote before it stopped).
    base::Backoff backoff;
    for (;;) {
        GStatus old = from;
        if (g->status.compare_exchange_strong(old, to)) return;
        if (old != with_scan(from))
            base::fatal("bad G status transition for G %llu: %s -> %s, but it was %s",
                        static_cast<unsigned long long>(g->id), status_name(from), status_name(to), status_name(old));
        backoff.pause();  // a scanner holds the G; scans take microseconds
    }
}

bool try_begin_scan(G* g, GStatus* was) {
    GStatus s = g->status.load(std::memory_order_relaxed);
    if (!is_scannable(s)) return false;
    // seq_cst CAS: acquires the stack contents the G's M wrote before it
    // published s (release store or CAS); see cas_status.
    if (!g->status.compare_exchange_strong(s, with_scan(s))) return false;
    *was = s;
    return true;
}

bool begin_scan_stopped(G* g, GStatus* was) {
    base::Backoff backoff;
    while (!try_begin_scan(g, was)) {
        GStatus s = g->status.load();
        if (s == GStatus::kDead || s == GStatus::kIdle) return false;
        if (s == GStatus::kRunning)
            base::fatal("begin_scan_stopped: fiber %llu is running with the world stopped",
                        static_cast<unsigned long long>(g->id));
        backoff.pause();  // its status is changing (see g.hpp)
    }
    return true;
}

void end_scan(G* g, GStatus was) {
    GStatus cur = with_scan(was);
    if (!g->status.compare_exchange_strong(cur, was))
        base::fatal("end_scan: G %llu changed status while being scanned (%s)", static_cast<unsigned long long>(g->id),
                    status_name(cur));
}

}  // namespace weft::sched
