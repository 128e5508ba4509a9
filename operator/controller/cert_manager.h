#pragma once
// The cluster's certificates issued by cert-manager (spec.certificateAuthority.certManager)
// instead of the operator's cluster CA (tls.h).
//
// Per pod that needs a certificate, a Certificate (cert-manager.io/v1) named after the pod, with
// the names tls.h's broker_cert_names gives, from the spec's issuer, into Secret <pod>-tls.
// cert-manager issues and renews it (renewBefore below); the operator never holds the CA's key.
// What the brokers mount is unchanged: the operator copies each Secret's tls.key and tls.crt
// into C-broker-certs as the pod's PEM keystore, once cert-manager says the Certificate is Ready
// and its certificate carries the names asked for; the serials on the pod template then roll a
// broker whose certificate changed (tls.h, certificate_serials). ca.crt of C-cluster-ca-cert is
// every CA the Secrets name, one each: a change of the issuer's CA is trusted on both sides
// while the brokers move over, and the old CA leaves once no Secret names it.
//
// Everything here is pure; the reconciler's certificates step reads and writes the objects.
#include "operator/api/kafka_cluster.h"
#include "operator/certs/certificates.h"
#include "operator/controller/objects.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

std::string cert_manager_secret_name(const std::string& pod);  // "<pod>-tls"

// How long cert-manager makes a broker certificate valid, and how early it renews it: as the
// operator's own (tls.h broker_cert_validity, renew_before).
inline constexpr const char* cert_manager_duration = "8760h";
inline constexpr const char* cert_manager_renew_before = "720h";

// The Certificate for `pod`, owned by the cluster (garbage-collected with it); its Secret carries
// the cluster's labels (secretTemplate).
json cert_manager_certificate(const build_context& ctx, component c, const std::string& pod,
                              const certs::leaf_request& names, const api::issuer_ref& issuer);

// What a pod's Certificate and Secret give: its keystore (tls.key then tls.crt, as the
// brokers read ssl.keystore.location) and the CA that Secret names; or why not yet.
struct cert_manager_issued {
    std::optional<std::string> keystore;
    std::string ca;       // ca.crt of the Secret ("" when the issuer gives none)
    std::string waiting;  // why there is no keystore yet: for the condition and Events
};
// `certificate` and `secret` as read from the API server (null: not found).
cert_manager_issued read_cert_manager_secret(const json* certificate, const json* secret,
                                             const certs::leaf_request& want, certs::time_point now);

// The trust bundle: each distinct CA certificate once, in the order given.
std::string ca_bundle_of(const std::vector<std::string>& cas);

// ca.crt of C-cluster-ca-cert: the CAs the Secrets named that keystores were taken from in this
// pass (`issued_cas`), then those of the `previous` bundle that a keystore still held verifies
// under (a broker not issued again yet, or being drained, keeps serving with its certificate).
std::string cert_manager_bundle(const std::vector<std::string>& issued_cas, const std::string& previous,
                                const std::map<std::string, std::string>& keystores, certs::time_point now);

} // namespace trib::op::controller
