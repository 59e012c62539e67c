// weft::metrics() (metrics.hpp): each count moves when its event happens.
// Through the public API only, as a program watching itself would.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <unistd.h>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

namespace {

// From a fiber: yields until pred() holds, at most 30 s; returns pred().
template <class Pred>
bool eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return pred();
        weft::yield();
    }
    return true;
}

}  // namespace

TEST_CASE("metrics outside a run are all zero") {
    weft::Metrics m = weft::metrics();
    CHECK(m.fibers.alive == 0);
    CHECK(m.procs.total == 0);
    CHECK(m.nreasons == 0);
    CHECK(m.waiting("chan receive") == 0);
}

TEST_CASE("fibers by state and by wait reason") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Metrics before = weft::metrics();
        CHECK(before.procs.total == 1);
        CHECK(before.fibers.running == 1);  // this one
        CHECK(before.nreasons > 10);
        // Ten fibers parked on a channel, five in a select with a timer,
        // three on a mutex.
        weft::Chan<int> ch, wake;
        weft::Mutex mu;
        weft::WaitGroup all;
        all.add(18);
        mu.lock();
        for (int i = 0; i < 10; i++)
            weft::go([ch, &all]() mutable {
                ch.recv();
                all.done();
            });
        for (int i = 0; i < 5; i++)
            weft::go([wake, &all]() mutable {
                auto timeout = weft::after(1h);
                weft::select(weft::recv_case(timeout), weft::recv_case(wake));
                all.done();
            });
        for (int i = 0; i < 3; i++)
            weft::go([&mu, &all] {
                mu.lock();
                mu.unlock();
                all.done();
            });
        // Started but not yet run (one P, this fiber still on it).
        weft::Metrics queued = weft::metrics();
        CHECK(queued.fibers.runnable == 18);
        CHECK(queued.fibers.created_total == before.fibers.created_total + 18);
        CHECK(queued.sched.runqueue_local + queued.sched.runqueue_global == 18);
        CHECK(eventually([] { return weft::metrics().fibers.waiting == 18; }));
        weft::Metrics parked = weft::metrics();
        CHECK(parked.waiting("chan receive") == 10);
        CHECK(parked.waiting("select") == 5);
        CHECK(parked.waiting("sync.Mutex.Lock") == 3);
        CHECK(parked.waiting("no such reason") == 0);
        CHECK(parked.fibers.runnable == 0);
        CHECK(parked.fibers.alive == before.fibers.alive + 18);
        CHECK(parked.sched.timers >= 5);
        uint64_t sum = 0;
        for (size_t i = 0; i < parked.nreasons; i++) sum += parked.waiting_count[i];
        CHECK(sum == parked.fibers.waiting);
        // Woken: by a send, and by the unlock.
        for (int i = 0; i < 10; i++) ch.send(i);
        mu.unlock();
        CHECK(eventually([] {
            weft::Metrics m = weft::metrics();
            return m.waiting("chan receive") == 0 && m.waiting("sync.Mutex.Lock") == 0;
        }));
        CHECK(weft::metrics().waiting("select") == 5);
        wake.close();
        all.wait();
        CHECK(weft::metrics().fibers.waiting == 0);
    });
}

TEST_CASE("a fiber in a blocking call counts as in a system call, on a thread in one") {
    weft::run(weft::Options{.procs = 2}, [] {
        uint64_t calls = weft::metrics().sched.syscalls_total;
        std::atomic<bool> inside{false}, leave{false};
        weft::WaitGroup caller;
        caller.add(1);
        weft::go([&] {
            weft::blocking([&] {
                inside = true;
                while (!leave.load()) usleep(200);
            });
            caller.done();
        });
        CHECK(eventually([&] { return inside.load(); }));
        CHECK(eventually([] { return weft::metrics().fibers.in_syscall == 1; }));
        weft::Metrics m = weft::metrics();
        CHECK(m.threads.in_syscall == 1);
        CHECK(m.threads.total >= 2);
        CHECK(m.sched.syscalls_total > calls);
        // A call that lasts: sysmon hands its P to another thread.
        CHECK(eventually([] { return weft::metrics().sched.handoffs_total > 0; }));
        leave = true;
        caller.wait();
        CHECK(weft::metrics().fibers.in_syscall == 0);
    });
}

