#include "runtime/base/note.hpp"

#include <weft/clock.hpp>
#include "runtime/base/fatal.hpp"
#include "runtime/base/futex.hpp"

namespace weft::base {

void Note::wakeup() {
    // seq_cst: pairs with the sleeper's load so the wakeup is never missed.
    if (key_.exchange(1) != 0) fatal("notewakeup - double wakeup");
    futex_wake(&key_, 1);
}

void Note::sleep() {
    while (key_.load() == 0) futex_wait(&key_, 0);
}

bool Note::sleep_for(int64_t ns) {
    if (ns < 0) {
        sleep();
        return true;
    }
    int64_t deadline = nanotime() + ns;
    while (key_.load() == 0) {
        int64_t left = deadline - nanotime();
        if (left <= 0) return false;
        futex_wait(&key_, 0, left);
    }
    return true;
}

}  // namespace weft::base
