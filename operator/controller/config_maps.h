#pragma once
// The ConfigMaps the brokers and coordinators read their settings from, as Kafka property
// files. Each pod's command names two files: the component's shared file and its own
// "<pod>.properties" (later files override earlier ones), so what differs per pod (node.id,
// advertised.listeners, broker.rack) lives in one key per pod and the rest once.
//
// Values that only the pod knows use the broker's ${env:NAME} expansion of its environment
// (POD_NAME, POD_IP, HOST_IP come from the downward API): listeners bind the pod IP (the
// test platform runs pods on a shared loopback network, and a real pod has one interface).
#include "operator/controller/listeners.h"

#include <string>
#include <vector>

namespace trib::op::controller {

// Where brokers and coordinators keep data inside the pod (the claim is mounted at
// /var/lib/tributary) and where the ConfigMap is mounted.
inline constexpr const char* data_mount = "/var/lib/tributary";
inline constexpr const char* config_mount = "/etc/tributary";
inline constexpr const char* broker_shared_file = "broker.properties";
inline constexpr const char* coordinator_shared_file = "coordinator.properties";

// One broker pod's own settings.
struct broker_pod_config {
    int32_t ordinal = 0;
    std::vector<advertised_endpoint> endpoints;  // complete (resolve_endpoints had nothing to wait for)
    std::string rack;                            // "" while unknown or without spec.brokers.rack
    // The rack is the pod's own copy of its node's label (pod_label_rack_keys), read by the
    // broker from $BROKER_RACK at start; `rack` is then not written.
    bool rack_from_pod_label = false;
};

// Node labels the API server copies onto a pod when it binds it to a node (the
// PodTopologyLabelsAdmission plugin, on by default since Kubernetes 1.35), so a broker can
// read its rack through the downward API at its very first start.
bool rack_key_copied_to_pods(const std::string& topology_key);
// The env var the broker container gets that label in.
inline constexpr const char* rack_env = "BROKER_RACK";

// controller.quorum.voters for `voters` coordinators: 1000@C-coordinator-0.C-coordinator.N.svc.<domain>:9093,...
std::string quorum_voters(const build_context& ctx, int32_t voters);
// The same for the coordinators of these ids (1000 + ordinal), in the order given.
std::string quorum_voters(const build_context& ctx, const std::vector<int32_t>& ids);

// `text` (a shared properties file) with its controller.quorum.voters line as a lone seed
// would have it (quorum_voters(ctx, 1)). The line follows the voter set (controller/quorum.h),
// which only matters to a coordinator's new log, or to a broker's first contact: pods need no
// restart for it, so it is kept out of what drives rolls (the config hash and the pod
// template's restart-config). The seed's form, not no line, so that a cluster made by an
// operator version before the quorum step (one coordinator) sees no change and no roll.
std::string with_seed_quorum_voters(const build_context& ctx, const std::string& text);

std::string broker_shared_properties(const build_context& ctx, int32_t voters);
std::string broker_pod_properties(const broker_pod_config& pod);
// The broker.rack a pod file written by broker_pod_properties gives ("" without one): a pod
// between two lives (deleted, not yet scheduled again) keeps the rack it had.
std::string rack_in_pod_properties(const std::string& text);
// C-broker-config: broker.properties and one C-broker-<ordinal>.properties per entry of `pods`.
json broker_config_map(const build_context& ctx, int32_t voters, const std::vector<broker_pod_config>& pods);

std::string coordinator_shared_properties(const build_context& ctx, int32_t voters);
std::string coordinator_shared_properties(const build_context& ctx, const std::vector<int32_t>& voter_ids);
std::string coordinator_pod_properties(int32_t ordinal);
// C-coordinator-config: coordinator.properties and C-coordinator-<ordinal>.properties for
// ordinals below `pods`. controller.quorum.voters names `voter_ids` (empty: ordinals below
// `pods`): the voter set last read, so that a wiped coordinator never seeds a log of its own
// (with several voters named it can't elect itself, and follows the leader).
json coordinator_config_map(const build_context& ctx, int32_t pods, const std::vector<int32_t>& voter_ids = {});
// A ConfigMap's data as it counts for the config hash: the shared file `shared_key` through
// with_seed_quorum_voters.
json data_for_hash(const build_context& ctx, const json& data, const char* shared_key);

} // namespace trib::op::controller
