// pki.hpp — certificates for the TLS tests, made with openssl (P-256 keys)
// in a temporary directory, removed with the object.
#pragma once

#include <string>
#include <unistd.h>

#include <doctest/doctest.h>
#include "support/test_util.hpp"

namespace weft::suite {

// The extension of a server certificate for this host's loopback names.
inline constexpr const char* kLocalhostSan = "subjectAltName=DNS:localhost,IP:127.0.0.1";

class TestPki {
public:
    // A CA: ca.crt, ca.key.
    TestPki() {
        char tmpl[] = "/tmp/weft-pki-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        self_signed("ca", "weft test CA");
    }
    ~TestPki() { run_command("rm -rf " + dir_); }
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    // name.crt, name.key: a CA of its own, which nothing trusts.
    void self_signed(const std::string& name, const std::string& cn) {
        run("openssl req -x509" + key_args(name) + " -out " + name + ".crt -days 2 -subj '/CN=" + cn + "'");
    }
    // name.crt, name.key: a certificate for `cn` signed by the CA, with
    // the extension line `ext` ("extendedKeyUsage=clientAuth", kLocalhostSan).
    void leaf(const std::string& name, const std::string& cn, const std::string& ext) {
        run("openssl req" + key_args(name) + " -out " + name + ".csr -subj '/CN=" + cn + "' && printf '" + ext +
            "\\n' > " + name + ".ext && openssl x509 -req -in " + name +
            ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + name + ".crt -days 2 -extfile " + name + ".ext");
    }
    std::string path(const std::string& file) const { return dir_ + "/" + file; }
    const std::string& dir() const { return dir_; }

private:
    static std::string key_args(const std::string& name) {
        return " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key";
    }
    void run(const std::string& cmd) {
        CommandResult r = run_command("{ cd " + dir_ + " && " + cmd + "; }");  // every step's stderr with its stdout
        REQUIRE_MESSAGE(r.status == 0, r.out);
    }
    std::string dir_;
};

}  // namespace weft::suite
