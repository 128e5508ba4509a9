#include "broker/replication_metrics.h"

#include "protocol/records.h"
#include "tests/fakes/partition_info.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <optional>

namespace trib::broker {
namespace {

using fakes::partition_state;

TEST(replica_health, only_leaders_count_replication_state) {
    auto h = assess(replica_role::leader, 3, 1, 2);
    EXPECT_TRUE(h.leader);
    EXPECT_TRUE(h.under_replicated);
    EXPECT_TRUE(h.under_min_isr);
    EXPECT_FALSE(h.at_min_isr);
    EXPECT_FALSE(h.offline);

    h = assess(replica_role::leader, 3, 2, 2);
    EXPECT_TRUE(h.under_replicated);
    EXPECT_FALSE(h.under_min_isr);
    EXPECT_TRUE(h.at_min_isr);

    h = assess(replica_role::leader, 3, 3, 2);
    EXPECT_FALSE(h.under_replicated);
    EXPECT_FALSE(h.under_min_isr);
    EXPECT_FALSE(h.at_min_isr);

    h = assess(replica_role::follower, 3, 1, 2);  // the leader counts it, not its followers
    EXPECT_FALSE(h.leader || h.under_replicated || h.under_min_isr || h.at_min_isr || h.offline);

    h = assess(replica_role::none, 3, 1, 2);
    EXPECT_TRUE(h.offline);
    EXPECT_FALSE(h.leader || h.under_replicated || h.under_min_isr);
}

TEST(compare_isr, tells_members_leaving_from_members_joining) {
    auto c = compare_isr({1, 2, 3}, {1, 3});
    EXPECT_TRUE(c.shrank);
    EXPECT_FALSE(c.expanded);
    c = compare_isr({1}, {2, 1});
    EXPECT_FALSE(c.shrank);
    EXPECT_TRUE(c.expanded);
    c = compare_isr({1, 2}, {2, 1});  // order is not membership
    EXPECT_FALSE(c.shrank || c.expanded);
    c = compare_isr({1, 2}, {1, 3});
    EXPECT_TRUE(c.shrank && c.expanded);
}

// Partitions of broker 1 in a shard, as partition_manager keeps them.
class replication_metrics_test : public ::testing::Test {
protected:
    partition& add(const std::string& topic, int32_t index, int32_t min_isr = 2) {
        auto dir = _dir.path() / (topic + "-" + std::to_string(index));
        auto l = storage::log::open(dir, {});
        EXPECT_TRUE(l) << l.error().message();
        topic_partition tp{topic, index};
        auto& p = _shard[tp];
        p = std::make_unique<partition>(tp, protocol::uuid{}, std::move(*l), node_id(1));
        p->set_min_insync_replicas(min_isr);  // as partition_manager does with each config
        return *p;
    }
    void append(partition& p, int n) {
        protocol::batch_builder b;
        for (int i = 0; i < n; ++i) {
            b.add("k", "v", 0);
        }
        auto data = b.build();
        ASSERT_TRUE(data);
        ASSERT_TRUE(p.log().append(*data, p.epoch().value()));
        p.appended();
    }
    // The value of `name` with exactly these labels, nullopt when there is no such series.
    std::optional<double> value(const std::string& name, const prometheus::Labels& labels = {}) {
        for (const auto& family : _registry.Collect()) {
            if (family.name != name) {
                continue;
            }
            for (const auto& m : family.metric) {
                prometheus::Labels have;
                for (const auto& l : m.label) {
                    have[l.name] = l.value;
                }
                if (have == labels) {
                    return family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
                }
            }
        }
        return std::nullopt;
    }
    void refresh() { _metrics.refresh(0, _shard); }

