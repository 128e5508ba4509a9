#include "broker/groups/group_shard.h"

#include "protocol/wire.h"
#include "tests/fakes/group_shard_host.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <regex>

namespace trib::broker::groups {
namespace {

using protocol::error_code;

int16_t code(error_code e) { return protocol::to_int(e); }

using fake_host = testing::fake_shard_host;

// One answer: how many times it came, and the last one.
template<typename R>
struct answer {
    int calls = 0;
    R value{};
    bool arrived() const { return calls > 0; }
};

protocol::offset_delete_request delete_request(const std::string& group, const std::string& topic) {
    protocol::offset_delete_request req;
    req.group_id = group;
    auto& t = req.topics.emplace_back();
    t.name = topic;
    t.partitions.emplace_back().partition_index = 0;
    return req;
}

bytes subscription(const std::vector<std::string>& topics) {
    protocol::writer w;
    w.write_int16(1);
    w.write_int32(int32_t(topics.size()));
    for (const auto& t : topics) {
        w.write_string(t);
    }
    w.write_int32(-1);  // user data: null
    w.write_int32(0);   // v1 owned partitions: none
    return w.take();
}

protocol::join_group_request::join_group_request_protocol proto(std::string name, bytes metadata = subscription({"t"})) {
    protocol::join_group_request::join_group_request_protocol p;
    p.name = std::move(name);
    p.metadata = std::move(metadata);
    return p;
}

struct join_args {
    std::string member_id{};
    int16_t version = 9;
    std::optional<std::string> instance_id{};
    std::vector<protocol::join_group_request::join_group_request_protocol> protocols{proto("range")};
    std::string protocol_type = "consumer";
    int32_t session_ms = 10000;
    int32_t rebalance_ms = 30000;
    std::string client_id = "client";
};

class group_shard_test : public ::testing::Test {
protected:
    fake_host host;
    group_config cfg = [] {
        group_config c;
        c.initial_rebalance_delay_ms = 3000;
        c.min_session_timeout_ms = 6000;
        c.max_session_timeout_ms = 60000;
        return c;
    }();
    std::unique_ptr<group_shard> shard;
    // Every answer handed out, to check none came twice.
    std::vector<std::function<int()>> all_calls;

    void SetUp() override { make_shard(); }

    void make_shard() {
        shard = std::make_unique<group_shard>(7, host, cfg);
        shard->loaded();
    }

    void TearDown() override {
        if (shard) {
            shard->unload();
            host.run();
        }
        for (auto& calls : all_calls) {
            EXPECT_EQ(calls(), 1) << "every callback is called exactly once";
        }
    }

    template<typename R>
    std::pair<std::shared_ptr<answer<R>>, std::function<void(R)>> expect() {
        auto a = std::make_shared<answer<R>>();
        all_calls.push_back([a] { return a->calls; });
        return {a, [a](R r) {
                    ++a->calls;
                    a->value = std::move(r);
                }};
    }


    std::shared_ptr<answer<protocol::join_group_response>> join(const std::string& group, join_args a) {
        protocol::join_group_request req;
        req.group_id = group;
        req.member_id = a.member_id;
        req.group_instance_id = a.instance_id;
        req.protocols = a.protocols;
        req.protocol_type = a.protocol_type;
        req.session_timeout_ms = a.session_ms;
        req.rebalance_timeout_ms = a.rebalance_ms;
        auto [ans, cb] = expect<protocol::join_group_response>();
        shard->join(req, a.version, {a.client_id, "/127.0.0.1"}, cb);
        EXPECT_FALSE(ans->arrived()) << "never answered from inside the call";
        host.run();
        return ans;
    }

    // A dynamic member's two JoinGroups (v4+): MEMBER_ID_REQUIRED, then the parked one.
    std::shared_ptr<answer<protocol::join_group_response>> join_new(const std::string& group, join_args a = {}) {
        auto first = join(group, a);
        EXPECT_EQ(first->value.error_code, code(error_code::member_id_required));
        a.member_id = first->value.member_id;
        return join(group, a);
    }

    std::shared_ptr<answer<protocol::sync_group_response>> sync(const std::string& group, const std::string& member,
                                                                int32_t generation,
                                                                std::vector<std::pair<std::string, bytes>> assignments = {},
                                                                std::optional<std::string> instance_id = {}) {
        protocol::sync_group_request req;
        req.group_id = group;
        req.member_id = member;
        req.generation_id = generation;
        req.group_instance_id = instance_id;
        for (auto& [m, b] : assignments) {
            protocol::sync_group_request::sync_group_request_assignment x;
            x.member_id = m;
            x.assignment = b;
            req.assignments.push_back(std::move(x));
        }
        auto [ans, cb] = expect<protocol::sync_group_response>();
        shard->sync(req, 5, cb);
        host.run();
        return ans;
    }

    int16_t heartbeat(const std::string& group, const std::string& member, int32_t generation,
                      std::optional<std::string> instance_id = {}) {
        protocol::heartbeat_request req;
        req.group_id = group;
        req.member_id = member;
        req.generation_id = generation;
        req.group_instance_id = instance_id;
        return shard->heartbeat(req, 4).error_code;
    }

    std::shared_ptr<answer<protocol::offset_commit_response>> commit(const std::string& group, const std::string& member,
                                                                     int32_t generation, const std::string& topic,
                                                                     int32_t partition, int64_t offset,
                                                                     std::optional<std::string> metadata = "m",
                                                                     std::optional<std::string> instance_id = {}) {
        protocol::offset_commit_request req;
        req.group_id = group;
        req.member_id = member;
        req.group_instance_id = std::move(instance_id);
        req.generation_id_or_member_epoch = generation;
        auto& t = req.topics.emplace_back();
        t.name = topic;
        auto& p = t.partitions.emplace_back();
        p.partition_index = partition;
        p.committed_offset = offset;
        p.committed_metadata = std::move(metadata);
        auto [ans, cb] = expect<protocol::offset_commit_response>();
        shard->commit_offsets(req, 8, cb);
        host.run();
        return ans;
    }

