// trace_check.hpp — checks a trace against the fiber state machine: what
// the trace suites assert of every trace they make.
#pragma once

#include <map>
#include <string>

#include "tools/weft-trace/reader.hpp"

namespace weft::suite {

// Every fiber's events follow its states (created, runnable, running,
// blocked, in a call, ended), a stop or a block comes from the thread that
// runs the fiber, a thread runs one fiber at a time, and each thread's
// events have non-decreasing times. A fiber first seen by another event
// than its creation or a status record starts in whatever state that event
// implies when `window` (a flight recorder's snapshot), else it is an
// error. Returns "" or the first violation, with the event.
inline std::string check_fiber_states(const weft_trace::Trace& t, bool window) {
    using weft_trace::Ev;
    enum class S { kNone, kRunnable, kRunning, kBlocked, kSyscall, kDead };
    struct F {
        S s = S::kNone;
        int64_t thread = 0;
    };
    std::map<uint64_t, F> fibers;
    std::map<int64_t, uint64_t> running_on;  // thread -> fiber
    std::map<int64_t, std::pair<uint32_t, int64_t>> last;  // thread -> (seq, ns)
    for (const auto& e : t.events) {
        auto where = [&](const std::string& what) {
            return what + " at " + std::to_string(e.ns) + " ns: " + weft_trace::event_name(e.type) + " of fiber " +
                   std::to_string(e.a[0] & weft::base::tracefmt::kGoidMask) + " on thread " + std::to_string(e.thread);
        };
        auto& l = last[e.thread];
        if (l.first != 0 && (e.seq < l.first || e.ns < l.second)) return where("a thread's events out of order");
        l = {e.seq, e.ns};
        uint64_t g = e.a[0] & weft::base::tracefmt::kGoidMask;
        F& f = fibers[g];
        auto need = [&](S from, S to) -> std::string {
            if (f.s == S::kNone && window && e.type != Ev::kGoCreate) f.s = from;
            if (f.s != from) return where("a fiber in the wrong state for");
            f.s = to;
            return "";
        };
        std::string err;
        switch (e.type) {
            case Ev::kGoCreate: err = need(S::kNone, S::kRunnable); break;
            case Ev::kGoStatus:
                if (f.s == S::kNone) {
                    std::string st = t.status(e.a[3] & 0xff);
                    f.s = st == "runnable" ? S::kRunnable : st == "running" ? S::kRunning
                        : st == "syscall" ? S::kSyscall : S::kBlocked;
                    if (f.s == S::kRunning) running_on[e.thread] = g, f.thread = e.thread;
                }
                break;
            case Ev::kGoStart:
            case Ev::kGoSyscallEnd:
                err = need(e.type == Ev::kGoStart ? S::kRunnable : S::kSyscall, S::kRunning);
                if (err.empty() && running_on[e.thread] != 0 && running_on[e.thread] != g)
                    err = where("a thread running two fibers at once:");
                running_on[e.thread] = g;
                f.thread = e.thread;
                break;
            case Ev::kGoStop:
            case Ev::kGoBlock:
            case Ev::kGoEnd:
            case Ev::kGoSyscall: {
                bool first = f.s == S::kNone;
                S to = e.type == Ev::kGoStop ? S::kRunnable : e.type == Ev::kGoBlock ? S::kBlocked
                     : e.type == Ev::kGoEnd ? S::kDead : S::kSyscall;
                err = need(S::kRunning, to);
                if (err.empty() && !first && f.thread != e.thread) err = where("a fiber stopped by another thread than its own:");
                if (running_on[e.thread] == g) running_on[e.thread] = 0;
                break;
            }
            case Ev::kGoUnblock: err = need(S::kBlocked, S::kRunnable); break;
            case Ev::kGoSyscallBlocked:
                err = need(S::kSyscall, S::kRunnable);
                if (running_on[e.thread] == g) running_on[e.thread] = 0;
                break;
            default: break;
        }
        if (!err.empty()) return err;
    }
    return "";
}

}  // namespace weft::suite
