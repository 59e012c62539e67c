// The execution trace (weft/trace.hpp, sched/trace.cpp): what a known
// program's trace holds, read back with weft-trace's reader; the flight
// recorder; misuse.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"
#include "tools/weft-trace/model.hpp"
#include "tools/weft-trace/reader.hpp"
#include "trace/trace_check.hpp"

namespace {

using weft_trace::Ev;
using weft_trace::Event;
using weft_trace::Trace;
using weft::suite::contains;
namespace tf = weft::base::tracefmt;

std::string temp_path(const char* name) {
    return "/tmp/weft-trace-test-" + std::to_string(getpid()) + "-" + name;
}

uint64_t goid(const Event& e) { return e.a[0] & tf::kGoidMask; }

// The fiber created at `line` of this file (GoCreate's site).
uint64_t fiber_at_line(const Trace& t, uint32_t line) {
    for (const Event& e : t.events)
        if (e.type == Ev::kGoCreate && ((e.a[0] >> 40) & 0xffffff) == line &&
            t.str(e.a[1]).find("trace_test.cpp") != std::string::npos)
            return goid(e);
    return 0;
}

std::vector<const Event*> of_fiber(const Trace& t, uint64_t g) {
    std::vector<const Event*> out;
    for (const Event& e : t.events) {
        switch (e.type) {
            case Ev::kGoCreate: case Ev::kGoStart: case Ev::kGoStop: case Ev::kGoBlock: case Ev::kGoUnblock:
            case Ev::kGoEnd: case Ev::kGoSyscall: case Ev::kGoSyscallEnd: case Ev::kGoSyscallBlocked:
            case Ev::kRegion: case Ev::kLog:
                if (goid(e) == g) out.push_back(&e);
                break;
            default: break;
        }
    }
    return out;
}

// weft::go, counted by wg.
template <class F>
void go_counted(weft::WaitGroup& wg, F f) {
    wg.add(1);
    weft::go([&wg, f]() mutable {
        f();
        wg.done();
    });
}

int count(const Trace& t, Ev type) {
    return static_cast<int>(std::count_if(t.events.begin(), t.events.end(), [&](const Event& e) { return e.type == type; }));
}

// The known program: two fibers ping-pong `rounds` times over unbuffered
// channels; the main fiber makes a blocking call inside a region, runs a
// collection and logs.
constexpr int kRounds = 100;
uint32_t g_ping_line = 0, g_pong_line = 0;

void known_program() {
    weft::Chan<int> a, b;
    weft::WaitGroup wg;
    wg.add(2);
    g_ping_line = __LINE__ + 1;
    weft::go([&] {
        for (int i = 0; i < kRounds; i++) {
            a.send(i);
            b.recv();
        }
        wg.done();
    });
    g_pong_line = __LINE__ + 1;
    weft::go([&] {
        for (int i = 0; i < kRounds; i++) {
            int v = a.recv().value();
            b.send(v);
        }
        wg.done();
    });
    {
        weft::trace::Region r("a blocking call");
        weft::blocking([] { usleep(2000); });
    }
    weft::gc::collect();
    weft::trace::log("test", "before the wait");
    wg.wait();
}

}  // namespace

