// context.cpp — see context.hpp for the switch protocol.
#include "sched/context.hpp"

#include <boost/context/detail/fcontext.hpp>
#include <pthread.h>

#include "runtime/base/check.hpp"
#include "sched/sanitizers.hpp"

namespace weft::sched {

namespace bctx = boost::context::detail;

namespace {

// Lives on the switching side's stack for the duration of one jump. The
// resumed side must read everything it needs from it before publishing
// `from->fctx` (step 3): after that, `from` may be resumed elsewhere and
// this record's frame reused.
struct SwitchRecord {
    Context* from;
    Context* to;
};

void trampoline(bctx::transfer_t t) {
    auto* rec = static_cast<SwitchRecord*>(t.data);
    ContextEntry entry = rec->to->entry;
    Context* from = rec->from;
    from->fctx = t.fctx;  // step 3
    WEFT_ASAN_FINISH_SWITCH(nullptr);
    entry();
    WEFT_UNREACHABLE("fiber entry returned");
}

}  // namespace

void context_make(Context& c, void* lo, size_t size, ContextEntry entry) {
    c.stack_lo = lo;
    c.stack_size = size;
    c.asan_fake_stack = nullptr;
    c.entry = entry;
    c.fctx = bctx::make_fcontext(static_cast<char*>(lo) + size, size, trampoline);
}

// no_sanitize_address: with detect_stack_use_after_return, ASan would put
// the SwitchRecord on its per-thread fake stack, which the resumed side
// (possibly on another thread) cannot read.
__attribute__((no_sanitize_address)) void switch_to(Context& from, Context& to, bool from_dying) {
    WEFT_DCHECK(to.fctx != nullptr, "switch to a context that is running or empty");
    void* target = to.fctx;
    to.fctx = nullptr;
    SwitchRecord rec{&from, &to};
    WEFT_ASAN_START_SWITCH(from_dying ? nullptr : &from.asan_fake_stack, to.stack_lo, to.stack_size);
    WEFT_TSAN_SWITCH(to.tsan_fiber);
    bctx::transfer_t t = bctx::jump_fcontext(target, &rec);
    // Resumed: publish the context we came from (step 3 for its switch).
    static_cast<SwitchRecord*>(t.data)->from->fctx = t.fctx;
    WEFT_ASAN_FINISH_SWITCH(from.asan_fake_stack);
}

namespace {

struct OnStack {
    void (*fn)(void*);
    void* arg;
    const void* back_lo;  // the caller's stack, for ASan's switch back
    size_t back_size;
};

void on_stack_entry(bctx::transfer_t t) {
    auto* rec = static_cast<OnStack*>(t.data);
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &rec->back_lo, &rec->back_size);
#endif
    rec->fn(rec->arg);
    WEFT_ASAN_START_SWITCH(nullptr, rec->back_lo, rec->back_size);  // this stack is done with
    bctx::jump_fcontext(t.fctx, nullptr);
    WEFT_UNREACHABLE("run_on_stack resumed a finished stack");
}

}  // namespace

__attribute__((no_sanitize_address)) void run_on_stack(void* lo, size_t size, void (*fn)(void*), void* arg) {
    OnStack rec{fn, arg, nullptr, 0};
    void* fake = nullptr;
    bctx::fcontext_t c = bctx::make_fcontext(static_cast<char*>(lo) + size, size, on_stack_entry);
    WEFT_ASAN_START_SWITCH(&fake, lo, size);
    bctx::jump_fcontext(c, &rec);
    WEFT_ASAN_FINISH_SWITCH(fake);
}

void context_init_thread(Context& c) {
    pthread_attr_t attr;
    void* lo = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &size);
        pthread_attr_destroy(&attr);
    }
    c.stack_lo = lo;
    c.stack_size = size;
    c.tsan_fiber = WEFT_TSAN_CURRENT_FIBER();
}

void context_create_fiber(Context& c) {
    if (c.tsan_fiber == nullptr) c.tsan_fiber = WEFT_TSAN_CREATE_FIBER();
}

void context_destroy_fiber(Context& c) {
    if (c.tsan_fiber != nullptr) WEFT_TSAN_DESTROY_FIBER(c.tsan_fiber);
    c.tsan_fiber = nullptr;
}

}  // namespace weft::sched
