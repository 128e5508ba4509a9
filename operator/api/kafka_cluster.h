#pragma once
// The KafkaCluster custom resource (tributary.io/v1alpha1) as C++ values.
//
// parse_kafka_cluster() reads the object the API server returns, applying the same defaults
// as the CRD schema (an object stored before a default existed, or a CRD installed without
// defaults, lacks them), and validate() repeats the schema's and CEL's rules so a spec that
// slipped past them (an old CRD, a hand-edited one) gives a readable reason instead of
// objects built from nonsense. The reconciler reports those reasons as the condition
// Degraded=True, reason InvalidSpec.
//
// Status goes the other way: to_json(kafka_cluster_status) is what the status subresource
// gets, with the conditions added by k8s/status.h.
#include <cpprest/json.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::api {

// Ports the operator keeps for itself on every broker (and the coordinator's): a user
// listener may not take them.
constexpr int32_t replication_port = 9091;  // the REPLICATION listener (operator, inter-broker)
constexpr int32_t coordinator_port = 9093;  // the coordinators' CONTROLLER listener
constexpr int32_t http_port = 9644;         // /healthz /readyz /metrics of every pod

struct storage_spec {
    std::string size;                          // a Kubernetes quantity, "10Gi"
    std::optional<std::string> storage_class;  // unset: the cluster's default StorageClass
    bool delete_claim = false;                 // remove the PVCs when the KafkaCluster goes
};

struct coordinators_spec {
    int32_t replicas = 1;
    storage_spec storage{"1Gi", std::nullopt, false};
    web::json::value resources = web::json::value::object();  // core/v1 ResourceRequirements
};

struct brokers_spec {
    int32_t replicas = 3;
    storage_spec storage{"10Gi", std::nullopt, false};
    web::json::value resources = web::json::value::object();
    std::optional<std::string> rack_topology_key;  // spec.brokers.rack.topologyKey
    // spec.brokers.drainedIds: brokers kept drained (no replica, no leadership) while their
    // pods run; controller/scaler.h.
    std::vector<int32_t> drained_ids;
    std::map<std::string, std::string> config;     // Kafka property names, sorted
};

enum class listener_type { internal, nodeport, loadbalancer };
std::string to_string(listener_type t);

// spec.listeners[].authentication.type: how clients of the listener prove who they are.
//   scram_sha_512: SASL SCRAM-SHA-512 (SASL_SSL with tls, else SASL_PLAINTEXT); principal
//                  User:<username> (KafkaUser credentials)
//   tls:           a client certificate signed by the clients CA (mTLS; needs tls: true);
//                  principal User:<the certificate's subject DN>, User:CN=<name> for KafkaUsers
//   oauth:         SASL OAUTHBEARER, a JWT signed by a key of the identity provider's JWKS,
//                  fetched by the brokers from its endpoint or kept by the user in a ConfigMap;
//                  principal User:<the user name claim>
enum class listener_auth { none, scram_sha_512, tls, oauth };
std::string to_string(listener_auth a);  // "", "scram-sha-512", "tls", "oauth"

// tlsTrustedCertificates[]: a CA certificate (PEM, one or more) in a Secret of the namespace.
struct trusted_certificate {
    std::string secret_name;
    std::string certificate;  // the Secret's key
};

// authentication: {type: oauth, ...}: how tokens are checked (the broker's sasl.oauthbearer.*).
// The keys come from exactly one of jwksEndpointUri and jwksConfigMap.
struct oauth_spec {
    std::optional<std::string> jwks_endpoint_uri;  // https:// or http://: the brokers fetch it
    std::optional<std::string> jwks_config_map;    // jwksConfigMap.name: a ConfigMap in the namespace
    std::string jwks_key = "jwks.json";            // jwksConfigMap.key
    // Strimzi's names, in seconds, onto the broker's sasl.oauthbearer.jwks.endpoint.* keys
    // (operator/README.md has the mapping); unset: the broker's defaults.
    std::optional<int32_t> jwks_refresh_seconds;            // .refresh.ms
    std::optional<int32_t> jwks_min_refresh_pause_seconds;  // .retry.backoff.ms (endpoint only)
    std::optional<int32_t> jwks_retry_backoff_max_seconds;  // .retry.backoff.max.ms (endpoint only)
    // The CAs the brokers trust for an https endpoint (empty: the system's CAs). One entry: the
    // broker takes one truststore file (several CAs go in one PEM bundle).
    std::vector<trusted_certificate> tls_trusted_certificates;
    std::optional<std::string> valid_issuer;  // the token's iss must be it
    std::vector<std::string> audience;        // the token's aud must hold one of them (empty: unchecked)
    std::string user_name_claim = "sub";      // the claim that names the principal
};

