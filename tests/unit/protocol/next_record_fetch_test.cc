// next_record_fetch: the Fetch rounds that read the record at given offsets (consumer lag in
// seconds), and what they take from the answers.
#include "protocol/next_record_fetch.h"

#include "protocol/records.h"

#include <gtest/gtest.h>

using namespace trib;
using namespace trib::protocol;

namespace {

// Records base..base+n-1 stamped 1000 + offset.
record_set batch_at(int64_t base, int n) {
    batch_builder b({.base_offset = base});
    for (int64_t o = base; o < base + n; ++o) {
        b.add("k", "v", 1000 + o);
    }
    return record_set{*b.build(), {}};
}

fetch_response::partition_data answer(int32_t partition, std::optional<record_set> records, int16_t error = 0) {
    fetch_response::partition_data p;
    p.partition_index = partition;
    p.error_code = error;
    p.records = std::move(records);
    return p;
}

fetch_response answer_of(std::string topic, std::vector<fetch_response::partition_data> partitions) {
    fetch_response resp;
    resp.responses.push_back({std::move(topic), std::move(partitions), {}});
    return resp;
}

} // namespace

TEST(next_record_fetch, one_round_per_offset_of_a_partition_one_batch_each) {
    next_record_fetch f;
    f.want("a", 0, 4);
    f.want("a", 0, 9);
    f.want("a", 0, 4);  // twice: asked once
    f.want("a", 1, 2);
    f.want("b", 0, 0);
    auto r0 = f.request(0);
    ASSERT_TRUE(r0);
    EXPECT_EQ(r0->replica_id, -1);
    EXPECT_EQ(r0->max_wait_ms, 0);
    ASSERT_EQ(r0->topics.size(), 2u);  // partitions of a topic together
    EXPECT_EQ(r0->topics[0].topic, "a");
    ASSERT_EQ(r0->topics[0].partitions.size(), 2u);
    EXPECT_EQ(r0->topics[0].partitions[0].fetch_offset, 4);
    EXPECT_EQ(r0->topics[0].partitions[0].partition_max_bytes, 1);
    EXPECT_EQ(r0->topics[0].partitions[1].fetch_offset, 2);
    auto r1 = f.request(1);
    ASSERT_TRUE(r1);
    ASSERT_EQ(r1->topics.size(), 1u);
    ASSERT_EQ(r1->topics[0].partitions.size(), 1u);
    EXPECT_EQ(r1->topics[0].partitions[0].fetch_offset, 9);
    EXPECT_FALSE(f.request(2));

    auto resp = answer_of("a", {answer(0, batch_at(3, 4)), answer(1, std::nullopt), answer(7, batch_at(0, 1))});
    resp.responses.push_back(answer_of("b", {answer(0, batch_at(0, 2), 1)}).responses[0]);  // OFFSET_OUT_OF_RANGE
    f.take(resp, 0);
    EXPECT_EQ(f.timestamp("a", 0, 4), 1004);  // inside a batch starting before it
    EXPECT_EQ(f.timestamp("a", 1, 2), std::nullopt);
    EXPECT_EQ(f.timestamp("b", 0, 0), std::nullopt);
    EXPECT_EQ(f.timestamp("a", 7, 0), std::nullopt);  // not asked

    f.take(answer_of("a", {answer(0, batch_at(9, 1))}), 1);
    EXPECT_EQ(f.timestamp("a", 0, 9), 1009);
    EXPECT_EQ(f.timestamp("a", 0, 4), 1004);
}

TEST(next_record_fetch, bytes_that_are_not_batches_give_no_timestamp) {
    next_record_fetch f;
    f.want("a", 0, 0);
    f.take(answer_of("a", {answer(0, record_set{bytes(70, 0xff), {}})}), 0);
    EXPECT_EQ(f.timestamp("a", 0, 0), std::nullopt);
}
