// signals.hpp — ending a program cleanly on SIGINT/SIGTERM (Go's
// signal.NotifyContext).
//
//   int main() {
//       weft::block_stop_signals();             // first thing, before weft::run
//       return weft::run([] {
//           weft::StopSignals stop;              // in a fiber; lives while the server does
//           serve(stop.context());               // done at the first SIGINT or SIGTERM
//       });                                      // ~StopSignals ends the watcher
//   }
//
// The first SIGINT or SIGTERM cancels context() (ContextErrc::canceled;
// signal() then says which); a second one ends the process at once with
// status 128 + signal, for a shutdown that hangs. context() is a child of
// the parent given, so it also ends with it. While a StopSignals lives, a
// program whose fibers all wait for the signal is not reported as
// deadlocked (as in Go with signal.Notify).
//
// Contexts: block_stop_signals() from main() before weft::run starts any
// thread (every thread weft starts inherits its mask); StopSignals from a
// fiber; at most one at a time.
#pragma once

#include <atomic>
#include <thread>

#include <weft/context.hpp>
#include <weft/run.hpp>

namespace weft {

// Blocks SIGINT and SIGTERM in the calling thread, so every thread started
// afterwards (weft's threads) inherits the mask and none takes them
// asynchronously; and ignores SIGPIPE, so a write to a peer that has gone
// fails with EPIPE instead of killing the process.
void block_stop_signals();

class StopSignals {
public:
    // Starts the watcher thread. Throws std::logic_error if
    // block_stop_signals() was not called first or another StopSignals
    // lives, std::system_error if the signalfd or eventfd cannot be made.
    explicit StopSignals(const Context& parent = Context());
    // Stops and joins the watcher (it returns promptly); context() stays
    // as it is.
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // Cancelled at the first stop signal (or with the parent).
    const Context& context() const { return ctx_; }
    // The stop signal received so far (SIGINT or SIGTERM), or 0.
    int signal() const { return signal_.load(); }

private:
    void watch();

    Context ctx_;
    CancelFunc cancel_;
    std::atomic<int> signal_{0};
    int sigfd_ = -1;   // signalfd for SIGINT, SIGTERM
    int wakefd_ = -1;  // eventfd: the destructor's "stop watching"
    Spawner spawner_;  // SG3 (signals.cpp)
    std::thread watcher_;
};

}  // namespace weft
