// DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), KIP-554:
// SCRAM credentials kept in the metadata log. Describe is answered from this broker's
// metadata copy (users, mechanisms and iterations; never salts or keys); null or no users:
// every user with a credential; a named user without one: RESOURCE_NOT_FOUND; a user named
// twice: DUPLICATE_RESOURCE. Alter is decided by the coordinator (forward.h,
// coordinator/scram_control.h). Users of the static key tributary.sasl.scram.users are not
// metadata and are not described.
//
// Authorization as Kafka's: Describe needs DESCRIBE on the cluster (else the whole request is
// CLUSTER_AUTHORIZATION_FAILED), Alter needs ALTER on the cluster (else every user named gets
// it, nothing forwarded), DescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster.
//
// DescribeClientQuotas (key 48) is here because kafka-configs --describe --entity-type users
// asks it before DescribeUserScramCredentials and gives up when it is not served. Client
// quotas are not built, so the answer is the truth: no quota is set for anyone.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

#include <map>

namespace trib::broker {

using protocol::error_code;
using security::acl_operation;

namespace {
constexpr std::string_view cluster_refused = "Cluster authorization failed.";
} // namespace

handler_result<protocol::describe_user_scram_credentials_response> describe_user_scram_credentials_handler::handle(
    request_context& ctx, request&& req) {
    response resp;
    resp.error_message = std::nullopt;
    if (!ctx.authorized_cluster(acl_operation::describe)) {
        resp.error_code = code(error_code::cluster_authorization_failed);
        resp.error_message = std::string(cluster_refused);
        // As Kafka: one result per user asked for, with the refusal and no name.
        for (size_t i = 0; i < (req.users ? req.users->size() : 0); ++i) {
            auto& r = resp.results.emplace_back();
            r.error_code = resp.error_code;
            r.error_message = resp.error_message;
        }
        co_return resp;
    }
    auto snap = ctx.services.metadata.get();
    auto describe = [&](const std::string& user) {
        auto& r = resp.results.emplace_back();
        r.user = user;
        r.error_message = std::nullopt;
        auto it = snap->scram.find(user);
        if (it == snap->scram.end()) {
            r.error_code = code(error_code::resource_not_found);
            r.error_message = "Attempt to describe a user credential that does not exist";
            return;
        }
        for (const auto& [mechanism, secret] : it->second) {
            auto& info = r.credential_infos.emplace_back();
            info.mechanism = mechanism;
            info.iterations = secret.iterations;
        }
    };
    if (!req.users || req.users->empty()) {
        for (const auto& [user, mechanisms] : snap->scram) {
            describe(user);
        }
        co_return resp;
    }
    std::map<std::string, int> seen;
    for (const auto& u : *req.users) {
        ++seen[u.name];
    }
    for (const auto& [user, count] : seen) {
        if (count > 1) {
            auto& r = resp.results.emplace_back();
            r.user = user;
            r.error_code = code(error_code::duplicate_resource);
            r.error_message = "Cannot describe SCRAM credentials for the same user twice in a single request";
        } else {
            describe(user);
        }
    }
    co_return resp;
}

handler_result<protocol::alter_user_scram_credentials_response> alter_user_scram_credentials_handler::handle(
    request_context& ctx, request&& req) {
    forwarded<response> f;
    if (!ctx.authorized_cluster(acl_operation::alter)) {
        f.error = error_code::cluster_authorization_failed;
        f.message = std::string(cluster_refused);
    } else {
        f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
        if (f.response) {
            co_return std::move(*f.response);
        }
    }
    // Refused, or no answer: every user named gets the reason.
    response resp;
    std::map<std::string, bool> users;
    for (const auto& d : req.deletions) {
        users[d.name] = true;
    }
    for (const auto& u : req.upsertions) {
        users[u.name] = true;
    }
    for (const auto& [user, unused] : users) {
        auto& r = resp.results.emplace_back();
        r.user = user;
        r.error_code = code(f.error);
        r.error_message = f.message;
    }
    co_return resp;
}

handler_result<protocol::describe_client_quotas_response> describe_client_quotas_handler::handle(request_context& ctx,
                                                                                                  request&&) {
    response resp;
    resp.error_message = std::nullopt;
    if (!ctx.authorized_cluster(acl_operation::describe_configs)) {
        resp.error_code = code(error_code::cluster_authorization_failed);
        resp.error_message = std::string(cluster_refused);
        co_return resp;
    }
    resp.entries.emplace();  // none
    co_return resp;
}

} // namespace trib::broker
