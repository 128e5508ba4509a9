#include "broker/log_dirs.h"

#include <gtest/gtest.h>

namespace trib::broker {
namespace {

TEST(log_dirs, parses_partition_directory_names) {
    auto p = parse_partition_dir("orders-3");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tp, (topic_partition{"orders", 3}));
    EXPECT_FALSE(p->future);

    // Topic names may hold dots and dashes: the partition is after the last dash.
    p = parse_partition_dir("my.topic-with-dash-12");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tp, (topic_partition{"my.topic-with-dash", 12}));

    p = parse_partition_dir("orders--1");  // topic "orders-", not partition -1
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tp, (topic_partition{"orders-", 1}));

    p = parse_partition_dir("my.topic-0.0123456789abcdef0123456789abcdef-future");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tp, (topic_partition{"my.topic", 0}));
    EXPECT_TRUE(p->future);
    EXPECT_EQ(future_partition_dir({"my.topic", 0}, "0123456789abcdef0123456789abcdef"),
              "my.topic-0.0123456789abcdef0123456789abcdef-future");

    for (const char* other : {"__cluster_metadata-0", "meta.properties", "written-marks", "orders", "orders-",
                              "orders-x", "orders-+1", "-3", "orders-0.abc-delete", "orders-0.zz-future",
                              "orders-0.-future", "orders-99999999999"}) {
        EXPECT_FALSE(parse_partition_dir(other)) << other;
    }
}

TEST(log_dirs, new_replica_goes_to_the_usable_directory_with_fewest_partitions) {
    EXPECT_EQ(choose_log_dir({3, 1, 2}, {true, true, true}), 1u);
    EXPECT_EQ(choose_log_dir({2, 2, 2}, {true, true, true}), 0u);  // ties: the first listed
    EXPECT_EQ(choose_log_dir({0, 5, 1}, {false, true, true}), 2u);  // an unusable one never
    EXPECT_EQ(choose_log_dir({0, 0}, {false, false}), std::nullopt);
    EXPECT_EQ(choose_log_dir({}, {}), std::nullopt);
}

TEST(log_dirs, placing_one_by_one_spreads_partitions_evenly) {
    std::vector<size_t> count(3);
    for (int i = 0; i < 10; ++i) {
        ++count[*choose_log_dir(count, {true, true, true})];
    }
    EXPECT_EQ(count, (std::vector<size_t>{4, 3, 3}));
}

TEST(log_dirs, scan_finds_each_partition_and_future_copies) {
    auto scan = scan_log_dirs({"/a", "/b"}, {{"t-0", "t-1", "__cluster_metadata-0", "u-0.00ff-future"},
                                             {"u-0", "t-1.abcd-future", "v-7"}});
    ASSERT_FALSE(scan.conflict);
    EXPECT_EQ(scan.current, (std::map<topic_partition, size_t>{{{"t", 0}, 0}, {{"t", 1}, 0}, {{"u", 0}, 1}, {{"v", 7}, 1}}));
    ASSERT_EQ(scan.future.size(), 2u);
    EXPECT_EQ(scan.future.at({"u", 0}), std::make_pair(size_t(0), std::string("u-0.00ff-future")));
    EXPECT_EQ(scan.future.at({"t", 1}), std::make_pair(size_t(1), std::string("t-1.abcd-future")));
}

TEST(log_dirs, a_partition_in_two_directories_is_refused) {
    auto scan = scan_log_dirs({"/a", "/b"}, {{"t-0"}, {"x-1", "t-0"}});
    ASSERT_TRUE(scan.conflict);
    EXPECT_NE(scan.conflict->find("t-0"), std::string::npos);
    EXPECT_NE(scan.conflict->find("/a"), std::string::npos);
    EXPECT_NE(scan.conflict->find("/b"), std::string::npos);

    scan = scan_log_dirs({"/a", "/b"}, {{"t-0.01-future"}, {"t-0.02-future"}});
    ASSERT_TRUE(scan.conflict);
    EXPECT_NE(scan.conflict->find("two future copies"), std::string::npos);
}

} // namespace
} // namespace trib::broker