TEST_CASE("two Ps: both run fibers, and one steals the other's") {
    weft::run(weft::Options{.procs = 2}, [] {
        std::atomic<bool> spinning{false}, stop{false};
        weft::WaitGroup spinner;
        spinner.add(1);
        weft::go([&] {
            spinning = true;
            while (!stop.load()) weft::preempt_point();
            spinner.done();
        });
        CHECK(eventually([&] { return spinning.load(); }));
        CHECK(eventually([] { return weft::metrics().fibers.running == 2; }));
        stop = true;
        spinner.wait();
        // Batches of short fibers queued on this P: an idle P takes some.
        CHECK(eventually([] {
            weft::WaitGroup wg;
            for (int i = 0; i < 64; i++) {
                wg.add(1);
                weft::go([&wg] {
                    for (int k = 0; k < 100; k++) weft::yield();
                    wg.done();
                });
            }
            wg.wait();
            return weft::metrics().sched.steals_total > 0;
        }));
    });
}

TEST_CASE("a fiber reading an idle socket waits on the network poller") {
    weft::run(weft::Options{.procs = 1}, [] {
        uint64_t polls = weft::metrics().sched.netpolls_total;
        weft::net::Listener ln = weft::net::listen("tcp", "127.0.0.1:0");
        weft::net::Conn client = weft::net::dial("tcp", ln.addr().to_string());
        weft::net::Conn server = ln.accept();
        weft::Chan<int> done;
        weft::go([&] {
            std::byte b[1];
            server.read(b);
            done.send(1);
        });
        CHECK(eventually([] { return weft::metrics().waiting("IO wait") == 1; }));
        CHECK(weft::metrics().sched.netpoll_waiters == 1);
        std::byte x[1] = {std::byte{'x'}};
        client.write_all(x);
        done.recv();
        CHECK(weft::metrics().sched.netpoll_waiters == 0);
        CHECK(weft::metrics().waiting("IO wait") == 0);
        CHECK(weft::metrics().sched.netpolls_total > polls);
    });
}

TEST_CASE("stacks and the collector's counts") {
    weft::run(weft::Options{.procs = 1, .stack_size = 64 * 1024}, [] {
        weft::Metrics m = weft::metrics();
        CHECK(m.stacks.allocated >= 1);
        CHECK(m.stacks.reserved_bytes == m.stacks.allocated * 64 * 1024);
        struct Node {
            weft::gc::Member<Node> next;
            void trace(weft::gc::Visitor& v) const { v.visit(next); }
        };
        for (int i = 0; i < 10000; i++) weft::gc::make<Node>();
        weft::gc::collect();
        weft::Metrics after = weft::metrics();
        CHECK(after.gc.cycles_total > m.gc.cycles_total);
        CHECK(after.gc.pauses_total > m.gc.pauses_total);
        CHECK(after.gc.allocated_bytes_total > m.gc.allocated_bytes_total);
        CHECK(after.gc.pause_total_ns > m.gc.pause_total_ns);
        CHECK(after.gc.pause_max_ns > 0);
        uint64_t in_buckets = std::accumulate(std::begin(after.gc.pauses), std::end(after.gc.pauses), uint64_t{0});
        CHECK(in_buckets == after.gc.pauses_total);
        CHECK(after.gc.heap_goal_bytes > 0);
        CHECK(after.gc.heap_mapped_bytes > 0);
    });
}

TEST_CASE("num_fibers: the program's fibers alive now, not the runtime's own") {
    CHECK(weft::num_fibers() == 0);  // no run
    weft::run(weft::Options{.procs = 2}, [] {
        weft::gc::collect();  // the collector's own fiber exists from here on
        CHECK(weft::num_fibers() == 1);  // main
        weft::Chan<int> gate;
        weft::Chan<int> running;
        constexpr int kN = 10;
        for (int i = 0; i < kN; i++)
            weft::go([gate, running] {
                running.send(0);
                (void)gate.recv();  // blocked fibers count too
            });
        for (int i = 0; i < kN; i++) running.recv();
        CHECK(eventually([] { return weft::num_fibers() == 1 + kN; }));
        gate.close();
        CHECK(eventually([] { return weft::num_fibers() == 1; }));
        weft::Metrics m = weft::metrics();
        CHECK(m.fibers.alive >= weft::num_fibers());  // metrics count every fiber, the runtime's too
    });
    CHECK(weft::num_fibers() == 0);
}
