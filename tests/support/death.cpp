#include "support/death.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace weft::suite {

namespace {
void drain(int fd, std::string& into) {
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) into.append(buf, static_cast<size_t>(n));
        if (n <= 0) return;
    }
}
}  // namespace

DeathResult run_in_child(const std::function<void()>& body, int timeout_s) {
    int errp[2], outp[2];
    if (pipe(errp) != 0 || pipe(outp) != 0) abort();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        dup2(errp[1], 2);
        dup2(outp[1], 1);
        close(errp[0]);
        close(outp[0]);
        body();
        fflush(stdout);
        _exit(0);
    }
    close(errp[1]);
    close(outp[1]);
    DeathResult r;
    time_t deadline = time(nullptr) + timeout_s;
    pollfd fds[2] = {{errp[0], POLLIN, 0}, {outp[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        int left = static_cast<int>(deadline - time(nullptr));
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        int n = poll(fds, 2, left * 1000);
        if (n < 0 && errno == EINTR) continue;
        for (auto& f : fds) {
            if (f.fd >= 0 && (f.revents & (POLLIN | POLLHUP))) {
                char buf[4096];
                ssize_t k = read(f.fd, buf, sizeof buf);
                if (k > 0) (f.fd == errp[0] ? r.err : r.out).append(buf, static_cast<size_t>(k));
                else {
                    close(f.fd);
                    f.fd = -1;
                    open_fds--;
                }
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) {
            drain(f.fd, f.fd == errp[0] ? r.err : r.out);
            close(f.fd);
        }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

}  // namespace weft::suite
