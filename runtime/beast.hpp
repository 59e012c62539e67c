// beast.hpp — Boost.Beast's synchronous API on fibers: weft::beast::Stream
// makes a weft::net::Conn or weft::tls::Conn a Beast SyncReadStream and
// SyncWriteStream, so http::read/http::write and websocket::stream work
// on it, parking the fiber (never the thread) whenever they wait.
//
//   weft::beast::Stream<weft::net::Conn> s(std::move(conn));
//   boost::beast::flat_buffer buf;
//   boost::beast::http::request<boost::beast::http::string_body> req;
//   boost::beast::http::read(s, buf, req);            // a whole message
//   ...
//   boost::beast::websocket::stream<weft::beast::Stream<weft::tls::Conn>> ws(std::move(tls_conn));
//   ws.accept();  ws.read(buf);  ws.write(buf.data());  ws.close({});
//
// Only Beast's synchronous calls: there is no io_context running, and the
// executor get_executor() returns belongs to one that never runs (Beast's
// websocket::stream needs an executor type to exist). Deadlines are the
// connection's own (conn().set_deadline(...)); a deadline that passes
// fails the call with boost::asio::error::timed_out.
//
// Errors: the error_code overloads Beast calls give weft's exceptions as
// their errno in Boost's system category: end of stream is
// boost::asio::error::eof (Beast's http::read then reports
// http::error::end_of_stream or partial_message), a deadline timed_out
// (ETIMEDOUT), a closed connection bad_descriptor (EBADF), a TLS failure
// EPROTO; the throwing overloads rethrow weft's exception itself, message
// and all.
//
// Header-only. Include it only where you use Beast: it brings in Boost's
// Asio and Beast headers (Debian's libboost-dev).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <weft/net.hpp>
#include <weft/net_error.hpp>
#include <weft/tls.hpp>

namespace weft::beast {

namespace detail {

// The io_context whose executor Beast's types are given: never run.
inline boost::asio::io_context& idle_context() {
    static boost::asio::io_context* c = new boost::asio::io_context;
    return *c;
}

// A weft exception as the code Beast expects: its errno in Boost's system
// category, where Asio's own codes live (ETIMEDOUT is
// boost::asio::error::timed_out, EBADF bad_descriptor, ECONNRESET
// connection_reset).
inline boost::system::error_code to_code(const std::system_error& e) {
    return boost::system::error_code(e.code().value(), boost::system::system_category());
}

}  // namespace detail

// Conn: weft::net::Conn or weft::tls::Conn (anything with their read,
// write_all and close). Owns the connection; move-only.
template <class Conn>
class Stream {
public:
    using executor_type = boost::asio::io_context::executor_type;

    explicit Stream(Conn c) : conn_(std::move(c)) {}
    Stream(Stream&&) noexcept = default;
    Stream& operator=(Stream&&) noexcept = default;

    executor_type get_executor() noexcept { return detail::idle_context().get_executor(); }

    // The connection, for deadlines, addresses and close.
    Conn& conn() { return conn_; }

    // SyncReadStream: reads at least one byte into the first non-empty
    // buffer; end of stream is boost::asio::error::eof.
    template <class MutableBufferSequence>
    size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        ec = {};
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::mutable_buffer b = *it;
            if (b.size() == 0) continue;
            try {
                size_t n = conn_.read(std::span<std::byte>(static_cast<std::byte*>(b.data()), b.size()));
                if (n == 0) ec = boost::asio::error::eof;
                return n;
            } catch (const std::system_error& e) {
                ec = detail::to_code(e);
                return 0;
            }
        }
        return 0;
    }
    template <class MutableBufferSequence>
    size_t read_some(const MutableBufferSequence& buffers) {
        size_t n = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::mutable_buffer b = *it;
            if (b.size() == 0) continue;
            n = conn_.read(std::span<std::byte>(static_cast<std::byte*>(b.data()), b.size()));  // weft's exception as is
            if (n == 0) throw boost::system::system_error(boost::asio::error::eof);
            return n;
        }
        return n;
    }

    // SyncWriteStream: writes a prefix of the buffers, gathering small
    // ones (Beast serialises a message as many pieces) into one write of
    // up to 16 KiB, so a header and a small body go out in one system call
    // (and, over TLS, one record).
    template <class ConstBufferSequence>
    size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
        ec = {};
        try {
            return write_gathered(buffers);
        } catch (const std::system_error& e) {
            ec = detail::to_code(e);
            return 0;
        }
    }
    template <class ConstBufferSequence>
    size_t write_some(const ConstBufferSequence& buffers) {
        return write_gathered(buffers);
    }

private:
    template <class ConstBufferSequence>
    size_t write_gathered(const ConstBufferSequence& buffers) {
        std::array<std::byte, 16 << 10> gather;
        size_t used = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::const_buffer b = *it;
            if (b.size() == 0) continue;
            if (used == 0 && b.size() >= gather.size()) {  // a large piece: straight from it
                conn_.write_all(std::span<const std::byte>(static_cast<const std::byte*>(b.data()), b.size()));
                return b.size();
            }
            size_t take = std::min(b.size(), gather.size() - used);
            std::copy_n(static_cast<const std::byte*>(b.data()), take, gather.data() + used);
            used += take;
            if (used == gather.size()) break;
        }
        if (used > 0) conn_.write_all(std::span<const std::byte>(gather.data(), used));
        return used;
    }

    Conn conn_;
};

// Beast's websocket close calls this (found by argument-dependent lookup)
// to end the connection underneath: close() on it (over TLS, close_notify
// first).
template <class Conn>
void teardown(boost::beast::role_type, Stream<Conn>& s, boost::system::error_code& ec) {
    ec = {};
    try {
        s.conn().close();
    } catch (const std::system_error& e) {
        ec = detail::to_code(e);
    }
}

}  // namespace weft::beast
