#include "admin/args.h"
#include "admin/cluster.h"
#include "admin/plan_json.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace trib::admin {
namespace {

namespace balancer = coordinator::balancer;

balancer::plan two_changes() {
    balancer::plan p;
    p.changes.push_back({.topic = "orders", .index = partition_id(0), .old_replicas = {node_id(1), node_id(2)},
                         .new_replicas = {node_id(4), node_id(2)}, .moves = 1, .size_bytes = 2048});
    p.changes.push_back({.topic = "pay\"ments", .index = partition_id(3), .old_replicas = {node_id(3)},
                         .new_replicas = {node_id(5)}, .moves = 1, .size_bytes = 0});
    return p;
}

TEST(plan_json, is_what_kafka_reassign_partitions_reads) {
    EXPECT_EQ(reassignment_json(two_changes()),
              "{\"version\":1,\"partitions\":[\n"
              "{\"topic\":\"orders\",\"partition\":0,\"replicas\":[4,2],\"log_dirs\":[\"any\",\"any\"]},\n"
              "{\"topic\":\"pay\\\"ments\",\"partition\":3,\"replicas\":[5],\"log_dirs\":[\"any\"]}\n"
              "]}\n");
    EXPECT_EQ(rollback_json(two_changes()),
              "{\"version\":1,\"partitions\":[\n"
              "{\"topic\":\"orders\",\"partition\":0,\"replicas\":[1,2],\"log_dirs\":[\"any\",\"any\"]},\n"
              "{\"topic\":\"pay\\\"ments\",\"partition\":3,\"replicas\":[3],\"log_dirs\":[\"any\"]}\n"
              "]}\n");
    EXPECT_EQ(reassignment_json({}), "{\"version\":1,\"partitions\":[]}\n");
    EXPECT_EQ(json_string("a\\b\n\x01"), "\"a\\\\b\\n\\u0001\"");
}

TEST(plan_json, summary_names_moves_loads_and_what_failed) {
    auto p = two_changes();
    p.summary.brokers.push_back({.id = node_id(1), .leaving = true, .replicas_before = 1, .replicas_after = 0});
    p.summary.left_on_leaving = 1;
    p.summary.replica_moves = 2;
    p.summary.bytes_moved = 2048;
    p.skipped.push_back({"logs", partition_id(1), "under-replicated: 1 of 2 replicas in the ISR"});
    const auto s = summary_text(p);
    EXPECT_NE(s.find("2 partitions change, 2 replica moves, 2.0 KiB to copy"), std::string::npos) << s;
    EXPECT_NE(s.find("orders-0: [1,2] -> [4,2]"), std::string::npos) << s;
    EXPECT_NE(s.find("(leaving)"), std::string::npos) << s;
    EXPECT_NE(s.find("skipped logs-1: under-replicated"), std::string::npos) << s;
    EXPECT_NE(s.find("WARNING: 1 replicas stay on leaving brokers"), std::string::npos) << s;
    EXPECT_NE(s.find("replica counts NOT balanced"), std::string::npos) << s;
}

TEST(admin_args, options_flags_and_errors) {
    option_spec spec{.with_value = {"bootstrap-server", "leaving"}, .flags = {"execute"}};
    auto a = parsed_args::parse({"--bootstrap-server", "h:1", "--leaving=3,4", "--execute"}, spec);
    EXPECT_EQ(a.required("bootstrap-server"), "h:1");
    EXPECT_EQ(parse_id_list(*a.value("leaving"), "--leaving"), (std::vector<int32_t>{3, 4}));
    EXPECT_TRUE(a.flag("execute"));
    EXPECT_THROW(parsed_args::parse({"--nope"}, spec), std::invalid_argument);
    EXPECT_THROW(parsed_args::parse({"--leaving"}, spec), std::invalid_argument);
    EXPECT_THROW(parsed_args::parse({"--execute=1"}, spec), std::invalid_argument);
    EXPECT_THROW(parsed_args::parse({"stray"}, spec), std::invalid_argument);
    EXPECT_THROW(parsed_args::parse({}, spec).required("bootstrap-server"), std::invalid_argument);
    EXPECT_THROW(parse_id_list("3,x", "--leaving"), std::invalid_argument);
    EXPECT_THROW(parse_id_list("-1", "--leaving"), std::invalid_argument);
    EXPECT_THROW(parse_decimal("0.1x", "--bytes-tolerance"), std::invalid_argument);
    EXPECT_DOUBLE_EQ(parse_decimal("0.25", "--bytes-tolerance"), 0.25);
    EXPECT_EQ(parse_name_list("a,,b,"), (std::vector<std::string>{"a", "b"}));
}

cluster_view three_brokers() {
    cluster_view c;
    for (int32_t id : {1, 2, 3}) {
        auto& b = c.metadata.brokers.emplace_back();
        b.node_id = id;
        b.host = "127.0.0.1";
        b.port = 9000 + id;
        b.rack = id == 3 ? "b" : "a";
    }
    for (std::string name : {"orders", "logs"}) {
        auto& t = c.metadata.topics.emplace_back();
        t.name = name;
        for (int32_t i = 0; i < 2; ++i) {
            auto& p = t.partitions.emplace_back();
            p.partition_index = i;
            p.leader_id = 1;
            p.replica_nodes = {1, 2};
            p.isr_nodes = {1};
        }
    }
    auto& bad = c.metadata.topics.emplace_back();
    bad.name = "gone";
    bad.error_code = 3;
    c.sizes[{"orders", 1}] = 500;
    return c;
}

TEST(admin_cluster, balancer_input_from_metadata_and_sizes) {
    std::string why;
    auto in = balancer_input(three_brokers(), {.leaving = {3}, .topics = {"orders"}}, why);
    ASSERT_TRUE(in) << why;
    ASSERT_EQ(in->brokers.size(), 3u);
    EXPECT_EQ(in->brokers[2].rack, "b");
    EXPECT_TRUE(in->brokers[2].leaving);
    EXPECT_FALSE(in->brokers[0].leaving);
    ASSERT_EQ(in->partitions.size(), 4u) << "the topic in error is left out";
    EXPECT_EQ(in->partitions[1].topic, "orders");
    EXPECT_EQ(in->partitions[1].size_bytes, 500);
    EXPECT_EQ(in->partitions[1].replicas, (std::vector<node_id>{node_id(1), node_id(2)}));
    EXPECT_EQ(in->partitions[1].isr, (std::vector<node_id>{node_id(1)}));
    EXPECT_TRUE(in->partitions[1].movable);
    EXPECT_FALSE(in->partitions[2].movable) << "logs was not selected";

    EXPECT_FALSE(balancer_input(three_brokers(), {.leaving = {7}, .topics = {}}, why));
    EXPECT_NE(why.find("broker 7"), std::string::npos) << why;
    EXPECT_FALSE(balancer_input(three_brokers(), {.leaving = {}, .topics = {"nope"}}, why));
    EXPECT_NE(why.find("nope"), std::string::npos) << why;
}

} // namespace
} // namespace trib::admin
