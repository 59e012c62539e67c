// test_hooks.cpp — the installed hook (see test_hooks.hpp).
#include "runtime/base/test_hooks.hpp"

namespace weft::base {

#if defined(WEFT_TEST_HOOKS)
std::atomic<HookFn> g_test_hook{nullptr};
#endif

}  // namespace weft::base
