// metadata_image is copy-on-write: a copy shares everything until written, a change to a
// copy copies only the topic it touches, and neither side ever sees the other's changes.
#include "coordinator/client/metadata_delta.h"
#include "coordinator/client/metadata_image.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

namespace trib::coordinator {
namespace {

protocol::uuid id_of(uint8_t n) {
    protocol::uuid u;
    u.b[0] = n;
    u.b[15] = 1;
    return u;
}

// Topics t0..t(n-1), one partition each on broker 1, and a config on t0.
metadata_image with_topics(int n) {
    metadata_image img;
    offset at{0};
    register_broker_record b;
    b.broker_id = 1;
    b.fenced = true;
    EXPECT_TRUE(img.apply(at, b));
    at = at + 1;
    for (int i = 0; i < n; ++i) {
        topic_record t;
        t.name = fmt::format("t{}", i);  // not "t" + to_string: g++ 12 -Wrestrict false positive
        t.topic_id = id_of(uint8_t(i));
        EXPECT_TRUE(img.apply(at, t));
        at = at + 1;
        partition_record p;
        p.topic_id = id_of(uint8_t(i));
        p.replicas = {1};
        p.isr = {1};
        p.leader = 1;
        EXPECT_TRUE(img.apply(at, p));
        at = at + 1;
    }
    config_record c;
    c.resource_type = int8_t(resource_type::topic);
    c.resource_name = "t0";
    c.name = "retention.ms";
    c.value = "1000";
    EXPECT_TRUE(img.apply(at, c));
    return img;
}

partition_change_record leaderless(const protocol::uuid& id) {
    partition_change_record pc;
    pc.topic_id = id;
    pc.replicas = {1};
    pc.isr = {1};
    pc.leader = -1;
    pc.leader_epoch = 1;
    pc.partition_epoch = 1;
    return pc;
}

TEST(image, a_copy_shares_what_it_does_not_change) {
    const metadata_image original = with_topics(3);
    metadata_image copy = original;
    EXPECT_TRUE(copy == original);
    EXPECT_EQ(copy.topic("t1"), original.topic("t1")) << "the same topic object, not a copy of it";

    ASSERT_TRUE(copy.apply(copy.next_offset(), leaderless(id_of(1))));
    EXPECT_EQ(copy.topic("t1")->partitions[0].leader, -1);
    EXPECT_EQ(original.topic("t1")->partitions[0].leader, 1) << "the original never sees the copy's change";
    EXPECT_NE(copy.topic("t1"), original.topic("t1")) << "the changed topic was copied";
    EXPECT_EQ(copy.topic("t2"), original.topic("t2")) << "the others are still shared";
    EXPECT_FALSE(copy == original);

    // A second change to the same topic of the copy writes its own copy in place.
    const topic_state* own = copy.topic("t1");
    auto again = leaderless(id_of(1));
    again.leader = 1;
    again.leader_epoch = 2;
    again.partition_epoch = 2;
    ASSERT_TRUE(copy.apply(copy.next_offset(), again));
    EXPECT_EQ(copy.topic("t1"), own);
    EXPECT_EQ(original.topic("t1")->partitions[0].partition_epoch, 0);
}

TEST(image, removing_and_configuring_in_a_copy_leaves_the_original_whole) {
    const metadata_image original = with_topics(2);
    metadata_image copy = original;
    ASSERT_TRUE(copy.apply(copy.next_offset(), remove_topic_record{id_of(0), {}}));
    EXPECT_EQ(copy.topic("t0"), nullptr);
    EXPECT_EQ(copy.configs(resource_type::topic, "t0"), nullptr) << "its configs go with it";
    ASSERT_NE(original.topic("t0"), nullptr);
    ASSERT_NE(original.configs(resource_type::topic, "t0"), nullptr);
    EXPECT_EQ(original.configs(resource_type::topic, "t0")->at("retention.ms"), "1000");

    config_record c;
    c.resource_type = int8_t(resource_type::broker);
    c.resource_name = "";
    c.name = "unclean.leader.election.enable";
    c.value = "true";
    ASSERT_TRUE(copy.apply(copy.next_offset(), c));
    EXPECT_EQ(original.configs(resource_type::broker, ""), nullptr);
    fence_broker_record f{1, {}};
    ASSERT_TRUE(copy.apply(copy.next_offset(), f));
    EXPECT_TRUE(copy.broker(1)->fenced);
    EXPECT_TRUE(original.broker(1)->fenced) << "registered fenced, never unfenced";
    ASSERT_TRUE(copy.apply(copy.next_offset(), unfence_broker_record{1, {}}));
    EXPECT_FALSE(copy.broker(1)->fenced);
    EXPECT_TRUE(original.broker(1)->fenced);
}

TEST(image, a_refused_record_changes_nothing_in_either) {
    const metadata_image original = with_topics(1);
    metadata_image copy = original;
    auto stale = leaderless(id_of(0));
    stale.partition_epoch = 0;  // does not grow the partition epoch
    stale.leader_epoch = 0;
    stale.leader = 1;
    stale.isr = {1};
    ASSERT_TRUE(copy.apply(copy.next_offset(), leaderless(id_of(0))));
    EXPECT_FALSE(copy.apply(copy.next_offset(), stale));
    EXPECT_EQ(copy.topic("t0")->partitions[0].partition_epoch, 1);
    EXPECT_TRUE(original == with_topics(1)) << "equal content, built separately";
}

acl_record acl(std::string topic, std::string principal, int8_t permission = 3) {
    return record_of<acl_record>(security::acl_binding{security::acl_resource::topic, std::move(topic),
                                                       security::acl_pattern::literal, std::move(principal), "*",
                                                       security::acl_operation::read,
                                                       security::acl_permission(permission)});
}

TEST(image, acl_bindings_are_added_removed_kept_in_snapshots_and_indexed) {
    metadata_image img = with_topics(1);
    ASSERT_TRUE(img.apply(img.next_offset(), acl("t0", "User:alice")));
    ASSERT_TRUE(img.apply(img.next_offset(), acl("t0", "User:bob", 2)));
    ASSERT_TRUE(img.apply(img.next_offset(), acl("t0", "User:alice")));  // once only
    EXPECT_EQ(img.acls().size(), 2u);
    auto index = img.acl_index();
    EXPECT_EQ(index->bindings().size(), 2u);
    EXPECT_EQ(img.acl_index(), index) << "built once while the bindings don't change";
    EXPECT_EQ(img.to_snapshot("c", node_id(1)).acls, index);

    // Replaying the snapshot's records gives the same image (ACLs included).
    metadata_image replayed;
    for (const auto& r : img.to_records()) {
        ASSERT_TRUE(replayed.apply(replayed.next_offset(), r)) << describe(r);
    }
    EXPECT_EQ(replayed.acls(), img.acls());

    metadata_image copy = img;
    auto removal = record_of<remove_acl_record>(security::acl_binding{
        security::acl_resource::topic, "t0", security::acl_pattern::literal, "User:bob", "*",
        security::acl_operation::read, security::acl_permission::deny});
    ASSERT_TRUE(copy.apply(copy.next_offset(), removal));
    EXPECT_EQ(copy.acls().size(), 1u);
    EXPECT_EQ(copy.acl_index()->bindings().size(), 1u);
    EXPECT_EQ(img.acls().size(), 2u) << "the original keeps its bindings";
    EXPECT_EQ(img.acl_index(), index);
    EXPECT_FALSE(copy.apply(copy.next_offset(), removal)) << "removing an absent binding is inconsistent";

    // A record round-trips through the log's encoding.
    auto decoded = decode_record_value(encode_record_value(acl("t0", "User:carol")));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(describe(*decoded), "acl User:carol from * Allow Read on Topic:LITERAL:t0");
}

TEST(delta, acl_records_are_announced) {
    metadata_image img;
    metadata_delta d;
    d.add(img, acl("t", "User:a"));
    EXPECT_TRUE(d.acls);
    EXPECT_FALSE(d.everything);
    EXPECT_FALSE(d.empty());
}

} // namespace
} // namespace trib::coordinator
