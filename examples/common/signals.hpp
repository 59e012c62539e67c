// signals.hpp — SIGINT/SIGTERM as a closed channel, for the servers.
//
//   int main(int argc, char** argv) {
//       ex::block_stop_signals();              // before weft::run
//       return ex::run("httpd", procs, [] {
//           ex::StopSignals stop;               // in the main fiber
//           weft::go([done = stop.chan(), srv] { done.recv(); srv->shutdown(); });
//           ...
//       });                                     // ~StopSignals ends the watcher
//   }
//
// Like Go's signal.Notify feeding a context's Done channel: the first
// SIGINT or SIGTERM closes chan(), which any number of fibers may wait on
// (recv, range-for or a select case). A second one ends the process at once
// (status 128 + signal), for a shutdown that hangs. While a StopSignals
// lives, a program waiting only for the signal is not reported as
// deadlocked (as in Go with signal.Notify).
//
// The design is in signals.cpp. Contexts: block_stop_signals() from main()
// before weft::run starts any thread; StopSignals from a fiber (the watcher
// calls weft::go, which needs run() active); at most one StopSignals at a
// time.
#pragma once

#include <atomic>
#include <thread>

#include <weft/chan.hpp>
#include <weft/run.hpp>

namespace ex {

// Blocks SIGINT and SIGTERM in the calling thread, so every thread started
// afterwards (weft's Ms, sysmon) inherits the mask and none of them takes
// the signal asynchronously; and ignores SIGPIPE, so writing to a peer that
// has gone away fails with EPIPE instead of killing the process.
void block_stop_signals();

class StopSignals {
public:
    // Starts the watcher thread. Throws std::logic_error if
    // block_stop_signals() was not called first, std::system_error if the
    // signalfd or eventfd cannot be made.
    StopSignals();
    // Stops and joins the watcher (it returns promptly).
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // Closed (by a fiber the watcher starts) on the first stop signal;
    // never closed otherwise.
    weft::Chan<int> chan() const { return chan_; }
    // The stop signal received so far (SIGINT or SIGTERM), or 0.
    int signal() const { return signal_.load(); }

private:
    void watch();

    weft::Chan<int> chan_;
    std::atomic<int> signal_{0};
    int sigfd_ = -1;   // signalfd for SIGINT, SIGTERM
    int wakefd_ = -1;  // eventfd: the destructor's "stop watching"
    weft::Spawner spawner_;  // SG3 (signals.cpp)
    std::thread watcher_;
};

}  // namespace ex