    std::shared_ptr<answer<protocol::offset_delete_response>> delete_offsets(const protocol::offset_delete_request& req) {
        auto [ans, cb] = expect<protocol::offset_delete_response>();
        shard->delete_offsets(req, cb);
        host.run();
        return ans;
    }

    int16_t commit_error(const std::shared_ptr<answer<protocol::offset_commit_response>>& a) {
        EXPECT_TRUE(a->arrived());
        if (a->value.topics.empty() || a->value.topics[0].partitions.empty()) {
            return -100;
        }
        return a->value.topics[0].partitions[0].error_code;
    }

    // Moves both clocks by `ms`, polling at every deadline next_deadline_ms() gives on the way.
    void advance(int64_t ms) {
        const int64_t target = host.steady + ms;
        for (int i = 0; i < 10000; ++i) {
            const int64_t d = shard->next_deadline_ms();
            if (d > target) {
                break;
            }
            const int64_t step = std::max<int64_t>(d - host.steady, 0);
            host.steady += step;
            host.wall += step;
            shard->poll();
            host.run();
        }
        // No poll at the target itself: a timer the shard did not report is missed (the
        // broker would catch it within a second; these tests require it on time).
        host.wall += target - host.steady;
        host.steady = target;
    }

    std::string state(const std::string& group) { return shard->describe(group).group_state; }

