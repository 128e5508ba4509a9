#include "storage/checkpoint.h"
#include "storage/errc.h"
#include "storage/leader_epoch_cache.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;
namespace fs = std::filesystem;

using entries = std::vector<epoch_entry>;

epoch_entry e(int32_t epoch, int64_t start) { return {leader_epoch(epoch), offset(start)}; }

leader_epoch_cache cache_of(std::initializer_list<std::pair<int32_t, int64_t>> list) {
    leader_epoch_cache c;
    for (auto [epoch, start] : list) {
        EXPECT_TRUE(c.assign(leader_epoch(epoch), offset(start)));
    }
    return c;
}

std::pair<int32_t, int64_t> end_for(const leader_epoch_cache& c, int32_t requested, int64_t log_end) {
    auto [epoch, end] = c.end_offset_for(leader_epoch(requested), offset(log_end));
    return {epoch.value(), end.value()};
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

// ---- the cache's rules -------------------------------------------------------------------

TEST(leader_epoch_cache, assign_keeps_epochs_and_start_offsets_increasing) {
    leader_epoch_cache c;
    EXPECT_FALSE(c.latest_epoch());
    EXPECT_TRUE(c.assign(leader_epoch(1), offset(0)));
    EXPECT_TRUE(c.assign(leader_epoch(3), offset(10)));
    EXPECT_FALSE(c.assign(leader_epoch(3), offset(20))) << "the same epoch already started";
    EXPECT_FALSE(c.assign(leader_epoch(2), offset(30))) << "an older epoch";
    EXPECT_FALSE(c.assign(leader_epoch(4), offset(5))) << "a start below the latest entry's";
    EXPECT_FALSE(c.assign(leader_epoch(-1), offset(40))) << "a batch without an epoch";
    EXPECT_FALSE(c.assign(leader_epoch(5), offset(-1)));
    EXPECT_EQ(c.entries(), (entries{e(1, 0), e(3, 10)}));
    EXPECT_EQ(c.latest_epoch(), leader_epoch(3));
}

TEST(leader_epoch_cache, a_later_epoch_at_the_same_start_replaces_one_that_wrote_nothing) {
    auto c = cache_of({{1, 0}, {2, 10}});
    EXPECT_TRUE(c.assign(leader_epoch(4), offset(10)));
    EXPECT_EQ(c.entries(), (entries{e(1, 0), e(4, 10)}));
}

TEST(leader_epoch_cache, end_offset_for_follows_offset_for_leader_epoch) {
    auto c = cache_of({{2, 10}, {4, 50}, {7, 90}});
    EXPECT_EQ(end_for(c, 7, 120), std::make_pair(7, int64_t(120))) << "the latest epoch ends at the log end";
    EXPECT_EQ(end_for(c, 4, 120), std::make_pair(4, int64_t(90)));
    EXPECT_EQ(end_for(c, 2, 120), std::make_pair(2, int64_t(50)));
    EXPECT_EQ(end_for(c, 5, 120), std::make_pair(4, int64_t(90))) << "the largest epoch below an unknown one";
    EXPECT_EQ(end_for(c, 6, 120), std::make_pair(4, int64_t(90)));
    EXPECT_EQ(end_for(c, 1, 120), std::make_pair(1, int64_t(10)))
        << "below the first epoch: where the log's history begins";
    EXPECT_EQ(end_for(c, 8, 120), std::make_pair(-1, int64_t(-1))) << "above the latest epoch";
    EXPECT_EQ(end_for(c, -1, 120), std::make_pair(-1, int64_t(-1))) << "undefined epoch";
    EXPECT_EQ(end_for(leader_epoch_cache{}, 0, 120), std::make_pair(-1, int64_t(-1))) << "empty cache";
}

TEST(leader_epoch_cache, truncate_from_end_drops_epochs_starting_at_or_after_the_end) {
    auto c = cache_of({{1, 0}, {2, 10}, {3, 20}});
    EXPECT_FALSE(c.truncate_from_end(offset(25)));
    EXPECT_TRUE(c.truncate_from_end(offset(20)));
    EXPECT_EQ(c.entries(), (entries{e(1, 0), e(2, 10)}));
    EXPECT_TRUE(c.truncate_from_end(offset(5)));
    EXPECT_EQ(c.entries(), (entries{e(1, 0)}));
    EXPECT_TRUE(c.truncate_from_end(offset(0)));
    EXPECT_TRUE(c.empty());
}

TEST(leader_epoch_cache, truncate_from_start_drops_what_is_below_and_clamps_the_covering_epoch) {
    auto c = cache_of({{1, 0}, {2, 10}, {3, 20}});
    EXPECT_FALSE(c.truncate_from_start(offset(0)));
    EXPECT_TRUE(c.truncate_from_start(offset(15)));
    EXPECT_EQ(c.entries(), (entries{e(2, 15), e(3, 20)}));
    EXPECT_TRUE(c.truncate_from_start(offset(20)));
    EXPECT_EQ(c.entries(), (entries{e(3, 20)}));
    EXPECT_FALSE(c.truncate_from_start(offset(20)));
    EXPECT_TRUE(c.truncate_from_start(offset(100)));
    EXPECT_EQ(c.entries(), (entries{e(3, 100)}));

    auto later = cache_of({{5, 50}});
    EXPECT_FALSE(later.truncate_from_start(offset(10))) << "nothing below the first epoch";
    EXPECT_EQ(later.entries(), (entries{e(5, 50)}));
}

// ---- the file ------------------------------------------------------------------------------

TEST(leader_epoch_cache, file_is_kafkas_text_layout_and_round_trips) {
    temp_dir dir;
    auto c = cache_of({{0, 0}, {3, 1500}});
    ASSERT_TRUE(c.write(dir.path()));
    EXPECT_EQ(read_text(dir / leader_epoch_cache::file_name), "0\n2\n0 0\n3 1500\n");
    EXPECT_FALSE(fs::exists(dir / "leader-epoch-checkpoint.tmp"));
    auto back = leader_epoch_cache::read(dir.path());
    ASSERT_TRUE(back && *back);
    EXPECT_EQ((*back)->entries(), c.entries());

    ASSERT_TRUE(leader_epoch_cache{}.write(dir.path()));
    EXPECT_EQ(read_text(dir / leader_epoch_cache::file_name), "0\n0\n");
    back = leader_epoch_cache::read(dir.path());
    ASSERT_TRUE(back && *back);
    EXPECT_TRUE((*back)->empty());
}

TEST(leader_epoch_cache, missing_or_damaged_file_reads_as_absent) {
    temp_dir dir;
    auto r = leader_epoch_cache::read(dir.path());
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << "missing";
    for (const char* text : {"", "0\n", "1\n0\n", "0\n-1\n", "0\n2\n1 0\n", "0\n1\n1 0\n2 5\n",
                             "0\n1\n1 0", "0\n1\n1  0\n", "0\n1\nx 0\n", "0\n1\n1 0x\n",
                             "0\n2\n2 0\n1 5\n", "0\n2\n1 5\n2 5\n", "0\n1\n1 -5\n",
                             "0\n1\n99999999999 0\n", "0\n99999999999999\n1 0\n"}) {
        write_text(dir / leader_epoch_cache::file_name, text);
        r = leader_epoch_cache::read(dir.path());
        ASSERT_TRUE(r);
        EXPECT_FALSE(*r) << "damaged: '" << text << "'";
    }
}

// ---- in the log ----------------------------------------------------------------------------

class log_epochs_test : public ::testing::Test {
protected:
    std::unique_ptr<log> open_log() {
        auto l = log::open(_dir.path(), _cfg, _clock);
        EXPECT_TRUE(l) << l.error().message();
        return l ? std::move(*l) : nullptr;
    }
    fs::path file() const { return _dir / leader_epoch_cache::file_name; }
    entries on_disk() const {
        auto c = leader_epoch_cache::read(_dir.path());
        EXPECT_TRUE(c && *c);
        return c && *c ? (*c)->entries() : entries{};
    }
    // Epochs 1 (offsets 0-9), 2 (10-19) and 4 (20-29) in one-record batches of 100 bytes,
    // segments of 10 batches.
    void fill(log& l) {
        for (int epoch : {1, 2, 4}) {
            for (int i = 0; i < 10; ++i) {
                append_ok(l, {.records = 1, .payload = 39, .max_timestamp = 1000 + i}, epoch);
            }
        }
    }
    const entries filled{e(1, 0), e(2, 10), e(4, 20)};

    temp_dir _dir;
    fake_clock _clock;
    log_config _cfg{.segment_bytes = 1000, .index_interval_bytes = 200};
};

TEST_F(log_epochs_test, append_assigns_each_new_epoch_at_its_first_batch) {
    auto l = open_log();
    EXPECT_EQ(read_text(file()), "0\n0\n") << "a new log has an empty cache file";
    fill(*l);
    EXPECT_EQ(l->epochs().entries(), filled);
    EXPECT_EQ(on_disk(), filled) << "written as each epoch starts, before any flush";

    // Batches keep their own epoch when the append stamps none (a follower copying the
    // leader's): the first of several batches in one append starting a new epoch counts.
    bytes b;
    append_batch(b, {.records = 2, .payload = 10});
    append_batch(b, {.records = 3, .payload = 10});
    set_partition_leader_epoch(b.data(), 4);
    set_partition_leader_epoch(b.data() + 61 + 10, 6);
    ASSERT_TRUE(l->append(b));
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(4, 20), e(6, 32)}));

    append_ok(*l, {.records = 1, .payload = 39}, 5);  // an older epoch: stamped, not assigned
    append_ok(*l, {.records = 1, .payload = 39});     // no epoch (-1)
    EXPECT_EQ(l->epochs().latest_epoch(), leader_epoch(6));
    EXPECT_EQ(on_disk(), l->epochs().entries());
}

