#pragma once
// Certificates for a KafkaCluster's TLS listeners (spec.listeners[].tls): a cluster CA the
// operator makes and renews (below), and a certificate per broker signed by it, renewed before
// it expires or when the names the broker is reached by change.
//
//   C-cluster-ca       Secret: ca.key, ca.crt  (the CA's key: the operator's alone), and
//                              while renewing ca-old.crt, ca-rollover.crt
//   C-cluster-ca-cert  Secret: ca.crt          (what clients trust: mount or copy it; a
//                                              bundle of the new and old CA while renewing)
//   C-broker-certs     Secret: <pod>.pem       (key, certificate, CA: the broker's PEM
//                                              keystore, ssl.keystore.location)
//
// decide_certificates is pure: the step reads the Secrets, asks it, writes what it says and
// records Events; the serials go on the broker pod template (certificate_serials), so a
// certificate issued again rolls the brokers like a config change.
#include "operator/certs/certificates.h"
#include "operator/controller/listeners.h"
#include "operator/controller/objects.h"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::op::controller {

std::string cluster_ca_secret_name(const std::string& cluster);       // C-cluster-ca
std::string cluster_ca_cert_secret_name(const std::string& cluster);  // C-cluster-ca-cert
std::string broker_certs_secret_name(const std::string& cluster);     // C-broker-certs
// The clients CA (listeners with `authentication: tls`, and KafkaUsers of type tls): a second
// CA, apart from the cluster CA, so a client certificate can never pass as a broker's.
//   C-clients-ca       Secret: ca.key, ca.crt  (the operator's alone: it signs users' certificates)
//   C-clients-ca-cert  Secret: ca.crt          (what the brokers trust on those listeners)
std::string clients_ca_secret_name(const std::string& cluster);       // C-clients-ca
std::string clients_ca_cert_secret_name(const std::string& cluster);  // C-clients-ca-cert
// Where the broker pods mount them (beside /etc/tributary, not in it: that is the read-only
// ConfigMap volume, where no mount point can be made), and a pod's keystore file.
inline constexpr const char* broker_certs_mount = "/etc/tributary-tls/broker";
inline constexpr const char* cluster_ca_mount = "/etc/tributary-tls/cluster-ca";
inline constexpr const char* clients_ca_mount = "/etc/tributary-tls/clients-ca";
std::string broker_keystore_key(const std::string& pod);  // "<pod>.pem"

// --- the cluster's internal listeners: REPLICATION and CONTROLLER with mutual TLS ---
// Every part of the cluster shows a certificate from the cluster CA and asks the other end for
// one: the brokers (C-broker-certs, as above), the coordinators (C-coordinator-certs, "<pod>.pem"
// per coordinator pod, mounted at coordinator_certs_mount) and the operator (C-operator-certs,
// under operator_keystore_key: the operator reads it from the API server at each pass, nothing
// mounts it; operator_cert_request). The subject names the kind of part, not the
// pod (O=tributary, CN=<cluster>-broker, -coordinator, -operator): the brokers' principal for a
// certificate is User:<its subject DN> (RFC 2253), so super.users names three principals
// (internal_super_users) whatever the cluster's size, and a scale needs no config change.
// Host names: a coordinator's certificate names the DNS names of controller.quorum.voters,
// which brokers and coordinators check; REPLICATION is advertised at the pod IP, which changes
// with every restart of a pod, so its certificate can't name it for long: peers on
// REPLICATION, and the operator (which dials pod IPs) check the chain, not the name.
std::string coordinator_certs_secret_name(const std::string& cluster);  // C-coordinator-certs
std::string operator_certs_secret_name(const std::string& cluster);     // C-operator-certs
std::string operator_keystore_key(const std::string& cluster);          // "<cluster>-operator.pem"
inline constexpr const char* coordinator_certs_mount = "/etc/tributary-tls/coordinator";
// The subject's common name of `c`'s certificates (<cluster>-broker, <cluster>-coordinator),
// and of the operator's (<cluster>-operator).
std::string internal_common_name(const std::string& cluster, component c);
std::string operator_common_name(const std::string& cluster);
// "User:CN=<cn>,O=tributary", the principal of a certificate with that common name.
std::string internal_principal(const std::string& common_name);
// super.users for the cluster's own traffic: the brokers', coordinators' and operator's
// principals, ';'-separated.
std::string internal_super_users(const std::string& cluster);
// The names coordinator `ordinal` is reached by: its pod DNS name as controller.quorum.voters
// has it, and the shorter forms within the namespace.
certs::leaf_request coordinator_cert_names(const build_context& ctx, int32_t ordinal);
// The operator's own client certificate for a cluster: no names, client auth alone (it
// serves nothing).
certs::leaf_request operator_cert_request(const std::string& cluster);

bool any_tls_listener(const api::kafka_cluster_spec& spec);
// A listener with `authentication: tls`: the cluster needs the clients CA.
bool any_tls_authentication(const api::kafka_cluster_spec& spec);

