// trace.cpp — the execution tracer's recorder (docs/TRACE.md).
//
// Every thread that records (an M, sysmon, a plain thread waking a fiber)
// has a ThreadWriter and, while a session records, a buffer of its own:
//
//  T1 A buffer has one writer, the thread whose ThreadWriter holds it. It
//     appends an event with plain stores, then publishes the buffer's fill
//     (`used`, in words) with a release store: no lock, no read-modify-write.
//  T2 Words below `used` never change while a writer holds the buffer or a
//     session's list does. A reader (stop, a flight snapshot, the fatal
//     dump) takes [0, used) after an acquire load of used, holding g_lock,
//     which keeps the buffer where it is (T3).
//  T3 Buffers move between a writer, a session's lists and the free pool
//     only under g_lock: a full one goes to the session (the flusher's
//     queue, or the flight recorder's ring), a new one comes from the pool.
//     Once per buffer (64 KiB), not per event.
//  T4 A writer whose buffer belongs to a session that ended gives it back
//     on its next event (stop took what it wanted from it). Session ids are
//     never reused, so the check is one comparison.
//
// g_lock ranks above every other runtime lock (kTrace): an event may be
// written, and its slow path taken, while any of them is held. Nothing
// blocks on I/O under it: the flusher writes files outside it.
#include "sched/trace.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <vector>

#include <weft/internal/lock.hpp>
#include <weft/clock.hpp>
#include "runtime/base/env.hpp"
#include "runtime/base/futex.hpp"
#include "sched/sched.hpp"

