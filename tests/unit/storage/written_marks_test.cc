// Written marks (storage/written_marks.h): recovery after a process kill trusts, without CRC,
// only what completed appends wrote, and never after a cut, another boot or a damaged file.
// A "kill" here is destroying the log and the marks object without close() (the file stays as
// the last write_now() left it), as a SIGKILL leaves them; crash_test.cc does real SIGKILLs.
#include "storage/checkpoint.h"
#include "storage/log.h"
#include "storage/written_marks.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;
namespace fs = std::filesystem;

const std::string boot_a = "0b2f4a4e-1c55-4a57-9a3c-4fd7c0c1b1a1";
const std::string boot_b = "7d9e2c11-5f0a-4b7e-8c6d-2e4f1a3b5c7d";
constexpr auto never = std::chrono::hours(1);  // the writer thread stays out of the way

void flip_byte(const fs::path& p, uint64_t pos) {
    bytes b = read_file(p);
    ASSERT_LT(pos, b.size());
    b[pos] ^= 0x5a;
    write_file(p, b);
}

class written_marks_test : public ::testing::Test {
protected:
    fs::path log_dir() const { return _root.path() / "t-0"; }
    fs::path seg(int64_t base) const { return log_dir() / (segment::file_stem(offset(base)) + ".log"); }

    std::unique_ptr<log> open_log(written_marks* m) {
        auto l = log::open(log_dir(), _cfg, _clock, nullptr, m);
        EXPECT_TRUE(l) << l.error().message();
        return l ? std::move(*l) : nullptr;
    }
    // 200-byte batches (one record each), from offset `first` on.
    void append_n(log& l, int n, uint32_t seed = 0) {
        for (int i = 0; i < n; ++i) {
            append_ok(l, {.records = 1, .payload = 139, .max_timestamp = 1000 + i, .seed = seed + uint32_t(i)});
        }
    }

    temp_dir _root;
    fake_clock _clock;
    log_config _cfg{.segment_bytes = 1 << 20, .index_interval_bytes = 1000};
};

TEST_F(written_marks_test, file_round_trips_and_any_damage_voids_it) {
    std::map<std::string, written_mark> entries{{"a-0", {7, offset(0), 400}}, {"orders-12", {9, offset(1234), 0}}};
    auto data = written_marks::encode(boot_a, entries);
    auto d = written_marks::decode(data);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->boot_id, boot_a);
    EXPECT_EQ(d->entries, entries);
    for (size_t i = 0; i < data.size(); ++i) {
        auto bad = data;
        bad[i] ^= 1;
        EXPECT_FALSE(written_marks::decode(bad)) << "flipped byte " << i;
    }
    for (size_t n = 0; n < data.size(); ++n) {
        EXPECT_FALSE(written_marks::decode(bytes(data.begin(), data.begin() + long(n)))) << "cut at " << n;
    }
}

TEST_F(written_marks_test, the_writer_thread_publishes_appends) {
    auto m = std::make_unique<written_marks>(_root.path(), std::chrono::milliseconds(5), boot_a);
    auto l = open_log(m.get());
    append_n(*l, 3);
    // Wait for the condition (the file holding the mark), bounded.
    std::optional<written_mark> seen;
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         std::chrono::steady_clock::now() < end;) {
        if (auto d = written_marks::decode(read_file(_root.path() / written_marks::file_name))) {
            if (auto it = d->entries.find("t-0"); it != d->entries.end() && it->second.position == 600) {
                seen = it->second;
                break;
            }
        }
        std::this_thread::yield();
    }
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->segment, offset(0));
    auto cp = checkpoint::read(log_dir());
    ASSERT_TRUE(cp && *cp);
    EXPECT_EQ(seen->nonce, (*cp)->nonce);
    EXPECT_NE(seen->nonce, 0u);
}

TEST_F(written_marks_test, a_mark_spares_the_crc_check_of_what_it_vouches_for) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());  // mark at 4000
        append_n(*l, 5, 100);        // after the mark: checked on recovery
    }
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_FALSE(l->opened_with().clean);
    EXPECT_EQ(l->opened_with().bytes_trusted, 4000u);
    EXPECT_EQ(l->opened_with().bytes_scanned, 1000u);
    EXPECT_EQ(l->next_offset(), offset(25));
    EXPECT_EQ(read_all(*l).size(), 25u);
}

