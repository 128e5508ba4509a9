#include "broker/metadata_changes.h"

#include <gtest/gtest.h>

namespace trib::broker {
namespace {

using coordinator::metadata_delta;

partition_info part(int32_t id, int32_t leader, int32_t epoch, std::vector<int32_t> replicas) {
    partition_info p;
    p.id = partition_id(id);
    p.leader = node_id(leader);
    p.epoch = leader_epoch(epoch);
    p.isr = {leader};
    p.replicas = std::move(replicas);
    return p;
}

topic_info topic(std::string name, uint8_t id, std::vector<partition_info> parts) {
    topic_info t;
    t.name = std::move(name);
    t.id.b[0] = id;
    t.partitions = std::move(parts);
    return t;
}

// Two topics; broker 1 holds a: 0 (leader), 1 (follower) and b: 0.
cluster_snapshot base() {
    cluster_snapshot s;
    s.topics["a"] = topic("a", 1, {part(0, 1, 0, {1, 2}), part(1, 2, 0, {2, 1}), part(2, 2, 0, {2, 3})});
    s.topics["b"] = topic("b", 2, {part(0, 3, 0, {3, 1})});
    return s;
}

std::vector<std::string> names(const std::vector<partition_change>& cs) {
    std::vector<std::string> out;
    for (const auto& c : cs) {
        out.push_back(c.tp.topic + "-" + std::to_string(c.tp.partition) + (c.state ? "" : " stop") +
                      (c.config ? " config" : ""));
    }
    return out;
}

std::vector<partition_change> changes(const cluster_snapshot* prev, const cluster_snapshot& next,
                                      const metadata_delta& d) {
    int configs = 0;
    auto out = partition_changes(prev, next, d, node_id(1), [&](const topic_info&) {
        ++configs;
        return replica_config{};
    });
    return out;
}

TEST(partition_changes, the_first_snapshot_gives_every_replica_here) {
    auto s = base();
    EXPECT_EQ(names(changes(nullptr, s, metadata_delta::all())),
              (std::vector<std::string>{"a-0 config", "a-1 config", "b-0 config"}));
}

TEST(partition_changes, only_the_named_topics_are_walked) {
    auto prev = base();
    auto next = base();
    next.topics["a"].partitions[1] = part(1, 1, 1, {2, 1});  // broker 1 becomes leader of a-1
    next.topics["b"].partitions[0] = part(0, 1, 1, {3, 1});  // and of b-0, but the delta omits b
    metadata_delta d;
    d.topics.insert("a");
    auto out = changes(&prev, next, d);
    ASSERT_EQ(names(out), (std::vector<std::string>{"a-1 config"})) << "a-0 is unchanged; a-2 isn't here";
    EXPECT_EQ(out[0].state->leader, node_id(1));
    EXPECT_EQ(out[0].state->epoch, leader_epoch(1));
}

TEST(partition_changes, a_config_change_reaches_every_partition_of_the_topic) {
    auto prev = base();
    auto next = base();
    next.topics["a"].configs["retention.ms"] = "1000";
    metadata_delta d;
    d.topics.insert("a");
    EXPECT_EQ(names(changes(&prev, next, d)), (std::vector<std::string>{"a-0 config", "a-1 config"}));
    metadata_delta broker_level;
    broker_level.broker_configs = true;
    EXPECT_EQ(names(changes(&prev, prev, broker_level)),
              (std::vector<std::string>{"a-0 config", "a-1 config", "b-0 config"}));
}

TEST(partition_changes, deleted_topics_and_moved_replicas_stop) {
    auto prev = base();
    auto next = base();
    next.topics.erase("b");
    next.topics["a"].partitions[1] = part(1, 2, 1, {2, 3});  // the replica on 1 moved to 3
    metadata_delta d;
    d.topics = {"a", "b"};
    EXPECT_EQ(names(changes(&prev, next, d)), (std::vector<std::string>{"a-1 stop", "b-0 stop"}));
}

TEST(partition_changes, a_topic_created_again_under_its_name_carries_the_new_id) {
    auto prev = base();
    auto next = base();
    next.topics["b"].id.b[0] = 9;
    metadata_delta d;
    d.topics.insert("b");
    auto out = changes(&prev, next, d);
    ASSERT_EQ(names(out), (std::vector<std::string>{"b-0 config"}));
    EXPECT_EQ(out[0].topic_id, next.topics["b"].id) << "partition_manager drops the old log on an id change";
}

} // namespace
} // namespace trib::broker
