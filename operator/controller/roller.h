#pragma once
// The rolling update's decisions, pure: which pods are outdated and why, whether a broker may
// stop now, which one, and which dynamic broker configs to change instead of restarting.
// The reconcile step (reconciler.cc, "roll") gathers the inputs from the cache and from the
// cluster (roll_ops.h) and carries the decision out; nothing here is kept between passes, so
// an operator restarted mid-roll derives the same state again from the objects.
//
// Outdated: a pod whose controller-revision-hash label differs from its StatefulSet's
// status.updateRevision (the StatefulSets use updateStrategy OnDelete, so a changed template
// restarts nothing until the roller deletes the pod). The template carries the config that
// needs a restart (annotation restart_config_annotation: the shared properties file without
// the dynamic broker keys), so a config change is a template change; a change of dynamic keys
// only is applied with IncrementalAlterConfigs and leaves the template as it is.
//
// A broker may stop when every pod is Ready, no partition is under-replicated (by a replica
// on one of the cluster's running brokers, which is catching up: a replica on a broker gone
// for good would be waited on forever), and for every
// partition whose in-sync set holds it, the set without it keeps min.insync.replicas. As
// Strimzi's KafkaRoller: a partition whose replica count is at most its min.insync.replicas
// can't stay writable through any restart and does not block; a partition already below its
// min.insync.replicas is reported, not waited on.
#include "operator/api/kafka_cluster.h"
#include "operator/controller/objects.h"
#include "operator/k8s/api.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

// On the pod template of both StatefulSets: the config whose change needs a restart.
inline constexpr const char* restart_config_annotation = "tributary.io/restart-config";
inline constexpr const char* revision_label = "controller-revision-hash";

// --- config ---
// key=value lines of a properties file (comments and blank lines skipped; the last wins).
std::map<std::string, std::string> parse_properties(const std::string& text);
// `text` without the lines whose key is dynamic (is_broker_dynamic_config): what a broker
// must restart to take.
std::string restart_properties(const std::string& text);
// Keys whose value differs between two properties files (added and removed ones included),
// sorted.
std::vector<std::string> changed_keys(const std::string& before, const std::string& after);

// The dynamic broker keys of spec.brokers.config.
std::map<std::string, std::string> dynamic_broker_config(const std::map<std::string, std::string>& spec_config);

// What to send as IncrementalAlterConfigs on the cluster default ("") broker resource.
struct dynamic_config_change {
    std::map<std::string, std::string> set;
    std::vector<std::string> remove;
    bool empty() const { return set.empty() && remove.empty(); }
};
// `want`: the spec's dynamic keys; `have`: the cluster's current dynamic defaults; `applied`:
// what this operator set before (status.dynamicBrokerConfig), whose keys it removes when the
// spec drops them (keys set by others, kafka-configs say, are left alone).
dynamic_config_change plan_dynamic_config(const std::map<std::string, std::string>& want,
                                          const std::map<std::string, std::string>& have,
                                          const std::map<std::string, std::string>& applied);

// --- pods ---
// Whether `pod` is outdated against `sts`; false while the StatefulSet has no updateRevision.
bool pod_outdated(const json& pod, const json& sts);
// Why: "image changed", "resources changed", "config changed: a, b", "; "-joined, or
// "pod template changed" when it is something else.
std::string restart_reason(const json& pod, const json& sts);

// One pod of a component as the roll sees it.
struct roll_member {
    int32_t ordinal = 0;
    int32_t node_id = 0;  // broker id, or coordinator id
    std::string pod;
    bool exists = false;
    bool ready = false;
    bool terminating = false;
    bool outdated = false;
    std::string reason;  // restart_reason when outdated
};

// --- cluster ---
struct partition_state {
    std::string topic;
    int32_t partition = 0;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int32_t min_isr = 1;
    std::string name() const { return topic + "-" + std::to_string(partition); }
};

struct quorum_state {
    int32_t leader_id = -1;
    int64_t high_watermark = 0;
    std::map<int32_t, int64_t> voter_log_end;  // by voter id
};

// Partitions whose in-sync set is below min.insync.replicas already (and could be above it).
std::vector<std::string> below_min_isr(const std::vector<partition_state>& partitions);
// Partitions that stopping `broker` would take below min.insync.replicas.
std::vector<std::string> would_go_below_min_isr(const std::vector<partition_state>& partitions, int32_t broker);

// --- decision ---
struct roll_decision {
    enum class kind { done, wait, restart, blocked };
    kind what = kind::done;
    int32_t ordinal = -1;  // restart: the pod to delete
    std::string message;   // wait / blocked: why; restart: the reason of the restart
};

// Brokers: `partitions` nullopt when the cluster could not be read.
roll_decision decide_broker_roll(const std::vector<roll_member>& members,
                                 const std::optional<std::vector<partition_state>>& partitions);
// Coordinators: one at a time, every voter caught up, the Raft leader last. `quorum` nullopt
// when it could not be read (a single coordinator then restarts anyway: nothing to keep).
roll_decision decide_coordinator_roll(const std::vector<roll_member>& members,
                                      const std::optional<quorum_state>& quorum);

// --- the step (reconciler.cc's "roll", after the StatefulSets) ---
class roll_ops;

struct roll_inputs {
    k8s::api& api;
    const k8s::reader& cache;
    k8s::event_recorder& events;
    roll_ops* ops;  // null: no cluster checks (unit tests without a cluster), no dynamic configs
    const build_context& ctx;
    const json& object;      // the KafkaCluster, for Events
    const json& old_status;  // as stored before this pass
    int32_t brokers = 0;     // broker pods that should exist
    int32_t voters = 0;      // coordinator pods that should exist
};

struct roll_outcome {
    std::optional<api::rolling_update_status> rolling;  // nullopt: nothing to roll
    std::map<std::string, std::string> dynamic_applied;  // status.dynamicBrokerConfig
    std::string waiting;  // Reconciling=True, reason RollingUpdate (or DynamicConfig), with this
    std::string waiting_reason;
};

// Applies the dynamic broker configs, then restarts at most one pod: coordinators first (the
// Raft leader last), then brokers. Deletes the pod (the StatefulSet recreates it with the
// new template); Events RollingRestart (a roll starts), BrokerRestarted / CoordinatorRestarted
// (each restart and its reason), RollingRestartBlocked, PartitionsBelowMinIsr (on change).
roll_outcome roll(const roll_inputs& in);

} // namespace trib::op::controller
