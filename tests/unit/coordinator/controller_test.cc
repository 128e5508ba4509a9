// The controller's decisions on a single-voter log: placement, registration and leases,
// admin requests, restart and snapshots.
#include "tests/fakes/coordinator_harness.h"

#include "coordinator/client/errc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace trib::coordinator::testing {
namespace {

using protocol::error_code;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

TEST(placement, spreads_replicas_and_leaders_evenly) {
    harness h;
    for (int32_t id = 1; id <= 3; ++id) {
        h.add_live_broker(id);
    }
    auto res = h.create_topic("spread", 6, 2);
    ASSERT_EQ(res.error_code, 0) << res.error_message.value_or("");
    EXPECT_EQ(res.num_partitions, 6);
    EXPECT_EQ(res.replication_factor, 2);
    EXPECT_FALSE(res.topic_id.is_zero());
    const auto* t = h.image().topic("spread");
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->partitions.size(), 6u);
    std::map<int32_t, int> leaders, replicas;
    for (const auto& p : t->partitions) {
        ASSERT_EQ(p.replicas.size(), 2u);
        EXPECT_NE(p.replicas[0], p.replicas[1]);
        EXPECT_EQ(p.isr, p.replicas) << "every replica is on a live broker: all in sync, leader first";
        EXPECT_EQ(p.leader, p.replicas[0]);
        EXPECT_EQ(p.leader_epoch, 0);
        ++leaders[p.leader];
        for (int32_t b : p.replicas) {
            ++replicas[b];
        }
    }
    EXPECT_EQ(leaders, (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
    EXPECT_EQ(replicas, (std::map<int32_t, int>{{1, 4}, {2, 4}, {3, 4}}));
}

TEST(placement, puts_replicas_of_a_partition_on_distinct_racks) {
    harness h;
    h.add_live_broker(1, "a");
    h.add_live_broker(2, "a");
    h.add_live_broker(3, "b");
    h.add_live_broker(4, "b");
    h.add_live_broker(5, "c");
    auto res = h.create_topic("racks", 10, 3);
    ASSERT_EQ(res.error_code, 0) << res.error_message.value_or("");
    std::map<int32_t, std::string> rack{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}};
    std::map<int32_t, int> leaders;
    for (const auto& p : h.image().topic("racks")->partitions) {
        std::set<std::string> racks;
        for (int32_t b : p.replicas) {
            racks.insert(rack[b]);
        }
        EXPECT_EQ(racks.size(), 3u) << "replicas of a partition should cover the three racks";
        ++leaders[p.leader];
    }
    EXPECT_EQ(leaders.size(), 5u) << "every broker should lead some partition";
}

TEST(placement, replication_factor_above_live_brokers_is_refused) {
    harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    // A registered but fenced broker does not count.
    ASSERT_EQ(h.register_broker(3, make_uuid(3)).error_code, 0);
    auto res = h.create_topic("too-wide", 1, 3);
    EXPECT_EQ(res.error_code, code(error_code::invalid_replication_factor));
    EXPECT_EQ(h.image().topic("too-wide"), nullptr);
}

TEST(registration, duplicate_node_id_with_a_live_lease_is_refused) {
    harness h;
    auto first = h.register_broker(1, make_uuid(1));
    ASSERT_EQ(first.error_code, 0);
    EXPECT_EQ(first.session_timeout_ms, 9000);

    auto dup = h.register_broker(1, make_uuid(99));
    EXPECT_EQ(dup.error_code, code(error_code::duplicate_broker_registration));
    EXPECT_NE(dup.error_message.value_or("").find("node id 1"), std::string::npos);

    // The same incarnation again is a retry: same epoch, no new record.
    auto next_before = h.image().next_offset();
    auto again = h.register_broker(1, make_uuid(1));
    EXPECT_EQ(again.error_code, 0);
    EXPECT_EQ(again.broker_epoch, first.broker_epoch);
    EXPECT_EQ(h.image().next_offset(), next_before);

    // Once the old lease has run out, a new incarnation takes the id.
    h.clk.advance(9001);
    auto taken = h.register_broker(1, make_uuid(99));
    EXPECT_EQ(taken.error_code, 0);
    EXPECT_GT(taken.broker_epoch, first.broker_epoch);
    EXPECT_EQ(h.image().broker(1)->incarnation, make_uuid(99));
    // The old incarnation's heartbeats are now stale.
    EXPECT_EQ(h.heartbeat(1, make_uuid(1), first.broker_epoch).error_code, code(error_code::stale_broker_epoch));
}

TEST(registration, wrong_cluster_id_is_refused) {
    harness h;
    controller::register_request req;
    req.cluster_id = "other";
    req.broker_id = 1;
    std::optional<controller::register_response> out;
    h.ctrl->register_broker(req, [&](controller::register_response r) { out = r; });
    ASSERT_TRUE(out);
    EXPECT_EQ(out->error_code, code(error_code::inconsistent_cluster_id));
}

TEST(registration, broker_starts_fenced_and_is_unfenced_once_caught_up) {
    harness h;
    auto r = h.register_broker(1, make_uuid(1));
    EXPECT_TRUE(h.image().broker(1)->fenced);
    auto behind = h.heartbeat(1, make_uuid(1), r.broker_epoch, r.broker_epoch - 1);
    EXPECT_TRUE(behind.is_fenced);
    auto caught_up = h.heartbeat(1, make_uuid(1), r.broker_epoch, r.broker_epoch + 1);
    EXPECT_FALSE(caught_up.is_fenced);
    EXPECT_FALSE(h.image().broker(1)->fenced);
    EXPECT_EQ(h.heartbeat(7, make_uuid(7), 0).error_code, code(error_code::broker_id_not_registered));
}

TEST(leases, expiry_fences_and_takes_leadership_away_heartbeat_unfences) {
    harness h;
    auto e1 = h.add_live_broker(1);
    h.add_live_broker(2);
    h.add_live_broker(3);
    ASSERT_EQ(h.create_topic("t", 6, 3).error_code, 0);
    const auto before = h.image().topic("t")->partitions;
    for (const auto& p : before) {
        ASSERT_EQ(p.isr, p.replicas) << "every replica starts in sync";
    }

    // Brokers 2 and 3 keep heartbeating; broker 1 goes silent.
    for (int step = 0; step < 5; ++step) {
        h.clk.advance(2000);
        h.heartbeat(2, make_uuid(2), h.image().broker(2)->epoch);
        h.heartbeat(3, make_uuid(3), h.image().broker(3)->epoch);
        h.ctrl->tick();
    }
    EXPECT_TRUE(h.image().broker(1)->fenced);
    EXPECT_FALSE(h.image().broker(2)->fenced);
    EXPECT_EQ(h.ctrl->usable_brokers(), (std::vector<int32_t>{2, 3}));
    // Broker 1 leaves every ISR; the partitions it led go to the first in-sync follower with
    // the next leader epoch; the others keep their leader and leader epoch. Every partition
    // changed (its ISR), so every partition epoch grew.
    auto after = h.image().topic("t")->partitions;
    int moved = 0;
    for (size_t i = 0; i < after.size(); ++i) {
        const auto& p = after[i];
        std::vector<int32_t> others;
        for (int32_t b : before[i].replicas) {
            if (b != 1) {
                others.push_back(b);
            }
        }
        EXPECT_EQ(p.replicas, before[i].replicas) << "replicas do not change";
        EXPECT_EQ(p.isr, others) << "broker 1 leaves the ISR of partition " << i;
        EXPECT_EQ(p.partition_epoch, before[i].partition_epoch + 1);
        if (before[i].leader == 1) {
            ++moved;
            EXPECT_EQ(p.leader, others.front()) << "the first in-sync follower leads";
            EXPECT_EQ(p.leader_epoch, before[i].leader_epoch + 1) << "a leader change bumps the epoch";
        } else {
            EXPECT_EQ(p.leader, before[i].leader);
            EXPECT_EQ(p.leader_epoch, before[i].leader_epoch);
        }
    }
    EXPECT_EQ(moved, 2);

    // It comes back with the same registration: unfenced, but it has missed records, so it
    // neither leads nor rejoins any ISR here; its partition leaders add it through
    // AlterPartition once it has caught up. Nothing is written for the partitions.
    auto hb = h.heartbeat(1, make_uuid(1), e1);
    EXPECT_FALSE(hb.is_fenced);
    EXPECT_FALSE(h.image().broker(1)->fenced);
    EXPECT_EQ(h.image().topic("t")->partitions, after);
}

TEST(leases, leaderless_partition_gets_its_leader_back_on_unfence) {
    harness h;
    auto e1 = h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("solo", 2, 1).error_code, 0);
    h.clk.advance(10000);
    h.ctrl->tick();
    for (const auto& p : h.image().topic("solo")->partitions) {
        EXPECT_EQ(p.leader, -1);
        EXPECT_EQ(p.isr, std::vector<int32_t>{1}) << "the last ISR member stays";
        EXPECT_EQ(p.leader_epoch, 1);
    }
    h.heartbeat(1, make_uuid(1), e1);
    for (const auto& p : h.image().topic("solo")->partitions) {
        EXPECT_EQ(p.leader, 1);
        EXPECT_EQ(p.leader_epoch, 2);
    }
}

