#include "operator/controller/quorum_ops.h"

#include "common/listeners.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages/add_raft_voter.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/remove_raft_voter.h"

#include <algorithm>

namespace trib::op::controller {

namespace {

using kafka::error_text;

constexpr int16_t describe_quorum_version = 2;  // v2: directory ids
// How long the leader may take to catch a new voter up and commit the change before it
// answers REQUEST_TIMED_OUT; within the session's own timeout.
constexpr int32_t change_timeout_ms = 4000;

std::string directory_text(const protocol::uuid& u) { return u.is_zero() ? std::string() : u.to_string(); }

protocol::uuid directory_of(const std::string& text) {
    if (text.empty()) {
        return {};
    }
    return protocol::uuid::from_string(text).value_or(protocol::uuid{});
}

// The Kafka request `req` at `version`, in the CoordinatorAdmin envelope, to each coordinator
// in turn until the leader answers (the others answer NOT_CONTROLLER; their hint names the
// leader by its advertised DNS name, which the operator may not resolve, so it is not
// followed: at most five coordinators are asked).
template<typename Resp, typename Req>
std::optional<Resp> ask_leader(kafka::admin_session& s, const std::vector<std::string>& addresses, const Req& req,
                               int16_t version, std::string& why) {
    why.clear();
    if (addresses.empty()) {
        why = "no coordinator to ask";
        return std::nullopt;
    }
    protocol::coordinator_admin_request env;
    env.request_api_key = Req::api_key;
    env.request_api_version = version;
    protocol::writer w;
    req.encode(w, version);
    env.body = w.take();
    for (const auto& a : addresses) {
        std::string one;
        try {
            auto to = config::parse_host_port(a);
            auto resp = s.call_coordinator<protocol::coordinator_admin_response>(to, env, 0, one);
            if (!resp) {
                // "host:port: <the envelope>: reason", said with the request inside it
                const auto* api = protocol::find_api(Req::api_key);
                auto colon = one.find(": ", a.size() + 2);
                why += (why.empty() ? "" : "; ") + a + ": " + (api ? std::string(api->name) : "request") + ": " +
                       (colon == std::string::npos ? one : one.substr(colon + 2));
                continue;
            }
            if (resp->error_code == int16_t(protocol::error_code::cluster_authorization_failed)) {
                // The coordinators' authorizer refuses the operator's principal: every one
                // would, so this is the answer (a refusal, not an unreachable quorum).
                Resp refused;
                refused.error_code = resp->error_code;
                refused.error_message = a + ": " + resp->error_message.value_or("");
                return refused;
            }
            if (resp->error_code != 0) {
                why += (why.empty() ? "" : "; ") + a + ": " + error_text(resp->error_code, resp->error_message);
                continue;  // NOT_CONTROLLER: another one leads
            }
            protocol::reader r(resp->body);
            Resp out;
            out.decode(r, version);
            if (!r.ok()) {
                why += (why.empty() ? "" : "; ") + a + ": undecodable answer";
                continue;
            }
            return out;
        } catch (const std::exception& e) {
            why += (why.empty() ? "" : "; ") + a + ": " + e.what();
        }
    }
    return std::nullopt;
}

template<typename Resp>
voter_change_result change_result(const std::optional<Resp>& resp, const std::string& why) {
    if (!resp) {
        return {voter_change_result::kind::unreachable, why};
    }
    if (resp->error_code == 0) {
        return {voter_change_result::kind::done, ""};
    }
    const auto code = protocol::error_code(resp->error_code);
    const std::string text = error_text(resp->error_code, resp->error_message);
    if (code == protocol::error_code::request_timed_out) {
        // Another change in flight, or this one still catching the voter up: it goes on.
        return {voter_change_result::kind::busy, text};
    }
    return {voter_change_result::kind::refused, text};
}

} // namespace

std::optional<quorum_view> describe_quorum(kafka::admin_session& session, const std::vector<std::string>& coordinators,
                                           std::string& why) {
    protocol::describe_quorum_request req;
    auto& t = req.topics.emplace_back();
    t.topic_name = "__cluster_metadata";
    t.partitions.push_back({0, {}});
    auto resp =
        ask_leader<protocol::describe_quorum_response>(session, coordinators, req, describe_quorum_version, why);
    if (!resp) {
        return std::nullopt;
    }
    if (resp->error_code != 0 || resp->topics.empty() || resp->topics[0].partitions.empty()) {
        why = "DescribeQuorum: " + error_text(resp->error_code, resp->error_message);
        return std::nullopt;
    }
    const auto& p = resp->topics[0].partitions[0];
    if (p.error_code != 0) {
        why = "DescribeQuorum: " + error_text(p.error_code, p.error_message);
        return std::nullopt;
    }
    quorum_view v;
    v.leader_id = p.leader_id;
    v.epoch = p.leader_epoch;
    v.high_watermark = p.high_watermark;
    for (const auto& r : p.current_voters) {
        v.voters.push_back({r.replica_id, directory_text(r.replica_directory_id), r.log_end_offset});
    }
    for (const auto& r : p.observers) {
        v.observers.push_back({r.replica_id, directory_text(r.replica_directory_id), r.log_end_offset});
    }
    return v;
}

kafka_quorum_ops::kafka_quorum_ops(kafka::session_options options) : _session(std::move(options)) {}

std::optional<quorum_view> kafka_quorum_ops::describe(const std::vector<std::string>& coordinators, std::string& why) {
    return describe_quorum(_session, coordinators, why);
}

voter_change_result kafka_quorum_ops::add_voter(const std::vector<std::string>& coordinators, int32_t id,
                                                const std::string& directory, const std::string& host, int32_t port) {
    protocol::add_raft_voter_request req;
    req.cluster_id = std::nullopt;
    req.timeout_ms = change_timeout_ms;
    req.voter_id = id;
    req.voter_directory_id = directory_of(directory);
    req.listeners.push_back({"CONTROLLER", host, uint16_t(port), {}});
    std::string why;
    auto resp = ask_leader<protocol::add_raft_voter_response>(_session, coordinators, req, 0, why);
    return change_result(resp, why);
}

voter_change_result kafka_quorum_ops::remove_voter(const std::vector<std::string>& coordinators, int32_t id,
                                                   const std::string& directory) {
    protocol::remove_raft_voter_request req;
    req.cluster_id = std::nullopt;
    req.voter_id = id;
    req.voter_directory_id = directory_of(directory);
    std::string why;
    auto resp = ask_leader<protocol::remove_raft_voter_response>(_session, coordinators, req, 0, why);
    return change_result(resp, why);
}

} // namespace trib::op::controller
