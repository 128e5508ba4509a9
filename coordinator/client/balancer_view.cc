#include "coordinator/client/balancer_view.h"

#include "protocol/error_code.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace trib::coordinator::balancer {

namespace {

std::string error_name(int16_t code) {
    return std::string(protocol::error_code_name(protocol::error_code(code)));
}

} // namespace

protocol::metadata_request all_topics_metadata_request() {
    protocol::metadata_request req;
    req.topics = std::nullopt;
    req.allow_auto_topic_creation = false;
    return req;
}

void set_metadata(cluster_view& view, protocol::metadata_response md) {
    view.metadata = std::move(md);
    for (const auto& t : view.metadata.topics) {
        if (t.error_code != 0) {
            view.warnings.push_back(
                fmt::format("topic {}: {} (left out)", t.name.value_or("(no name)"), error_name(t.error_code)));
        }
    }
}

protocol::describe_log_dirs_request all_log_dirs_request() {
    protocol::describe_log_dirs_request req;
    req.topics = std::nullopt;  // all
    return req;
}

bool add_sizes(cluster_view& view, const protocol::describe_log_dirs_response& resp, std::string& why) {
    if (resp.error_code != 0) {
        why = "DescribeLogDirs: " + error_name(resp.error_code);
        return false;
    }
    for (const auto& dir : resp.results) {
        if (dir.error_code != 0) {
            continue;  // an offline directory: nothing to count
        }
        for (const auto& t : dir.topics) {
            for (const auto& p : t.partitions) {
                if (p.is_future_key) {
                    continue;
                }
                auto& size = view.sizes[{t.name, p.partition_index}];
                size = std::max(size, p.partition_size);
            }
        }
    }
    return true;
}

result<input> balancer_input(const cluster_view& c, const selection& s, std::string& why) {
    input in;
    std::set<int32_t> ids;
    for (const auto& b : c.metadata.brokers) {
        ids.insert(b.node_id);
    }
    for (auto id : s.leaving) {
        if (!ids.count(id)) {
            why = fmt::format("--leaving: broker {} is not in the cluster", id);
            return errc::invalid_input;
        }
    }
    for (const auto& b : c.metadata.brokers) {
        in.brokers.push_back({.id = node_id(b.node_id), .rack = b.rack,
                              .leaving = std::find(s.leaving.begin(), s.leaving.end(), b.node_id) != s.leaving.end()});
    }
    std::set<std::string> wanted(s.topics.begin(), s.topics.end());
    std::set<std::string> seen;
    for (const auto& t : c.metadata.topics) {
        if (t.error_code != 0 || !t.name) {
            continue;
        }
        seen.insert(*t.name);
        const bool movable = wanted.empty() || wanted.count(*t.name) != 0;
        for (const auto& p : t.partitions) {
            partition bp{.topic = *t.name, .index = partition_id(p.partition_index), .leader = node_id(p.leader_id),
                         .movable = movable};
            for (auto r : p.replica_nodes) {
                bp.replicas.push_back(node_id(r));
            }
            for (auto r : p.isr_nodes) {
                bp.isr.push_back(node_id(r));
            }
            if (auto it = c.sizes.find({*t.name, p.partition_index}); it != c.sizes.end()) {
                bp.size_bytes = it->second;
            }
            in.partitions.push_back(std::move(bp));
        }
    }
    for (const auto& t : wanted) {
        if (!seen.count(t)) {
            why = fmt::format("--topics: topic {} does not exist", t);
            return errc::invalid_input;
        }
    }
    return in;
}

protocol::alter_partition_reassignments_request reassignment_request(const std::vector<change>& changes,
                                                                    std::chrono::milliseconds timeout) {
    protocol::alter_partition_reassignments_request req;
    req.timeout_ms = int32_t(timeout.count());
    for (const auto& ch : changes) {
        if (req.topics.empty() || req.topics.back().name != ch.topic) {
            req.topics.emplace_back().name = ch.topic;
        }
        auto& part = req.topics.back().partitions.emplace_back();
        part.partition_index = ch.index.value();
        part.replicas.emplace();
        for (auto r : ch.new_replicas) {
            part.replicas->push_back(r.value());
        }
    }
    return req;
}

} // namespace trib::coordinator::balancer