struct listener_spec {
    std::string name;  // lower case; the Kafka listener name is name upper-cased
    int32_t port = 9092;
    listener_type type = listener_type::internal;
    bool tls = false;
    std::optional<std::string> advertised_host;  // template: {podIP} {podName} {nodeIP} {id}
    listener_auth authentication = listener_auth::none;
    oauth_spec oauth;  // authentication oauth only

    // "PLAIN" for "plain": the name in listeners= and advertised.listeners=.
    std::string kafka_name() const;
};

// spec.balancing: the partition balancer run by the operator (controller/balancing.h).
struct balancing_spec {
    bool on_scale_up = true;          // run it when brokers join
    int32_t max_moves_in_flight = 10;  // partition reassignments started at a time, 1..1000
};

// spec.authorization: ACLs enforced on every client listener (the StandardAuthorizer's
// semantics); the REPLICATION listener (brokers, the operator) is trusted.
struct authorization_spec {
    std::vector<std::string> super_users;  // principals, "User:admin"
};

// spec.certificateAuthority.certManager.issuerRef: a cert-manager issuer (Issuer or
// ClusterIssuer of group cert-manager.io) that issues the cluster's own certificates instead of
// the operator's cluster CA (controller/cert_manager.h).
struct issuer_ref {
    std::string name;
    std::string kind = "Issuer";  // Issuer, ClusterIssuer
    std::string group = "cert-manager.io";
};

// spec.certificateAuthority: the validity of the CAs the operator makes for TLS listeners, and
// how many days before they expire they are renewed (controller/tls.h); or the cert-manager
// issuer that signs the cluster's certificates in place of the operator's cluster CA.
struct certificate_authority_spec {
    int32_t validity_days = 1825;
    int32_t renewal_days = 30;
    std::optional<issuer_ref> cert_manager;  // nullopt: the operator's own cluster CA
};

struct kafka_cluster_spec {
    std::optional<std::string> image;
    std::optional<std::string> version;
    coordinators_spec coordinators;
    brokers_spec brokers;
    std::vector<listener_spec> listeners;  // default: [{plain, 9092, internal}]
    bool metrics_enabled = true;
    balancing_spec balancing;
    std::optional<authorization_spec> authorization;  // nullopt: every principal may do everything
    certificate_authority_spec certificate_authority;
};

// The object: what the reconciler needs of its metadata, and its spec with defaults.
struct kafka_cluster {
    std::string name, ns, uid;
    int64_t generation = 0;
    bool deleting = false;                // metadata.deletionTimestamp is set
    std::vector<std::string> finalizers;  // metadata.finalizers
    kafka_cluster_spec spec;
};

// Reads a KafkaCluster object. Never throws on bad content: a field of the wrong JSON type
// is left at its default and named in `errors` (the same list validate() appends to).
kafka_cluster parse_kafka_cluster(const web::json::value& obj, std::vector<std::string>& errors);

// The rules of the CRD schema and its CEL, one readable message per broken rule (empty:
// valid).
std::vector<std::string> validate(const kafka_cluster_spec& spec);

// --- status ---

struct listener_address {
    std::string listener;  // the spec's listener name ("plain")
    std::string host;
    int32_t port = 0;
};