TEST(leases, new_incarnation_taking_an_expired_id_takes_leadership_away_first) {
    harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    ASSERT_EQ(h.create_topic("t", 4, 2).error_code, 0);
    int led_by_1 = 0;
    for (const auto& p : h.image().topic("t")->partitions) {
        ASSERT_EQ(p.isr, p.replicas);
        led_by_1 += p.leader == 1;
    }
    ASSERT_EQ(led_by_1, 2);
    h.clk.advance(9001);  // both leases run out, no tick yet
    h.heartbeat(2, make_uuid(2), h.image().broker(2)->epoch);
    ASSERT_EQ(h.register_broker(1, make_uuid(50)).error_code, 0);
    EXPECT_TRUE(h.image().broker(1)->fenced);
    // The registration took broker 1 out of every ISR and gave the partitions it led to
    // broker 2, in sync since creation, in the same commit.
    for (const auto& p : h.image().topic("t")->partitions) {
        EXPECT_EQ(p.leader, 2);
        EXPECT_EQ(p.isr, std::vector<int32_t>{2});
        EXPECT_EQ(p.leader_epoch, p.replicas[0] == 1 ? 1 : 0) << "bumped where the leader changed";
    }
}

TEST(admin, new_partitions_start_with_every_unfenced_replica_in_sync) {
    harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    ASSERT_EQ(h.register_broker(3, make_uuid(3)).error_code, 0);  // registered, still fenced
    protocol::create_topics_request req;
    auto& t = req.topics.emplace_back();
    t.name = "t";
    t.num_partitions = -1;
    t.replication_factor = -1;
    t.assignments.push_back({0, {1, 2, 3}, {}});
    t.assignments.push_back({1, {3, 2, 1}, {}});
    auto resp = h.admin<protocol::create_topics_request, protocol::create_topics_response>(req, 7);
    ASSERT_EQ(resp.topics.at(0).error_code, 0) << resp.topics[0].error_message.value_or("");
    const auto& parts = h.image().topic("t")->partitions;
    // The fenced broker holds a replica but is not in sync; the first unfenced replica leads.
    EXPECT_EQ(parts[0].replicas, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(parts[0].isr, (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(parts[0].leader, 1);
    EXPECT_EQ(parts[1].isr, (std::vector<int32_t>{2, 1}));
    EXPECT_EQ(parts[1].leader, 2);
}

TEST(admin, create_topic_errors) {
    harness h;
    h.add_live_broker(1);
    protocol::create_topics_request req;
    auto add = [&](std::string name, int32_t n, int16_t rf) -> auto& {
        auto& t = req.topics.emplace_back();
        t.name = std::move(name);
        t.num_partitions = n;
        t.replication_factor = rf;
        return t;
    };
    add("ok", 2, 1);
    add("bad name!", 1, 1);
    add("zero", 0, 1);
    add("dup", 1, 1);
    add("dup", 1, 1);
    auto& cfg = add("badcfg", 1, 1);
    cfg.configs.push_back({"retention.ms", std::string("soon"), {}});
    auto& unknown = add("unknowncfg", 1, 1);
    unknown.configs.push_back({"no.such.config", std::string("1"), {}});
    add("defaults", -1, -1);
    auto& manual = add("manual", -1, -1);
    manual.assignments.push_back({0, {1}, {}});
    manual.assignments.push_back({1, {1}, {}});
    auto& badmanual = add("badmanual", -1, -1);
    badmanual.assignments.push_back({0, {7}, {}});
    auto resp = h.admin<protocol::create_topics_request, protocol::create_topics_response>(req, 7);
    std::map<std::string, int16_t> codes;
    for (const auto& r : resp.topics) {
        codes[r.name] = r.error_code;
    }
    EXPECT_EQ(codes["ok"], 0);
    EXPECT_EQ(codes["bad name!"], code(error_code::invalid_topic_exception));
    EXPECT_EQ(codes["zero"], code(error_code::invalid_partitions));
    EXPECT_EQ(codes["dup"], code(error_code::invalid_request));
    EXPECT_EQ(std::count_if(resp.topics.begin(), resp.topics.end(), [](const auto& r) { return r.name == "dup"; }), 1)
        << "a name given twice is answered once";
    EXPECT_EQ(codes["badcfg"], code(error_code::invalid_config));
    EXPECT_EQ(codes["unknowncfg"], code(error_code::invalid_config));
    EXPECT_EQ(codes["defaults"], 0);
    EXPECT_EQ(codes["manual"], 0);
    EXPECT_EQ(codes["badmanual"], code(error_code::invalid_replica_assignment));
    EXPECT_EQ(h.image().topic("manual")->partitions.size(), 2u);
    EXPECT_EQ(h.image().topic("defaults")->partitions.size(), 1u);
    EXPECT_EQ(h.image().topic("dup"), nullptr);

    // Again: already exists.
    EXPECT_EQ(h.create_topic("ok", 1, 1).error_code, code(error_code::topic_already_exists));

    // validate_only changes nothing.
    protocol::create_topics_request v;
    v.validate_only = true;
    v.topics.push_back({"dry", 3, 1, {}, {}, {}});
    auto before = h.image().next_offset();
    auto vr = h.admin<protocol::create_topics_request, protocol::create_topics_response>(v, 7);
    EXPECT_EQ(vr.topics[0].error_code, 0);
    EXPECT_EQ(vr.topics[0].num_partitions, 3);
    EXPECT_EQ(h.image().topic("dry"), nullptr);
    EXPECT_EQ(h.image().next_offset(), before);
}

TEST(admin, topic_configs_are_stored_with_the_topic_and_removed_with_it) {
    harness h;
    h.add_live_broker(1);
    protocol::create_topics_request req;
    auto& t = req.topics.emplace_back();
    t.name = "cfg";
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs.push_back({"retention.ms", std::string("1000"), {}});
    offset commit;
    auto resp = h.admin<protocol::create_topics_request, protocol::create_topics_response>(req, 5, &commit);
    ASSERT_EQ(resp.topics[0].error_code, 0);
    EXPECT_EQ(commit, h.image().next_offset());
    EXPECT_EQ(h.image().configs(resource_type::topic, "cfg")->at("retention.ms"), "1000");
    EXPECT_EQ(h.image().to_snapshot("c", node_id(0)).topic("cfg")->configs.at("retention.ms"), "1000");

    protocol::delete_topics_request del;
    del.topic_names = {"cfg", "nope"};
    auto dr = h.admin<protocol::delete_topics_request, protocol::delete_topics_response>(del, 4);
    ASSERT_EQ(dr.responses.size(), 2u);
    EXPECT_EQ(dr.responses[0].error_code, 0);
    EXPECT_EQ(dr.responses[1].error_code, code(error_code::unknown_topic_or_partition));
    EXPECT_EQ(h.image().topic("cfg"), nullptr);
    EXPECT_EQ(h.image().configs(resource_type::topic, "cfg"), nullptr);
}

TEST(admin, delete_by_topic_id) {
    harness h;
    h.add_live_broker(1);
    auto created = h.create_topic("byid", 1, 1);
    protocol::delete_topics_request del;
    del.topics.push_back({std::nullopt, created.topic_id, {}});
    del.topics.push_back({std::nullopt, make_uuid(200), {}});
    auto dr = h.admin<protocol::delete_topics_request, protocol::delete_topics_response>(del, 6);
    EXPECT_EQ(dr.responses[0].error_code, 0);
    EXPECT_EQ(dr.responses[0].name, "byid");
    EXPECT_EQ(dr.responses[1].error_code, code(error_code::unknown_topic_id));
}

TEST(admin, a_topic_named_twice_in_a_delete_is_answered_once_and_kept) {
    harness h;
    h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("twice", 1, 1).error_code, 0);
    protocol::delete_topics_request del;
    del.topic_names = {"twice", "twice"};
    auto dr = h.admin<protocol::delete_topics_request, protocol::delete_topics_response>(del, 5);
    ASSERT_EQ(dr.responses.size(), 1u);
    EXPECT_EQ(dr.responses[0].error_code, code(error_code::invalid_request));
    EXPECT_NE(h.image().topic("twice"), nullptr);
}

TEST(admin, create_partitions) {
    harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    ASSERT_EQ(h.create_topic("grow", 2, 2).error_code, 0);
    protocol::create_partitions_request req;
    req.topics.push_back({"grow", 5, std::nullopt, {}});
    req.topics.push_back({"grow-not", 5, std::nullopt, {}});
    auto resp = h.admin<protocol::create_partitions_request, protocol::create_partitions_response>(req, 3);
    ASSERT_EQ(resp.results.size(), 2u);
    EXPECT_EQ(resp.results[0].error_code, 0);
    EXPECT_EQ(resp.results[1].error_code, code(error_code::unknown_topic_or_partition));
    const auto* t = h.image().topic("grow");
    ASSERT_EQ(t->partitions.size(), 5u);
    for (const auto& p : t->partitions) {
        EXPECT_EQ(p.replicas.size(), 2u);
        EXPECT_NE(p.leader, -1);
        EXPECT_EQ(p.leader, p.replicas[0]);
        EXPECT_EQ(p.isr, p.replicas) << "new partitions start with every replica in sync";
    }
    protocol::create_partitions_request shrink;
    shrink.topics.push_back({"grow", 3, std::nullopt, {}});
    auto sr = h.admin<protocol::create_partitions_request, protocol::create_partitions_response>(shrink, 3);
    EXPECT_EQ(sr.results[0].error_code, code(error_code::invalid_partitions));
}

TEST(admin, names_differing_only_by_dot_and_underscore_collide) {
    harness h;
    h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("a.b_c", 1, 1).error_code, 0);
    EXPECT_EQ(h.create_topic("a_b_c", 1, 1).error_code, code(error_code::invalid_topic_exception));
    EXPECT_EQ(h.create_topic("a_b.c", 1, 1).error_code, code(error_code::invalid_topic_exception));
    EXPECT_EQ(h.create_topic("a.b_c", 1, 1).error_code, code(error_code::topic_already_exists));
    EXPECT_EQ(h.create_topic("a.b_cd", 1, 1).error_code, 0);
    EXPECT_EQ(h.image().topic("a_b_c"), nullptr);
}

TEST(admin, a_config_named_twice_in_a_resource_is_an_invalid_request) {
    harness h;
    h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("t", 1, 1).error_code, 0);
    protocol::incremental_alter_configs_request inc;
    auto& r = inc.resources.emplace_back();
    r.resource_type = 2;
    r.resource_name = "t";
    r.configs.push_back({"retention.ms", 0, std::string("5000"), {}});
    r.configs.push_back({"retention.ms", 0, std::string("6000"), {}});
    EXPECT_EQ((h.admin<protocol::incremental_alter_configs_request, protocol::incremental_alter_configs_response>(inc, 1)
                   .responses[0].error_code),
              code(error_code::invalid_request));
    protocol::alter_configs_request legacy;
    auto& l = legacy.resources.emplace_back();
    l.resource_type = 2;
    l.resource_name = "t";
    l.configs.push_back({"retention.ms", std::string("1"), {}});
    l.configs.push_back({"retention.ms", std::string("2"), {}});
    EXPECT_EQ((h.admin<protocol::alter_configs_request, protocol::alter_configs_response>(legacy, 1)
                   .responses[0].error_code),
              code(error_code::invalid_request));
    EXPECT_EQ(h.image().configs(resource_type::topic, "t"), nullptr) << "nothing applied";
}