TEST_F(log_epochs_test, truncate_and_log_start_keep_the_cache_in_step) {
    auto l = open_log();
    fill(*l);
    ASSERT_TRUE(l->truncate(offset(25)));
    EXPECT_EQ(l->epochs().entries(), filled) << "epoch 4 still has 20-24";
    ASSERT_TRUE(l->truncate(offset(20)));
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10)}));
    EXPECT_EQ(on_disk(), l->epochs().entries());
    append_ok(*l, {.records = 1, .payload = 39}, 5);
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(5, 20)}));

    ASSERT_TRUE(l->advance_log_start_offset(offset(12)));
    EXPECT_EQ(l->epochs().entries(), (entries{e(2, 12), e(5, 20)}));
    EXPECT_EQ(on_disk(), l->epochs().entries());

    ASSERT_TRUE(l->truncate(offset(3)));  // below the log start: the log restarts empty at 3
    EXPECT_TRUE(l->epochs().empty());
    EXPECT_TRUE(on_disk().empty());
}

TEST_F(log_epochs_test, a_new_leader_begins_its_epoch_at_the_log_end) {
    auto l = open_log();
    fill(*l);  // ends at 30, epoch 4 the latest
    ASSERT_TRUE(l->begin_epoch(leader_epoch(7)));
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(4, 20), e(7, 30)}));
    EXPECT_EQ(on_disk(), l->epochs().entries()) << "durable before the leader answers anyone";
    EXPECT_EQ(l->epochs().end_offset_for(leader_epoch(7), l->next_offset()),
              std::make_pair(leader_epoch(7), offset(30)));
    ASSERT_TRUE(l->begin_epoch(leader_epoch(6)));  // older: nothing changes
    ASSERT_TRUE(l->begin_epoch(leader_epoch(8)));  // epoch 7 wrote nothing: 8 takes its place
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(4, 20), e(8, 30)}));
    append_ok(*l, {.records = 1, .payload = 39}, 8);
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(4, 20), e(8, 30)}));
    ASSERT_TRUE(l->begin_epoch(leader_epoch(9)));  // a leader that then wrote nothing
    ASSERT_TRUE(l->truncate(l->next_offset()));
    EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10), e(4, 20), e(8, 30)}))
        << "truncating at the log end drops the epoch that wrote nothing";
    EXPECT_EQ(on_disk(), l->epochs().entries());
    l->close();
    EXPECT_FALSE(l->begin_epoch(leader_epoch(9)));
}

