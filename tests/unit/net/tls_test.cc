// net/tls.h: Kafka's ssl.* keys read into one listener's settings (per-listener overrides
// first), and the start-up errors naming the key. The handshakes themselves are exercised
// with stock clients in tests/integration/tls_test.py.
#include "net/tls.h"

#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace trib::net {
namespace {

config::values load(std::vector<std::pair<std::string, std::string>> overrides,
                    std::vector<std::string> listeners = {"SSL", "EXTERNAL"}) {
    config::schema s;
    add_tls_keys(s);
    add_listener_tls_keys(s, listeners);
    config::load_options o;
    o.overrides = std::move(overrides);
    const char* empty_env[] = {nullptr};
    o.environ = empty_env;
    return config::load(s, o);
}

// The message of the config_error `f` throws ("" if none).
template<typename F>
std::string error_of(F f) {
    try {
        f();
    } catch (const config::config_error& e) {
        return e.what();
    }
    return "";
}

TEST(tls_settings, plain_keys_and_defaults) {
    auto s = tls_settings_for(load({{"ssl.keystore.location", "/k.pem"}}), "SSL");
    EXPECT_EQ(s.keystore_location, "/k.pem");
    EXPECT_FALSE(s.keystore_key);
    EXPECT_FALSE(s.truststore_location);
    EXPECT_EQ(s.auth, client_auth::none);
    EXPECT_EQ(s.protocols, (std::vector<std::string>{"TLSv1.2", "TLSv1.3"}));
    EXPECT_TRUE(s.cipher_suites.empty());
    EXPECT_EQ(s.name_of("ssl.keystore.location"), "ssl.keystore.location");
}

TEST(tls_settings, listener_override_wins_for_its_listener_only) {
    auto v = load({{"ssl.keystore.location", "/plain.pem"},
                   {"listener.name.external.ssl.keystore.location", "/external.pem"},
                   {"listener.name.external.ssl.client.auth", "required"},
                   {"ssl.truststore.location", "/ca.pem"},
                   {"ssl.enabled.protocols", "TLSv1.3"}});
    auto ext = tls_settings_for(v, "EXTERNAL");
    EXPECT_EQ(ext.keystore_location, "/external.pem");
    EXPECT_EQ(ext.name_of("ssl.keystore.location"), "listener.name.external.ssl.keystore.location");
    EXPECT_EQ(ext.auth, client_auth::required);
    EXPECT_EQ(ext.truststore_location, "/ca.pem");  // not overridden: the plain key
    EXPECT_EQ(ext.protocols, (std::vector<std::string>{"TLSv1.3"}));
    auto ssl = tls_settings_for(v, "SSL");
    EXPECT_EQ(ssl.keystore_location, "/plain.pem");
    EXPECT_EQ(ssl.auth, client_auth::none);
}

TEST(tls_settings, inline_pem_keystore) {
    auto s = tls_settings_for(load({{"ssl.keystore.key", "-----BEGIN PRIVATE KEY-----"},
                                    {"ssl.keystore.certificate.chain", "-----BEGIN CERTIFICATE-----"},
                                    {"ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"},
                                    {"ssl.client.auth", "requested"},
                                    {"ssl.cipher.suites", "TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}),
                              "SSL");
    EXPECT_TRUE(s.keystore_key && s.keystore_chain && s.truststore_certificates);
    EXPECT_EQ(s.auth, client_auth::requested);
    EXPECT_EQ(s.cipher_suites,
              (std::vector<std::string>{"TLS_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}));
}

TEST(tls_settings, jks_and_pkcs12_are_refused_naming_the_key) {
    auto e = error_of([] { load({{"ssl.keystore.type", "JKS"}}); });
    EXPECT_NE(e.find("ssl.keystore.type"), std::string::npos) << e;
    EXPECT_NE(e.find("PEM"), std::string::npos) << e;
    e = error_of([] { load({{"listener.name.ssl.ssl.truststore.type", "PKCS12"}}); });
    EXPECT_NE(e.find("listener.name.ssl.ssl.truststore.type"), std::string::npos) << e;
    EXPECT_NO_THROW(load({{"ssl.keystore.type", "pem"}}));
}

TEST(tls_settings, bad_values_are_refused) {
    EXPECT_NE(error_of([] { load({{"ssl.client.auth", "maybe"}}); }).find("ssl.client.auth"), std::string::npos);
    EXPECT_NE(error_of([] { load({{"ssl.enabled.protocols", "TLSv1.2,SSLv3"}}); }).find("SSLv3"),
              std::string::npos);
    // An override for a listener the program does not have is an unknown key.
    EXPECT_NE(error_of([] { load({{"listener.name.other.ssl.keystore.location", "/x"}}); })
                  .find("listener.name.other.ssl.keystore.location"),
              std::string::npos);
}

TEST(tls_settings, keystore_missing_twice_or_half_given) {
    auto e = error_of([] { tls_settings_for(load({}), "SSL"); });
    EXPECT_NE(e.find("ssl.keystore.location"), std::string::npos) << e;
    EXPECT_NE(e.find("SSL"), std::string::npos) << e;
    e = error_of([] {
        tls_settings_for(load({{"ssl.keystore.location", "/k.pem"}, {"ssl.keystore.key", "k"},
                               {"ssl.keystore.certificate.chain", "c"}}),
                         "SSL");
    });
    EXPECT_NE(e.find("not both"), std::string::npos) << e;
    e = error_of([] { tls_settings_for(load({{"ssl.keystore.key", "k"}}), "SSL"); });
    EXPECT_NE(e.find("ssl.keystore.certificate.chain"), std::string::npos) << e;
}

TEST(tls_settings, client_auth_needs_a_truststore) {
    auto e = error_of([] {
        tls_settings_for(load({{"ssl.keystore.location", "/k.pem"},
                               {"listener.name.ssl.ssl.client.auth", "required"}}),
                         "SSL");
    });
    EXPECT_NE(e.find("listener.name.ssl.ssl.client.auth"), std::string::npos) << e;
    EXPECT_NE(e.find("truststore"), std::string::npos) << e;
}

TEST(tls_context, unreadable_and_bad_files_name_the_key) {
    auto e = error_of([] {
        make_server_context(tls_settings_for(load({{"ssl.keystore.location", "/nonexistent/k.pem"}}), "SSL"));
    });
    EXPECT_NE(e.find("ssl.keystore.location"), std::string::npos) << e;
    EXPECT_NE(e.find("/nonexistent/k.pem"), std::string::npos) << e;
    // A file that is not PEM at all.
    e = error_of([] {
        make_server_context(
            tls_settings_for(load({{"listener.name.ssl.ssl.keystore.location", TRIB_SOURCE_DIR "/README.md"}}),
                             "SSL"));
    });
    EXPECT_NE(e.find("listener.name.ssl.ssl.keystore.location"), std::string::npos) << e;
    e = error_of([] {
        make_server_context(tls_settings_for(
            load({{"ssl.keystore.key", "not pem"}, {"ssl.keystore.certificate.chain", "not pem"}}), "SSL"));
    });
    EXPECT_NE(e.find("ssl.keystore.certificate.chain"), std::string::npos) << e;
}

// A PEM bundle (key, then a self-signed certificate for `cn`).
std::string self_signed_bundle(const std::string& cn) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    BIO* out = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    PEM_write_bio_X509(out, cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(out, &data);
    std::string pem(data, size_t(n));
    BIO_free(out);
    X509_free(cert);
    EVP_PKEY_free(key);
    return pem;
}

// The subject CN of the certificate a context serves.
std::string served_cn(const tls_source& s) {
    X509* cert = SSL_CTX_get0_certificate(s.current()->native_handle());
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    return buf;
}

// Replaces `path` the way a Kubernetes Secret volume does: a new file renamed over it.
void replace_file(const std::filesystem::path& path, const std::string& content) {
    auto tmp = path.string() + ".new";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, path);
}

TEST(tls_source, a_changed_keystore_file_is_read_again_and_a_bad_one_keeps_the_old_context) {
    fakes::temp_dir dir;
    auto keystore = dir / "broker.pem";
    std::ofstream(keystore) << self_signed_bundle("first");
    tls_source src(tls_settings_for(load({{"ssl.keystore.location", keystore.string()},
                                          {"tributary.ssl.reload.interval.ms", "250"}}),
                                    "SSL"));
    EXPECT_EQ(src.settings().reload_interval, std::chrono::milliseconds(250));
    EXPECT_EQ(served_cn(src), "first");
    EXPECT_FALSE(src.reload_if_changed()) << "nothing changed";
    auto first = src.current();

    replace_file(keystore, self_signed_bundle("second"));
    EXPECT_TRUE(src.reload_if_changed());
    EXPECT_EQ(served_cn(src), "second");
    EXPECT_NE(src.current(), first);
    EXPECT_EQ(src.reloads(), 1u);
    EXPECT_FALSE(src.reload_if_changed()) << "read once per change";

    replace_file(keystore, "-----BEGIN PRIVATE KEY-----\nhalf written");
    EXPECT_FALSE(src.reload_if_changed());
    EXPECT_EQ(served_cn(src), "second") << "a file that can't be used leaves the context in force";
    EXPECT_FALSE(src.reload_if_changed()) << "and is not tried again until it changes";

    replace_file(keystore, self_signed_bundle("third"));
    EXPECT_TRUE(src.reload_if_changed());
    EXPECT_EQ(served_cn(src), "third");
    EXPECT_EQ(src.reloads(), 2u);
}

TEST(tls_source, a_client_source_looks_at_its_files_when_it_connects_after_the_interval) {
    fakes::temp_dir dir;
    auto keystore = dir / "broker.pem";
    std::ofstream(keystore) << self_signed_bundle("first");
    tls_source src(tls_settings_for(load({{"ssl.keystore.location", keystore.string()},
                                          {"tributary.ssl.reload.interval.ms", "1000"}}),
                                    "SSL"),
                   tls_role::client);
    EXPECT_EQ(SSL_CTX_get_verify_mode(src.current()->native_handle()), SSL_VERIFY_PEER)
        << "a client always checks the broker it connects to";
    EXPECT_EQ(served_cn(src), "first") << "the keystore's certificate is presented (mTLS)";

    replace_file(keystore, self_signed_bundle("second"));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(src.fresh(start), src.current());
    EXPECT_EQ(served_cn(src), "first") << "not looked at before the interval has passed";
    auto renewed = src.fresh(start + std::chrono::milliseconds(1100));
    EXPECT_EQ(served_cn(src), "second");
    EXPECT_EQ(renewed, src.current());
    EXPECT_EQ(src.reloads(), 1u);
}

TEST(tls_source, reload_interval_defaults_to_30_s_and_is_checked) {
    auto s = tls_settings_for(load({{"ssl.keystore.location", "/k.pem"}}), "SSL");
    EXPECT_EQ(s.reload_interval, std::chrono::milliseconds(30000));
    s = tls_settings_for(load({{"ssl.keystore.location", "/k.pem"},
                               {"listener.name.ssl.tributary.ssl.reload.interval.ms", "0"}}),
                         "SSL");
    EXPECT_EQ(s.reload_interval, std::chrono::milliseconds(0));
    auto e = error_of([] { load({{"tributary.ssl.reload.interval.ms", "-1"}}); });
    EXPECT_NE(e.find("tributary.ssl.reload.interval.ms"), std::string::npos) << e;
}

TEST(tls_context, listener_prefix_is_lower_case) {
    EXPECT_EQ(listener_prefix("EXTERNAL_TLS"), "listener.name.external_tls.");
}

} // namespace
} // namespace trib::net
