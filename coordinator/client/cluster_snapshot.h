#pragma once

// The cluster as a broker sees it: brokers, topics, partitions and their leaders. Built from
// the coordinator's metadata image (metadata_image::to_snapshot) and published as an
// immutable snapshot: readers (handlers on any core) hold a shared_ptr to the one they
// started with, so a request sees one consistent view without locks.
//
// broker/cluster_metadata.h re-exports these types into trib::broker.
#include "common/ids.h"
#include "protocol/wire.h"
#include "security/authorizer.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trib::coordinator {

struct endpoint {
    std::string listener;  // listener name
    std::string host;
    uint16_t port = 0;
    bool operator==(const endpoint&) const = default;
};

struct broker_info {
    node_id id;
    std::vector<endpoint> endpoints;  // advertised, one per listener
    std::optional<std::string> rack;
    bool fenced = false;
    bool operator==(const broker_info&) const = default;
};

struct partition_info {
    partition_id id;
    node_id leader{-1};
    leader_epoch epoch{0};
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int32_t partition_epoch = 0;  // grows on every change of replicas, ISR or leader (AlterPartition)
    bool operator==(const partition_info&) const = default;

    // Whether `node` holds a replica of this partition.
    bool has_replica(int32_t node) const {
        return std::find(replicas.begin(), replicas.end(), node) != replicas.end();
    }
};

struct topic_info {
    std::string name;
    protocol::uuid id;
    std::vector<partition_info> partitions;
    std::map<std::string, std::string> configs;  // topic-level overrides only
    bool internal = false;
    bool operator==(const topic_info&) const = default;
};

// A user's SCRAM credential for one mechanism (Kafka's UserScramCredentialRecord): what a
// SCRAM server needs, never the password.
struct scram_secret {
    std::string salt;        // raw bytes
    std::string stored_key;
    std::string server_key;
    int32_t iterations = 0;
    bool operator==(const scram_secret&) const = default;
};

// user -> mechanism (coordinator::scram_mechanism as int8: 1 SHA-256, 2 SHA-512) -> credential.
using scram_users = std::map<std::string, std::map<int8_t, scram_secret>, std::less<>>;

struct cluster_snapshot {
    std::string cluster_id;
    node_id controller{-1};
    int64_t version = 0;  // bumped on every change (the metadata offset it reflects)
    std::map<int32_t, broker_info> brokers;
    std::map<std::string, topic_info, std::less<>> topics;
    // Dynamic broker configs: "" for the cluster-wide default, else a node id in decimal.
    std::map<std::string, std::map<std::string, std::string>> broker_configs;
    // SCRAM credentials from the metadata log (AlterUserScramCredentials).
    scram_users scram;
    // ACL bindings, indexed for the authorizer; shared between snapshots while unchanged.
    std::shared_ptr<const security::acl_index> acls = std::make_shared<const security::acl_index>();

    const topic_info* topic(std::string_view name) const {
        auto it = topics.find(name);
        return it == topics.end() ? nullptr : &it->second;
    }
    const partition_info* partition(std::string_view name, int32_t p) const {
        const auto* t = topic(name);
        return t && p >= 0 && size_t(p) < t->partitions.size() ? &t->partitions[size_t(p)] : nullptr;
    }
};

} // namespace trib::coordinator
