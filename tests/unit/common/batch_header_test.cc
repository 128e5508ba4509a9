#include "common/batch_header.h"
#include "common/crc32c.h"

#include <gtest/gtest.h>

namespace trib {
namespace {

bytes make_batch(int32_t records_bytes) {
    bytes b(batch_header::size + size_t(records_bytes), 0xab);
    batch_header h;
    h.base_offset = 42;
    h.batch_length = int32_t(b.size() - batch_header::length_field_end);
    h.last_offset_delta = 2;
    h.record_count = 3;
    h.producer_id = 7;
    write_batch_header(b.data(), h);
    store_be32(b.data() + 17, compute_batch_crc(b));
    return b;
}

TEST(batch_header, reads_back_what_was_written) {
    auto b = make_batch(20);
    auto h = read_and_verify_batch(b);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->base_offset, 42);
    EXPECT_EQ(h->last_offset(), 44);
    EXPECT_EQ(h->record_count, 3);
    EXPECT_EQ(h->producer_id, 7);
    EXPECT_EQ(h->total_size(), b.size());
}

TEST(batch_header, rejects_truncation_magic_and_crc) {
    auto b = make_batch(20);
    EXPECT_EQ(read_batch_header(bytes_view(b).first(b.size() - 1)).error(), batch_errc::truncated);
    EXPECT_EQ(read_batch_header(bytes_view(b).first(30)).error(), batch_errc::truncated);
    auto bad_magic = b;
    bad_magic[16] = 1;
    EXPECT_EQ(read_batch_header(bad_magic).error(), batch_errc::unsupported_magic);
    auto bad_crc = b;
    bad_crc.back() ^= 1;
    EXPECT_TRUE(read_batch_header(bad_crc));
    EXPECT_EQ(read_and_verify_batch(bad_crc).error(), batch_errc::bad_crc);
    auto too_big = b;
    EXPECT_EQ(read_batch_header(too_big, 50).error(), batch_errc::bad_length);
}

TEST(batch_header, base_offset_edit_keeps_crc_valid_and_log_append_time_fixes_it) {
    auto b = make_batch(8);
    set_base_offset(b.data(), 1000);
    set_partition_leader_epoch(b.data(), 5);
    auto h = read_and_verify_batch(b);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->base_offset, 1000);
    EXPECT_EQ(h->partition_leader_epoch, 5);
    set_log_append_time(b.data(), b.size(), 123456);
    h = read_and_verify_batch(b);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->log_append_time());
    EXPECT_EQ(h->max_timestamp, 123456);
}

} // namespace
} // namespace trib
