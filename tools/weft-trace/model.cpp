// model.cpp — see model.hpp.
#include "tools/weft-trace/model.hpp"

#include <algorithm>
#include <set>

namespace weft_trace {

namespace tf = weft::base::tracefmt;

namespace {

std::string base_name(const std::string& path) {
    size_t s = path.rfind('/');
    return s == std::string::npos ? path : path.substr(s + 1);
}

// Thread keys (M ids, ThreadKind) as track ids: M n is n + 1 (Perfetto
// takes a tid of 0 for the process's own), the others after them.
int64_t thread_tid(int64_t thread) { return thread >= 0 ? thread + 1 : 100000 - thread; }
// P n's track, for the same reason.
int64_t p_tid(int64_t p) { return p + 1; }

std::string thread_label(int64_t thread) {
    if (thread >= 0) return "M " + std::to_string(thread);
    if (thread == static_cast<int64_t>(tf::ThreadKind::kSysmon)) return "sysmon";
    return "thread " + std::to_string(-thread - 1) + " (outside the runtime)";
}

using State = FiberStats::State;

struct ThreadState {
    uint64_t cur = 0;  // the fiber running on it
    int64_t p = -1;    // the P it holds
    int64_t idle_start = -1, spin_start = -1;
    uint64_t syscall_goid = 0;
    int64_t syscall_start = -1;
    int64_t work_start = -1, sweep_start = -1, assist_start = -1;
    uint64_t assist_goid = 0;
};

class Builder {
public:
    explicit Builder(const Trace& t, Model& m) : t_(t), m_(m) {}

    void run() {
        for (const Event& e : t_.events) {
            end_ = std::max(end_, e.ns);
            step(e);
        }
        m_.end_ns = std::max(end_, t_.end_ns);
        finish();
    }

private:
    FiberStats& fiber(uint64_t id) {
        FiberStats& f = m_.fibers[id];
        f.id = id;
        return f;
    }
    ThreadState& thread(int64_t key) {
        if (!m_.thread_names.count(thread_tid(key))) m_.thread_names[thread_tid(key)] = thread_label(key);
        return threads_[key];
    }

    // Leaves the fiber's current state at ns, adding its time to the sums.
    void leave(FiberStats& f, int64_t ns) {
        int64_t d = std::max<int64_t>(ns - f.since, 0);
        switch (f.state) {
            case State::kRunnable: f.runnable_ns += d; runnable_--; break;
            case State::kBlocked: f.blocked_ns[f.reason] += d; break;
            case State::kSyscall: f.syscall_ns += d; break;
            case State::kRunning: f.running_ns += d; break;
            default: break;
        }
        f.since = ns;
    }
    void enter(FiberStats& f, State s, int64_t ns) {
        leave(f, ns);
        f.state = s;
        f.since = ns;
        if (s == State::kRunnable) runnable_++;
        count_runnable(ns);
    }
    void count_runnable(int64_t ns) {
        // One point per microsecond at most: a counter per event would
        // outweigh the slices it explains.
        if (runnable_ == last_runnable_) return;
        if (!m_.counters.empty() && m_.counters.back().name == "runnable fibers" && ns - last_runnable_ns_ < 1000) {
            m_.counters.back().values[0].second = static_cast<double>(runnable_);
        } else {
            m_.counters.push_back({"runnable fibers", ns, {{"runnable", static_cast<double>(runnable_)}}});
            last_runnable_ns_ = ns;
        }
        last_runnable_ = runnable_;
    }

    std::vector<std::pair<std::string, std::string>> fiber_args(const FiberStats& f, const std::string& end) {
        std::vector<std::pair<std::string, std::string>> a = {{"fiber", std::to_string(f.id)}};
        if (!f.site.empty()) a.push_back({"created at", f.site + " (" + f.function + ")"});
        if (f.parent) a.push_back({"created by", "fiber " + std::to_string(f.parent)});
        if (!f.woken_by.empty()) a.push_back({"woken by", f.woken_by});
        a.push_back({"ended", end});
        return a;
    }

    void end_run(FiberStats& f, int64_t ns, const std::string& why) {
        if (f.state != State::kRunning) return;
        std::string name = f.label();
        auto args = fiber_args(f, why);
        if (f.run_p >= 0) m_.slices.push_back({kProcPs, p_tid(f.run_p), f.run_start, ns, name, "fiber", args});
        m_.slices.push_back({kProcThreads, thread_tid(f.run_thread), f.run_start, ns, name, "fiber", args});
        ThreadState& th = thread(f.run_thread);
        if (th.cur == f.id) th.cur = 0;
        f.woken_by.clear();
    }

