// select.hpp — weft::select, Go's select statement.
//
//   int i = weft::select(
//       weft::recv_case(in, [&](std::optional<Job> j) { ... }),  // nullopt: closed
//       weft::send_case(out, result, [&] { ... }),
//       weft::default_case([&] { ... }));                          // optional
//
// select waits until one case can proceed, performs its channel operation,
// runs that case's callback (if any) and returns the case's index, 0-based
// in argument order (a default_case counts too). Semantics are Go's:
//  - Among several ready cases one is chosen uniformly at random.
//  - With a default_case, select never blocks: default runs when no other
//    case is ready. At most one default_case.
//  - With no case at all, select blocks forever (a fiber dump shows
//    "select (no cases)"; if nothing else can run, that is a deadlock).
//  - A case whose channel is nil (Chan<T>(nullptr), chan.hpp) is never
//    chosen, as Go leaves it out: set a channel to nullptr to switch its
//    case off. A select whose cases are all nil blocks forever like one
//    with no cases (or runs its default_case).
//  - A recv case on a closed channel is ready and receives nullopt. A send
//    case on a closed channel, when chosen, throws ChannelClosed("send on
//    closed channel") from select.
//  - The same channel may appear in several cases.
//  - The value of a send case that is not chosen is destroyed with the case
//    object, like any other temporary.
//  - Callbacks run after every channel lock is released; an exception from
//    a callback propagates out of select.
//
// Channels: a case takes its channel as a handle, `const` or not. From a
// named handle (an lvalue) the case keeps only a pointer to the channel, so
// that handle must outlive the select; from a temporary (an rvalue, e.g.
// recv_case(weft::after(1s), ...)) the case holds the handle itself and
// keeps the channel alive as long as the case.
//
// Contexts: from a fiber (a select without default_case may block and is a
// preemption point). Case objects hold their callback and (send) value;
// build them in the select call itself.
//
// Cases known only at run time (Go's reflect.Select): put them, built by the
// same recv_case / send_case / default_case, into weft::SelectCase objects,
// which erase the channel's element type and the callback's, and select
// over a span of them:
//
//   std::vector<weft::SelectCase> cases;
//   for (size_t k = 0; k < inputs.size(); k++)              // Chan<Job>s
//       cases.emplace_back(weft::recv_case(inputs[k], [&, k](std::optional<Job> j) { ... }));
//   cases.emplace_back(weft::send_case(status, report));    // a Chan<Report>
//   cases.emplace_back(weft::default_case());               // optional
//   int i = weft::select(cases);                             // index into cases
//
// The semantics are the ones above (random among ready cases, nil channels
// never chosen, nullopt from a closed channel, ChannelClosed for a send on
// one, no case at all: blocks forever). More than one default_case, or a
// moved-from SelectCase, throws std::invalid_argument before anything is
// done; more than 65535 channel cases std::length_error. Each SelectCase
// is allocated once; a select allocates only for more than 16 channel
// cases (its waiters, and the sort of more than 32 of them).
// The same cases may be selected again (a receive case is reusable: its
// value was handed to the callback), except that a chosen send case's
// value has been sent (moved from): replace that case before selecting it
// again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include <weft/chan.hpp>
#include <weft/internal/chan_core.hpp>

