// check.hpp — the three levels of checking (STYLE.md habit 3).
//
//   WEFT_CHECK(cond, msg)   always on; a broken invariant is fatal.
//   WEFT_DCHECK(cond, msg)  debug builds only (WEFT_DEBUG_CHECKS); for checks
//                           too costly for the fast path.
//   WEFT_UNREACHABLE(msg)   a state that cannot happen; fatal in every build.
#pragma once

#include "runtime/base/fatal.hpp"

#define WEFT_CHECK(cond, msg)                                                   \
    do {                                                                        \
        if (__builtin_expect(!(cond), 0))                                       \
            ::weft::base::fatal("%s (%s at %s:%d)", (msg), #cond, __FILE__, __LINE__); \
    } while (0)

#if defined(WEFT_DEBUG_CHECKS)
#define WEFT_DCHECK(cond, msg) WEFT_CHECK(cond, msg)
inline constexpr bool kDebugChecks = true;
#else
#define WEFT_DCHECK(cond, msg) \
    do {                       \
        (void)sizeof(!(cond)); \
    } while (0)
inline constexpr bool kDebugChecks = false;
#endif

#define WEFT_UNREACHABLE(msg) ::weft::base::fatal("unreachable: %s (%s:%d)", (msg), __FILE__, __LINE__)