// How long what the operator makes is valid, and how early it is renewed. The CAs' own
// validity and renewal window are the spec's (spec.certificateAuthority, ca_settings_of).
inline constexpr std::chrono::hours ca_validity{24 * 365 * 5};
inline constexpr std::chrono::hours broker_cert_validity{24 * 365};
inline constexpr std::chrono::hours renew_before{24 * 30};

// --- renewing a CA ---
// A CA within its renewal window (or whose CA Secret carries force_renew_annotation "true") is
// replaced by a new one with a new key, and trust carries over:
//   1. A new CA key and certificate (the same subject) go into the CA Secret as ca.key/ca.crt;
//      the previous certificate stays as ca-old.crt, and ca-rollover.crt certifies the new key
//      under the previous one (certs::rollover). The -cert Secret's ca.crt is the bundle: the
//      new certificate, then the previous one.
//   2. Every certificate is issued again under the new CA (renewal_reason: not valid under
//      it), its chain carrying the rollover certificate: a peer that trusts only the previous
//      CA still accepts it, a peer with the bundle or the new CA alone too. Brokers' certificate
//      serials change, so the roller restarts them one at a time (keeping min ISR); KafkaUser
//      Secrets get theirs on the user's next pass. The brokers' truststores (the clients CA on
//      listeners with tls authentication) are mounted Secret files the brokers reload when they
//      change (tributary.ssl.reload.interval.ms): the bundle needs no restart.
//   3. Once every certificate is under the new CA, and for the cluster CA every broker runs
//      its new one (the pods' certificates_annotation), ca-old.crt and ca-rollover.crt are
//      removed: the bundle is the new CA alone. Clients that still trust only the previous CA
//      keep working through the rollover certificate in the chains until the previous CA
//      expires; they must take the new ca.crt before then.
// Each step follows from what the Secrets and pods hold, so an operator restarted mid-way
// carries on where it was.
inline constexpr const char* force_renew_annotation = "tributary.io/force-renew";
inline constexpr const char* ca_old_cert_key = "ca-old.crt";
inline constexpr const char* ca_rollover_key = "ca-rollover.crt";

struct ca_settings {
    std::chrono::hours validity = ca_validity;
    std::chrono::hours renewal = renew_before;  // renewed this long before it expires
};
ca_settings ca_settings_of(const api::kafka_cluster_spec& spec);

// What a CA Secret holds besides ca.key and ca.crt.
struct ca_held {
    std::string old_cert;  // ca-old.crt: the CA being replaced ("" when not renewing)
    std::string rollover;  // ca-rollover.crt
    bool force_renew = false;  // annotation force_renew_annotation is "true"
};

// A renewal's state after the pass.
struct ca_renewal {
    std::string old_cert, rollover;  // while renewing
    std::string started;             // why a renewal started in this pass ("" when none did)
    bool finished = false;           // the previous CA left the bundle in this pass
    bool clear_force_renew = false;  // remove the annotation (acted on, or a renewal was already on)
    certs::time_point old_not_after;
    bool renewing() const { return !old_cert.empty(); }
    const char* phase() const { return renewing() ? "Renewing" : "Valid"; }
};
// The -cert Secret's ca.crt: the CA's certificate, then the previous one while renewing.
std::string ca_bundle(const certs::key_pair& ca, const ca_renewal& r);
// What follows a certificate issued under `ca` in its chain: the rollover certificate while
// renewing, else the CA's certificate.
std::string ca_chain(const certs::key_pair& ca, const ca_renewal& r);
// The CA Secret's data.
std::map<std::string, std::string> ca_secret_data(const certs::key_pair& ca, const ca_renewal& r);

// The names broker `ordinal` is reached by over TLS (its subject: internal_common_name; a
// certificate issued with the pod's name as its common name, before the internal listeners
// had TLS, is kept until it is renewed: only clusters with internal TLS need the kind's name,
// and they are made with it): its pod DNS names (short and with the
// cluster domain), the bootstrap Service's names, and the advertised host of every TLS
// listener when it is fixed (a DNS name or an IP; a host taken from the pod or node at run
// time, {podIP} or {nodeIP}, can't be named in advance: clients of such a listener must not
// check the host name).
certs::leaf_request broker_cert_names(const build_context& ctx, int32_t ordinal,
                                      const std::vector<advertised_endpoint>& endpoints);

// Whether a certificate names exactly `want`'s DNS names and IP addresses (in any order).
bool names_match(const certs::facts& f, const certs::leaf_request& want);

// Why `pem` (key and certificate, as a keystore file holds them) must be issued again under
// `ca` (`ca_name` in the reason), or "" when it may stay: unusable, key not the certificate's,
// not valid under the CA, expiring within renew_before, names other than `want`'s. Brokers'
// and users' certificates (users.h).
std::string renewal_reason(const std::string& pem, const certs::key_pair& ca, const certs::leaf_request& want,
                           certs::time_point now, const std::string& ca_name = "the cluster CA");

