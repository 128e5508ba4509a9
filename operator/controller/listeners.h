#pragma once
// Where each broker is reached on each listener, and the per-broker Services that give
// nodeport and loadbalancer listeners their addresses.
//
// An address is a host template and a port. Templates use the CRD's tokens {podIP},
// {podName}, {nodeIP}, {id}; the broker's config gets them as ${env:POD_IP}, ${env:POD_NAME},
// ${env:HOST_IP} (the broker expands those from its environment, KIP-887 syntax) and the
// id itself; status gets them filled from the pod.
//
//   internal:     host advertisedHost or {podName}.C-broker.N.svc.<domain>, port the listener's
//   nodeport:     host advertisedHost or {nodeIP}, port the nodePort the API server gave the
//                 per-broker Service C-broker-<id>-<listener>
//   loadbalancer: host advertisedHost or that Service's status.loadBalancer.ingress[0] (ip or
//                 hostname), port the listener's
// Until a nodePort or ingress is known the broker's address isn't either: resolve_endpoints
// says what it waits for, and the reconciler does not start that broker yet.
#include "operator/controller/objects.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

struct advertised_endpoint {
    std::string listener;    // spec name, "plain"
    std::string kafka_name;  // "PLAIN"
    std::string host;        // template
    int32_t port = 0;
    bool tls = false;
};

// The Service with this name in the cluster's namespace, as the cache has it.
using service_lookup = std::function<std::optional<json>(const std::string& name)>;

struct broker_endpoints {
    std::vector<advertised_endpoint> listeners;  // spec order; complete when waiting_for is empty
    std::string waiting_for;                     // what is missing, for the condition message
};
broker_endpoints resolve_endpoints(const build_context& ctx, int32_t id, const service_lookup& services);

// The listener's security protocol in listener.security.protocol.map: SSL or PLAINTEXT, SASL_
// in front with SCRAM or OAuth authentication (tls authentication is SSL with client
// certificates).
std::string security_protocol(const api::listener_spec& l);

// The listener with `authentication: oauth` (at most one), or null; its JWKS ConfigMap is
// mounted in the broker pods at oauth_jwks_mount, the key as file oauth_jwks_file. The CA
// certificate of tlsTrustedCertificates (for a JWKS endpoint) is mounted at
// oauth_trusted_certificate_path.
const api::listener_spec* oauth_listener(const api::kafka_cluster_spec& spec);
inline constexpr const char* oauth_jwks_mount = "/etc/tributary-oauth";
inline constexpr const char* oauth_jwks_file = "jwks.json";
inline constexpr const char* oauth_trusted_mount = "/etc/tributary-oauth-trusted";
// <oauth_trusted_mount>/<secretName>/<certificate>: the names are in the broker's config, so a
// Secret named in their place changes the config hash and rolls the brokers.
std::string oauth_trusted_certificate_path(const api::trusted_certificate& t);

// The default host template of a listener (no advertisedHost), before any Service is read:
// "{podName}.C-broker.N.svc.<domain>", "{nodeIP}", or "" for loadbalancer (the ingress).
std::string default_host_template(const build_context& ctx, const api::listener_spec& l);

// A template as the broker config writes it: {podIP} → ${env:POD_IP}, {podName} →
// ${env:POD_NAME}, {nodeIP} → ${env:HOST_IP}, {id} → the id.
std::string host_for_config(const std::string& host_template, int32_t id);

// What the status knows of a broker's pod; empty fields are unknown.
struct pod_facts {
    std::string pod_name, pod_ip, node_ip;
};
// A template filled from the pod; nullopt while a token it uses is unknown.
std::optional<std::string> host_for_status(const std::string& host_template, int32_t id, const pod_facts& pod);

// Per-broker Services for broker `id`: one per nodeport or loadbalancer listener, selecting
// that broker's pod alone (statefulset.kubernetes.io/pod-name), externalTrafficPolicy Local
// so the node address advertised is the node that runs the pod.
std::vector<json> per_broker_services(const build_context& ctx, int32_t id);

} // namespace trib::op::controller
