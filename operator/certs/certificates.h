#pragma once

// The certificates the operator makes for a cluster's TLS listeners (issue 17): a cluster CA
// (a self-signed certificate and its key) and, signed by it, a certificate per broker naming
// every address clients and brokers reach it by. PEM in and out, as Kafka's PEM keystores
// (`ssl.keystore.type=PEM`, 2.7+) and librdkafka take them: the key unencrypted PKCS#8
// ("BEGIN PRIVATE KEY"), an EC P-256 key (Kafka's PEM loader reads RSA, DSA and EC keys;
// P-256 keys are made in a millisecond, RSA-2048 keys in tens).
//
// Pure functions over OpenSSL's libcrypto: no files, no Kubernetes; the reconcile step that
// stores them in Secrets and rotates them decides when to call them.
#include "common/result.h"

#include <chrono>
#include <string>
#include <vector>

namespace trib::op::certs {

enum class errc {
    bad_certificate = 1,  // not a PEM X.509 certificate
    bad_key,              // not a PEM private key
    key_mismatch,         // the key is not the certificate's
    not_a_ca,             // the issuer given is not a CA certificate
    crypto_failure,       // OpenSSL failed making a key or signing
};
std::string errc_message(errc e);
TRIB_ERROR_CATEGORY(certs, errc, errc_message)

using time_point = std::chrono::system_clock::time_point;

// A private key and its certificate, PEM.
struct key_pair {
    std::string key_pem;
    std::string cert_pem;
};

// What a certificate says, for deciding about renewal and for status.
struct facts {
    std::string subject_cn;
    std::string issuer_cn;
    bool is_ca = false;
    time_point not_before;
    time_point not_after;
    std::vector<std::string> dns_names;     // subjectAltName DNS entries
    std::vector<std::string> ip_addresses;  // subjectAltName IP entries, dotted or RFC 5952 text
    std::string serial_hex;
};

// A self-signed CA valid from a few minutes before `now` (clock skew between machines) for
// `validity`.
result<key_pair> make_ca(const std::string& common_name, time_point now, std::chrono::hours validity);

struct leaf_request {
    std::string common_name;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
    // The subject is O=<organization>, CN=<common_name>; empty: CN alone (a KafkaUser's
    // certificate: the brokers' principal for it is User:<subject DN>, so User:CN=<name>).
    std::string organization = "tributary";
    // extendedKeyUsage clientAuth alone: a certificate that serves nothing (the operator's
    // own towards a cluster's internal listeners), so it can never pass as a server's.
    bool client_only = false;
};
// A certificate for TLS servers and clients (extendedKeyUsage serverAuth and clientAuth: a
// broker is both, to clients and to the brokers it fetches from; clientAuth alone with
// req.client_only) signed by `ca`, with a new
// key. Names that are IP addresses must be in ip_addresses (clients check them as IPs).
result<key_pair> issue(const key_pair& ca, const leaf_request& req, time_point now, std::chrono::hours validity);

// The rollover certificate of a CA renewal with a new key (RFC 4210's "new with old"): `next`'s
// key and subject, issued and signed by `previous`, valid as long as `previous`. `next` must
// have `previous`'s subject (make_ca with the same name): the certificate is then self-issued,
// which path length constraints don't count, so a certificate signed by `next` and sent with
// it verifies for peers that trust only `previous`, while peers trusting `next` stop at `next`.
result<std::string> rollover(const key_pair& previous, const key_pair& next, time_point now);

result<facts> inspect(const std::string& cert_pem);

// Whether `s` is an IPv4 or IPv6 address (a subjectAltName IP entry, not a DNS one).
bool is_ip_address(const std::string& s);

// Whether `cert_pem` (its first certificate; the ones after it are intermediates, such as a
// rollover certificate) chains to a certificate of `ca_cert_pem` (one or more, a bundle) and is
// valid at `now`; the reason when not (OpenSSL's verification message, e.g. "certificate has
// expired").
result<void> verify(const std::string& cert_pem, const std::string& ca_cert_pem, time_point now,
                    std::string* reason = nullptr);

// Whether `key_pem` is the private key of `cert_pem`.
result<void> matches(const key_pair& kp);

} // namespace trib::op::certs

TRIB_REGISTER_ERRC(trib::op::certs::errc)