TEST_CASE("a traced run: every fiber's events in order, each run paired, a known program's story") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        std::string path = temp_path("known");
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::trace::start(path);
            CHECK(weft::trace::enabled());
            known_program();
            weft::trace::stop();
            CHECK_FALSE(weft::trace::enabled());
        });
        Trace t = weft_trace::read_trace(path);
        unlink(path.c_str());
        CHECK(t.procs == procs);
        CHECK(t.lost == 0);
        CHECK(weft::suite::check_fiber_states(t, false) == "");

        // The fibers, named by where they were created.
        uint64_t ping = fiber_at_line(t, g_ping_line), pong = fiber_at_line(t, g_pong_line);
        REQUIRE(ping != 0);
        REQUIRE(pong != 0);
        // Each sends and receives kRounds times: it blocks at most twice a
        // round and ends once; everything it did came in begin/end pairs.
        for (uint64_t g : {ping, pong}) {
            auto evs = of_fiber(t, g);
            REQUIRE(!evs.empty());
            CHECK(evs.front()->type == Ev::kGoCreate);
            CHECK(evs.back()->type == Ev::kGoEnd);
            int starts = 0, stops = 0, blocks = 0, unblocks = 0;
            for (auto* e : evs) {
                starts += e->type == Ev::kGoStart;
                stops += e->type == Ev::kGoBlock || e->type == Ev::kGoStop || e->type == Ev::kGoEnd;
                blocks += e->type == Ev::kGoBlock;
                unblocks += e->type == Ev::kGoUnblock;
                if (e->type == Ev::kGoBlock) {
                    std::string why = t.reason(e->a[0] >> 56);
                    CHECK_MESSAGE((why == "chan send" || why == "chan receive"), why);
                }
            }
            CHECK(starts == stops);
            CHECK(blocks == unblocks);
            CHECK(blocks >= kRounds / 2);  // they hand off to each other
            CHECK(blocks <= 2 * kRounds);
        }
        // The wake-ups of ping-pong are by the other fiber: an unblock of
        // ping is written by the thread running pong.
        int by_fiber = 0;
        for (const Event& e : t.events)
            if (e.type == Ev::kGoUnblock && goid(e) == ping &&
                static_cast<tf::WakeSource>(e.a[0] >> 56) == tf::WakeSource::kFiber)
                by_fiber++;
        CHECK(by_fiber >= kRounds / 2);

        // The main fiber existed before the trace began: a status record.
        auto main_evs = of_fiber(t, 1);
        REQUIRE(!main_evs.empty());
        bool status = false;
        for (const Event& e : t.events)
            if (e.type == Ev::kGoStatus && goid(e) == 1) status = t.status(e.a[3] & 0xff) == "running";
        CHECK(status);
        // Its region holds its blocking call: region begin, call, return, region end.
        std::vector<Ev> seq;
        std::string region;
        for (auto* e : main_evs) {
            if (e->type == Ev::kRegion && (e->a[0] >> 56)) region = e->text;
            if (e->type == Ev::kRegion || e->type == Ev::kGoSyscall || e->type == Ev::kGoSyscallEnd ||
                e->type == Ev::kGoSyscallBlocked)
                seq.push_back(e->type);
        }
        CHECK(region == "a blocking call");
        REQUIRE(seq.size() == 4);
        CHECK(seq[0] == Ev::kRegion);
        CHECK(seq[1] == Ev::kGoSyscall);
        CHECK((seq[2] == Ev::kGoSyscallEnd || seq[2] == Ev::kGoSyscallBlocked));
        CHECK(seq[3] == Ev::kRegion);

        // The collection: its phases in order, each switch inside a stop
        // of the world; every stop ends.
        std::vector<std::string> phases;
        int open_stw = 0, stws = 0;
        bool phase_outside_stw = false;
        for (const Event& e : t.events) {
            if (e.type == Ev::kSTWBegin) {
                CHECK(open_stw == 0);
                open_stw++;
                stws++;
            } else if (e.type == Ev::kSTWEnd) {
                CHECK(open_stw == 1);
                open_stw--;
            } else if (e.type == Ev::kGCPhase) {
                phases.push_back(t.str(e.a[0]));
                if (open_stw == 0) phase_outside_stw = true;
            }
        }
        CHECK(open_stw == 0);
        CHECK_FALSE(phase_outside_stw);
        CHECK(stws >= 4 + 1);  // the trace's start, and the cycle's switches
        std::vector<std::string> cycle = {"GCscan", "GCmark", "GCmarktermination", "GCsweep", "GCoff"};
        auto it = std::search(phases.begin(), phases.end(), cycle.begin(), cycle.end());
        CHECK_MESSAGE(it != phases.end(), "phases seen: " << phases.size());
        CHECK(count(t, Ev::kHeap) >= 5);

        // The log, on the main fiber, after its collection.
        bool logged = false;
        for (auto* e : main_evs)
            if (e->type == Ev::kLog) logged = e->text == "test" && e->text2 == "before the wait";
        CHECK(logged);

        // Times: within the trace, and the model agrees on the fibers.
        for (const Event& e : t.events) {
            CHECK(e.ns >= 0);
            CHECK(e.ns <= t.end_ns);
        }
        weft_trace::Model m = weft_trace::build_model(t);
        CHECK(m.fibers.at(ping).runs >= static_cast<uint64_t>(kRounds / 2));
        CHECK(m.fibers.at(ping).site == "trace_test.cpp:" + std::to_string(g_ping_line));
        CHECK(m.fibers.at(ping).blocked_ns.count("chan receive") + m.fibers.at(ping).blocked_ns.count("chan send") > 0);
        CHECK(m.gc_cycles >= 1);
        CHECK(m.regions.count("a blocking call") == 1);
    }
}