    // A two-member Stable group "g": returns {leader, follower} and the generation.
    std::pair<std::string, std::string> stable_pair(int32_t& generation) {
        auto a = join_new("g");
        auto b = join_new("g");
        advance(3000);  // b joined during the initial delay: it runs once more
        EXPECT_FALSE(a->arrived());
        advance(3000);
        EXPECT_TRUE(a->arrived() && b->arrived());
        generation = a->value.generation_id;
        const std::string leader = a->value.leader;
        const std::string follower = leader == a->value.member_id ? b->value.member_id : a->value.member_id;
        auto fs = sync("g", follower, generation);
        auto ls = sync("g", leader, generation, {{leader, bytes{1}}, {follower, bytes{2}}});
        EXPECT_FALSE(fs->arrived());
        EXPECT_TRUE(host.complete());
        EXPECT_EQ(fs->value.assignment, bytes{2});
        EXPECT_EQ(ls->value.assignment, bytes{1});
        EXPECT_EQ(state("g"), "Stable");
        return {leader, follower};
    }
};

TEST_F(group_shard_test, first_join_from_v4_requires_a_member_id_then_the_group_forms_after_the_initial_delay) {
    auto first = join("g", {});
    EXPECT_EQ(first->value.error_code, code(error_code::member_id_required));
    EXPECT_TRUE(std::regex_match(first->value.member_id,
                                 std::regex("client-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << first->value.member_id;
    auto parked = join("g", {.member_id = first->value.member_id});
    EXPECT_FALSE(parked->arrived());
    EXPECT_EQ(state("g"), "PreparingRebalance");
    advance(2999);
    EXPECT_FALSE(parked->arrived());
    advance(1);
    ASSERT_TRUE(parked->arrived());
    const auto& r = parked->value;
    EXPECT_EQ(r.error_code, 0);
    EXPECT_EQ(r.generation_id, 1);
    EXPECT_EQ(r.leader, first->value.member_id);
    EXPECT_EQ(r.protocol_name, "range");
    EXPECT_EQ(r.protocol_type, "consumer");
    ASSERT_EQ(r.members.size(), 1u);
    EXPECT_EQ(r.members[0].metadata, subscription({"t"}));
    EXPECT_EQ(state("g"), "CompletingRebalance");
}

TEST_F(group_shard_test, a_join_before_v4_is_a_member_at_once) {
    auto a = join("g", {.version = 3});
    EXPECT_FALSE(a->arrived());
    advance(3000);
    EXPECT_EQ(a->value.error_code, 0);
    EXPECT_EQ(a->value.leader, a->value.member_id);
}

TEST_F(group_shard_test, a_pending_member_that_never_rejoins_expires_after_its_session_timeout) {
    auto first = join("g", {.session_ms = 6000});
    ASSERT_EQ(first->value.error_code, code(error_code::member_id_required));
    advance(6000);
    auto late = join("g", {.member_id = first->value.member_id});
    EXPECT_EQ(late->value.error_code, code(error_code::unknown_member_id));
}

TEST_F(group_shard_test, join_errors) {
    EXPECT_EQ(join("", {})->value.error_code, code(error_code::invalid_group_id));
    EXPECT_EQ(join("g", {.session_ms = 5999})->value.error_code, code(error_code::invalid_session_timeout));
    EXPECT_EQ(join("g", {.session_ms = 60001})->value.error_code, code(error_code::invalid_session_timeout));
    EXPECT_EQ(join("nope", {.member_id = "someone"})->value.error_code, code(error_code::unknown_member_id));
    EXPECT_EQ(join("g", {.protocols = {}})->value.error_code, code(error_code::inconsistent_group_protocol));
    EXPECT_EQ(join("g", {.protocol_type = ""})->value.error_code, code(error_code::inconsistent_group_protocol));
    EXPECT_TRUE(shard->groups().empty()) << "a failed first join leaves no group";

    auto a = join_new("g");
    EXPECT_EQ(join("g", {.protocol_type = "connect"})->value.error_code, code(error_code::inconsistent_group_protocol));
    EXPECT_EQ(join("g", {.protocols = {proto("roundrobin")}})->value.error_code,
              code(error_code::inconsistent_group_protocol));
    advance(3000);
    EXPECT_EQ(a->value.error_code, 0);
}

TEST_F(group_shard_test, group_max_size) {
    cfg.max_size = 2;
    make_shard();
    auto a = join_new("g");
    auto b = join_new("g");
    auto c = join("g", {});  // two are waiting to join: a third is refused at once
    EXPECT_EQ(c->value.error_code, code(error_code::group_max_size_reached));
    advance(6000);
    EXPECT_EQ(a->value.error_code, 0);
    EXPECT_EQ(b->value.error_code, 0);
    EXPECT_EQ(shard->describe("g").members.size(), 2u);
}

TEST_F(group_shard_test, the_protocol_is_the_one_most_members_prefer_among_those_all_support) {
    auto a = join_new("g", {.protocols = {proto("roundrobin"), proto("range")}});
    auto b = join_new("g", {.protocols = {proto("range"), proto("roundrobin"), proto("sticky")}});
    auto c = join_new("g", {.protocols = {proto("sticky"), proto("range")}});
    advance(6000);
    // Only range is supported by all three.
    EXPECT_EQ(a->value.protocol_name, "range");
    EXPECT_EQ(c->value.protocol_name, "range");
}

TEST_F(group_shard_test, initial_delay_extends_while_members_join_up_to_the_rebalance_timeout) {
    auto a = join_new("g", {.rebalance_ms = 7000});
    advance(2000);
    auto b = join_new("g", {.rebalance_ms = 7000});
    advance(1000);  // 3000: a member joined during the delay, wait another one
    EXPECT_FALSE(a->arrived());
    advance(2000);
    auto c = join_new("g", {.rebalance_ms = 7000});
    advance(1000);  // 6000: again, but only 1000 of the rebalance timeout is left
    EXPECT_FALSE(a->arrived());
    auto d = join_new("g", {.rebalance_ms = 7000});
    advance(999);
    EXPECT_FALSE(a->arrived());
    advance(1);  // 7000: the rebalance timeout is spent
    ASSERT_TRUE(a->arrived());
    EXPECT_EQ(a->value.generation_id, 1);
    EXPECT_TRUE(d->arrived());
    EXPECT_EQ(shard->describe("g").members.size(), 4u);
}

TEST_F(group_shard_test, rebalance_waits_for_known_members_and_drops_those_that_do_not_rejoin) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    auto c = join_new("g");
    EXPECT_EQ(state("g"), "PreparingRebalance");
    EXPECT_FALSE(c->arrived());
    EXPECT_EQ(heartbeat("g", follower, gen), code(error_code::rebalance_in_progress));
    EXPECT_EQ(sync("g", follower, gen)->value.error_code, code(error_code::rebalance_in_progress));
    auto l = join("g", {.member_id = leader});
    EXPECT_FALSE(l->arrived());
    // The follower never rejoins: the rebalance completes at the rebalance timeout without it.
    advance(30000);
    ASSERT_TRUE(l->arrived());
    EXPECT_EQ(l->value.generation_id, gen + 1);
    EXPECT_EQ(l->value.members.size(), 2u);
    EXPECT_TRUE(c->value.members.empty());
    EXPECT_EQ(heartbeat("g", follower, gen), code(error_code::unknown_member_id));
}

TEST_F(group_shard_test, rebalance_completes_as_soon_as_every_member_rejoined) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    auto f = join("g", {.member_id = follower, .protocols = {proto("range", subscription({"t", "u"}))}});
    EXPECT_EQ(state("g"), "PreparingRebalance");
    auto l = join("g", {.member_id = leader});
    ASSERT_TRUE(f->arrived());
    EXPECT_EQ(f->value.generation_id, gen + 1);
    EXPECT_EQ(l->value.members.size(), 2u);
}

TEST_F(group_shard_test, a_stable_follower_rejoining_unchanged_gets_the_current_generation_and_a_leader_rebalances) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    auto f = join("g", {.member_id = follower});
    ASSERT_TRUE(f->arrived());
    EXPECT_EQ(f->value.generation_id, gen);
    EXPECT_EQ(f->value.leader, leader);
    EXPECT_EQ(state("g"), "Stable");
    auto l = join("g", {.member_id = leader});
    EXPECT_FALSE(l->arrived());
    EXPECT_EQ(state("g"), "PreparingRebalance");
    join("g", {.member_id = follower});
    EXPECT_TRUE(l->arrived());
    EXPECT_EQ(l->value.generation_id, gen + 1);
}

TEST_F(group_shard_test, sync_errors) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    EXPECT_EQ(sync("", leader, gen)->value.error_code, code(error_code::invalid_group_id));
    EXPECT_EQ(sync("other", leader, gen)->value.error_code, code(error_code::unknown_member_id));
    EXPECT_EQ(sync("g", "stranger", gen)->value.error_code, code(error_code::unknown_member_id));
    EXPECT_EQ(sync("g", leader, gen + 5)->value.error_code, code(error_code::illegal_generation));
    protocol::sync_group_request req;
    req.group_id = "g";
    req.member_id = leader;
    req.generation_id = gen;
    req.protocol_type = "connect";
    auto [a, cb] = expect<protocol::sync_group_response>();
    shard->sync(req, 5, cb);
    host.run();
    EXPECT_EQ(a->value.error_code, code(error_code::inconsistent_group_protocol));
    req.protocol_type = "consumer";
    req.protocol_name = "roundrobin";
    auto [b, cb2] = expect<protocol::sync_group_response>();
    shard->sync(req, 5, cb2);
    host.run();
    EXPECT_EQ(b->value.error_code, code(error_code::inconsistent_group_protocol));
    // Stable: the current assignment again, with the protocol.
    auto again = sync("g", follower, gen);
    EXPECT_EQ(again->value.assignment, bytes{2});
    EXPECT_EQ(again->value.protocol_name, "range");
}

TEST_F(group_shard_test, the_leaders_assignment_is_written_before_anyone_gets_it) {
    auto a = join_new("g");
    advance(3000);
    const std::string id = a->value.member_id;
    auto s = sync("g", id, 1, {{id, bytes{9, 9}}});
    ASSERT_EQ(host.appends.size(), 1u);
    EXPECT_FALSE(s->arrived());
    ASSERT_EQ(host.appends[0].records.size(), 1u);
    const auto& rec = host.appends[0].records[0];
    ASSERT_TRUE(rec.value);
    auto decoded = decode_offsets_record(rec.key, bytes_view(*rec.value));
    auto* gm = std::get_if<group_metadata_record>(&decoded);
    ASSERT_TRUE(gm);
    EXPECT_EQ(gm->key.group, "g");
    EXPECT_EQ(gm->value->generation, 1);
    EXPECT_EQ(gm->value->protocol, "range");
    EXPECT_EQ(gm->value->leader, id);
    ASSERT_EQ(gm->value->members.size(), 1u);
    EXPECT_EQ(gm->value->members[0].assignment, (bytes{9, 9}));
    EXPECT_EQ(gm->value->members[0].client_host, "/127.0.0.1");
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(s->value.error_code, 0);
    EXPECT_EQ(s->value.assignment, (bytes{9, 9}));
}

TEST_F(group_shard_test, a_failed_assignment_write_answers_the_error_and_rebalances) {
    auto a = join_new("g");
    auto b = join_new("g");
    advance(6000);
    const std::string leader = a->value.leader;
    const std::string follower = leader == a->value.member_id ? b->value.member_id : a->value.member_id;
    auto fs = sync("g", follower, 1);
    auto ls = sync("g", leader, 1, {{leader, bytes{1}}});
    EXPECT_TRUE(host.complete(error_code::not_enough_replicas));
    EXPECT_EQ(fs->value.error_code, code(error_code::coordinator_not_available));
    EXPECT_EQ(ls->value.error_code, code(error_code::coordinator_not_available));
    EXPECT_EQ(state("g"), "PreparingRebalance");
    join("g", {.member_id = leader});
    auto f2 = join("g", {.member_id = follower});
    EXPECT_EQ(f2->value.generation_id, 2);
}

TEST_F(group_shard_test, members_that_never_sync_are_removed_at_the_rebalance_timeout) {
    auto a = join_new("g", {.rebalance_ms = 20000});
    auto b = join_new("g", {.rebalance_ms = 20000});
    advance(6000);
    const std::string leader = a->value.leader;
    const std::string follower = leader == a->value.member_id ? b->value.member_id : a->value.member_id;
    auto ls = sync("g", leader, 1, {});
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(state("g"), "Stable");
    heartbeat("g", leader, 1);
    advance(9000);
    heartbeat("g", leader, 1);
    advance(9000);
    heartbeat("g", leader, 1);
    advance(2000);  // 20000 since the join completed: the follower never synced
    EXPECT_EQ(state("g"), "PreparingRebalance");
    EXPECT_EQ(heartbeat("g", follower, 1), code(error_code::unknown_member_id));
}

TEST_F(group_shard_test, heartbeats_keep_a_member_and_an_expired_session_rebalances) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    EXPECT_EQ(heartbeat("g", leader, gen), 0);
    EXPECT_EQ(heartbeat("g", leader, gen + 1), code(error_code::illegal_generation));
    EXPECT_EQ(heartbeat("g", "stranger", gen), code(error_code::unknown_member_id));
    EXPECT_EQ(heartbeat("", leader, gen), code(error_code::invalid_group_id));
    EXPECT_EQ(heartbeat("nope", leader, gen), code(error_code::unknown_member_id));
    advance(6000);
    EXPECT_EQ(heartbeat("g", leader, gen), 0);
    EXPECT_EQ(state("g"), "Stable");
    advance(6000);
    // The follower has not heartbeated for 12 s, past its 10 s session: it is gone.
    EXPECT_EQ(state("g"), "PreparingRebalance");
    EXPECT_EQ(heartbeat("g", leader, gen), code(error_code::rebalance_in_progress));
    auto l = join("g", {.member_id = leader});
    ASSERT_TRUE(l->arrived());
    EXPECT_EQ(l->value.members.size(), 1u);
}

