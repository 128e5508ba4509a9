#include "broker/handlers/handlers.h"
#include "broker/services.h"

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
    std::vector<std::string> names;
    if (!all_topics) {
        for (const auto& t : *req.topics) {
            names.push_back(t.name.value_or(""));
        }
    }

    // Auto-create topics named here that don't exist, then answer from the newer metadata.
    bool may_create = svc.config.auto_create_topics && (ctx.version() < 4 || req.allow_auto_topic_creation);
    if (may_create) {
        bool created = false;
        for (const auto& n : names) {
            if (!snap->topic(n) && !invalid_topic_name(n)) {
                new_topic nt{n, -1, -1, {}};
                auto r = co_await svc.authority.create_topic(nt, false);
                created = created || r.code == error_code::none;
            }
        }
        if (created) {
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
    resp.controller_id = snap->controller.value();

    if (all_topics) {
        for (const auto& [name, t] : snap->topics) {
            describe_topic(t, resp.topics.emplace_back());
        }
    } else {
        for (const auto& n : names) {
            auto& rt = resp.topics.emplace_back();
            if (const auto* t = snap->topic(n)) {
                describe_topic(*t, rt);
            } else {
                rt.name = n;
                rt.error_code = code(invalid_topic_name(n) ? error_code::invalid_topic_exception
                                                           : error_code::unknown_topic_or_partition);
            }
        }
    }
    co_return resp;
}

} // namespace trib::broker