    fakes::temp_dir _dir;
    prometheus::Registry _registry;
    replication_metrics _metrics{_registry};
    replication_metrics::shard _shard;
};

TEST_F(replication_metrics_test, counts_what_each_replica_adds) {
    _metrics.attach(1);
    ASSERT_TRUE(add("a", 0).apply(partition_state(1, 1, {1}, {1, 2, 3})));     // led, under-replicated, under min ISR
    ASSERT_TRUE(add("a", 1).apply(partition_state(1, 1, {1, 2}, {1, 2, 3})));  // led, under-replicated, at min ISR
    ASSERT_TRUE(add("a", 2).apply(partition_state(2, 1, {2}, {1, 2, 3})));     // followed: the leader counts it
    ASSERT_TRUE(add("b", 0, 1).apply(partition_state(1, 1, {1}, {1, 2})));        // under-replicated, at its own min ISR 1
    ASSERT_TRUE(add("b", 1).apply(partition_state(-1, 1, {}, {1, 2})));        // no leader
    refresh();

    EXPECT_EQ(value("kafka_server_replicamanager_partitioncount"), 5);
    EXPECT_EQ(value("kafka_server_replicamanager_leadercount"), 3);
    EXPECT_EQ(value("kafka_server_replicamanager_underreplicatedpartitions"), 3);
    EXPECT_EQ(value("kafka_server_replicamanager_underminisrpartitioncount"), 1);
    EXPECT_EQ(value("kafka_server_replicamanager_atminisrpartitioncount"), 2);
    EXPECT_EQ(value("kafka_controller_kafkacontroller_offlinepartitionscount"), 1);
    EXPECT_EQ(value("kafka_cluster_partition_underreplicated", {{"topic", "a"}, {"partition", "0"}}), 1);
    EXPECT_EQ(value("kafka_cluster_partition_underminisr", {{"topic", "a"}, {"partition", "0"}}), 1);
    EXPECT_EQ(value("kafka_cluster_partition_insyncreplicascount", {{"topic", "a"}, {"partition", "1"}}), 2);
    EXPECT_EQ(value("kafka_cluster_partition_replicascount", {{"topic", "a"}, {"partition", "1"}}), 3);
    EXPECT_EQ(value("kafka_cluster_partition_underreplicated", {{"topic", "a"}, {"partition", "2"}}), 0)
        << "a follower reports 0, as Kafka's partition beans do";

    // The ISR heals and a replica goes away: counts follow, its series leave /metrics.
    ASSERT_TRUE(_shard.at({"a", 0})->apply(partition_state(1, 1, {1, 2, 3}, {1, 2, 3})));
    _shard.erase({"b", 1});
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_partitioncount"), 4);
    EXPECT_EQ(value("kafka_server_replicamanager_underreplicatedpartitions"), 2);
    EXPECT_EQ(value("kafka_server_replicamanager_underminisrpartitioncount"), 0);
    EXPECT_EQ(value("kafka_controller_kafkacontroller_offlinepartitionscount"), 0);
    EXPECT_EQ(value("kafka_cluster_partition_underreplicated", {{"topic", "a"}, {"partition", "0"}}), 0);
    EXPECT_EQ(value("kafka_cluster_partition_underreplicated", {{"topic", "b"}, {"partition", "1"}}), std::nullopt);
}

TEST_F(replication_metrics_test, min_isr_follows_a_topic_config_change) {
    _metrics.attach(1);
    auto& p = add("a", 0, 1);
    ASSERT_TRUE(p.apply(partition_state(1, 1, {1, 2}, {1, 2, 3})));
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_underminisrpartitioncount"), 0);
    p.set_min_insync_replicas(3);
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_underminisrpartitioncount"), 1);
}

TEST_F(replication_metrics_test, cores_add_up) {
    _metrics.attach(2);
    ASSERT_TRUE(add("a", 0).apply(partition_state(1, 1, {1}, {1, 2})));
    _metrics.refresh(0, _shard);
    replication_metrics::shard other;
    other.swap(_shard);
    ASSERT_TRUE(add("a", 1).apply(partition_state(1, 1, {1}, {1, 2})));
    _metrics.refresh(1, _shard);
    EXPECT_EQ(value("kafka_server_replicamanager_leadercount"), 2);
    EXPECT_EQ(value("kafka_server_replicamanager_underreplicatedpartitions"), 2);
}

TEST_F(replication_metrics_test, lag_of_each_follower_the_leader_has_heard_from) {
    _metrics.attach(1);
    auto& p = add("a", 0);
    ASSERT_TRUE(p.apply(partition_state(1, 1, {1, 2, 3}, {1, 2, 3})));
    append(p, 10);
    ASSERT_TRUE(p.follower_fetched(node_id(2), offset(4), -1, partition::clock_ms()));
    refresh();
    prometheus::Labels f2{{"topic", "a"}, {"partition", "0"}, {"replica", "2"}};
    prometheus::Labels f3{{"topic", "a"}, {"partition", "0"}, {"replica", "3"}};
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f2), 6);
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f3), std::nullopt) << "3 has not fetched yet";
    EXPECT_EQ(value("kafka_server_replicafetchermanager_maxlag", {{"clientId", "Replica"}}), 6);

    ASSERT_TRUE(p.follower_fetched(node_id(2), offset(10), -1, partition::clock_ms()));
    ASSERT_TRUE(p.follower_fetched(node_id(3), offset(7), -1, partition::clock_ms()));
    refresh();
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f2), 0);
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f3), 3);
    EXPECT_EQ(value("kafka_server_replicafetchermanager_maxlag", {{"clientId", "Replica"}}), 3);

    ASSERT_TRUE(p.apply(partition_state(2, 2, {1, 2, 3}, {1, 2, 3})));  // no longer the leader: no lag here
    refresh();
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f2), std::nullopt);
    EXPECT_EQ(value("tributary_partition_replica_lag_offsets", f3), std::nullopt);
    EXPECT_EQ(value("kafka_server_replicafetchermanager_maxlag", {{"clientId", "Replica"}}), 0);
}

