// sys.cpp — the blocking-call wrappers (weft::sys) and weft::blocking's
// out-of-line half.
//
// Owns no runtime state: every call here is the bracket of
// sched/syscall.cpp around one libc call, plus error reporting. What it
// must get right is which thread things happen on.
//
// Invariants:
//   B1. Between entersyscall and exitsyscall nothing touches the runtime
//       (syscall.cpp Y2): the bracket encloses only the libc call, its
//       EINTR retry loop and the read of errno. Formatting messages,
//       building vectors and throwing happen after exitsyscall.
//   B2. errno is read on the thread that made the call, before
//       exitsyscall: after it the fiber may continue on another M, whose
//       errno says nothing about our call. Where errno must survive the
//       switch (weft::blocking), it is carried in a local and stored on the
//       new thread by a function that computes errno's address afresh
//       (__errno_location is declared const, so within one function the
//       compiler may reuse an address computed before the switch —
//       STYLE.md, traps).
//   B3. No exception crosses the bracket: weft::blocking catches inside,
//       leaves the call, then rethrows (blocking.hpp).
//
// Protocol (one wrapped call, as Go's syscall.Syscall with
// entersyscall/exitsyscall around RawSyscall):
//   1. If the caller is a fiber, entersyscall() (its P goes to kSyscall;
//      sysmon hands it off if the call lasts).
//   2. Make the call; while it fails with EINTR, make it again (nanosleep:
//      with the remaining time). close is made once.
//   3. On failure, read errno (B2).
//   4. exitsyscall().
//   5. Report: throw std::system_error or set the caller's error_code.
//
// Rejected:
//   - Retrying EINTR outside the bracket (leave, re-enter): each round
//     costs two P transitions and a possible hand-off for nothing; the
//     retry loop touches only the stack and errno, which B1 allows.
//   - Retrying close on EINTR: Linux frees the descriptor before it
//     reports EINTR, so a retry may close a descriptor another thread has
//     just been given. Go's poll.FD does not retry either, but hands
//     EINTR to the caller; we report success, since on Linux the
//     descriptor is released either way and there is nothing to redo.
//   - A thread pool for blocking calls (libuv's way): see syscall.cpp.
#include <weft/sys.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <weft/blocking.hpp>
#include "runtime/base/check.hpp"
#include "sched/call_context.hpp"
#include "sched/fiber.hpp"
#include "sched/syscall.hpp"

