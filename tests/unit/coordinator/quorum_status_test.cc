#include "coordinator/quorum_status.h"

#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

using protocol::error_code;

bytes request_for(std::string topic, std::vector<int32_t> partitions, int16_t version) {
    protocol::describe_quorum_request req;
    auto& t = req.topics.emplace_back();
    t.topic_name = std::move(topic);
    for (int32_t p : partitions) {
        t.partitions.emplace_back().partition_index = p;
    }
    protocol::writer w;
    req.encode(w, version);
    return w.take();
}

protocol::describe_quorum_response decoded(const describe_quorum_answer& a, int16_t version) {
    EXPECT_EQ(a.error, error_code::none) << a.message;
    protocol::describe_quorum_response resp;
    protocol::reader r(a.body);
    resp.decode(r, version);
    EXPECT_TRUE(r.ok());
    return resp;
}

quorum_status leader_of_three() {
    quorum_status s;
    s.leader = node_id(100);
    s.leader_epoch = 4;
    s.high_watermark = 1234;
    s.is_leader = true;
    s.voters = {{node_id(100), 1234, -1, 5000}, {node_id(101), 1200, 4990, 4000}, {node_id(102), 1234, 4995, 4995}};
    s.observers = {{node_id(1), 1234, 4999, 4999}};
    s.endpoints = {{node_id(100), "CONTROLLER", "127.0.0.1", 9093}, {node_id(101), "CONTROLLER", "127.0.0.1", 9094}};
    return s;
}

TEST(describe_quorum, the_leader_reports_every_voter_and_observer) {
    for (int16_t v = 0; v <= 2; ++v) {
        auto resp = decoded(describe_quorum(request_for("__cluster_metadata", {0}, v), v, leader_of_three()), v);
        EXPECT_EQ(resp.error_code, 0);
        ASSERT_EQ(resp.topics.size(), 1u);
        ASSERT_EQ(resp.topics[0].partitions.size(), 1u);
        const auto& p = resp.topics[0].partitions[0];
        EXPECT_EQ(p.error_code, 0);
        EXPECT_EQ(p.leader_id, 100);
        EXPECT_EQ(p.leader_epoch, 4);
        EXPECT_EQ(p.high_watermark, 1234);
        ASSERT_EQ(p.current_voters.size(), 3u);
        EXPECT_EQ(p.current_voters[1].replica_id, 101);
        EXPECT_EQ(p.current_voters[1].log_end_offset, 1200);
        EXPECT_EQ(p.current_voters[1].last_fetch_timestamp, v >= 1 ? 4990 : -1) << "v0 has no timestamps";
        ASSERT_EQ(p.observers.size(), 1u);
        EXPECT_EQ(p.observers[0].replica_id, 1);
        EXPECT_EQ(resp.nodes.size(), v >= 2 ? 2u : 0u) << "nodes are on the wire from v2";
        if (v >= 2) {
            ASSERT_EQ(resp.nodes[1].listeners.size(), 1u);
            EXPECT_EQ(resp.nodes[1].listeners[0].port, 9094);
        }
    }
}

TEST(describe_quorum, another_partition_is_unknown) {
    auto resp = decoded(describe_quorum(request_for("__cluster_metadata", {1}, 1), 1, leader_of_three()), 1);
    EXPECT_EQ(resp.error_code, int16_t(error_code::unknown_topic_or_partition));
    EXPECT_TRUE(resp.topics.empty());
    resp = decoded(describe_quorum(request_for("orders", {0}, 2), 2, leader_of_three()), 2);
    EXPECT_EQ(resp.error_code, int16_t(error_code::unknown_topic_or_partition));
}

TEST(describe_quorum, a_follower_names_the_leader_and_refuses) {
    auto s = leader_of_three();
    s.is_leader = false;
    s.leader = node_id(101);
    auto resp = decoded(describe_quorum(request_for("__cluster_metadata", {0}, 2), 2, s), 2);
    ASSERT_EQ(resp.topics.size(), 1u);
    const auto& p = resp.topics[0].partitions[0];
    EXPECT_EQ(p.error_code, int16_t(error_code::not_leader_or_follower));
    EXPECT_EQ(p.leader_id, 101);
    EXPECT_TRUE(p.current_voters.empty());
}

TEST(describe_quorum, bad_input_is_refused_not_trusted) {
    bytes junk{0xff, 0xff, 0xff, 0x7f, 0x01};
    auto a = describe_quorum(junk, 1, leader_of_three());
    EXPECT_EQ(a.error, error_code::invalid_request);
    a = describe_quorum(request_for("__cluster_metadata", {0}, 2), 3, leader_of_three());
    EXPECT_EQ(a.error, error_code::unsupported_version);
}

TEST(observer_progress, caught_up_only_when_the_applied_offset_reached_the_committed_end) {
    observer_progress o;
    o.heard(node_id(2), 10, 10, 1000);
    o.heard(node_id(2), 15, 20, 2000);
    auto l = o.list(2000);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].log_end_offset, 15);
    EXPECT_EQ(l[0].last_fetch_ms, 2000);
    EXPECT_EQ(l[0].last_caught_up_ms, 1000) << "behind at 2000: caught up last at 1000";
    o.heard(node_id(1), 20, 20, 2100);
    l = o.list(2100);
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0].id, node_id(1)) << "listed by id";
    EXPECT_EQ(o.list(2001 + 300'000).size(), 1u) << "broker 2, last heard at 2000, has expired";
    o.forget(node_id(1));
    EXPECT_EQ(o.list(2100).size(), 1u);
}

} // namespace
} // namespace trib::coordinator
