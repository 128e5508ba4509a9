#pragma once
// The cluster's certificates issued by cert-manager (spec.certificateAuthority.certManager)
// instead of the operator's cluster CA (tls.h).
//
// Per certificate the operator would otherwise issue itself (tls.h), a Certificate
// (cert-manager.io/v1) from the spec's issuer, with the same subject and names, into Secret
// <name>-tls: one per broker pod (broker_cert_names), and with internal TLS one per coordinator
// pod (coordinator_cert_names, the five there may ever be, as tls.h issues them) and the
// operator's (<cluster>-operator, operator_cert_request: client auth alone). cert-manager issues
// and renews them (renewBefore below); the operator never holds the CA's key.
// What the pods mount is unchanged: the operator copies each Secret's tls.key and tls.crt into
// C-broker-certs, C-coordinator-certs or C-operator-certs as the PEM keystore, once cert-manager
// says the Certificate is Ready and its certificate carries the names asked for; the serials on
// the pod templates then roll a pod whose certificate changed (tls.h, certificate_serials).
// ca.crt of C-cluster-ca-cert, the truststore of the internal listeners and of the operator, is
// every CA the Secrets name, one each: a change of the issuer's CA is trusted on both sides
// while the pods move over, and the old CA leaves once no keystore in service is under it.
//
// Everything here is pure; the reconciler's certificates step reads and writes the objects.
#include "operator/api/kafka_cluster.h"
#include "operator/certs/certificates.h"
#include "operator/controller/objects.h"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::op::controller {

std::string cert_manager_secret_name(const std::string& pod);  // "<pod>-tls"

// How long cert-manager makes a broker certificate valid, and how early it renews it: as the
// operator's own (tls.h broker_cert_validity, renew_before).
inline constexpr const char* cert_manager_duration = "8760h";
inline constexpr const char* cert_manager_renew_before = "720h";

// The Certificate named `pod` (a pod's, or the operator's), owned by the cluster (garbage-collected
// with it); its Secret carries the cluster's labels (secretTemplate). Server and client auth, or
// client auth alone for `names.client_only`.
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

// One Secret's keystores as cert-manager's Secrets make them (`got`: what read_cert_manager_secret
// gave for each wanted pod): a keystore taken where there is one, the one `held` kept otherwise
// (and for pods not wanted now: a broker being drained still serves with its own).
struct cert_manager_keystores {
    std::map<std::string, std::string> keystores;  // the Secret's data as it should be
    std::vector<std::string> cas;                  // ca.crt of each Secret a keystore came from
    std::vector<std::string> taken;                // pods whose keystore changed
    std::vector<std::string> waiting;              // "Certificate <pod>: <why>"
    bool missing = false;  // a pod waits with no keystore at all: it can't start yet
};
// A keystore is taken only under CAs every running pod already trusts (`trusted`, below): a
// pod that presented a certificate of a CA its peers have not loaded yet would be refused on
// REPLICATION and CONTROLLER. A pod that holds none yet takes it anyway (it has nothing to
// serve with, and the pods load the CA in this pass's roll).
cert_manager_keystores take_cert_manager_keystores(const std::map<std::string, cert_manager_issued>& got,
                                                   const std::map<std::string, std::string>& held,
                                                   const std::function<bool(const std::string& ca)>& trusted);

// Internal TLS: the CAs the pods trust go on their templates after the serials, so a CA new to
// ca.crt rolls them to load it before any keystore under it is taken (the pods would reload the
// mounted file, but only once the kubelet refreshes it and their reload interval passes, and
// nothing tells the operator when): ";trust=<serial>,<serial>" of the bundle's CAs, sorted.
std::string trust_annotation(const std::string& bundle);
// Whether every pod's certificates annotation (`running`: pod -> annotation) names each CA of
// `ca` (a PEM bundle) after trust=. No pods: true.
bool trusted_by_all(const std::string& ca, const std::map<std::string, std::string>& running);

// The trust bundle: each distinct CA certificate once, in the order given.
std::string ca_bundle_of(const std::vector<std::string>& cas);

// ca.crt of C-cluster-ca-cert: the CAs of the `previous` bundle that the Secrets read in this pass
// name (`issued_cas`) or that a keystore in service verifies under (`keystores`, the brokers'
// from serving_keystores: a broker not issued again yet, or being drained, keeps serving with
// its certificate), in their order; then the CAs of `issued_cas` new to it. The same CAs give
// the same text whatever order the Secrets come in.
std::string cert_manager_bundle(const std::vector<std::string>& issued_cas, const std::string& previous,
                                const std::map<std::string, std::string>& keystores, certs::time_point now);

// The brokers' keystores a CA of ca.crt stays for (cert_manager_bundle's `keystores`): those of
// pods that exist (`pods`; a broker being drained still serves) or are wanted now (`wanted`:
// one about to start). A broker scaled away keeps its keystore in C-broker-certs, so the pod
// template's serials stay as they are (broker_serials), but it serves no one: were its CA kept
// for it, a CA the user replaced would stay trusted on the internal listeners until that
// certificate expired.
std::map<std::string, std::string> serving_keystores(const std::map<std::string, std::string>& keystores,
                                                     const std::set<std::string>& pods,
                                                     const std::map<std::string, certs::leaf_request>& wanted);

} // namespace trib::op::controller