struct certificate_facts {
    std::optional<certs::key_pair> ca;           // C-cluster-ca's ca.key and ca.crt; nullopt: no Secret
    std::map<std::string, std::string> brokers;  // C-broker-certs' data: "<pod>.pem" -> text
    std::map<std::string, certs::leaf_request> wanted;  // pod -> the names it needs
    certs::time_point now;
    bool want_clients_ca = false;               // a listener has `authentication: tls`
    std::optional<certs::key_pair> clients_ca;  // C-clients-ca's; nullopt: no Secret
    ca_settings settings;
    ca_held ca_more, clients_ca_more;  // the rest of the CA Secrets
    // Every broker pod that exists -> its certificates_annotation; nullopt: not known.
    std::optional<std::map<std::string, std::string>> running;
    // The broker pod template's certificates_annotation as the StatefulSet has it now
    // (nullopt: no StatefulSet yet), and the broker pods that exist (broker_serials).
    std::optional<std::string> broker_template;
    std::set<std::string> broker_pods;
    // user.crt of every KafkaUser Secret of the cluster that has one; nullopt: not known.
    std::optional<std::vector<std::string>> user_certs;
    // The internal listeners' (above): C-coordinator-certs' data, the names each coordinator
    // pod needs (empty: the cluster's internal listeners are plaintext, nothing is issued), and
    // every coordinator pod that exists -> its certificates_annotation.
    std::map<std::string, std::string> coordinators;
    std::map<std::string, certs::leaf_request> wanted_coordinators;
    std::optional<std::map<std::string, std::string>> running_coordinators;
    // The operator's own (internal listeners): C-operator-certs' data, and what it needs
    // (operator_common_name -> operator_cert_request; empty: plaintext, nothing is issued).
    // Nothing to roll: the operator uses a certificate from the pass that issued it.
    std::map<std::string, std::string> operator_held;
    std::map<std::string, certs::leaf_request> wanted_operator;
    // spec.certificateAuthority.certManager: cert-manager issues the cluster's certificates
    // (cert_manager.h). The plan then makes no cluster CA and issues nothing; it keeps the
    // clients CA alone.
    bool by_cert_manager = false;
};

struct certificate_plan {
    // Set when the CA Secret exists but can't be used (bad PEM, key not the certificate's,
    // not a CA): nothing is issued; the condition says why. The operator never replaces a CA
    // it can't read: clients trust it.
    std::optional<std::string> invalid;
    certs::key_pair ca;
    bool ca_created = false;
    std::map<std::string, std::string> brokers;  // C-broker-certs' data as it should be
    std::string broker_serials;                  // the broker pod template's (broker_serials)
    std::vector<std::string> issued;             // "<pod> (<why>)", brokers', coordinators' and the operator's
    std::map<std::string, std::string> coordinators;  // C-coordinator-certs' data as it should be
    std::map<std::string, std::string> operator_keystores;  // C-operator-certs' data as it should be
    certs::time_point ca_not_after;
    ca_renewal renewal;
    // The clients CA when wanted: the same rules (made once, renewed as above; clients_invalid
    // says why a Secret that exists can't be used, and then nothing is issued either).
    std::optional<std::string> clients_invalid;
    std::optional<certs::key_pair> clients_ca;
    bool clients_ca_created = false;
    certs::time_point clients_ca_not_after;
    ca_renewal clients_renewal;
};

// Throws only when OpenSSL fails to make a key or sign (the step fails and is retried).
certificate_plan decide_certificates(const certificate_facts& f);

// "<pod>=<serial>,..." of the brokers' certificates (C-broker-certs' data), for the broker
// pod template's annotation certificates_annotation: a certificate issued again changes the
// template, and the roll restarts the brokers one at a time to load it.
std::string certificate_serials(const std::map<std::string, std::string>& brokers);
inline constexpr const char* certificates_annotation = "tributary.io/certificates";

// The brokers' share of the broker pod template's certificates_annotation: certificate_serials,
// but without the certificate of a broker pod that does not exist yet, issued for it as it is
// added. A scale-up then leaves the template as it is, and the running brokers keep running (they
// have nothing new to load: their own keystores and the CA are as they were). Such a certificate
// joins the annotation the first time it changes, or once it changes while its pod exists,
// which rolls every broker like any certificate issued again. Its pod, made after it was
// written, runs it from the start. `template_now`: the annotation on the StatefulSet's template
// now (nullopt: no StatefulSet yet, nothing runs: every certificate is in); `held` and `keystores`:
// C-broker-certs before and after this pass; `pods`: the broker pods that exist.
std::string broker_serials(const std::optional<std::string>& template_now, const std::map<std::string, std::string>& held,
                           const std::map<std::string, std::string>& keystores, const std::set<std::string>& pods);

} // namespace trib::op::controller