TEST_F(log_epochs_test, retention_moves_the_first_epoch_up) {
    _cfg.retention_bytes = 1500;
    _cfg.retention_ms = -1;
    auto l = open_log();
    fill(*l);
    ASSERT_EQ(*l->apply_retention(), 1u);  // 3000 bytes: the first segment goes
    EXPECT_EQ(l->log_start_offset(), offset(10));
    EXPECT_EQ(l->epochs().entries(), (entries{e(2, 10), e(4, 20)}));
    EXPECT_EQ(on_disk(), l->epochs().entries());
}

TEST_F(log_epochs_test, reopen_clean_and_unclean_keeps_the_cache) {
    {
        auto l = open_log();
        fill(*l);
        l->close();
    }
    EXPECT_EQ(open_log()->epochs().entries(), filled) << "after a clean close";
    EXPECT_EQ(open_log()->epochs().entries(), filled) << "after destruction without close";
}

TEST_F(log_epochs_test, missing_or_damaged_file_is_rebuilt_from_the_batches) {
    {
        auto l = open_log();
        fill(*l);
        ASSERT_TRUE(l->advance_log_start_offset(offset(5)));
        l->close();
    }
    const entries expected{e(1, 5), e(2, 10), e(4, 20)};
    for (const char* damage : {"", "0\n3\n1 5\n", "garbage", "0\n2\n4 20\n2 10\n"}) {
        write_text(file(), damage);
        EXPECT_EQ(open_log()->epochs().entries(), expected) << "damaged: '" << damage << "'";
        EXPECT_EQ(on_disk(), expected) << "rewritten";
    }
    fs::remove(file());
    EXPECT_EQ(open_log()->epochs().entries(), expected) << "missing";
    EXPECT_EQ(on_disk(), expected);
}

