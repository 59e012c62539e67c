// TLS (runtime/tls.hpp) against real peers: weft to weft, `openssl
// s_server` and `openssl s_client`, and curl; certificates made here with
// `openssl req` / `openssl x509` under a test CA.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <unistd.h>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using weft::suite::contains;
using weft::suite::Process;
using weft::suite::slurp;
using weft::suite::run_command;

namespace {

// A test CA and, signed by it, a server certificate for localhost and
// 127.0.0.1, one for api.example.test and a client certificate; and a
// second CA nobody trusts. Made once per process.
struct Pki {
    weft::suite::TestPki made;
    std::string dir = made.dir();
    std::string ca_crt = made.path("ca.crt"), server_crt = made.path("server.crt"), server_key = made.path("server.key"),
                client_crt = made.path("client.crt"), client_key = made.path("client.key"),
                other_ca_crt = made.path("other.crt"), api_crt = made.path("api.crt"), api_key = made.path("api.key");
    Pki() {
        made.self_signed("other", "untrusted CA");
        made.leaf("server", "localhost", weft::suite::kLocalhostSan);
        made.leaf("api", "api.example.test", "subjectAltName=DNS:api.example.test");
        made.leaf("client", "weft test client", "extendedKeyUsage=clientAuth");
    }
};

const Pki& pki() {
    static Pki* p = new Pki;
    return *p;
}

weft::tls::Config server_config() {
    weft::tls::Config cfg;
    cfg.certificate_files(pki().server_crt, pki().server_key);
    return cfg;
}

weft::tls::Config client_config() {
    weft::tls::Config cfg;
    cfg.root_ca_file(pki().ca_crt);
    return cfg;
}

std::string read_all(weft::tls::Conn& c) {
    std::string s;
    char buf[4096];
    for (size_t n; (n = c.read(buf, sizeof buf)) > 0;) s.append(buf, n);
    return s;
}

// A TLS echo server on 127.0.0.1: each connection echoes until its peer's
// close_notify, then closes (sending its own).
struct EchoServer {
    weft::tls::Listener ln;
    weft::WaitGroup wg;
    weft::Chan<std::string> errors{16};  // what each connection that failed threw
    explicit EchoServer(const weft::tls::Config& cfg, int conns) : ln(weft::tls::listen("tcp4", "127.0.0.1:0", cfg)) {
        wg.add(1);
        weft::go([this, conns] {
            for (int i = 0; i < conns; i++) {
                weft::tls::Conn c = ln.accept();
                wg.add(1);
                weft::go([this, c = std::move(c)]() mutable {
                    try {
                        std::byte buf[4096];
                        while (size_t n = c.read(buf)) c.write_all({buf, n});
                    } catch (const std::exception& e) {
                        std::string what = e.what();
                        errors.try_send(what);
                    }
                    c.close();
                    wg.done();
                });
            }
            wg.done();
        });
    }
    std::string addr() const { return ln.addr().to_string(); }
    int port() const { return ln.addr().port(); }
};

}  // namespace

TEST_CASE("tls: weft to weft — handshake, echo, close_notify, and what the handshake settled") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Config scfg = server_config();
        scfg.alpn({"h2", "http/1.1"});
        EchoServer server(scfg, 1);
        weft::tls::Config ccfg = client_config();
        ccfg.alpn({"http/1.1"});
        weft::tls::Conn c = weft::tls::dial("tcp", "localhost:" + std::to_string(server.port()), ccfg);
        weft::tls::State st = c.state();
        CHECK(st.version == weft::tls::Version::kTls13);
        CHECK(st.alpn == "http/1.1");
        CHECK(st.server_name == "localhost");
        CHECK(contains(st.peer_subject, "CN=localhost"));
        std::string big(200000, 'x');  // several records, both ways at once
        weft::WaitGroup wg;
        wg.add(1);
        std::string echoed;
        weft::go([&] {
            char buf[8192];
            while (echoed.size() < big.size()) {
                size_t n = c.read(buf, sizeof buf);
                if (n == 0) break;
                echoed.append(buf, n);
            }
            wg.done();
        });
        c.write_all(big);
        wg.wait();
        CHECK(echoed == big);
        c.close();  // close_notify: the server's read returns 0 and it closes
        server.wg.wait();
        std::string err;
        CHECK_MESSAGE(server.errors.try_recv(err) == weft::RecvStatus::kEmpty, err);
    });
}

