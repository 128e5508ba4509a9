#pragma once
// What the rolling update asks the running cluster, and the one thing it changes there
// (dynamic broker configs). Injected into the reconciler (reconciler_options::roll, null:
// no roll checks and no dynamic configs, as unit tests that don't need them); faked in
// tests/unit/operator/roller_test.cc. kafka_roll_ops is the implementation over the Kafka
// protocol (operator/kafka/admin_session.h): the brokers on their REPLICATION listeners, the
// coordinators on their CONTROLLER listener.
#include "operator/controller/roller.h"
#include "operator/kafka/admin_session.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

class roll_ops {
public:
    virtual ~roll_ops() = default;
    // Every partition with its replicas, in-sync set and its topic's min.insync.replicas
    // (Metadata, then DescribeConfigs of the topics). `brokers`: "host:port" to try in
    // order. nullopt with `why` when no broker answered.
    virtual std::optional<std::vector<partition_state>> partitions(const std::vector<std::string>& brokers,
                                                                  std::string& why) = 0;
    // The cluster-wide dynamic broker configs (DescribeConfigs of broker resource "", the
    // values whose source is the dynamic default).
    virtual std::optional<std::map<std::string, std::string>> dynamic_defaults(const std::vector<std::string>& brokers,
                                                                              std::string& why) = 0;
    // IncrementalAlterConfigs on broker resource "": SET and DELETE. False with `why`.
    virtual bool alter_dynamic_defaults(const std::vector<std::string>& brokers, const dynamic_config_change& change,
                                        std::string& why) = 0;
    // DescribeQuorum of the metadata log, asked of the coordinators in order.
    virtual std::optional<quorum_state> quorum(const std::vector<std::string>& coordinators, std::string& why) = 0;
};

// Over a blocking admin session (one per reconcile worker).
class kafka_roll_ops final : public roll_ops {
public:
    explicit kafka_roll_ops(kafka::session_options options = {});

    std::optional<std::vector<partition_state>> partitions(const std::vector<std::string>& brokers,
                                                          std::string& why) override;
    std::optional<std::map<std::string, std::string>> dynamic_defaults(const std::vector<std::string>& brokers,
                                                                      std::string& why) override;
    bool alter_dynamic_defaults(const std::vector<std::string>& brokers, const dynamic_config_change& change,
                                std::string& why) override;
    std::optional<quorum_state> quorum(const std::vector<std::string>& coordinators, std::string& why) override;

private:
    kafka::admin_session _session;
};

} // namespace trib::op::controller
