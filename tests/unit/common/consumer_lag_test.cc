#include "common/consumer_lag.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <optional>

namespace trib::lag {
namespace {

std::optional<double> find(const result& r, metric m, const prometheus::Labels& labels) {
    for (const auto& s : r.samples) {
        if (s.name == m && s.labels == labels) {
            return s.value;
        }
    }
    return std::nullopt;
}

prometheus::Labels gtp(const std::string& g, const std::string& t, int32_t p) {
    return {{"consumergroup", g}, {"topic", t}, {"partition", std::to_string(p)}};
}

input two_partitions() {
    input in;
    in.groups.push_back(group_commits{"g", 2, {{"t", 0, 10}, {"t", 1, 25}}});
    in.ends[{"t", 0}] = partition_ends{3, 15, {{10, 1'000}}};
    in.ends[{"t", 1}] = partition_ends{0, 25, {}};
    in.topic_partitions["t"] = 2;
    in.now_ms = 4'500;
    return in;
}

TEST(consumer_lag, lag_is_end_minus_committed_with_sums_and_members) {
    auto r = compute(two_partitions());
    EXPECT_EQ(find(r, metric::members, {{"consumergroup", "g"}}), 2);
    EXPECT_EQ(find(r, metric::current_offset, gtp("g", "t", 0)), 10);
    EXPECT_EQ(find(r, metric::current_offset, gtp("g", "t", 1)), 25);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 0)), 5);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 1)), 0);
    EXPECT_EQ(find(r, metric::current_offset_sum, {{"consumergroup", "g"}, {"topic", "t"}}), 35);
    EXPECT_EQ(find(r, metric::lag_sum, {{"consumergroup", "g"}, {"topic", "t"}}), 5);
    EXPECT_TRUE(r.inverted.empty());
}

TEST(consumer_lag, lag_seconds_is_the_age_of_the_next_record_and_zero_when_caught_up) {
    auto r = compute(two_partitions());
    EXPECT_EQ(find(r, metric::lag_seconds, gtp("g", "t", 0)), 3.5);
    EXPECT_EQ(find(r, metric::lag_seconds, gtp("g", "t", 1)), 0);
    // Behind, but the record's timestamp unknown: no series rather than a wrong value.
    auto in = two_partitions();
    in.ends[{"t", 0}].next_timestamp_ms.clear();
    EXPECT_FALSE(find(compute(in), metric::lag_seconds, gtp("g", "t", 0)));
}

TEST(consumer_lag, partition_without_commit_is_minus_one_as_kafka_exporter) {
    auto in = two_partitions();
    in.topic_partitions["t"] = 3;  // partition 2: no commit
    in.ends[{"t", 2}] = partition_ends{0, 7, {}};
    auto r = compute(in);
    EXPECT_EQ(find(r, metric::current_offset, gtp("g", "t", 2)), -1);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 2)), -1);
    EXPECT_FALSE(find(r, metric::lag_seconds, gtp("g", "t", 2)));
    // The -1s count in neither sum.
    EXPECT_EQ(find(r, metric::current_offset_sum, {{"consumergroup", "g"}, {"topic", "t"}}), 35);
    EXPECT_EQ(find(r, metric::lag_sum, {{"consumergroup", "g"}, {"topic", "t"}}), 5);
    // A topic the group never committed to is not shown for it at all.
    in.topic_partitions["other"] = 4;
    EXPECT_FALSE(find(compute(in), metric::current_offset, gtp("g", "other", 0)));
}

TEST(consumer_lag, unknown_end_gives_no_lag_but_the_commit) {
    auto in = two_partitions();
    in.ends.erase({"t", 0});
    auto r = compute(in);
    EXPECT_EQ(find(r, metric::current_offset, gtp("g", "t", 0)), 10);
    EXPECT_FALSE(find(r, metric::lag, gtp("g", "t", 0)));
    EXPECT_EQ(find(r, metric::lag_sum, {{"consumergroup", "g"}, {"topic", "t"}}), 0);
}

TEST(consumer_lag, commit_above_the_end_is_never_negative_and_reported) {
    auto in = two_partitions();
    in.groups[0].offsets[0].offset = 20;  // end is 15
    auto r = compute(in);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 0)), 0);
    EXPECT_EQ(find(r, metric::lag_seconds, gtp("g", "t", 0)), 0);
    ASSERT_EQ(r.inverted.size(), 1u);
    EXPECT_EQ(r.inverted[0].group_id, "g");
    EXPECT_EQ(r.inverted[0].committed, 20);
    EXPECT_EQ(r.inverted[0].end, 15);
    for (const auto& s : r.samples) {
        if (s.name == metric::lag || s.name == metric::lag_sum || s.name == metric::lag_seconds) {
            EXPECT_GE(s.value, s.name == metric::lag ? -1 : 0);
        }
    }
}

TEST(consumer_lag, group_without_commits_has_members_only) {
    input in;
    in.groups.push_back(group_commits{"empty", 0, {}});
    auto r = compute(in);
    ASSERT_EQ(r.samples.size(), 1u);
    EXPECT_EQ(find(r, metric::members, {{"consumergroup", "empty"}}), 0);
}

TEST(consumer_lag, topic_partition_series_only_for_the_partitions_published) {
    auto in = two_partitions();
    in.publish_partitions = {{"t", 1}};
    auto r = compute(in);
    EXPECT_EQ(find(r, metric::partition_current_offset, {{"topic", "t"}, {"partition", "1"}}), 25);
    EXPECT_EQ(find(r, metric::partition_oldest_offset, {{"topic", "t"}, {"partition", "1"}}), 0);
    EXPECT_FALSE(find(r, metric::partition_current_offset, {{"topic", "t"}, {"partition", "0"}}));
}

TEST(consumer_lag, unknown_members_and_no_timestamps_leave_those_series_out) {
    // The operator: members of a group DescribeGroups did not describe, and no record
    // timestamps read. The lag itself is still there.
    auto in = two_partitions();
    in.groups[0].members = -1;
    in.lag_seconds = false;
    auto r = compute(in);
    EXPECT_EQ(find(r, metric::members, {{"consumergroup", "g"}}), std::nullopt);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 0)), 5);
    EXPECT_EQ(find(r, metric::lag, gtp("g", "t", 1)), 0);
    for (const auto& s : r.samples) {
        EXPECT_NE(s.name, metric::lag_seconds);  // not even the caught-up partition's 0
    }
}

std::string scrape(prometheus::Registry& reg) {
    return prometheus::TextSerializer().Serialize(reg.Collect());
}

TEST(consumer_lag, published_series_of_a_group_that_is_gone_are_removed) {
    prometheus::Registry reg;
    families f(reg);
    series_set s;
    f.publish(s, {{"kafkacluster", "c"}}, compute(two_partitions()).samples);
    s.sweep();
    auto text = scrape(reg);
    EXPECT_NE(text.find(R"(kafka_consumergroup_lag{consumergroup="g",kafkacluster="c",partition="0",topic="t"} 5)"),
              std::string::npos)
        << text;
    input none;  // the group was deleted
    f.publish(s, {{"kafkacluster", "c"}}, compute(none).samples);
    s.sweep();
    text = scrape(reg);
    EXPECT_EQ(text.find("consumergroup=\"g\""), std::string::npos) << text;
    EXPECT_EQ(s.size(), 0u);
}

} // namespace
} // namespace trib::lag
