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

} // namespace
} // namespace trib::broker
