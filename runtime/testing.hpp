// testing.hpp — a kit to test your own code for syscall-return races and
// other GC-safety bugs the collector's verifiers can see.
//
// The race: code that runs between a system call's return and the fiber
// getting its P back (the rest of a weft::blocking callable) must not store
// a GC reference. weft makes such a store fatal ("write barrier without
// P"); what remains to test is that your code's stores right after calls,
// its use of Roots, containers and closures, keep every object it reaches
// alive while the collector runs at the worst moments.
//
//   #include <weft/testing.hpp>
//
//   weft::testing::StressReport r = weft::testing::stress_gc([](int i) {
//       std::string line = read_line(conn);        // weft::blocking inside
//       cache->put(i, gc::make<Entry>(line));      // right after the return
//   }, {.iterations = 20000, .fibers = 8});
//   if (!r.ok) std::fprintf(stderr, "%s\n", r.failure.c_str());
//
// stress_gc runs body(i) for every i in [0, iterations), spread over
// `fibers` fibers, inside a fresh weft::run in a child process, with
// WEFT_DEBUG set to
//   gcstress=1       collections back to back for the whole run;
//   syscallstress=1  random delays and yields where system calls return
//                    and around the collector's stops of the world;
//   gccheckmark=1    every marking verified: an object reachable but not
//                    marked is fatal, naming it, its type and what refers
//                    to it (an object, a Root, a fiber's stack);
//   gcpoison=1       freed objects filled: a later load through a
//                    gc::Member is fatal, naming the object, its old type
//                    and the fiber that loaded it; so is any Member load
//                    inside a weft::blocking callable (blocking.hpp).
//   leakcheck=1      fibers the body leaves blocked when the run ends are
//                    listed with their stacks (as Go's goleak): a leak.
// Any fatal error in the child (those, "write barrier without P", a
// crash) is reported in the parent: ok is false and `failure` holds the
// runtime's message; so is a leak (fibers_left_blocked > 0).
//
// Call it from a plain thread, outside weft::run (it forks; the child runs
// its own weft::run). The body and setup run in the child: their side
// effects do not reach the caller. Objects the body must find again go in
// state made by `setup` (held by a gc::Root).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace weft::testing {

struct StressOptions {
    int iterations = 1000;  // body calls in all
    int fibers = 4;         // fibers sharing them
    int procs = 2;          // Ps of the child's run
    int timeout_s = 300;    // the child is killed after this (reported as a failure)
    bool syscall_stress = true;
    bool checkmark = true;
    bool poison = true;
    // Once in the child, on the main fiber, before the fibers start.
    std::function<void()> setup;
};

struct StressReport {
    bool ok = false;
    int iterations_done = 0;  // body calls that returned
    uint64_t cycles = 0;      // collections completed in the child
    // How the body's system calls met the collector's stops of the world
    // (sched::syscall_stop_stats): Ps taken from a fiber in a call, and
    // calls that returned while the world was stopping or stopped.
    uint64_t ps_stopped_in_call = 0;
    uint64_t returns_during_stop = 0;
    // Fibers the body left blocked (parked, or in a call) when the run
    // ended: each is a leak, and makes ok false.
    uint64_t fibers_left_blocked = 0;
    // The child's fatal error line ("fatal error: ..."), or how it ended if
    // it printed none; empty when ok.
    std::string failure;
    std::string child_stderr;  // everything the child wrote to stderr
};

StressReport stress_gc(const std::function<void(int iteration)>& body, const StressOptions& options = {});

}  // namespace weft::testing