TEST_CASE("WEFT_TRACE traces a whole run, its main fiber's creation first") {
    std::string path = temp_path("env");
    setenv("WEFT_TRACE", path.c_str(), 1);
    weft::run(weft::Options{.procs = 2}, [] {
        weft::WaitGroup wg;
        for (int i = 0; i < 10; i++) go_counted(wg, [] { weft::sleep(std::chrono::microseconds(100)); });
        wg.wait();
    });
    unsetenv("WEFT_TRACE");
    Trace t = weft_trace::read_trace(path);
    unlink(path.c_str());
    REQUIRE(!t.events.empty());
    CHECK(t.events.front().type == Ev::kGoCreate);
    CHECK(goid(t.events.front()) == 1);
    CHECK(weft::suite::check_fiber_states(t, false) == "");
    // Ten sleepers, each woken by a timer.
    int by_timer = 0;
    for (const Event& e : t.events)
        if (e.type == Ev::kGoUnblock && static_cast<tf::WakeSource>(e.a[0] >> 56) == tf::WakeSource::kTimer) by_timer++;
    CHECK(by_timer >= 10);
    CHECK(count(t, Ev::kGoEnd) >= 11);
}

TEST_CASE("a flight recorder keeps the last events within its bounds, and its window tells a whole story") {
    std::string path = temp_path("flight");
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::trace::FlightRecorder rec({.max_bytes = 256u << 10, .max_age = std::chrono::seconds(60)});
        rec.start();
        CHECK(rec.enabled());
        // Far more events than the recorder keeps: ~12 per round.
        weft::Chan<int> a, b;
        weft::WaitGroup wg;
        go_counted(wg, [&] {
            for (int i = 0; i < 40000; i++) {
                a.send(i);
                b.recv();
            }
        });
        go_counted(wg, [&] {
            for (int i = 0; i < 40000; i++) b.send(a.recv().value());
        });
        wg.wait();
        weft::trace::log("test", "the last thing");
        size_t bytes = rec.write_to(path);
        CHECK(bytes > 0);
        // Bounded: the ring, plus the buffer each thread is filling.
        CHECK(bytes <= (256u << 10) + 8 * (64u << 10));
        CHECK(rec.enabled());
        rec.stop();
        CHECK_FALSE(rec.enabled());
        CHECK_THROWS_WITH_AS(rec.stop(), doctest::Contains("not recording"), std::logic_error);
    });
    Trace t = weft_trace::read_trace(path);
    unlink(path.c_str());
    CHECK((t.flags & tf::kFlightRecording) != 0);
    CHECK(t.window_start_ns > 0);  // it forgot the beginning
    // From the window's start on, every event is there: each fiber's
    // events follow its states from the first one seen.
    CHECK(weft::suite::check_fiber_states(t, true) == "");
    bool last = false;
    for (const Event& e : t.events) last = last || (e.type == Ev::kLog && e.text2 == "the last thing");
    CHECK(last);
    // The status records written at the snapshot name the fibers.
    weft_trace::Model m = weft_trace::build_model(t);
    CHECK(m.fibers.at(1).site != "");
}

