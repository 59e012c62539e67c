// bufio.hpp — weft::BufReader, a buffered reader over a net::Conn, a File
// or anything with the same read (Go's bufio.Reader).
//
//   weft::net::Conn c = ln.accept();
//   weft::BufReader in(c);                      // reads c through a 4 KiB buffer
//   while (std::optional<std::string> line = in.read_line()) handle(*line);
//
// The source is any R with `size_t read(std::span<std::byte>)` that blocks
// for at least one byte and returns 0 only at the end of the stream (or for
// an empty span): net::Conn and weft::File are two. BufReader keeps a
// reference to it (the source must outlive the BufReader) and owns only its
// buffer. Every byte it returns comes from the source in order, once.
//
// Errors and deadlines: BufReader adds no timeout of its own. The source's
// errors (TimeoutError after a Conn's read deadline, ClosedError,
// std::system_error) propagate out of the call that read, and the bytes
// already read stay buffered: after a timeout, setting a new deadline and
// calling again resumes where the stream stands, a partial line included.
// A line longer than max_line throws std::length_error (see read_line); the
// buffer never grows beyond max_line plus a line end.
//
// Contexts: as the source's read (a fiber, for a Conn). One BufReader is
// used by one fiber at a time, and nothing else should read the source
// while a BufReader holds bytes from it (they would be read out of order).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

// What BufReader reads from (net::Conn, weft::File, ...).
template <class R>
concept ByteSource = requires(R& r, std::span<std::byte> buf) {
    { r.read(buf) } -> std::convertible_to<size_t>;
};

namespace detail {
// Reads from `source` until buf is full or the stream ends; the bytes read
// (fewer than buf.size() only at the end). The read_full of Conn,
// tls::Conn and BufReader.
template <ByteSource R>
size_t read_full(R& source, std::span<std::byte> buf) {
    size_t got = 0;
    while (got < buf.size()) {
        size_t n = source.read(buf.subspan(got));
        if (n == 0) break;
        got += n;
    }
    return got;
}
}  // namespace detail

template <ByteSource R>
class BufReader {
public:
    static constexpr size_t kDefaultSize = 4096;
    static constexpr size_t kDefaultMaxLine = 64 * 1024;

    // Reads from source through a buffer of buffer_size bytes (at least
    // 16). Lines (read_line, read_until) may grow it up to max_line bytes
    // plus their line end; longer ones throw. Allocates the buffer.
    explicit BufReader(R& source, size_t buffer_size = kDefaultSize, size_t max_line = kDefaultMaxLine)
        : src_(&source), buf_(std::max<size_t>(buffer_size, 16)), max_line_(max_line) {}

    BufReader(const BufReader&) = delete;
    BufReader& operator=(const BufReader&) = delete;
    BufReader(BufReader&&) noexcept = default;
    BufReader& operator=(BufReader&&) noexcept = default;

    // Reads up to buf.size() bytes: what is buffered first, without
    // reading the source; with nothing buffered, one read of the source
    // (straight into buf when buf is at least the buffer's size). Returns
    // 0 only at the end of the stream, or for an empty buf.
    size_t read(std::span<std::byte> buf) {
        if (buf.empty()) return 0;
        if (r_ == w_) {
            r_ = w_ = 0;
            if (buf.size() >= buf_.size()) return src_->read(buf);  // a copy saved
            if (!fill()) return 0;
        }
        size_t n = std::min(buf.size(), w_ - r_);
        std::memcpy(buf.data(), buf_.data() + r_, n);
        r_ += n;
        return n;
    }
    size_t read(char* buf, size_t n) { return read(std::as_writable_bytes(std::span<char>(buf, n))); }

    // Reads until buf is full or the stream ends; returns the bytes read
    // (less than buf.size() only at the end of the stream). On an error,
    // the bytes already copied into buf are consumed.
    size_t read_full(std::span<std::byte> buf) { return detail::read_full(*this, buf); }

    // The next line, without its "\n" or "\r\n". At the end of the stream:
    // a last line without "\n" is returned as it is, then nullopt (nullopt
    // at once if nothing was left). A line of more than max_line bytes
    // (line end not counted) throws std::length_error("weft::BufReader:
    // line longer than N bytes"); its bytes stay buffered (read() returns
    // them), so calling read_line again throws again.
    std::optional<std::string> read_line() {
        // Room for a "\r" before the "\n": checked once the line is known.
        std::optional<size_t> end = scan('\n', max_line_ + 1);
        if (!end) return rest();
        size_t len = *end - r_;  // without the "\n"
        if (len > 0 && buf_[r_ + len - 1] == std::byte{'\r'}) len--;
        if (len > max_line_) throw_too_long();
        std::string line(reinterpret_cast<const char*>(buf_.data() + r_), len);
        r_ = *end + 1;
        return line;
    }

    // The bytes up to and including the next delim. At the end of the
    // stream: what is left, without delim, then nullopt (as Go's
    // ReadString). More than max_line bytes before delim throws as
    // read_line does.
    std::optional<std::string> read_until(char delim) {
        std::optional<size_t> end = scan(delim, max_line_);
        if (!end) return rest();
        std::string s(reinterpret_cast<const char*>(buf_.data() + r_), *end + 1 - r_);
        r_ = *end + 1;
        return s;
    }

    // Bytes buffered now (read() returns them without reading the source).
    size_t buffered() const noexcept { return w_ - r_; }

private:
    // Reads the source once into [w_, end of buffer). False at the end of
    // the stream.
    bool fill() {
        size_t n = src_->read(std::span<std::byte>(buf_.data() + w_, buf_.size() - w_));
        w_ += n;
        return n > 0;
    }

    // The index of the next delim in the buffer, reading the source as
    // needed; nullopt at the end of the stream without one. More than
    // limit bytes before it: throws, the bytes left buffered.
    std::optional<size_t> scan(char delim, size_t limit) {
        size_t from = r_;  // bytes before `from` are known not to be delim
        for (;;) {
            const std::byte* p = buf_.data();
            const void* hit = std::memchr(p + from, delim, w_ - from);
            if (hit != nullptr) {
                size_t at = static_cast<size_t>(static_cast<const std::byte*>(hit) - p);
                if (at - r_ > limit) throw_too_long();
                return at;
            }
            if (w_ - r_ > limit) throw_too_long();
            from = w_;
            if (w_ == buf_.size()) {
                size_t kept = w_ - r_;
                if (r_ > 0) {  // make room at the end: move what is kept to the front
                    std::memmove(buf_.data(), buf_.data() + r_, kept);
                    from -= r_;
                    r_ = 0;
                    w_ = kept;
                } else {  // full of one line: grow, within the limit (+1: the delim itself)
                    size_t want = std::min(buf_.size() * 2, limit + 1);
                    if (want <= buf_.size()) throw_too_long();  // (the check above makes this unreachable)
                    buf_.resize(want);
                }
            }
            if (!fill()) return std::nullopt;
        }
    }

    // At the end of the stream: what is left (consumed), or nullopt.
    std::optional<std::string> rest() {
        if (r_ == w_) return std::nullopt;
        std::string s(reinterpret_cast<const char*>(buf_.data() + r_), w_ - r_);
        r_ = w_ = 0;
        return s;
    }

    [[noreturn]] void throw_too_long() const {
        throw std::length_error("weft::BufReader: line longer than " + std::to_string(max_line_) + " bytes");
    }

    R* src_;
    std::vector<std::byte> buf_;
    size_t r_ = 0;  // next byte to return
    size_t w_ = 0;  // end of the buffered bytes
    size_t max_line_;
};

}  // namespace weft
