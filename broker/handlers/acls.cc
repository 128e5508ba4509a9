// DescribeAcls, CreateAcls and DeleteAcls. Bindings live in the metadata log: creating and
// deleting them is the coordinator's decision (forwarded, as CreateTopics), describing is
// answered from this broker's snapshot. As in Kafka, all three need an authorizer
// (SECURITY_DISABLED otherwise) and the caller's DESCRIBE (ALTER to change) on the cluster.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "security/authorizer.h"

#include <map>
#include <tuple>

namespace trib::broker {

using protocol::error_code;
using security::acl_operation;

namespace {

constexpr std::string_view no_authorizer = "No Authorizer is configured on the broker";

// The first reason a request is refused as a whole, or none.
std::pair<error_code, std::string> refused(const request_context& ctx, acl_operation op) {
    if (!ctx.services.config.authorizer.enabled) {
        return {error_code::security_disabled, std::string(no_authorizer)};
    }
    if (!ctx.authorized_cluster(op)) {
        return {error_code::cluster_authorization_failed, "Cluster authorization failed."};
    }
    return {error_code::none, {}};
}

} // namespace

handler_result<protocol::describe_acls_response> describe_acls_handler::handle(request_context& ctx,
                                                                               request&& req) {
    response resp;
    resp.error_message = std::nullopt;
    auto refusal = refused(ctx, acl_operation::describe);
    error_code err = refusal.first;
    std::string msg = std::move(refusal.second);
    security::acl_filter filter{security::acl_resource(req.resource_type_filter), req.resource_name_filter,
                                security::acl_pattern(req.pattern_type_filter),   req.principal_filter,
                                req.host_filter,                                  acl_operation(req.operation),
                                security::acl_permission(req.permission_type)};
    if (err == error_code::none) {
        if (auto why = security::invalid_filter(filter)) {
            err = error_code::invalid_request;
            msg = *why;
        }
    }
    if (err != error_code::none) {
        resp.error_code = code(err);
        resp.error_message = msg;
        co_return resp;
    }
    // Bindings are sorted by resource type, name and pattern first: one resource after another.
    auto snap = ctx.services.metadata.get();
    for (const auto& b : snap->acls->bindings()) {
        if (!filter.matches(b)) {
            continue;
        }
        if (resp.resources.empty() || resp.resources.back().resource_type != int8_t(b.resource_type) ||
            resp.resources.back().resource_name != b.resource_name ||
            resp.resources.back().pattern_type != int8_t(b.pattern)) {
            auto& r = resp.resources.emplace_back();
            r.resource_type = int8_t(b.resource_type);
            r.resource_name = b.resource_name;
            r.pattern_type = int8_t(b.pattern);
        }
        auto& a = resp.resources.back().acls.emplace_back();
        a.principal = b.principal;
        a.host = b.host;
        a.operation = int8_t(b.operation);
        a.permission_type = int8_t(b.permission);
    }
    co_return resp;
}

namespace {

// CreateAcls and DeleteAcls: the coordinator's answer, or, when the request is refused here
// or the coordinator can't be asked, one result per item (creation, filter) saying why.
template<typename Resp, typename Req, typename Results>
asio::awaitable<Resp> change_acls(request_context& ctx, const Req& req, size_t items, Results Resp::*results) {
    auto refusal = refused(ctx, acl_operation::alter);
    if (refusal.first == error_code::none) {
        auto f = co_await forward_to_coordinator<Resp>(ctx, req, ctx.version());
        if (f.response) {
            co_return std::move(*f.response);
        }
        refusal = {f.error, f.message};
    }
    Resp resp;
    for (size_t i = 0; i < items; ++i) {
        auto& r = (resp.*results).emplace_back();
        r.error_code = code(refusal.first);
        r.error_message = refusal.second;
    }
    co_return resp;
}

} // namespace

handler_result<protocol::create_acls_response> create_acls_handler::handle(request_context& ctx, request&& req) {
    co_return co_await change_acls(ctx, req, req.creations.size(), &response::results);
}

handler_result<protocol::delete_acls_response> delete_acls_handler::handle(request_context& ctx, request&& req) {
    co_return co_await change_acls(ctx, req, req.filters.size(), &response::filter_results);
}

} // namespace trib::broker