namespace weft {
namespace detail {
namespace {

// B2: out of line and opaque to interprocedural analysis, so each call
// asks the running thread for errno's address.
#if defined(__clang__)
#define WEFT_OPAQUE_FN [[gnu::noinline]]
#else
#define WEFT_OPAQUE_FN [[gnu::noinline, gnu::noipa]]
#endif
WEFT_OPAQUE_FN int load_errno() { return errno; }
WEFT_OPAQUE_FN void store_errno(int e) { errno = e; }
#undef WEFT_OPAQUE_FN

}  // namespace

bool blocking_enter(bool will_block) noexcept {
    switch (sched::call_context()) {
        case sched::CallContext::kFiber:
        case sched::CallContext::kGcDestructor: break;
        case sched::CallContext::kBlocking:
            sched::misuse("weft::blocking (or a weft::sys, File, read_file or write_file call)",
                          sched::CallContext::kBlocking);
        default: return false;  // a plain thread or g0: the call simply runs
    }
    if (will_block) sched::entersyscallblock();
    else sched::entersyscall();
    return true;
}

void blocking_exit() noexcept {
    int e = load_errno();  // on the thread that ran f
    sched::exitsyscall();
    store_errno(e);  // on the thread we continue on
}

}  // namespace detail

namespace sys {
namespace {

// The outcome of one bracketed call: its result, and errno when it failed
// (read on the calling thread, B2).
template <class T>
struct Outcome {
    T r;
    int err;
};

// Protocol steps 1-4 for a call that fails with -1/errno; retries EINTR.
template <class Call>
auto bracket(Call call, bool will_block = false) -> Outcome<decltype(call())> {
    bool fiber = detail::blocking_enter(will_block);  // step 1
    decltype(call()) r;
    int err = 0;
    for (;;) {
        r = call();  // step 2
        if (r >= 0) break;
        err = errno;  // step 3
        if (err != EINTR) break;
    }
    if (fiber) sched::exitsyscall();  // step 4
    return {r, r >= 0 ? 0 : err};
}

[[noreturn]] void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

// ec from an outcome (step 5, non-throwing form).
template <class T>
bool failed(const Outcome<T>& o, std::error_code& ec) {
    if (o.r >= 0) {
        ec.clear();
        return false;
    }
    ec.assign(o.err, std::generic_category());
    return true;
}

std::string fd_detail(const char* call, int fd) { return fmt::format("{} fd {}", call, fd); }

std::string at_detail(const char* call, int fd, off_t offset) {
    return fmt::format("{} fd {} at offset {}", call, fd, static_cast<long long>(offset));
}

timespec to_timespec(std::chrono::nanoseconds d) {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(secs.count());
    ts.tv_nsec = static_cast<long>((d - secs).count());
    return ts;
}

// -- nanosleep: the EINTR loop resumes with the remaining time.
int sleep_call(std::chrono::nanoseconds d) {
    if (d <= std::chrono::nanoseconds::zero()) return 0;
    timespec req = to_timespec(d), rem{};
    bool fiber = detail::blocking_enter(/*will_block=*/true);
    int err = 0;
    while (::nanosleep(&req, &rem) != 0) {
        err = errno;
        if (err != EINTR) break;
        req = rem;
        err = 0;
    }
    if (fiber) sched::exitsyscall();
    return err;
}

// -- getaddrinfo

class GaiCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int ev) const override { return ::gai_strerror(ev); }
};

std::string host_port(const char* host, const char* service) {
    std::string h = host ? host : "";
    if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
    return fmt::format("getaddrinfo {}:{}", h, service ? service : "");
}

std::vector<Address> resolve(const char* host, const char* service, const AddrHints& hints, std::error_code& ec) {
    addrinfo h{};
    h.ai_family = hints.family;
    h.ai_socktype = hints.socktype;
    h.ai_protocol = hints.protocol;
    h.ai_flags = hints.flags;
    addrinfo* res = nullptr;
    int rc = 0, err = 0;
    bool fiber = detail::blocking_enter();
    for (;;) {
        rc = ::getaddrinfo(host, service, &h, &res);
        if (rc != EAI_SYSTEM) break;
        err = errno;
        if (err != EINTR) break;
    }
    if (fiber) sched::exitsyscall();
    std::vector<Address> out;
    if (rc == EAI_SYSTEM) {
        ec.assign(err, std::generic_category());
        return out;
    }
    if (rc != 0) {
        ec.assign(rc, gai_category());
        return out;
    }
    ec.clear();
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        WEFT_CHECK(ai->ai_addrlen <= sizeof(sockaddr_storage), "getaddrinfo: address larger than sockaddr_storage");
        Address a;
        std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        a.family = ai->ai_family;
        a.socktype = ai->ai_socktype;
        a.protocol = ai->ai_protocol;
        out.push_back(a);
    }
    ::freeaddrinfo(res);
    return out;
}

}  // namespace

int open(const char* path, int flags, mode_t mode) {
    auto o = bracket([&] { return ::open(path, flags, mode); });
    if (o.r < 0) throw_errno(o.err, fmt::format("open {}", path));
    return o.r;
}

int open(const char* path, int flags, mode_t mode, std::error_code& ec) {
    auto o = bracket([&] { return ::open(path, flags, mode); });
    failed(o, ec);
    return o.r;
}

namespace {
// close is made once (see Rejected); EINTR means the descriptor is gone.
int close_call(int fd) {
    bool fiber = detail::blocking_enter();
    int err = ::close(fd) == 0 ? 0 : errno;
    if (fiber) sched::exitsyscall();
    return err == EINTR ? 0 : err;
}
}  // namespace

void close(int fd) {
    if (int err = close_call(fd)) throw_errno(err, fd_detail("close", fd));
}

void close(int fd, std::error_code& ec) {
    if (int err = close_call(fd)) ec.assign(err, std::generic_category());
    else ec.clear();
}

size_t read(int fd, void* buf, size_t n) {
    auto o = bracket([&] { return ::read(fd, buf, n); });
    if (o.r < 0) throw_errno(o.err, fd_detail("read", fd));
    return static_cast<size_t>(o.r);
}

