#include "operator/certs/certificates.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <ctime>
#include <memory>
#include <string_view>

namespace trib::op::certs {

std::string errc_message(errc e) {
    switch (e) {
    case errc::bad_certificate: return "not a PEM X.509 certificate";
    case errc::bad_key: return "not a PEM private key";
    case errc::key_mismatch: return "the private key does not belong to the certificate";
    case errc::not_a_ca: return "the issuer is not a CA certificate";
    case errc::crypto_failure: return "OpenSSL failed to make a key or sign a certificate";
    }
    return "unknown certificates error";
}

namespace {

template<auto Free>
struct deleter {
    template<typename T>
    void operator()(T* p) const noexcept { Free(p); }
};
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION_free>>;
using store_ptr = std::unique_ptr<X509_STORE, deleter<X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, deleter<X509_STORE_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES_free>>;
using constraints_ptr = std::unique_ptr<BASIC_CONSTRAINTS, deleter<BASIC_CONSTRAINTS_free>>;

// Clocks of the machines involved may be a little apart: certificates start a bit early.
constexpr auto backdate = std::chrono::minutes(5);

bio_ptr read_bio(const std::string& pem) {
    return bio_ptr(BIO_new_mem_buf(pem.data(), int(pem.size())));
}

x509_ptr read_cert(const std::string& pem) {
    auto b = read_bio(pem);
    return x509_ptr(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

// Every certificate of a PEM text, in order (none when there is none).
std::vector<x509_ptr> read_certs(const std::string& pem) {
    std::vector<x509_ptr> out;
    auto b = read_bio(pem);
    while (b) {
        x509_ptr x(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
        if (!x) {
            break;
        }
        out.push_back(std::move(x));
    }
    return out;
}

// The stack only: its certificates are borrowed (sk_X509_free is a macro, no function to name).
void free_x509_stack(STACK_OF(X509) * s) { sk_X509_free(s); }
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), deleter<free_x509_stack>>;

pkey_ptr read_key(const std::string& pem) {
    auto b = read_bio(pem);
    // A null passphrase callback with no user data: an encrypted key fails rather than prompt.
    return pkey_ptr(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
                      : nullptr);
}

std::string bio_text(BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return n > 0 ? std::string(data, size_t(n)) : std::string();
}

result<std::string> cert_text(X509* x) {
    bio_ptr b(BIO_new(BIO_s_mem()));
    if (!b || PEM_write_bio_X509(b.get(), x) != 1) {
        return errc::crypto_failure;
    }
    return bio_text(b.get());
}

result<std::string> key_text(EVP_PKEY* k) {
    bio_ptr b(BIO_new(BIO_s_mem()));
    // PKCS#8, unencrypted: "BEGIN PRIVATE KEY", what Kafka's PEM keystore reads.
    if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return errc::crypto_failure;
    }
    return bio_text(b.get());
}

result<key_pair> pem_pair(EVP_PKEY* key, X509* cert) {
    auto c = cert_text(cert);
    auto k = key_text(key);
    if (!c || !k) {
        return errc::crypto_failure;
    }
    return key_pair{std::move(*k), std::move(*c)};
}

pkey_ptr new_key() {
    return pkey_ptr(EVP_EC_gen("P-256"));
}

time_point from_asn1(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return {};
    }
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string common_name(const X509_NAME* name) {
    if (name == nullptr) {
        return {};
    }
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0) {
        return {};
    }
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), size_t(ASN1_STRING_length(s)));
}

bool add_ext(X509* x, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    return ext && X509_add_ext(x, ext.get(), -1) == 1;
}

// A certificate for `key` named O=`org` (none when empty), CN=`cn`, with a random 127-bit
// serial and the given validity; not yet signed, without extensions.
x509_ptr new_cert(EVP_PKEY* key, const std::string& org, const std::string& cn, time_point now,
                  std::chrono::hours validity) {
    x509_ptr x(X509_new());
    if (!x || X509_set_version(x.get(), 2) != 1) {
        return nullptr;
    }
    bn_ptr serial(BN_new());
    if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get())) == nullptr) {
        return nullptr;
    }
    const auto from = std::chrono::system_clock::to_time_t(now - backdate);
    const auto until = std::chrono::system_clock::to_time_t(now + validity);
    if (ASN1_TIME_set(X509_getm_notBefore(x.get()), from) == nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(x.get()), until) == nullptr) {
        return nullptr;
    }
    X509_NAME* name = X509_get_subject_name(x.get());
    if ((!org.empty() && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                    reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                   -1, 0) != 1 ||
        X509_set_pubkey(x.get(), key) != 1) {
        return nullptr;
    }
    return x;
}

