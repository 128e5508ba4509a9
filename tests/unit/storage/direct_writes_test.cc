#include "storage/direct_appender.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <random>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;

// Whether the filesystem under `dir` takes O_DIRECT (tmpfs doesn't): where it does, the log
// must really write direct, which the zero padding of the active segment shows.
bool supports_o_direct(const std::filesystem::path& dir) {
    auto probe = dir / "probe";
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ::close(fd);
    }
    std::filesystem::remove(probe);
    return fd >= 0;
}

uint64_t size_on_disk(const std::filesystem::path& p) { return std::filesystem::file_size(p); }

class direct_writes_test : public ::testing::Test {
protected:
    // direct_min_bytes 0: every append is written direct.
    std::unique_ptr<log> open_log(log_config cfg = {.direct_min_bytes = 0}) {
        cfg.direct_writes = true;
        auto l = log::open(_dir.path(), cfg, _clock);
        EXPECT_TRUE(l) << l.error().message();
        return l ? std::move(*l) : nullptr;
    }
    std::filesystem::path segment_file(int64_t base) const {
        return _dir.path() / (segment::file_stem(offset(base)) + ".log");
    }

    temp_dir _dir;
    fake_clock _clock;
    bool _direct = supports_o_direct(_dir.path());
};

// Sizes that start and end inside a block, end exactly on one, span several, and pass the
// appender's 1 MiB chunk; each read back whole after every append (the tail block's page is
// in the page cache from the previous read when the next direct write rewrites it). All
// direct, then small appends buffered between direct ones.
class direct_writes_shapes : public direct_writes_test, public ::testing::WithParamInterface<size_t> {};

TEST_P(direct_writes_shapes, appends_of_every_shape_read_back_exactly) {
    auto l = open_log({.max_batch_bytes = 4 << 20, .direct_min_bytes = GetParam()});
    std::mt19937 rng(7);
    std::vector<size_t> payloads = {1, 100, 4096 - 61, 4096, 3 * 4096 + 5, (1 << 20) + 777, 2,
                                    (2 << 20) - 61, 4000, 5000};
    for (int i = 0; i < 40; ++i) {
        payloads.push_back(1 + rng() % 20000);
    }
    bytes expected;
    for (size_t i = 0; i < payloads.size(); ++i) {
        bytes b = make_batch({.records = 1, .payload = payloads[i], .max_timestamp = int64_t(i),
                              .seed = uint32_t(i)});
        auto r = l->append(b);
        ASSERT_TRUE(r) << r.error().message();
        expected.insert(expected.end(), b.begin(), b.end());  // base offset rewritten in place
        auto all = l->read_bytes(offset(0), SIZE_MAX);
        ASSERT_TRUE(all);
        ASSERT_EQ(all->size(), expected.size()) << "after append " << i;
        ASSERT_TRUE(std::equal(all->begin(), all->end(), expected.begin())) << "after append " << i;
        if (_direct && b.size() >= GetParam()) {
            EXPECT_EQ(size_on_disk(segment_file(0)) % direct_appender::block, 0u) << "after append " << i;
        }
    }
    EXPECT_EQ(l->size_bytes(), expected.size());
    l->close();
    EXPECT_EQ(size_on_disk(segment_file(0)), expected.size());  // padding cut at close
}

INSTANTIATE_TEST_SUITE_P(min_bytes, direct_writes_shapes, ::testing::Values(0, 5000));

TEST_F(direct_writes_test, the_padding_left_by_a_crash_is_cut_and_appends_continue) {
    std::vector<seen_batch> before;
    {
        auto l = open_log();
        for (int i = 0; i < 7; ++i) {
            append_ok(*l, {.records = 2, .payload = 333, .seed = uint32_t(i)});
        }
        before = read_all(*l);
        if (_direct) {
            EXPECT_GT(size_on_disk(segment_file(0)), l->size_bytes());
        }
    }  // destroyed without close: an unclean shutdown, padding left in place
    auto l = open_log();
    EXPECT_EQ(read_all(*l).size(), before.size());
    EXPECT_EQ(l->next_offset(), offset(14));
    append_ok(*l, {.records = 1, .payload = 50, .seed = 99});
    auto after = read_all(*l);
    ASSERT_EQ(after.size(), before.size() + 1);
    EXPECT_EQ(after.back().base, 14);
    ASSERT_EQ(l->segment_bases().size(), 1u);
    l->close();
    EXPECT_EQ(size_on_disk(segment_file(0)), l->size_bytes());
}

TEST_F(direct_writes_test, a_rolled_segment_ends_at_its_last_batch) {
    auto l = open_log({.segment_bytes = 3000, .direct_min_bytes = 0});
    for (int i = 0; i < 12; ++i) {
        append_ok(*l, {.records = 1, .payload = 500, .seed = uint32_t(i)});
    }
    auto bases = l->segment_bases();
    ASSERT_GT(bases.size(), 2u);
    uint64_t sealed = 0;
    for (size_t i = 0; i + 1 < bases.size(); ++i) {
        auto size = size_on_disk(segment_file(bases[i].value()));
        EXPECT_EQ(size % 561, 0u) << "segment " << bases[i].value() << " has " << size << " bytes";
        sealed += size;
    }
    EXPECT_EQ(read_all(*l).size(), 12u);
    if (_direct) {  // the active one is still padded
        EXPECT_EQ(size_on_disk(segment_file(bases.back().value())) % direct_appender::block, 0u);
        EXPECT_GT(size_on_disk(segment_file(bases.back().value())), l->size_bytes() - sealed);
    }
}

