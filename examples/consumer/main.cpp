// main.cpp — a user's program: only the public headers, as installed.
// Exercises each part of the API once (fibers, channels, select, sync,
// time, the GC, the net API, blocking calls) and exits non-zero, naming
// the part, if any of them misbehaves.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++failures;
}

struct Node {
    int value = 0;
    weft::gc::Member<Node> next;
    explicit Node(int v, Node* n = nullptr) : value(v), next(n) {}
    void trace(weft::gc::Visitor& v) const { v.visit(next); }
};

}  // namespace

int main() {
    int rc = weft::run([] {
        // Fibers and channels: a pipeline of three stages.
        weft::Chan<int> numbers(8);
        weft::Chan<int> squares;
        weft::go([numbers]() mutable {
            for (int i = 1; i <= 100; ++i) numbers.send(i);
            numbers.close();
        });
        weft::go([numbers, squares]() mutable {
            for (int n : numbers) squares.send(n * n);
            squares.close();
        });
        long sum = 0;
        for (int s : squares) sum += s;
        expect(sum == 338350, "a pipeline of fibers over channels");

        // select with a timer: the timer wins over a channel nobody sends on.
        weft::Chan<int> never;
        weft::Chan<weft::TimePoint> timeout = weft::after(5ms);
        bool timed_out = false;
        weft::select(weft::recv_case(never, [](std::optional<int>) {}),
                     weft::recv_case(timeout, [&](std::optional<weft::TimePoint>) { timed_out = true; }));
        expect(timed_out, "select over a channel and weft::after");

        // sync: a WaitGroup and a Mutex over many fibers.
        weft::WaitGroup wg;
        weft::Mutex mu;
        int counter = 0;
        for (int f = 0; f < 50; ++f) {
            wg.add(1);
            weft::go([&] {
                for (int i = 0; i < 100; ++i) {
                    std::lock_guard<weft::Mutex> l(mu);
                    ++counter;
                }
                wg.done();
            });
        }
        wg.wait();
        expect(counter == 5000, "a Mutex and a WaitGroup over 50 fibers");

        // The GC: a list a Root holds survives a collection among garbage.
        weft::gc::Root<Node> head(nullptr);
        for (int i = 0; i < 1000; ++i) head = weft::gc::make<Node>(i, head.get());
        for (int i = 0; i < 100000; ++i) weft::gc::make<Node>(i);  // garbage
        weft::gc::collect();
        int n = 0;
        long total = 0;
        for (Node* p = head.get(); p != nullptr; p = p->next.get()) {
            ++n;
            total += p->value;
        }
        expect(n == 1000 && total == 999L * 1000 / 2, "a rooted list survives gc::collect");

        // The net API: an echo over loopback, both ends fibers.
        weft::net::Listener ln = weft::net::listen("tcp", "127.0.0.1:0");
        std::string addr = ln.addr().to_string();
        weft::go([l = std::move(ln)]() mutable {
            weft::net::Conn c = l.accept();
            std::array<std::byte, 64> buf{};
            size_t got = c.read(buf);
            c.write_all(std::span<const std::byte>(buf.data(), got));
        });
        weft::net::Conn c = weft::net::dial("tcp", addr);
        const std::string msg = "hello through the netpoller";
        c.write_all(msg);
        std::array<std::byte, 64> buf{};
        size_t got = 0;
        while (got < msg.size()) {
            size_t k = c.read(std::span<std::byte>(buf).subspan(got));
            if (k == 0) break;
            got += k;
        }
        expect(std::string(reinterpret_cast<const char*>(buf.data()), got) == msg, "a TCP echo over loopback");

        // A blocking call with the P handed off.
        int r = weft::blocking([] { return 6 * 7; });
        expect(r == 42, "weft::blocking returns the call's value");
    });
    if (rc != 0 || failures != 0) {
        std::printf("consumer: %d part(s) failed, run returned %d\n", failures, rc);
        return EXIT_FAILURE;
    }
    std::printf("consumer: every part works\n");
    return 0;
}
