#pragma once

// Admin requests that change metadata are decided by the coordinator: the broker sends the
// client's request as it came (same API version) and relays the coordinator's response,
// once its own metadata shows the change (cluster_link::admin).
#include "broker/handlers/handler.h"
#include "broker/services.h"

#include <string>

namespace trib::broker {

template<typename Resp>
struct forwarded {
    std::optional<Resp> response;               // set when the coordinator answered
    protocol::error_code error = protocol::error_code::none;  // else why not
    std::string message;
};

template<typename Resp, typename Req>
asio::awaitable<forwarded<Resp>> forward_to_coordinator(request_context& ctx, const Req& req, int16_t version) {
    protocol::writer w;
    req.encode(w, version);
    bytes body = w.take();
    auto r = co_await ctx.services.cluster.admin(Req::api_key, version, body);
    forwarded<Resp> out;
    if (r.error != protocol::error_code::none) {
        out.error = r.error;
        out.message = r.message.empty() ? "the coordinator could not be reached" : r.message;
        co_return out;
    }
    protocol::reader rd(r.body);
    Resp resp;
    resp.decode(rd, version);
    if (!rd.ok()) {
        out.error = protocol::error_code::unknown_server_error;
        out.message = "undecodable answer from the coordinator";
        co_return out;
    }
    out.response = std::move(resp);
    co_return out;
}

// For responses with one top-level error code and message (DescribeQuorum, AddRaftVoter,
// RemoveRaftVoter): the coordinator's answer, or one saying why there is none.
// `op` on the cluster is what the ACLs must allow (else CLUSTER_AUTHORIZATION_FAILED).
template<typename Resp, typename Req>
asio::awaitable<Resp> answered_by_coordinator(request_context& ctx, const Req& req, security::acl_operation op) {
    if (!ctx.authorized_cluster(op)) {
        Resp resp;
        resp.error_code = code(protocol::error_code::cluster_authorization_failed);
        resp.error_message = std::string(authorization_failed);
        co_return resp;
    }
    auto f = co_await forward_to_coordinator<Resp>(ctx, req, ctx.version());
    if (f.response) {
        co_return std::move(*f.response);
    }
    Resp resp;
    resp.error_code = int16_t(f.error);
    resp.error_message = f.message;
    co_return resp;
}

} // namespace trib::broker
