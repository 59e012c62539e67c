// file.cpp — weft::File and the whole-file helpers, over weft::sys.
//
// Owns one descriptor per File.
//
// Invariants:
//   FL1. fd_ is -1 or a descriptor this File alone will close. Moving
//       leaves the source at -1; close() sets fd_ to -1 before it calls
//       close(2), so a throwing close never leaves a descriptor to be
//       closed twice (by a second close() or the destructor).
//   FL2. Every call that may block goes through weft::sys (P hand-off,
//       EINTR retried); this file makes no raw system call.
//
// Errors are reported with the File's name (its path) rather than sys's
// "fd N" detail: the ec forms of weft::sys are called and the exception is
// built here.
//
// Rejected: registering files with the netpoller — epoll refuses regular
// files (EPERM) and would report them always ready anyway; Go's os.File
// blocks its thread for them too.
#include <weft/file.hpp>

#include <cerrno>
#include <fmt/core.h>
#include <system_error>
#include <utility>

#include <weft/sys.hpp>

namespace weft {

File::File(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}

File::~File() {
    if (fd_ >= 0) {
        std::error_code ignored;  // nowhere to report it: close() reports
        sys::close(std::exchange(fd_, -1), ignored);
    }
}

File::File(File&& other) noexcept : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)) {}

File& File::operator=(File&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            std::error_code ignored;
            sys::close(std::exchange(fd_, -1), ignored);
        }
        fd_ = std::exchange(other.fd_, -1);
        name_ = std::move(other.name_);
    }
    return *this;
}

File File::open(const std::filesystem::path& path, int flags, mode_t mode) {
    std::error_code ec;
    int fd = sys::open(path.c_str(), flags | O_CLOEXEC, mode, ec);
    if (ec) throw std::system_error(ec, "open " + path.native());
    return File(fd, path.native());
}

std::string File::name() const { return name_.empty() ? fmt::format("fd {}", fd_) : name_; }

void File::fail(const char* op, int err) const {
    throw std::system_error(err, std::generic_category(), fmt::format("{} {}", op, name()));
}

size_t File::read(std::span<std::byte> buf) {
    std::error_code ec;
    size_t n = sys::read(fd_, buf.data(), buf.size(), ec);
    if (ec) fail("read", ec.value());
    return n;
}

size_t File::read_at(std::span<std::byte> buf, off_t offset) {
    std::error_code ec;
    size_t n = sys::pread(fd_, buf.data(), buf.size(), offset, ec);
    if (ec) fail("read_at", ec.value());
    return n;
}

size_t File::write(std::span<const std::byte> data) {
    std::error_code ec;
    size_t n = sys::write(fd_, data.data(), data.size(), ec);
    if (ec) fail("write", ec.value());
    return n;
}

void File::write_all(std::span<const std::byte> data) {
    while (!data.empty()) {
        size_t n = write(data);
        if (n == 0) fail("write", EIO);  // no progress: do not spin
        data = data.subspan(n);
    }
}

size_t File::write_at(std::span<const std::byte> data, off_t offset) {
    std::error_code ec;
    size_t n = sys::pwrite(fd_, data.data(), data.size(), offset, ec);
    if (ec) fail("write_at", ec.value());
    return n;
}

void File::sync() {
    std::error_code ec;
    sys::fsync(fd_, ec);
    if (ec) fail("sync", ec.value());
}

uint64_t File::size() {
    std::error_code ec;
    struct stat st = sys::fstat(fd_, ec);
    if (ec) fail("size", ec.value());
    return static_cast<uint64_t>(st.st_size);
}

void File::close() {
    if (fd_ < 0) return;
    int fd = std::exchange(fd_, -1);  // FL1: before the call that may throw
    std::error_code ec;
    sys::close(fd, ec);
    if (ec)
        throw std::system_error(ec, fmt::format("close {}", name_.empty() ? fmt::format("fd {}", fd) : name_));
}

std::string read_file(const std::filesystem::path& path) {
    File f = File::open(path, O_RDONLY);
    std::string out;
    // The size is a hint only (/proc files report 0, files grow): read to EOF.
    uint64_t hint = f.size();
    size_t chunk = hint > 0 && hint < (size_t{1} << 30) ? static_cast<size_t>(hint) + 1 : 64 * 1024;
    for (;;) {
        size_t old = out.size();
        out.resize(old + chunk);
        size_t n = f.read(std::as_writable_bytes(std::span(out.data() + old, chunk)));
        out.resize(old + n);
        if (n == 0) break;
        chunk = 64 * 1024;
    }
    f.close();
    return out;
}

void write_file(const std::filesystem::path& path, std::string_view data) {
    File f = File::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f.write_all(data);
    f.close();
}

}  // namespace weft