TEST_CASE("tls: deadlines — a read with nothing coming times out, and the connection goes on after") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        EchoServer server(server_config(), 1);
        weft::tls::Conn c = weft::tls::dial("tcp", server.addr(), client_config());
        c.set_read_deadline(weft::Clock::now() + 100ms);
        char buf[8];
        CHECK_THROWS_AS(c.read(buf, sizeof buf), weft::net::TimeoutError);
        c.set_read_deadline(weft::TimePoint{});
        c.write_all(std::string_view("again"));
        CHECK(c.read_full(std::as_writable_bytes(std::span<char>(buf, 5))) == 5);
        CHECK(std::string(buf, 5) == "again");
        c.close();
        server.wg.wait();
    });
}

TEST_CASE("tls: a server with two certificates answers each client with the one its SNI names") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Config scfg;
        scfg.add_certificate_files(pki().server_crt, pki().server_key);  // the default: localhost
        scfg.add_certificate_files(pki().api_crt, pki().api_key);
        EchoServer server(scfg, 3);
        std::string at = server.addr();
        auto subject_for = [&](const std::string& name) {
            weft::tls::Config c = client_config();
            c.server_name(name);
            weft::tls::Conn conn = weft::tls::dial("tcp", at, c);
            std::string subject = conn.state().peer_subject;
            conn.close();
            return subject;
        };
        CHECK(contains(subject_for("api.example.test"), "CN=api.example.test"));
        CHECK(contains(subject_for("localhost"), "CN=localhost"));
        // A name neither covers gets the default, which then fails the
        // client's name check.
        CHECK_THROWS_WITH_AS(subject_for("nobody.example.test"),
                             ("tls handshake with " + at +
                              ": certificate verify failed: hostname mismatch (want nobody.example.test)").c_str(),
                             weft::tls::Error);
        server.wg.wait();
    });
}

TEST_CASE("tls: two fibers' write_all calls on one connection are never interleaved") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", server_config());
        // 128 of write_all's 64 KiB steps each, far more than the socket
        // buffers hold: each writer blocks many times in the middle of its
        // write_all while the reader drains a little at a time.
        constexpr size_t kEach = 8 << 20;
        weft::WaitGroup wg;
        wg.add(1);
        std::string got;
        weft::go([&] {
            weft::tls::Conn c = ln.accept();
            got.resize(2 * kEach);
            size_t have = 0;
            while (have < got.size()) {
                size_t n = c.read(got.data() + have, std::min<size_t>(4096, got.size() - have));
                if (n == 0) break;
                have += n;
                weft::yield();  // the writers run between reads
            }
            CHECK(have == got.size());
            wg.done();
        });
        weft::tls::Conn c = weft::tls::dial("tcp", ln.addr().to_string(), client_config());
        c.handshake();
        weft::WaitGroup writers;
        writers.add(2);
        for (char ch : {'a', 'b'}) {
            weft::go([&c, &writers, ch] {
                c.write_all(std::string(kEach, ch));
                writers.done();
            });
        }
        writers.wait();
        wg.wait();
        bool whole = got == std::string(kEach, 'a') + std::string(kEach, 'b') ||
                     got == std::string(kEach, 'b') + std::string(kEach, 'a');
        CHECK_MESSAGE(whole, "the two writes were interleaved");
    });
}

TEST_CASE("tls: a write to a peer that never reads ends at the write deadline") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", server_config());
        weft::Chan<int> done;
        weft::WaitGroup wg;  // the server's fiber ends before the run does (nothing abandoned)
        wg.add(1);
        weft::go([&ln, &wg, done] {
            {
                weft::tls::Conn c = ln.accept();
                c.handshake();
                (void)done.recv();  // reads nothing until the test ends
            }
            wg.done();
        });
        weft::tls::Conn c = weft::tls::dial("tcp", ln.addr().to_string(), client_config());
        c.set_write_deadline(weft::Clock::now() + 200ms);
        std::string chunk(64 << 10, 'z');
        try {
            for (int i = 0; i < 10000; i++) c.write_all(chunk);  // 640 MB: far past any socket buffer
            FAIL("the writes never blocked");
        } catch (const weft::net::TimeoutError& e) {
            CHECK(contains(e.what(), ": i/o timeout"));
        }
        done.send(1);
        wg.wait();
    });
}

TEST_CASE("tls: a connection destroyed after its run is only closed (no close_notify off a fiber)") {
    (void)pki();
    auto r = weft::suite::run_in_child([] {
        std::optional<weft::tls::Conn> kept;
        weft::run(weft::Options{.procs = 1}, [&] {
            weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", server_config());
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&] {
                weft::suite::DoneOnExit done(wg);
                weft::tls::Conn c = ln.accept();
                c.write_all(std::string_view("x"));
                c.close();
            });
            kept = weft::tls::dial("tcp", ln.addr().to_string(), client_config());
            char b[1];
            (void)kept->read(b, 1);
            wg.wait();  // the run ends with `kept` open, its handshake done
        });
        kept.reset();  // no run, no fiber: must not try to write
        std::printf("destroyed\n");
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "destroyed"));
}

