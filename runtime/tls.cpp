// tls.cpp — TLS sessions on OpenSSL over net::Conn (see tls.hpp).
//
// OpenSSL works on two memory BIOs: what arrives from the socket is
// written into the read BIO, what OpenSSL produces is taken out of the
// write BIO and sent. So no OpenSSL call ever waits: the waits are the
// net::Conn's own, on the netpoller, with its deadlines and close().
//
// Protocol (a Session):
//   TL1. Every OpenSSL call on the SSL object is made holding ssl_mu_, and
//       the error queue is cleared before it and read right after it, on
//       the same thread (the queue is per thread; nothing in between can
//       switch the fiber). ssl_mu_ is never held across a wait.
//   TL2. Bytes OpenSSL produced are moved, under ssl_mu_, to the end of
//       out_; whoever holds write_mu_ sends out_ from its front. So the
//       records reach the socket in the order OpenSSL made them, whichever
//       fiber made them (a reader's alert, a writer's data).
//   TL3. Socket reads are made holding read_mu_ (one reader at a time); the
//       handshake runs once, under hs_mu_, before any read or write.
//   TL4. Lock order: hs_mu_, then read_mu_, then write_mu_, then ssl_mu_.
#include <weft/tls.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <fmt/format.h>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <weft/bufio.hpp>
#include <weft/sync/mutex.hpp>
#include "sched/call_context.hpp"

