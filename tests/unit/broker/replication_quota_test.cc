#include "broker/broker_config.h"
#include "broker/metadata_changes.h"
#include "broker/replication/quota.h"

#include <gtest/gtest.h>

#include <vector>

namespace trib::broker {
namespace {

// The broker's default window, 11 samples of 1 s, throughout. Times are a fake clock's
// milliseconds, given to each call.

TEST(replication_quota, unlimited_never_holds_back) {
    replication_quota q(11, 1000);
    EXPECT_EQ(q.bound(), replication_quota::unlimited);
    q.record(int64_t(1) << 40, 0);
    EXPECT_FALSE(q.exceeded(0));
    EXPECT_EQ(q.total(), int64_t(1) << 40);
}

TEST(replication_quota, a_first_burst_is_measured_against_ten_windows) {
    replication_quota q(11, 1000);
    q.set_bound(1000);
    q.record(5000, 0);
    // 5000 bytes over at least 10 windows of a second: 500 bytes/s, under the bound.
    EXPECT_DOUBLE_EQ(q.rate(0), 500.0);
    // The window being filled holds more than its share (1000 bytes), though.
    EXPECT_TRUE(q.exceeded(0));
    EXPECT_TRUE(q.exceeded(999));
    // The next window: the rate over the windows is still under the bound.
    EXPECT_FALSE(q.exceeded(1000));
    // 1.3 s in, as Kafka's Rate: the 9 missing whole windows are added to what elapsed.
    q.record(6000, 1300);
    EXPECT_DOUBLE_EQ(q.rate(1300), 11000 * 1000.0 / 10300);
    EXPECT_TRUE(q.exceeded(2300));  // a new window has nothing, but the rate is over
}

TEST(replication_quota, a_copy_faster_than_the_bound_goes_steadily) {
    // A copy that would go at 10x the bound, asking before each 100-byte fetch every 10 ms:
    // each second gets its share and waits for the next, instead of eleven seconds' worth at
    // once and then nothing (Kafka's Rate alone).
    replication_quota q(11, 1000);
    q.set_bound(1000);
    std::vector<int64_t> per_second(30, 0);
    for (int64_t t = 0; t < 30000; t += 10) {
        if (!q.exceeded(t)) {
            q.record(100, t);
            per_second[size_t(t / 1000)] += 100;
        }
    }
    for (size_t s = 0; s < per_second.size(); ++s) {
        EXPECT_GE(per_second[s], 900) << "second " << s;
        EXPECT_LE(per_second[s], 1100) << "second " << s;
    }
}

TEST(replication_quota, the_rate_is_bytes_over_the_time_the_windows_span) {
    replication_quota q(11, 1000);
    q.set_bound(1000);
    // 1500 bytes each second for 20 s: the ring keeps the last 11 windows (9000 to 19999).
    for (int64_t t = 0; t < 20000; t += 1000) {
        q.record(1500, t);
    }
    EXPECT_DOUBLE_EQ(q.rate(19500), 11 * 1500 * 1000.0 / 10500);
    EXPECT_TRUE(q.exceeded(19500));
    EXPECT_EQ(q.total(), 30000);
}

TEST(replication_quota, exceeded_recovers_as_time_passes) {
    replication_quota q(11, 1000);
    q.set_bound(1000);
    q.record(10500, 0);
    EXPECT_TRUE(q.exceeded(0));       // 10500 bytes over 10 s
    EXPECT_TRUE(q.exceeded(10000));   // still over 10 s
    EXPECT_FALSE(q.exceeded(10500));  // over 10.5 s: 1000/s, not above the bound
    q.record(20000, 10600);
    EXPECT_TRUE(q.exceeded(10600));
    EXPECT_TRUE(q.exceeded(10999));
    // The first window is 11 s old at 11000 and counts no more; the second alone is
    // 20000 bytes over 10.4 s.
    EXPECT_DOUBLE_EQ(q.rate(11000), 20000 * 1000.0 / 10400);
    // 11 s after the second window began, nothing counts.
    EXPECT_DOUBLE_EQ(q.rate(21600), 0.0);
    EXPECT_FALSE(q.exceeded(21600));
}

TEST(replication_quota, old_windows_stop_counting) {
    replication_quota q(11, 1000);
    q.set_bound(100);
    q.record(10000, 0);
    q.record(10, 10500);
    EXPECT_TRUE(q.exceeded(10500));
    // At 11000 the first window is 11 s old: only the 10 bytes of the second count.
    EXPECT_DOUBLE_EQ(q.rate(11000), 10 * 1000.0 / 10500);
    EXPECT_FALSE(q.exceeded(11000));
}

TEST(replication_quota, the_ring_reuses_the_oldest_window) {
    replication_quota q(3, 1000);
    q.set_bound(1000);
    q.record(1000, 0);
    q.record(1000, 1000);
    q.record(1000, 2000);
    q.record(1000, 3000);  // takes the window of time 0
    // Windows of 1000, 2000 and 3000 live: 3000 bytes over 2.5 s.
    EXPECT_DOUBLE_EQ(q.rate(3500), 3000 * 1000.0 / 2500);
    EXPECT_EQ(q.total(), 4000);
}

TEST(replication_quota, the_bound_changes_at_once) {
    replication_quota q(11, 1000);
    q.set_bound(100);
    q.record(5000, 0);
    EXPECT_TRUE(q.exceeded(100));
    q.set_bound(10000);
    EXPECT_FALSE(q.exceeded(100));
    q.set_bound(replication_quota::unlimited);
    q.record(int64_t(1) << 30, 200);
    EXPECT_FALSE(q.exceeded(200));
}

TEST(replication_quotas, metrics_show_the_rates_bounds_and_totals) {
    prometheus::Registry registry;
    replication_quotas qs(11, 1, registry);
    qs.set_bounds(2000, replication_quota::unlimited);
    qs.record_leader(10000, 0);
    qs.record_follower(3000, 0);
    qs.publish(0);
    std::map<std::string, double> seen;
    for (const auto& family : registry.Collect()) {
        for (const auto& m : family.metric) {
            std::string name = family.name;
            for (const auto& l : m.label) {
                name += "{" + l.value + "}";
            }
            seen[name] = family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
        }
    }
    EXPECT_DOUBLE_EQ(seen.at("kafka_server_leaderreplication_byte_rate"), 1000.0);
    EXPECT_DOUBLE_EQ(seen.at("kafka_server_followerreplication_byte_rate"), 300.0);
    EXPECT_DOUBLE_EQ(seen.at("tributary_replication_throttled_bytes_total{leader}"), 10000.0);
    EXPECT_DOUBLE_EQ(seen.at("tributary_replication_throttled_bytes_total{follower}"), 3000.0);
    EXPECT_DOUBLE_EQ(seen.at("tributary_replication_throttled_rate_bytes{leader}"), 2000.0);
    EXPECT_DOUBLE_EQ(seen.at("tributary_replication_throttled_rate_bytes{follower}"), -1.0);
}

// Broker 2's configuration with every key at its default (no environment read).
broker_config broker_two_defaults() {
    broker_config b;
    b.node_id = 2;
    const char* const no_environment[] = {nullptr};
    config::load_options none;
    none.environ = no_environment;
    b.raw = config::load(broker_schema(), none);
    return b;
}

TEST(replication_throttle_rate, broker_over_cluster_default_over_static) {
    broker_config b = broker_two_defaults();
    cluster_snapshot s;
    EXPECT_EQ(replication_throttle_rate(b, s, "leader.replication.throttled.rate"), replication_quota::unlimited);
    s.broker_configs[""] = {{"leader.replication.throttled.rate", "5000"}};
    EXPECT_EQ(replication_throttle_rate(b, s, "leader.replication.throttled.rate"), 5000);
    s.broker_configs["2"] = {{"leader.replication.throttled.rate", "700"}};
    s.broker_configs["3"] = {{"follower.replication.throttled.rate", "9"}};
    EXPECT_EQ(replication_throttle_rate(b, s, "leader.replication.throttled.rate"), 700);
    EXPECT_EQ(replication_throttle_rate(b, s, "follower.replication.throttled.rate"), replication_quota::unlimited)
        << "broker 3's setting is not broker 2's";
}

TEST(log_dir_move_rate, dynamic_broker_over_cluster_default_over_static_over_tributary_key) {
    broker_config b = broker_two_defaults();
    cluster_snapshot s;
    EXPECT_EQ(log_dir_move_rate(b, s), std::nullopt) << "nothing set: no limit";
    b.log_dir_move_rate = 4000;
    EXPECT_EQ(log_dir_move_rate(b, s), 4000) << "tributary.log.dirs.move.max.bytes.per.second below the rest";
    s.broker_configs[""] = {{"replica.alter.log.dirs.io.max.bytes.per.second", "5000"}};
    EXPECT_EQ(log_dir_move_rate(b, s), 5000);
    s.broker_configs["3"] = {{"replica.alter.log.dirs.io.max.bytes.per.second", "9"}};
    EXPECT_EQ(log_dir_move_rate(b, s), 5000) << "broker 3's setting is not broker 2's";
    s.broker_configs["2"] = {{"replica.alter.log.dirs.io.max.bytes.per.second", "700"}};
    EXPECT_EQ(log_dir_move_rate(b, s), 700);
    s.broker_configs["2"] = {{"replica.alter.log.dirs.io.max.bytes.per.second", "0"}};
    EXPECT_EQ(log_dir_move_rate(b, s), 0) << "Kafka's 0: nothing copied";
}

partition_info replica_set(int32_t id, int32_t leader, std::vector<int32_t> replicas, std::vector<int32_t> isr) {
    partition_info p;
    p.id = partition_id(id);
    p.leader = node_id(leader);
    p.replicas = std::move(replicas);
    p.isr = std::move(isr);
    return p;
}

TEST(partition_changes, throttled_replica_lists_mark_this_brokers_replicas) {
    cluster_snapshot s;
    topic_info t;
    t.name = "moved";
    t.id.b[0] = 7;
    t.partitions = {replica_set(0, 1, {1, 2}, {1, 2}), replica_set(1, 2, {2, 1}, {2}), replica_set(2, 1, {1, 3}, {1})};
    t.configs = {{"leader.replication.throttled.replicas", "0:1,2:3"},
                 {"follower.replication.throttled.replicas", "1:1, 2:1"}};
    s.topics["moved"] = t;
    auto config_for = [](const topic_info& ti) {
        replica_config rc;
        rc.leader_throttled = *coordinator::parse_throttled_replicas(ti.configs.at("leader.replication.throttled.replicas"));
        rc.follower_throttled =
            *coordinator::parse_throttled_replicas(ti.configs.at("follower.replication.throttled.replicas"));
        return rc;
    };
    auto out = partition_changes(nullptr, s, coordinator::metadata_delta::all(), node_id(1), config_for);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_TRUE(out[0].leader_throttled);    // 0:1
    EXPECT_FALSE(out[0].follower_throttled);
    EXPECT_FALSE(out[1].leader_throttled);
    EXPECT_TRUE(out[1].follower_throttled);  // 1:1
    EXPECT_FALSE(out[2].leader_throttled);   // 2:3 names broker 3, not this one
    EXPECT_TRUE(out[2].follower_throttled);  // 2:1
}

} // namespace
} // namespace trib::broker
