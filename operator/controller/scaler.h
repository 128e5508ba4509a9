#pragma once
// Scale-down with drain (issue 16): which brokers to drain, when the broker StatefulSet may
// shrink, when a broker is unregistered, and what to undrain.
//
//   spec.brokers.replicas lowered from N to W: brokers W..N-1 (the highest ordinals, the
//   ones a StatefulSet removes) are drained through the cluster's own DrainBrokers; the
//   StatefulSet keeps N until every one of them holds no replica and no leadership, then
//   goes to W at once; each is unregistered (UnregisterBroker) once its pod is gone.
//   spec.brokers.drainedIds: brokers kept drained while their pods run empty (a StatefulSet
//   can't drop a middle ordinal); an id taken out of the list is undrained.
//   A drained broker below the spec's replicas and not in drainedIds is undrained: that is
//   how an id given back by a later scale-up (a fresh broker on the same id) takes replicas.
//
// Nothing is remembered between passes: the drain flags are in the metadata log and each
// pass asks the cluster again (describe), so a drain resumes after an operator restart or a
// coordinator failover. The previous status only spares repeating UnregisterBroker for ids
// already unregistered and keeps the Drained / Unregistered events to one per change.
#include "operator/api/kafka_cluster.h"
#include "operator/controller/drain_ops.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::op::controller {

// Status values of a broker in status.drains.
inline constexpr const char* drain_draining = "Draining";
inline constexpr const char* drain_drained = "Drained";
inline constexpr const char* drain_unregistered = "Unregistered";

struct scale_input {
    int32_t want = 0;       // spec.brokers.replicas
    int32_t current = 0;    // the broker StatefulSet's replicas now
    int32_t addressed = 0;  // brokers 0..addressed-1 have every address (scale-up limit)
    std::set<int32_t> keep_drained;        // spec.brokers.drainedIds
    bool rack_aware = false;               // spec.brokers.rack is set
    std::map<int32_t, std::string> racks;  // known racks by ordinal
    std::function<bool(int32_t)> has_pod;  // whether broker pod <ordinal> exists
    // status.drains of the last pass: the states seen before, and what status keeps while the
    // cluster can't be read.
    std::vector<api::drain_status> previous_drains;
};

struct scale_event {
    std::string type, reason, message;
};

struct scale_outcome {
    int32_t target = 0;  // the broker StatefulSet's replicas
    std::string blocked_reason, blocked_message;  // ScalingBlocked=True
    std::string waiting_reason, waiting_message;  // Reconciling=True
    std::vector<api::drain_status> drains;        // status.drains
    std::vector<scale_event> events;
};

// --- the pure decisions (scaler_test.cc) ---

// Brokers that must be drained: W..N-1 when scaling down, and drainedIds below W.
std::set<int32_t> brokers_to_drain(const scale_input& in);

// With racks: draining must not take the last broker out of a rack the cluster has now
// (partitions spread over racks would lose that spread). The message when it would, or "".
std::string rack_refusal(const scale_input& in, const std::set<int32_t>& drained_after);

// The StatefulSet's replicas, given what the cluster says: `empty` holds the ids known to
// hold nothing (drained and empty, or not registered at all).
int32_t target_replicas(const scale_input& in, const std::set<int32_t>& empty, bool cluster_known);

// --- one pass: the decisions above with the calls they need ---

// `ops` null or `bootstrap` empty: the cluster can't be asked; scaling down waits, scaling up
// goes on. Calls `ops` in order: describe, drain of each broker to drain not drained yet,
// undrain, unregister.
scale_outcome scale_brokers(const scale_input& in, drain_ops* ops, const std::string& bootstrap);

} // namespace trib::op::controller
