#include "coordinator/quorum_status.h"

#include "protocol/messages.h"

#include <fmt/format.h>

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

using response = protocol::describe_quorum_response;

std::vector<response::replica_state> states(const std::vector<replica_progress>& in) {
    std::vector<response::replica_state> out;
    for (const auto& p : in) {
        auto& s = out.emplace_back();
        s.replica_id = p.id.value();
        // A static voter set (controller.quorum.voters) has no directory ids; KRaft reports
        // the zero uuid for those too.
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

} // namespace trib::coordinator