size_t read(int fd, void* buf, size_t n, std::error_code& ec) {
    auto o = bracket([&] { return ::read(fd, buf, n); });
    return failed(o, ec) ? 0 : static_cast<size_t>(o.r);
}

size_t pread(int fd, void* buf, size_t n, off_t offset) {
    auto o = bracket([&] { return ::pread(fd, buf, n, offset); });
    if (o.r < 0) throw_errno(o.err, at_detail("pread", fd, offset));
    return static_cast<size_t>(o.r);
}

size_t pread(int fd, void* buf, size_t n, off_t offset, std::error_code& ec) {
    auto o = bracket([&] { return ::pread(fd, buf, n, offset); });
    return failed(o, ec) ? 0 : static_cast<size_t>(o.r);
}

size_t write(int fd, const void* buf, size_t n) {
    auto o = bracket([&] { return ::write(fd, buf, n); });
    if (o.r < 0) throw_errno(o.err, fd_detail("write", fd));
    return static_cast<size_t>(o.r);
}

size_t write(int fd, const void* buf, size_t n, std::error_code& ec) {
    auto o = bracket([&] { return ::write(fd, buf, n); });
    return failed(o, ec) ? 0 : static_cast<size_t>(o.r);
}

size_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
    auto o = bracket([&] { return ::pwrite(fd, buf, n, offset); });
    if (o.r < 0) throw_errno(o.err, at_detail("pwrite", fd, offset));
    return static_cast<size_t>(o.r);
}

size_t pwrite(int fd, const void* buf, size_t n, off_t offset, std::error_code& ec) {
    auto o = bracket([&] { return ::pwrite(fd, buf, n, offset); });
    return failed(o, ec) ? 0 : static_cast<size_t>(o.r);
}

void fsync(int fd) {
    auto o = bracket([&] { return ::fsync(fd); });
    if (o.r < 0) throw_errno(o.err, fd_detail("fsync", fd));
}

void fsync(int fd, std::error_code& ec) {
    auto o = bracket([&] { return ::fsync(fd); });
    failed(o, ec);
}

struct stat fstat(int fd) {
    struct stat st {};
    auto o = bracket([&] { return ::fstat(fd, &st); });
    if (o.r < 0) throw_errno(o.err, fd_detail("fstat", fd));
    return st;
}

struct stat fstat(int fd, std::error_code& ec) {
    struct stat st {};
    auto o = bracket([&] { return ::fstat(fd, &st); });
    if (failed(o, ec)) st = {};
    return st;
}

void nanosleep(std::chrono::nanoseconds d) {
    if (int err = sleep_call(d)) throw_errno(err, fmt::format("nanosleep {}ns", d.count()));
}

void nanosleep(std::chrono::nanoseconds d, std::error_code& ec) {
    if (int err = sleep_call(d)) ec.assign(err, std::generic_category());
    else ec.clear();
}

WaitStatus waitpid(pid_t pid, int options) {
    int status = 0;
    auto o = bracket([&] { return ::waitpid(pid, &status, options); }, /*will_block=*/(options & WNOHANG) == 0);
    if (o.r < 0) throw_errno(o.err, fmt::format("waitpid {}", static_cast<long long>(pid)));
    return {o.r, status};
}

WaitStatus waitpid(pid_t pid, int options, std::error_code& ec) {
    int status = 0;
    auto o = bracket([&] { return ::waitpid(pid, &status, options); }, /*will_block=*/(options & WNOHANG) == 0);
    if (failed(o, ec)) return {};
    return {o.r, status};
}

const std::error_category& gai_category() noexcept {
    static const GaiCategory category;
    return category;
}

std::vector<Address> getaddrinfo(const char* host, const char* service, const AddrHints& hints) {
    std::error_code ec;
    std::vector<Address> out = resolve(host, service, hints, ec);
    if (ec) throw std::system_error(ec, host_port(host, service));
    return out;
}

std::vector<Address> getaddrinfo(const char* host, const char* service, const AddrHints& hints,
                                 std::error_code& ec) {
    return resolve(host, service, hints, ec);
}

}  // namespace sys
}  // namespace weft