    void start_run(FiberStats& f, const Event& e, int64_t p, bool latency) {
        if (latency && f.state == State::kRunnable && f.since > 0) m_.sched_latency_ns.push_back(e.ns - f.since);
        enter(f, State::kRunning, e.ns);
        f.run_start = e.ns;
        f.run_p = p;
        f.run_thread = e.thread;
        f.runs++;
        ThreadState& th = thread(e.thread);
        close_spin(th, e.thread, e.ns);
        th.cur = f.id;
        if (p >= 0) {
            th.p = p;
            if (!m_.p_names.count(p_tid(p))) m_.p_names[p_tid(p)] = "P " + std::to_string(p);
        }
        if (f.has_flow && p >= 0) {
            f.pending.to_process = kProcPs;
            f.pending.to_tid = p_tid(p);
            f.pending.to_ns = e.ns;
            m_.flows.push_back(f.pending);
        }
        f.has_flow = false;
    }

    // A flow from the fiber running on this thread, if one does, to f's next run.
    void flow_from(FiberStats& f, const ThreadState& th, int64_t ns) {
        f.has_flow = false;
        if (th.cur == 0 || th.p < 0) return;
        auto it = m_.fibers.find(th.cur);
        if (it == m_.fibers.end() || it->second.state != State::kRunning) return;
        f.pending = Flow{kProcPs, 0, p_tid(th.p), 0, ns, 0};
        f.has_flow = true;
    }

    void close_spin(ThreadState& th, int64_t thread_key, int64_t ns) {
        if (th.spin_start < 0) return;
        m_.slices.push_back({kProcThreads, thread_tid(thread_key), th.spin_start, ns, "spinning", "spinning", {}});
        th.spin_start = -1;
    }
    void close_syscall(ThreadState& th, int64_t thread_key, int64_t ns) {
        if (th.syscall_start < 0) return;
        std::vector<std::pair<std::string, std::string>> a = {{"fiber", std::to_string(th.syscall_goid)}};
        m_.slices.push_back({kProcThreads, thread_tid(thread_key), th.syscall_start, ns, "system call", "syscall", a});
        th.syscall_start = -1;
    }
    void instant(const Event& e, std::string name, std::vector<std::pair<std::string, std::string>> args) {
        thread(e.thread);
        m_.instants.push_back({kProcThreads, thread_tid(e.thread), e.ns, std::move(name), "sched", std::move(args)});
    }

    void site_of(FiberStats& f, const Event& e) {
        f.site = base_name(t_.str(e.a[1])) + ":" + std::to_string((e.a[0] >> 40) & 0xffffff);
        f.function = t_.str(e.a[2]);
    }