TEST(admin, incremental_alter_configs_validates_and_applies) {
    harness h;
    h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("c", 1, 1).error_code, 0);
    using req_t = protocol::incremental_alter_configs_request;
    using resp_t = protocol::incremental_alter_configs_response;
    req_t req;
    auto& topic = req.resources.emplace_back();
    topic.resource_type = 2;
    topic.resource_name = "c";
    topic.configs.push_back({"retention.ms", 0, std::string("5000"), {}});
    topic.configs.push_back({"cleanup.policy", 2, std::string("compact"), {}});
    auto& bad = req.resources.emplace_back();
    bad.resource_type = 2;
    bad.resource_name = "c-missing";
    bad.configs.push_back({"retention.ms", 0, std::string("5000"), {}});
    auto& broker = req.resources.emplace_back();
    broker.resource_type = 4;
    broker.resource_name = "";
    broker.configs.push_back({"log.retention.ms", 0, std::string("60000"), {}});
    auto& badvalue = req.resources.emplace_back();
    badvalue.resource_type = 4;
    badvalue.resource_name = "1";
    badvalue.configs.push_back({"log.retention.ms", 0, std::string("x"), {}});
    auto& badname = req.resources.emplace_back();
    badname.resource_type = 2;
    badname.resource_name = "bad/name";
    badname.configs.push_back({"retention.ms", 0, std::string("5000"), {}});
    auto& readonly = req.resources.emplace_back();
    readonly.resource_type = 4;
    readonly.resource_name = "1";
    readonly.configs.push_back({"listeners", 0, std::string("x"), {}});
    auto resp = h.admin<req_t, resp_t>(req, 1);
    ASSERT_EQ(resp.responses.size(), 6u);
    EXPECT_EQ(resp.responses[0].error_code, 0);
    EXPECT_EQ(resp.responses[1].error_code, code(error_code::unknown_topic_or_partition));
    EXPECT_EQ(resp.responses[2].error_code, 0);
    EXPECT_EQ(resp.responses[3].error_code, code(error_code::invalid_config));
    EXPECT_EQ(resp.responses[4].error_code, code(error_code::invalid_topic_exception));
    EXPECT_EQ(resp.responses[5].error_code, code(error_code::invalid_config));
    const auto* c = h.image().configs(resource_type::topic, "c");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->at("retention.ms"), "5000");
    // APPEND to a key the topic doesn't override starts from its default, as Kafka does.
    EXPECT_EQ(c->at("cleanup.policy"), "delete,compact");
    EXPECT_EQ(h.image().to_snapshot("x", node_id(0)).broker_configs.at("").at("log.retention.ms"), "60000");

    req_t del;
    auto& d = del.resources.emplace_back();
    d.resource_type = 2;
    d.resource_name = "c";
    d.configs.push_back({"retention.ms", 1, std::nullopt, {}});
    d.configs.push_back({"cleanup.policy", 3, std::string("compact"), {}});
    EXPECT_EQ((h.admin<req_t, resp_t>(del, 1).responses[0].error_code), 0);
    const auto* left = h.image().configs(resource_type::topic, "c");
    ASSERT_NE(left, nullptr);
    EXPECT_EQ(*left, (std::map<std::string, std::string>{{"cleanup.policy", "delete"}}));
}

