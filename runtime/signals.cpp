// signals.cpp — turning SIGINT/SIGTERM into a context's cancellation.
//
// Owns: the watcher thread, its signalfd and eventfd, and the stop context.
//
// Invariants:
//   SG1. SIGINT and SIGTERM are blocked in every thread of the process
//       (block_stop_signals ran in main() before weft::run started any), so
//       they stay pending until the watcher reads them from its signalfd;
//       no handler ever runs on a fiber's stack.
//   SG2. The watcher calls weft::go only while run() is active: the main
//       fiber owns the StopSignals, and its destructor joins the watcher
//       before that fiber can return from run().
//   SG3. The watcher starts its fiber through a weft::Spawner, which the
//       StopSignals holds while it lives: with every fiber blocked (say,
//       the main fiber in context().done().recv()) the runtime then does not declare
//       a deadlock that a signal could still break.
//
// Protocol:
//   1. block_stop_signals() (main thread, before run) blocks the two
//      signals and ignores SIGPIPE.
//   2. StopSignals() makes its context, opens a signalfd for the two
//      signals and an eventfd, and starts the watcher, which poll()s both.
//   3. First stop signal: the watcher stores its number and starts a
//      fiber through spawner_ that cancels the context (a cancel runs
//      hooks that wake fibers: it must run on the runtime's threads).
//   4. Second stop signal: the shutdown is taking too long for the user;
//      the watcher prints a line and ends the process, 128 + signal.
//   5. ~StopSignals writes the eventfd; the watcher returns; join.
//
// Rejected:
//  - Reading the signalfd from a fiber through the netpoller: that fiber
//    would be left blocked at the end of every run that does not stop it,
//    its descriptor open; a thread costs nothing here.
//  - A self-pipe written by a signal handler: the same fiber-side problem,
//    plus async-signal-safety, plus a handler that could run on any fiber's
//    stack.
//  - sigwait() in the watcher: it cannot be woken to shut down except by
//    sending ourselves a signal, mixing real and fake stop requests.
//  - A plain atomic flag polled by the accept loop: accept() blocks, so
//    the loop would need a timeout to look at it; closing the listener
//    from a fiber wakes it at once.
#include <weft/signals.hpp>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <system_error>
#include <unistd.h>

#include <weft/run.hpp>

namespace weft {
namespace {

sigset_t stop_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

}  // namespace

void block_stop_signals() {
    sigset_t set = stop_set();
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    std::signal(SIGPIPE, SIG_IGN);
}

namespace {
std::atomic<bool> g_live{false};  // a StopSignals lives (both would read the one signalfd queue)
}  // namespace

StopSignals::StopSignals(const Context& parent) {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, nullptr, &cur);  // query only
    if (!sigismember(&cur, SIGINT) || !sigismember(&cur, SIGTERM))
        throw std::logic_error("weft::StopSignals: call weft::block_stop_signals() in main() before weft::run");
    if (g_live.exchange(true))
        throw std::logic_error("weft::StopSignals: another StopSignals is watching (one at a time)");
    auto [ctx, cancel] = with_cancel(parent);
    ctx_ = std::move(ctx);
    cancel_ = std::move(cancel);
    sigset_t set = stop_set();
    sigfd_ = signalfd(-1, &set, SFD_CLOEXEC);
    if (sigfd_ < 0) {
        g_live.store(false);
        throw std::system_error(errno, std::generic_category(), "signalfd");
    }
    wakefd_ = eventfd(0, EFD_CLOEXEC);
    if (wakefd_ < 0) {
        int e = errno;
        ::close(sigfd_);
        g_live.store(false);
        throw std::system_error(e, std::generic_category(), "eventfd");
    }
    watcher_ = std::thread([this] { watch(); });  // step 2
}

StopSignals::~StopSignals() {
    uint64_t one = 1;  // step 5
    while (::write(wakefd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    watcher_.join();  // SG2; the watcher is back from poll() at once
    ::close(sigfd_);
    ::close(wakefd_);
    g_live.store(false);
}

void StopSignals::watch() {
    for (;;) {
        pollfd fds[2] = {{sigfd_, POLLIN, 0}, {wakefd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "weft::StopSignals: poll failed: %s\n", std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) return;  // step 5
        if (fds[0].revents == 0) continue;
        signalfd_siginfo info;
        if (::read(sigfd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
        int sig = static_cast<int>(info.ssi_signo);
        int expected = 0;
        if (signal_.compare_exchange_strong(expected, sig)) {  // step 3
            (void)spawner_.go([cancel = cancel_] { cancel(); });  // SG2: the run is active
            continue;
        }
        std::fprintf(stderr, "\n%s again: exiting without waiting for the shutdown\n", strsignal(sig));  // step 4
        std::fflush(stderr);
        std::_Exit(128 + sig);
    }
}

}  // namespace weft
