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
//
// A broker that is not Running also shows how the broker container's last run ended, from the
// pod's containerStatuses: "exit code 1 (Error): <message>", where the message is what the
// broker wrote as its termination message (a failed log directory, a failed start-up:
// common/fatal.h) or, for other ends, the last line of its log (the StatefulSet asks the
// kubelet for FallbackToLogsOnError). Its restart count goes beside it. A broker container
// the kubelet holds back (CrashLoopBackOff) makes the cluster Degraded, reason
// BrokerCrashLooping, with those facts (reconciler.cc, observe).
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
// How `container`'s last run ended (its state if terminated, else its lastState):
// "exit code N (Reason): message", the message's last line (a program's own message is one
// line; the kubelet's fallback gives the log's last lines, and the last says why it stopped)
// and at most 512 bytes of it; empty when it has not ended yet.
std::string last_termination(const json& pod, const std::string& container);
std::string broker_state(const std::optional<json>& pod, const std::optional<probe_result>& probe, int32_t id);

api::broker_status observe_broker(const broker_observation& b, const std::optional<probe_result>& probe);

// One entry per spec listener. Internal listeners whose host doesn't use {podIP}: the
// bootstrap Service's DNS name; otherwise the Running brokers' addresses for it.
std::vector<api::listener_status> listener_statuses(const build_context& ctx,
                                                    const std::vector<api::broker_status>& brokers);

} // namespace trib::op::controller
