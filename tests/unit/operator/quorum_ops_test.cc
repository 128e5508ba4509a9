// kafka_quorum_ops (controller/quorum_ops.h) against scripted coordinators
// (tests/fakes/kafka_fake_broker.h): requests inside the CoordinatorAdmin envelope, no
// ApiVersions, a coordinator that does not lead passed over for the one that does, directory
// ids in their text form, and each answer of AddRaftVoter / RemoveRaftVoter classified.
#include "operator/controller/quorum_ops.h"
#include "protocol/error_code.h"
#include "protocol/messages/add_raft_voter.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/remove_raft_voter.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;

template<typename Msg>
bytes in_envelope(const Msg& m, int16_t version, int32_t cid) {
    protocol::writer w;
    m.encode(w, version);
    protocol::coordinator_admin_response env;
    env.body = w.take();
    return fakes::framed(fakes::encode_response(env, 0, cid));
}

bytes not_controller(int32_t cid) {
    protocol::coordinator_admin_response env;
    env.error_code = int16_t(protocol::error_code::not_controller);
    env.error_message = "this coordinator is not the active controller";
    return fakes::framed(fakes::encode_response(env, 0, cid));
}

protocol::uuid dir(uint8_t n) {
    protocol::uuid u;
    u.b[0] = n;
    u.b[15] = 1;
    return u;
}

TEST(kafka_quorum_ops, describe_asks_until_the_leader_answers_and_reads_directories) {
    fakes::kafka_fake_broker follower([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        EXPECT_EQ(key, protocol::coordinator_admin_request::api_key);
        return not_controller(cid);
    });
    fakes::kafka_fake_broker leader([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        EXPECT_EQ(key, protocol::coordinator_admin_request::api_key);
        protocol::describe_quorum_response q;
        auto& t = q.topics.emplace_back();
        t.topic_name = "__cluster_metadata";
        auto& p = t.partitions.emplace_back();
        p.leader_id = 1001;
        p.leader_epoch = 7;
        p.high_watermark = 42;
        p.current_voters = {{1000, {}, 42, -1, -1, {}}, {1001, dir(1), 42, -1, -1, {}}};
        p.observers = {{1002, dir(2), 40, -1, -1, {}}, {0, {}, 41, -1, -1, {}}};
        return in_envelope(q, 2, cid);
    });
    kafka_quorum_ops ops({.timeout = 2s});
    std::string why;
    auto v = ops.describe({follower.address(), leader.address()}, why);
    ASSERT_TRUE(v) << why;
    EXPECT_EQ(v->leader_id, 1001);
    EXPECT_EQ(v->epoch, 7);
    EXPECT_EQ(v->high_watermark, 42);
    ASSERT_EQ(v->voters.size(), 2u);
    EXPECT_EQ(v->voters[0].directory, "");  // zero: a configured voter
    EXPECT_EQ(v->voters[1].directory, dir(1).to_string());
    ASSERT_EQ(v->observers.size(), 2u);
    EXPECT_EQ(v->observers[0].id, 1002);
    EXPECT_EQ(v->observers[0].directory, dir(2).to_string());
    EXPECT_EQ(v->observers[0].log_end, 40);
}

TEST(kafka_quorum_ops, describe_without_a_leader_answering_says_why) {
    fakes::kafka_fake_broker follower([&](int16_t, int32_t cid) -> std::optional<bytes> { return not_controller(cid); });
    kafka_quorum_ops ops({.timeout = 2s});
    std::string why;
    const auto dead = fakes::dead_address();
    EXPECT_FALSE(ops.describe({dead, follower.address()}, why));
    EXPECT_NE(why.find(dead), std::string::npos) << why;
    EXPECT_NE(why.find("NOT_CONTROLLER"), std::string::npos) << why;
    EXPECT_FALSE(ops.describe({}, why));
    EXPECT_EQ(why, "no coordinator to ask");
}

TEST(kafka_quorum_ops, voter_changes_are_done_busy_refused_or_unreachable) {
    std::vector<int16_t> answers = {0, int16_t(protocol::error_code::request_timed_out),
                                    int16_t(protocol::error_code::duplicate_voter), 0,
                                    int16_t(protocol::error_code::voter_not_found)};
    size_t next = 0;
    std::vector<int16_t> keys;
    fakes::kafka_fake_broker leader(
        [&](int16_t key, int32_t cid) -> std::optional<bytes> {
            EXPECT_EQ(key, protocol::coordinator_admin_request::api_key);
            protocol::add_raft_voter_response r;  // RemoveRaftVoter's answer has the same fields
            r.error_code = answers.at(next++);
            if (r.error_code != 0) {
                r.error_message = "because";
            }
            return in_envelope(r, 0, cid);
        });
    kafka_quorum_ops ops({.timeout = 2s});
    const std::string d = dir(3).to_string();
    EXPECT_EQ(ops.add_voter({leader.address()}, 1002, d, "c-2.c.ns.svc", 9093).what, voter_change_result::kind::done);
    auto r = ops.add_voter({leader.address()}, 1002, d, "c-2.c.ns.svc", 9093);
    EXPECT_EQ(r.what, voter_change_result::kind::busy);
    EXPECT_EQ(r.message, "REQUEST_TIMED_OUT: because");
    r = ops.add_voter({leader.address()}, 1002, d, "c-2.c.ns.svc", 9093);
    EXPECT_EQ(r.what, voter_change_result::kind::refused);
    EXPECT_EQ(r.message, "DUPLICATE_VOTER: because");
    EXPECT_EQ(ops.remove_voter({leader.address()}, 1002, d).what, voter_change_result::kind::done);
    EXPECT_EQ(ops.remove_voter({leader.address()}, 1002, d).what, voter_change_result::kind::refused);
    r = ops.remove_voter({fakes::dead_address()}, 1002, d);
    EXPECT_EQ(r.what, voter_change_result::kind::unreachable);
    EXPECT_FALSE(r.message.empty());
}

} // namespace
} // namespace trib::op::controller
