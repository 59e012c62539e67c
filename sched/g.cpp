#include "sched/g.hpp"

#include "runtime/base/fatal.hpp"

namespace weft::sched {

const char* status_name(GStatus s) {
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

const char* wait_reason_name(WaitReason r) {
    switch (r) {
        case WaitReason::kNone: return "";
        case WaitReason::kChanReceive: return "chan receive";
        case WaitReason::kChanSend: return "chan send";
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
        case WaitReason::kTestHook: return "test hook";
    }
    return "?";
}

void cas_status(G* g, GStatus from, GStatus to) {
    GStatus old = from;
    // seq_cst: status changes publish the G to other Ms (dumps, sysmon).
    if (!g->status.compare_exchange_strong(old, to))
        base::fatal("bad G status transition for G %llu: %s -> %s, but it was %s",
                    static_cast<unsigned long long>(g->id), status_name(from), status_name(to), status_name(old));
}

}  // namespace weft::sched
