#include "coordinator/client/metadata_delta.h"

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

TEST(metadata_delta, names_what_each_record_touches) {
    metadata_image img;
    topic_record t;
    t.name = "orders";
    t.topic_id.b[0] = 7;
    metadata_delta d;
    d.add(img, t);
    ASSERT_TRUE(img.apply(offset(0), t));
    EXPECT_EQ(d.topics, (std::set<std::string, std::less<>>{"orders"}));
    EXPECT_FALSE(d.everything);

    metadata_delta p;
    partition_change_record pc;
    pc.topic_id = t.topic_id;
    p.add(img, pc);
    EXPECT_EQ(p.topics, (std::set<std::string, std::less<>>{"orders"})) << "named through the image";

    metadata_delta r;
    remove_topic_record rt;
    rt.topic_id = t.topic_id;
    r.add(img, rt);
    EXPECT_EQ(r.topics, (std::set<std::string, std::less<>>{"orders"})) << "named before the topic goes";

    metadata_delta c;
    config_record topic_cfg;
    topic_cfg.resource_type = int8_t(resource_type::topic);
    topic_cfg.resource_name = "orders";
    c.add(img, topic_cfg);
    EXPECT_EQ(c.topics.count("orders"), 1u);
    EXPECT_FALSE(c.broker_configs);
    config_record broker_cfg;
    broker_cfg.resource_type = int8_t(resource_type::broker);
    c.add(img, broker_cfg);
    EXPECT_TRUE(c.broker_configs);

    metadata_delta b;
    EXPECT_TRUE(b.empty());
    b.add(img, fence_broker_record{});
    EXPECT_TRUE(b.brokers);
    EXPECT_TRUE(b.topics.empty());
}

} // namespace
} // namespace trib::coordinator
