#pragma once
// The brokers and listeners parts of a KafkaCluster's status, from what the pass observed:
// pods (phase, readiness, addresses), the brokers the cluster lists as registered, and
// each broker's advertised endpoints. Pure.
//
// Broker states:
//   Pending       no pod yet, or the pod is not running (unscheduled, pulling, no IP)
//   Starting      running, not ready, not registered
//   Running       ready and registered (without a probe answer: ready, since /readyz means
//                 registered and serving)
//   Unregistered  ready, but the cluster does not list it
//   NotReady      registered, but its pod is not ready (restarting, failing probes)
//   Terminating   the pod is being deleted
//   Failed        the pod ended (phase Failed or Succeeded)
#include "operator/controller/cluster_probe.h"
#include "operator/controller/listeners.h"

#include <map>
#include <optional>

namespace trib::op::controller {

struct broker_observation {
    int32_t ordinal = 0;
    std::optional<json> pod;               // from the cache
    std::vector<advertised_endpoint> endpoints;  // empty while waiting for addresses
    std::string rack;
};

// Whether a pod's Ready condition is True.
bool pod_ready(const json& pod);
std::string broker_state(const std::optional<json>& pod, const std::optional<probe_result>& probe, int32_t id);

api::broker_status observe_broker(const broker_observation& b, const std::optional<probe_result>& probe);

// One entry per spec listener. Internal listeners whose host doesn't use {podIP}: the
// bootstrap Service's DNS name; otherwise the Running brokers' addresses for it.
std::vector<api::listener_status> listener_statuses(const build_context& ctx,
                                                    const std::vector<api::broker_status>& brokers);

} // namespace trib::op::controller