TEST_CASE("a fatal error with a flight recorder leaves a trace whose events precede it") {
    std::string path = temp_path("fatal");
    auto r = weft::suite::run_in_child([&] {
        weft::run(weft::Options{.procs = 2}, [&] {
            static weft::trace::FlightRecorder rec({.fatal_path = path});
            rec.start();
            weft::WaitGroup wg;
            for (int i = 0; i < 20; i++) go_counted(wg, [] { weft::yield(); });
            wg.wait();
            weft::trace::log("test", "just before the deadlock");
            weft::Chan<int> never;
            never.recv();  // every fiber asleep: a fatal error
        });
    });
    CHECK(r.exit_code != 0);
    CHECK(weft::suite::contains(r.err, "deadlock"));
    CHECK(weft::suite::contains(r.err, "the flight recorder's last events are in " + path));
    Trace t = weft_trace::read_trace(path);
    unlink(path.c_str());
    CHECK(t.fatal);
    CHECK((t.flags & tf::kFlightRecording) != 0);
    REQUIRE(!t.events.empty());
    bool logged = false;
    for (const Event& e : t.events) {
        CHECK(e.ns <= t.fatal_ns);
        logged = logged || (e.type == Ev::kLog && e.text2 == "just before the deadlock");
    }
    CHECK(logged);
    // The main fiber's last event: it blocked on the channel.
    const Event* last = nullptr;
    for (const Event& e : t.events)
        if (e.type == Ev::kGoBlock && goid(e) == 1) last = &e;
    REQUIRE(last != nullptr);
    CHECK(t.reason(last->a[0] >> 56) == "chan receive");
    CHECK(weft::suite::check_fiber_states(t, true) == "");
}

TEST_CASE("trace misuse: a clear error, and the run goes on") {
    std::string path = temp_path("misuse");
    CHECK_THROWS_WITH_AS(weft::trace::start(path), doctest::Contains("no runtime is running"), std::logic_error);
    CHECK_THROWS_WITH_AS(weft::trace::stop(), doctest::Contains("no trace is being recorded"), std::logic_error);
    weft::run(weft::Options{.procs = 1}, [&] {
        CHECK_THROWS_WITH_AS(weft::trace::start("/nonexistent-dir/x.wtrace"),
                             doctest::Contains("cannot create /nonexistent-dir/x.wtrace"), std::system_error);
        CHECK_THROWS_WITH_AS(weft::trace::start(""), doctest::Contains("empty"), std::invalid_argument);
        weft::trace::start(path);
        CHECK_THROWS_WITH_AS(weft::trace::start(path), doctest::Contains("already being recorded"), std::logic_error);
        weft::trace::FlightRecorder rec;
        CHECK_THROWS_WITH_AS(rec.start(), doctest::Contains("one trace session at a time"), std::logic_error);
        CHECK_FALSE(rec.enabled());
        CHECK_THROWS_WITH_AS(rec.write_to(path + ".2"), doctest::Contains("not recording"), std::logic_error);
        weft::trace::stop();
        CHECK_THROWS_WITH_AS(weft::trace::stop(), doctest::Contains("no trace is being recorded"), std::logic_error);
        // A recorder is stopped by its own stop(), not trace::stop(); and
        // only by the recorder that started it.
        {
            weft::trace::FlightRecorder on;
            on.start();
            CHECK_THROWS_WITH_AS(weft::trace::stop(), doctest::Contains("a flight recorder is recording, not a trace"),
                                 std::logic_error);
            CHECK(on.enabled());
            weft::trace::FlightRecorder other;
            CHECK_FALSE(other.enabled());
            CHECK_THROWS_WITH_AS(other.stop(), doctest::Contains("this recorder is not recording"), std::logic_error);
            CHECK(on.enabled());
        }  // on's destructor stops it
        CHECK_FALSE(weft::trace::enabled());
        weft::trace::FlightRecorder tiny({.max_bytes = 1000});
        CHECK_THROWS_WITH_AS(tiny.start(), doctest::Contains("under one 64 KiB buffer"), std::invalid_argument);
        weft::trace::FlightRecorder ageless({.max_age = std::chrono::milliseconds(0)});
        CHECK_THROWS_WITH_AS(ageless.start(), doctest::Contains("max_age must be positive"), std::invalid_argument);
        // From a plain thread: trace sessions stop the world, which only a fiber can.
        std::string err;
        std::thread th([&] {
            try {
                weft::trace::start(path);
            } catch (const std::logic_error& e) {
                err = e.what();
            }
        });
        th.join();
        CHECK(weft::suite::contains(err, "from a fiber"));
        // Annotations with nothing recording cost nothing and say nothing.
        weft::trace::Region r("unrecorded");
        weft::trace::log("x", "y");
    });
    // A trace a run left recording ends with the run, complete; so does a
    // recorder, which then says it is not recording.
    weft::trace::FlightRecorder outlived;
    weft::run(weft::Options{.procs = 1}, [&] { outlived.start(); });
    CHECK_FALSE(outlived.enabled());
    CHECK_THROWS_WITH_AS(outlived.stop(), doctest::Contains("not recording"), std::logic_error);
    weft::run(weft::Options{.procs = 1}, [&] { weft::trace::start(path); });
    Trace t = weft_trace::read_trace(path);
    CHECK(count(t, Ev::kGoEnd) >= 1);
    unlink(path.c_str());
}

