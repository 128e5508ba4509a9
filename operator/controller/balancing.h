#pragma once
// Balancing after scale-up (and on demand): the reconcile step "balance" runs the partition
// balancer (coordinator/client/balancer.h) over the cluster as the Kafka protocol reads it
// (balance_ops.h) and carries out its plan with partition reassignments, a bounded number at
// a time, then a preferred leader election so leadership follows.
//
// A run starts when brokers joined (an id the last run, or first look, did not cover;
// spec.balancing.onScaleUp, default true) or when the KafkaCluster has the annotation
// tributary.io/rebalance: "true" (removed by the operator as the run starts). A run plans
// once, at its start, and carries that plan out: each pass with no reassignment in flight
// starts the next spec.balancing.maxMovesInFlight changes of it that still apply (the
// partition's replicas are still the plan's "from", its new brokers are still there and not
// leaving). Re-planning after every batch would not do: the planner is greedy, and its plan
// over a partly moved cluster is not the rest of the last one, so a run re-planned each time
// can move partitions back and forth without end (a unit test shows it). When the plan is
// used up, the run plans again, for replica and leader counts only (bytes move with the
// traffic; a run evens them out once, in its first plan): an empty plan ends it (preferred
// leader election, status Balanced); otherwise a new round starts (changes were dropped). While
// reassignments are in flight (ours, or anyone's) nothing is started: the pass looks again
// after the reconciler's wait interval. Nothing of a run lives only in memory: that a run is
// going is status.balance.state (Rebalancing), its moves are in the cluster
// (ListPartitionReassignments), and the rest of its plan is in the ConfigMap C-balance-plan
// (owned by the KafkaCluster, deleted when the run ends), so an operator restarted mid-run
// carries on the same plan.
//
// The condition Balanced: True when the plan is empty (reason Balanced); False with reason
// Rebalancing (a run, or reassignments someone else started, in flight), Unbalanced (the
// plan is not empty and no run was asked for), BalanceNotPossible (the balancer can't place
// the replicas, the controller refused every move, the plan does not converge, or the plan
// is empty and counts are still outside the tolerance: racks, under-replicated partitions).
// Events: RebalanceStarted, RebalanceFinished, BalanceNotPossible.
#include "coordinator/client/balancer.h"
#include "operator/api/kafka_cluster.h"
#include "operator/controller/balance_ops.h"
#include "operator/k8s/api.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

inline constexpr const char* rebalance_annotation = "tributary.io/rebalance";

// --- the decision (pure) ---

struct balance_facts {
    api::balancing_spec spec;
    std::optional<api::balance_status> before;  // status.balance as stored
    bool asked = false;                         // the annotation says "true"
    coordinator::balancer::input cluster;       // brokers and partitions now
    std::vector<partition_key> in_flight;
    std::string now;  // RFC 3339
    // The rest of the run's plan, as stored (read only during a run); nullopt: none stored.
    std::optional<std::vector<coordinator::balancer::change>> plan;
};

struct balance_decision {
    api::balance_status status;
    std::vector<coordinator::balancer::change> start;  // reassignments to start now
    // The rest of the plan to store: written before `start` goes out; empty: delete it.
    std::optional<std::vector<coordinator::balancer::change>> store_plan;
    std::string dropped;  // changes of the stored plan that no longer apply, and why (logged)
    bool elect_leaders = false;
    bool remove_annotation = false;
    bool look_again = false;  // a run goes on: come back after the wait interval
    // Balanced condition
    bool balanced = false;
    std::string reason, message;
    // Events to record: (type, reason, message)
    struct event {
        std::string type, reason, message;
    };
    std::vector<event> events;
};

balance_decision decide_balance(const balance_facts& f);

// The plan's ConfigMap: its name, and its data key's JSON ({"changes": [{"topic", "partition",
// "from", "to", "size"}]}) to and from changes. Bad JSON parses to nullopt with *why set.
std::string balance_plan_name(const std::string& cluster);  // C-balance-plan
inline constexpr const char* balance_plan_key = "plan.json";
std::string plan_to_json(const std::vector<coordinator::balancer::change>& changes);
std::optional<std::vector<coordinator::balancer::change>> plan_from_json(const std::string& text, std::string* why);

// --- the step ---

struct balance_step_input {
    const api::kafka_cluster& cluster;
    const web::json::value& object;      // the KafkaCluster as read (annotations, events)
    const web::json::value& old_status;  // status as stored
    bool brokers_running = false;        // every broker Running: only then is the cluster read
    std::string bootstrap;               // ready brokers' REPLICATION addresses
    balance_ops* ops = nullptr;          // null: no balancing (status.balance kept)
    k8s::api& api;
    k8s::event_recorder& events;
    std::chrono::system_clock::time_point now;
    // Drained brokers (scaler.h: scale-down, spec.brokers.drainedIds): the balancer counts them
    // as leaving, so it places nothing there and plans no move the controller would refuse.
    std::vector<int32_t> drained = {};
};

struct balance_step_output {
    std::optional<api::balance_status> status;  // status.balance to write
    std::optional<bool> balanced;               // the condition, when this pass decided it
    std::string reason, message;
    bool look_again = false;
};

// Runs the step: read, decide, remove the annotation, start moves or elect leaders, events.
// An API error removing the annotation is thrown (the reconciler's usual path).
balance_step_output balance_cluster(const balance_step_input& in);

} // namespace trib::op::controller
