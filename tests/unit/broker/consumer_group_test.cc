// The new consumer group protocol (KIP-848) in a group shard: joining, the server's
// assignment, revocation before reassignment, leaving, fencing, timeouts, commits checked
// against member epochs, and a group rebuilt from its records.
#include "broker/groups/consumer_group.h"
#include "broker/groups/group_shard.h"

#include "tests/fakes/group_shard_host.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

namespace trib::broker::groups {
namespace {

using protocol::error_code;
using hb_request = protocol::consumer_group_heartbeat_request;
using hb_response = protocol::consumer_group_heartbeat_response;

int16_t code(error_code e) { return protocol::to_int(e); }

struct consumer_group_shard : ::testing::Test {
    testing::fake_shard_host host;
    group_config cfg;
    std::unique_ptr<group_shard> shard;

    void SetUp() override {
        host.add_topic("t", 6);
        shard = std::make_unique<group_shard>(0, host, cfg);
        shard->loaded();
    }

    protocol::uuid topic_id(const std::string& name) { return host.topics.at(name).id; }

    // Sends a heartbeat, completes the writes it made, and returns its answer.
    hb_response beat(const hb_request& req, int16_t version = 1) {
        int calls = 0;
        hb_response out;
        shard->consumer_heartbeat(req, version, {"client", "/127.0.0.1"}, [&](hb_response r) {
            ++calls;
            out = std::move(r);
        });
        host.run();
        host.complete_all();
        EXPECT_EQ(calls, 1) << "exactly one answer";
        return out;
    }

    hb_request join(const std::string& member, std::vector<std::string> topics = {"t"}) {
        hb_request r;
        r.group_id = "g";
        r.member_id = member;
        r.member_epoch = 0;
        r.rebalance_timeout_ms = 60000;
        r.subscribed_topic_names = std::move(topics);
        r.topic_partitions.emplace();
        return r;
    }

    // A heartbeat at `epoch` reporting `owned` partitions of t.
    hb_request again(const std::string& member, int32_t epoch, const std::set<int32_t>& owned) {
        hb_request r;
        r.group_id = "g";
        r.member_id = member;
        r.member_epoch = epoch;
        auto& tp = r.topic_partitions.emplace().emplace_back();
        tp.topic_id = topic_id("t");
        tp.partitions.assign(owned.begin(), owned.end());
        return r;
    }

