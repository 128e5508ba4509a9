#pragma once
// Services, StatefulSets and PodDisruptionBudgets of a KafkaCluster: the generalisation of
// manifests/broker.yaml and manifests/coordinator.yaml (same probes, ports, securityContext,
// environment and volumes), one function per object, pure.
#include "operator/controller/objects.h"

#include <cstdint>
#include <string>

namespace trib::op::controller {

// C-coordinator / C-broker: headless, publishNotReadyAddresses, so pod DNS names resolve
// while pods start (brokers find the coordinator by its pod's name before it is ready).
json headless_service(const build_context& ctx, component c);
// C-bootstrap: ClusterIP over the ready brokers, one port per internal listener. nullopt when
// no listener is internal (a Service needs a port).
std::optional<json> bootstrap_service(const build_context& ctx);

// The coordinator StatefulSet running `replicas` pods; `config_hash` goes on the
// StatefulSet's annotations (not the pod template's: no restart on change). `restart_config`
// (when not empty) goes on the pod template (annotation tributary.io/restart-config,
// controller/roller.h): the config whose change the roller restarts pods for.
// `certificates` (internal TLS, controller/tls.h): the coordinators' certificate serials, on
// the pod template.
json coordinator_stateful_set(const build_context& ctx, int32_t replicas, const std::string& config_hash,
                              const std::string& restart_config = "", const std::string& certificates = "");
// The broker StatefulSet at `replicas` (what the reconciler decided, not necessarily the
// spec's: scale-down refused, brokers waiting for addresses).
// `certificates` (TLS listeners, controller/tls.h): the brokers' certificate serials, on the
// pod template too.
json broker_stateful_set(const build_context& ctx, int32_t replicas, const std::string& config_hash,
                         const std::string& restart_config = "", const std::string& certificates = "");

// C-broker / C-coordinator PDBs: maxUnavailable 1.
json pod_disruption_budget(const build_context& ctx, component c);

// NetworkPolicy C-broker / C-coordinator. The ports only the cluster itself uses are open to
// its own pods and the operator's (pods labelled app.kubernetes.io/name=tributary,
// app.kubernetes.io/component=operator, in any namespace): brokers' REPLICATION (9091: the
// inter-broker listener, trusted by the authorizer) to brokers and the operator; coordinators'
// CONTROLLER (9093) to brokers, coordinators and the operator. Client listeners and HTTP (9644:
// probes, Prometheus) are open to all. A CNI that enforces NetworkPolicies is needed for it to
// mean anything.
json network_policy(const build_context& ctx, component c);

} // namespace trib::op::controller
