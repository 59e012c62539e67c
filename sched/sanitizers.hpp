// sanitizers.hpp — ASan/TSan fiber-switch hooks, empty in plain builds.
//
// Included by the switch code (context.cpp), the stack allocator, and the
// collector's span slabs (which LeakSanitizer must scan: they point to
// malloc'd memory).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define WEFT_ASAN_START_SWITCH(save, lo, size) __sanitizer_start_switch_fiber((save), (lo), (size))
#define WEFT_ASAN_FINISH_SWITCH(save) __sanitizer_finish_switch_fiber((save), nullptr, nullptr)
#define WEFT_ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#include <sanitizer/lsan_interface.h>
#define WEFT_LSAN_ROOT_REGION(p, n) __lsan_register_root_region((p), (n))
#else
#define WEFT_ASAN_START_SWITCH(save, lo, size) ((void)(save), (void)(lo), (void)(size))
#define WEFT_ASAN_FINISH_SWITCH(save) ((void)(save))
#define WEFT_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#define WEFT_LSAN_ROOT_REGION(p, n) ((void)(p), (void)(n))
#endif

#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>
#define WEFT_TSAN_SWITCH(f) __tsan_switch_to_fiber((f), 0)
#define WEFT_TSAN_CURRENT_FIBER() __tsan_get_current_fiber()
#define WEFT_TSAN_CREATE_FIBER() __tsan_create_fiber(0)
#define WEFT_TSAN_DESTROY_FIBER(f) __tsan_destroy_fiber(f)
#else
#define WEFT_TSAN_SWITCH(f) ((void)(f))
#define WEFT_TSAN_CURRENT_FIBER() nullptr
#define WEFT_TSAN_CREATE_FIBER() nullptr
#define WEFT_TSAN_DESTROY_FIBER(f) ((void)(f))
#endif

namespace weft::sched {
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
}  // namespace weft::sched
