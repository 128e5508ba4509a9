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
    s.voters[1].directory_id.b[0] = 0x42;  // added by AddRaftVoter; the others are static
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
        EXPECT_EQ(p.current_voters[1].replica_directory_id.b[0], v >= 2 ? 0x42 : 0) << "directory ids from v2";
        EXPECT_TRUE(p.current_voters[0].replica_directory_id.is_zero());
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

raft::observer_report report_of(int observer, uint8_t dir, int64_t log_end) {
    raft::observer_report r{node_id(observer), node_id(100), node_id(observer), {}, "c.example", 9099, offset(log_end)};
    r.directory_id.b[0] = dir;
    return r;
}

TEST(coordinator_observers, caught_up_as_kraft_counts_it) {
    coordinator_observers o;
    o.heard(report_of(103, 1, 10), 10, 1000);
    auto l = o.list({}, 1000);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].endpoint.id, node_id(103));
    EXPECT_EQ(l[0].endpoint.directory_id.b[0], 1);
    EXPECT_EQ(l[0].endpoint.host, "c.example");
    EXPECT_EQ(l[0].endpoint.port, 9099);
    EXPECT_EQ(l[0].log_end_offset, 10);
    EXPECT_EQ(l[0].last_fetch_ms, 1000);
    EXPECT_EQ(l[0].last_caught_up_ms, 1000) << "at the commit end";
    o.heard(report_of(103, 1, 15), 20, 2000);
    l = o.list({}, 2000);
    EXPECT_EQ(l[0].last_caught_up_ms, 1000) << "behind at 2000";
    // Past the commit end of the previous report (20), not the current one (30): caught up as
    // of that report.
    o.heard(report_of(103, 1, 25), 30, 3000);
    l = o.list({}, 3000);
    EXPECT_EQ(l[0].last_caught_up_ms, 2000);
    EXPECT_EQ(l[0].log_end_offset, 25);
    // Never caught up: -1.
    o.heard(report_of(104, 2, 0), 30, 3000);
    l = o.list({}, 3000);
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[1].last_caught_up_ms, -1);
}

TEST(coordinator_observers, a_new_directory_replaces_the_old_one_of_its_id) {
    coordinator_observers o;
    o.heard(report_of(103, 1, 50), 50, 1000);
    o.heard(report_of(103, 2, 0), 50, 2000);
    auto l = o.list({}, 2000);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].endpoint.directory_id.b[0], 2);
    EXPECT_EQ(l[0].log_end_offset, 0);
    EXPECT_EQ(l[0].last_caught_up_ms, -1) << "the wiped directory's progress is not the new one's";
}

TEST(coordinator_observers, voters_leave_at_once_and_silent_ones_expire) {
    coordinator_observers o;
    o.heard(report_of(103, 1, 5), 5, 1000);
    o.heard(report_of(104, 4, 5), 5, 1000);
    o.heard(report_of(105, 5, 5), 5, 1000);
    raft::voter_set voters = {
        {node_id(100), "a", 1}, {node_id(103), "c", 3}, {node_id(104), "d", 4}, {node_id(105), "e", 5}};
    voters[2].directory_id.b[0] = 4;  // 104 seated with the directory it reports
    voters[3].directory_id.b[0] = 9;  // 105's seat names another directory: its disk was wiped
    // 103 is seated without a directory id (controller.quorum.voters): it votes from any.
    auto l = o.list(voters, 1000);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].endpoint.id, node_id(105));
    EXPECT_EQ(l[0].endpoint.directory_id.b[0], 5) << "listed under its new directory";
    EXPECT_EQ(o.list({}, 1000).size(), 3u);
    o.prune(voters, 1000);
    EXPECT_EQ(o.list({}, 1000).size(), 1u) << "seated ones are forgotten";

    EXPECT_EQ(o.list({}, 1000 + observer_expiry_ms).size(), 1u);
    EXPECT_TRUE(o.list({}, 1001 + observer_expiry_ms).empty()) << "not heard from for 5 minutes";
    o.prune({}, 1001 + observer_expiry_ms);
    EXPECT_TRUE(o.empty());
}

TEST(describe_quorum, coordinator_observers_have_their_directory_id_and_their_node) {
    auto s = leader_of_three();
    s.observers.push_back({node_id(103), 0, 4999, -1});
    s.observers.back().directory_id.b[3] = 0x33;
    s.endpoints.push_back({node_id(103), "CONTROLLER", "127.0.0.1", 9096});
    auto resp = decoded(describe_quorum(request_for("__cluster_metadata", {0}, 2), 2, s), 2);
    const auto& p = resp.topics.at(0).partitions.at(0);
    ASSERT_EQ(p.observers.size(), 2u);
    EXPECT_EQ(p.observers[1].replica_id, 103);
    EXPECT_EQ(p.observers[1].replica_directory_id.b[3], 0x33);
    EXPECT_EQ(p.observers[1].last_caught_up_timestamp, -1);
    ASSERT_EQ(resp.nodes.size(), 3u);
    EXPECT_EQ(resp.nodes[2].node_id, 103);
    EXPECT_EQ(resp.nodes[2].listeners.at(0).port, 9096);
}

