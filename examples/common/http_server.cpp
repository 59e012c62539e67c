// http_server.cpp — the W8 connection loop (see http_server.hpp).
//
// Owns, per connection (all in the handler fiber's frame, nothing shared):
// an input buffer, an output buffer and a Beast parser.
//
// Invariants:
//   H1. in[0, have) holds the bytes read and not yet consumed by the parser:
//       a request prefix the parser has asked more for (need_more consumes
//       nothing while the header is incomplete). The parser is fresh (no
//       byte seen) whenever have == 0 between requests.
//   H2. Answers leave in request order: each complete request appends its
//       (pre-built) answer to out; out is written once per read, or sooner
//       only when full.
//   H3. No request is answered after one that closes the connection (an
//       error, or Connection: close): parsing stops there.
//   H4. max_header < sizeof in, so an oversized header is caught by Beast's
//       header_limit before the buffer fills.
//   H5. header_by is set while a request has begun and its header is not
//       complete: the time by which it must be; reads never move it later.
//
// The loop, per read:
//   1. If nothing is buffered and no request has begun, the connection is
//      idle: Session::begin_idle (the server may be stopping: then close).
//   2. Re-arm the read deadline (idle_timeout) if it was last set more than
//      idle_timeout/60 ago: a timer update per second per connection, not
//      per read, so a connection is closed after 59-60 s without input.
//      While a request's header is incomplete, the deadline is also at
//      most header_timeout after the read that began it, however many
//      reads follow (H5).
//   3. read(); 0 (EOF, or the server's shutdown while idle): close.
//   4. Feed the parser everything buffered. For each complete request,
//      append its answer and start a fresh parser (emplace: no
//      allocation; Beast's parser cannot be reset). A parse error appends
//      400/413/431 and ends the loop (H3). Once the server is stopping, a
//      busy connection gets one more answer, with "Connection: close" (as
//      Go's Shutdown), and is closed.
//   5. Move the unparsed tail to the front (H1); write out (H2), under a
//      write deadline of write_timeout, re-armed as the read one (a client
//      that sends requests but never reads their answers is closed once
//      the socket buffers fill and write_timeout passes).
//   6. Closing after an error or Connection: close is a lingering close
//      (as Go's closeWriteAndWait): shut the write side, then read and drop
//      what the client still sends for up to 500 ms, so our close does not
//      turn into a reset that destroys the answer before the client reads
//      it.
//
// Rejected: http::request_parser<empty_body> (it stores every header field
// in a basic_fields, one allocation per field per request; this server
// needs only what basic_parser's callbacks hand over as views: method, target,
// version, the Host lines and the framing fields); a Date header (a
// clock read and formatting per batch, and docs/BENCHMARKS.md does not ask
// for it); a hand-written parser (docs/BENCHMARKS.md asks for a maintained one).
#include "common/http_server.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <weft/tls.hpp>
#include <cstring>
#include <fmt/core.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ex {
namespace {

namespace http = boost::beast::http;
using bsv = boost::beast::string_view;

constexpr size_t kInBuf = 16384;
constexpr size_t kOutBuf = 16384;
constexpr std::chrono::milliseconds kLinger{500};
constexpr size_t kLingerMaxBytes = 256 * 1024;

enum class Reply : uint8_t { kHello, kNotFound, kBadMethod, kBadRequest, kBodyTooLarge, kHeaderTooLarge, kUnavailable };
enum class Persist : uint8_t {
    kKeep11,  // HTTP/1.1 keep-alive: no Connection header
    kKeep10,  // HTTP/1.0 keep-alive: "Connection: keep-alive"
    kClose,   // "Connection: close", then the connection is closed
};
constexpr size_t kReplies = 7, kPersists = 3;

// The whole answer for every (reply, persistence, HEAD or not) triple,
// built once. A HEAD answer is the GET answer's header alone: the same
// Content-Length, no body (RFC 9110 9.3.2).
class Answers {
public:
    Answers() {
        struct Text {
            int code;
            const char* reason;
            const char* extra;  // header lines, each ending in CRLF
            std::string_view body;
        };
        const Text texts[kReplies] = {
            {200, "OK", "", "Hello, World!"},
            {404, "Not Found", "", "Not Found\n"},
            {405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "Method Not Allowed\n"},
            {400, "Bad Request", "", "Bad Request\n"},
            {413, "Payload Too Large", "", "Payload Too Large\n"},
            {431, "Request Header Fields Too Large", "", "Request Header Fields Too Large\n"},
            {503, "Service Unavailable", "Retry-After: 1\r\n", "Service Unavailable\n"},
        };
        const char* conn[kPersists] = {"", "Connection: keep-alive\r\n", "Connection: close\r\n"};
        for (size_t r = 0; r < kReplies; ++r)
            for (size_t p = 0; p < kPersists; ++p)
                for (size_t head = 0; head < 2; ++head)
                    text_[r][p][head] = fmt::format(
                        "HTTP/1.1 {} {}\r\n{}Content-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}", texts[r].code,
                        texts[r].reason, texts[r].extra, texts[r].body.size(), conn[p],
                        head ? std::string_view() : texts[r].body);
    }
    std::string_view get(Reply r, Persist p, bool head = false) const {
        return text_[static_cast<size_t>(r)][static_cast<size_t>(p)][head ? 1 : 0];
    }

private:
    std::string text_[kReplies][kPersists][2];
};

const Answers kAnswers;

// Beast's callback parser keeping only what the answer depends on.
class RequestParser final : public http::basic_parser<true> {
public:
    RequestParser(uint32_t max_header, uint64_t max_body) {
        header_limit(max_header);
        body_limit(max_body);
        eager(true);  // one put() parses the header and whatever body follows
    }

