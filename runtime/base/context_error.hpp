// context_error.hpp — why a context ended, and the exception a blocking
// call bound to a context throws when it does (see <weft/context.hpp>).
//
// The codes compare equal to the portable conditions: canceled to
// std::errc::operation_canceled, deadline_exceeded to std::errc::timed_out,
// so code that handles a timeout by condition handles a context's
// deadline too. ContextError is a std::system_error: a handler that ends a
// connection on any std::system_error ends it on a cancellation as well.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

namespace weft {

enum class ContextErrc : int {
    canceled = 1,           // "context canceled": cancelled by its cancel function or a parent's
    deadline_exceeded = 2,  // "context deadline exceeded": its deadline (or a parent's) passed
};

const std::error_category& context_category() noexcept;

inline std::error_code make_error_code(ContextErrc e) noexcept { return {static_cast<int>(e), context_category()}; }

// Thrown by a call bound to a context that ended before the call could
// finish; what() is "<the call>: context canceled" (or "... deadline
// exceeded"), code() the reason.
class ContextError : public std::system_error {
public:
    ContextError(std::error_code reason, const std::string& what) : std::system_error(reason, what) {}
};

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::ContextErrc> : std::true_type {};