namespace weft {

namespace detail {

enum class CaseKind : uint8_t { kRecv, kSend };

// One channel case as select_impl sees it: lives in select's frame, and so
// does its waiter (pass 2 queues it on the channel).
struct ChanCase {
    ChanCore* c = nullptr;
    void* elem = nullptr;  // send: the value; recv: raw room for the value
    CaseKind kind = CaseKind::kRecv;
    Waiter w;
};

// Runs Go's selectgo over cases[0..n) (n >= 1). scratch holds 2n entries.
// Returns the chosen case's index, or -1 if !block and none was ready.
// *recv_ok: for a recv case, whether a value was constructed at its elem.
// Throws ChannelClosed if the chosen case sends on a closed channel.
int select_impl(ChanCase* cases, uint16_t* scratch, int n, bool block, bool* recv_ok);

// select with no cases: parks the fiber for good.
[[noreturn]] void select_no_cases();

struct NoCallback {
    template <class... A>
    void operator()(A&&...) const noexcept {}
};

// A case's channel. From a named handle: the core only, no reference count
// traffic (the caller's handle keeps the channel alive). From a temporary
// (kOwns): the handle itself, so the case keeps the channel alive.
template <class T, bool kOwns>
class CaseChan {
public:
    explicit CaseChan(const Chan<T>& ch) noexcept : c_(ChanAccess::core(ch)) {}
    ChanCore* core() const noexcept { return c_; }

private:
    ChanCore* c_;
};
template <class T>
class CaseChan<T, true> {
public:
    explicit CaseChan(Chan<T>&& ch) noexcept : ch_(std::move(ch)) {}
    ChanCore* core() const noexcept { return ChanAccess::core(ch_); }

private:
    Chan<T> ch_;
};

template <class T, class F, bool kOwns = false>
class RecvCase {
public:
    static constexpr bool kDefault = false;
    RecvCase(CaseChan<T, kOwns> ch, F f) : ch_(std::move(ch)), f_(std::move(f)) {}
    void bind(ChanCase& sc) noexcept {
        sc.c = ch_.core();
        sc.elem = slot_.ptr();
        sc.kind = CaseKind::kRecv;
    }
    void complete(bool ok) {
        if (!ok) {
            std::invoke(f_, std::optional<T>());
            return;
        }
        std::optional<T> v(std::in_place, std::move(slot_.get()));
        slot_.destroy();
        std::invoke(f_, std::move(v));
    }

private:
    CaseChan<T, kOwns> ch_;
    F f_;
    Slot<T> slot_;
};

template <class T, class F, bool kOwns = false>
class SendCase {
public:
    static constexpr bool kDefault = false;
    SendCase(CaseChan<T, kOwns> ch, T v, F f) : ch_(std::move(ch)), value_(std::move(v)), f_(std::move(f)) {}
    void bind(ChanCase& sc) noexcept {
        sc.c = ch_.core();
        sc.elem = &value_;
        sc.kind = CaseKind::kSend;
    }
    void complete(bool) { std::invoke(f_); }

private:
    CaseChan<T, kOwns> ch_;
    T value_;
    F f_;
};

template <class F>
class DefaultCase {
public:
    static constexpr bool kDefault = true;
    explicit DefaultCase(F f) : f_(std::move(f)) {}
    void complete(bool) { std::invoke(f_); }

private:
    F f_;
};

// The case objects recv_case, send_case and default_case return.
template <class C>
concept CaseObject = requires {
    { C::kDefault } -> std::convertible_to<bool>;
};

// For argument i: its index among the channel cases, or -1 for default.
template <size_t N>
constexpr std::array<int, N> channel_indices(const std::array<bool, N>& is_default) {
    std::array<int, N> idx{};
    int j = 0;
    for (size_t i = 0; i < N; i++) idx[i] = is_default[i] ? -1 : j++;
    return idx;
}

template <class... Cases, size_t... I>
int select_finish(int chosen, bool ok, std::index_sequence<I...>, Cases&... cases) {
    constexpr std::array<int, sizeof...(Cases)> kIdx =
        channel_indices<sizeof...(Cases)>({std::remove_cvref_t<Cases>::kDefault...});
    int result = -1;
    // Exactly one argument matches: the chosen channel case, or default (-1).
    (void)((kIdx[I] == chosen ? (cases.complete(ok), result = static_cast<int>(I), true) : false) || ...);
    return result;
}

}  // namespace detail

// A case that receives from ch; on_recv(std::optional<T>) gets the value,
// or nullopt if ch is closed. A named handle must outlive the select; a
// temporary one is held by the case (see the top of this file).
template <class T, class F>
detail::RecvCase<T, std::decay_t<F>> recv_case(const Chan<T>& ch, F&& on_recv) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>&&>,
                  "recv_case: the callback must accept a std::optional<T>");
    return {detail::CaseChan<T, false>(ch), std::forward<F>(on_recv)};
}
template <class T>
detail::RecvCase<T, detail::NoCallback> recv_case(const Chan<T>& ch) {
    return {detail::CaseChan<T, false>(ch), detail::NoCallback{}};
}
template <class T, class F>
detail::RecvCase<T, std::decay_t<F>, true> recv_case(Chan<T>&& ch, F&& on_recv) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>&&>,
                  "recv_case: the callback must accept a std::optional<T>");
    return {detail::CaseChan<T, true>(std::move(ch)), std::forward<F>(on_recv)};
}
template <class T>
detail::RecvCase<T, detail::NoCallback, true> recv_case(Chan<T>&& ch) {
    return {detail::CaseChan<T, true>(std::move(ch)), detail::NoCallback{}};
}

