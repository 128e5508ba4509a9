#include "admin/cluster.h"

#include "protocol/error_code.h"
#include "protocol/messages/describe_log_dirs.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <set>

namespace trib::admin {

namespace balancer = coordinator::balancer;

namespace {

std::string error_name(int16_t code) {
    return std::string(protocol::error_code_name(protocol::error_code(code)));
}

// Adds `broker`'s replica sizes to `view.sizes` (largest wins); false with `why` on failure.
asio::awaitable<bool> read_sizes(asio::any_io_executor ex, const protocol::metadata_response::metadata_response_broker& b,
                                 std::chrono::milliseconds timeout, cluster_view& view, std::string& why) {
    net::kafka_client_options o;
    o.client_id = "tributary-admin";
    o.connect_timeout = timeout;
    net::kafka_client c(ex, {b.host, uint16_t(b.port)}, o);
    if (auto ok = co_await c.connect(timeout); !ok) {
        why = fmt::format("{} ({})", ok.error().message(), c.last_error());
        co_return false;
    }
    auto v = c.version_for(protocol::describe_log_dirs_request::api_key, protocol::describe_log_dirs_request::max_version);
    if (!v) {
        why = "no DescribeLogDirs";
        co_return false;
    }
    protocol::describe_log_dirs_request req;
    req.topics = std::nullopt;  // all
    auto resp = co_await c.call<protocol::describe_log_dirs_response>(req, *v, timeout);
    c.close();
    if (!resp) {
        why = "DescribeLogDirs: " + resp.error().message();
        co_return false;
    }
    if (resp->error_code != 0) {
        why = "DescribeLogDirs: " + error_name(resp->error_code);
        co_return false;
    }
    for (const auto& dir : resp->results) {
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
    co_return true;
}

} // namespace

asio::awaitable<result<cluster_view>> read_cluster(asio::any_io_executor ex, net::kafka_client& bootstrap,
                                                   std::chrono::milliseconds timeout, std::string& why) {
    if (auto ok = co_await bootstrap.connect(timeout); !ok) {
        why = fmt::format("cannot reach {}: {} ({})", config::format_host_port(bootstrap.target().host, bootstrap.target().port),
                          ok.error().message(), bootstrap.last_error());
        co_return errc::unreachable;
    }
    // v1 is the first with racks and a null topic list meaning all topics.
    auto v = bootstrap.version_for(protocol::metadata_request::api_key, protocol::metadata_request::max_version);
    if (!v || *v < 1) {
        why = "the broker serves no Metadata version with racks (v1+)";
        co_return errc::broker_error;
    }
    protocol::metadata_request req;
    req.topics = std::nullopt;
    req.allow_auto_topic_creation = false;
    auto md = co_await bootstrap.call<protocol::metadata_response>(req, *v, timeout);
    if (!md) {
        why = "Metadata: " + md.error().message();
        co_return errc::unreachable;
    }
    cluster_view view;
    view.metadata = std::move(*md);
    for (const auto& t : view.metadata.topics) {
        if (t.error_code != 0) {
            view.warnings.push_back(
                fmt::format("topic {}: {} (left out)", t.name.value_or("(no name)"), error_name(t.error_code)));
        }
    }
    for (const auto& b : view.metadata.brokers) {
        std::string reason;
        if (!co_await read_sizes(ex, b, timeout, view, reason)) {
            view.warnings.push_back(fmt::format("sizes from broker {} unknown: {}", b.node_id, reason));
        }
    }
    co_return view;
}

result<balancer::input> balancer_input(const cluster_view& c, const selection& s, std::string& why) {
    balancer::input in;
    std::set<int32_t> ids;
    for (const auto& b : c.metadata.brokers) {
        ids.insert(b.node_id);
    }
    for (auto id : s.leaving) {
        if (!ids.count(id)) {
            why = fmt::format("--leaving: broker {} is not in the cluster", id);
            return errc::bad_arguments;
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
            balancer::partition bp{.topic = *t.name, .index = partition_id(p.partition_index),
                                   .leader = node_id(p.leader_id), .movable = movable};
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
            return errc::bad_arguments;
        }
    }
    return in;
}

} // namespace trib::admin