TEST_F(replication_metrics_test, isr_changes_the_leader_asked_for_are_counted_once) {
    _metrics.attach(1);
    auto& p = add("a", 0);
    ASSERT_TRUE(p.apply(partition_state(1, 1, {1, 2, 3}, {1, 2, 3})));
    p.set_pending_isr(std::vector<int32_t>{1, 2});
    ASSERT_TRUE(p.apply(partition_state(1, 1, {1, 2}, {1, 2, 3})));  // the shrink took effect
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_isrshrinks_total"), 1);
    EXPECT_EQ(value("kafka_server_replicamanager_isrexpands_total"), 0);
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_isrshrinks_total"), 1) << "taken once";

    ASSERT_TRUE(p.apply(partition_state(1, 1, {1}, {1, 2, 3})));  // the coordinator's own change: not asked for
    p.set_pending_isr(std::vector<int32_t>{1, 3});
    ASSERT_TRUE(p.apply(partition_state(1, 1, {1, 2}, {1, 2, 3})));  // not what was asked: not counted
    p.set_pending_isr(std::vector<int32_t>{1, 2, 3});
    ASSERT_TRUE(p.apply(partition_state(1, 1, {3, 2, 1}, {1, 2, 3})));  // the expand took effect
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_isrshrinks_total"), 1);
    EXPECT_EQ(value("kafka_server_replicamanager_isrexpands_total"), 1);
}

TEST_F(replication_metrics_test, nothing_before_attach) {
    ASSERT_TRUE(add("a", 0).apply(partition_state(1, 1, {1}, {1, 2})));
    refresh();
    EXPECT_EQ(value("kafka_server_replicamanager_partitioncount"), 0);
    EXPECT_EQ(value("kafka_cluster_partition_underreplicated", {{"topic", "a"}, {"partition", "0"}}), std::nullopt);
}

} // namespace
} // namespace trib::broker
