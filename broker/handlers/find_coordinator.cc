#include "broker/groups/group_coordinator.h"
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"

#include <algorithm>

namespace trib::broker {

using protocol::error_code;

namespace {

struct found {
    error_code error = error_code::none;
    std::optional<std::string> message;
    int32_t node_id = -1;
    std::string host;
    int32_t port = -1;
};

// Creates __consumer_offsets as Kafka does on the first FindCoordinator for a group:
// offsets.topic.num.partitions partitions, compacted. The replication factor is
// offsets.topic.replication.factor capped at the brokers registered now, so a one- or
// two-broker development cluster gets working groups (Kafka refuses until enough brokers
// are up; docs/differences-from-kafka.md).
asio::awaitable<void> create_offsets_topic(request_context& ctx, const cluster_snapshot& snap) {
    const auto& g = ctx.services.config.groups;
    int32_t brokers = int32_t(std::count_if(snap.brokers.begin(), snap.brokers.end(),
                                            [](const auto& kv) { return !kv.second.fenced; }));
    protocol::create_topics_request create;
    create.timeout_ms = 30000;
    auto& t = create.topics.emplace_back();
    t.name = std::string(groups::offsets_topic);
    t.num_partitions = g.offsets_partitions;
    t.replication_factor = int16_t(std::clamp<int32_t>(brokers, 1, g.offsets_replication_factor));
    auto config = [&t](const char* name, std::string value) {
        auto& c = t.configs.emplace_back();
        c.name = name;
        c.value = std::move(value);
    };
    config("cleanup.policy", "compact");
    config("segment.bytes", std::to_string(g.offsets_segment_bytes));
    config("compression.type", "producer");
    constexpr int16_t version = 4;
    auto f = co_await forward_to_coordinator<protocol::create_topics_response>(ctx, create, version);
    if (f.error != error_code::none) {
        TLOG_WARN("creating {}: {}", groups::offsets_topic, f.message);
    } else if (f.response && !f.response->topics.empty()) {
        auto err = error_code(f.response->topics.front().error_code);
        if (err != error_code::none && err != error_code::topic_already_exists) {
            TLOG_WARN("creating {}: {} {}", groups::offsets_topic, protocol::error_code_name(err),
                      f.response->topics.front().error_message.value_or(""));
        } else if (err == error_code::none) {
            TLOG_INFO("created {} with {} partitions, replication factor {}", groups::offsets_topic,
                      t.num_partitions, t.replication_factor);
        }
    }
}

found unavailable(const char* why) {
    found f;
    f.error = error_code::coordinator_not_available;
    f.message = why;
    return f;
}

found group_coordinator_of(request_context& ctx, const cluster_snapshot& snap, const std::string& group) {
    const auto* t = snap.topic(groups::offsets_topic);
    if (!t || t->partitions.empty()) {
        return unavailable("The offsets topic is being created.");
    }
    auto p = groups::group_coordinator::partition_for(group, int32_t(t->partitions.size()));
    int32_t leader = t->partitions[size_t(p)].leader.value();
    auto b = snap.brokers.find(leader);
    if (leader < 0 || b == snap.brokers.end() || b->second.fenced) {
        return unavailable("The group's offsets partition has no leader.");
    }
    const auto& eps = b->second.endpoints;
    auto ep = std::find_if(eps.begin(), eps.end(), [&](const endpoint& e) { return e.listener == ctx.conn.listener; });
    if (ep == eps.end()) {
        return unavailable("The coordinator has no address on this listener.");
    }
    found f;
    f.node_id = leader;
    f.host = ep->host;
    f.port = ep->port;
    return f;
}

} // namespace

// FindCoordinator for groups (key type 0): the leader of the group's partition of
// __consumer_offsets, created on first use. Transactions (key type 1) have no coordinator
// here yet: COORDINATOR_NOT_AVAILABLE, the answer of a Kafka broker whose coordinator is
// loading, so clients retry rather than drop the connection (librdkafka also takes
// FindCoordinator in ApiVersions as the sign of a broker new enough for LZ4).
handler_result<protocol::find_coordinator_response> find_coordinator_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    std::vector<std::string> keys;
    if (ctx.version() >= 4) {
        keys = req.coordinator_keys;
    } else {
        keys.push_back(req.key);
    }
    std::vector<found> answers(keys.size());
    if (req.key_type == 0) {
        auto snap = ctx.services.metadata.get();
        if (!snap->topic(groups::offsets_topic) && !keys.empty()) {
            co_await create_offsets_topic(ctx, *snap);
            snap = ctx.services.metadata.get();
        }
        for (size_t i = 0; i < keys.size(); ++i) {
            answers[i] = group_coordinator_of(ctx, *snap, keys[i]);
        }
    } else {
        for (auto& a : answers) {
            a.error = req.key_type == 1 ? error_code::coordinator_not_available : error_code::invalid_request;
            a.message = req.key_type == 1 ? "Transactions are not served by this broker yet."
                                          : "Unknown coordinator key type.";
        }
    }
    // ACLs, as Kafka: DESCRIBE on the group or the transactional id.
    if (req.key_type == 0 || req.key_type == 1) {
        auto type = req.key_type == 0 ? security::acl_resource::group : security::acl_resource::transactional_id;
        for (size_t i = 0; i < keys.size(); ++i) {
            if (!ctx.authorized(security::acl_operation::describe, type, keys[i])) {
                answers[i] = found{};
                answers[i].error = req.key_type == 0 ? error_code::group_authorization_failed
                                                     : error_code::transactional_id_authorization_failed;
                answers[i].message = std::string(authorization_failed);
            }
        }
    }
    response resp;
    if (ctx.version() >= 4) {
        for (size_t i = 0; i < keys.size(); ++i) {
            auto& c = resp.coordinators.emplace_back();
            c.key = keys[i];
            c.node_id = answers[i].node_id;
            c.host = answers[i].host;
            c.port = answers[i].port;
            c.error_code = code(answers[i].error);
            c.error_message = answers[i].message;
        }
    } else if (!answers.empty()) {
        resp.error_code = code(answers[0].error);
        resp.error_message = answers[0].message;
        resp.node_id = answers[0].node_id;
        resp.host = answers[0].host;
        resp.port = answers[0].port;
    }
    co_return resp;
}

} // namespace trib::broker