TEST_F(written_marks_test, mark_below_a_torn_tail_checks_everything_after_it) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 10);
        ASSERT_TRUE(m.write_now());  // mark at 2000
        append_n(*l, 5, 100);
    }
    // The write in progress at the kill: the last batch torn, and (as a torn page would) a
    // bad byte in the batch at 2400, after the mark.
    fs::resize_file(seg(0), 2950);
    flip_byte(seg(0), 2400 + 100);
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->next_offset(), offset(12));  // cut at the bad batch
    EXPECT_EQ(fs::file_size(seg(0)), 2400u);
    EXPECT_EQ(l->opened_with().bytes_trusted, 2000u);
    EXPECT_EQ(read_all(*l).size(), 12u);
}

TEST_F(written_marks_test, a_mark_taken_before_a_truncation_is_not_trusted_after_it) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());  // the file says: 4000 bytes of segment 0 completed
        ASSERT_TRUE(l->truncate(offset(5)));
        append_n(*l, 20, 500);       // other batches over the same positions, past 4000
        // Killed before the next write of the marks file.
    }
    // Suppose the rewrite at 1600 was torn (the kill landed in it): below the old mark.
    flip_byte(seg(0), 1600 + 100);
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 0u);
    EXPECT_EQ(l->next_offset(), offset(8));
    EXPECT_EQ(read_all(*l).size(), 8u);
}

TEST_F(written_marks_test, a_mark_taken_after_a_truncation_is_trusted) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());
        ASSERT_TRUE(l->truncate(offset(5)));
        append_n(*l, 20, 500);
        ASSERT_TRUE(m.write_now());  // 25 batches: 5000 bytes
        append_n(*l, 1, 900);
    }
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 5000u);
    EXPECT_EQ(l->next_offset(), offset(26));
}

TEST_F(written_marks_test, marks_from_another_boot_are_ignored) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());
    }
    // After a machine crash what the page cache held may be lost: below the mark too.
    flip_byte(seg(0), 1000 + 100);
    written_marks m(_root.path(), never, boot_b);
    EXPECT_FALSE(m.found("t-0"));
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 0u);
    EXPECT_EQ(l->next_offset(), offset(5));
}

TEST_F(written_marks_test, a_damaged_marks_file_is_ignored) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());
    }
    flip_byte(seg(0), 1000 + 100);
    const auto marks_file = _root.path() / written_marks::file_name;
    const bytes good = read_file(marks_file);
    for (size_t at : {size_t(0), size_t(10), good.size() - 30, good.size() - 1}) {
        bytes bad = good;
        bad[at] ^= 0x40;
        write_file(marks_file, bad);
        written_marks m(_root.path(), never, boot_a);
        EXPECT_FALSE(m.found("t-0")) << "flipped byte " << at;
    }
    for (const bytes& junk : {bytes{}, bytes(3, 0xff), bytes(good.begin(), good.end() - 1)}) {
        write_file(marks_file, junk);
        written_marks m(_root.path(), never, boot_a);
        EXPECT_FALSE(m.found("t-0"));
    }
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 0u);
    EXPECT_EQ(l->next_offset(), offset(5));
}

// Marks that disagree with the files (written by hand: the log never writes such) are not
// trusted: past the end of the segment, inside a batch, naming a missing segment.
TEST_F(written_marks_test, a_mark_the_files_contradict_is_ignored) {
    uint64_t nonce = 0;
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        auto cp = checkpoint::read(log_dir());
        ASSERT_TRUE(cp && *cp);
        nonce = (*cp)->nonce;
    }
    flip_byte(seg(0), 1000 + 100);
    const bytes data = read_file(seg(0));
    for (const written_mark& mk : {written_mark{nonce, offset(0), 4001}, written_mark{nonce, offset(0), 3100},
                                   written_mark{nonce, offset(7), 0}, written_mark{nonce + 1, offset(0), 4000}}) {
        write_file(seg(0), data);
        write_file(_root.path() / written_marks::file_name, written_marks::encode(boot_a, {{"t-0", mk}}));
        written_marks m(_root.path(), never, boot_a);
        ASSERT_TRUE(m.found("t-0"));
        auto l = open_log(&m);
        EXPECT_EQ(l->opened_with().bytes_trusted, 0u) << mk.position;
        EXPECT_EQ(l->next_offset(), offset(5)) << mk.position;
        l.reset();
        // Unclean again for the next round, at the same nonce (nothing was cut before 1000...
        // except by this recovery, which changed the nonce: put the old one back).
        auto cp = checkpoint::read(log_dir());
        ASSERT_TRUE(cp && *cp);
        auto c = **cp;
        c.nonce = nonce;
        ASSERT_TRUE(c.write(log_dir()));
    }
}