struct broker_status {
    int32_t id = 0;
    std::string pod;
    std::string state;  // see controller/broker_status.h
    std::string rack;
    std::vector<listener_address> addresses;
    int32_t restarts = 0;          // the broker container's restartCount
    std::string last_termination;  // not Running: how its last run ended (controller/broker_status.h)
    bool crash_looping = false;    // the kubelet waits to restart it again (CrashLoopBackOff); not stored
};

// A broker being drained, kept drained, or drained and unregistered (status.drains).
struct drain_status {
    int32_t id = 0;
    std::string state;  // Draining, Drained, Unregistered (controller/scaler.h)
    int32_t replicas = 0, leaders = 0, moves_in_flight = 0;
    std::vector<std::string> stuck;  // partitions that cannot move now, with the reason
};

// Reads status.drains as written by to_json (absent or malformed entries: left out).
std::vector<drain_status> parse_drains(const web::json::value& status);

struct listener_status {
    std::string name;
    std::string type;
    std::string bootstrap_servers;  // "host:port[,host:port]"
};

// status.balance: the operator's balancer run, re-derivable from it and the cluster.
struct balance_status {
    std::string state;  // Balanced, Unbalanced, Rebalancing, NotPossible
    int32_t moves_planned = 0;    // partition reassignments of the run: done + in flight + still planned
    int32_t moves_in_flight = 0;  // reassignments the cluster reported in flight at the last pass
    int32_t moves_done = 0;
    std::string last_balanced_time;  // RFC 3339, when a run last ended with an empty plan
    std::vector<int32_t> brokers;    // the brokers the balancer last covered: a new id is a join
    std::vector<std::string> in_flight;  // "topic-partition" moving at the last pass (at most 50)
    std::string message;
};

// Reads status.balance as written by to_json (absent or malformed: nullopt).
std::optional<balance_status> parse_balance_status(const web::json::value& status);

// A rolling update in progress (controller/roller.h): the component being rolled, its pods
// still to restart, the one restarting and why, what it waits for or what blocks it.
struct rolling_update_status {
    std::string component;  // "brokers" or "coordinators"
    std::vector<std::string> pending;  // outdated pods, in restart order
    std::string restarting;            // the pod deleted last (empty: none yet this roll)
    std::string reason;                // of that restart
    std::string message;               // waiting for / blocked by
    bool blocked = false;
    std::vector<std::string> partitions_below_min_isr;  // reported, not waited on
};

// The coordinators' metadata quorum as the quorum step last read it (controller/quorum.h):
// the voter set is also what controller.quorum.voters says in the coordinators' ConfigMap.
struct quorum_status {
    int32_t leader = -1;
    int32_t epoch = -1;
    std::vector<int32_t> voters;  // ids, sorted
    std::string change;   // the membership change asked last (in flight or just made); "" when none
    std::string message;  // why the quorum differs from the spec; "" when it is as asked
};

// status.certificateAuthority.cluster / .clients: a CA the operator keeps (controller/tls.h).
struct ca_status {
    std::string phase;  // Valid, Renewing
    std::string not_after;           // RFC 3339
    std::string previous_not_after;  // Renewing: the CA being replaced, still trusted
};

// Everything but the conditions, which k8s/status.h's set_condition writes into the JSON.
struct kafka_cluster_status {
    int64_t observed_generation = 0;
    int32_t replicas = 0;  // broker pods that exist
    std::string selector;  // label selector of the broker pods (scale subresource)
    std::string cluster_id;
    std::vector<broker_status> brokers;
    std::vector<listener_status> listeners;
    int32_t coordinator_replicas = 0;
    int32_t coordinators_ready = 0;
    std::optional<quorum_status> quorum;  // nullopt: not read (no cluster access)
    std::optional<balance_status> balance;
    std::optional<rolling_update_status> rolling_update;
    // The dynamic broker configs the operator set on the cluster (IncrementalAlterConfigs,
    // broker resource ""), so it can remove those the spec drops.
    std::map<std::string, std::string> dynamic_broker_config;
    std::vector<drain_status> drains;  // omitted when empty
    std::optional<ca_status> cluster_ca, clients_ca;  // TLS listeners (and tls authentication)
};

web::json::value to_json(const kafka_cluster_status& s);

} // namespace trib::op::api