// A CA's certificate and key, checked to belong together and to be a CA; errc{} when they do.
errc read_issuer(const key_pair& ca, x509_ptr& cert, pkey_ptr& key) {
    cert = read_cert(ca.cert_pem);
    if (!cert) {
        return errc::bad_certificate;
    }
    key = read_key(ca.key_pem);
    if (!key) {
        return errc::bad_key;
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        return errc::key_mismatch;
    }
    return X509_check_ca(cert.get()) == 0 ? errc::not_a_ca : errc{};
}

// OpenSSL leaves the reasons of failed calls on the thread's error queue, where another user
// of OpenSSL on the thread (cpprestsdk's TLS) would find them: each entry point clears it.
struct clear_errors {
    ~clear_errors() { ERR_clear_error(); }
};

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    char out[INET6_ADDRSTRLEN] = {};
    const int len = ASN1_STRING_length(ip);
    const unsigned char* d = ASN1_STRING_get0_data(ip);
    if (len == 4) {
        inet_ntop(AF_INET, d, out, sizeof out);
    } else if (len == 16) {
        inet_ntop(AF_INET6, d, out, sizeof out);
    }
    return out;
}

} // namespace

result<key_pair> make_ca(const std::string& cn, time_point now, std::chrono::hours validity) {
    clear_errors guard;
    auto key = new_key();
    if (!key) {
        return errc::crypto_failure;
    }
    auto x = new_cert(key.get(), "tributary", cn, now, validity);
    if (!x || X509_set_issuer_name(x.get(), X509_get_subject_name(x.get())) != 1 ||
        !add_ext(x.get(), x.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(x.get(), x.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x.get(), x.get(), NID_subject_key_identifier, "hash") ||
        X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) {
        return errc::crypto_failure;
    }
    return pem_pair(key.get(), x.get());
}

result<key_pair> issue(const key_pair& ca, const leaf_request& req, time_point now, std::chrono::hours validity) {
    clear_errors guard;
    x509_ptr ca_cert;
    pkey_ptr ca_key;
    if (auto e = read_issuer(ca, ca_cert, ca_key); e != errc{}) {
        return e;
    }
    auto key = new_key();
    if (!key) {
        return errc::crypto_failure;
    }
    auto x = new_cert(key.get(), req.organization, req.common_name, now, validity);
    std::string san;
    auto name = [&](std::string_view kind, const std::string& value) {
        if (!san.empty()) {
            san.push_back(',');
        }
        san.append(kind).append(value);
    };
    for (const auto& d : req.dns_names) {
        name("DNS:", d);
    }
    for (const auto& ip : req.ip_addresses) {
        if (!is_ip_address(ip)) {
            return errc::crypto_failure;  // a caller's mistake; names must be put in dns_names
        }
        name("IP:", ip);
    }
    if (!x || X509_set_issuer_name(x.get(), X509_get_subject_name(ca_cert.get())) != 1 ||
        !add_ext(x.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x.get(), ca_cert.get(), NID_ext_key_usage, req.client_only ? "clientAuth" : "serverAuth,clientAuth") ||
        !add_ext(x.get(), ca_cert.get(), NID_subject_key_identifier, "hash") ||
        !add_ext(x.get(), ca_cert.get(), NID_authority_key_identifier, "keyid") ||
        (!san.empty() && !add_ext(x.get(), ca_cert.get(), NID_subject_alt_name, san)) ||
        X509_sign(x.get(), ca_key.get(), EVP_sha256()) <= 0) {
        return errc::crypto_failure;
    }
    return pem_pair(key.get(), x.get());
}

result<std::string> rollover(const key_pair& previous, const key_pair& next, time_point now) {
    clear_errors guard;
    x509_ptr previous_x;
    pkey_ptr old_key;
    if (auto e = read_issuer(previous, previous_x, old_key); e != errc{}) {
        return e;
    }
    auto next_x = read_cert(next.cert_pem);
    if (!next_x) {
        return errc::bad_certificate;
    }
    if (X509_check_ca(next_x.get()) == 0) {
        return errc::not_a_ca;
    }
    // The next CA's key and exact subject; valid until the previous CA expires.
    auto x = new_cert(X509_get0_pubkey(next_x.get()), "", "rollover", now, std::chrono::hours(1));
    if (!x || X509_set1_notAfter(x.get(), X509_get0_notAfter(previous_x.get())) != 1 ||
        X509_set_subject_name(x.get(), X509_get_subject_name(next_x.get())) != 1 ||
        X509_set_issuer_name(x.get(), X509_get_subject_name(previous_x.get())) != 1 ||
        !add_ext(x.get(), previous_x.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(x.get(), previous_x.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x.get(), previous_x.get(), NID_subject_key_identifier, "hash") ||
        !add_ext(x.get(), previous_x.get(), NID_authority_key_identifier, "keyid") ||
        X509_sign(x.get(), old_key.get(), EVP_sha256()) <= 0) {
        return errc::crypto_failure;
    }
    return cert_text(x.get());
}

bool is_ip_address(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

result<facts> inspect(const std::string& cert_pem) {
    clear_errors guard;
    auto x = read_cert(cert_pem);
    if (!x) {
        return errc::bad_certificate;
    }
    facts f;
    f.subject_cn = common_name(X509_get_subject_name(x.get()));
    f.issuer_cn = common_name(X509_get_issuer_name(x.get()));
    f.not_before = from_asn1(X509_get0_notBefore(x.get()));
    f.not_after = from_asn1(X509_get0_notAfter(x.get()));
    constraints_ptr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x.get(), NID_basic_constraints, nullptr, nullptr)));
    f.is_ca = bc && bc->ca;
    names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
        if (g->type == GEN_DNS) {
            const ASN1_STRING* s = g->d.dNSName;
            f.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                     size_t(ASN1_STRING_length(s)));
        } else if (g->type == GEN_IPADD) {
            f.ip_addresses.push_back(ip_text(g->d.iPAddress));
        }
    }
    bn_ptr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x.get()), nullptr));
    if (serial) {
        char* hex = BN_bn2hex(serial.get());
        f.serial_hex = hex ? hex : "";
        OPENSSL_free(hex);
    }
    return f;
}

