// Replication throttle configs: the throttled replica lists' syntax, the rates as dynamic
// broker configs, and both through IncrementalAlterConfigs as kafka-reassign-partitions and
// kafka-configs send them.
#include "tests/fakes/coordinator_harness.h"

#include "coordinator/client/topic_config.h"

#include <gtest/gtest.h>

namespace trib::coordinator::testing {
namespace {

using protocol::error_code;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

TEST(throttled_replicas, empty_star_and_lists) {
    auto none = parse_throttled_replicas("");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->all);
    EXPECT_TRUE(none->replicas.empty());
    EXPECT_FALSE(none->names(0, 1));

    auto all = parse_throttled_replicas(" * ");
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->all);
    EXPECT_TRUE(all->names(7, 3));

    auto some = parse_throttled_replicas("0:1,0:2, 1:3 ,12:104");
    ASSERT_TRUE(some);
    EXPECT_FALSE(some->all);
    EXPECT_EQ(some->replicas, (std::vector<std::pair<int32_t, int32_t>>{{0, 1}, {0, 2}, {1, 3}, {12, 104}}));
    EXPECT_TRUE(some->names(0, 2));
    EXPECT_TRUE(some->names(12, 104));
    EXPECT_FALSE(some->names(1, 1)) << "partition 1 is named for broker 3 only";
    EXPECT_FALSE(some->names(2, 3));
}

TEST(throttled_replicas, malformed_lists_say_why) {
    for (const char* bad : {"0", "0:", ":1", "a:1", "0:b", "0:1,", ",0:1", "0:1,*", "-1:2", "0:1:2", "0;1",
                            "2147483648:1", "1:99999999999", "0 :1"}) {
        std::string why;
        EXPECT_FALSE(parse_throttled_replicas(bad, &why)) << bad;
        EXPECT_NE(why.find("partition:broker"), std::string::npos) << bad << ": " << why;
    }
    EXPECT_TRUE(parse_throttled_replicas("2147483647:2147483647"));
}

TEST(throttle_configs, validated_as_topic_and_broker_configs) {
    EXPECT_FALSE(validate_topic_config("leader.replication.throttled.replicas", "0:1,1:2"));
    EXPECT_FALSE(validate_topic_config("follower.replication.throttled.replicas", "*"));
    EXPECT_FALSE(validate_topic_config("follower.replication.throttled.replicas", ""));
    auto why = validate_topic_config("leader.replication.throttled.replicas", "0-1");
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("leader.replication.throttled.replicas"), std::string::npos) << *why;

    for (const char* key : {"leader.replication.throttled.rate", "follower.replication.throttled.rate",
                            "replica.alter.log.dirs.io.max.bytes.per.second"}) {
        EXPECT_TRUE(is_broker_dynamic_config(key)) << key;
        EXPECT_FALSE(validate_broker_dynamic_config(key, "0")) << key;
        EXPECT_FALSE(validate_broker_dynamic_config(key, "9223372036854775807")) << key;
        EXPECT_TRUE(validate_broker_dynamic_config(key, "-1")) << key;
        EXPECT_TRUE(validate_broker_dynamic_config(key, "10MB")) << key;
        EXPECT_TRUE(validate_broker_dynamic_config(key, "")) << key;
    }
    // The topic-only keys have no broker-level key; an empty name is none.
    EXPECT_FALSE(is_broker_dynamic_config(""));
    EXPECT_TRUE(validate_broker_dynamic_config("", "0:1"));
    EXPECT_FALSE(is_broker_dynamic_config("leader.replication.throttled.replicas"));
}

TEST(throttle_configs, set_and_refused_through_incremental_alter_configs) {
    harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    ASSERT_EQ(h.create_topic("moving", 2, 2).error_code, 0);
    using req_t = protocol::incremental_alter_configs_request;
    using resp_t = protocol::incremental_alter_configs_response;
    req_t req;
    auto& topic = req.resources.emplace_back();
    topic.resource_type = 2;
    topic.resource_name = "moving";
    topic.configs.push_back({"leader.replication.throttled.replicas", 0, std::string("0:1,0:2,1:2,1:1"), {}});
    topic.configs.push_back({"follower.replication.throttled.replicas", 0, std::string("0:2"), {}});
    auto& broker = req.resources.emplace_back();
    broker.resource_type = 4;
    broker.resource_name = "2";
    broker.configs.push_back({"leader.replication.throttled.rate", 0, std::string("1000000"), {}});
    broker.configs.push_back({"follower.replication.throttled.rate", 0, std::string("1000000"), {}});
    broker.configs.push_back({"replica.alter.log.dirs.io.max.bytes.per.second", 0, std::string("5000"), {}});
    auto& bad_list = req.resources.emplace_back();
    bad_list.resource_type = 2;
    bad_list.resource_name = "moving";
    bad_list.configs.push_back({"follower.replication.throttled.replicas", 0, std::string("0:x"), {}});
    auto& bad_rate = req.resources.emplace_back();
    bad_rate.resource_type = 4;
    bad_rate.resource_name = "";
    bad_rate.configs.push_back({"leader.replication.throttled.rate", 0, std::string("-5"), {}});
    auto resp = h.admin<req_t, resp_t>(req, 1);
    ASSERT_EQ(resp.responses.size(), 4u);
    EXPECT_EQ(resp.responses[0].error_code, 0) << resp.responses[0].error_message.value_or("");
    EXPECT_EQ(resp.responses[1].error_code, 0) << resp.responses[1].error_message.value_or("");
    EXPECT_EQ(resp.responses[2].error_code, code(error_code::invalid_config));
    EXPECT_NE(resp.responses[2].error_message.value_or("").find("0:x"), std::string::npos);
    EXPECT_EQ(resp.responses[3].error_code, code(error_code::invalid_config));
    EXPECT_FALSE(resp.responses[3].error_message.value_or("").empty());

    const auto* t = h.image().configs(resource_type::topic, "moving");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->at("leader.replication.throttled.replicas"), "0:1,0:2,1:2,1:1");
    EXPECT_EQ(t->at("follower.replication.throttled.replicas"), "0:2") << "the refused resource changed nothing";
    auto s = h.image().to_snapshot("x", node_id(0));
    EXPECT_EQ(s.broker_configs.at("2").at("leader.replication.throttled.rate"), "1000000");
    EXPECT_EQ(s.broker_configs.at("2").at("replica.alter.log.dirs.io.max.bytes.per.second"), "5000");
    EXPECT_FALSE(s.broker_configs.contains(""));
}

} // namespace
} // namespace trib::coordinator::testing
