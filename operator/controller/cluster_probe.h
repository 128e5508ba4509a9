#pragma once
// What the reconciler asks the running cluster: its id and which brokers are registered.
// Injected so reconcile steps run in unit tests without brokers; the operator's
// implementation is a Kafka-protocol client (operator/metrics) adapted to this interface in
// main.cc.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

struct probe_result {
    std::string cluster_id;
    // Brokers the cluster lists (Metadata's brokers: registered and not fenced).
    std::vector<int32_t> broker_ids;
};

class cluster_probe {
public:
    virtual ~cluster_probe() = default;
    // `bootstrap`: "host:port,host:port" of ready brokers' REPLICATION listeners. nullopt when
    // no broker answered in the implementation's timeout. Must not throw; it is called from
    // the reconcile pass, which should not wait long on it.
    virtual std::optional<probe_result> describe(const std::string& bootstrap) = 0;
};

} // namespace trib::op::controller