TEST(admin, alter_configs_replaces_the_whole_set) {
    harness h;
    h.add_live_broker(1);
    ASSERT_EQ(h.create_topic("a", 1, 1).error_code, 0);
    using req_t = protocol::alter_configs_request;
    using resp_t = protocol::alter_configs_response;
    req_t req;
    auto& r = req.resources.emplace_back();
    r.resource_type = 2;
    r.resource_name = "a";
    r.configs.push_back({"retention.ms", std::string("1"), {}});
    r.configs.push_back({"segment.bytes", std::string("100000"), {}});
    EXPECT_EQ((h.admin<req_t, resp_t>(req, 1).responses[0].error_code), 0);
    req_t second;
    auto& s = second.resources.emplace_back();
    s.resource_type = 2;
    s.resource_name = "a";
    s.configs.push_back({"segment.bytes", std::string("200000"), {}});
    EXPECT_EQ((h.admin<req_t, resp_t>(second, 1).responses[0].error_code), 0);
    EXPECT_EQ(*h.image().configs(resource_type::topic, "a"), (config_map{{"segment.bytes", "200000"}}));
}

TEST(admin, unsupported_api_or_version_is_an_envelope_error) {
    harness h;
    std::optional<admin_reply> out;
    h.ctrl->admin(0, 9, {}, [&](admin_reply r) { out = std::move(r); });
    ASSERT_TRUE(out);
    EXPECT_EQ(out->error, error_code::invalid_request);
    h.ctrl->admin(19, 99, {}, [&](admin_reply r) { out = std::move(r); });
    EXPECT_EQ(out->error, error_code::unsupported_version);
}

