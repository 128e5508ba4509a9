#pragma once
// What every desired object of a KafkaCluster shares: names, labels, owner reference,
// the inputs the builders take, and small helpers to write JSON objects readably.
//
// Names for cluster C (see operator/README.md): C-coordinator, C-broker (StatefulSets,
// headless Services, PDBs), C-coordinator-config, C-broker-config (ConfigMaps),
// C-bootstrap, C-broker-<id>-<listener> (per-broker Services); pods C-broker-<ordinal>.
#include "operator/api/kafka_cluster.h"

#include <cpprest/json.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace trib::op::controller {

using json = web::json::value;

// Settings of the operator the builders need (operator settings broker.image, cluster.domain).
struct operator_settings {
    std::string broker_image = "localhost/tributary-broker:0.1.0";
    std::string cluster_domain = "cluster.local";
    // NetworkPolicies that keep the REPLICATION and CONTROLLER ports to the cluster's own pods
    // and the operator's (workloads.h network_policy); off for an operator whose pods lack the
    // chart's labels.
    bool network_policies = true;
    // Mutual TLS on the internal listeners of clusters made from now on (internal.tls.enabled;
    // the reconciler decides per cluster: build_context::internal_tls).
    bool internal_tls = true;
};

// A cluster and the operator settings: the input every builder takes.
struct build_context {
    const api::kafka_cluster& cluster;
    operator_settings settings;
    // REPLICATION and CONTROLLER run with mutual TLS from the cluster CA (controller/tls.h);
    // false: PLAINTEXT, as clusters made before it keep them (the reconciler decides).
    bool internal_tls = false;

    const std::string& name() const { return cluster.name; }
    const std::string& ns() const { return cluster.ns; }
    const api::kafka_cluster_spec& spec() const { return cluster.spec; }
    // spec.image, else <repository of broker.image>:<spec.version>, else broker.image.
    std::string image() const;
};

enum class component { broker, coordinator };
std::string to_string(component c);

// --- names ---
std::string stateful_set_name(const std::string& cluster, component c);  // C-broker, C-coordinator
std::string headless_service_name(const std::string& cluster, component c);  // same as the StatefulSet
std::string config_map_name(const std::string& cluster, component c);   // C-broker-config
std::string bootstrap_service_name(const std::string& cluster);          // C-bootstrap
std::string pod_name(const std::string& cluster, component c, int32_t ordinal);
std::string per_broker_service_name(const std::string& cluster, int32_t id, const std::string& listener);
// The key of a pod's own file in its component's ConfigMap: "<pod>.properties".
std::string pod_file_key(const std::string& cluster, component c, int32_t ordinal);
// <pod>.<headless service>.<ns>.svc.<domain>: the pod's DNS name.
std::string pod_dns_name(const build_context& ctx, component c, int32_t ordinal);

// Broker id of the pod with this StatefulSet ordinal: the ordinal itself. Tied to the claim
// data-C-broker-<ordinal>, so a pod that comes back on its claim keeps its id; never reused
// for other data because scale-down is refused until drain exists.
int32_t broker_id(int32_t ordinal);
// Coordinator node id: 1000 + ordinal, apart from every broker id.
int32_t coordinator_id(int32_t ordinal);
constexpr int32_t coordinator_id_base = 1000;

// --- labels and metadata ---
// The selector labels of a component's pods: name, instance, component.
json selector_labels(const build_context& ctx, component c);
// "app.kubernetes.io/name=tributary,app.kubernetes.io/instance=C,app.kubernetes.io/component=broker"
std::string selector_string(const build_context& ctx, component c);
// Selector labels plus app.kubernetes.io/managed-by.
json labels(const build_context& ctx, component c);
// The ownerReferences entry pointing at the KafkaCluster (controller, blockOwnerDeletion).
json owner_reference(const api::kafka_cluster& cluster);
// metadata {name, namespace, labels, ownerReferences}.
json object_meta(const build_context& ctx, component c, const std::string& name);

// The Kafka-shaped cluster id (22 characters of base64url, as kafka-storage random-uuid
// prints) derived from namespace and name, so a KafkaCluster deleted and created again
// over kept claims finds brokers and metadata of the same cluster.
std::string cluster_id(const std::string& ns, const std::string& name);
// Hex SHA-256 of a ConfigMap's data (keys in order): recorded on the StatefulSet.
std::string data_hash(const json& data);

// Annotations on the StatefulSets: the hash of their whole ConfigMap. Not on the pod
// template: what needs a restart goes there instead (roller.h, restart_config_annotation),
// so a dynamic key or one pod's own file restarts nothing.
inline constexpr const char* broker_config_hash_annotation = "tributary.io/broker-config-hash";
inline constexpr const char* coordinator_config_hash_annotation = "tributary.io/coordinator-config-hash";
// Labels of per-broker Services, to find them again (stale ones are deleted).
inline constexpr const char* broker_id_label = "tributary.io/broker-id";
inline constexpr const char* listener_label = "tributary.io/listener";

// --- JSON helpers ---
json obj(std::initializer_list<std::pair<std::string, json>> fields);
json arr(std::vector<json> items);
json str(const std::string& s);
json num(int64_t n);
// obj.a.b.c as a string / integer, or the fallback when a step is missing or of another type.
std::string string_at(const json& obj, std::initializer_list<const char*> path, const std::string& fallback = "");
int64_t int_at(const json& obj, std::initializer_list<const char*> path, int64_t fallback = 0);
const json* field_at(const json& obj, std::initializer_list<const char*> path);

} // namespace trib::op::controller