    static std::set<int32_t> assigned(const hb_response& r) {
        std::set<int32_t> out;
        if (r.assignment) {
            for (const auto& tp : r.assignment->topic_partitions) {
                out.insert(tp.partitions.begin(), tp.partitions.end());
            }
        }
        return out;
    }
};

TEST_F(consumer_group_shard, first_member_gets_every_partition_at_epoch_one) {
    hb_response r = beat(join("a"));
    ASSERT_EQ(r.error_code, 0) << r.error_message.value_or("");
    EXPECT_EQ(r.member_id, "a");
    EXPECT_EQ(r.member_epoch, 1);
    EXPECT_EQ(r.heartbeat_interval_ms, cfg.consumer_heartbeat_interval_ms);
    EXPECT_EQ(assigned(r), (std::set<int32_t>{0, 1, 2, 3, 4, 5}));
    auto d = shard->consumer_describe("g");
    EXPECT_EQ(d.error_code, 0);
    EXPECT_EQ(d.group_state, "Stable");
    EXPECT_EQ(d.group_epoch, 1);
    EXPECT_EQ(d.assignment_epoch, 1);
    EXPECT_EQ(d.assignor_name, "uniform");
    ASSERT_EQ(d.members.size(), 1u);
    EXPECT_EQ(d.members[0].assignment.topic_partitions.at(0).topic_name, "t");
}

TEST_F(consumer_group_shard, a_partition_moves_only_after_its_owner_revoked_it) {
    hb_response a = beat(join("a"));
    ASSERT_EQ(assigned(a).size(), 6u);
    hb_response b = beat(join("b"));
    ASSERT_EQ(b.error_code, 0);
    EXPECT_EQ(b.member_epoch, 2);
    EXPECT_TRUE(assigned(b).empty()) << "a still holds everything";
    EXPECT_EQ(shard->consumer_describe("g").group_state, "Reconciling");

    // a hears of the new target: it keeps three and must revoke three, still at epoch 1.
    hb_response a2 = beat(again("a", 1, {0, 1, 2, 3, 4, 5}));
    ASSERT_EQ(a2.error_code, 0);
    EXPECT_EQ(a2.member_epoch, 1);
    const std::set<int32_t> kept = assigned(a2);
    ASSERT_EQ(kept.size(), 3u);

    // b asks again: nothing is free yet.
    EXPECT_TRUE(assigned(beat(again("b", 2, {}))).empty());

    // a reports it let them go: it moves to epoch 2.
    hb_response a3 = beat(again("a", 1, kept));
    EXPECT_EQ(a3.member_epoch, 2);
    // b now gets the other three.
    hb_response b2 = beat(again("b", 2, {}));
    std::set<int32_t> got = assigned(b2);
    ASSERT_EQ(got.size(), 3u);
    for (int32_t p : got) {
        EXPECT_FALSE(kept.contains(p)) << "partition " << p << " given twice";
    }
    EXPECT_EQ(shard->consumer_describe("g").group_state, "Stable");
}

TEST_F(consumer_group_shard, errors_as_kafka_gives_them) {
    EXPECT_EQ(beat(again("x", 3, {})).error_code, code(error_code::group_id_not_found));
    ASSERT_EQ(beat(join("a")).member_epoch, 1);
    EXPECT_EQ(beat(again("x", 1, {})).error_code, code(error_code::unknown_member_id));
    EXPECT_EQ(beat(again("a", 5, {})).error_code, code(error_code::fenced_member_epoch));
    hb_request bad = join("b");
    bad.rebalance_timeout_ms = -1;
    hb_response r = beat(bad);
    EXPECT_EQ(r.error_code, code(error_code::invalid_request));
    EXPECT_TRUE(r.error_message);
    hb_request assignor = join("c");
    assignor.server_assignor = "sticky";
    EXPECT_EQ(beat(assignor).error_code, code(error_code::unsupported_assignor));
    EXPECT_EQ(shard->consumer_describe("g").members.size(), 1u) << "failed joins leave no member";
}

TEST_F(consumer_group_shard, a_member_leaving_frees_its_partitions) {
    beat(join("a"));
    beat(join("b"));
    hb_response a = beat(again("a", 1, {0, 1, 2, 3, 4, 5}));
    beat(again("a", 1, assigned(a)));
    beat(again("b", 2, {}));
    hb_request leave = again("b", 2, {});
    leave.member_epoch = -1;
    hb_response left = beat(leave);
    EXPECT_EQ(left.error_code, 0);
    EXPECT_EQ(left.member_epoch, -1);
    hb_response all = beat(again("a", 2, assigned(a)));
    EXPECT_EQ(assigned(all).size(), 6u);
    EXPECT_EQ(shard->consumer_describe("g").members.size(), 1u);
}

TEST_F(consumer_group_shard, a_silent_member_is_fenced_after_its_session) {
    beat(join("a"));
    host.steady += cfg.consumer_session_timeout_ms + 1;
    shard->poll();
    host.run();
    host.complete_all();
    auto d = shard->consumer_describe("g");
    EXPECT_TRUE(d.members.empty());
    EXPECT_EQ(d.group_state, "Empty");
}

TEST_F(consumer_group_shard, commits_are_checked_against_the_member_epoch) {
    beat(join("a"));
    auto commit = [&](int32_t epoch, int16_t version) {
        protocol::offset_commit_request req;
        req.group_id = "g";
        req.member_id = "a";
        req.generation_id_or_member_epoch = epoch;
        auto& t = req.topics.emplace_back();
        t.name = "t";
        auto& p = t.partitions.emplace_back();
        p.partition_index = 0;
        p.committed_offset = 42;
        int16_t err = -1;
        shard->commit_offsets(req, version, [&](protocol::offset_commit_response r) {
            err = r.topics[0].partitions[0].error_code;
        });
        host.run();
        host.complete_all();
        return err;
    };
    EXPECT_EQ(commit(1, 9), 0);
    EXPECT_EQ(commit(0, 9), code(error_code::stale_member_epoch));
    EXPECT_EQ(commit(2, 9), code(error_code::fenced_member_epoch));
    EXPECT_EQ(commit(1, 8), code(error_code::unsupported_version));
    fetched_group f = shard->fetch_offsets("g", std::nullopt, false, {"a", 1});
    EXPECT_EQ(f.error, error_code::none);
    ASSERT_EQ(f.offsets.size(), 1u);
    EXPECT_EQ(f.offsets[0].offset, 42);
    EXPECT_EQ(shard->fetch_offsets("g", std::nullopt, false, {"a", 0}).error, error_code::stale_member_epoch);
}

TEST_F(consumer_group_shard, a_new_shard_rebuilds_the_group_from_its_records) {
    beat(join("a"));
    beat(join("b"));
    hb_response a = beat(again("a", 1, {0, 1, 2, 3, 4, 5}));
    beat(again("a", 1, assigned(a)));
    hb_response b = beat(again("b", 2, {}));

    testing::fake_shard_host host2;
    host2.topics = host.topics;
    group_shard reloaded(0, host2, cfg);
    for (const auto& rec : host.committed) {
        std::optional<bytes_view> value;
        if (rec.value) {
            value = bytes_view(*rec.value);
        }
        reloaded.replay(decode_offsets_record(rec.key, value));
    }
    reloaded.loaded();
    auto before = shard->consumer_describe("g");
    auto after = reloaded.consumer_describe("g");
    EXPECT_EQ(after, before);
    EXPECT_EQ(after.group_state, "Stable");
    // The members go on where they were.
    int calls = 0;
    reloaded.consumer_heartbeat(again("b", 2, assigned(b)), 1, {"client", "/127.0.0.1"}, [&](hb_response r) {
        ++calls;
        EXPECT_EQ(r.error_code, 0);
        EXPECT_EQ(r.member_epoch, 2);
    });
    host2.run();
    host2.complete_all();
    EXPECT_EQ(calls, 1);
}

TEST_F(consumer_group_shard, classic_members_cannot_join_a_consumer_group) {
    beat(join("a"));
    protocol::join_group_request req;
    req.group_id = "g";
    req.session_timeout_ms = 10000;
    req.rebalance_timeout_ms = 10000;
    req.protocol_type = "consumer";
    req.protocols.emplace_back().name = "range";
    int16_t err = -1;
    shard->join(req, 9, {"c", "/127.0.0.1"}, [&](protocol::join_group_response r) { err = r.error_code; });
    host.run();
    EXPECT_EQ(err, code(error_code::inconsistent_group_protocol));
    std::vector<protocol::list_groups_response::listed_group> listed;
    shard->list({}, {"consumer"}, listed);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].group_type, "consumer");
    EXPECT_EQ(listed[0].group_state, "Stable");
}

TEST(consumer_reconcile, a_lost_answer_at_the_previous_epoch_is_forgiven) {
    consumer::member m;
    m.epoch = 3;
    m.previous_epoch = 2;
    protocol::uuid t;
    t.b[0] = 7;
    m.assigned[t] = {0, 1};
    consumer::topic_partitions owned;
    owned[t] = {0};
    EXPECT_TRUE(consumer::owned_within(owned, m.assigned));
    owned[t].insert(5);
    EXPECT_FALSE(consumer::owned_within(owned, m.assigned));
    EXPECT_FALSE(consumer::owned_within(std::nullopt, m.assigned));
}

} // namespace
} // namespace trib::broker::groups