namespace weft::sched::trace {

namespace fmt = base::tracefmt;

__attribute__((visibility("hidden"))) std::atomic<bool> g_on{false};

namespace {

// A buffer: 64 KiB in all, mapped once and reused through the pool.
struct TraceBuf {
    TraceBuf* next = nullptr;
    uint64_t session = 0;
    int64_t thread = 0;
    uint64_t last_tick = 0;          // when it was handed to its session (flight: age)
    std::atomic<uint32_t> used{0};   // words of complete events (T1)
    static constexpr size_t kWords = (64 * 1024 - 64) / 8;
    alignas(64) uint64_t words[kWords];
};
static_assert(sizeof(TraceBuf) == 64 * 1024, "a trace buffer is 64 KiB");

struct ThreadWriter {
    uint64_t* pos = nullptr;
    uint64_t* end = nullptr;
    TraceBuf* buf = nullptr;
    uint64_t session = 0;  // the session buf belongs to (T4)
    int64_t thread = 0;
    uint64_t lost = 0;     // events dropped since the last buffer (the cap)
    ThreadWriter* next = nullptr;
    ThreadWriter* prev = nullptr;
};

struct BufList {
    TraceBuf* head = nullptr;
    TraceBuf* tail = nullptr;
    uint64_t count = 0;
    void push_back(TraceBuf* b) {
        b->next = nullptr;
        if (tail) tail->next = b;
        else head = b;
        tail = b;
        count++;
    }
    TraceBuf* pop_front() {
        TraceBuf* b = head;
        if (b) {
            head = b->next;
            if (!head) tail = nullptr;
            b->next = nullptr;
            count--;
        }
        return b;
    }
};

class Out;

struct Session {
    ~Session();
    uint64_t id = 0;
    SessionOptions opts;
    int fd = -1;
    uint64_t tick0 = 0;  // also the base every event's time counts from
    int64_t ns0 = 0;
    // Under g_lock:
    BufList queue;      // full buffers for the flusher (file sessions)
    BufList ring;       // full buffers kept (flight sessions), oldest first
    uint64_t lost = 0;  // events dropped at the cap
    // Flight sessions: the newest last_tick of a buffer the ring forgot.
    // Every event after it is still held (a buffer's events are older
    // than its last_tick), so a snapshot is complete from there on.
    uint64_t forgot_until = 0;
    // The flusher (file sessions).
    std::thread flusher;
    std::atomic<uint32_t> wake{0};
    std::atomic<bool> stopping{false};
    std::unique_ptr<Out> out;  // a file session's writer (the flusher's, then stop's)
};

base::Lock g_lock{base::LockRank::kTrace};
Session* g_session = nullptr;           // under g_lock
std::atomic<uint64_t> g_session_id{0};  // the recording session's id; 0: none (T4); written under g_lock
uint64_t g_next_session = 0;            // under g_lock
ThreadWriter* g_writers = nullptr;      // under g_lock
BufList g_pool;                         // under g_lock
uint64_t g_bufs = 0;                    // buffers mapped (under g_lock)
// The event clock, chosen once per process (calibrate): the TSC, or
// CLOCK_MONOTONIC's ns. Written before the first session begins; relaxed
// loads (a plain load) on every event.
std::atomic<bool> g_use_tsc{false};
double g_ticks_per_ns = 1.0;
std::once_flag g_calibrated;
// The recording session's tick0, which every event's time counts from.
std::atomic<uint64_t> g_tick0{0};
int g_run_count = 0;                    // runs WEFT_TRACE traced in this process (run_begin)
int64_t g_next_outside = static_cast<int64_t>(fmt::ThreadKind::kOutside);
constinit thread_local int64_t t_thread_kind = 0;  // 0: an M or not yet named
constinit __attribute__((tls_model("initial-exec"))) thread_local ThreadWriter* t_writer = nullptr;

// At most this many bytes of buffers, beyond a flight recorder's own:
// a flusher that cannot keep up drops events (counted), never the program.
constexpr uint64_t kMaxQueuedBytes = 256u << 20;

inline uint64_t ticks() {
    return g_use_tsc.load(std::memory_order_relaxed) ? __rdtsc() : static_cast<uint64_t>(base::nanotime());
}

// The TSC is the event clock where it ticks at a constant rate on every
// CPU and the kernel trusts it as its own clock source; else CLOCK_MONOTONIC.
bool tsc_usable() {
    std::ifstream cs("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string src;
    if (!(cs >> src) || src != "tsc") return false;
    std::ifstream ci("/proc/cpuinfo");
    std::string line;
    while (std::getline(ci, line))
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
    return false;
}

int64_t thread_key() {
    if (M* m = getm_without_switch()) return m->id;
    if (t_thread_kind != 0) return t_thread_kind;
    t_thread_kind = g_next_outside--;  // under g_lock
    return t_thread_kind;
}

// A plain thread's writer is given back when the thread ends.
struct OutsideThreadGuard {
    ~OutsideThreadGuard() { thread_exit(); }
};

TraceBuf* buf_get_locked(Session* s) {
    uint64_t cap = kMaxQueuedBytes / sizeof(TraceBuf);
    if (s->opts.flight) cap += s->opts.flight_max_bytes / sizeof(TraceBuf) + 1;
    TraceBuf* b = g_pool.pop_front();
    if (b == nullptr) {
        if (g_bufs - g_pool.count >= cap) return nullptr;
        void* mem = mmap(nullptr, sizeof(TraceBuf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return nullptr;
        b = new (mem) TraceBuf;
        g_bufs++;
    }
    b->session = s->id;
    b->used.store(0, std::memory_order_relaxed);
    return b;
}

void pool_put_locked(TraceBuf* b) {
    b->session = 0;
    g_pool.push_back(b);
}

// Picks the event clock and measures the TSC's rate against
// CLOCK_MONOTONIC, once per process (5 ms, at the first session's start).
void calibrate_once() {
    if (!tsc_usable()) return;
    uint64_t t0 = __rdtsc();
    int64_t n0 = base::nanotime();
    timespec ts{0, 5'000'000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    uint64_t t1 = __rdtsc();
    int64_t n1 = base::nanotime();
    double rate = n1 > n0 ? static_cast<double>(t1 - t0) / static_cast<double>(n1 - n0) : 0;
    if (!(rate > 0.01)) return;  // a TSC that does not tick: keep CLOCK_MONOTONIC
    g_ticks_per_ns = rate;       // only flight recorders' age bounds read it, under g_lock
    g_use_tsc.store(true, std::memory_order_relaxed);
}

void calibrate() { std::call_once(g_calibrated, calibrate_once); }

// A flight recorder forgets its oldest buffers beyond its bounds.
void ring_trim_locked(Session* s, uint64_t now) {
    uint64_t max_bufs = std::max<uint64_t>(s->opts.flight_max_bytes / sizeof(TraceBuf), 1);
    auto max_age = static_cast<uint64_t>(static_cast<double>(s->opts.flight_max_age_ns) * g_ticks_per_ns);
    while (s->ring.head && (s->ring.count > max_bufs || now - s->ring.head->last_tick > max_age)) {
        TraceBuf* b = s->ring.pop_front();
        s->forgot_until = std::max(s->forgot_until, b->last_tick);
        pool_put_locked(b);
    }
}

// Where a full (or, at thread exit, partly filled) buffer goes (T3, T4).
void retire_locked(TraceBuf* b) {
    Session* s = g_session;
    if (s == nullptr || b->session != s->id) {
        pool_put_locked(b);
        return;
    }
    b->last_tick = ticks();
    if (s->opts.flight) {
        s->ring.push_back(b);
        ring_trim_locked(s, b->last_tick);
    } else {
        s->queue.push_back(b);
        s->wake.store(1, std::memory_order_release);
        base::futex_wake(&s->wake, 1);
    }
}

void writer_unlink_locked(ThreadWriter* w) {
    if (w->prev) w->prev->next = w->next;
    else g_writers = w->next;
    if (w->next) w->next->prev = w->prev;
}

// The event does not fit, or the thread has no buffer of the recording
// session: take one (T3, T4). Null: the event is dropped.
__attribute__((noinline)) ThreadWriter* reserve_slow() {
    ThreadWriter* w = t_writer;
    base::LockGuard l(g_lock);
    Session* s = g_session;
    if (w != nullptr && w->buf != nullptr && (s == nullptr || w->buf->session != s->id)) {
        pool_put_locked(w->buf);  // T4: its session ended, and took what it wanted
        w->buf = nullptr;
        w->pos = w->end = nullptr;
    }
    if (s == nullptr || !on()) return nullptr;
    if (w == nullptr) {
        bool outside = getm_without_switch() == nullptr && t_thread_kind == 0;
        w = new ThreadWriter;
        w->thread = thread_key();
        w->next = g_writers;
        if (g_writers) g_writers->prev = w;
        g_writers = w;
        t_writer = w;
        if (outside) {
            static thread_local OutsideThreadGuard guard;
            (void)guard;
        }
    }
    if (w->buf) retire_locked(w->buf);
    w->buf = buf_get_locked(s);
    w->session = s->id;
    if (w->buf == nullptr) {
        w->pos = w->end = nullptr;
        w->lost++;
        s->lost++;
        return nullptr;
    }
    w->buf->thread = w->thread;
    w->pos = w->buf->words;
    w->end = w->buf->words + TraceBuf::kWords;
    if (w->lost != 0) {  // say where events are missing
        w->pos[0] = (ticks() - s->tick0) << 8 | static_cast<uint64_t>(Ev::kLost);
        w->pos[1] = w->lost;
        w->pos += 2;
        w->buf->used.store(2, std::memory_order_release);
        w->lost = 0;
    }
    return w;
}

// Room for `words` words in this thread's buffer of the recording session
// (every event fits an empty buffer: a name or message is capped).
inline ThreadWriter* reserve(size_t words) {
    ThreadWriter* w = t_writer;
    if (w == nullptr || w->session != g_session_id.load(std::memory_order_acquire) ||
        static_cast<size_t>(w->end - w->pos) < words) [[unlikely]] {
        w = reserve_slow();
        if (w == nullptr) return nullptr;
        if (static_cast<size_t>(w->end - w->pos) < words) return nullptr;
    }
    return w;
}

// The event's first word. g_tick0 is written before the session's id is
// published (release); a writer that saw the id (reserve's acquire, a
// plain load on x86) reads the matching tick0.
inline uint64_t stamp(Ev e) {
    return (ticks() - g_tick0.load(std::memory_order_relaxed)) << 8 | static_cast<uint64_t>(e);
}

inline void commit(ThreadWriter* w, uint64_t* end) {
    w->pos = end;
    w->buf->used.store(static_cast<uint32_t>(end - w->buf->words), std::memory_order_release);  // T1
}

}  // namespace

void ev0(Ev e) {
    ThreadWriter* w = reserve(1);
    if (w == nullptr) return;
    uint64_t* p = w->pos;
    p[0] = stamp(e);
    commit(w, p + 1);
}

void ev1(Ev e, uint64_t a) {
    ThreadWriter* w = reserve(2);
    if (w == nullptr) return;
    uint64_t* p = w->pos;
    p[0] = stamp(e);
    p[1] = a;
    commit(w, p + 2);
}

void ev2(Ev e, uint64_t a, uint64_t b) {
    ThreadWriter* w = reserve(3);
    if (w == nullptr) return;
    uint64_t* p = w->pos;
    p[0] = stamp(e);
    p[1] = a;
    p[2] = b;
    commit(w, p + 3);
}

void ev4(Ev e, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    ThreadWriter* w = reserve(5);
    if (w == nullptr) return;
    uint64_t* p = w->pos;
    p[0] = stamp(e);
    p[1] = a;
    p[2] = b;
    p[3] = c;
    p[4] = d;
    commit(w, p + 5);
}

void ev_bytes(Ev e, uint64_t a, uint64_t b, std::string_view bytes) {
    size_t nw = fmt::bytes_words(bytes.size());
    ThreadWriter* w = reserve(3 + nw);
    if (w == nullptr) return;
    uint64_t* p = w->pos;
    p[0] = stamp(e);
    p[1] = a;
    p[2] = b;
    if (nw != 0) {
        p[2 + nw] = 0;  // the padding of the last word
        std::memcpy(p + 3, bytes.data(), bytes.size());
    }
    commit(w, p + 3 + nw);
}

void go_create_event(const G* g, uint64_t parent) {
    ev4(Ev::kGoCreate, (g->id & fmt::kGoidMask) | static_cast<uint64_t>(g->created_at.line & 0xffffff) << 40,
        reinterpret_cast<uint64_t>(g->created_at.file), reinterpret_cast<uint64_t>(g->created_at.function),
        parent << 1 | (g->system ? 1 : 0));
}

WakeSource wake_source(const M* m) {
    if (m == nullptr) return WakeSource::kOutside;
    if (m->trace_wake != 0) return static_cast<WakeSource>(m->trace_wake);
    return m->curg.load(std::memory_order_relaxed) != nullptr ? WakeSource::kFiber : WakeSource::kScheduler;
}

void thread_exit() {
    ThreadWriter* w = t_writer;
    if (w == nullptr) return;
    base::LockGuard l(g_lock);
    if (w->buf) retire_locked(w->buf);
    writer_unlink_locked(w);
    delete w;
    t_writer = nullptr;
}

void set_sysmon_thread() { t_thread_kind = static_cast<int64_t>(fmt::ThreadKind::kSysmon); }

// ---------------------------------------------------------------- output

namespace {

// Calls fn with every string key the events name (kGoCreate's and
// kGoStatus's file and function, kSTWBegin's reason, kGCPhase's name).
template <class Fn>
void for_each_string_key(const uint64_t* ev, size_t words, Fn fn) {
    size_t i = 0;
    while (i < words) {
        auto e = static_cast<Ev>(ev[i] & 0xff);
        if (e == Ev::kNone || e >= Ev::kCount) return;  // cannot happen (T1)
        size_t n = 1 + fmt::kEventWords[static_cast<int>(e)];
        if (i + n > words) return;
        if (e == Ev::kGoCreate || e == Ev::kGoStatus) {
            fn(ev[i + 2]);
            fn(ev[i + 3]);
        } else if (e == Ev::kSTWBegin || e == Ev::kGCPhase) {
            fn(ev[i + 1]);
        } else if (e == Ev::kRegion) {
            n += fmt::bytes_words(ev[i + 2]);
        } else if (e == Ev::kLog) {
            n += fmt::bytes_words((ev[i + 2] & 0xffffffff) + (ev[i + 2] >> 32));
        }
        i += n;
    }
}

// The kNames records, each built in a fixed buffer (no allocation: the
// fatal dump writes them too) and handed to emit(words, n).
template <class Emit>
void write_name_tables(Emit emit) {
    struct Table {
        fmt::NameTable id;
        const char* const* names;
        int n;
    } tables[] = {{fmt::NameTable::kWaitReasons, kWaitReasonNames, kWaitReasons},
                  {fmt::NameTable::kStatuses, kStatusNames, kGStatuses}};
    for (const Table& t : tables) {
        uint64_t w[256] = {};
        char* out = reinterpret_cast<char*>(&w[1]);
        size_t room = sizeof w - 8, used = 0;
        uint64_t count = 0;
        for (int i = 0; i < t.n; i++, count++) {
            size_t len = std::strlen(t.names[i]) + 1;
            if (used + len > room) break;
            std::memcpy(out + used, t.names[i], len);
            used += len;
        }
        w[0] = static_cast<uint64_t>(t.id) | count << 32;
        emit(w, 1 + fmt::bytes_words(used));
    }
}

// The program's name (the kernel's comm), NUL-terminated, with read(2)
// only: the fatal dump calls it.
void read_comm(char* out, size_t size) {
    std::memset(out, 0, size);
    int fd = ::open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = ::read(fd, out, size - 1);
    ::close(fd);
    if (n > 0 && out[n - 1] == '\n') out[n - 1] = 0;
}

// The kInfo record's payload (ticks relative to the session's tick0).
constexpr size_t kInfoWords = 6 + 8;
void info_words(uint64_t* w, uint64_t flags, uint64_t lost, uint64_t fatal_tick, uint64_t window_start) {
    w[0] = static_cast<uint64_t>(g_sched ? sched_state().nprocs : 0);
    w[1] = static_cast<uint64_t>(getpid());
    w[2] = flags;
    w[3] = lost;
    w[4] = fatal_tick;
    w[5] = window_start;
    read_comm(reinterpret_cast<char*>(&w[6]), 64);
}

// Builds the records of a trace file in memory (fatal: writes them out
// directly, see at_fatal) and writes them to a descriptor.
class Out {
public:
    explicit Out(int fd) : fd_(fd) {}

    void header() {
        uint64_t w[2];
        std::memcpy(&w[0], fmt::kMagic, 8);
        w[1] = fmt::kVersion;
        raw(w, 2);
        write_name_tables([this](const uint64_t* t, size_t n) { record(fmt::Record::kNames, t, n); });
    }
    void record(fmt::Record kind, const uint64_t* payload, size_t words, const uint64_t* more = nullptr,
                size_t more_words = 0) {
        uint64_t head = static_cast<uint64_t>(kind) | static_cast<uint64_t>(words + more_words) << 32;
        raw(&head, 1);
        raw(payload, words);
        if (more_words) raw(more, more_words);
    }
    // A batch of one thread's events, preceded by the strings they name
    // that this file does not have yet.
    void batch(int64_t thread, const uint64_t* ev, size_t words) {
        for_each_string_key(ev, words, [this](uint64_t k) { string(k); });
        uint64_t t = static_cast<uint64_t>(thread);
        record(fmt::Record::kBatch, &t, 1, ev, words);
    }
    void clock(uint64_t tick0, int64_t ns0) {
        uint64_t tick1 = ticks();
        int64_t ns1 = base::nanotime();
        uint64_t w[5] = {tick0, static_cast<uint64_t>(ns0), tick1, static_cast<uint64_t>(ns1), tick0};
        record(fmt::Record::kClock, w, 5);
    }
    void info(uint64_t flags, uint64_t lost, uint64_t fatal_tick, uint64_t window_start) {
        uint64_t w[kInfoWords];
        info_words(w, flags, lost, fatal_tick, window_start);
        record(fmt::Record::kInfo, w, kInfoWords);
    }
    bool flush() {
        size_t off = 0;
        const char* p = reinterpret_cast<const char*>(buf_.data());
        size_t n = buf_.size() * 8;
        while (off < n && err_ == 0) {
            ssize_t r = ::write(fd_, p + off, n - off);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) err_ = r < 0 ? errno : EIO;
            else off += static_cast<size_t>(r);
        }
        buf_.clear();
        return err_ == 0;
    }
    int error() const { return err_; }

private:
    void raw(const uint64_t* w, size_t n) { buf_.insert(buf_.end(), w, w + n); }
    void string(uint64_t key) {
        if (key == 0 || !seen_.insert(key).second) return;
        const char* s = reinterpret_cast<const char*>(key);
        size_t len = std::strlen(s);
        std::vector<uint64_t> w(1 + fmt::bytes_words(len), 0);
        w[0] = key;
        std::memcpy(&w[1], s, len);
        record(fmt::Record::kString, w.data(), w.size());
    }
    int fd_;
    int err_ = 0;
    std::vector<uint64_t> buf_;
    std::unordered_set<uint64_t> seen_;
};

}  // namespace

Session::~Session() = default;  // here, where Out is complete

namespace {

struct Copied {
    int64_t thread;
    std::vector<uint64_t> words;
};

// Every buffer's complete events (T2), under g_lock: the ring's and, for
// each writer of the session, the one it is filling.
void copy_session_locked(Session* s, std::vector<Copied>& out) {
    for (TraceBuf* b = s->ring.head; b; b = b->next) {
        uint32_t n = b->used.load(std::memory_order_acquire);
        out.push_back({b->thread, std::vector<uint64_t>(b->words, b->words + n)});
    }
    for (ThreadWriter* w = g_writers; w; w = w->next) {
        TraceBuf* b = w->buf;
        if (b == nullptr || b->session != s->id) continue;
        uint32_t n = b->used.load(std::memory_order_acquire);
        if (n) out.push_back({b->thread, std::vector<uint64_t>(b->words, b->words + n)});
    }
}

// The flusher of a file session: writes full buffers as they come, outside
// g_lock, and gives them back to the pool.
void flusher_main(Session* s, Out* out) {
    for (;;) {
        BufList got;
        {
            base::LockGuard l(g_lock);
            got = s->queue;
            s->queue = BufList{};
        }
        const bool took = got.head != nullptr;
        for (TraceBuf* b = got.head; b; b = b->next)
            out->batch(b->thread, b->words, b->used.load(std::memory_order_acquire));
        if (took) out->flush();
        {
            base::LockGuard l(g_lock);
            while (TraceBuf* b = got.pop_front()) pool_put_locked(b);
        }
        if (took) continue;  // more may have come meanwhile
        if (s->stopping.load(std::memory_order_acquire)) {
            base::LockGuard l(g_lock);
            if (s->queue.head == nullptr) return;
            continue;
        }
        // The queue is under g_lock; the wake word only says "look again"
        // and carries nothing else, so relaxed resets are enough (a wake
        // lost to a reset costs at most this wait's 100 ms bound).
        base::futex_wait(&s->wake, 0, 100'000'000);
        s->wake.store(0, std::memory_order_relaxed);
    }
}

// Every fiber's state now, as kGoStatus events in this thread's buffer,
// so a reader names fibers created before the window. With the world
// stopped (start, flight_write): nobody changes a G's fields meanwhile.
void record_fibers() {
    for_each_g(
        [](G* g, void*) {
            GStatus st = without_scan(g->status.load(std::memory_order_acquire));
            if (st == GStatus::kDead || st == GStatus::kIdle) return;
            ev4(Ev::kGoStatus, (g->id & fmt::kGoidMask) | static_cast<uint64_t>(g->created_at.line & 0xffffff) << 40,
                reinterpret_cast<uint64_t>(g->created_at.file), reinterpret_cast<uint64_t>(g->created_at.function),
                static_cast<uint64_t>(st) | static_cast<uint64_t>(g->wait_reason) << 8 |
                    static_cast<uint64_t>(g->system) << 16);
        },
        nullptr);
}

// Stops the world around record_fibers when called from a fiber; before
// the first fiber runs there is nothing to record.
void record_fibers_stopped(const char* why) {
    if (getg() == nullptr) return;
    stop_the_world(why);
    record_fibers();
    start_the_world();
}

[[noreturn]] void throw_errno(const std::string& what, int err) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

namespace {

std::string g_trace_env;  // WEFT_TRACE, read at run_begin

uint64_t start_session(const SessionOptions& opts, bool before_first_fiber) {
    if (!runtime_running()) throw std::logic_error("weft::trace: no runtime is running (start a trace inside weft::run)");
    if (!before_first_fiber && getg() == nullptr)
        throw std::logic_error("weft::trace: start a trace from a fiber (it stops the world for a moment)");
    calibrate();  // outside every lock: the first time, it sleeps 5 ms
    int fd = -1;
    if (!opts.path.empty()) {
        fd = ::open(opts.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw_errno("weft::trace: cannot create " + opts.path, errno);
    }
    auto s = std::make_unique<Session>();
    s->opts = opts;
    s->fd = fd;
    if (fd >= 0) {
        s->out = std::make_unique<Out>(fd);
        s->out->header();
        if (!s->out->flush()) {
            ::close(fd);
            throw_errno("weft::trace: cannot write " + opts.path, s->out->error());
        }
    }
    {
        base::LockGuard l(g_lock);
        if (g_session != nullptr) {
            bool flight = g_session->opts.flight;
            if (fd >= 0) ::close(fd);
            throw std::logic_error(flight ? "weft::trace: a flight recorder is recording; one trace session at a time"
                                          : "weft::trace: a trace is already being recorded (one trace session at a time); stop it first");
        }
        s->id = ++g_next_session;
        s->tick0 = ticks();
        s->ns0 = base::nanotime();
        g_tick0.store(s->tick0, std::memory_order_relaxed);
        g_session = s.get();
        g_session_id.store(s->id, std::memory_order_release);
        g_on.store(true, std::memory_order_release);
    }
    Session* sp = s.release();
    uint64_t id = sp->id;
    if (fd >= 0) sp->flusher = std::thread(flusher_main, sp, sp->out.get());
    if (!before_first_fiber) record_fibers_stopped("trace start");
    return id;
}

// Ends the recording session if it is `id` (0: whichever); returns a
// message if its file could not be written (the file is then incomplete).
// *found: whether there was such a session.
std::string stop_session(uint64_t id, bool* found) {
    std::vector<Copied> partial;
    Session* s;
    uint64_t lost;
    {
        base::LockGuard l(g_lock);
        s = g_session;
        *found = s != nullptr && (id == 0 || s->id == id);
        if (!*found) return "";
        // Relaxed: a writer that still sees the old values appends to its
        // buffer of the ended session, which nobody reads any more (T4).
        g_on.store(false, std::memory_order_relaxed);
        g_session_id.store(0, std::memory_order_relaxed);
        if (s->fd >= 0) copy_session_locked(s, partial);
        lost = s->lost;
        g_session = nullptr;
        while (TraceBuf* b = s->ring.pop_front()) pool_put_locked(b);
    }
    std::string err;
    if (s->fd >= 0) {
        s->stopping.store(true, std::memory_order_release);
        s->wake.store(1, std::memory_order_release);
        base::futex_wake(&s->wake, 1);
        s->flusher.join();
        Out& out = *s->out;
        for (auto& c : partial) out.batch(c.thread, c.words.data(), c.words.size());
        out.clock(s->tick0, s->ns0);
        out.info(0, lost, 0, 0);
        out.flush();
        int e = out.error();
        if (::close(s->fd) != 0 && e == 0) e = errno;
        if (e != 0) err = "weft::trace: writing " + s->opts.path + " failed: " + std::strerror(e);
    }
    delete s;
    return err;
}

}  // namespace

uint64_t start(const SessionOptions& opts) { return start_session(opts, false); }

void stop(uint64_t id, const char* not_recording) {
    bool found;
    std::string err = stop_session(id, &found);
    if (!found) throw std::logic_error(not_recording);
    if (!err.empty()) throw std::runtime_error(err);
}

bool active() { return on(); }

uint64_t current(bool flight) {
    base::LockGuard l(g_lock);
    return g_session != nullptr && g_session->opts.flight == flight ? g_session->id : 0;
}

size_t flight_write(uint64_t id, const std::string& path) {
    if (getg() == nullptr)
        throw std::logic_error("weft::trace::FlightRecorder::write_to: call it from a fiber (it stops the world for a moment)");
    if (id == 0 || current(true) != id)
        throw std::logic_error("weft::trace::FlightRecorder::write_to: the recorder is not recording");
    record_fibers_stopped("flight recorder snapshot");
    std::vector<Copied> bufs;
    uint64_t tick0, lost, forgot;
    int64_t ns0;
    {
        base::LockGuard l(g_lock);
        Session* s = g_session;
        if (s == nullptr || s->id != id)
            throw std::logic_error("weft::trace::FlightRecorder::write_to: the recorder stopped meanwhile");
        copy_session_locked(s, bufs);
        tick0 = s->tick0;
        ns0 = s->ns0;
        lost = s->lost;
        forgot = s->forgot_until ? s->forgot_until - tick0 : 0;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("weft::trace::FlightRecorder::write_to: cannot create " + path, errno);
    Out out(fd);
    out.header();
    size_t words = 2;
    for (auto& c : bufs) {
        out.batch(c.thread, c.words.data(), c.words.size());
        words += c.words.size();
    }
    out.clock(tick0, ns0);
    out.info(fmt::kFlightRecording, lost, 0, forgot);
    out.flush();
    int e = out.error();
    off_t size = ::lseek(fd, 0, SEEK_END);
    if (::close(fd) != 0 && e == 0) e = errno;
    if (e != 0) throw_errno("weft::trace::FlightRecorder::write_to: writing " + path + " failed", e);
    (void)words;
    return size > 0 ? static_cast<size_t>(size) : 0;
}

void run_begin() {
    const char* env = std::getenv("WEFT_TRACE");
    if (env == nullptr || *env == 0) return;
    g_run_count++;
    SessionOptions o;
    o.path = g_run_count == 1 ? std::string(env) : std::string(env) + "." + std::to_string(g_run_count);
    start_session(o, true);
}

void run_end() {
    bool found;
    std::string err = stop_session(0, &found);
    if (!err.empty()) std::fprintf(stderr, "weft: %s\n", err.c_str());
    base::LockGuard l(g_lock);
    // Buffers no writer holds go back to the system between runs.
    while (TraceBuf* b = g_pool.pop_front()) {
        munmap(b, sizeof(TraceBuf));
        g_bufs--;
    }
}

// ---------------------------------------------------------------- fatal

namespace {

// The fatal dump's writer: no allocation, no lock it cannot do without;
// plain write(2)s, which are async-signal-safe.
class FatalOut {
public:
    explicit FatalOut(int fd) : fd_(fd) {}
    void words(const uint64_t* w, size_t n) {
        const char* p = reinterpret_cast<const char*>(w);
        size_t len = n * 8, off = 0;
        while (off < len) {
            ssize_t r = ::write(fd_, p + off, len - off);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return;
            off += static_cast<size_t>(r);
        }
    }
    void record(fmt::Record kind, const uint64_t* a, size_t na, const uint64_t* b = nullptr, size_t nb = 0) {
        uint64_t head = static_cast<uint64_t>(kind) | static_cast<uint64_t>(na + nb) << 32;
        words(&head, 1);
        words(a, na);
        if (nb) words(b, nb);
    }
    void string(uint64_t key) {
        if (key == 0) return;
        for (size_t i = 0; i < nseen_; i++)
            if (seen_[i] == key) return;
        if (nseen_ < kSeen) seen_[nseen_++] = key;
        const char* s = reinterpret_cast<const char*>(key);
        size_t len = std::strlen(s);
        if (len > 1000) len = 1000;
        uint64_t w[1 + 126] = {};
        w[0] = key;
        std::memcpy(&w[1], s, len);
        record(fmt::Record::kString, w, 1 + fmt::bytes_words(len));
    }
    void batch(int64_t thread, const uint64_t* ev, uint32_t n) {
        for_each_string_key(ev, n, [this](uint64_t k) { string(k); });
        uint64_t t = static_cast<uint64_t>(thread);
        record(fmt::Record::kBatch, &t, 1, ev, n);
    }

private:
    static constexpr size_t kSeen = 512;
    int fd_;
    uint64_t seen_[kSeen];
    size_t nseen_ = 0;
};

}  // namespace

void at_fatal() {
    // Read without waiting long for g_lock: the dying thread may hold it.
    bool locked = false;
    for (int i = 0; i < 1000 && !(locked = g_lock.try_lock()); i++) usleep(100);
    Session* s = g_session;
    if (s == nullptr || !s->opts.flight || s->opts.fatal_path.empty()) {
        if (locked) g_lock.unlock();
        return;
    }
    uint64_t fatal_tick = ticks() - s->tick0;
    g_on.store(false, std::memory_order_relaxed);  // what follows the fatal error is not of interest
    int fd = ::open(s->opts.fatal_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        static FatalOut out(fd);  // static: its table is large for a signal stack
        new (&out) FatalOut(fd);
        uint64_t head[2];
        std::memcpy(&head[0], fmt::kMagic, 8);
        head[1] = fmt::kVersion;
        out.words(head, 2);
        write_name_tables([](const uint64_t* t, size_t n) { out.record(fmt::Record::kNames, t, n); });
        for (TraceBuf* b = s->ring.head; b; b = b->next) out.batch(b->thread, b->words, b->used.load(std::memory_order_acquire));
        for (ThreadWriter* w = g_writers; w; w = w->next)
            if (w->buf && w->buf->session == s->id)
                out.batch(w->buf->thread, w->buf->words, w->buf->used.load(std::memory_order_acquire));
        uint64_t clock[5] = {s->tick0, static_cast<uint64_t>(s->ns0), ticks(), static_cast<uint64_t>(base::nanotime()),
                             s->tick0};
        out.record(fmt::Record::kClock, clock, 5);
        uint64_t info[kInfoWords];
        info_words(info, fmt::kFlightRecording | fmt::kAtFatal, s->lost, fatal_tick,
                   s->forgot_until ? s->forgot_until - s->tick0 : 0);
        out.record(fmt::Record::kInfo, info, kInfoWords);
        ::close(fd);
        char msg[512];
        int n = std::snprintf(msg, sizeof msg, "weft: the flight recorder's last events are in %s\n", s->opts.fatal_path.c_str());
        if (n > 0) (void)!::write(2, msg, static_cast<size_t>(std::min<int>(n, sizeof msg - 1)));
    }
    if (locked) g_lock.unlock();
}

}  // namespace weft::sched::trace
