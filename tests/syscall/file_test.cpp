// weft::File, read_file, write_file. Every test checks that it leaves the
// process with as many open descriptors as it found (/proc/self/fd).
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include <weft/file.hpp>
#include <weft/weft.hpp>
#include "support/test_util.hpp"

namespace fs = std::filesystem;

namespace {

// A fresh directory, removed with its contents at scope exit; and the
// descriptor count, checked then too.
class Scratch {
public:
    Scratch() : fds_(weft::suite::open_fd_count()) {
        std::string tmpl = (fs::temp_directory_path() / "weft-file-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir_ = tmpl;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        CHECK_MESSAGE(weft::suite::open_fd_count() == fds_, "the test leaked (or closed) file descriptors");
    }
    fs::path operator/(const char* name) const { return dir_ / name; }

private:
    int fds_;
    fs::path dir_;
};

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string read_some(weft::File& f, size_t n) {
    std::string s(n, '\0');
    size_t got = f.read(std::as_writable_bytes(std::span(s.data(), s.size())));
    s.resize(got);
    return s;
}

std::string read_at(weft::File& f, size_t n, off_t off) {
    std::string s(n, '\0');
    size_t got = f.read_at(std::as_writable_bytes(std::span(s.data(), s.size())), off);
    s.resize(got);
    return s;
}

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("File: write, read, read_at, write_at, size, sync") {
    Scratch dir;
    fs::path path = dir / "a.txt";
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::File f = weft::File::open(path, O_RDWR | O_CREAT | O_TRUNC);
        CHECK(f.is_open());
        CHECK(f.size() == 0);
        f.write_all("hello world");
        CHECK(f.size() == 11);
        f.sync();
        CHECK(read_some(f, 16) == "");  // the offset is at the end: EOF
        CHECK(read_at(f, 5, 6) == "world");
        CHECK(read_at(f, 100, 0) == "hello world");  // short at EOF
        CHECK(read_at(f, 10, 50) == "");             // past EOF
        CHECK(f.write_at(bytes("HELLO"), 0) == 5);
        CHECK(f.write(bytes("!")) == 1);  // at the offset, still the end
        CHECK(f.size() == 12);
        f.close();

        weft::File g = weft::File::open(path);  // O_RDONLY
        std::string all;
        for (std::string chunk; !(chunk = read_some(g, 4)).empty();) all += chunk;
        CHECK(all == "HELLO world!");
        CHECK((::fcntl(g.fd(), F_GETFD) & FD_CLOEXEC) != 0);  // open adds O_CLOEXEC
    });
    CHECK(weft::read_file(path) == "HELLO world!");  // outside a fiber too
}

TEST_CASE("read_file / write_file") {
    Scratch dir;
    weft::run(weft::Options{.procs = 2}, [&] {
        // larger than read_file's chunk, not a multiple of it
        std::string big;
        for (int i = 0; big.size() < 300 * 1024 + 17; i++) big += std::to_string(i * 7919) + ",";
        weft::write_file(dir / "big", big);
        CHECK(weft::read_file(dir / "big") == big);
        weft::write_file(dir / "big", "short");  // truncates
        CHECK(weft::read_file(dir / "big") == "short");
        weft::write_file(dir / "empty", "");
        CHECK(weft::read_file(dir / "empty") == "");
        // st_size 0 but has content: read to EOF, not to the size
        CHECK(weft::read_file("/proc/self/status").find("Threads:") != std::string::npos);

        try {
            weft::read_file(dir / "missing");
            FAIL("read_file of a missing file did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ENOENT);
            CHECK(std::string(e.what()).find("open " + (dir / "missing").string()) != std::string::npos);
        }
        CHECK_THROWS_AS(weft::write_file(dir / "no-dir" / "x", "x"), std::system_error);
    });
}

TEST_CASE("File: move semantics") {
    Scratch dir;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::File a = weft::File::open(dir / "m", O_RDWR | O_CREAT);
        int fd = a.fd();
        weft::File b = std::move(a);
        CHECK(a.fd() == -1);
        CHECK(!a.is_open());
        CHECK(b.fd() == fd);
        CHECK(fd_is_open(fd));
        CHECK(b.name() == (dir / "m").string());

        // Assigning over an open File closes what it held.
        weft::File c = weft::File::open(dir / "n", O_RDWR | O_CREAT);
        int old = c.fd();
        c = std::move(b);
        CHECK(c.fd() == fd);
        CHECK(!fd_is_open(old));
        CHECK(!b.is_open());

        // The destructor closes.
        {
            weft::File d = std::move(c);
            CHECK(!c.is_open());
        }
        CHECK(!fd_is_open(fd));

        // A moved-from File is a valid closed File.
        a.close();
        CHECK_THROWS_AS(read_some(a, 1), std::system_error);
    });
}

TEST_CASE("File: close is idempotent; use after close fails with EBADF") {
    Scratch dir;
    fs::path path = dir / "c";
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::File f = weft::File::open(path, O_RDWR | O_CREAT);
        int fd = f.fd();
        f.close();
        CHECK(!fd_is_open(fd));
        CHECK(f.fd() == -1);
        CHECK_NOTHROW(f.close());
        CHECK_NOTHROW(f.close());
        try {
            read_some(f, 1);
            FAIL("read after close did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EBADF);
            CHECK(std::string(e.what()).find("read " + path.string()) != std::string::npos);
        }

        weft::File ro = weft::File::open(path);
        try {
            ro.write_all("x");
            FAIL("write to a read-only File did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EBADF);
            CHECK(std::string(e.what()).find("write " + path.string()) != std::string::npos);
        }

        try {
            weft::File::open(dir / "nope");
            FAIL("open of a missing file did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ENOENT);
            CHECK(std::string(e.what()).find("open " + (dir / "nope").string()) != std::string::npos);
        }

        // An adopted descriptor names itself by number.
        int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        weft::File adopted(raw);
        CHECK(adopted.name() == "fd " + std::to_string(raw));
        CHECK(read_some(adopted, 1) == "");
        CHECK_THROWS_WITH_AS(adopted.write_all("x"), doctest::Contains(("write fd " + std::to_string(raw)).c_str()),
                             std::system_error);
    });
}

TEST_CASE("File: fibers write_at and read_at disjoint blocks concurrently") {
    for (int procs : {1, 2, 4}) {
        Scratch dir;
        fs::path path = dir / "blocks";
        std::atomic<int> bad{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            constexpr int kFibers = 32;
            constexpr size_t kBlock = 4096;
            weft::File f = weft::File::open(path, O_RDWR | O_CREAT | O_TRUNC);
            weft::WaitGroup wg;
            wg.add(kFibers);
            for (int i = 0; i < kFibers; i++)
                weft::go([&, i] {
                    std::string block(kBlock, static_cast<char>('A' + i % 26));
                    off_t at = static_cast<off_t>(i * kBlock);
                    if (f.write_at(bytes(block), at) != kBlock) bad.fetch_add(1);
                    weft::yield();
                    if (read_at(f, kBlock, at) != block) bad.fetch_add(1);
                    wg.done();
                });
            wg.wait();
            CHECK(f.size() == kFibers * kBlock);
            std::string all = weft::read_file(path);
            for (int i = 0; i < kFibers; i++)
                if (all.substr(i * kBlock, kBlock) != std::string(kBlock, static_cast<char>('A' + i % 26)))
                    bad.fetch_add(1);
        });
        CHECK(bad.load() == 0);
    }
}
