// log::for_each_batch_header from an offset and the roll listener: what the broker's
// producer-state snapshots stand on.
#include "storage/log.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <random>

namespace trib::storage {
namespace {

using namespace testing;

std::vector<int64_t> bases_walked(const log& l, std::optional<offset> from) {
    std::vector<int64_t> out;
    auto fn = [&](const batch_header& h) {
        out.push_back(h.base_offset);
        return true;
    };
    auto r = from ? l.for_each_batch_header(*from, fn) : l.for_each_batch_header(fn);
    EXPECT_TRUE(r) << r.error().message();
    return out;
}

// From any offset: exactly the batches whose last offset is at or above it, across segments,
// through the index (in memory, then from the files after a reopen).
TEST(header_walk, from_an_offset_gives_the_batches_holding_it_and_after) {
    fakes::temp_dir dir;
    const log_config cfg{.segment_bytes = 4096, .index_interval_bytes = 300};
    auto l = std::move(*log::open(dir.path(), cfg));
    std::mt19937 rng(7);
    std::vector<std::pair<int64_t, int64_t>> batches;
    for (int i = 0; i < 300; ++i) {
        auto r = append_ok(*l, {.records = int32_t(1 + rng() % 6), .payload = 20 + rng() % 200, .seed = uint32_t(i)});
        batches.emplace_back(r.base.value(), r.last.value());
    }
    ASSERT_GT(l->segment_bases().size(), 3u);
    auto check = [&](const log& lg) {
        const int64_t end = lg.next_offset().value();
        for (int64_t from = 0; from <= end + 1; ++from) {
            std::vector<int64_t> want;
            for (const auto& [base, last] : batches) {
                if (last >= from) {
                    want.push_back(base);
                }
            }
            ASSERT_EQ(bases_walked(lg, offset(from)), want) << "from " << from;
        }
        EXPECT_EQ(bases_walked(lg, std::nullopt), bases_walked(lg, offset(0)));
    };
    check(*l);
    l->close();
    l = std::move(*log::open(dir.path(), cfg));
    check(*l);
}

TEST(header_walk, stops_when_told) {
    fakes::temp_dir dir;
    auto l = std::move(*log::open(dir.path(), {.segment_bytes = 1000}));
    for (int i = 0; i < 20; ++i) {
        append_ok(*l, {.payload = 200});
    }
    int calls = 0;
    ASSERT_TRUE(l->for_each_batch_header(offset(3), [&](const batch_header&) { return ++calls < 5; }));
    EXPECT_EQ(calls, 5);
}

// The listener hears each roll with the new base, when that is the log end: the batches of the
// append that rolled are not in yet.
TEST(header_walk, roll_listener_hears_each_new_segment_at_the_log_end) {
    fakes::temp_dir dir;
    auto l = std::move(*log::open(dir.path(), {.segment_bytes = 1000}));
    std::vector<offset> heard;
    l->set_roll_listener([&](offset base) {
        EXPECT_EQ(l->next_offset(), base);
        heard.push_back(base);
    });
    for (int i = 0; i < 20; ++i) {
        append_ok(*l, {.records = 2, .payload = 200, .seed = uint32_t(i)});
    }
    auto bases = l->segment_bases();
    ASSERT_GT(bases.size(), 2u);
    EXPECT_EQ(heard, std::vector<offset>(bases.begin() + 1, bases.end()));
}

} // namespace
} // namespace trib::storage
