#pragma once
// One reconcile pass of a KafkaUser (issue 17), in order:
//
//   read (GET, not the cache: status.credentialSecretUid must be the last pass's) →
//   validate → cluster (the KafkaCluster of its tributary.io/cluster label, in the cache) →
//   ready brokers (their REPLICATION addresses) → finalizer → clients CA (tls users) →
//   what the cluster has (ACLs of the principal, the SCRAM credential) → decide (users.h) →
//   Secret (server-side apply) → SCRAM credential → ACLs   (then: status)
//
// Status: observedGeneration, username, secret, credentialSecretUid and the condition Ready:
// True (reason Ready), or False with reason InvalidSpec, ClusterNotFound, ClusterNotReady
// (no ready broker), ClientsCaMissing / ClientsCaInvalid (tls user), SecretConflict, or
// KafkaError (the cluster refused or did not answer; the message says what). The pass looks
// again after the wait interval while the cluster is not ready or a call failed; an invalid
// spec or a missing cluster waits for a change (a KafkaCluster's events queue its users).
//
// Deletion: the finalizer tributary.io/user-cleanup holds the KafkaUser until its principal's
// ACLs and its SCRAM credential are deleted from the cluster; when the KafkaCluster is gone
// (or going) there is nothing to clean and the finalizer is dropped. The finalizer is added
// once the cluster has a ready broker: before, nothing was made there. After, a deletion
// waits while the cluster has no ready broker (the ACLs would outlive the user). The Secret goes by
// garbage collection (owner reference).
#include "operator/controller/reconciler.h"
#include "operator/controller/user_ops.h"
#include "operator/k8s/api.h"
#include "operator/k8s/clock.h"
#include "operator/kafka/security.h"

#include <chrono>
#include <string>

namespace trib::op::controller {

struct user_reconciler_options {
    std::chrono::milliseconds wait_interval{5000};
    const k8s::clock* clock = nullptr;  // null: the system clock
    user_ops* ops = nullptr;            // required
    // The operator's TLS towards each cluster (kafka/security.h), which the KafkaCluster's
    // passes record; null: plaintext.
    const kafka::tls_registry* tls = nullptr;
};

class user_reconciler {
public:
    user_reconciler(k8s::api& api, const k8s::reader& cache, k8s::event_recorder& events,
                    user_reconciler_options opts);

    reconcile_result reconcile_user(const std::string& ns, const std::string& name);

    // The ready brokers' REPLICATION addresses of cluster `cluster` as the cache shows them
    // ("podIP:9091"), in ordinal order.
    static std::vector<std::string> ready_brokers(const k8s::reader& cache, const std::string& ns,
                                                  const std::string& cluster);

private:
    k8s::api& _api;
    const k8s::reader& _cache;
    k8s::event_recorder& _events;
    user_reconciler_options _opts;
};

} // namespace trib::op::controller