namespace weft::tls {

Error::Error(const std::string& what) : std::system_error(EPROTO, std::generic_category(), what), msg_(what) {}

namespace detail {
namespace {

// OpenSSL's last error on this thread as text ("certificate verify
// failed"), or `fallback`; clears the queue.
std::string last_error(const char* fallback) {
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (e == 0) return fallback;
    const char* r = ERR_reason_error_string(e);
    return r ? std::string(r) : fmt::format("OpenSSL error {:#x}", e);
}

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr pem_bio(std::string_view pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (b == nullptr) throw Error("tls: out of memory");
    return BioPtr(b);
}

std::string read_file(const std::string& path, const char* what) {
    BIO* b = BIO_new_file(path.c_str(), "r");
    if (b == nullptr) {
        ERR_clear_error();
        throw Error(fmt::format("tls: {} file {}: {}", what, path, std::strerror(errno)));
    }
    BioPtr owned(b);
    std::string out;
    char buf[4096];
    for (int n; (n = BIO_read(b, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
}

// Every certificate in a PEM text (at least one, else throws).
std::vector<X509*> read_certs(std::string_view pem, const std::string& what) {
    BioPtr b = pem_bio(pem);
    std::vector<X509*> certs;
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) certs.push_back(x);
    ERR_clear_error();  // the end of the text reads as an error
    if (certs.empty()) throw Error(fmt::format("tls: {}: no PEM certificate in it", what));
    return certs;
}

}  // namespace

// One side's built OpenSSL context.
struct Context {
    SSL_CTX* ctx = nullptr;
    std::vector<unsigned char> alpn_wire;  // the server's list, for its callback
    X509* leaf = nullptr;                  // this context's certificate (not owned: the SSL_CTX holds it)
    // A server's further certificates (Config::add_certificate_*), each in
    // a context of its own with the same settings, taken by SNI.
    std::vector<std::shared_ptr<Context>> alternates;
    ~Context() {
        if (ctx) SSL_CTX_free(ctx);
    }
};

}  // namespace detail

struct Config::Settings {
    std::string chain_pem, key_pem;  // this side's certificate and key
    std::vector<std::pair<std::string, std::string>> more_certs;  // a server's others, by SNI
    std::string root_pem;            // "" : the system's store
    bool roots_set = false;
    std::string client_ca_pem;
    bool client_cas_set = false;
    std::string server_name;
    std::vector<std::string> alpn;
    ClientAuth client_auth = ClientAuth::kNone;
    Version min_version = Version::kTls12;
    Duration handshake_timeout = std::chrono::seconds(10);
    bool insecure = false;
    // Built at first use, one per role (under built_mu).
    std::mutex built_mu;
    std::shared_ptr<detail::Context> built[2];
};

Config::Config() : s_(std::make_shared<Settings>()) {}
Config::~Config() = default;
Config::Config(const Config&) = default;
Config& Config::operator=(const Config&) = default;
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;

void Config::writable() {
    if (!s_) s_ = std::make_shared<Settings>();
    bool built;
    {
        std::lock_guard<std::mutex> l(s_->built_mu);
        built = s_->built[0] || s_->built[1];
    }
    if (s_.use_count() == 1 && !built) return;
    // Shared with a copy (or already used by a connection): this Config
    // goes on alone, with the settings so far; what used them keeps them.
    auto fresh = std::make_shared<Settings>();
    fresh->chain_pem = s_->chain_pem;
    fresh->key_pem = s_->key_pem;
    fresh->more_certs = s_->more_certs;
    fresh->root_pem = s_->root_pem;
    fresh->roots_set = s_->roots_set;
    fresh->client_ca_pem = s_->client_ca_pem;
    fresh->client_cas_set = s_->client_cas_set;
    fresh->server_name = s_->server_name;
    fresh->alpn = s_->alpn;
    fresh->client_auth = s_->client_auth;
    fresh->min_version = s_->min_version;
    fresh->handshake_timeout = s_->handshake_timeout;
    fresh->insecure = s_->insecure;
    s_ = std::move(fresh);
}

namespace {
// Throws unless key_pem is a private key for chain_pem's first certificate:
// checked where it is set, so that a bad one is reported there.
void check_pair(std::string_view chain_pem, std::string_view key_pem) {
    std::vector<X509*> certs = detail::read_certs(chain_pem, "certificate");
    detail::BioPtr kb = detail::pem_bio(key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
    bool ok = key != nullptr && X509_check_private_key(certs[0], key) == 1;
    std::string why = key == nullptr ? "tls: private key: no PEM private key in it"
                                     : "tls: the private key does not match the certificate";
    ERR_clear_error();
    EVP_PKEY_free(key);
    for (X509* x : certs) X509_free(x);
    if (!ok) throw Error(why);
}
}  // namespace

Config& Config::certificate_pem(std::string_view chain_pem, std::string_view key_pem) {
    check_pair(chain_pem, key_pem);
    writable();
    s_->chain_pem = std::string(chain_pem);
    s_->key_pem = std::string(key_pem);
    return *this;
}

Config& Config::add_certificate_pem(std::string_view chain_pem, std::string_view key_pem) {
    check_pair(chain_pem, key_pem);
    writable();
    if (s_->chain_pem.empty()) {  // the first is the default
        s_->chain_pem = std::string(chain_pem);
        s_->key_pem = std::string(key_pem);
    } else {
        s_->more_certs.emplace_back(std::string(chain_pem), std::string(key_pem));
    }
    return *this;
}

Config& Config::add_certificate_files(const std::string& chain_file, const std::string& key_file) {
    std::string chain = detail::read_file(chain_file, "certificate");
    return add_certificate_pem(chain, detail::read_file(key_file, "private key"));
}

Config& Config::certificate_files(const std::string& chain_file, const std::string& key_file) {
    std::string chain = detail::read_file(chain_file, "certificate");  // reported first when both are missing
    return certificate_pem(chain, detail::read_file(key_file, "private key"));
}

Config& Config::root_ca_pem(std::string_view pem) {
    for (X509* x : detail::read_certs(pem, "root CAs")) X509_free(x);
    writable();
    s_->root_pem = std::string(pem);
    s_->roots_set = true;
    return *this;
}

Config& Config::root_ca_file(const std::string& file) { return root_ca_pem(detail::read_file(file, "root CA")); }

Config& Config::client_ca_pem(std::string_view pem) {
    for (X509* x : detail::read_certs(pem, "client CAs")) X509_free(x);
    writable();
    s_->client_ca_pem = std::string(pem);
    s_->client_cas_set = true;
    return *this;
}

Config& Config::client_ca_file(const std::string& file) { return client_ca_pem(detail::read_file(file, "client CA")); }

Config& Config::server_name(std::string name) {
    writable();
    s_->server_name = std::move(name);
    return *this;
}

Config& Config::alpn(std::vector<std::string> protocols) {
    for (const std::string& p : protocols)
        if (p.empty() || p.size() > 255) throw std::invalid_argument("tls: an ALPN protocol name is 1 to 255 bytes");
    writable();
    s_->alpn = std::move(protocols);
    return *this;
}

Config& Config::client_auth(ClientAuth mode) {
    writable();
    s_->client_auth = mode;
    return *this;
}

Config& Config::min_version(Version v) {
    writable();
    s_->min_version = v;
    return *this;
}

Config& Config::handshake_timeout(Duration d) {
    writable();
    s_->handshake_timeout = d;
    return *this;
}

Config& Config::insecure_skip_verify(bool skip) {
    writable();
    s_->insecure = skip;
    return *this;
}

namespace detail {
namespace {

// Adds every certificate of `pem` to the context's trust store.
void add_roots(SSL_CTX* ctx, const std::string& pem) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (X509* x : read_certs(pem, "root CAs")) {
        X509_STORE_add_cert(store, x);  // a duplicate is harmless
        X509_free(x);
    }
    ERR_clear_error();
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
    auto* c = static_cast<Context*>(arg);
    unsigned char* chosen = nullptr;
    unsigned char len = 0;
    // The server's preference decides (SSL_select_next_proto's first list).
    if (SSL_select_next_proto(&chosen, &len, c->alpn_wire.data(), static_cast<unsigned>(c->alpn_wire.size()), in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    *outlen = len;
    return SSL_TLSEXT_ERR_OK;
}

// The servername callback of a server with alternates: the first whose
// certificate covers the name the client asked for takes the connection;
// else the default stays.
int select_certificate(SSL* ssl, int*, void* arg) {
    auto* c = static_cast<Context*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_OK;
    for (const auto& alt : c->alternates) {
        if (X509_check_host(alt->leaf, name, 0, 0, nullptr) == 1) {
            SSL_set_SSL_CTX(ssl, alt->ctx);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<Context> build_one(const Config::Settings& s, bool server, const std::string& chain_pem,
                                   const std::string& key_pem);

std::shared_ptr<Context> build(const Config::Settings& s, bool server) {
    std::shared_ptr<Context> c = build_one(s, server, s.chain_pem, s.key_pem);
    if (server && !s.more_certs.empty()) {
        for (const auto& [chain, key] : s.more_certs) c->alternates.push_back(build_one(s, server, chain, key));
        SSL_CTX_set_tlsext_servername_callback(c->ctx, select_certificate);
        SSL_CTX_set_tlsext_servername_arg(c->ctx, c.get());
    }
    return c;
}

std::shared_ptr<Context> build_one(const Config::Settings& s, bool server, const std::string& chain_pem,
                                   const std::string& key_pem) {
    auto c = std::make_shared<Context>();
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (c->ctx == nullptr) throw Error("tls: " + last_error("cannot make an SSL_CTX"));
    SSL_CTX* ctx = c->ctx;
    SSL_CTX_set_min_proto_version(ctx, s.min_version == Version::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    // Writes are whole: SSL_write takes all it is given into the memory BIO.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!chain_pem.empty()) {
        std::vector<X509*> certs = read_certs(chain_pem, "certificate");
        bool ok = SSL_CTX_use_certificate(ctx, certs[0]) == 1;
        for (size_t i = 1; i < certs.size() && ok; i++) ok = SSL_CTX_add1_chain_cert(ctx, certs[i]) == 1;
        for (X509* x : certs) X509_free(x);
        c->leaf = SSL_CTX_get0_certificate(ctx);
        BioPtr kb = pem_bio(key_pem);
        EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
        ok = ok && key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1;
        EVP_PKEY_free(key);
        if (!ok) throw Error("tls: " + last_error("cannot use the certificate"));
    }
    bool verify = server ? s.client_auth != ClientAuth::kNone : !s.insecure;
    if (verify) {
        const std::string& pem = server ? s.client_ca_pem : s.root_pem;
        bool given = server ? s.client_cas_set : s.roots_set;
        if (given) add_roots(ctx, pem);
        else if (SSL_CTX_set_default_verify_paths(ctx) != 1) throw Error("tls: " + last_error("no system CA store"));
        int mode = SSL_VERIFY_PEER;
        if (server && s.client_auth == ClientAuth::kRequireAndVerify) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, nullptr);
        if (server && given) {
            // Tell clients which CAs the server accepts.
            BioPtr b = pem_bio(pem);
            STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
            for (X509* x : read_certs(pem, "client CAs")) {
                sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
                X509_free(x);
            }
            SSL_CTX_set_client_CA_list(ctx, names);
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    for (const std::string& p : s.alpn) {
        c->alpn_wire.push_back(static_cast<unsigned char>(p.size()));
        c->alpn_wire.insert(c->alpn_wire.end(), p.begin(), p.end());
    }
    if (!c->alpn_wire.empty()) {
        if (server) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, c.get());
        else if (SSL_CTX_set_alpn_protos(ctx, c->alpn_wire.data(), static_cast<unsigned>(c->alpn_wire.size())) != 0)
            throw Error("tls: " + last_error("cannot set the ALPN protocols"));
    }
    ERR_clear_error();
    return c;
}

}  // namespace
}  // namespace detail

std::shared_ptr<detail::Context> Config::context(bool server) const {
    std::lock_guard<std::mutex> l(s_->built_mu);
    std::shared_ptr<detail::Context>& c = s_->built[server ? 1 : 0];
    if (!c) c = detail::build(*s_, server);
    return c;
}

namespace detail {

class Session {
public:
    // Over `borrowed` if given (its owner closes it), else over c.
    Session(net::Conn c, net::Conn* borrowed, const Config& cfg, bool server, std::string name)
        : owned_(std::move(c)),
          conn_(borrowed ? *borrowed : owned_),
          borrowed_(borrowed != nullptr),
          server_(server),
          timeout_(cfg.s_->handshake_timeout),
          name_(std::move(name)) {
        ctx_ = cfg.context(server);
        ssl_ = SSL_new(ctx_->ctx);
        if (ssl_ == nullptr) throw Error("tls: " + last_error("cannot make an SSL"));
        BIO* rbio = BIO_new(BIO_s_mem());
        BIO* wbio = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(rbio, -1);  // empty: "retry", until the socket's end is seen
        SSL_set_bio(ssl_, rbio, wbio);
        rbio_ = rbio;
        wbio_ = wbio;
        if (server) {
            SSL_set_accept_state(ssl_);
        } else {
            SSL_set_connect_state(ssl_);
            if (!name_.empty()) {
                unsigned char ip[16];
                bool is_ip = inet_pton(AF_INET, name_.c_str(), ip) == 1 || inet_pton(AF_INET6, name_.c_str(), ip) == 1;
                if (!is_ip) SSL_set_tlsext_host_name(ssl_, name_.c_str());  // SNI is for names only
                if (!cfg.s_->insecure) {
                    X509_VERIFY_PARAM* p = SSL_get0_param(ssl_);
                    if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(p, name_.c_str());
                    else SSL_set1_host(ssl_, name_.c_str());
                }
            }
        }
        ERR_clear_error();
    }
    ~Session() {
        close();
        SSL_free(ssl_);
    }

    net::Conn& conn() { return conn_; }

    void handshake() {
        // Acquire: pairs with the release below, so a fiber that sees the
        // handshake done sees the SSL state it left (the readers and
        // writers also take ssl_mu_, which orders it anyway).
        if (done_.load(std::memory_order_acquire)) return;
        std::lock_guard<Mutex> hs(hs_mu_);
        if (done_.load(std::memory_order_relaxed)) return;  // relaxed: written only under hs_mu_, which we hold
        // The handshake's own bound, under the deadlines the user set.
        TimePoint bound{};
        if (timeout_ > Duration::zero()) bound = Clock::now() + timeout_;
        conn_.set_read_deadline(earliest(read_deadline_.load(), bound));
        conn_.set_write_deadline(earliest(write_deadline_.load(), bound));
        struct Restore {
            Session* s;
            ~Restore() {
                if (!s->conn_) return;
                s->conn_.set_read_deadline(s->read_deadline_.load());
                s->conn_.set_write_deadline(s->write_deadline_.load());
            }
        } restore{this};
        for (;;) {
            int r, err;
            std::string why;
            {
                std::lock_guard<Mutex> l(ssl_mu_);  // TL1
                ERR_clear_error();
                r = SSL_do_handshake(ssl_);
                err = SSL_get_error(ssl_, r);
                if (r != 1 && err != SSL_ERROR_WANT_READ) why = handshake_error(err);
                take_output();
            }
            flush();  // TL2: our flight, or the alert that ends the handshake
            if (r == 1) break;
            if (!why.empty()) throw Error(fmt::format("tls handshake with {}: {}", peer(), why));
            bool more;
            try {
                more = fill("tls handshake");
            } catch (const net::TimeoutError&) {
                // Name the step that ran out of time, not the read inside it.
                throw net::TimeoutError(fmt::format("tls handshake with {}", peer()));
            }
            if (!more) {
                throw Error(fmt::format("tls handshake with {}: the connection was closed before the handshake ended",
                                        peer()));
            }
        }
        done_.store(true, std::memory_order_release);  // pairs with the acquire loads of handshake() and close()
    }

    size_t read(std::span<std::byte> buf) {
        handshake();
        std::lock_guard<Mutex> rl(read_mu_);  // TL3
        if (buf.empty()) return 0;
        for (;;) {
            int r, err;
            std::string why;
            bool produced;
            {
                std::lock_guard<Mutex> l(ssl_mu_);
                ERR_clear_error();
                r = SSL_read(ssl_, buf.data(), static_cast<int>(std::min<size_t>(buf.size(), INT32_MAX)));
                err = SSL_get_error(ssl_, r);
                if (r <= 0 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_ZERO_RETURN)
                    why = err == SSL_ERROR_SYSCALL || eof_ ? "the connection ended without close_notify (truncated)"
                                                           : last_error("protocol error");
                produced = take_output();
            }
            if (produced) flush();  // a post-handshake message or an alert of ours
            if (r > 0) return static_cast<size_t>(r);
            if (err == SSL_ERROR_ZERO_RETURN) return 0;  // the peer's close_notify
            if (!why.empty()) throw Error(fmt::format("tls read from {}: {}", peer(), why));
            fill("tls read");
        }
    }

    size_t write(std::span<const std::byte> buf) {
        handshake();
        if (buf.empty()) return 0;
        std::lock_guard<Mutex> wl(write_mu_);
        return write_locked(buf);
    }

    // All of buf, holding the write side throughout: a write_all is never
    // interleaved with another write (as net::Conn's).
    void write_all(std::span<const std::byte> buf) {
        handshake();
        std::lock_guard<Mutex> wl(write_mu_);
        while (!buf.empty()) buf = buf.subspan(write_locked(buf));
    }

private:
    // One SSL_write of at most 64 KiB (bounds what is kept encrypted in
    // memory), sent; the caller holds write_mu_.
    size_t write_locked(std::span<const std::byte> buf) {
        size_t n = std::min<size_t>(buf.size(), 64 << 10);
        std::string why;
        {
            std::lock_guard<Mutex> l(ssl_mu_);
            ERR_clear_error();
            int r = SSL_write(ssl_, buf.data(), static_cast<int>(n));
            if (r <= 0) why = last_error("write failed");
            take_output();
        }
        send_out();
        if (!why.empty()) throw Error(fmt::format("tls write to {}: {}", peer(), why));
        return n;
    }

public:
    void close() {
        if (closed_.exchange(true)) return;
        if (!conn_) return;
        // close_notify, if the handshake is done, this is a fiber (a
        // connection destroyed after its run, or from a plain thread, is
        // only closed, as a net::Conn is) and no writer holds the write
        // side (one blocked on a full socket would hold close up).
        if (done_.load(std::memory_order_acquire) && sched::call_context() == sched::CallContext::kFiber &&
            write_mu_.try_lock()) {
            {
                std::lock_guard<Mutex> l(ssl_mu_);
                ERR_clear_error();
                SSL_shutdown(ssl_);
                ERR_clear_error();
                take_output();
            }
            try {
                if (write_deadline_.load() == TimePoint{}) conn_.set_write_deadline(Clock::now() + std::chrono::seconds(5));
                send_out();
            } catch (const std::exception&) {
                // The peer is gone or slow: close anyway.
            }
            write_mu_.unlock();
        }
        if (!borrowed_) conn_.close();
    }

    void set_read_deadline(TimePoint t) {
        read_deadline_.store(t);
        conn_.set_read_deadline(t);
    }
    void set_write_deadline(TimePoint t) {
        write_deadline_.store(t);
        conn_.set_write_deadline(t);
    }

    State state() {
        handshake();
        std::lock_guard<Mutex> l(ssl_mu_);
        State st;
        st.version = SSL_version(ssl_) == TLS1_3_VERSION ? Version::kTls13 : Version::kTls12;
        st.cipher = SSL_get_cipher_name(ssl_);
        const unsigned char* p = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(ssl_, &p, &len);
        if (p) st.alpn.assign(reinterpret_cast<const char*>(p), len);
        if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) st.server_name = sni;
        if (X509* peer_cert = SSL_get1_peer_certificate(ssl_)) {
            char buf[512];
            X509_NAME_oneline(X509_get_subject_name(peer_cert), buf, sizeof buf);
            st.peer_subject = buf;
            X509_free(peer_cert);
        }
        st.resumed = SSL_session_reused(ssl_) == 1;
        return st;
    }

private:
    static TimePoint earliest(TimePoint a, TimePoint b) {
        if (a == TimePoint{}) return b;
        if (b == TimePoint{}) return a;
        return std::min(a, b);
    }

    std::string peer() const { return conn_.remote_addr().to_string(); }

    // Why a handshake step failed, in words (under ssl_mu_, right after it).
    std::string handshake_error(int err) {
        long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) {
            std::string s = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
            if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) s += " (want " + name_ + ")";
            ERR_clear_error();
            return s;
        }
        unsigned long e = ERR_peek_last_error();
        if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL) {
            int reason = ERR_GET_REASON(e);
            // Alerts the peer sent arrive as reasons 1000 + the alert.
            if (reason >= SSL_AD_REASON_OFFSET) {
                ERR_clear_error();
                return std::string("the peer sent alert: ") + SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET);
            }
        }
        if (err == SSL_ERROR_SYSCALL || (e == 0 && eof_)) return "the connection ended during the handshake";
        return last_error("handshake failed");
    }

