// blocking.hpp — running a call that may block its OS thread.
//
//   ssize_t n = weft::blocking([&] { return ::recvmsg(fd, &msg, 0); });
//
// weft::blocking(f) runs f() between sched::entersyscall() and
// sched::exitsyscall() (sched/syscall.hpp): while f blocks its thread, the
// fiber's P is handed to another thread, so the other fibers keep running.
// It returns what f returns and rethrows what f throws. Outside a fiber it
// simply calls f.
//
// Contract for f (the fiber holds no P while f runs):
//  - f must not touch the runtime: no channel, select, sync primitive,
//    sleep, timer, go(), yield, FiberLocal, net call, weft::sys or File
//    call, nested weft::blocking, gc::make or gc::collect. Each of these is
//    fatal there, naming the call: "fatal error: Chan::send called inside
//    weft::blocking: ..." (sched/call_context.hpp), and so is any call
//    that would wake a parked fiber (an unlock, a signal, a release). Not
//    checked: an uncontended Mutex try_lock or unlock, a WaitGroup add or
//    done that wakes nobody.
//    Plain C/C++ code and system calls are fine; so is malloc/new.
//  - f must not allocate GC objects or store GC references (gc::make, a
//    gc::Member or container store): while the collector marks, such a
//    store is fatal, "write barrier without P" (the syscall-return race;
//    README, "Testing for syscall-return races"). Storing right after
//    blocking() returns is fine.
//  - f must not load GC references either (a gc::Member, a container's
//    element or storage): the collector never scans f's own frames, only
//    the fiber's stack above the call, and a reference whose heap copy is
//    overwritten while f holds it (the barrier shades the new value, not
//    the old) is freed under f. Load what f needs before the call, into
//    the caller's variables; f may then read and write the non-reference
//    data of those objects. Checked builds (debug, or WEFT_DEBUG=gcpoison=1)
//    make such a load fatal: "gc: fiber N loaded a Member (object P)
//    inside weft::blocking ...".
//  - f runs on one OS thread from start to end: thread_local state, errno
//    included, is coherent inside f. errno as f left it is carried to the
//    thread the fiber continues on, so `if (blocking(...) < 0) use(errno)`
//    works. Do not keep errno's address (or any thread_local's) across the
//    call.
//  - An exception from f is caught inside the bracket, the fiber leaves the
//    system call, and only then is the exception rethrown: unwinding never
//    straddles a thread switch, and no context switch happens inside a
//    catch block (STYLE.md, traps). The catch (...) swallows no forced
//    unwind: weft abandons fibers rather than unwinding them, and no M
//    thread is ever cancelled.
//
// Callable from a fiber or from any plain thread. The syscall/sys.hpp
// wrappers are built on the same bracket; prefer them for the calls they
// cover (they retry EINTR and report errors as std::system_error).
#pragma once

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
// entersyscall() if the caller is a fiber; false (and nothing done) on a
// plain thread. will_block: the call is known to block for a while (a
// sleep, a wait for a child), so the P is handed off at once
// (entersyscallblock) instead of after a sysmon round.
bool blocking_enter(bool will_block = false) noexcept;
// exitsyscall(), carrying this thread's errno to the thread the fiber
// continues on. Only after blocking_enter() returned true.
void blocking_exit() noexcept;
}  // namespace detail

template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (!detail::blocking_enter()) return f();
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
        try {
            f();
        } catch (...) {
            error = std::current_exception();
        }
        detail::blocking_exit();
        if (error) std::rethrow_exception(std::move(error));
    } else if constexpr (std::is_reference_v<R>) {
        std::remove_reference_t<R>* result = nullptr;
        try {
            auto&& r = f();
            result = std::addressof(r);
        } catch (...) {
            error = std::current_exception();
        }
        detail::blocking_exit();
        if (error) std::rethrow_exception(std::move(error));
        return static_cast<R>(*result);
    } else {
        static_assert(std::is_move_constructible_v<R>, "weft::blocking: f's result must be movable");
        std::optional<R> result;
        try {
            result.emplace(f());
        } catch (...) {
            error = std::current_exception();
        }
        detail::blocking_exit();
        if (error) std::rethrow_exception(std::move(error));
        return std::move(*result);
    }
}

}  // namespace weft
