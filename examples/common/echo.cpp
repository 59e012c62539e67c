// echo.cpp — see echo.hpp.
//
// The client's check: connection i fills each chunk from a SplitMix64
// stream seeded with i, writes it, reads exactly as many bytes back and
// compares. Writing a chunk and reading it back before the next keeps at
// most one chunk in flight per connection, so neither side can fill both
// socket buffers and stall (a chunk is far below loopback's buffer sizes).
#include "common/echo.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/core.h>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include <weft/run.hpp>
#include <weft/sync/mutex.hpp>
#include <weft/sync/waitgroup.hpp>
#include "common/stopwatch.hpp"

namespace ex {
namespace {

constexpr size_t kEchoBuf = 16384;

// Adds a connection's echoed bytes to the counters however it ends.
struct BytesTally {
    EchoCounters& counters;
    int64_t n = 0;
    ~BytesTally() { counters.bytes.fetch_add(n, std::memory_order_relaxed); }
};

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fill_random(std::span<std::byte> buf, uint64_t& state) {
    size_t i = 0;
    for (; i + 8 <= buf.size(); i += 8) {
        uint64_t v = splitmix64(state);
        std::memcpy(buf.data() + i, &v, 8);
    }
    if (i < buf.size()) {
        uint64_t v = splitmix64(state);
        std::memcpy(buf.data() + i, &v, buf.size() - i);
    }
}

// Reads exactly buf.size() bytes; false at a premature EOF.
bool read_full(weft::net::Conn& c, std::span<std::byte> buf) {
    size_t got = 0;
    while (got < buf.size()) {
        size_t n = c.read(buf.subspan(got));
        if (n == 0) return false;
        got += n;
    }
    return true;
}

struct ClientShared {
    EchoClientOptions opts;
    std::atomic<int64_t> ok{0}, failed{0}, mismatches{0}, bytes{0};
    weft::Mutex mu;
    std::string first_error;  // guarded by mu
    weft::WaitGroup wg;

    void fail(std::atomic<int64_t>& counter, std::string msg) {
        counter.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard g(mu);
        if (first_error.empty()) first_error = std::move(msg);
    }
};

// One client connection (its own fiber).
void client_conn(const EchoClientOptions& o, int64_t id, weft::TimePoint end, ClientShared& sh) {
    auto chunk = static_cast<size_t>(o.chunk);
    std::vector<std::byte> sent(chunk), got(chunk);
    uint64_t rng = 0x5eed0000ULL + static_cast<uint64_t>(id);
    int64_t done = 0;
    try {
        weft::net::Conn c = weft::net::dial("tcp", o.addr, o.timeout);
        do {
            for (int64_t off = 0; off < o.bytes; off += o.chunk) {
                size_t n = static_cast<size_t>(std::min<int64_t>(o.chunk, o.bytes - off));
                fill_random(std::span(sent).first(n), rng);
                c.set_deadline(weft::Clock::now() + o.timeout);
                c.write_all(std::span(sent).first(n));
                if (!read_full(c, std::span(got).first(n))) {
                    sh.fail(sh.failed, fmt::format("conn {}: EOF after {} of its bytes", id, done));
                    sh.bytes.fetch_add(done, std::memory_order_relaxed);
                    return;
                }
                if (std::memcmp(sent.data(), got.data(), n) != 0) {
                    size_t at = 0;
                    while (sent[at] == got[at]) ++at;
                    sh.fail(sh.mismatches,
                            fmt::format("conn {}: byte {} came back as {:#04x}, sent {:#04x}", id,
                                        done + static_cast<int64_t>(at), static_cast<unsigned>(got[at]),
                                        static_cast<unsigned>(sent[at])));
                    sh.bytes.fetch_add(done, std::memory_order_relaxed);
                    return;
                }
                done += static_cast<int64_t>(n);
            }
        } while (weft::Clock::now() < end);
        c.close();
        sh.ok.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::system_error& e) {  // includes weft::net::TimeoutError
        sh.fail(sh.failed, fmt::format("conn {}: {}", id, e.what()));
    }
    sh.bytes.fetch_add(done, std::memory_order_relaxed);
}

}  // namespace

void serve_echo(Session& s, const EchoOptions& opts, EchoCounters& counters) {
    weft::net::Conn& c = s.conn();
    std::array<std::byte, kEchoBuf> buf;  // uninitialised: pages are touched as used
    BytesTally tally{counters};
    // Each deadline is set again once it has aged 1/60 of its length: a
    // timer update per second per connection at the defaults, not per read.
    const weft::Duration read_rearm = std::max<weft::Duration>(opts.idle_timeout / 60, std::chrono::milliseconds(1));
    const weft::Duration write_rearm = std::max<weft::Duration>(opts.write_timeout / 60, std::chrono::milliseconds(1));
    weft::TimePoint read_armed{}, write_armed{};
    for (;;) {
        weft::TimePoint now = weft::Clock::now();
        if (now - read_armed >= read_rearm) {
            c.set_read_deadline(now + opts.idle_timeout);
            read_armed = now;
        }
        size_t n;
        try {
            n = c.read(buf);
        } catch (const weft::net::TimeoutError&) {
            return;  // nothing for idle_timeout: closed, as at EOF
        }
        if (n == 0) return;  // EOF: the peer is done
        now = weft::Clock::now();
        if (now - write_armed >= write_rearm) {
            c.set_write_deadline(now + opts.write_timeout);
            write_armed = now;
        }
        c.write_all(std::span(buf).first(n));  // TimeoutError if the peer does not read
        tally.n += static_cast<int64_t>(n);
    }
}

EchoClientResult run_echo_client(const EchoClientOptions& opts) {
    auto sh = std::make_shared<ClientShared>();
    sh->opts = opts;
    Stopwatch sw;
    // seconds == 0: end is in the past, so each connection makes one round.
    weft::TimePoint end = weft::Clock::now() + std::chrono::duration_cast<weft::Duration>(
                                                   std::chrono::duration<double>(opts.seconds));
    sh->wg.add(opts.conns);
    for (int64_t i = 0; i < opts.conns; ++i) {
        weft::go([sh, i, end] {  // 32 bytes: no allocation per fiber
            client_conn(sh->opts, i, end, *sh);
            sh->wg.done();
        });
    }
    sh->wg.wait();
    EchoClientResult r;
    r.wall_ms = sw.elapsed_ms();
    r.conns_ok = sh->ok.load();
    r.conns_failed = sh->failed.load();
    r.mismatches = sh->mismatches.load();
    r.bytes = sh->bytes.load();
    std::lock_guard g(sh->mu);
    r.first_error = sh->first_error;
    return r;
}

}  // namespace ex
