// tls.hpp — TLS over weft::net connections (Go's crypto/tls), on OpenSSL.
//
//   // A server: certificate and key from PEM files.
//   weft::tls::Config cfg;
//   cfg.certificate_files("server.crt", "server.key");
//   weft::tls::Listener ln = weft::tls::listen("tcp", ":8443", cfg);
//   for (;;) {
//       weft::tls::Conn c = ln.accept();          // the handshake runs at the first read or write
//       weft::go([c = std::move(c)]() mutable {
//           std::byte buf[4096];
//           while (size_t n = c.read(buf)) c.write_all({buf, n});
//       });
//   }
//
//   // A client: the peer's certificate is verified against the system's
//   // CA store and must name the host dialed.
//   weft::tls::Conn c = weft::tls::dial("tcp", "example.com:443", weft::tls::Config{});
//
// Non-blocking underneath, as net::Conn: a handshake, read or write that
// must wait for the network parks the calling fiber on the netpoller,
// never the thread. OpenSSL never touches the socket itself: it works on
// memory buffers that the connection fills from and drains to its
// net::Conn, so deadlines, close() and contexts (ContextBinding on the
// underlying connection) work as they do for net::Conn.
//
// Verification (clients by default, servers when client certificates are
// required): the chain must lead to a trusted root (the system's store,
// /etc/ssl/certs, unless roots are given) and, on a client, the
// certificate must name the server (a DNS name from the dial address or
// server_name(); an IP address is matched against the certificate's IP
// addresses). insecure_skip_verify() turns it off, for tests only.
//
// Errors: a handshake that fails throws weft::tls::Error (a
// std::system_error) whose message names the reason, e.g.
//   "tls handshake with 127.0.0.1:8443: certificate verify failed: self-signed certificate"
//   "tls handshake with 127.0.0.1:8443: certificate verify failed: hostname mismatch (want example.com)"
//   "tls handshake with 127.0.0.1:8443: the peer sent alert: handshake failure"
// A deadline that passes throws net::TimeoutError (the handshake's own
// timeout too, Config::handshake_timeout: "tls handshake with
// 127.0.0.1:8443: i/o timeout"); a closed connection,
// net::ClosedError; other socket errors, std::system_error.
//
// Concurrency: one fiber may read while another writes (as net::Conn); the
// TLS state is locked only around OpenSSL calls, never across a wait.
// close() sends close_notify (bounded by the write deadline, or 5 s) and
// closes the socket; read() returns 0 once the peer's close_notify came,
// and throws if the stream ended without one (a truncation attack looks
// just like that). As a net::Conn, a Conn must not outlive the weft::run
// that made it: destroying it afterwards (or off a fiber) only closes the
// socket, without close_notify.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/clock.hpp>
#include <weft/net.hpp>

namespace weft::tls {

// A failed handshake, a TLS protocol error or a Config that does not
// load. code() is EPROTO; what() is the message alone.
class Error : public std::system_error {
public:
    explicit Error(const std::string& what);
    const char* what() const noexcept override { return msg_.what(); }

private:
    std::runtime_error msg_;  // nothrow copy (shared string)
};

enum class ClientAuth {
    kNone,            // the server asks for no certificate
    kRequest,         // asks; a client without one is accepted, one sent is verified
    kRequireAndVerify // a client must send a certificate that verifies
};

enum class Version { kTls12, kTls13 };

namespace detail {
struct Context;  // OpenSSL's SSL_CTX and what goes with it
class Session;
}  // namespace detail

class Conn;
class Listener;
Conn dial(std::string_view network, std::string_view address, const class Config& cfg, Duration timeout);

// What a connection needs: certificates, trusted roots, names, protocols.
// A value: a copy starts with the settings made so far and is then
// independent. Setters throw weft::tls::Error when a certificate, key or
// CA list does not load ("tls: certificate file server.crt: No such file
// or directory", "tls: the private key does not match the
// certificate"). The OpenSSL context is built once, at the first
// connection that uses the Config, and shared by every connection made
// with it; a setting changed afterwards applies to connections made after.
class Config {
public:
    Config();
    ~Config();
    Config(const Config&);
    Config& operator=(const Config&);
    Config(Config&&) noexcept;
    Config& operator=(Config&&) noexcept;

