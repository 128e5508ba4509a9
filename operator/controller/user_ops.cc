#include "operator/controller/user_ops.h"

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/messages/alter_user_scram_credentials.h"
#include "protocol/messages/create_acls.h"
#include "protocol/messages/delete_acls.h"
#include "protocol/messages/describe_acls.h"
#include "protocol/messages/describe_user_scram_credentials.h"

#include <fmt/format.h>

namespace trib::op::controller {

namespace {

using protocol::error_code;
constexpr int8_t scram_sha_512_mechanism = 2;  // Kafka's ScramMechanism.SCRAM_SHA_512

bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

template<typename Answer>
Answer refused(int16_t code, const std::optional<std::string>& message) {
    Answer a;
    a.error = kafka::error_text(code, message);
    return a;
}

class kafka_user_ops final : public user_ops {
public:
    explicit kafka_user_ops(kafka::session_options o) : _session(std::move(o)) {}

    acls_answer describe_acls(const brokers& to, const std::string& principal) override {
        protocol::describe_acls_request req;
        req.resource_type_filter = int8_t(security::acl_resource::any);
        req.resource_name_filter = std::nullopt;
        req.pattern_type_filter = int8_t(security::acl_pattern::any);
        req.principal_filter = principal;
        req.host_filter = std::nullopt;
        req.operation = int8_t(security::acl_operation::any);
        req.permission_type = int8_t(security::acl_permission::any);
        return ask<protocol::describe_acls_response, acls_answer>(to, req, [](const auto& resp) {
            if (error_code(resp.error_code) == error_code::security_disabled) {
                return acls_answer{{true, ""}, {}};  // no authorizer: no ACL to keep or remove
            }
            if (resp.error_code != 0) {
                return refused<acls_answer>(resp.error_code, resp.error_message);
            }
            acls_answer a{{true, ""}, {}};
            for (const auto& r : resp.resources) {
                for (const auto& d : r.acls) {
                    a.acls.push_back({security::acl_resource(r.resource_type), r.resource_name,
                                      security::acl_pattern(r.pattern_type), d.principal, d.host,
                                      security::acl_operation(d.operation), security::acl_permission(d.permission_type)});
                }
            }
            return a;
        });
    }

    user_ops_answer create_acls(const brokers& to, const std::vector<security::acl_binding>& acls) override {
        protocol::create_acls_request req;
        for (const auto& b : acls) {
            auto& c = req.creations.emplace_back();
            c.resource_type = int8_t(b.resource_type);
            c.resource_name = b.resource_name;
            c.resource_pattern_type = int8_t(b.pattern);
            c.principal = b.principal;
            c.host = b.host;
            c.operation = int8_t(b.operation);
            c.permission_type = int8_t(b.permission);
        }
        return ask<protocol::create_acls_response, user_ops_answer>(to, req, [&acls](const auto& resp) {
            for (size_t i = 0; i < resp.results.size(); ++i) {
                if (resp.results[i].error_code != 0) {
                    auto a = refused<user_ops_answer>(resp.results[i].error_code, resp.results[i].error_message);
                    a.error = (i < acls.size() ? security::describe(acls[i]) + ": " : "") + a.error;
                    return a;
                }
            }
            return user_ops_answer{true, ""};
        });
    }

    user_ops_answer delete_acls(const brokers& to, const std::vector<security::acl_filter>& filters) override {
        protocol::delete_acls_request req;
        for (const auto& f : filters) {
            auto& d = req.filters.emplace_back();
            d.resource_type_filter = int8_t(f.resource_type);
            d.resource_name_filter = f.resource_name;
            d.pattern_type_filter = int8_t(f.pattern);
            d.principal_filter = f.principal;
            d.host_filter = f.host;
            d.operation = int8_t(f.operation);
            d.permission_type = int8_t(f.permission);
        }
        return ask<protocol::delete_acls_response, user_ops_answer>(to, req, [](const auto& resp) {
            for (const auto& r : resp.filter_results) {
                if (r.error_code != 0) {
                    return refused<user_ops_answer>(r.error_code, r.error_message);
                }
            }
            return user_ops_answer{true, ""};
        });
    }

    scram_answer describe_scram(const brokers& to, const std::string& user) override {
        protocol::describe_user_scram_credentials_request req;
        req.users = std::vector<protocol::describe_user_scram_credentials_request::user_name>{{user, {}}};
        return ask<protocol::describe_user_scram_credentials_response, scram_answer>(to, req, [&user](const auto& resp) {
            if (resp.error_code != 0) {
                return refused<scram_answer>(resp.error_code, resp.error_message);
            }
            scram_answer a{{true, ""}, false};
            for (const auto& r : resp.results) {
                if (r.user != user || error_code(r.error_code) == error_code::resource_not_found) {
                    continue;
                }
                if (r.error_code != 0) {
                    return refused<scram_answer>(r.error_code, r.error_message);
                }
                for (const auto& c : r.credential_infos) {
                    a.exists = a.exists || c.mechanism == scram_sha_512_mechanism;
                }
            }
            return a;
        });
    }

    user_ops_answer upsert_scram(const brokers& to, const scram_upsert& credential) override {
        protocol::alter_user_scram_credentials_request req;
        auto& u = req.upsertions.emplace_back();
        u.name = credential.user;
        u.mechanism = scram_sha_512_mechanism;
        u.iterations = credential.iterations;
        u.salt = to_bytes(credential.salt);
        u.salted_password = to_bytes(credential.salted_password);
        return alter_scram(to, req, false);
    }

    user_ops_answer delete_scram(const brokers& to, const std::string& user) override {
        protocol::alter_user_scram_credentials_request req;
        req.deletions.push_back({user, scram_sha_512_mechanism, {}});
        return alter_scram(to, req, true);
    }

private:
    user_ops_answer alter_scram(const brokers& to, const protocol::alter_user_scram_credentials_request& req,
                                bool gone_is_fine) {
        return ask<protocol::alter_user_scram_credentials_response, user_ops_answer>(
            to, req, [gone_is_fine](const auto& resp) {
                for (const auto& r : resp.results) {
                    const bool gone = error_code(r.error_code) == error_code::resource_not_found;
                    if (r.error_code != 0 && !(gone && gone_is_fine)) {
                        return refused<user_ops_answer>(r.error_code, r.error_message);
                    }
                }
                return user_ops_answer{true, ""};
            });
    }

    // `req` to each broker in turn until one answers; `read` makes the answer ours. No
    // connection is kept: pod addresses change, and a pass makes a few calls.
    template<typename Resp, typename Answer, typename Req, typename Read>
    Answer ask(const brokers& to, const Req& req, Read read) {
        std::string why;
        for (const auto& address : to) {
            std::string failure;
            try {
                if (auto resp = _session.call<Resp>(config::parse_host_port(address), req, Req::max_version, failure)) {
                    _session.close_all();
                    return read(*resp);
                }
            } catch (const std::exception& e) {
                failure = address + ": " + e.what();
            }
            why += (why.empty() ? "" : "; ") + failure;
        }
        _session.close_all();
        Answer a;
        a.error = to.empty() ? "no broker to ask" : why;
        TLOG_DEBUG("user ops: no broker answered: {}", a.error);
        return a;
    }

    kafka::admin_session _session;
};

} // namespace

std::unique_ptr<user_ops> make_kafka_user_ops(kafka::session_options options) {
    return std::make_unique<kafka_user_ops>(std::move(options));
}

} // namespace trib::op::controller
