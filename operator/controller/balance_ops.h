#pragma once
// What the balance step (balancing.h) asks of the running cluster, through the Kafka protocol
// only: the balancer's view (Metadata and every broker's DescribeLogDirs), the reassignments
// in flight (ListPartitionReassignments, API 46), starting reassignments
// (AlterPartitionReassignments, API 45) and a preferred leader election (ElectLeaders, API 43).
// Injected into the reconciler (reconciler_options::balance) so the step runs in unit tests
// on a fake; kafka_balance_ops is the real one over kafka::admin_session.
#include "common/result.h"
#include "coordinator/client/balancer_view.h"
#include "operator/kafka/admin_session.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace trib::op::controller {

using partition_key = std::pair<std::string, int32_t>;  // topic, partition

struct balance_read {
    coordinator::balancer::cluster_view view;
    std::vector<partition_key> in_flight;  // reassignments the controller has not finished
};

struct refused_move {
    partition_key partition;
    std::string reason;  // "INVALID_REPLICA_ASSIGNMENT: ..."
};

// Every call takes `bootstrap`: "host:port,host:port" of ready brokers' REPLICATION
// listeners, tried in order until one answers. Failures are errors with the reason in `why`;
// none throws.
class balance_ops {
public:
    virtual ~balance_ops() = default;
    virtual result<balance_read> read(const std::string& bootstrap, std::string& why) = 0;
    // Starts the changes' reassignments; the partitions the controller refused, with reasons.
    virtual result<std::vector<refused_move>> reassign(const std::string& bootstrap,
                                                       const std::vector<coordinator::balancer::change>& changes,
                                                       std::string& why) = 0;
    // A preferred leader election over every partition (those already led by their first
    // replica need none). Partitions that could not elect are logged, not an error.
    virtual result<int32_t> elect_preferred_leaders(const std::string& bootstrap, std::string& why) = 0;
};

// balance_ops over a kafka::admin_session (one per reconcile worker: not thread-safe).
class kafka_balance_ops final : public balance_ops {
public:
    explicit kafka_balance_ops(kafka::session_options opts = {});
    result<balance_read> read(const std::string& bootstrap, std::string& why) override;
    result<std::vector<refused_move>> reassign(const std::string& bootstrap,
                                               const std::vector<coordinator::balancer::change>& changes,
                                               std::string& why) override;
    result<int32_t> elect_preferred_leaders(const std::string& bootstrap, std::string& why) override;

private:
    kafka::admin_session _session;
};

} // namespace trib::op::controller