TEST_F(written_marks_test, a_recreated_log_directory_does_not_inherit_the_mark) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());
    }
    fs::remove_all(log_dir());  // topic deleted and created again while the broker was away
    {
        written_marks m(_root.path(), never, boot_a);
        ASSERT_TRUE(m.found("t-0"));
        auto l = open_log(&m);
        append_n(*l, 20, 700);
    }
    flip_byte(seg(0), 1000 + 100);
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 0u);
    EXPECT_EQ(l->next_offset(), offset(5));
}

TEST_F(written_marks_test, segments_before_the_marked_one_are_trusted_whole) {
    _cfg.segment_bytes = 1000;  // 5 batches a segment
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 17);  // segments 0, 5, 10 full, 15 with two batches
        ASSERT_TRUE(m.write_now());
        append_n(*l, 4, 100);  // 15 full, 20 with one batch
    }
    // As if the background syncs of the rolled segments hadn't completed: every segment from
    // the recovery point on is walked.
    auto cp = checkpoint::read(log_dir());
    ASSERT_TRUE(cp && *cp);
    auto c = **cp;
    c.recovery_point = offset(0);
    ASSERT_TRUE(c.write(log_dir()));
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().segments_scanned, 5u);
    EXPECT_EQ(l->opened_with().bytes_trusted, 3400u);
    EXPECT_EQ(l->opened_with().bytes_scanned, 800u);
    EXPECT_EQ(read_all(*l).size(), 21u);
}

// What a recovery that starts from the index files below the mark rebuilds is what a full
// scan rebuilds: reads, timestamps lookups, the maximum timestamp, appends after it.
TEST_F(written_marks_test, recovery_from_the_index_files_matches_a_full_scan) {
    auto ts_of = [](int i) { return 1000 + (i * 37) % 50; };  // not monotonic
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        for (int i = 0; i < 40; ++i) {
            append_ok(*l, {.records = 1 + i % 3, .payload = 139, .max_timestamp = ts_of(i), .seed = uint32_t(i)});
        }
        ASSERT_TRUE(l->flush());  // index files written up to here
        for (int i = 40; i < 60; ++i) {
            append_ok(*l, {.records = 1, .payload = 139, .max_timestamp = ts_of(i), .seed = uint32_t(i)});
        }
        ASSERT_TRUE(m.write_now());
        append_ok(*l, {.records = 1, .payload = 139, .max_timestamp = 5000, .seed = 99});
    }
    struct seen {
        std::vector<seen_batch> batches;
        std::optional<std::pair<offset, timestamp_ms>> max;
        std::vector<std::optional<offset>> by_ts;
        offset next;
    };
    auto look = [&](log& l) {
        seen s{read_all(l), l.max_timestamp(), {}, l.next_offset()};
        for (int64_t ts = 990; ts <= 5001; ts += ts < 1060 ? 1 : 1000) {
            auto r = l.offset_for_timestamp(timestamp_ms(ts));
            EXPECT_TRUE(r);
            s.by_ts.push_back(r ? *r : std::nullopt);
        }
        append_ok(l, {.records = 1, .payload = 139, .max_timestamp = 6000, .seed = 7});
        s.batches.push_back(read_all(l).back());
        return s;
    };
    const fs::path saved = _root.path() / "saved";
    fs::copy(log_dir(), saved);
    seen with_mark;
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        EXPECT_EQ(l->opened_with().bytes_trusted, fs::file_size(saved / "00000000000000000000.log") - 200);
        with_mark = look(*l);
    }
    fs::remove_all(log_dir());
    fs::copy(saved, log_dir());
    fs::remove(_root.path() / written_marks::file_name);
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_EQ(l->opened_with().bytes_trusted, 0u);
    seen scanned = look(*l);
    ASSERT_EQ(with_mark.batches.size(), scanned.batches.size());
    for (size_t i = 0; i < scanned.batches.size(); ++i) {
        EXPECT_EQ(with_mark.batches[i].base, scanned.batches[i].base);
        EXPECT_EQ(with_mark.batches[i].crc, scanned.batches[i].crc);
    }
    EXPECT_EQ(with_mark.max, scanned.max);
    EXPECT_EQ(with_mark.by_ts, scanned.by_ts);
    EXPECT_EQ(with_mark.next, scanned.next);
}