result<void> verify(const std::string& cert_pem, const std::string& ca_cert_pem, time_point now, std::string* reason) {
    clear_errors guard;
    auto chain = read_certs(cert_pem);
    auto cas = read_certs(ca_cert_pem);
    if (chain.empty() || cas.empty()) {
        return errc::bad_certificate;
    }
    store_ptr store(X509_STORE_new());
    x509_stack_ptr untrusted(sk_X509_new_null());  // before ctx, which points to it
    store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!store || !ctx || !untrusted) {
        return errc::crypto_failure;
    }
    for (const auto& ca : cas) {
        if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
            return errc::crypto_failure;
        }
    }
    for (size_t i = 1; i < chain.size(); ++i) {
        if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) {  // borrowed: `chain` owns them
            return errc::crypto_failure;
        }
    }
    if (X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), untrusted.get()) != 1) {
        return errc::crypto_failure;
    }
    X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
    if (X509_verify_cert(ctx.get()) != 1) {
        if (reason != nullptr) {
            *reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
        }
        return errc::bad_certificate;
    }
    return success();
}

result<void> matches(const key_pair& kp) {
    clear_errors guard;
    auto x = read_cert(kp.cert_pem);
    if (!x) {
        return errc::bad_certificate;
    }
    auto k = read_key(kp.key_pem);
    if (!k) {
        return errc::bad_key;
    }
    return X509_check_private_key(x.get(), k.get()) == 1 ? success() : result<void>(errc::key_mismatch);
}

} // namespace trib::op::certs