    bool is_get = false;   // GET or HEAD
    bool is_head = false;
    bool is_root = false;  // target "/" or "/?..."
    int hosts = 0;         // Host field lines
    int version = 11;

private:
    void on_request_impl(http::verb method, bsv, bsv target, int v, boost::beast::error_code&) override {
        is_head = method == http::verb::head;
        is_get = method == http::verb::get || is_head;
        std::string_view t(target.data(), target.size());
        is_root = t == "/" || t.starts_with("/?");
        version = v;
    }
    void on_response_impl(int, bsv, int, boost::beast::error_code&) override {}  // requests only
    void on_field_impl(http::field name, bsv, bsv value, boost::beast::error_code&) override {
        if (name == http::field::host) hosts++;
        if (name == http::field::content_length) has_length_ = true;
        if (name == http::field::transfer_encoding) {
            // The last coding of the last field line decides the framing.
            std::string_view v(value.data(), value.size());
            size_t comma = v.rfind(',');
            if (comma != std::string_view::npos) v.remove_prefix(comma + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            has_coding_ = true;
            last_is_chunked_ = boost::beast::iequals(bsv(v.data(), v.size()), "chunked");
        }
    }
    void on_header_impl(boost::beast::error_code& ec) override {
        // RFC 9112 6.3: a request whose final transfer coding is not
        // chunked has no knowable length: answer 400 and close (reading
        // its body as the next request is request smuggling). So is one
        // with both Transfer-Encoding and Content-Length, which a proxy in
        // front may have framed by the other. And 3.2: more than one Host
        // line is a 400.
        if ((has_coding_ && (!last_is_chunked_ || has_length_)) || hosts > 1) ec = http::error::bad_transfer_encoding;
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
    size_t on_body_impl(bsv body, boost::beast::error_code&) override { return body.size(); }  // dropped
    void on_chunk_header_impl(std::uint64_t, bsv, boost::beast::error_code&) override {}
    size_t on_chunk_body_impl(std::uint64_t, bsv body, boost::beast::error_code&) override { return body.size(); }
    void on_finish_impl(boost::beast::error_code&) override {}

    bool has_coding_ = false, last_is_chunked_ = false, has_length_ = false;
};

Reply reply_for_error(const boost::beast::error_code& ec) {
    if (ec == http::error::header_limit) return Reply::kHeaderTooLarge;
    if (ec == http::error::body_limit) return Reply::kBodyTooLarge;
    return Reply::kBadRequest;
}

// How stale an armed deadline may get before it is set again: a timer
// update per second per connection at the defaults, not one per read.
weft::Duration rearm_period(weft::Duration timeout) {
    return std::max<weft::Duration>(timeout / 60, std::chrono::milliseconds(1));
}

// Step 6.
void linger_close(weft::net::Conn& c);

// Over TLS: close_notify first (the session leaves the socket open), then
// the same linger on the socket.
void finish(weft::tls::Conn& t, weft::net::Conn& raw) {
    try {
        t.close();
    } catch (const std::system_error&) {
    }
    linger_close(raw);
}
void finish(weft::net::Conn&, weft::net::Conn& raw) { linger_close(raw); }

void linger_close(weft::net::Conn& c) {
    try {
        c.shutdown_write();
        c.set_read_deadline(weft::Clock::now() + kLinger);
        std::array<std::byte, 4096> sink;
        for (size_t total = 0; total < kLingerMaxBytes;) {
            size_t n = c.read(sink);
            if (n == 0) break;
            total += n;
        }
    } catch (const std::system_error&) {  // the linger deadline, or a reset: done either way
    }
}

template <class Stream>
class Output {
public:
    Output(Stream& c, weft::Duration write_timeout)
        : c_(c), timeout_(write_timeout), rearm_(rearm_period(write_timeout)) {}
    void append(std::string_view s) {
        if (len_ + s.size() > buf_.size()) flush();
        std::memcpy(buf_.data() + len_, s.data(), s.size());  // every answer is far below kOutBuf
        len_ += s.size();
    }
    // Step 5: the write deadline is at least 59/60 of write_timeout ahead.
    void flush() {
        if (len_ == 0) return;
        weft::TimePoint now = weft::Clock::now();
        if (now - armed_ >= rearm_) {
            c_.set_write_deadline(now + timeout_);
            armed_ = now;
        }
        c_.write_all(std::as_bytes(std::span(buf_.data(), len_)));
        len_ = 0;
    }

private:
    Stream& c_;
    const weft::Duration timeout_, rearm_;
    weft::TimePoint armed_{};
    size_t len_ = 0;
    std::array<char, kOutBuf> buf_;  // uninitialised on purpose
};

// The connection's requests, over the socket itself or over TLS on it.
template <class Stream>
void serve_on(Session& s, Stream& c, const HttpOptions& opts, HttpCounters& counters) {
    std::array<std::byte, kInBuf> in;  // uninitialised on purpose
    size_t have = 0;
    Output<Stream> out(c, opts.write_timeout);
    const uint32_t max_header = std::min<uint32_t>(opts.max_header, kInBuf - 1);  // H4
    std::optional<RequestParser> p;
    p.emplace(max_header, opts.max_body);
    const weft::Duration rearm = rearm_period(opts.idle_timeout);
    weft::TimePoint armed{};
    uint64_t served = 0;  // requests answered on this connection
    weft::TimePoint header_by{};  // H5; the epoch: no header pending

    for (;;) {
        bool idle = have == 0 && !p->got_some();  // step 1
        if (idle && !s.begin_idle()) return;
        weft::TimePoint now = weft::Clock::now();  // step 2
        if (!idle && !p->is_header_done()) {
            if (header_by == weft::TimePoint{}) header_by = now + opts.header_timeout;
            c.set_read_deadline(std::min(header_by, now + opts.idle_timeout));
            armed = weft::TimePoint{};  // the idle deadline is set anew once the header is in
        } else if (now - armed >= rearm) {
            c.set_read_deadline(now + opts.idle_timeout);
            armed = now;
        }
        size_t n;
        try {
            n = c.read(std::span(in).subspan(have));  // step 3
        } catch (const weft::net::TimeoutError&) {
            return;  // idle for idle_timeout, or a header not in by header_by: close without an answer
        } catch (const weft::tls::Error&) {
            // A failed handshake, or a client that closed without
            // close_notify (most do; HTTP's framing says whether an answer
            // was whole), or the server's shutdown cutting the socket.
            return;
        }
        if (idle) s.end_idle();
        if (n == 0) return;
        have += n;

        size_t pos = 0;  // step 4
        int64_t answered = 0;
        bool close = false;
        const bool stopping = s.stopping();  // the server is shutting down: answer one, with "Connection: close"
        while (pos < have) {
            boost::beast::error_code ec;
            size_t used = p->put(boost::asio::const_buffer(in.data() + pos, have - pos), ec);
            pos += used;
            if (ec == http::error::need_more) break;
            if (ec) {
                out.append(kAnswers.get(reply_for_error(ec), Persist::kClose));
                counters.bad_requests.fetch_add(1, std::memory_order_relaxed);
                ++answered;
                close = true;  // H3
                break;
            }
            if (!p->is_done()) {
                if (used == 0) break;  // a body still arriving
                continue;
            }
            const bool last = opts.max_requests > 0 && ++served >= opts.max_requests;
            Persist persist = !p->keep_alive() || stopping || last
                                  ? Persist::kClose
                                  : (p->version < 11 ? Persist::kKeep10 : Persist::kKeep11);
            Reply reply = !p->is_get ? Reply::kBadMethod : (p->is_root ? Reply::kHello : Reply::kNotFound);
            if (p->version >= 11 && p->hosts == 0) {  // RFC 9112 3.2: a 1.1 request must name its Host
                reply = Reply::kBadRequest;
                persist = Persist::kClose;
                counters.bad_requests.fetch_add(1, std::memory_order_relaxed);
            }
            out.append(kAnswers.get(reply, persist, p->is_head && reply != Reply::kBadRequest));
            ++answered;
            if (persist == Persist::kClose) {
                close = true;  // H3
                break;
            }
            p.emplace(max_header, opts.max_body);
            header_by = weft::TimePoint{};
        }
        if (!close) {  // step 5
            if (pos > 0 && pos < have) std::memmove(in.data(), in.data() + pos, have - pos);
            have -= pos;
            if (have == in.size()) {  // cannot happen while H4 holds; a safety net
                out.append(kAnswers.get(Reply::kHeaderTooLarge, Persist::kClose));
                counters.bad_requests.fetch_add(1, std::memory_order_relaxed);
                ++answered;
                close = true;
            }
        }
        counters.requests.fetch_add(answered, std::memory_order_relaxed);  // before the peer can see them
        out.flush();
        if (close) {
            finish(c, s.conn());  // step 6
            return;
        }
    }
}

}  // namespace

void serve_http(Session& s, const HttpOptions& opts, HttpCounters& counters) {
    if (opts.tls == nullptr) {
        serve_on(s, s.conn(), opts, counters);
        return;
    }
    weft::tls::Conn t = weft::tls::Conn::server_on(s.conn(), *opts.tls);
    serve_on(s, t, opts, counters);
}

void refuse_http(Session& s, const weft::tls::Config* tls) {
    // Over TLS the answer would cost a handshake, more CPU than a refusal
    // may spend while connections flood in: the connection is closed at
    // once (the Server closes the socket when this returns).
    if (tls != nullptr) return;
    std::string_view answer = kAnswers.get(Reply::kUnavailable, Persist::kClose);
    s.conn().write_all(std::as_bytes(std::span(answer)));
    linger_close(s.conn());
}

}  // namespace ex
