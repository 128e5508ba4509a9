#pragma once

// The broker's view of the cluster: brokers, topics, partitions and their leaders. Immutable
// snapshots: whoever changes metadata builds a new snapshot and publishes it, and readers
// (handlers on any core) hold a shared_ptr to the one they started with, so a request sees
// one consistent view without locks.
#include "common/ids.h"
#include "protocol/wire.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace trib::broker {

struct endpoint {
    std::string listener;  // listener name
    std::string host;
    uint16_t port = 0;
};

struct broker_info {
    node_id id;
    std::vector<endpoint> endpoints;  // advertised, one per listener
    std::optional<std::string> rack;
    bool fenced = false;
};

struct partition_info {
    partition_id id;
    node_id leader{-1};
    leader_epoch epoch{0};
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
};

struct topic_info {
    std::string name;
    protocol::uuid id;
    std::vector<partition_info> partitions;
    std::map<std::string, std::string> configs;  // topic-level overrides only
    bool internal = false;
};

struct cluster_snapshot {
    std::string cluster_id;
    node_id controller{-1};
    int64_t version = 0;  // bumped on every change
    std::map<int32_t, broker_info> brokers;
    std::map<std::string, topic_info, std::less<>> topics;

    const topic_info* topic(std::string_view name) const {
        auto it = topics.find(name);
        return it == topics.end() ? nullptr : &it->second;
    }
    const partition_info* partition(std::string_view name, int32_t p) const {
        const auto* t = topic(name);
        return t && p >= 0 && size_t(p) < t->partitions.size() ? &t->partitions[size_t(p)] : nullptr;
    }
};

// The current snapshot, readable from any thread.
class metadata_cache {
public:
    std::shared_ptr<const cluster_snapshot> get() const {
        std::lock_guard lk(_mu);
        return _current;
    }
    void publish(std::shared_ptr<const cluster_snapshot> s) {
        std::lock_guard lk(_mu);
        _current = std::move(s);
    }

private:
    mutable std::mutex _mu;
    std::shared_ptr<const cluster_snapshot> _current = std::make_shared<cluster_snapshot>();
};

} // namespace trib::broker
