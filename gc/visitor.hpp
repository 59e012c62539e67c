// visitor.hpp — gc::Visitor, what a type's trace() reports its references to.
//
//   struct Node {
//       gc::Member<Node> left, right;
//       gc::Member<Blob> payload;
//       void trace(gc::Visitor& v) const { v.visit(left); v.visit(right); v.visit(payload); }
//   };
//
// trace() may run on any thread, concurrently with the fiber that mutates
// the object: it must only read Members (atomic) and values that never
// change after construction. It must not allocate, block or throw.
#pragma once

#include <type_traits>

namespace weft::gc {

template <class T>
class Member;

class Visitor {
public:
    // One reference; null is fine.
    template <class T>
    void visit(const Member<T>& m) {
        if (const void* p = m.load_for_trace()) edge(p);
    }
    // Any value: a Member, a type with trace(), or a type without references.
    template <class V>
    void visit_value(const V& v) {
        if constexpr (requires { v.load_for_trace(); }) visit(v);
        else if constexpr (requires(Visitor& vis) { v.trace(vis); }) v.trace(*this);
    }

    // The start of a GC object (as returned by gc::make); for containers
    // that hold raw object pointers.
    void edge(const void* obj) {
        if (n_ == kBatch) [[unlikely]]
            take_rest();
        batch_[n_++] = obj;
    }

protected:
    // References reach the visitor in batches: a trace() stores them here
    // without a call, and the visitor handles them together (the marker in
    // a tight loop). The visitor must call take_rest() after each trace().
    static constexpr uint32_t kBatch = 32;
    // Handles n batched references (the batch is already emptied).
    virtual void take(const void* const* objs, uint32_t n) = 0;
    // Empties the batch into take().
    void take_rest() {
        uint32_t n = n_;
        n_ = 0;
        take(batch_, n);
    }
    ~Visitor() = default;

private:
    const void* batch_[kBatch];
    uint32_t n_ = 0;
};

// True for types whose objects hold references (they declare trace()).
template <class T>
inline constexpr bool kHasTrace = requires(const T& t, Visitor& v) { t.trace(v); };

}  // namespace weft::gc
