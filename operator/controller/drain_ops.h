#pragma once
// What the scale-down step asks of the running cluster (issue 16): the cluster's own drain
// (DrainBrokers, Tributary's key 10200: drain, undrain, describe; coordinator/README.md
// "Drain") and UnregisterBroker (Kafka's 64). Injected into the reconciler like
// cluster_probe.h, so the scaler runs in unit tests against a fake; the operator's
// implementation (make_kafka_drain_ops) goes through kafka/admin_session.h to the brokers'
// REPLICATION listeners, which forward to the active controller.
//
// The drain state lives in the metadata log, so nothing here keeps state: every pass asks
// again, and a drain resumes across operator restarts and coordinator failovers.
#include "operator/kafka/admin_session.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trib::op::controller {

// One broker as DrainBrokers describes it.
struct drain_state {
    int32_t id = 0;
    bool drained = false;
    int32_t replicas = 0;         // partitions with a replica still on it
    int32_t leaders = 0;          // partitions it still leads
    int32_t moves_in_flight = 0;  // reassignments under way taking a replica off it
    std::vector<std::string> stuck;  // partitions that cannot move now, each with the reason

    bool empty() const { return replicas == 0 && leaders == 0; }
};

enum class drain_outcome {
    ok,
    refused,         // the controller said no (INVALID_REQUEST): `message` says why
    not_registered,  // BROKER_ID_NOT_REGISTERED: the id has no registration (and no drain flag)
    unavailable,     // no broker answered, or no active controller now: try again later
};

struct drain_answer {
    drain_outcome outcome = drain_outcome::unavailable;
    std::string message;
    // ok, for DrainBrokers: the brokers named and every drained one, with what they hold.
    std::vector<drain_state> brokers;
};

class drain_ops {
public:
    virtual ~drain_ops() = default;
    // `bootstrap`: "host:port,host:port" of ready brokers' REPLICATION listeners, tried in
    // order until one answers. Must not throw.
    virtual drain_answer describe(const std::string& bootstrap) = 0;  // every drained broker
    // Drains the brokers named together (the controller checks, for all of them at once, that
    // every partition still fits at its replication factor on the brokers that remain).
    virtual drain_answer drain(const std::string& bootstrap, const std::vector<int32_t>& ids) = 0;
    virtual drain_answer undrain(const std::string& bootstrap, int32_t id) = 0;
    virtual drain_answer unregister(const std::string& bootstrap, int32_t id) = 0;
};

// Over a blocking admin session (one per reconcile worker: not thread-safe).
std::unique_ptr<drain_ops> make_kafka_drain_ops(kafka::session_options options = {});

} // namespace trib::op::controller