    void step(const Event& e) {
        uint64_t goid = e.a[0] & tf::kGoidMask;
        switch (e.type) {
            case Ev::kGoCreate: {
                FiberStats& f = fiber(goid);
                site_of(f, e);
                f.parent = e.a[3] >> 1;
                f.system = (e.a[3] & 1) != 0;
                enter(f, State::kRunnable, e.ns);
                flow_from(f, thread(e.thread), e.ns);
                if (!f.has_flow) f.woken_by = "created";
                break;
            }
            case Ev::kGoStatus: {
                FiberStats& f = fiber(goid);
                if (f.site.empty()) site_of(f, e);
                f.system = ((e.a[3] >> 16) & 1) != 0;
                if (f.state != State::kUnknown) break;
                std::string st = t_.status(e.a[3] & 0xff);
                if (st == "runnable") {
                    enter(f, State::kRunnable, e.ns);
                } else if (st == "syscall") {
                    enter(f, State::kSyscall, e.ns);
                } else if (st == "running") {
                    // The fiber that started the window: it runs on the
                    // thread that wrote the record.
                    ThreadState& th = thread(e.thread);
                    enter(f, State::kRunning, e.ns);
                    f.run_start = e.ns;
                    f.run_thread = e.thread;
                    f.run_p = th.p;
                    th.cur = f.id;
                }
                else if (st == "waiting") {
                    enter(f, State::kBlocked, e.ns);
                    f.reason = t_.reason((e.a[3] >> 8) & 0xff);
                }
                break;
            }
            case Ev::kGoStart: start_run(fiber(goid), e, static_cast<int64_t>((e.a[0] >> 48) & 0xffff), true); break;
            case Ev::kGoStop: {
                FiberStats& f = fiber(goid);
                end_run(f, e.ns, (e.a[0] >> 56) == 0 ? "yielded" : "preempted");
                enter(f, State::kRunnable, e.ns);
                break;
            }
            case Ev::kGoBlock: {
                FiberStats& f = fiber(goid);
                std::string reason = t_.reason(e.a[0] >> 56);
                end_run(f, e.ns, "blocked: " + reason);
                enter(f, State::kBlocked, e.ns);
                f.reason = reason;
                break;
            }
            case Ev::kGoUnblock: {
                FiberStats& f = fiber(goid);
                if (f.state == State::kRunning || f.state == State::kRunnable) break;  // clock skew: already on
                auto src = static_cast<tf::WakeSource>(e.a[0] >> 56);
                ThreadState& th = thread(e.thread);
                enter(f, State::kRunnable, e.ns);
                switch (src) {
                    case tf::WakeSource::kFiber:
                        f.woken_by = th.cur ? "fiber " + std::to_string(th.cur) : "a fiber";
                        flow_from(f, th, e.ns);
                        break;
                    case tf::WakeSource::kNetpoll: f.woken_by = "the network poller"; break;
                    case tf::WakeSource::kTimer: f.woken_by = "a timer"; break;
                    case tf::WakeSource::kOutside: f.woken_by = "a thread outside the runtime"; break;
                    case tf::WakeSource::kScheduler: f.woken_by = "the scheduler"; break;
                }
                break;
            }
            case Ev::kGoEnd: {
                FiberStats& f = fiber(goid);
                end_run(f, e.ns, "ended");
                enter(f, State::kDead, e.ns);
                break;
            }
            case Ev::kGoSyscall: {
                FiberStats& f = fiber(goid);
                end_run(f, e.ns, "system call");
                enter(f, State::kSyscall, e.ns);
                ThreadState& th = thread(e.thread);
                th.syscall_goid = goid;
                th.syscall_start = e.ns;
                th.p = -1;
                break;
            }
            case Ev::kGoSyscallEnd: {
                ThreadState& th = thread(e.thread);
                close_syscall(th, e.thread, e.ns);
                start_run(fiber(goid), e, static_cast<int64_t>((e.a[0] >> 48) & 0xffff), false);
                break;
            }
            case Ev::kGoSyscallBlocked: {
                ThreadState& th = thread(e.thread);
                close_syscall(th, e.thread, e.ns);
                FiberStats& f = fiber(goid);
                enter(f, State::kRunnable, e.ns);
                f.woken_by = "its system call's return (it waited for a P)";
                break;
            }
            case Ev::kProcStart: {
                int64_t p = static_cast<int64_t>(e.a[0]);
                thread(e.thread).p = p;
                if (!m_.p_names.count(p_tid(p))) m_.p_names[p_tid(p)] = "P " + std::to_string(p);
                break;
            }
            case Ev::kProcStop: thread(e.thread).p = -1; break;
            case Ev::kProcHandoff: instant(e, "P hand-off", {{"P", std::to_string(e.a[0])}}); break;
            case Ev::kMSpin: {
                ThreadState& th = thread(e.thread);
                if (e.a[0]) {
                    if (th.spin_start < 0 && th.idle_start < 0) th.spin_start = e.ns;
                } else {
                    close_spin(th, e.thread, e.ns);
                }
                break;
            }
            case Ev::kMPark: {
                ThreadState& th = thread(e.thread);
                if (e.a[0]) {
                    close_spin(th, e.thread, e.ns);
                    th.idle_start = e.ns;
                } else if (th.idle_start >= 0) {
                    m_.slices.push_back({kProcThreads, thread_tid(e.thread), th.idle_start, e.ns, "idle", "idle", {}});
                    th.idle_start = -1;
                }
                break;
            }
            case Ev::kSteal:
                instant(e, "steal", {{"from P", std::to_string(e.a[0] & 0xffffffff)}, {"fibers", std::to_string(e.a[0] >> 32)}});
                break;
            case Ev::kNetpoll: instant(e, "netpoll", {{"ready", std::to_string(e.a[0])}}); break;
            case Ev::kTimers: instant(e, "timers", {{"fired", std::to_string(e.a[0])}}); break;
            case Ev::kSTWBegin: {
                pause_ = Pause{e.ns, e.ns, t_.str(e.a[0]), {}};
                for (auto& [id, f] : m_.fibers)
                    if (f.state == State::kRunning && f.id != thread(e.thread).cur)
                        pause_.running_before.push_back(f.label() + (f.run_p >= 0 ? " on P " + std::to_string(f.run_p) : ""));
                in_pause_ = true;
                break;
            }
            case Ev::kSTWEnd:
                if (in_pause_) {
                    pause_.end = e.ns;
                    close_pause();
                }
                break;
            case Ev::kGCPhase: {
                close_phase(e.ns);
                phase_ = t_.str(e.a[0]);
                phase_start_ = e.ns;
                if (phase_ == "GCscan") m_.gc_cycles++;
                break;
            }
            case Ev::kGCAssist: {
                ThreadState& th = thread(e.thread);
                if (e.a[0] >> 56) {
                    th.assist_start = e.ns;
                    th.assist_goid = goid;
                } else if (th.assist_start >= 0) {
                    m_.slices.push_back({kProcThreads, thread_tid(e.thread), th.assist_start, e.ns, "mark assist", "assist",
                                         {{"fiber", std::to_string(th.assist_goid)}}});
                    m_.assists++;
                    m_.assist_ns += e.ns - th.assist_start;
                    th.assist_start = -1;
                }
                break;
            }
            case Ev::kGCWork:
            case Ev::kGCSweep: {
                ThreadState& th = thread(e.thread);
                int64_t& start = e.type == Ev::kGCWork ? th.work_start : th.sweep_start;
                if (e.a[0]) {
                    start = e.ns;
                } else if (start >= 0) {
                    bool work = e.type == Ev::kGCWork;
                    m_.slices.push_back({kProcThreads, thread_tid(e.thread), start, e.ns, work ? "GC marking" : "GC sweeping", "gc", {}});
                    (work ? m_.gc_work_ns : m_.sweep_ns) += e.ns - start;
                    start = -1;
                }
                break;
            }
            case Ev::kHeap:
                m_.counters.push_back({"heap", e.ns, {{"live bytes", static_cast<double>(e.a[0])},
                                                      {"goal bytes", static_cast<double>(e.a[1])}}});
                break;
            case Ev::kRegion: {
                FiberStats& f = fiber(goid);
                if (e.a[0] >> 56) {
                    f.regions.push_back({e.text, e.ns});
                } else if (!f.regions.empty()) {
                    auto [name, start] = f.regions.back();
                    f.regions.pop_back();
                    close_region(f, name, start, e.ns);
                }
                break;
            }
            case Ev::kLog: {
                if (goid != 0) {
                    fiber(goid);
                    m_.instants.push_back({kProcFibers, static_cast<int64_t>(goid), e.ns, e.text, "log", {{"message", e.text2}}});
                    fiber_tracks_.insert(goid);
                } else {
                    thread(e.thread);
                    m_.instants.push_back({kProcThreads, thread_tid(e.thread), e.ns, e.text, "log", {{"message", e.text2}}});
                }
                break;
            }
            case Ev::kLost: instant(e, "events lost", {{"count", std::to_string(e.a[0])}}); break;
            case Ev::kNone:
            case Ev::kCount: break;
        }
    }

