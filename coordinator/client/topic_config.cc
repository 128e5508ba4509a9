#include "coordinator/client/topic_config.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

namespace trib::coordinator {

const std::map<std::string, std::string>& topic_config_keys() {
    static const std::map<std::string, std::string> keys = {
        {"retention.ms", "log.retention.ms"},
        {"retention.bytes", "log.retention.bytes"},
        {"segment.bytes", "log.segment.bytes"},
        {"segment.ms", "log.roll.ms"},
        {"max.message.bytes", "message.max.bytes"},
        {"message.timestamp.type", "log.message.timestamp.type"},
        {"min.insync.replicas", "min.insync.replicas"},
        {"cleanup.policy", "log.cleanup.policy"},
        {"flush.messages", "log.flush.interval.messages"},
        {"flush.ms", "log.flush.interval.ms"},
        {"index.interval.bytes", "log.index.interval.bytes"},
        {"compression.type", "compression.type"},
        {"unclean.leader.election.enable", "unclean.leader.election.enable"},
        {"delete.retention.ms", "log.cleaner.delete.retention.ms"},
        {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"},
        {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"},
        {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"},
        {"leader.replication.throttled.replicas", ""},
        {"follower.replication.throttled.replicas", ""},
    };
    return keys;
}

std::optional<std::string> validate_topic_config(const std::string& key, const std::string& value) {
    if (!topic_config_keys().contains(key)) {
        return "unknown topic config " + key;
    }
    if (key == "message.timestamp.type") {
        if (value != "CreateTime" && value != "LogAppendTime") {
            return "message.timestamp.type must be CreateTime or LogAppendTime";
        }
        return std::nullopt;
    }
    if (key == "cleanup.policy") {
        return value == "delete" || value == "compact" || value == "compact,delete" || value == "delete,compact"
                   ? std::nullopt
                   : std::optional<std::string>("cleanup.policy must be delete and/or compact");
    }
    if (key == "unclean.leader.election.enable") {
        return value == "true" || value == "false" ? std::nullopt
                                                   : std::optional<std::string>(key + " must be true or false");
    }
    if (key == "compression.type") {
        static const std::set<std::string> ok = {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"};
        return ok.contains(value) ? std::nullopt : std::optional<std::string>("unknown compression.type");
    }
    if (key == "leader.replication.throttled.replicas" || key == "follower.replication.throttled.replicas") {
        std::string why;
        if (!parse_throttled_replicas(value, &why)) {
            return key + ": " + why;
        }
        return std::nullopt;
    }
    if (key == "min.cleanable.dirty.ratio") {
        size_t used = 0;
        try {
            double v = std::stod(value, &used);
            if (used == value.size() && v >= 0.0 && v <= 1.0) {
                return std::nullopt;
            }
        } catch (const std::exception&) {
        }
        return std::optional<std::string>("min.cleanable.dirty.ratio must be a number from 0 to 1");
    }
    // The rest are integers.
    size_t used = 0;
    try {
        long long v = std::stoll(value, &used);
        if (used != value.size()) {
            return key + " must be an integer";
        }
        if (v < -1 || ((key == "segment.bytes" || key == "max.message.bytes" || key == "min.insync.replicas" ||
                        key == "max.compaction.lag.ms") && v < 1) ||
            ((key == "delete.retention.ms" || key == "min.compaction.lag.ms") && v < 0)) {
            return key + " out of range";
        }
    } catch (const std::exception&) {
        return key + " must be an integer";
    }
    return std::nullopt;
}

const std::vector<std::string>& broker_only_dynamic_configs() {
    static const std::vector<std::string> keys = {
        "leader.replication.throttled.rate",
        "follower.replication.throttled.rate",
        "replica.alter.log.dirs.io.max.bytes.per.second",
    };
    return keys;
}

std::optional<std::string> validate_broker_dynamic_config(const std::string& key, const std::string& value) {
    const auto& only = broker_only_dynamic_configs();
    if (std::find(only.begin(), only.end(), key) != only.end()) {
        size_t used = 0;
        try {
            long long v = std::stoll(value, &used);
            if (used == value.size() && v >= 0) {
                return std::nullopt;
            }
        } catch (const std::exception&) {
        }
        return key + " must be an integer from 0 (bytes per second)";
    }
    for (const auto& [topic_key, broker_key] : topic_config_keys()) {
        if (!key.empty() && broker_key == key) {
            if (auto reason = validate_topic_config(topic_key, value)) {
                return key + ": " + *reason;
            }
            return std::nullopt;
        }
    }
    return "broker config " + key + " cannot be changed at run time";
}

bool is_broker_dynamic_config(const std::string& key) {
    const auto& only = broker_only_dynamic_configs();
    if (std::find(only.begin(), only.end(), key) != only.end()) {
        return true;
    }
    for (const auto& [topic_key, broker_key] : topic_config_keys()) {
        if (!key.empty() && broker_key == key) {
            return true;
        }
    }
    return false;
}

bool throttled_replicas::names(int32_t partition, int32_t broker) const {
    return all || std::find(replicas.begin(), replicas.end(), std::pair{partition, broker}) != replicas.end();
}

namespace {
std::string_view trimmed(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

// A non-negative int32 written in decimal digits only.
std::optional<int32_t> id_of(std::string_view s) {
    if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    int64_t v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
    }
    return v <= INT32_MAX ? std::optional<int32_t>(int32_t(v)) : std::nullopt;
}
} // namespace

std::optional<throttled_replicas> parse_throttled_replicas(std::string_view value, std::string* why) {
    auto fail = [why](std::string reason) {
        if (why) {
            *why = std::move(reason);
        }
        return std::nullopt;
    };
    throttled_replicas out;
    value = trimmed(value);
    if (value.empty()) {
        return out;
    }
    if (value == "*") {
        out.all = true;
        return out;
    }
    while (true) {
        auto comma = value.find(',');
        auto item = trimmed(value.substr(0, comma));
        auto colon = item.find(':');
        auto partition = colon == std::string_view::npos ? std::nullopt : id_of(item.substr(0, colon));
        auto broker = colon == std::string_view::npos ? std::nullopt : id_of(item.substr(colon + 1));
        if (!partition || !broker) {
            // Built by appending (g++ 12's -Wrestrict misfires on "..." + std::string).
            std::string reason = item.empty() ? std::string("an empty item") : std::string(item);
            reason += " is not partition:broker (the list is \"\", \"*\" or partition:broker,...)";
            return fail(std::move(reason));
        }
        out.replicas.emplace_back(*partition, *broker);
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
    return out;
}

std::optional<std::string> invalid_topic_name(std::string_view name) {
    if (name.empty()) {
        return "topic name is empty";
    }
    if (name == "." || name == "..") {
        return "topic name cannot be '.' or '..'";
    }
    if (name.size() > 249) {
        return "topic name is longer than 249 characters";
    }
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
            return "topic name may contain only ASCII letters, digits, '.', '_' and '-'";
        }
    }
    return std::nullopt;
}

} // namespace trib::coordinator