// Builds some history: brokers, topics, configs, a fence, a deletion.
void make_history(harness& h, int round) {
    h.add_live_broker(10 * round + 1, "r1");
    h.add_live_broker(10 * round + 2, "r2");
    for (int i = 0; i < 5; ++i) {
        auto name = "t" + std::to_string(round) + "-" + std::to_string(i);
        ASSERT_EQ(h.create_topic(name, 3, 2).error_code, 0);
    }
    protocol::delete_topics_request del;
    del.topic_names = {"t" + std::to_string(round) + "-0"};
    h.admin<protocol::delete_topics_request, protocol::delete_topics_response>(del, 4);
    protocol::incremental_alter_configs_request cfg;
    auto& r = cfg.resources.emplace_back();
    r.resource_type = 2;
    r.resource_name = "t" + std::to_string(round) + "-1";
    r.configs.push_back({"retention.ms", 0, std::string("123"), {}});
    h.admin<protocol::incremental_alter_configs_request, protocol::incremental_alter_configs_response>(cfg, 1);
}

TEST(restart, reopening_the_directory_keeps_every_committed_change) {
    harness h;
    make_history(h, 1);
    h.clk.advance(20000);
    h.ctrl->tick();  // fences everyone
    metadata_image before = h.image();
    ASSERT_GT(before.topics().size(), 0u);
    h.reopen();
    EXPECT_EQ(h.image(), before);
    // After a restart every registered broker gets a fresh lease.
    EXPECT_TRUE(h.ctrl->lease_alive(11));
}