    void close_region(FiberStats& f, const std::string& name, int64_t start, int64_t end) {
        m_.slices.push_back({kProcFibers, static_cast<int64_t>(f.id), start, end, name, "region",
                             {{"fiber", std::to_string(f.id)}}});
        auto& r = m_.regions[name];
        r.first++;
        r.second += end - start;
        fiber_tracks_.insert(f.id);
    }
    void close_phase(int64_t ns) {
        if (!phase_.empty() && phase_ != "GCoff")
            m_.slices.push_back({kProcCollector, kTidPhases, phase_start_, ns, phase_, "gc", {}});
        phase_.clear();
    }
    void close_pause() {
        in_pause_ = false;
        std::vector<std::pair<std::string, std::string>> a = {{"reason", pause_.reason}};
        std::string before;
        for (auto& s : pause_.running_before) before += (before.empty() ? "" : ", ") + s;
        if (!before.empty()) a.push_back({"running as it began", before});
        m_.slices.push_back({kProcCollector, kTidPauses, pause_.start, pause_.end, "stop-the-world: " + pause_.reason, "stw", a});
        m_.pauses.push_back(pause_);
    }

    void finish() {
        int64_t end = m_.end_ns;
        for (auto& [id, f] : m_.fibers) {
            end_run(f, end, "the trace ended");
            while (!f.regions.empty()) {
                auto [name, start] = f.regions.back();
                f.regions.pop_back();
                close_region(f, name, start, end);
            }
            leave(f, end);
        }
        for (auto& [key, th] : threads_) {
            close_spin(th, key, end);
            close_syscall(th, key, end);
            if (th.idle_start >= 0) m_.slices.push_back({kProcThreads, thread_tid(key), th.idle_start, end, "idle", "idle", {}});
        }
        close_phase(end);
        if (in_pause_) {
            pause_.end = end;
            close_pause();
        }
        m_.fiber_tracks = fiber_tracks_;
    }

    const Trace& t_;
    Model& m_;
    std::map<int64_t, ThreadState> threads_;
    std::set<uint64_t> fiber_tracks_;
    int64_t end_ = 0;
    int64_t runnable_ = 0, last_runnable_ = -1, last_runnable_ns_ = 0;
    std::string phase_;
    int64_t phase_start_ = 0;
    Pause pause_;
    bool in_pause_ = false;
};

}  // namespace

std::string FiberStats::label() const {
    std::string s = "fiber " + std::to_string(id);
    if (system) s += " [runtime]";
    if (!site.empty()) s += " " + site;
    return s;
}

Model build_model(const Trace& t) {
    Model m;
    Builder(t, m).run();
    return m;
}

}  // namespace weft_trace