TEST_CASE("tls misuse: a client with no name to verify, a server with no certificate") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::net::Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        CHECK_THROWS_WITH_AS(weft::tls::Conn::client(weft::net::dial("tcp", ln.addr().to_string()), weft::tls::Config{}),
                             "tls: a client needs the server's name to verify (give server_name, or dial by name)",
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::tls::listen("tcp4", "127.0.0.1:0", weft::tls::Config{}),
                             "tls: a server needs a certificate (certificate_files or certificate_pem)",
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::tls::Config{}.alpn({""}), "tls: an ALPN protocol name is 1 to 255 bytes",
                             std::invalid_argument);
    });
}

TEST_CASE("tls: the client verifies the server — an untrusted root and a wrong name fail, naming the reason") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        EchoServer server(server_config(), 3);
        std::string at = "127.0.0.1:" + std::to_string(server.port());
        // Roots that do not include the test CA.
        weft::tls::Config other;
        other.root_ca_file(pki().other_ca_crt);
        CHECK_THROWS_WITH_AS(weft::tls::dial("tcp", at, other),
                             ("tls handshake with " + at + ": certificate verify failed: unable to get local issuer certificate").c_str(),
                             weft::tls::Error);
        // The system's store: the test CA is not in it either.
        CHECK_THROWS_WITH_AS(weft::tls::dial("tcp", at, weft::tls::Config{}),
                             ("tls handshake with " + at + ": certificate verify failed: unable to get local issuer certificate").c_str(),
                             weft::tls::Error);
        // The right roots, the wrong name.
        weft::tls::Config named = client_config();
        named.server_name("www.example.com");
        CHECK_THROWS_WITH_AS(
            weft::tls::dial("tcp", at, named),
            ("tls handshake with " + at + ": certificate verify failed: hostname mismatch (want www.example.com)").c_str(),
            weft::tls::Error);
        server.wg.wait();  // each refused handshake ends the server's side too
    });
}

TEST_CASE("tls: a handshake with a peer that never answers ends at handshake_timeout") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::net::Listener silent = weft::net::listen("tcp4", "127.0.0.1:0");  // accepts (the kernel does), says nothing
        weft::tls::Config cfg = client_config();
        cfg.handshake_timeout(200ms);
        CHECK_THROWS_WITH_AS(weft::tls::dial("tcp", silent.addr().to_string(), cfg),
                             ("tls handshake with " + silent.addr().to_string() + ": i/o timeout").c_str(),
                             weft::net::TimeoutError);
    });
}

TEST_CASE("tls: a read that meets the end of the stream without close_notify is an error, not an end") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", server_config());
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            weft::suite::DoneOnExit done(wg);
            weft::tls::Conn c = ln.accept();
            c.handshake();
            c.write_all(std::string_view("partial"));
            c.raw().close();  // the socket, without close_notify
        });
        weft::tls::Conn c = weft::tls::dial("tcp", "127.0.0.1:" + std::to_string(ln.addr().port()), client_config());
        char buf[16];
        CHECK(c.read(buf, sizeof buf) == 7);
        CHECK_THROWS_WITH_AS(c.read(buf, sizeof buf),
                             ("tls read from " + c.remote_addr().to_string() +
                              ": the connection ended without close_notify (truncated)").c_str(),
                             weft::tls::Error);
        wg.wait();
    });
}

TEST_CASE("tls: client certificates — required and missing is refused; given, the server sees who") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        weft::tls::Config scfg = server_config();
        scfg.client_auth(weft::tls::ClientAuth::kRequireAndVerify).client_ca_file(pki().ca_crt);
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", scfg);
        weft::Chan<std::string> seen(2);
        weft::WaitGroup wg;  // the server's fiber ends before the run does
        wg.add(1);
        weft::go([&ln, &wg, seen] {
            for (int i = 0; i < 2; i++) {
                weft::tls::Conn c = ln.accept();
                try {
                    seen.send(c.state().peer_subject);
                } catch (const weft::tls::Error& e) {
                    seen.send(std::string("error: ") + e.what());
                }
            }
            wg.done();
        });
        std::string at = "127.0.0.1:" + std::to_string(ln.addr().port());
        // No certificate: the server refuses. (In TLS 1.3 the client's
        // handshake ends before the server has checked; its first read
        // gets the alert.)
        try {
            weft::tls::Conn c = weft::tls::dial("tcp", at, client_config());
            char b[1];
            c.read(b, 1);
            FAIL("no error");
        } catch (const weft::tls::Error& e) {
            CHECK_MESSAGE(contains(e.what(), "certificate required"), e.what());
        }
        CHECK(contains(*seen.recv(), "error: tls handshake with 127.0.0.1:"));
        weft::tls::Config ccfg = client_config();
        ccfg.certificate_files(pki().client_crt, pki().client_key);
        weft::tls::Conn c = weft::tls::dial("tcp", at, ccfg);
        CHECK(contains(*seen.recv(), "CN=weft test client"));
        wg.wait();
    });
}