bytes add_voter_body(std::optional<std::string> cluster, int32_t id, std::vector<std::pair<std::string, uint16_t>> ls,
                     int32_t timeout_ms = 5000, protocol::uuid dir = {}) {
    protocol::add_raft_voter_request req;
    req.cluster_id = std::move(cluster);
    req.timeout_ms = timeout_ms;
    req.voter_id = id;
    req.voter_directory_id = dir;
    for (auto& [name, port] : ls) {
        req.listeners.push_back({name, "127.0.0.1", port, {}});
    }
    protocol::writer w;
    req.encode(w, 0);
    return w.take();
}

TEST(voter_change, add_takes_the_listener_named_like_ours) {
    auto body = add_voter_body("c1", 103, {{"OTHER", 1}, {"CONTROLLER", 9093}});
    auto r = decode_voter_change(80, 0, body, "c1", "CONTROLLER");
    ASSERT_FALSE(r.refusal) << r.refusal->message;
    EXPECT_TRUE(r.change.add);
    EXPECT_EQ(r.change.voter, (raft::voter{node_id(103), "127.0.0.1", 9093}));
    EXPECT_EQ(r.change.timeout, std::chrono::milliseconds(5000));
    // A single listener is taken whatever its name; a null cluster id is not checked.
    r = decode_voter_change(80, 0, add_voter_body(std::nullopt, 104, {{"C", 7}}), "c1", "CONTROLLER");
    ASSERT_FALSE(r.refusal);
    EXPECT_EQ(r.change.voter.port, 7);
    // The directory id goes with the voter (kafka-metadata-quorum add-controller reads it
    // from the new coordinator's meta.properties).
    protocol::uuid dir;
    dir.b[3] = 9;
    r = decode_voter_change(80, 0, add_voter_body("c1", 105, {{"CONTROLLER", 8}}, 5000, dir), "c1", "CONTROLLER");
    ASSERT_FALSE(r.refusal);
    EXPECT_EQ(r.change.voter, (raft::voter{node_id(105), "127.0.0.1", 8, dir}));
}

TEST(voter_change, refusals_say_why) {
    auto r = decode_voter_change(80, 0, add_voter_body("other", 103, {{"CONTROLLER", 1}}), "c1", "CONTROLLER");
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->error, error_code::inconsistent_cluster_id);
    EXPECT_TRUE(r.in_body);
    r = decode_voter_change(80, 0, add_voter_body("c1", 103, {{"A", 1}, {"B", 2}}), "c1", "CONTROLLER");
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->error, error_code::invalid_request);
    r = decode_voter_change(80, 0, add_voter_body("c1", 103, {{"CONTROLLER", 0}}), "c1", "CONTROLLER");
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->error, error_code::invalid_request);
    r = decode_voter_change(80, 1, add_voter_body("c1", 103, {{"CONTROLLER", 1}}), "c1", "CONTROLLER");
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->error, error_code::unsupported_version);
    EXPECT_FALSE(r.in_body);
    bytes junk{0x01, 0x02, 0x03};
    r = decode_voter_change(81, 0, junk, "c1", "CONTROLLER");
    ASSERT_TRUE(r.refusal);
    EXPECT_EQ(r.refusal->error, error_code::invalid_request);
    EXPECT_FALSE(r.in_body);
}

TEST(voter_change, remove_and_the_response) {
    protocol::remove_raft_voter_request req;
    req.cluster_id = "c1";
    req.voter_id = 101;
    protocol::writer w;
    req.encode(w, 0);
    auto r = decode_voter_change(81, 0, w.take(), "c1", "CONTROLLER");
    ASSERT_FALSE(r.refusal);
    EXPECT_FALSE(r.change.add);
    EXPECT_EQ(r.change.voter.id, node_id(101));
    EXPECT_TRUE(r.change.voter.directory_id.is_zero());
    req.voter_directory_id.b[0] = 7;
    protocol::writer w2;
    req.encode(w2, 0);
    r = decode_voter_change(81, 0, w2.take(), "c1", "CONTROLLER");
    ASSERT_FALSE(r.refusal);
    EXPECT_EQ(r.change.voter.directory_id, req.voter_directory_id) << "the removal names the directory it removes";

    auto body = encode_voter_change_response(81, 0, error_code::voter_not_found, "no voter 101");
    protocol::remove_raft_voter_response resp;
    protocol::reader rd(body);
    resp.decode(rd, 0);
    ASSERT_TRUE(rd.ok());
    EXPECT_EQ(resp.error_code, int16_t(error_code::voter_not_found));
    EXPECT_EQ(resp.error_message, "no voter 101");
}

} // namespace
} // namespace trib::coordinator