TEST_F(direct_writes_test, truncate_inside_the_tail_block_then_append) {
    auto l = open_log();
    for (int i = 0; i < 10; ++i) {
        append_ok(*l, {.records = 1, .payload = 700, .seed = uint32_t(i)});
    }
    ASSERT_TRUE(l->truncate(offset(6)));
    append_ok(*l, {.records = 3, .payload = 123, .seed = 42});
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 7u);
    EXPECT_EQ(all.back().base, 6);
    EXPECT_EQ(all.back().last, 8);
    l->close();
    auto again = open_log();
    EXPECT_EQ(read_all(*again).size(), 7u);
}

// A consumer tailing the log should find new batches in the page cache, not read each back from
// disk: while one reads within about the last second of data, appends go buffered.
TEST_F(direct_writes_test, a_tailing_reader_pauses_direct_writes) {
    auto l = open_log();
    const auto file = segment_file(0);
    auto padded = [&] { return size_on_disk(file) > l->size_bytes(); };
    append_ok(*l, {.records = 1, .payload = 700, .seed = 1});
    EXPECT_EQ(padded(), _direct) << "no reader: direct";

    _clock.advance(1100);
    append_ok(*l, {.records = 1, .payload = 5000, .seed = 2});  // offset 1
    l->note_reader(offset(1));  // a consumer right behind the end
    append_ok(*l, {.records = 1, .payload = 5000, .seed = 3});
    EXPECT_FALSE(padded()) << "tail reader: through the page cache";
    _clock.advance(900);
    append_ok(*l, {.records = 1, .payload = 5000, .seed = 4});
    EXPECT_FALSE(padded()) << "the reader was here less than a second ago";

    _clock.advance(1100);  // the reader went away
    append_ok(*l, {.records = 1, .payload = 700, .seed = 5});
    EXPECT_EQ(padded(), _direct) << "no reader for a second: direct again";

    for (int i = 0; i < 3; ++i) {  // the end moves on
        _clock.advance(1100);
        append_ok(*l, {.records = 1, .payload = 700, .seed = uint32_t(10 + i)});
    }
    l->note_reader(offset(0));  // seconds behind: catching up, not tailing
    append_ok(*l, {.records = 1, .payload = 700, .seed = 20});
    EXPECT_EQ(padded(), _direct) << "a reader far behind doesn't pause direct writes";
    EXPECT_EQ(read_all(*l).size(), 9u);
}

// A follower's append sits on the path of the acks=all produces it replicates and on the thread
// that serves the partitions its core leads: it is never a direct write, which would wait for
// the device. A copy of the log into another directory still is.
TEST_F(direct_writes_test, a_followers_appends_go_through_the_page_cache_and_a_copys_do_not) {
    auto l = open_log();
    const auto file = segment_file(0);
    auto padded = [&] { return size_on_disk(file) > l->size_bytes(); };
    auto from_leader = [](int64_t base, uint32_t seed) {
        auto b = make_batch({.records = 2, .payload = 100 << 10, .seed = seed});
        set_base_offset(b.data(), base);
        return b;
    };
    auto b = from_leader(0, 1);
    ASSERT_TRUE(l->append(b, std::nullopt, false, append_source::follower));
    EXPECT_FALSE(padded()) << "a follower: through the page cache, with no reader";
    b = from_leader(2, 2);
    ASSERT_TRUE(l->append(b, std::nullopt, false, append_source::copy));
    EXPECT_EQ(padded(), _direct) << "a copy: direct";
    b = from_leader(4, 3);
    ASSERT_TRUE(l->append(b, std::nullopt, false, append_source::follower));
    EXPECT_FALSE(padded()) << "a follower after a direct write: buffered, the padding overwritten";
    auto seen = read_all(*l);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[2].base, 4);
    EXPECT_EQ(l->next_offset(), offset(6));
}

TEST_F(direct_writes_test, switching_off_cuts_the_padding_and_writes_buffered) {
    auto l = open_log();
    append_ok(*l, {.records = 1, .payload = 10});
    log_config cfg = l->config();
    cfg.direct_writes = false;
    l->update_config(cfg);
    EXPECT_EQ(size_on_disk(segment_file(0)), l->size_bytes());
    append_ok(*l, {.records = 1, .payload = 10, .seed = 1});
    EXPECT_EQ(size_on_disk(segment_file(0)), l->size_bytes());
    cfg.direct_writes = true;
    l->update_config(cfg);
    append_ok(*l, {.records = 1, .payload = 10, .seed = 2});
    EXPECT_EQ(read_all(*l).size(), 3u);
    if (_direct) {
        EXPECT_EQ(size_on_disk(segment_file(0)), direct_appender::block);
    }
}

} // namespace
} // namespace trib::storage