TEST_CASE("tls: certificates and keys from PEM text; a key that does not match is refused where it is set") {
    (void)pki();
    weft::tls::Config cfg;
    cfg.certificate_pem(slurp(pki().server_crt), slurp(pki().server_key));
    CHECK_THROWS_WITH_AS(cfg.certificate_pem(slurp(pki().server_crt), slurp(pki().client_key)),
                         "tls: the private key does not match the certificate", weft::tls::Error);
    CHECK_THROWS_WITH_AS(cfg.certificate_files(pki().dir + "/missing.crt", pki().server_key),
                         ("tls: certificate file " + pki().dir + "/missing.crt: No such file or directory").c_str(),
                         weft::tls::Error);
    CHECK_THROWS_WITH_AS(cfg.root_ca_pem("not a certificate"), "tls: root CAs: no PEM certificate in it", weft::tls::Error);
    weft::run(weft::Options{.procs = 1}, [&] {
        EchoServer server(cfg, 1);
        weft::tls::Config ccfg;
        ccfg.root_ca_pem(slurp(pki().ca_crt));
        weft::tls::Conn c = weft::tls::dial("tcp", server.addr(), ccfg);
        c.write_all(std::string_view("pem"));
        char buf[8];
        CHECK(c.read_full(std::as_writable_bytes(std::span<char>(buf, 3))) == 3);
        CHECK(std::string(buf, 3) == "pem");
        c.close();
        server.wg.wait();
    });
}

TEST_CASE("tls client against openssl s_server") {
    (void)pki();
    Process server("openssl s_server -accept 127.0.0.1:0 -cert " + pki().server_crt + " -key " + pki().server_key +
                   " -www -naccept 1");
    weft::run(weft::Options{.procs = 2}, [&] {
        std::string port;
        REQUIRE(weft::suite::wait_until(
            [&] {
                weft::sleep(10ms);
                std::string out = server.output();
                size_t at = out.find("ACCEPT ");
                size_t colon = at == std::string::npos ? at : out.find_last_of(':', out.find('\n', at));
                if (colon != std::string::npos && out.find('\n', at) != std::string::npos)
                    port = out.substr(colon + 1, out.find('\n', at) - colon - 1);
                return !port.empty();
            },
            30s));
        weft::tls::Conn c = weft::tls::dial("tcp", "localhost:" + port, client_config());
        c.write_all(std::string_view("GET / HTTP/1.0\r\n\r\n"));
        std::string page = read_all(c);
        CHECK_MESSAGE(contains(page, "HTTP/1.0 200 ok"), page);
        CHECK(contains(page, "TLSv1.3"));
    });
}

TEST_CASE("tls server against openssl s_client and curl") {
    (void)pki();
    weft::run(weft::Options{.procs = 2}, [] {
        // An HTTP answer for curl; an echo for s_client.
        weft::tls::Config cfg = server_config();
        cfg.alpn({"http/1.1"});
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", cfg);
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            for (int i = 0; i < 2; i++) {
                weft::tls::Conn c = ln.accept();
                char buf[4096];
                size_t n = c.read(buf, sizeof buf);
                std::string got(buf, n);
                if (got.starts_with("GET ")) {
                    c.write_all(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nover tls\r\n"));
                } else {
                    c.write_all("echo:" + got);
                }
                c.close();
            }
            wg.done();
        });
        std::string port = std::to_string(ln.addr().port());
        auto sc = weft::blocking([&] {
            return run_command("printf hello | openssl s_client -connect 127.0.0.1:" + port + " -servername localhost -CAfile " +
                               pki().ca_crt + " -verify_return_error -quiet -ign_eof");
        });
        CHECK_MESSAGE(contains(sc.out, "echo:hello"), sc.out);
        auto curl = weft::blocking([&] {
            return run_command("curl -sS --max-time 20 --cacert " + pki().ca_crt + " https://localhost:" + port + "/");
        });
        CHECK_MESSAGE(curl.status == 0, curl.out);
        CHECK(curl.out == "over tls\r\n");
        wg.wait();
    });
}