// A case that sends value on ch, then runs on_sent(). Handles as recv_case.
template <class T, class F>
detail::SendCase<T, std::decay_t<F>> send_case(const Chan<T>& ch, std::type_identity_t<T> value, F&& on_sent) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>, "send_case: the callback takes no arguments");
    return {detail::CaseChan<T, false>(ch), std::move(value), std::forward<F>(on_sent)};
}
template <class T>
detail::SendCase<T, detail::NoCallback> send_case(const Chan<T>& ch, std::type_identity_t<T> value) {
    return {detail::CaseChan<T, false>(ch), std::move(value), detail::NoCallback{}};
}
template <class T, class F>
detail::SendCase<T, std::decay_t<F>, true> send_case(Chan<T>&& ch, std::type_identity_t<T> value, F&& on_sent) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>, "send_case: the callback takes no arguments");
    return {detail::CaseChan<T, true>(std::move(ch)), std::move(value), std::forward<F>(on_sent)};
}
template <class T>
detail::SendCase<T, detail::NoCallback, true> send_case(Chan<T>&& ch, std::type_identity_t<T> value) {
    return {detail::CaseChan<T, true>(std::move(ch)), std::move(value), detail::NoCallback{}};
}

// The case taken when no other case is ready.
template <class F>
detail::DefaultCase<std::decay_t<F>> default_case(F&& f) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>, "default_case: the callback takes no arguments");
    return detail::DefaultCase<std::decay_t<F>>(std::forward<F>(f));
}
inline detail::DefaultCase<detail::NoCallback> default_case() { return detail::DefaultCase<detail::NoCallback>({}); }

// See the top of this file. From a fiber.
template <class... Cases>
    requires(detail::CaseObject<std::remove_cvref_t<Cases>> && ...)
int select(Cases&&... cases) {
    constexpr size_t kN = sizeof...(Cases);
    if constexpr (kN == 0) {
        detail::select_no_cases();
    } else {
        constexpr size_t kDefaults = (size_t{0} + ... + (std::remove_cvref_t<Cases>::kDefault ? 1 : 0));
        static_assert(kDefaults <= 1, "select: at most one default_case");
        constexpr size_t kM = kN - kDefaults;  // channel cases
        static_assert(kM <= 65535, "select: too many cases");
        bool ok = false;
        int chosen = -1;
        if constexpr (kM > 0) {
            detail::ChanCase sc[kM];
            uint16_t scratch[2 * kM];
            size_t j = 0;
            auto bind = [&](auto& c) {
                if constexpr (!std::remove_cvref_t<decltype(c)>::kDefault) c.bind(sc[j++]);
            };
            (bind(cases), ...);
            chosen = detail::select_impl(sc, scratch, static_cast<int>(kM), kDefaults == 0, &ok);
        }
        return detail::select_finish(chosen, ok, std::index_sequence_for<Cases...>{}, cases...);
    }
}

// A case of a select over cases known at run time (see the top of this
// file): made from what recv_case, send_case or default_case return, of any
// element and callback type. Move-only; one allocation.
class SelectCase {
public:
    template <class C>
        requires detail::CaseObject<std::remove_cvref_t<C>>
    SelectCase(C&& c)  // NOLINT(google-explicit-constructor): cases.push_back(weft::recv_case(...))
        : impl_(std::make_unique<Impl<std::remove_cvref_t<C>>>(std::forward<C>(c))),
          default_(std::remove_cvref_t<C>::kDefault) {}
    SelectCase(SelectCase&&) noexcept = default;
    SelectCase& operator=(SelectCase&&) noexcept = default;

    // A default_case?
    bool is_default() const noexcept { return default_; }

private:
    friend int select(std::span<SelectCase> cases);
    struct Base {
        virtual ~Base() = default;
        virtual void bind(detail::ChanCase& sc) noexcept = 0;
        virtual void complete(bool ok) = 0;
    };
    template <class C>
    struct Impl final : Base {
        template <class A>
        explicit Impl(A&& a) : c(std::forward<A>(a)) {}
        void bind(detail::ChanCase& sc) noexcept override {
            if constexpr (!C::kDefault) c.bind(sc);
        }
        void complete(bool ok) override { c.complete(ok); }
        C c;
    };
    std::unique_ptr<Base> impl_;
    bool default_ = false;
};

// A select over cases[0..n) (see the top of this file); returns the chosen
// case's index in cases. From a fiber.
int select(std::span<SelectCase> cases);

}  // namespace weft
