#pragma once

// Topic config keys and their validation: one copy for the coordinator (which validates
// CreateTopics / AlterConfigs) and the broker (which turns effective configs into storage
// settings). broker/broker_config.h has an older copy of the first two functions that
// should become calls to these.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace trib::coordinator {

// Topic-level config keys -> the broker-level key whose value is the default
// (retention.ms <- log.retention.ms, ...).
const std::map<std::string, std::string>& topic_config_keys();
// Why `key=value` is not a valid topic config, or nullopt.
std::optional<std::string> validate_topic_config(const std::string& key, const std::string& value);
// Broker-level keys that can be changed at run time (IncrementalAlterConfigs on a BROKER
// resource): the broker-level defaults of the topic configs. Why `key=value` is not valid
// for one of them, or nullopt.
std::optional<std::string> validate_broker_dynamic_config(const std::string& key, const std::string& value);
bool is_broker_dynamic_config(const std::string& key);
// Why a topic name is invalid (Kafka's rules), or nullopt.
std::optional<std::string> invalid_topic_name(std::string_view name);

} // namespace trib::coordinator
