// weft.hpp is the one header (README, "The API at a glance"): this file
// includes nothing else of weft's and uses a piece of every public part,
// as a program written from outside would.
#include <doctest/doctest.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unistd.h>

#include <weft/weft.hpp>

namespace {

struct Cell {
    weft::gc::Member<Cell> next;
    int value = 0;
    void trace(weft::gc::Visitor& v) const { v.visit(next); }
};

}  // namespace

TEST_CASE("weft.hpp alone gives fibers, channels, sync, time, blocking calls, files, sockets and the collector") {
    std::string path = "/tmp/weft-one-header-" + std::to_string(getpid());
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::Chan<int> ch(1);
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([ch, &wg]() mutable {
            ch.send(weft::blocking([] { return 20; }) + 1);
            wg.done();
        });
        wg.wait();
        CHECK(ch.recv() == std::optional<int>(21));
        weft::sleep(std::chrono::milliseconds(1));

        weft::write_file(path, "on disk");
        CHECK(weft::read_file(path) == "on disk");
        weft::sys::nanosleep(std::chrono::microseconds(10));
        CHECK(weft::blocking([&] { return ::unlink(path.c_str()); }) == 0);

        weft::net::Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        weft::go([&ln] {
            weft::net::Conn c = ln.accept();
            c.write_all(std::string_view("hi"));
        });
        weft::net::Conn c = weft::net::dial("tcp4", ln.addr().to_string());
        char buf[2];
        CHECK(c.read_full(std::as_writable_bytes(std::span<char>(buf, 2))) == 2);
        CHECK(std::string(buf, 2) == "hi");

        Cell* a = weft::gc::make<Cell>();
        a->next = weft::gc::make<Cell>();
        a->next->value = 7;
        weft::gc::collect();
        CHECK(a->next->value == 7);
    });
}
