#include "broker/handlers/handlers.h"
#include "broker/handlers/forward.h"
#include "coordinator/client/topic_config.h"

#include <set>

namespace trib::broker {

using protocol::error_code;

namespace {

void describe_topic(const topic_info& t, protocol::metadata_response::metadata_response_topic& out) {
    out.error_code = code(error_code::none);
    out.name = t.name;
    out.topic_id = t.id;
    out.is_internal = t.internal;
    for (const auto& p : t.partitions) {
        auto& rp = out.partitions.emplace_back();
        rp.partition_index = p.id.value();
        rp.leader_id = p.leader.value();
        rp.leader_epoch = p.epoch.value();
        rp.replica_nodes = p.replicas;
        rp.isr_nodes = p.isr;
        rp.error_code = code(p.leader.value() < 0 ? error_code::leader_not_available : error_code::none);
    }
}

} // namespace

handler_result<protocol::metadata_response> metadata_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();

    // v0: an empty list means every topic; v1+: null means every topic, empty means none.
    bool all_topics = !req.topics.has_value() || (ctx.version() == 0 && req.topics->empty());
    // Topics asked for by name, and (v10+) by id alone: those are answered in request order
    // after the named ones, as UNKNOWN_TOPIC_ID when no topic has the id.
    std::vector<std::string> names;
    std::vector<protocol::uuid> ids;
    if (!all_topics) {
        for (const auto& t : *req.topics) {
            if (!t.name && !t.topic_id.is_zero()) {
                ids.push_back(t.topic_id);
            } else {
                names.push_back(t.name.value_or(""));
            }
        }
    }

    // ACLs, as Kafka: a topic is listed only to a principal that may DESCRIBE it (when named,
    // TOPIC_AUTHORIZATION_FAILED), and auto-created only for one that may CREATE it.
    using security::acl_operation;
    auto may_describe = [&](std::string_view n) { return ctx.authorized_topic(acl_operation::describe, n); };
    std::set<std::string, std::less<>> refused;
    for (const auto& n : names) {
        if (!may_describe(n)) {
            refused.insert(n);
        }
    }

    // Auto-create topics named here that don't exist, then answer from the newer metadata.
    bool may_create = svc.config.auto_create_topics && (ctx.version() < 4 || req.allow_auto_topic_creation);
    if (may_create) {
        protocol::create_topics_request create;
        create.timeout_ms = 30000;
        for (const auto& n : names) {
            if (!snap->topic(n) && !coordinator::invalid_topic_name(n) && !refused.contains(n) &&
                ctx.authorized_create_topic(n)) {
                auto& t = create.topics.emplace_back();
                t.name = n;
                t.num_partitions = -1;      // num.partitions
                t.replication_factor = -1;  // default.replication.factor
            }
        }
        if (!create.topics.empty()) {
            constexpr int16_t version = 4;  // the first with -1 meaning "the default"
            auto f = co_await forward_to_coordinator<protocol::create_topics_response>(ctx, create, version);
            snap = svc.metadata.get();
        }
    }

    response resp;
    for (const auto& [id, b] : snap->brokers) {
        auto ep = std::find_if(b.endpoints.begin(), b.endpoints.end(),
                               [&](const endpoint& e) { return e.listener == ctx.conn.listener; });
        if (ep == b.endpoints.end() || b.fenced) {
            continue;  // brokers are listed by the address of the listener the client used
        }
        auto& rb = resp.brokers.emplace_back();
        rb.node_id = id;
        rb.host = ep->host;
        rb.port = ep->port;
        rb.rack = b.rack;
    }
    resp.cluster_id = snap->cluster_id;
    // Like a KRaft broker: admin requests go to any broker, which forwards them to the
    // coordinator, so the "controller" a client sees is this broker itself.
    resp.controller_id = ctx.services.self();

    if (all_topics) {
        for (const auto& [name, t] : snap->topics) {
            if (may_describe(name)) {
                describe_topic(t, resp.topics.emplace_back());
            }
        }
    } else {
        for (const auto& n : names) {
            auto& rt = resp.topics.emplace_back();
            if (refused.contains(n) ||
                (may_create && !snap->topic(n) && !coordinator::invalid_topic_name(n) && !ctx.authorized_create_topic(n))) {
                rt.name = n;
                rt.error_code = code(error_code::topic_authorization_failed);
            } else if (const auto* t = snap->topic(n)) {
                describe_topic(*t, rt);
            } else {
                rt.name = n;
                rt.error_code = code(coordinator::invalid_topic_name(n) ? error_code::invalid_topic_exception
                                                           : error_code::unknown_topic_or_partition);
            }
        }
        for (const auto& id : ids) {
            auto& rt = resp.topics.emplace_back();
            auto it = std::find_if(snap->topics.begin(), snap->topics.end(),
                                   [&](const auto& kv) { return kv.second.id == id; });
            if (it != snap->topics.end() && !may_describe(it->second.name)) {
                rt.name = std::nullopt;
                rt.topic_id = id;
                rt.error_code = code(error_code::topic_authorization_failed);
            } else if (it != snap->topics.end()) {
                describe_topic(it->second, rt);
            } else {
                rt.name = std::nullopt;
                rt.topic_id = id;
                rt.error_code = code(error_code::unknown_topic_id);
            }
        }
    }
    // Authorized operations (v8+), as Kafka: each topic answered by name to a principal that
    // may DESCRIBE it gets its bit field, even one that does not exist; the cluster's (v8-10)
    // only when asked for.
    if (req.include_topic_authorized_operations) {
        for (auto& t : resp.topics) {
            if (t.error_code != code(error_code::topic_authorization_failed) && t.name) {
                t.topic_authorized_operations = ctx.authorized_operations(security::acl_resource::topic, *t.name);
            }
        }
    }
    if (req.include_cluster_authorized_operations) {
        resp.cluster_authorized_operations = cluster_authorized_operations(ctx);
    }
    co_return resp;
}

} // namespace trib::broker
