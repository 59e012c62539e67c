// file.hpp — files for fibers: weft::File, read_file, write_file.
//
//   weft::File f = weft::File::open("/tmp/x", O_RDWR | O_CREAT);
//   f.write_all("hello");
//   char buf[5];
//   size_t n = f.read_at(std::as_writable_bytes(std::span(buf)), 0);
//   std::string s = weft::read_file("/etc/hostname");
//
// Every operation goes through weft::sys (sys.hpp): it blocks the fiber's
// thread, not the other fibers, and EINTR is retried. Regular files are
// always "ready" for epoll, so they use blocking calls with P hand-off, as
// Go's os.File does for them, rather than the netpoller.
//
// Errors throw std::system_error(errno, std::generic_category(),
// "<op> <path>"), e.g. "read /tmp/x: Bad file descriptor"; a File made
// from a bare descriptor names itself "fd N".
//
// A File is move-only and owns its descriptor: the destructor closes it
// (ignoring errors: call close() to see them). One File may be used by
// several fibers at once only for the positional calls (read_at, write_at)
// and fd(); read, write and close need the caller's own ordering, as with
// a raw descriptor. Call from a fiber (or a plain thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace weft {

class File {
public:
    File() = default;  // not open: fd() == -1
    // Adopts fd (which may be -1); `name` is used in error messages, "fd N"
    // when empty.
    explicit File(int fd, std::string name = {}) noexcept;
    ~File();
    File(File&& other) noexcept;
    File& operator=(File&& other) noexcept;  // closes what this held first
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    // open(2) with O_CLOEXEC added. Throws "open <path>: ..." on failure.
    static File open(const std::filesystem::path& path, int flags = O_RDONLY, mode_t mode = 0644);

    // Reads up to buf.size() bytes at the file offset: the count, 0 at end
    // of file (or for an empty buf).
    size_t read(std::span<std::byte> buf);
    // Reads at `offset` without moving the file offset (pread).
    size_t read_at(std::span<std::byte> buf, off_t offset);
    // Writes at the file offset; may be short (see write_all).
    size_t write(std::span<const std::byte> data);
    // Writes all of data, looping over short writes.
    void write_all(std::span<const std::byte> data);
    void write_all(std::string_view data) { write_all(std::as_bytes(std::span(data.data(), data.size()))); }
    // Writes at `offset` without moving the file offset (pwrite); may be
    // short.
    size_t write_at(std::span<const std::byte> data, off_t offset);

    void sync();        // fsync(2)
    uint64_t size();    // st_size from fstat(2)
    // Closes the descriptor; later calls do nothing. Throws if close(2)
    // reports an error (the descriptor is released all the same).
    void close();

    int fd() const { return fd_; }
    bool is_open() const { return fd_ >= 0; }
    // The name used in error messages (the path given to open).
    std::string name() const;

private:
    [[noreturn]] void fail(const char* op, int err) const;

    int fd_ = -1;
    std::string name_;
};

// The whole file at path. Throws std::system_error naming the path.
std::string read_file(const std::filesystem::path& path);

// Creates or truncates path (mode 0644) and writes data to it; the file is
// closed (and close errors reported) before it returns. Not fsynced.
void write_file(const std::filesystem::path& path, std::string_view data);

}  // namespace weft