TEST_F(log_epochs_test, recovery_cutting_a_torn_tail_drops_its_epoch) {
    {
        auto l = open_log();
        fill(*l);
        append_ok(*l, {.records = 1, .payload = 39}, 6);  // offset 30, first batch of segment 30
    }
    // The last batch torn by a crash: recovery cuts it, and epoch 6 with it.
    fs::resize_file(_dir / (segment::file_stem(offset(30)) + ".log"), 50);
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(30));
    EXPECT_EQ(l->epochs().entries(), filled);
    EXPECT_EQ(on_disk(), filled);
}

// The cache file is written before the batches that start a new epoch (and after the data on
// truncation), so a crash leaves it possibly *ahead* of the log, never behind; open() drops
// what lies at or past the log end. These simulate a crash at each of those points.
TEST_F(log_epochs_test, crash_between_cache_file_and_log_leaves_a_consistent_cache) {
    {
        auto l = open_log();
        fill(*l);
        l->close();
    }
    // Died after writing the file for epoch 7 at offset 30, before its batch was written.
    write_text(file(), "0\n4\n1 0\n2 10\n4 20\n7 30\n");
    {
        auto l = open_log();
        EXPECT_EQ(l->epochs().entries(), filled);
        EXPECT_EQ(on_disk(), filled);
        // Died inside truncate(15), after the cut was durable, before the cache file's write.
        ASSERT_TRUE(l->truncate(offset(15)));
    }
    write_text(file(), "0\n3\n1 0\n2 10\n4 20\n");
    {
        auto l = open_log();
        EXPECT_EQ(l->next_offset(), offset(15));
        EXPECT_EQ(l->epochs().entries(), (entries{e(1, 0), e(2, 10)}));
        EXPECT_EQ(on_disk(), l->epochs().entries());
        // Died inside advance_log_start_offset(15), after the checkpoint, before the cache.
        ASSERT_TRUE(l->advance_log_start_offset(offset(15)));
    }
    write_text(file(), "0\n2\n1 0\n2 10\n");
    {
        auto l = open_log();
        EXPECT_EQ(l->log_start_offset(), offset(15));
        EXPECT_EQ(l->next_offset(), offset(15));
        EXPECT_TRUE(l->epochs().empty()) << "an empty log names no epoch";
        append_ok(*l, {.records = 1, .payload = 39}, 8);
        EXPECT_EQ(l->epochs().entries(), (entries{e(8, 15)}));
    }
}

TEST_F(log_epochs_test, a_failed_cache_write_appends_nothing) {
    auto l = open_log();
    fill(*l);
    // A directory where the temporary file goes makes the write fail.
    fs::create_directory(_dir / "leader-epoch-checkpoint.tmp");
    auto b = make_batch({.records = 1, .payload = 39});
    auto r = l->append(b, 9);
    EXPECT_FALSE(r);
    EXPECT_EQ(l->next_offset(), offset(30));
    EXPECT_EQ(l->epochs().entries(), filled);
    EXPECT_EQ(on_disk(), filled);
    // A failed write fails the log (log::failed): it takes nothing more until reopened.
    EXPECT_TRUE(l->failed());
    fs::remove(_dir / "leader-epoch-checkpoint.tmp");
    auto again = l->append(b, 9);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), errc::log_failed);
    l->close();
    l = open_log();
    append_ok(*l, {.records = 1, .payload = 39}, 9);
    EXPECT_EQ(on_disk(), (entries{e(1, 0), e(2, 10), e(4, 20), e(9, 30)}));
}

} // namespace
} // namespace trib::storage