TEST_F(group_shard_test, leave_group_v0_and_v3_batches) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    protocol::leave_group_request v0;
    v0.group_id = "g";
    v0.member_id = "stranger";
    auto [a, cb] = expect<protocol::leave_group_response>();
    shard->leave(v0, 0, cb);
    host.run();
    EXPECT_EQ(a->value.error_code, code(error_code::unknown_member_id));

    protocol::leave_group_request v3;
    v3.group_id = "g";
    v3.members.resize(2);
    v3.members[0].member_id = follower;
    v3.members[1].member_id = "stranger";
    auto [b, cb2] = expect<protocol::leave_group_response>();
    shard->leave(v3, 3, cb2);
    host.run();
    EXPECT_EQ(b->value.error_code, 0);
    ASSERT_EQ(b->value.members.size(), 2u);
    EXPECT_EQ(b->value.members[0].error_code, 0);
    EXPECT_EQ(b->value.members[1].error_code, code(error_code::unknown_member_id));
    EXPECT_EQ(state("g"), "PreparingRebalance");
    auto l = join("g", {.member_id = leader});
    EXPECT_EQ(l->value.members.size(), 1u);

    v0.member_id = leader;
    auto [c, cb3] = expect<protocol::leave_group_response>();
    shard->leave(v0, 2, cb3);
    host.run();
    EXPECT_EQ(c->value.error_code, 0);
    // The last member left: the group is Empty, and that is written.
    EXPECT_EQ(state("g"), "Empty");
    ASSERT_FALSE(host.appends.empty());
}

TEST_F(group_shard_test, static_member_rejoining_takes_its_place_without_a_rebalance_and_fences_the_old_id) {
    auto a = join("g", {.instance_id = "i1"});
    auto b = join("g", {.instance_id = "i2"});
    advance(6000);
    ASSERT_TRUE(a->arrived() && b->arrived());
    EXPECT_EQ(a->value.member_id.rfind("i1-", 0), 0u) << "static member ids start with the instance id";
    const std::string leader = a->value.leader;
    auto la = sync("g", leader, 1, {{a->value.member_id, bytes{1}}, {b->value.member_id, bytes{2}}});
    auto lb = sync("g", leader == a->value.member_id ? b->value.member_id : a->value.member_id, 1);
    EXPECT_TRUE(host.complete());
    ASSERT_EQ(state("g"), "Stable");

    // i2 restarts: it joins without a member id, with the same subscription.
    const std::string old_b = b->value.member_id;
    const bool b_leads = leader == old_b;
    auto again = join("g", {.instance_id = "i2"});
    EXPECT_FALSE(again->arrived()) << "answered once the new member id is written";
    ASSERT_EQ(host.appends.size(), 1u);
    EXPECT_TRUE(host.complete());
    ASSERT_TRUE(again->arrived());
    EXPECT_EQ(again->value.error_code, 0);
    EXPECT_NE(again->value.member_id, old_b);
    EXPECT_EQ(again->value.generation_id, 1);
    EXPECT_EQ(again->value.skip_assignment, b_leads);
    EXPECT_EQ(state("g"), "Stable");
    EXPECT_EQ(heartbeat("g", old_b, 1, "i2"), code(error_code::fenced_instance_id));
    EXPECT_EQ(heartbeat("g", again->value.member_id, 1, "i2"), 0);
    EXPECT_EQ(commit_error(commit("g", old_b, 1, "t", 0, 1, "m", "i2")), code(error_code::fenced_instance_id));
    EXPECT_EQ(commit_error(commit("g", again->value.member_id, 1, "t", 0, 1, "m", "i3")),
              code(error_code::unknown_member_id));
    EXPECT_EQ(sync("g", again->value.member_id, 1, {}, "i2")->value.assignment, bytes{2});

    // An admin removes i1 by instance id.
    protocol::leave_group_request req;
    req.group_id = "g";
    req.members.resize(1);
    req.members[0].group_instance_id = "i1";
    auto [l, cb] = expect<protocol::leave_group_response>();
    shard->leave(req, 4, cb);
    host.run();
    EXPECT_EQ(l->value.members.at(0).error_code, 0);
    EXPECT_EQ(state("g"), "PreparingRebalance");
}