    // TL2 (under ssl_mu_): moves what OpenSSL produced to out_; true if any.
    bool take_output() {
        size_t pending = BIO_ctrl_pending(wbio_);
        if (pending == 0) return false;
        size_t at = out_.size();
        out_.resize(at + pending);
        int n = BIO_read(wbio_, out_.data() + at, static_cast<int>(pending));
        out_.resize(at + static_cast<size_t>(std::max(n, 0)));
        return true;
    }

    // TL2: sends out_ from its front; the caller holds write_mu_.
    void send_out() {
        for (;;) {
            std::string chunk;
            {
                std::lock_guard<Mutex> l(ssl_mu_);
                chunk.swap(out_);
            }
            if (chunk.empty()) return;
            conn_.write_all(chunk);
        }
    }

    void flush() {
        std::lock_guard<Mutex> wl(write_mu_);
        send_out();
    }

    // Reads what the socket has into the read BIO; false at its end (then
    // OpenSSL is told, and its next call reports how the stream ended).
    bool fill(const char*) {
        char buf[16 << 10];
        size_t n = conn_.read(buf, sizeof buf);
        std::lock_guard<Mutex> l(ssl_mu_);
        if (n == 0) {
            eof_ = true;
            BIO_set_mem_eof_return(rbio_, 0);
            return false;
        }
        BIO_write(rbio_, buf, static_cast<int>(n));
        return true;
    }

