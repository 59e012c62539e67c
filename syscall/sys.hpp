// sys.hpp — blocking system calls for fibers (weft::sys).
//
// Each wrapper makes the real call between sched::entersyscall() and
// sched::exitsyscall() (see blocking.hpp), so a call that blocks its thread
// does not stop the other fibers: the fiber's P is handed to another
// thread while the call waits.
//
// Common rules:
//  - EINTR is retried inside the bracket (a signal handler installed
//    without SA_RESTART does not surface as an error), except for close,
//    which is never retried (on Linux the descriptor is released even when
//    close reports EINTR; a retry could close a descriptor another thread
//    just received — EINTR from close is therefore not an error).
//    nanosleep resumes with the time that remained.
//  - Two forms of each call, as std::filesystem: the first throws
//    std::system_error(errno, std::generic_category(), "<call> <detail>"),
//    e.g. "open /no/such: No such file or directory"; the second takes a
//    std::error_code& last, sets it on failure (clears it on success) and
//    does not throw; on failure it returns the value each call names
//    below (-1, 0, empty): test ec, not the value.
//  - Byte counts are what the kernel did: read and write may be short
//    (read returns 0 at end of file). weft::File::write_all loops.
//  - errno after a call is unspecified: the fiber may continue on another
//    thread. The error is in the exception or in ec.
//
// Call from a fiber (or from a plain thread: then the calls are made
// directly). Not async-signal-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <netdb.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <system_error>
#include <vector>

namespace weft::sys {

// -- Descriptors -------------------------------------------------------------

// open(2). Returns the new descriptor (-1 with ec set on failure). flags
// are passed as given: add O_CLOEXEC yourself if you want it
// (weft::File::open does).
int open(const char* path, int flags, mode_t mode = 0);
int open(const char* path, int flags, mode_t mode, std::error_code& ec);

// close(2), never retried; EINTR counts as success (see above).
void close(int fd);
void close(int fd, std::error_code& ec);

// read(2) / pread(2): bytes read, 0 at end of file (0 with ec set on
// failure).
size_t read(int fd, void* buf, size_t n);
size_t read(int fd, void* buf, size_t n, std::error_code& ec);
size_t pread(int fd, void* buf, size_t n, off_t offset);
size_t pread(int fd, void* buf, size_t n, off_t offset, std::error_code& ec);

// write(2) / pwrite(2): bytes written, possibly fewer than n (0 with ec
// set on failure).
size_t write(int fd, const void* buf, size_t n);
size_t write(int fd, const void* buf, size_t n, std::error_code& ec);
size_t pwrite(int fd, const void* buf, size_t n, off_t offset);
size_t pwrite(int fd, const void* buf, size_t n, off_t offset, std::error_code& ec);

// fsync(2).
void fsync(int fd);
void fsync(int fd, std::error_code& ec);

// fstat(2) (may block on network file systems). A zeroed stat on failure.
struct stat fstat(int fd);
struct stat fstat(int fd, std::error_code& ec);

// -- Time --------------------------------------------------------------------

// nanosleep(2) on the fiber's thread: blocks the thread (not only the
// fiber) for at least d, resuming with the remaining time after a signal.
// d <= 0 returns at once. For waiting, fibers want weft::sleep (a timer,
// no thread); this exists for code that must really block, and for
// measuring the hand-off (W9).
void nanosleep(std::chrono::nanoseconds d);
void nanosleep(std::chrono::nanoseconds d, std::error_code& ec);

// -- Processes ---------------------------------------------------------------

struct WaitStatus {
    pid_t pid = 0;   // the child reported; 0 under WNOHANG with nothing to report
    int status = 0;  // raw status word, for the W* macros

    bool exited() const { return pid > 0 && WIFEXITED(status); }
    int exit_code() const { return WEXITSTATUS(status); }  // if exited()
    bool signaled() const { return pid > 0 && WIFSIGNALED(status); }
    int term_signal() const { return WTERMSIG(status); }  // if signaled()
};

// waitpid(2). {0, 0} on failure with ec set.
WaitStatus waitpid(pid_t pid, int options = 0);
WaitStatus waitpid(pid_t pid, int options, std::error_code& ec);

// -- Names -------------------------------------------------------------------

// What getaddrinfo(3) takes as hints; zero means "any" (AF_UNSPEC, any
// socket type and protocol) and flags are the AI_* flags. Unlike a null
// hints pointer, no AI_ADDRCONFIG is implied.
struct AddrHints {
    int family = AF_UNSPEC;
    int socktype = 0;
    int protocol = 0;
    int flags = 0;
};

// One result of getaddrinfo: ready for socket(family, socktype, protocol)
// and connect/bind(&addr, len).
struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = 0;
    int socktype = 0;
    int protocol = 0;
};

// The category of getaddrinfo's EAI_* codes: name() "getaddrinfo",
// message() gai_strerror's text. (EAI_SYSTEM is reported as the errno it
// stands for, in std::generic_category.)
const std::error_category& gai_category() noexcept;

// getaddrinfo(3): every address, in the resolver's order (never empty on
// success). host or service may be null (not both). Throws
// std::system_error(code, gai_category(), "getaddrinfo <host>:<service>"),
// e.g. "getaddrinfo no.such.host.invalid:80: Name or service not known".
// May take long (DNS): the fiber's P is handed off meanwhile.
std::vector<Address> getaddrinfo(const char* host, const char* service, const AddrHints& hints = {});
std::vector<Address> getaddrinfo(const char* host, const char* service, const AddrHints& hints,
                                 std::error_code& ec);

}  // namespace weft::sys
