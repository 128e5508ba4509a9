#include "storage/checkpoint.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;
namespace fs = std::filesystem;

fs::path seg_path(const fs::path& dir, int64_t base, const char* ext) {
    return dir / (segment::file_stem(offset(base)) + ext);
}
// Forces the next open to scan every segment, as after a crash right after open.
void mark_unclean_from(const fs::path& dir, int64_t rp) {
    auto cp = checkpoint::read(dir);
    ASSERT_TRUE(cp && *cp);
    auto c = **cp;
    c.clean = false;
    c.recovery_point = offset(rp);
    ASSERT_TRUE(c.write(dir));
}

class recovery_test : public ::testing::Test {
protected:
    std::unique_ptr<log> open_log() {
        auto l = log::open(_dir.path(), _cfg, _clock);
        EXPECT_TRUE(l) << l.error().message();
        return l ? std::move(*l) : nullptr;
    }
    // `n` one-record batches of 100 bytes, then an unclean shutdown.
    std::vector<seen_batch> fill(int n) {
        auto l = open_log();
        for (int i = 0; i < n; ++i) {
            append_ok(*l, {.records = 1, .payload = 39, .max_timestamp = 1000 + i, .seed = uint32_t(i)});
        }
        return read_all(*l);
    }

    temp_dir _dir;
    fake_clock _clock;
    log_config _cfg{.segment_bytes = 1000, .index_interval_bytes = 200};
};

TEST_F(recovery_test, truncated_tail_at_every_cut_point_of_the_last_batch) {
    auto original = fill(25);  // 3 segments: 10 + 10 + 5 batches
    auto last = seg_path(_dir.path(), 20, ".log");
    const bytes full = read_file(last);
    ASSERT_EQ(full.size(), 500u);
    for (size_t cut = 401; cut < 500; ++cut) {
        write_file(last, bytes_view(full).first(cut));
        auto l = open_log();
        ASSERT_EQ(l->next_offset(), offset(24)) << "cut at " << cut;
        auto all = read_all(*l);
        ASSERT_EQ(all.size(), 24u);
        EXPECT_EQ(all.back().crc, original[23].crc);
        EXPECT_EQ(fs::file_size(last), 400u);
        l.reset();
        write_file(last, full);  // restore for the next cut; mark every segment dirty again
        mark_unclean_from(_dir.path(), 20);
    }
    // After a cut the log accepts appends at the right offset.
    write_file(last, bytes_view(full).first(450));
    auto l = open_log();
    EXPECT_EQ(append_ok(*l, {}).base, offset(24));
    EXPECT_EQ(read_all(*l).size(), 25u);
}

TEST_F(recovery_test, garbage_after_the_last_batch_is_cut) {
    fill(15);
    auto last = seg_path(_dir.path(), 10, ".log");
    bytes data = read_file(last);
    const size_t good = data.size();
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        data.push_back(uint8_t(rng()));
    }
    write_file(last, data);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(15));
    EXPECT_EQ(fs::file_size(last), good);
    EXPECT_EQ(read_all(*l).size(), 15u);
}

TEST_F(recovery_test, a_huge_length_on_disk_is_not_trusted) {
    fill(5);
    auto last = seg_path(_dir.path(), 0, ".log");
    bytes data = read_file(last);
    bytes fake = make_batch({});
    store_be32(fake.data() + 8, 0x7ffffff0);  // claims ~2 GiB
    data.insert(data.end(), fake.begin(), fake.end());
    write_file(last, data);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(5));
    EXPECT_EQ(read_all(*l).size(), 5u);
}

TEST_F(recovery_test, flipped_byte_cuts_the_log_at_that_batch) {
    auto original = fill(10);
    auto seg = seg_path(_dir.path(), 0, ".log");
    bytes data = read_file(seg);
    data[5 * 100 + 70] ^= 0x10;  // inside batch 5's records
    write_file(seg, data);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(5));
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all.back().crc, original[4].crc);
    EXPECT_EQ(append_ok(*l, {}).base, offset(5));
}

TEST_F(recovery_test, corruption_in_an_earlier_segment_drops_every_later_segment) {
    fill(35);  // segments 0, 10, 20, 30
    auto seg = seg_path(_dir.path(), 10, ".log");
    bytes data = read_file(seg);
    data[3 * 100 + 80] ^= 0x01;  // batch 13
    write_file(seg, data);
    mark_unclean_from(_dir.path(), 0);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(13));
    EXPECT_EQ(l->segment_bases(), (std::vector<offset>{offset(0), offset(10)}));
    EXPECT_FALSE(fs::exists(seg_path(_dir.path(), 20, ".log")));
    EXPECT_FALSE(fs::exists(seg_path(_dir.path(), 30, ".index")));
    EXPECT_EQ(read_all(*l).size(), 13u);
    EXPECT_EQ(append_ok(*l, {}).base, offset(13));
}

TEST_F(recovery_test, a_base_offset_that_breaks_contiguity_is_corrupt) {
    fill(10);
    auto seg = seg_path(_dir.path(), 0, ".log");
    bytes data = read_file(seg);
    store_be64(data.data() + 700, 1234);  // batch 7's base offset (not covered by the CRC)
    write_file(seg, data);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(7));
}

