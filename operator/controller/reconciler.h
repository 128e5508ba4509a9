#pragma once
// One reconcile pass of a KafkaCluster: level-triggered, idempotent, a named ordered list of
// small steps (as Strimzi's KafkaReconciler, minus its size). Each step reads what it needs
// from the cache (k8s::reader), builds its desired objects with the pure builders and applies
// them (k8s::api, server-side apply); a step that must wait stops the pass. The status is
// written once, at the end of every pass, whether a step stopped it or not.
//
//   validate spec → finalizer → internal certificates → coordinator quorum → coordinator config →
//   coordinator services → coordinator statefulset → broker services → broker addresses →
//   certificates → broker config → broker statefulset → pod disruption budgets →
//   network policies → roll → observe → balance   (then: status)
//
// A KafkaCluster being deleted takes another path: with deleteClaim, the finalizer
// tributary.io/cleanup held it until its claims are deleted; the rest goes by garbage
// collection (owner references).
//
// Errors of the API server are thrown (k8s::api_error): the caller's work queue retries the
// key with back-off. The pass itself returns when to look again.
#include "operator/controller/balance_ops.h"
#include "operator/controller/cluster_probe.h"
#include "operator/controller/drain_ops.h"
#include "operator/controller/objects.h"
#include "operator/controller/quorum_ops.h"
#include "operator/k8s/api.h"
#include "operator/k8s/clock.h"
#include "operator/kafka/security.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

class roll_ops;

// What the work queue should do with the key after a pass.
struct reconcile_result {
    // nullopt: nothing to wait for; the next watch event or the periodic resync brings the
    // key back. A duration: look again after it (pods starting, addresses not assigned yet).
    std::optional<std::chrono::milliseconds> requeue_after;
};

struct reconciler_options {
    operator_settings settings;
    // How soon to look again while waiting for something that sends no event to the
    // KafkaCluster itself (pods becoming ready, a load balancer address).
    std::chrono::milliseconds wait_interval{5000};
    // Where conditions' lastTransitionTime comes from; null: the system clock.
    const k8s::clock* clock = nullptr;
    // The cluster side of the balance step (balancing.h); null: no balancing.
    balance_ops* balance = nullptr;
    // What the rolling update asks the cluster (controller/roll_ops.h); null: pods are rolled
    // without cluster checks and dynamic broker configs are not applied (unit tests).
    roll_ops* roll = nullptr;
    // Drain and unregister brokers to scale down (controller/scaler.h); null: scaling down
    // waits (Reconciling, WaitingForCluster).
    drain_ops* drains = nullptr;
    // The coordinators' voter set (controller/quorum.h); null: one coordinator, whatever
    // spec.coordinators.replicas says (unit tests without a cluster).
    quorum_ops* quorum = nullptr;
    // Internal TLS (kafka/security.h): where the pass records the operator's TLS towards each
    // cluster, and takes it from for its calls; null: the calls go plaintext (unit tests).
    kafka::tls_registry* tls = nullptr;
};

inline constexpr const char* cleanup_finalizer = "tributary.io/cleanup";

class reconciler {
public:
    // `probe` may be null (no probing: broker states come from pod readiness alone).
    reconciler(k8s::api& api, const k8s::reader& cache, k8s::event_recorder& events, cluster_probe* probe,
               reconciler_options opts);

    reconcile_result reconcile(const std::string& ns, const std::string& name);

    // The steps in order.
    static std::vector<std::string> step_names();
    // The steps the last pass ran (a stopped pass ran fewer), for logs and tests.
    const std::vector<std::string>& last_steps() const { return _last_steps; }

    struct pass;  // reconciler.cc: what one pass has seen and decided

private:
    reconcile_result clean_up(pass& p);
    void write_status(pass& p);

    k8s::api& _api;
    const k8s::reader& _cache;
    k8s::event_recorder& _events;
    cluster_probe* _probe;
    reconciler_options _opts;
    std::vector<std::string> _last_steps;
};

} // namespace trib::op::controller
