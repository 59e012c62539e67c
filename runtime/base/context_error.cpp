// context_error.cpp — the category of weft::ContextErrc.
#include <weft/context_error.hpp>

namespace weft {

namespace {

class ContextCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "weft.context"; }
    std::string message(int v) const override {
        switch (static_cast<ContextErrc>(v)) {
            case ContextErrc::canceled: return "context canceled";
            case ContextErrc::deadline_exceeded: return "context deadline exceeded";
        }
        return "unknown context error";
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        switch (static_cast<ContextErrc>(v)) {
            case ContextErrc::canceled: return std::errc::operation_canceled;
            case ContextErrc::deadline_exceeded: return std::errc::timed_out;
        }
        return {v, *this};
    }
};

}  // namespace

const std::error_category& context_category() noexcept {
    static const ContextCategory c;
    return c;
}

}  // namespace weft
