#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

int32_t cluster_authorized_operations(const request_context& ctx) {
    // As Kafka: the operations only to a principal that may DESCRIBE the cluster, else none.
    using security::acl_resource;
    if (!ctx.authorized_cluster(security::acl_operation::describe)) {
        return 0;
    }
    return ctx.authorized_operations(acl_resource::cluster, security::cluster_resource_name);
}

handler_result<protocol::describe_cluster_response> describe_cluster_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    auto snap = ctx.services.metadata.get();
    response resp;
    constexpr int8_t endpoint_brokers = 1;
    if (req.endpoint_type != endpoint_brokers) {
        resp.error_code = code(protocol::error_code::unsupported_endpoint_type);
        resp.error_message = "Only broker endpoints are served here.";
        co_return resp;
    }
    resp.cluster_id = snap->cluster_id;
    if (req.include_cluster_authorized_operations) {
        resp.cluster_authorized_operations = cluster_authorized_operations(ctx);
    }
    // Like a KRaft broker: admin requests go to any broker, which forwards them to the
    // coordinator, so the "controller" a client sees is this broker itself.
    resp.controller_id = ctx.services.self();
    for (const auto& [id, b] : snap->brokers) {
        auto ep = std::find_if(b.endpoints.begin(), b.endpoints.end(),
                               [&](const endpoint& e) { return e.listener == ctx.conn.listener; });
        if (ep == b.endpoints.end() || b.fenced) {
            continue;
        }
        auto& rb = resp.brokers.emplace_back();
        rb.broker_id = id;
        rb.host = ep->host;
        rb.port = ep->port;
        rb.rack = b.rack;
    }
    co_return resp;
}

} // namespace trib::broker