TEST_F(group_shard_test, offset_commit_checks_generation_and_member) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    EXPECT_EQ(commit_error(commit("g", leader, gen + 1, "t", 0, 5)), code(error_code::illegal_generation));
    EXPECT_EQ(commit_error(commit("g", "stranger", gen, "t", 0, 5)), code(error_code::unknown_member_id));
    EXPECT_EQ(commit_error(commit("g", "", -1, "t", 0, 5)), code(error_code::unknown_member_id))
        << "outsiders commit only to an empty group";
    EXPECT_EQ(commit_error(commit("", "", -1, "t", 0, 5)), code(error_code::invalid_group_id));
    EXPECT_EQ(commit_error(commit("nope", "x", 3, "t", 0, 5)), code(error_code::illegal_generation));
    EXPECT_EQ(commit_error(commit("g", leader, gen, "t", 0, 5, std::string(4097, 'x'))),
              code(error_code::offset_metadata_too_large));
    EXPECT_TRUE(host.appends.empty());

    auto ok = commit("g", leader, gen, "t", 0, 5);
    EXPECT_FALSE(ok->arrived()) << "answered after the write";
    EXPECT_EQ(shard->fetch_offsets("g", std::vector<wanted_topic>{{"t", {0}}}, false).offsets.at(0).offset, -1)
        << "not visible before it is committed";
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(commit_error(ok), 0);
    auto f = shard->fetch_offsets("g", std::vector<wanted_topic>{{"t", {0, 1}}}, true);
    ASSERT_EQ(f.offsets.size(), 2u);
    EXPECT_EQ(f.offsets[0].offset, 5);
    EXPECT_EQ(f.offsets[0].metadata, "m");
    EXPECT_EQ(f.offsets[1].offset, -1);
    EXPECT_EQ(f.offsets[1].metadata, "");

    // During CompletingRebalance a member's commit is refused.
    join("g", {.member_id = leader});
    join("g", {.member_id = follower});
    EXPECT_EQ(commit_error(commit("g", leader, gen + 1, "t", 0, 6)), code(error_code::rebalance_in_progress));
}

TEST_F(group_shard_test, a_commit_from_outside_any_group_creates_an_empty_simple_group) {
    auto c = commit("simple", "", -1, "t", 3, 42, std::nullopt);
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(commit_error(c), 0);
    auto d = shard->describe("simple");
    EXPECT_EQ(d.group_state, "Empty");
    EXPECT_EQ(d.protocol_type, "");
    auto all = shard->fetch_offsets("simple", std::nullopt, false);
    ASSERT_EQ(all.offsets.size(), 1u);
    EXPECT_EQ(all.offsets[0].topic, "t");
    EXPECT_EQ(all.offsets[0].partition, 3);
    EXPECT_EQ(all.offsets[0].offset, 42);
    EXPECT_EQ(all.offsets[0].metadata, "");
    // The record is Kafka's OffsetCommitValue.
    ASSERT_EQ(host.committed.size(), 1u);
    auto rec = decode_offsets_record(host.committed[0].key, bytes_view(*host.committed[0].value));
    auto* oc = std::get_if<offset_commit_record>(&rec);
    ASSERT_TRUE(oc);
    EXPECT_EQ(oc->key.group, "simple");
    EXPECT_EQ(oc->value->offset, 42);
    EXPECT_EQ(oc->value->commit_timestamp, host.wall);
}

TEST_F(group_shard_test, a_failed_commit_write_changes_nothing) {
    auto c = commit("simple", "", -1, "t", 0, 42);
    EXPECT_TRUE(host.complete(error_code::not_leader_or_follower));
    EXPECT_EQ(commit_error(c), code(error_code::not_coordinator));
    EXPECT_TRUE(shard->fetch_offsets("simple", std::nullopt, false).offsets.empty());
    EXPECT_TRUE(shard->groups().empty());
}

TEST_F(group_shard_test, offset_delete) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    commit("g", leader, gen, "t", 0, 5);
    commit("g", leader, gen, "other", 0, 7);
    host.complete_all();
    protocol::offset_delete_request req;
    req.group_id = "g";
    req.topics.resize(2);
    req.topics[0].name = "t";
    req.topics[0].partitions.resize(1);
    req.topics[1].name = "other";
    req.topics[1].partitions.resize(2);
    req.topics[1].partitions[1].partition_index = 1;
    auto a = delete_offsets(req);
    EXPECT_FALSE(a->arrived());
    ASSERT_EQ(host.appends.size(), 1u);
    ASSERT_EQ(host.appends[0].records.size(), 1u) << "one tombstone: other-0";
    EXPECT_FALSE(host.appends[0].records[0].value);
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(a->value.error_code, 0);
    EXPECT_EQ(a->value.topics[0].partitions[0].error_code, code(error_code::group_subscribed_to_topic));
    EXPECT_EQ(a->value.topics[1].partitions[0].error_code, 0);
    EXPECT_EQ(a->value.topics[1].partitions[1].error_code, 0);
    auto f = shard->fetch_offsets("g", std::nullopt, false);
    ASSERT_EQ(f.offsets.size(), 1u);
    EXPECT_EQ(f.offsets[0].topic, "t");

    req.group_id = "nope";
    EXPECT_EQ(delete_offsets(req)->value.error_code, code(error_code::group_id_not_found));
}