// Index files that don't fit the batches are not used; the walk starts at 0 instead.
TEST_F(written_marks_test, index_files_that_disagree_with_the_batches_are_not_used) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(l->flush());
        ASSERT_TRUE(m.write_now());
    }
    const auto idx = log_dir() / "00000000000000000000.index";
    const bytes good = read_file(idx);
    ASSERT_GE(good.size(), 16u);
    const bytes data = read_file(seg(0));
    auto cp = checkpoint::read(log_dir());
    ASSERT_TRUE(cp && *cp);
    for (int variant = 0; variant < 3; ++variant) {
        bytes bad = good;
        if (variant == 0) {
            store_be32(bad.data() + bad.size() - 4, 1100);  // last entry: inside a batch
        } else if (variant == 1) {
            // last entry: increasing, but not the offset of the batch it points at
            store_be32(bad.data() + bad.size() - 8, load_be32(bad.data() + bad.size() - 16) + 1);
        } else {
            bad.assign(1 << 20, 0xff);                       // more entries than batches
        }
        write_file(idx, bad);
        write_file(seg(0), data);
        ASSERT_TRUE((*cp)->write(log_dir()));
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        EXPECT_EQ(l->opened_with().bytes_trusted, 4000u) << variant;
        EXPECT_EQ(l->next_offset(), offset(20)) << variant;
        EXPECT_EQ(read_all(*l).size(), 20u) << variant;
        auto r = l->offset_for_timestamp(timestamp_ms(1013));
        ASSERT_TRUE(r && *r) << variant;
        EXPECT_EQ(**r, offset(13)) << variant;
        auto b = l->read_bytes(offset(12), 1);
        ASSERT_TRUE(b) << variant;
        EXPECT_EQ(parse_batches(*b).front().base, 12) << variant;
    }
}

TEST_F(written_marks_test, entries_of_logs_not_opened_yet_are_kept_until_their_directory_goes) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 2);
        ASSERT_TRUE(m.write_now());
    }
    const auto marks_file = _root.path() / written_marks::file_name;
    {
        written_marks m(_root.path(), never, boot_a);  // t-0 not opened (yet)
        write_file(marks_file, {});
        ASSERT_TRUE(m.write_now());
        auto d = written_marks::decode(read_file(marks_file));
        ASSERT_TRUE(d);
        EXPECT_EQ(d->entries.count("t-0"), 1u);
    }
    fs::remove_all(log_dir());
    written_marks m(_root.path(), never, boot_a);
    write_file(marks_file, {});
    ASSERT_TRUE(m.write_now());
    auto d = written_marks::decode(read_file(marks_file));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->entries.count("t-0"), 0u);
}

TEST_F(written_marks_test, a_clean_close_needs_no_mark) {
    {
        written_marks m(_root.path(), never, boot_a);
        auto l = open_log(&m);
        append_n(*l, 20);
        ASSERT_TRUE(m.write_now());
        l->close();
    }
    written_marks m(_root.path(), never, boot_a);
    auto l = open_log(&m);
    EXPECT_TRUE(l->opened_with().clean);
    EXPECT_EQ(l->opened_with().segments_scanned, 0u);
    EXPECT_EQ(l->next_offset(), offset(20));
}

} // namespace
} // namespace trib::storage
