#include "broker/broker_config.h"

#include <gtest/gtest.h>

namespace trib::broker {
namespace {

TEST(topic_configs_in_force, topic_over_broker_over_cluster_default) {
    cluster_snapshot s;
    s.broker_configs[""] = {{"log.retention.ms", "1000"}, {"message.max.bytes", "2000"}};
    s.broker_configs["3"] = {{"message.max.bytes", "3000"}, {"log.segment.bytes", "4000"}};
    topic_info t;
    t.configs = {{"segment.bytes", "5000"}};

    auto on3 = topic_configs_in_force(s, 3, t);
    EXPECT_EQ(on3.at("retention.ms"), "1000");        // cluster-wide dynamic default
    EXPECT_EQ(on3.at("max.message.bytes"), "3000");   // this broker's dynamic config
    EXPECT_EQ(on3.at("segment.bytes"), "5000");       // the topic's own override
    auto on1 = topic_configs_in_force(s, 1, t);
    EXPECT_EQ(on1.at("max.message.bytes"), "2000");   // broker 3's setting isn't broker 1's
    EXPECT_FALSE(on1.contains("retention.bytes"));    // unset: the static configuration applies
}

TEST(topic_log_config, overrides_reach_the_storage_settings) {
    broker_config b;
    b.log_defaults.retention_ms = 7;
    b.log_defaults.segment_bytes = 1 << 20;
    auto c = topic_log_config(b, {{"retention.ms", "123"}, {"max.message.bytes", "999"}});
    EXPECT_EQ(c.retention_ms, 123);
    EXPECT_EQ(c.max_batch_bytes, 999u);
    EXPECT_EQ(c.segment_bytes, uint64_t(1) << 20);
}

TEST(topic_log_config, cleanup_policy_and_the_cleaner_settings) {
    broker_config b;
    b.log_defaults.retention_ms = 7;
    b.log_defaults.retention_bytes = 8;
    auto plain = topic_log_config(b, {});
    EXPECT_FALSE(plain.compact);
    EXPECT_EQ(plain.retention_ms, 7);
    // compact alone: nothing goes by time or size.
    auto compact = topic_log_config(b, {{"cleanup.policy", "compact"}, {"min.cleanable.dirty.ratio", "0.25"},
                                        {"delete.retention.ms", "100"}, {"min.compaction.lag.ms", "200"},
                                        {"max.compaction.lag.ms", "300"}});
    EXPECT_TRUE(compact.compact);
    EXPECT_EQ(compact.retention_ms, -1);
    EXPECT_EQ(compact.retention_bytes, -1);
    EXPECT_DOUBLE_EQ(compact.min_cleanable_dirty_ratio, 0.25);
    EXPECT_EQ(compact.delete_retention_ms, 100);
    EXPECT_EQ(compact.min_compaction_lag_ms, 200);
    EXPECT_EQ(compact.max_compaction_lag_ms, 300);
    // compact,delete: both.
    auto both = topic_log_config(b, {{"cleanup.policy", "delete,compact"}});
    EXPECT_TRUE(both.compact);
    EXPECT_EQ(both.retention_ms, 7);
    EXPECT_EQ(both.retention_bytes, 8);
    // The broker's log.cleanup.policy is the default.
    b.log_defaults.compact = true;
    b.cleanup_delete = false;
    auto by_default = topic_log_config(b, {});
    EXPECT_TRUE(by_default.compact);
    EXPECT_EQ(by_default.retention_ms, -1);
    EXPECT_FALSE(topic_log_config(b, {{"cleanup.policy", "delete"}}).compact);
}

} // namespace
} // namespace trib::broker