TEST(snapshot, snapshot_plus_tail_equals_full_replay) {
    harness h;
    make_history(h, 1);
    // The full history as records, for a replay from scratch later.
    auto full = h.log->read(offset(0), 1 << 24);
    ASSERT_TRUE(full);
    ASSERT_TRUE(h.log->snapshot(h.image()));
    auto snap_at = h.image().next_offset();
    EXPECT_EQ(h.log->log_start(), snap_at);
    make_history(h, 2);
    auto tail = h.log->read(snap_at, 1 << 24);
    ASSERT_TRUE(tail);

    metadata_image replayed;
    ASSERT_TRUE(replayed.apply_batches(*full));
    ASSERT_TRUE(replayed.apply_batches(*tail));
    EXPECT_EQ(replayed, h.image());

    metadata_image before = h.image();
    h.reopen();  // snapshot + tail
    EXPECT_EQ(h.image(), before);
    EXPECT_EQ(h.log->latest_snapshot()->at, snap_at);
    EXPECT_TRUE(std::filesystem::exists(snapshot_path(h.dir.path() / "__cluster_metadata-0", snap_at)));
}

TEST(records, every_record_type_round_trips_through_a_batch) {
    harness h;
    make_history(h, 1);
    auto records = h.image().to_records();
    bytes batch = make_batch(records, 1);
    std::vector<metadata_record> back;
    ASSERT_TRUE(for_each_record(batch, [&](offset, const metadata_record& r) { back.push_back(r); }));
    EXPECT_EQ(back, records);
    std::vector<metadata_record> all = {fence_broker_record{1, {}}, unfence_broker_record{1, {}},
                                        remove_topic_record{make_uuid(1), {}}};
    for (const auto& r : all) {
        auto decoded = decode_record_value(encode_record_value(r));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, r);
    }
    bytes junk = {0x27, 0x0f, 0, 0};
    EXPECT_EQ(decode_record_value(junk).error(), make_error_code(errc::unknown_record_type));
}

TEST(image, refuses_inconsistent_records) {
    metadata_image img;
    partition_record p;
    p.topic_id = make_uuid(1);
    EXPECT_FALSE(img.apply(offset(0), p));
    EXPECT_FALSE(img.apply(offset(0), fence_broker_record{3, {}}));
    topic_record t{"x", make_uuid(1), {}};
    ASSERT_TRUE(img.apply(offset(0), t));
    p.replicas = {1};
    p.isr = {2};  // not a replica
    EXPECT_FALSE(img.apply(offset(1), p));
    p.isr = {1};
    p.leader = 1;
    EXPECT_TRUE(img.apply(offset(1), p));
    EXPECT_FALSE(img.apply(offset(1), t)) << "offsets only grow";
    EXPECT_EQ(img.next_offset(), offset(2));
}

} // namespace
} // namespace trib::coordinator::testing
