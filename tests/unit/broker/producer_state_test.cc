#include "broker/producer_state.h"

#include <gtest/gtest.h>

#include <climits>

namespace trib::broker {
namespace {

using verdict = producer_state::verdict;

batch_header batch(int64_t pid, int16_t epoch, int32_t first_seq, int32_t records, int64_t base_offset = 0) {
    batch_header h;
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = first_seq;
    h.last_offset_delta = records - 1;
    h.record_count = records;
    h.base_offset = base_offset;
    return h;
}

TEST(producer_state, a_new_producer_starts_at_sequence_zero) {
    producer_state s;
    EXPECT_EQ(s.check(batch(7, 0, 0, 3)).v, verdict::append);
    EXPECT_EQ(s.check(batch(7, 0, 5, 3)).v, verdict::unknown_producer);
}

TEST(producer_state, batches_must_follow_on_and_retries_get_their_first_offset) {
    producer_state s;
    s.record(batch(7, 0, 0, 3, 100));   // seq 0..2 at offsets 100..102
    s.record(batch(7, 0, 3, 2, 103));   // seq 3..4
    EXPECT_EQ(s.check(batch(7, 0, 5, 1)).v, verdict::append);
    EXPECT_EQ(s.check(batch(7, 0, 6, 1)).v, verdict::out_of_order) << "a gap";
    EXPECT_EQ(s.check(batch(7, 0, 2, 1)).v, verdict::out_of_order) << "inside an earlier batch";
    auto dup = s.check(batch(7, 0, 0, 3));
    EXPECT_EQ(dup.v, verdict::duplicate);
    EXPECT_EQ(dup.duplicate_of, 100);
    EXPECT_EQ(s.check(batch(7, 0, 3, 2)).duplicate_of, 103);
}

TEST(producer_state, only_the_last_five_batches_are_remembered) {
    producer_state s;
    for (int i = 0; i < 7; ++i) {
        s.record(batch(1, 0, i, 1, i));
    }
    EXPECT_EQ(s.check(batch(1, 0, 6, 1)).v, verdict::duplicate);
    EXPECT_EQ(s.check(batch(1, 0, 2, 1)).v, verdict::duplicate);
    EXPECT_EQ(s.check(batch(1, 0, 1, 1)).v, verdict::out_of_order) << "too old to recognise";
}

TEST(producer_state, epochs_fence_older_and_restart_sequences) {
    producer_state s;
    s.record(batch(9, 3, 0, 10));
    EXPECT_EQ(s.check(batch(9, 2, 10, 1)).v, verdict::fenced);
    EXPECT_EQ(s.check(batch(9, 4, 10, 1)).v, verdict::out_of_order) << "a new epoch starts at 0";
    EXPECT_EQ(s.check(batch(9, 4, 0, 1)).v, verdict::append);
    s.record(batch(9, 4, 0, 1));
    EXPECT_EQ(s.check(batch(9, 3, 10, 1)).v, verdict::fenced);
}

TEST(producer_state, sequences_wrap_after_int32_max) {
    producer_state s;
    s.record(batch(5, 0, INT32_MAX - 1, 2));  // INT32_MAX-1 .. INT32_MAX
    EXPECT_EQ(s.check(batch(5, 0, 0, 1)).v, verdict::append);
    auto wrapped = batch(5, 0, INT32_MAX, 3);  // INT32_MAX, 0, 1
    EXPECT_EQ(last_sequence(wrapped), 1);
}

TEST(producer_state, producers_are_independent) {
    producer_state s;
    s.record(batch(1, 0, 0, 5));
    EXPECT_EQ(s.check(batch(2, 0, 0, 1)).v, verdict::append);
    EXPECT_EQ(s.check(batch(1, 0, 5, 1)).v, verdict::append);
    EXPECT_EQ(s.producers(), 1u);
}

// DescribeProducers' view: per producer its epoch, and the last sequence and max timestamp of
// its last batch (not the largest timestamp it ever sent: Kafka's LastTimestamp).
TEST(producer_state, active_producers_show_their_last_batch) {
    using active = producer_state::active_producer;
    producer_state s;
    EXPECT_TRUE(s.active().empty());
    auto stamped = [](batch_header h, int64_t max_ts) {
        h.max_timestamp = max_ts;
        return h;
    };
    s.record(stamped(batch(42, 1, 0, 3, 0), 5000));
    s.record(stamped(batch(7, 0, 0, 2, 3), 4000));
    s.record(stamped(batch(42, 1, 3, 4, 5), 4500));  // seq 3..6, an older timestamp than the first batch's
    EXPECT_EQ(s.active(), (std::vector<active>{{7, 0, 1, 4000}, {42, 1, 6, 4500}})) << "ascending producer id";
    s.record(stamped(batch(7, 2, 0, 1, 9), 6000));  // a new epoch
    EXPECT_EQ(s.active().front(), (active{7, 2, 0, 6000}));
    s.record(batch(9, 0, INT32_MAX, 3, 10));  // wraps: INT32_MAX, 0, 1; no timestamp
    EXPECT_EQ(s.active()[1], (active{9, 0, 1, -1}));
}

} // namespace
} // namespace trib::broker
