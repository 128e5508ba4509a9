#pragma once

// Topic config keys and their validation: one copy for the coordinator (which validates
// CreateTopics / AlterConfigs) and the broker (which turns effective configs into storage
// settings). broker/broker_config.h has an older copy of the first two functions that
// should become calls to these.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::coordinator {

// Topic-level config keys -> the broker-level key whose value is the default
// (retention.ms <- log.retention.ms, ...); "" for the keys no broker key sets (the
// *.replication.throttled.replicas lists, whose default is "").
const std::map<std::string, std::string>& topic_config_keys();
// Why `key=value` is not a valid topic config, or nullopt.
std::optional<std::string> validate_topic_config(const std::string& key, const std::string& value);
// Broker-level keys that can be changed at run time (IncrementalAlterConfigs on a BROKER
// resource, per broker id or cluster-wide): the broker-level defaults of the topic configs,
// and the replication throttles (broker_only_dynamic_configs). Why `key=value` is not valid
// for one of them, or nullopt.
std::optional<std::string> validate_broker_dynamic_config(const std::string& key, const std::string& value);
bool is_broker_dynamic_config(const std::string& key);
// The dynamic broker keys that are no topic's default: leader.replication.throttled.rate,
// follower.replication.throttled.rate (bytes/s the throttled replicas may take, Kafka's
// ReplicationQuotaManager) and replica.alter.log.dirs.io.max.bytes.per.second (bytes/s a
// broker's moves between log directories copy, broker/log_dirs.h). Longs >= 0.
const std::vector<std::string>& broker_only_dynamic_configs();

// A `leader.replication.throttled.replicas` or `follower.replication.throttled.replicas`
// value: "" (none), "*" (every replica), or "partition:broker" pairs separated by commas
// (spaces around items are allowed, as Kafka's list configs trim them).
struct throttled_replicas {
    bool all = false;
    std::vector<std::pair<int32_t, int32_t>> replicas;  // (partition, broker)
    // Whether the replica of `partition` on `broker` is named.
    bool names(int32_t partition, int32_t broker) const;
    bool operator==(const throttled_replicas&) const = default;
};
// The list `value` gives; nullopt, with the reason in `why` when given, if it is malformed.
std::optional<throttled_replicas> parse_throttled_replicas(std::string_view value, std::string* why = nullptr);
// Why a topic name is invalid (Kafka's rules), or nullopt.
std::optional<std::string> invalid_topic_name(std::string_view name);

} // namespace trib::coordinator