TEST_CASE("the reader refuses what is not a whole trace, saying why") {
    CHECK_THROWS_WITH_AS(weft_trace::parse_trace("hello", "x"), doctest::Contains("not a weft trace"), std::runtime_error);
    std::string head(16, '\0');
    std::memcpy(head.data(), tf::kMagic, 8);
    head[8] = 1;
    CHECK_THROWS_WITH_AS(weft_trace::parse_trace(head, "x"), doctest::Contains("no clock record"), std::runtime_error);
    std::string batch = head;
    uint64_t rec = static_cast<uint64_t>(tf::Record::kBatch) | uint64_t{9} << 32;
    batch.append(reinterpret_cast<const char*>(&rec), 8);
    CHECK_THROWS_WITH_AS(weft_trace::parse_trace(batch, "x"), doctest::Contains("truncated"), std::runtime_error);
    std::string v2 = head;
    v2[8] = 2;
    CHECK_THROWS_WITH_AS(weft_trace::parse_trace(v2, "x"), doctest::Contains("version 2"), std::runtime_error);
    CHECK_THROWS_WITH_AS(weft_trace::read_trace("/nonexistent.wtrace"), doctest::Contains("cannot open"), std::runtime_error);
}

TEST_CASE("a plain thread's events are its own: a fiber started by a Spawner, its thread named") {
    std::string path = temp_path("outside");
    uint32_t line = 0;
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::trace::start(path);
        weft::Chan<int> done(1);
        weft::Spawner spawner;
        std::thread th([&, s = std::move(spawner)]() mutable {
            line = __LINE__ + 1;
            s.go([done]() mutable { done.send(1); });
        });
        done.recv();
        th.join();  // the thread's writer goes back with it
        weft::trace::stop();
    });
    Trace t = weft_trace::read_trace(path);
    unlink(path.c_str());
    CHECK(weft::suite::check_fiber_states(t, false) == "");
    const Event* create = nullptr;
    for (const Event& e : t.events)
        if (e.type == Ev::kGoCreate && ((e.a[0] >> 40) & 0xffffff) == line) create = &e;
    REQUIRE(create != nullptr);
    CHECK(create->thread <= static_cast<int64_t>(tf::ThreadKind::kOutside));  // not an M, not sysmon
    CHECK((create->a[3] >> 1) == 0);  // no parent fiber
    weft_trace::Model m = weft_trace::build_model(t);
    bool named = false;
    for (auto& [tid, name] : m.thread_names) named = named || contains(name, "outside the runtime");
    CHECK(named);
}