TEST_F(group_shard_test, offset_delete_of_a_non_consumer_group_in_use_is_refused_and_garbage_metadata_counts_as_subscribed) {
    auto a = join_new("connect", {.protocols = {proto("default", bytes{1, 2, 3})}, .protocol_type = "connect"});
    auto b = join_new("c", {.protocols = {proto("range", bytes{0xff, 0xff, 0, 0})}});
    advance(3000);
    EXPECT_EQ(delete_offsets(delete_request("connect", "t"))->value.error_code, code(error_code::non_empty_group));
    auto y = delete_offsets(delete_request("c", "t"));
    EXPECT_EQ(y->value.topics.at(0).partitions.at(0).error_code, code(error_code::group_subscribed_to_topic));
}

TEST_F(group_shard_test, describe_list_and_delete_groups) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    auto d = shard->describe("g");
    EXPECT_EQ(d.group_state, "Stable");
    EXPECT_EQ(d.protocol_type, "consumer");
    EXPECT_EQ(d.protocol_data, "range");
    ASSERT_EQ(d.members.size(), 2u);
    for (const auto& m : d.members) {
        EXPECT_EQ(m.client_id, "client");
        EXPECT_EQ(m.client_host, "/127.0.0.1");
        EXPECT_EQ(m.member_metadata, subscription({"t"}));
        EXPECT_EQ(m.member_assignment, m.member_id == leader ? bytes{1} : bytes{2});
    }
    EXPECT_EQ(shard->describe("nope").group_state, "Dead");
    commit("simple", "", -1, "t", 0, 1);
    EXPECT_TRUE(host.complete());

    std::vector<protocol::list_groups_response::listed_group> out;
    shard->list({}, {}, out);
    EXPECT_EQ(out.size(), 2u);
    out.clear();
    shard->list({"empty"}, {}, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].group_id, "simple");
    out.clear();
    shard->list({}, {"consumer"}, out);
    EXPECT_TRUE(out.empty()) << "these are classic groups";
    shard->list({"STABLE"}, {"Classic"}, out);
    EXPECT_EQ(out.size(), 1u);

    auto [r, cb] = expect<std::vector<protocol::delete_groups_response::deletable_group_result>>();
    shard->delete_groups({"g", "simple", "nope", ""}, cb);
    host.run();
    EXPECT_FALSE(r->arrived());
    ASSERT_EQ(host.appends.size(), 1u);
    ASSERT_EQ(host.appends[0].records.size(), 2u) << "simple's offset and its group";
    EXPECT_TRUE(host.complete());
    ASSERT_EQ(r->value.size(), 4u);
    EXPECT_EQ(r->value[0].error_code, code(error_code::non_empty_group));
    EXPECT_EQ(r->value[1].error_code, 0);
    EXPECT_EQ(r->value[2].error_code, code(error_code::group_id_not_found));
    EXPECT_EQ(r->value[3].error_code, code(error_code::invalid_group_id));
    EXPECT_EQ(shard->describe("simple").group_state, "Dead");
    EXPECT_TRUE(shard->fetch_offsets("simple", std::nullopt, false).offsets.empty());
}

TEST_F(group_shard_test, replay_rebuilds_groups_and_offsets_and_loaded_restarts_sessions) {
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    commit("g", leader, gen, "t", 0, 5);
    commit("g", leader, gen, "t", 1, 6);
    commit("gone", "", -1, "t", 0, 1);
    host.complete_all();
    delete_offsets(delete_request("gone", "t"));
    EXPECT_TRUE(host.complete());
    auto [y, cb2] = expect<std::vector<protocol::delete_groups_response::deletable_group_result>>();
    shard->delete_groups({"gone"}, cb2);
    EXPECT_TRUE(host.complete());
    shard->unload();
    host.run();

    // A new leader loads the partition.
    shard = std::make_unique<group_shard>(7, host, cfg);
    host.replay_committed_into(*shard);
    shard->replay(other_record{5});
    shard->replay(bad_record{"short"});
    shard->loaded();
    EXPECT_EQ(state("gone"), "Dead");
    auto d = shard->describe("g");
    EXPECT_EQ(d.group_state, "Stable");
    EXPECT_EQ(d.members.size(), 2u);
    auto f = shard->fetch_offsets("g", std::nullopt, false);
    ASSERT_EQ(f.offsets.size(), 2u);
    EXPECT_EQ(f.offsets[1].offset, 6);
    EXPECT_EQ(heartbeat("g", follower, gen), 0);
    EXPECT_EQ(sync("g", follower, gen)->value.assignment, bytes{2});
    // Each member got a full session from loaded(): the leader, silent, expires after 10 s.
    advance(6000);
    EXPECT_EQ(heartbeat("g", follower, gen), 0);
    advance(4000);
    EXPECT_EQ(state("g"), "PreparingRebalance");
}

TEST_F(group_shard_test, requests_before_loaded_wait_for_the_load) {
    shard = std::make_unique<group_shard>(7, host, cfg);
    EXPECT_EQ(join("g", {})->value.error_code, code(error_code::coordinator_load_in_progress));
    EXPECT_EQ(shard->fetch_offsets("g", std::nullopt, false).error, error_code::coordinator_load_in_progress);
}

