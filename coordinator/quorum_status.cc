#include "coordinator/quorum_status.h"

#include "protocol/messages.h"

#include <fmt/format.h>

#include <algorithm>

namespace trib::coordinator {

using protocol::error_code;

void observer_progress::heard(node_id broker, int64_t applied, int64_t committed, int64_t now_ms) {
    auto& p = _by_id[broker.value()];
    p.id = broker;
    p.log_end_offset = applied;
    p.last_fetch_ms = now_ms;
    if (applied >= committed) {
        p.last_caught_up_ms = now_ms;
    }
}

void observer_progress::forget(node_id broker) { _by_id.erase(broker.value()); }

std::vector<replica_progress> observer_progress::list(int64_t now_ms, int64_t expiry_ms) const {
    std::vector<replica_progress> out;
    for (const auto& [id, p] : _by_id) {
        if (now_ms - p.last_fetch_ms <= expiry_ms) {
            out.push_back(p);
        }
    }
    return out;
}

namespace {

// `id` holds a seat in `voters` it can vote from: one naming `dir`, or no directory at all.
bool seated(const raft::voter_set& voters, node_id id, const protocol::uuid& dir) {
    return std::any_of(voters.begin(), voters.end(), [&](const raft::voter& v) {
        return v.id == id && (v.directory_id.is_zero() || v.directory_id == dir);
    });
}

} // namespace

void coordinator_observers::heard(const raft::observer_report& r, int64_t commit, int64_t now_ms) {
    auto& s = _by_id[r.observer.value()];
    if (s.view.endpoint.id != r.observer || s.view.endpoint.directory_id != r.directory_id) {
        s = state{};  // another directory: another replica, nothing of the old one's progress holds
    }
    auto& v = s.view;
    const int64_t end = r.log_end.value();
    if (end >= commit) {
        v.last_caught_up_ms = std::max(v.last_caught_up_ms, now_ms);
    } else if (s.commit_at_last > 0 && end >= s.commit_at_last) {
        v.last_caught_up_ms = std::max(v.last_caught_up_ms, v.last_fetch_ms);
    }
    s.commit_at_last = commit;
    v.endpoint = raft::voter{r.observer, r.host, r.port, r.directory_id};
    v.log_end_offset = end;
    v.last_fetch_ms = std::max(v.last_fetch_ms, now_ms);
}

void coordinator_observers::prune(const raft::voter_set& voters, int64_t now_ms, int64_t expiry_ms) {
    std::erase_if(_by_id, [&](const auto& e) {
        const auto& v = e.second.view;
        return now_ms - v.last_fetch_ms > expiry_ms || seated(voters, v.endpoint.id, v.endpoint.directory_id);
    });
}

std::vector<observer_view> coordinator_observers::list(const raft::voter_set& voters, int64_t now_ms,
                                                       int64_t expiry_ms) const {
    std::vector<observer_view> out;
    for (const auto& [id, s] : _by_id) {
        const auto& v = s.view;
        if (now_ms - v.last_fetch_ms <= expiry_ms && !seated(voters, v.endpoint.id, v.endpoint.directory_id)) {
            out.push_back(v);
        }
    }
    return out;
}

namespace {

using response = protocol::describe_quorum_response;

std::vector<response::replica_state> states(const std::vector<replica_progress>& in) {
    std::vector<response::replica_state> out;
    for (const auto& p : in) {
        auto& s = out.emplace_back();
        s.replica_id = p.id.value();
        // A static voter set (controller.quorum.voters) has no directory ids; KRaft reports
        // the zero uuid for those too. Observers (brokers) report none either.
        s.replica_directory_id = p.directory_id;
        s.log_end_offset = p.log_end_offset;
        s.last_fetch_timestamp = p.last_fetch_ms;
        s.last_caught_up_timestamp = p.last_caught_up_ms;
    }
    return out;
}

} // namespace

describe_quorum_answer describe_quorum(bytes_view body, int16_t version, const quorum_status& status) {
    using request = protocol::describe_quorum_request;
    if (version < request::min_version || version > request::max_version) {
        return {error_code::unsupported_version, fmt::format("DescribeQuorum version {} is not supported", version), {}};
    }
    request req;
    protocol::reader r(body);
    req.decode(r, version);
    if (!r.ok()) {
        return {error_code::invalid_request, "malformed DescribeQuorum request", {}};
    }
    response resp;
    bool only_metadata = req.topics.size() == 1 && req.topics[0].topic_name == metadata_topic &&
                         req.topics[0].partitions.size() == 1 && req.topics[0].partitions[0].partition_index == 0;
    if (!only_metadata) {
        resp.error_code = int16_t(error_code::unknown_topic_or_partition);
        resp.error_message = "DescribeQuorum describes only " + std::string(metadata_topic) + "-0";
    } else {
        auto& t = resp.topics.emplace_back();
        t.topic_name = std::string(metadata_topic);
        auto& p = t.partitions.emplace_back();
        p.partition_index = 0;
        if (!status.is_leader) {
            p.error_code = int16_t(error_code::not_leader_or_follower);
            p.error_message = "this coordinator is not the active controller";
            p.leader_id = status.leader.value();
            p.leader_epoch = status.leader_epoch;
            p.high_watermark = -1;
        } else {
            p.leader_id = status.leader.value();
            p.leader_epoch = status.leader_epoch;
            p.high_watermark = status.high_watermark;
            p.current_voters = states(status.voters);
            p.observers = states(status.observers);
        }
        for (const auto& e : status.endpoints) {
            auto& n = resp.nodes.emplace_back();
            n.node_id = e.id.value();
            auto& l = n.listeners.emplace_back();
            l.name = e.listener;
            l.host = e.host;
            l.port = e.port;
        }
    }
    protocol::writer w;
    resp.encode(w, version);
    return {error_code::none, {}, w.take()};
}

namespace {

template<typename Req>
std::optional<Req> decode_body(int16_t version, bytes_view body) {
    if (version < Req::min_version || version > Req::max_version) {
        return std::nullopt;
    }
    Req req;
    protocol::reader r(body);
    req.decode(r, version);
    if (!r.ok()) {
        return std::nullopt;
    }
    return req;
}

} // namespace

voter_change_request decode_voter_change(int16_t api_key, int16_t version, bytes_view body,
                                         std::string_view cluster_id, std::string_view listener) {
    voter_change_request out;
    auto refuse = [&](error_code e, std::string message, bool in_body) {
        out.refusal = describe_quorum_answer{e, std::move(message), {}};
        out.in_body = in_body;
        return out;
    };
    const char* name = api_key == protocol::add_raft_voter_request::api_key ? "AddRaftVoter" : "RemoveRaftVoter";
    const bool supported = api_key == protocol::add_raft_voter_request::api_key
                               ? version >= protocol::add_raft_voter_request::min_version &&
                                     version <= protocol::add_raft_voter_request::max_version
                               : version >= protocol::remove_raft_voter_request::min_version &&
                                     version <= protocol::remove_raft_voter_request::max_version;
    if (!supported) {
        return refuse(error_code::unsupported_version, fmt::format("{} version {} is not supported", name, version),
                      false);
    }
    auto check_cluster = [&](const std::optional<std::string>& c) {
        return !c || *c == cluster_id;
    };
    if (api_key == protocol::add_raft_voter_request::api_key) {
        auto req = decode_body<protocol::add_raft_voter_request>(version, body);
        if (!req) {
            return refuse(error_code::invalid_request, "malformed AddRaftVoter request", false);
        }
        if (!check_cluster(req->cluster_id)) {
            return refuse(error_code::inconsistent_cluster_id,
                          fmt::format("cluster id {} is not this cluster's ({})", *req->cluster_id, cluster_id), true);
        }
        if (req->voter_id < 0) {
            return refuse(error_code::invalid_request, fmt::format("voter id {} is negative", req->voter_id), true);
        }
        const protocol::add_raft_voter_request::listener* chosen = nullptr;
        for (const auto& l : req->listeners) {
            if (l.name == listener || req->listeners.size() == 1) {
                chosen = &l;
                break;
            }
        }
        if (!chosen || chosen->host.empty() || chosen->port == 0) {
            return refuse(error_code::invalid_request,
                          fmt::format("voter {} names no usable listener {} (host and port)", req->voter_id, listener),
                          true);
        }
        out.change.add = true;
        out.change.voter = raft::voter{node_id(req->voter_id), chosen->host, chosen->port, req->voter_directory_id};
        if (req->timeout_ms > 0) {
            out.change.timeout = std::chrono::milliseconds(req->timeout_ms);
        }
        return out;
    }
    auto req = decode_body<protocol::remove_raft_voter_request>(version, body);
    if (!req) {
        return refuse(error_code::invalid_request, "malformed RemoveRaftVoter request", false);
    }
    if (!check_cluster(req->cluster_id)) {
        return refuse(error_code::inconsistent_cluster_id,
                      fmt::format("cluster id {} is not this cluster's ({})", *req->cluster_id, cluster_id), true);
    }
    out.change.add = false;
    out.change.voter.id = node_id(req->voter_id);
    out.change.voter.directory_id = req->voter_directory_id;
    return out;
}

bytes encode_voter_change_response(int16_t api_key, int16_t version, error_code error, const std::string& message) {
    protocol::writer w;
    auto fill = [&](auto resp) {
        resp.error_code = int16_t(error);
        if (error != error_code::none && !message.empty()) {
            resp.error_message = message;
        }
        resp.encode(w, version);
    };
    if (api_key == protocol::add_raft_voter_request::api_key) {
        fill(protocol::add_raft_voter_response{});
    } else {
        fill(protocol::remove_raft_voter_response{});
    }
    return w.take();
}

} // namespace trib::coordinator
