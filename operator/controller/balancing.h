#pragma once
// Balancing after scale-up (and on demand): the reconcile step "balance" runs the partition
// balancer (coordinator/client/balancer.h) over the cluster as the Kafka protocol reads it
// (balance_ops.h) and carries out its plan with partition reassignments, a bounded number at
// a time, then a preferred leader election so leadership follows.
//
// A run starts when brokers joined (an id the last run, or first look, did not cover;
// spec.balancing.onScaleUp, default true) or when the KafkaCluster has the annotation
// tributary.io/rebalance: "true" (removed by the operator as the run starts). Each pass of a
// run, with no reassignment in flight: plan again over the cluster as it is now; an empty
// plan ends the run (preferred leader election, status Balanced); otherwise start the first
// spec.balancing.maxMovesInFlight changes of the plan. While reassignments are in flight
// (ours, or anyone's) nothing is started: the pass looks again after the reconciler's wait
// interval. Nothing of a run lives only in memory: that a run is going is status.balance.state
// (Rebalancing), its moves are in the cluster (ListPartitionReassignments), and the plan is
// derived again at each step, so an operator restarted mid-run carries on where it was.
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
};

struct balance_decision {
    api::balance_status status;
    std::vector<coordinator::balancer::change> start;  // reassignments to start now
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