TEST_F(group_shard_test, offsets_of_an_empty_group_expire_after_retention_since_it_became_empty) {
    cfg.offsets_retention_ms = 100000;
    cfg.offsets_retention_check_interval_ms = 10000;
    make_shard();
    int32_t gen = 0;
    auto [leader, follower] = stable_pair(gen);
    commit("g", leader, gen, "t", 0, 5);
    EXPECT_TRUE(host.complete());
    commit("simple", "", -1, "t", 0, 5);
    EXPECT_TRUE(host.complete());
    advance(50000);
    // Both members leave at 50 s: the group is Empty from then.
    protocol::leave_group_request req;
    req.group_id = "g";
    req.members.resize(2);
    req.members[0].member_id = leader;
    req.members[1].member_id = follower;
    auto [l, cb] = expect<protocol::leave_group_response>();
    shard->leave(req, 3, cb);
    host.run();
    host.complete_all();
    ASSERT_EQ(state("g"), "Empty");
    advance(60000);  // 116 s: the simple group's offset, committed at 6 s, expired at the 110 s check, then the group
    host.complete_all();
    EXPECT_EQ(state("simple"), "Dead");
    EXPECT_EQ(state("g"), "Empty");
    EXPECT_EQ(shard->fetch_offsets("g", std::nullopt, false).offsets.size(), 1u);
    advance(50000);  // 166 s: g's, at the 160 s check, 100 s after it became empty
    host.complete_all();
    EXPECT_EQ(state("g"), "Dead");
    size_t tombstones = 0;
    for (const auto& r : host.committed) {
        tombstones += !r.value;
    }
    EXPECT_EQ(tombstones, 4u) << "two offsets and two groups";
}

TEST_F(group_shard_test, unload_answers_everything_waiting_not_coordinator) {
    auto a = join_new("g");
    auto b = join_new("g");
    advance(6000);
    auto parked = join_new("h");
    auto fs = sync("g", a->value.member_id == a->value.leader ? b->value.member_id : a->value.member_id, 1);
    auto c = commit("s", "", -1, "t", 0, 1);
    shard->unload();
    host.run();
    EXPECT_EQ(parked->value.error_code, code(error_code::not_coordinator));
    EXPECT_EQ(fs->value.error_code, code(error_code::not_coordinator));
    EXPECT_EQ(commit_error(c), code(error_code::not_coordinator));
    // The host answering the append later is ignored.
    EXPECT_TRUE(host.complete());
    EXPECT_EQ(join("g", {})->value.error_code, code(error_code::not_coordinator));
    shard.reset();
    host.run();
}

TEST_F(group_shard_test, a_same_member_join_sent_twice_answers_the_first_one) {
    auto a = join("g", {});
    auto first = join("g", {.member_id = a->value.member_id});
    auto second = join("g", {.member_id = a->value.member_id});
    EXPECT_EQ(first->value.error_code, code(error_code::rebalance_in_progress));
    advance(3000);
    EXPECT_EQ(second->value.error_code, 0);
}

TEST_F(group_shard_test, next_deadline_is_the_earliest_timer) {
    join_new("g");
    EXPECT_EQ(shard->next_deadline_ms(), host.steady + 3000);
}

TEST_F(group_shard_test, an_offset_committed_while_its_group_is_deleted_outlives_it_as_on_replay) {
    auto c = commit("s", "", -1, "t", 0, 1);
    EXPECT_TRUE(host.complete());
    auto late = commit("s", "", -1, "t", 1, 2);  // in flight when the group is deleted
    auto [r, cb] = expect<std::vector<protocol::delete_groups_response::deletable_group_result>>();
    shard->delete_groups({"s"}, cb);
    host.run();
    EXPECT_EQ(commit_error(commit("s", "", -1, "t", 2, 3)), code(error_code::coordinator_not_available))
        << "no commits to a group being deleted";
    host.complete_all();
    EXPECT_EQ(commit_error(late), 0);
    EXPECT_EQ(r->value.at(0).error_code, 0);
    auto f = shard->fetch_offsets("s", std::nullopt, false);
    ASSERT_EQ(f.offsets.size(), 1u);
    EXPECT_EQ(f.offsets[0].partition, 1);
}

TEST_F(group_shard_test, garbage_metadata_and_oversized_assignments_get_errors_not_crashes) {
    const std::vector<bytes> garbage = {{}, {0xff}, {0, 0, 0x7f, 0xff, 0xff, 0xff}, {0x80, 0, 0, 0, 0, 1, 0, 5}};
    const std::vector<std::string> names = {"g0", "g1", "g2", "g3"};
    std::vector<std::string> ids;
    int n = 0;
    for (const bytes& b : garbage) {
        auto a = join_new(names[size_t(n++)], {.protocols = {proto("range", b)}});
        advance(3000);
        ASSERT_EQ(a->value.error_code, 0);
        ids.push_back(a->value.member_id);
    }
    // An assignment too big for a batch: the append fails, the member is told.
    auto s = sync("g0", ids[0], 1, {{ids[0], bytes(1 << 20, 7)}});
    EXPECT_TRUE(host.complete(error_code::message_too_large));
    EXPECT_EQ(s->value.error_code, code(error_code::unknown_server_error));
    // Members whose subscription cannot be read count as subscribed to everything.
    for (int i = 1; i < n; ++i) {
        auto ok = sync(names[size_t(i)], ids[size_t(i)], 1, {});
        EXPECT_TRUE(host.complete());
        auto d = delete_offsets(delete_request(names[size_t(i)], "t"));
        EXPECT_EQ(d->value.topics.at(0).partitions.at(0).error_code, code(error_code::group_subscribed_to_topic));
        EXPECT_EQ(shard->describe(names[size_t(i)]).members.at(0).member_metadata, garbage[size_t(i)]);
    }
}

TEST_F(group_shard_test, a_protocol_named_twice_counts_once) {
    auto a = join_new("g", {.protocols = {proto("range"), proto("range", bytes{1})}});
    auto b = join_new("g", {.protocols = {proto("range")}});
    advance(6000);
    ASSERT_EQ(b->value.error_code, 0);
    EXPECT_EQ(b->value.protocol_name, "range");
}

TEST_F(group_shard_test, a_failed_delete_leaves_the_group_as_it_was) {
    commit("s", "", -1, "t", 0, 1);
    EXPECT_TRUE(host.complete());
    auto [r, cb] = expect<std::vector<protocol::delete_groups_response::deletable_group_result>>();
    shard->delete_groups({"s"}, cb);
    host.run();
    EXPECT_EQ(state("s"), "Dead");
    EXPECT_TRUE(host.complete(error_code::request_timed_out));
    EXPECT_EQ(r->value.at(0).error_code, code(error_code::coordinator_not_available));
    EXPECT_EQ(state("s"), "Empty");
    EXPECT_EQ(shard->fetch_offsets("s", std::nullopt, false).offsets.size(), 1u);
}