    net::Conn owned_;
    net::Conn& conn_;  // owned_, or the connection borrowed
    bool borrowed_;
    bool server_;
    Duration timeout_;
    std::string name_;  // client: the name verified (and sent as SNI)
    std::shared_ptr<Context> ctx_;
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;  // owned by ssl_
    BIO* wbio_ = nullptr;
    Mutex hs_mu_, read_mu_, write_mu_, ssl_mu_;
    std::atomic<bool> done_{false};
    std::atomic<bool> closed_{false};
    bool eof_ = false;   // under ssl_mu_
    std::string out_;    // under ssl_mu_ (TL2)
    // What the user set (net::Conn has no getter): the handshake bounds the
    // socket's deadlines by its own and puts these back. Atomic: any fiber
    // may set a deadline while another runs the handshake.
    std::atomic<TimePoint> read_deadline_{TimePoint{}}, write_deadline_{TimePoint{}};
};

}  // namespace detail

// ------------------------------------------------------------ Conn

Conn::Conn() noexcept = default;
Conn::Conn(std::unique_ptr<detail::Session> s) noexcept : s_(std::move(s)) {}
Conn::~Conn() = default;
Conn::Conn(Conn&&) noexcept = default;
Conn& Conn::operator=(Conn&& o) noexcept {
    if (this != &o) s_ = std::move(o.s_);
    return *this;
}

detail::Session& Conn::get(const char* op) const {
    if (!s_) throw net::ClosedError(std::string("tls ") + op);
    return *s_;
}

Conn Conn::client(net::Conn c, const Config& cfg, std::string server_name) {
    if (server_name.empty()) server_name = cfg.s_->server_name;
    if (server_name.empty() && !cfg.s_->insecure)
        throw std::invalid_argument("tls: a client needs the server's name to verify (give server_name, or dial by name)");
    return Conn(std::make_unique<detail::Session>(std::move(c), nullptr, cfg, false, std::move(server_name)));
}

Conn Conn::server(net::Conn c, const Config& cfg) {
    if (cfg.s_->chain_pem.empty()) throw std::invalid_argument("tls: a server needs a certificate (certificate_files or certificate_pem)");
    return Conn(std::make_unique<detail::Session>(std::move(c), nullptr, cfg, true, ""));
}

Conn Conn::server_on(net::Conn& c, const Config& cfg) {
    if (cfg.s_->chain_pem.empty()) throw std::invalid_argument("tls: a server needs a certificate (certificate_files or certificate_pem)");
    return Conn(std::make_unique<detail::Session>(net::Conn(), &c, cfg, true, ""));
}

void Conn::handshake() { get("handshake").handshake(); }
size_t Conn::read(std::span<std::byte> buf) { return get("read").read(buf); }
size_t Conn::read_full(std::span<std::byte> buf) { return weft::detail::read_full(*this, buf); }
size_t Conn::write(std::span<const std::byte> buf) { return get("write").write(buf); }
void Conn::write_all(std::span<const std::byte> buf) { get("write").write_all(buf); }
void Conn::close() {
    if (s_) s_->close();
}
void Conn::set_deadline(TimePoint t) {
    set_read_deadline(t);
    set_write_deadline(t);
}
void Conn::set_read_deadline(TimePoint t) { get("set deadline").set_read_deadline(t); }
void Conn::set_write_deadline(TimePoint t) { get("set deadline").set_write_deadline(t); }
net::Addr Conn::local_addr() const { return s_ ? s_->conn().local_addr() : net::Addr{}; }
net::Addr Conn::remote_addr() const { return s_ ? s_->conn().remote_addr() : net::Addr{}; }
State Conn::state() { return get("state").state(); }
net::Conn& Conn::raw() { return get("raw").conn(); }
Conn::operator bool() const { return s_ && static_cast<bool>(s_->conn()); }

Conn dial(std::string_view network, std::string_view address, const Config& cfg, Duration timeout) {
    net::Conn c = net::dial(network, address, timeout);
    // The host of the address names the server, unless the Config does.
    std::string host(address);
    size_t colon = host.rfind(':');
    if (colon != std::string::npos) host.resize(colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "localhost";
    Conn t = Conn::client(std::move(c), cfg, cfg.s_->server_name.empty() ? host : "");
    t.handshake();
    return t;
}

// ------------------------------------------------------------ Listener

Listener::Listener() noexcept = default;
Listener::Listener(net::Listener ln, const Config& cfg) : ln_(std::move(ln)), cfg_(cfg) {
    if (!cfg_.s_->chain_pem.empty()) (void)cfg_.context(true);  // a bad setting fails here, not at the first client
    else throw std::invalid_argument("tls: a server needs a certificate (certificate_files or certificate_pem)");
}
Conn Listener::accept() { return Conn::server(ln_.accept(), cfg_); }
void Listener::close() { ln_.close(); }
net::Addr Listener::addr() const { return ln_.addr(); }
net::Listener& Listener::raw() { return ln_; }

Listener listen(std::string_view network, std::string_view address, const Config& cfg) {
    return Listener(net::listen(network, address), cfg);
}

}  // namespace weft::tls