TEST_F(recovery_test, a_segment_that_doesnt_continue_its_predecessor_ends_the_log) {
    fill(25);
    fs::rename(seg_path(_dir.path(), 20, ".log"), seg_path(_dir.path(), 21, ".log"));
    fs::remove(seg_path(_dir.path(), 20, ".index"));
    fs::remove(seg_path(_dir.path(), 20, ".timeindex"));
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(20));
    EXPECT_EQ(l->segment_bases().size(), 2u);
    EXPECT_FALSE(fs::exists(seg_path(_dir.path(), 21, ".log")));
}

TEST_F(recovery_test, deleted_and_corrupted_index_files_are_rebuilt) {
    {
        auto l = open_log();
        for (int i = 0; i < 30; ++i) {
            append_ok(*l, {.records = 2, .payload = 39, .max_timestamp = 1000 + i});
        }
        l->close();
    }
    auto idx0 = seg_path(_dir.path(), 0, ".index");
    auto tidx0 = seg_path(_dir.path(), 0, ".timeindex");
    auto idx1 = seg_path(_dir.path(), 20, ".index");
    auto tidx2 = seg_path(_dir.path(), 40, ".timeindex");
    const bytes good_idx0 = read_file(idx0), good_tidx0 = read_file(tidx0), good_idx1 = read_file(idx1),
                good_tidx2 = read_file(tidx2);
    ASSERT_FALSE(good_idx0.empty());
    ASSERT_FALSE(good_tidx0.empty());
    fs::remove(idx0);
    bytes junk = good_idx1;
    std::reverse(junk.begin(), junk.end());  // not monotonic
    write_file(idx1, junk);
    write_file(tidx2, bytes_view(good_tidx2).first(good_tidx2.size() - 5));  // torn entry
    write_file(tidx0, bytes(24, 0xff));  // negative timestamps

    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(60));
    EXPECT_EQ(read_all(*l).size(), 30u);
    for (int64_t o = 0; o < 60; ++o) {
        auto b = l->read_bytes(offset(o), 1);
        ASSERT_TRUE(b);
        auto batch = parse_batches(*b);
        ASSERT_EQ(batch.size(), 1u);
        EXPECT_EQ(batch[0].base, o - o % 2);
    }
    EXPECT_EQ(*l->offset_for_timestamp(timestamp_ms(1025)), offset(50));
    l->close();
    EXPECT_EQ(read_file(idx0), good_idx0);
    EXPECT_EQ(read_file(idx1), good_idx1);
    EXPECT_EQ(read_file(tidx0), good_tidx0);
}

TEST_F(recovery_test, missing_or_damaged_checkpoint) {
    auto original = fill(25);
    fs::remove(_dir.path() / checkpoint::file_name);
    auto last = seg_path(_dir.path(), 20, ".log");
    bytes data = read_file(last);
    data.resize(data.size() - 3);
    write_file(last, data);
    {
        auto l = open_log();
        EXPECT_EQ(l->next_offset(), offset(24));
        EXPECT_EQ(l->log_start_offset(), offset(0));
        EXPECT_EQ(read_all(*l).size(), 24u);
        ASSERT_TRUE(l->advance_log_start_offset(offset(3)));
    }
    bytes cp = read_file(_dir.path() / checkpoint::file_name);
    ASSERT_EQ(cp.size(), checkpoint::size);
    cp[10] ^= 1;
    write_file(_dir.path() / checkpoint::file_name, cp);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(24));
    EXPECT_EQ(l->log_start_offset(), offset(0));  // lost with the checkpoint: the first segment
}

TEST_F(recovery_test, stray_files_are_cleaned_up) {
    fill(5);
    write_file(seg_path(_dir.path(), 77, ".index"), bytes(8, 0));
    write_file(_dir.path() / "log.checkpoint.tmp", bytes(3, 0));
    auto l = open_log();
    EXPECT_FALSE(fs::exists(seg_path(_dir.path(), 77, ".index")));
    EXPECT_FALSE(fs::exists(_dir.path() / "log.checkpoint.tmp"));
    EXPECT_EQ(l->next_offset(), offset(5));
}

TEST_F(recovery_test, empty_last_segment_after_a_crash_during_roll) {
    fill(10);  // exactly one full segment
    write_file(seg_path(_dir.path(), 10, ".log"), {});
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(10));
    EXPECT_EQ(append_ok(*l, {}).base, offset(10));
    EXPECT_EQ(read_all(*l).size(), 11u);
}

} // namespace
} // namespace trib::storage

namespace trib::storage {
namespace {

TEST_F(recovery_test, an_oversized_index_file_is_rebuilt_not_loaded) {
    {
        auto l = open_log();
        for (int i = 0; i < 8; ++i) {
            append_ok(*l, {.records = 1, .payload = 39});
        }
        l->close();
    }
    auto idx = seg_path(_dir.path(), 0, ".index");
    std::filesystem::resize_file(idx, 64ull << 20);  // sparse: 8M "entries" for 8 batches
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(8));
    EXPECT_LT(std::filesystem::file_size(idx), 100u);
}

} // namespace
} // namespace trib::storage