// Many requests in a random order (fixed seed), appends failing at random, the clock jumping:
// no crash, and TearDown checks that each request was answered exactly once.
TEST_F(group_shard_test, random_operations_answer_every_request_exactly_once) {
    std::mt19937 rng(20261202);
    auto pick = [&](int n) { return int(rng() % uint32_t(n)); };
    const std::vector<std::string> names = {"a", "b", "c"};
    struct joined {
        std::string group;
        std::optional<std::string> instance;
        std::shared_ptr<answer<protocol::join_group_response>> ans;
    };
    std::vector<joined> joins;
    auto some_member = [&]() -> const joined* {
        std::vector<const joined*> ok;
        for (const auto& j : joins) {
            if (j.ans->arrived() && !j.ans->value.member_id.empty()) {
                ok.push_back(&j);
            }
        }
        return ok.empty() ? nullptr : ok[size_t(pick(int(ok.size())))];
    };
    const error_code failures[] = {error_code::none, error_code::none, error_code::none, error_code::not_enough_replicas,
                                   error_code::not_leader_or_follower, error_code::message_too_large};
    for (int step = 0; step < 4000; ++step) {
        const std::string& g = names[size_t(pick(3))];
        const joined* m = some_member();
        switch (pick(12)) {
        case 0:
        case 1: {
            join_args a;
            a.version = int16_t(pick(10));
            if (pick(3) == 0) {
                a.instance_id = "i" + std::to_string(pick(3));
                a.version = std::max<int16_t>(a.version, 5);
            }
            a.protocols = pick(2) ? std::vector{proto("range")} : std::vector{proto("rr"), proto("range", bytes{1})};
            a.session_ms = 6000 + 1000 * pick(5);
            auto instance = a.instance_id;
            joins.push_back({g, instance, join(g, a)});
            break;
        }
        case 2:
            if (m) {
                join_args a;
                a.member_id = m->ans->value.member_id;
                a.instance_id = m->instance;
                a.version = 5;
                joins.push_back({m->group, m->instance, join(m->group, a)});
            }
            break;
        case 3:
            if (m) {
                std::vector<std::pair<std::string, bytes>> assignment;
                for (const auto& x : m->ans->value.members) {
                    assignment.emplace_back(x.member_id, bytes(size_t(pick(4)), uint8_t(step)));
                }
                sync(m->group, m->ans->value.member_id, m->ans->value.generation_id, assignment, m->instance);
            }
            break;
        case 4:
            if (m) {
                heartbeat(m->group, m->ans->value.member_id, m->ans->value.generation_id, m->instance);
            }
            break;
        case 5:
            if (m) {
                protocol::leave_group_request req;
                req.group_id = m->group;
                req.member_id = m->ans->value.member_id;
                auto& who = req.members.emplace_back();
                who.member_id = pick(2) ? m->ans->value.member_id : "";
                who.group_instance_id = m->instance;
                auto [ans, cb] = expect<protocol::leave_group_response>();
                shard->leave(req, int16_t(pick(6)), cb);
                host.run();
            }
            break;
        case 6:
            if (m && pick(2)) {
                commit(m->group, m->ans->value.member_id, m->ans->value.generation_id, "t", pick(3), step);
            } else {
                commit(g, "", -1, "t", pick(3), step);
            }
            break;
        case 7:
            advance(pick(8000));
            break;
        case 8:
        case 9:
            if (!host.appends.empty()) {
                EXPECT_TRUE(host.complete(failures[pick(6)]));
            }
            break;
        case 10: {
            auto [ans, cb] = expect<std::vector<protocol::delete_groups_response::deletable_group_result>>();
            shard->delete_groups({g}, cb);
            host.run();
            break;
        }
        case 11: {
            delete_offsets(delete_request(g, "t"));
            std::vector<protocol::list_groups_response::listed_group> out;
            shard->list({}, {}, out);
            shard->describe(g);
            shard->fetch_offsets(g, std::nullopt, false);
            break;
        }
        }
    }
    host.complete_all();
    advance(400000);
    host.complete_all();
    std::map<int16_t, int> by_error;
    for (const auto& j : joins) {
        ++by_error[j.ans->value.error_code];
    }
    // The walk reached the interesting states: generations formed, records written.
    EXPECT_GT(by_error[0], 100);
    EXPECT_GT(by_error[code(error_code::fenced_instance_id)], 0);
    EXPECT_GT(host.committed.size(), 50u);
}

TEST_F(group_shard_test, a_static_member_that_misses_a_rebalance_keeps_its_place) {
    auto a = join("g", {.instance_id = "i1"});
    auto b = join("g", {.instance_id = "i2"});
    advance(6000);
    ASSERT_TRUE(a->arrived() && b->arrived());
    const std::string leader = a->value.leader;
    const bool a_leads = leader == a->value.member_id;
    const std::string follower = a_leads ? b->value.member_id : a->value.member_id;
    const std::string follower_instance = a_leads ? "i2" : "i1";
    const std::string leader_instance = a_leads ? "i1" : "i2";
    sync("g", follower, 1, {}, follower_instance);
    sync("g", leader, 1, {}, leader_instance);
    EXPECT_TRUE(host.complete());
    auto l = join("g", {.member_id = leader, .instance_id = leader_instance});
    EXPECT_EQ(state("g"), "PreparingRebalance");
    for (int i = 0; i < 4; ++i) {
        advance(6000);
        EXPECT_EQ(heartbeat("g", follower, 1, follower_instance), code(error_code::rebalance_in_progress));
    }
    advance(5999);
    EXPECT_FALSE(l->arrived());
    advance(1);  // the rebalance timeout (30 s) passed without the follower rejoining
    ASSERT_TRUE(l->arrived());
    EXPECT_EQ(l->value.generation_id, 2);
    EXPECT_EQ(l->value.members.size(), 2u) << "the static follower stays in the group";
    EXPECT_EQ(heartbeat("g", follower, 2, follower_instance), 0);
}

} // namespace
} // namespace trib::broker::groups
