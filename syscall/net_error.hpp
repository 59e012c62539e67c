// net_error.hpp — the exceptions of weft::net beyond plain errno errors.
//
// Every failing network operation throws a std::system_error whose what()
// names the operation, the network and the address(es), as Go's OpError:
//
//   "dial tcp 127.0.0.1:1: Connection refused"               errno ECONNREFUSED
//   "read tcp 127.0.0.1:40000->127.0.0.1:8080: Connection reset by peer"
//   "read tcp 127.0.0.1:40000->127.0.0.1:8080: i/o timeout"  TimeoutError
//   "accept tcp 127.0.0.1:8080: use of closed network connection"  ClosedError
//
// Catch std::system_error for all of them; the two classes below single
// out the cases a program usually handles differently.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace weft::net {

// A deadline (or a dial timeout) passed before the operation could finish.
// code() is ETIMEDOUT; what() ends in ": i/o timeout". The connection is
// still usable once the deadline is moved or cleared.
class TimeoutError : public std::system_error {
public:
    explicit TimeoutError(const std::string& context)
        : std::system_error(std::make_error_code(std::errc::timed_out), context), msg_(context + ": i/o timeout") {}
    const char* what() const noexcept override { return msg_.what(); }

private:
    std::runtime_error msg_;  // nothrow copy (shared string)
};

// The Conn or Listener was closed, before the call or while it waited.
// code() is EBADF; what() ends in ": use of closed network connection".
class ClosedError : public std::system_error {
public:
    explicit ClosedError(const std::string& context)
        : std::system_error(std::make_error_code(std::errc::bad_file_descriptor), context),
          msg_(context + ": use of closed network connection") {}
    const char* what() const noexcept override { return msg_.what(); }

private:
    std::runtime_error msg_;
};

}  // namespace weft::net