    // This side's certificate chain (leaf first) and private key, as PEM
    // files or PEM text. A server needs one; a client sends it when the
    // server asks.
    Config& certificate_files(const std::string& chain_file, const std::string& key_file);
    Config& certificate_pem(std::string_view chain_pem, std::string_view key_pem);
    // Server: one more certificate, taken when the client's SNI names a
    // host it covers (the first one added, or the one set above, is the
    // default, for clients that send no name or one nothing covers).
    Config& add_certificate_files(const std::string& chain_file, const std::string& key_file);
    Config& add_certificate_pem(std::string_view chain_pem, std::string_view key_pem);
    // Roots that verify the peer, instead of the system's store (PEM: one
    // or more certificates).
    Config& root_ca_file(const std::string& file);
    Config& root_ca_pem(std::string_view pem);
    // Client: the name sent as SNI and verified in the server's
    // certificate (default: the host of the dial address; an IP address
    // is verified but not sent as SNI).
    Config& server_name(std::string name);
    // ALPN protocols, most preferred first ("h2", "http/1.1"). A server
    // picks the first of its own that the client offers; with none in
    // common the handshake goes on without ALPN.
    Config& alpn(std::vector<std::string> protocols);
    // Server: whether to ask for client certificates, and the roots that
    // verify them (the system's store if none are given).
    Config& client_auth(ClientAuth mode);
    Config& client_ca_file(const std::string& file);
    Config& client_ca_pem(std::string_view pem);
    Config& min_version(Version v);  // default TLS 1.2
    // A bound on the whole handshake (default 10 s; zero: none besides
    // the connection's deadlines).
    Config& handshake_timeout(Duration d);
    // Client: no verification of the server at all. For tests.
    Config& insecure_skip_verify(bool skip = true);

    struct Settings;  // opaque (tls.cpp)

private:
    friend class Conn;
    friend class Listener;
    friend class detail::Session;
    friend Conn dial(std::string_view, std::string_view, const Config&, Duration);
    std::shared_ptr<Settings> s_;
    void writable();  // copy-on-write; throws once built
    std::shared_ptr<detail::Context> context(bool server) const;
};

// What a handshake settled (Go's ConnectionState).
struct State {
    Version version;
    std::string cipher;          // "TLS_AES_128_GCM_SHA256"
    std::string alpn;            // the protocol agreed, or ""
    std::string server_name;     // SNI: what the client asked for (both sides)
    std::string peer_subject;    // the peer certificate's subject, or "" if none
    bool resumed = false;
};

// A TLS connection over a net::Conn. Move-only; the destructor closes it
// (close_notify and all).
class Conn {
public:
    Conn() noexcept;
    ~Conn();
    Conn(Conn&&) noexcept;
    Conn& operator=(Conn&&) noexcept;
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    // Runs the handshake now (else it runs at the first read or write);
    // a second call returns at once. Throws as described above.
    void handshake();
    // As net::Conn's, over the decrypted stream. read returns 0 once the
    // peer sent close_notify.
    size_t read(std::span<std::byte> buf);
    size_t read(char* buf, size_t n) { return read(std::as_writable_bytes(std::span<char>(buf, n))); }
    size_t read_full(std::span<std::byte> buf);
    size_t write(std::span<const std::byte> buf);
    size_t write(std::string_view s) { return write(std::as_bytes(std::span<const char>(s.data(), s.size()))); }
    void write_all(std::span<const std::byte> buf);
    void write_all(std::string_view s) { write_all(std::as_bytes(std::span<const char>(s.data(), s.size()))); }
    // Sends close_notify, then closes the connection. Idempotent.
    void close();

    void set_deadline(TimePoint t);
    void set_read_deadline(TimePoint t);
    void set_write_deadline(TimePoint t);
    net::Addr local_addr() const;
    net::Addr remote_addr() const;
    // After the handshake (it runs it if it has not run).
    State state();
    // The connection underneath, for its descriptor and ContextBinding.
    net::Conn& raw();
    explicit operator bool() const;

    // Wraps an established connection, as the client (SNI and the name to
    // verify from `server_name`, or Config::server_name) or the server.
    static Conn client(net::Conn c, const Config& cfg, std::string server_name = "");
    static Conn server(net::Conn c, const Config& cfg);
    // The server side over a connection its owner keeps (a registry that
    // closes or shuts it down, as examples/common/server does): `c` must
    // outlive the tls::Conn, whose close() then sends close_notify and
    // leaves `c` open for its owner.
    static Conn server_on(net::Conn& c, const Config& cfg);

private:
    explicit Conn(std::unique_ptr<detail::Session> s) noexcept;
    detail::Session& get(const char* op) const;
    std::unique_ptr<detail::Session> s_;
};

// Dials `address` (net::dial's forms) and runs the handshake as a client.
Conn dial(std::string_view network, std::string_view address, const Config& cfg, Duration timeout);
inline Conn dial(std::string_view network, std::string_view address, const Config& cfg) {
    return dial(network, address, cfg, Duration::zero());
}

// A listener whose accept() returns server connections (handshake at first
// use). The Config must have a certificate.
class Listener {
public:
    Listener() noexcept;
    Listener(net::Listener ln, const Config& cfg);
    Conn accept();
    void close();
    net::Addr addr() const;
    net::Listener& raw();

private:
    net::Listener ln_;
    Config cfg_;
};

Listener listen(std::string_view network, std::string_view address, const Config& cfg);

}  // namespace weft::tls
