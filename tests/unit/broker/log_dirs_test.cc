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

TEST(move_quota, no_rate_grants_what_is_asked) {
    move_quota q;
    EXPECT_EQ(q.grant(0, 8 << 20), uint64_t(8 << 20));
    q.settle(8 << 20, 100);
    EXPECT_EQ(q.grant(0, 8 << 20), uint64_t(8 << 20));
}

TEST(move_quota, copies_at_most_the_rate_from_the_first_grant) {
    move_quota q;
    q.set_rate(1000);
    EXPECT_EQ(q.grant(10.0, 1 << 20), 0u) << "no credit before time passes";
    EXPECT_GT(q.wait_s(), 0.0);
    // Ask every millisecond for 5 s, copying whatever is granted.
    uint64_t copied = 0;
    for (int ms = 1; ms <= 5000; ++ms) {
        const double now = 10.0 + ms / 1000.0;
        auto g = q.grant(now, 1 << 20);
        q.settle(g, g);
        copied += g;
        ASSERT_LE(double(copied), 1000.0 * (now - 10.0) + 1) << "at " << now;
    }
    EXPECT_GE(copied, 4900u) << "the rate is used, not just bounded";
}

TEST(move_quota, a_bigger_read_is_paid_back_before_the_next_grant) {
    move_quota q;
    q.set_rate(1000);
    (void)q.grant(0, 100);
    auto g = q.grant(0.05, 100);  // 50 bytes of credit
    EXPECT_EQ(g, 50u);
    q.settle(g, 550);  // a whole batch of 550 bytes was read: 500 in debt
    EXPECT_EQ(q.grant(0.5, 100), 0u) << "0.45 s earns 450 bytes: still in debt";
    EXPECT_GT(q.grant(0.56, 100), 0u);
}

TEST(move_quota, idle_time_saves_up_a_tenth_of_a_second_at_most) {
    move_quota q;
    q.set_rate(1000);
    (void)q.grant(0, 1);
    EXPECT_EQ(q.grant(60, 1 << 20), 100u);
}

TEST(move_quota, a_new_rate_applies_at_once_and_zero_stops_copying) {
    move_quota q;
    q.set_rate(1'000'000);
    (void)q.grant(0, 1);
    EXPECT_EQ(q.grant(1, 1 << 30), 100'000u);
    q.set_rate(0);
    EXPECT_EQ(q.grant(2, 1 << 20), 0u);
    EXPECT_EQ(q.grant(100, 1 << 20), 0u);
    EXPECT_DOUBLE_EQ(q.wait_s(), 0.1) << "polled again for a new rate";
    q.set_rate(std::nullopt);
    EXPECT_EQ(q.grant(101, 1 << 20), uint64_t(1 << 20));
}

} // namespace
} // namespace trib::broker
