#include "broker/timestamp_lookup.h"

#include "protocol/records.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

namespace trib::broker {
namespace {

using trib::compression_codec;
using rec = std::pair<int64_t, int64_t>;  // (offset, timestamp); (-1, -1): none

// A log holding, per batch, records with the given timestamps.
class lookup_test : public ::testing::TestWithParam<compression_codec> {
protected:
    void SetUp() override {
        storage::log_config cfg;
        cfg.index_interval_bytes = 1;  // a time index entry per batch
        auto l = storage::log::open(_dir.path(), cfg);
        ASSERT_TRUE(l) << l.error().message();
        _log = std::move(*l);
    }
    void append(std::vector<int64_t> timestamps) {
        protocol::batch_options o;
        o.codec = GetParam();
        protocol::batch_builder b(o);
        for (auto ts : timestamps) {
            b.add("key", "a value that compresses, a value that compresses", ts);
        }
        auto data = b.build();
        ASSERT_TRUE(data) << data.error().message();
        auto r = _log->append(*data);
        ASSERT_TRUE(r) << r.error().message();
    }
    std::pair<int64_t, int64_t> at_or_after(int64_t ts) {
        auto r = first_record_at_or_after(*_log, ts);
        EXPECT_TRUE(r) << r.error().message();
        if (!r || !*r) {
            return {-1, -1};
        }
        return {(*r)->at.value(), (*r)->timestamp};
    }

    fakes::temp_dir _dir;
    std::unique_ptr<storage::log> _log;
};

TEST_P(lookup_test, answers_the_first_record_at_or_after_inside_a_batch) {
    append({1000, 1001, 1002});                  // offsets 0-2
    append({1234, 999999999999, 5000});          // 3-5: the newest in the middle
    append({2000, 2500});                        // 6-7: older than the batch before
    EXPECT_EQ(at_or_after(0), rec(0, 1000));
    EXPECT_EQ(at_or_after(1001), rec(1, 1001));
    EXPECT_EQ(at_or_after(1003), rec(3, 1234)) << "the record's own timestamp";
    EXPECT_EQ(at_or_after(1235), rec(4, 999999999999))
        << "the batch's first record is older than the target";
    EXPECT_EQ(at_or_after(999999999999), rec(4, 999999999999));
    EXPECT_EQ(at_or_after(1000000000000), rec(-1, -1));
}

TEST_P(lookup_test, max_timestamp_is_the_record_carrying_it) {
    append({1000, 1001});
    append({1234, 999999999999, 5000});
    append({2000});
    auto m = record_with_max_timestamp(*_log);
    ASSERT_TRUE(m && *m);
    EXPECT_EQ((*m)->at.value(), 3) << "not the batch's last offset (4)";
    EXPECT_EQ((*m)->timestamp, 999999999999);
}

TEST_P(lookup_test, records_below_the_log_start_do_not_answer) {
    append({1000, 5000, 1500, 6000});
    ASSERT_TRUE(_log->advance_log_start_offset(offset(2)));
    EXPECT_EQ(at_or_after(0), rec(2, 1500));
    EXPECT_EQ(at_or_after(4000), rec(3, 6000));
}

// What a consumer at offset o reads next (lag_publisher's lag in seconds): from the log, and
// from the same bytes as a Fetch carries them.
TEST_P(lookup_test, record_at_an_offset_in_the_log_and_in_fetched_batches) {
    append({1000, 1001, 1002});  // 0-2
    append({1234, 7, 5000});     // 3-5
    for (auto [o, want] : {rec(0, 1000), rec(2, 1002), rec(3, 1234), rec(4, 7), rec(5, 5000)}) {
        auto r = record_at_or_after(*_log, offset(o));
        ASSERT_TRUE(r && *r) << o;
        EXPECT_EQ(rec((*r)->at.value(), (*r)->timestamp), rec(o, want));
        auto fetched = _log->read_bytes(offset(0), 1 << 20);  // both batches, back to back
        ASSERT_TRUE(fetched);
        auto f = record_at_or_after(bytes_view(*fetched), offset(o));
        ASSERT_TRUE(f && *f) << o;
        EXPECT_EQ(rec((*f)->at.value(), (*f)->timestamp), rec(o, want));
    }
    auto fetched = _log->read_bytes(offset(0), 1 << 20);
    ASSERT_TRUE(fetched);
    auto past = record_at_or_after(bytes_view(*fetched), offset(6));
    ASSERT_TRUE(past);
    EXPECT_FALSE(*past) << "no record at or after the end";
    // Bytes that are not a batch are an error, not a crash.
    bytes junk(20, 0xff);
    EXPECT_FALSE(record_at_or_after(bytes_view(junk), offset(0)));
}

TEST_P(lookup_test, an_empty_log_has_no_answer) {
    EXPECT_EQ(at_or_after(0), rec(-1, -1));
    auto m = record_with_max_timestamp(*_log);
    ASSERT_TRUE(m);
    EXPECT_FALSE(*m);
}

INSTANTIATE_TEST_SUITE_P(codecs, lookup_test,
                         ::testing::Values(compression_codec::none, compression_codec::gzip,
                                           compression_codec::zstd),
                         [](const auto& info) { return std::string(protocol::codec_name(info.param)); });

} // namespace
} // namespace trib::broker
