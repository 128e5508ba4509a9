// Log compaction: storage/cleaner.h and the log's prepare/install steps.

#include "protocol/compression.h"
#include "protocol/records.h"
#include "storage/cleaner.h"
#include "storage/log.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace trib::storage {
namespace {

using fakes::temp_dir;

class protocol_codec final : public record_codec {
public:
    result<bytes> decompress(compression_codec c, bytes_view in, size_t max_output) const override {
        return protocol::decompress(c, in, max_output);
    }
    result<bytes> compress(compression_codec c, bytes_view in) const override {
        return protocol::compress(c, in);
    }
};

struct rec {
    int64_t offset;
    std::string key;
    std::optional<std::string> value;  // nullopt: tombstone
};

struct batch_info {
    int64_t base;
    int64_t last;
    int32_t count;
    compression_codec codec;
    int64_t producer_id;
};

struct put_options {
    compression_codec codec = compression_codec::none;
    int64_t producer_id = -1;
    int32_t base_sequence = -1;
};

// "prefix" + std::to_string(i) trips g++ 12's -Wrestrict false positive.
std::string cat(const char* prefix, int64_t i) {
    std::string s(prefix);
    s += std::to_string(i);
    return s;
}

int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class cleaner_test : public ::testing::Test {
protected:
    cleaner_test() : _clock(wall_ms()) {
        _cfg.segment_bytes = 400;
        _cfg.index_interval_bytes = 100;
        _cfg.retention_ms = -1;
        _cfg.compact = true;
        _cfg.min_cleanable_dirty_ratio = 0.0;
        reopen();
    }

    void reopen() {
        _log.reset();
        auto l = log::open(_dir.path(), _cfg, _clock);
        ASSERT_TRUE(l) << l.error().message();
        _log = std::move(*l);
    }

    // One batch of (key, value) records; value nullopt is a tombstone. Returns its base offset.
    int64_t put(const std::vector<std::pair<std::string, std::optional<std::string>>>& records,
                put_options o = {}) {
        protocol::batch_options opts;
        opts.codec = o.codec;
        opts.producer_id = o.producer_id;
        opts.producer_epoch = o.producer_id >= 0 ? 0 : -1;
        opts.base_sequence = o.base_sequence;
        protocol::batch_builder b(opts);
        for (const auto& [k, v] : records) {
            std::optional<bytes_view> value;
            if (v) {
                value = bytes_view(reinterpret_cast<const uint8_t*>(v->data()), v->size());
            }
            b.add(bytes_view(reinterpret_cast<const uint8_t*>(k.data()), k.size()), value,
                  _clock.now_ms().value());
        }
        auto built = b.build();
        EXPECT_TRUE(built);
        auto r = _log->append(*built);
        EXPECT_TRUE(r) << r.error().message();
        return r ? r->base.value() : -1;
    }
    int64_t put(const std::string& k, std::optional<std::string> v, put_options o = {}) {
        return put({{k, std::move(v)}}, o);
    }

    // `rounds` values of each of `keys` keys "<prefix><k>", round after round.
    void put_rounds(int rounds, int keys, const char* prefix) {
        for (int round = 0; round < rounds; ++round) {
            for (int k = 0; k < keys; ++k) {
                put(cat(prefix, k), cat("v", round));
            }
        }
    }

    // `n` more values of key "other" (enough to roll a few segments).
    void put_others(const char* prefix, int n = 12) {
        for (int i = 0; i < n; ++i) {
            put("other", cat(prefix, i));
        }
    }

    // Everything readable from `from`, record by record, and the batches.
    std::vector<rec> records(int64_t from = -1, std::vector<batch_info>* batches = nullptr) {
        auto data = _log->read_bytes(from < 0 ? _log->log_start_offset() : offset(from), SIZE_MAX);
        EXPECT_TRUE(data) << data.error().message();
        std::vector<rec> out;
        if (!data) {
            return out;
        }
        protocol::record_set_iterator it(*data);
        int64_t prev_last = -1;
        while (true) {
            auto b = it.next();
            EXPECT_TRUE(b);
            if (!b || !*b) {
                break;
            }
            const auto& h = (*b)->header;
            EXPECT_GT(h.base_offset, prev_last) << "offsets must increase";
            prev_last = h.last_offset();
            if (batches) {
                batches->push_back({h.base_offset, h.last_offset(), h.record_count, h.codec(), h.producer_id});
            }
            auto reader = protocol::batch_reader::open((*b)->data);
            EXPECT_TRUE(reader) << reader.error().message();
            if (!reader) {
                break;
            }
            while (true) {
                auto r = reader->next();
                EXPECT_TRUE(r);
                if (!r || !*r) {
                    break;
                }
                const auto& v = **r;
                EXPECT_GE(v.offset, h.base_offset);
                EXPECT_LE(v.offset, h.last_offset());
                rec x{v.offset, std::string(v.key->begin(), v.key->end()), std::nullopt};
                if (v.value) {
                    x.value = std::string(v.value->begin(), v.value->end());
                }
                out.push_back(std::move(x));
            }
        }
        return out;
    }

    // The newest record of each key, from a full read.
    static std::map<std::string, rec> newest(const std::vector<rec>& rs) {
        std::map<std::string, rec> out;
        for (const auto& r : rs) {
            out.insert_or_assign(r.key, r);
        }
        return out;
    }

    // Below `end` (where the cleaner stopped: the active segment's base), each record left must
    // be the newest of its key among the records that were below `end`.
    static void expect_compacted_below(const std::vector<rec>& before, const std::vector<rec>& after, int64_t end) {
        std::map<std::string, int64_t> newest_below;
        for (const auto& r : before) {
            if (r.offset < end) {
                newest_below[r.key] = r.offset;
            }
        }
        for (const auto& x : after) {
            if (x.offset < end) {
                EXPECT_EQ(x.offset, newest_below.at(x.key)) << x.key;
            }
        }
    }

    std::optional<cleaning_result> compact(size_t buffer = 1 << 20) {
        EXPECT_TRUE(_log->flush());  // the cleaner works below the checkpointed recovery point
        auto r = _log->compact(_log->next_offset(), &_codec, buffer);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : std::nullopt;
    }

    size_t count_files(const std::string& ext) const {
        size_t n = 0;
        for (const auto& e : std::filesystem::directory_iterator(_dir.path())) {
            n += e.path().extension() == ext;
        }
        return n;
    }

    temp_dir _dir{"cleaner"};
    testing::fake_clock _clock;
    log_config _cfg;
    std::unique_ptr<log> _log;
    protocol_codec _codec;
};

TEST_F(cleaner_test, keeps_the_newest_value_of_each_key_at_its_offset) {
    put_rounds(10, 5, "key");
    const auto before = records();
    const auto want = newest(before);
    ASSERT_GT(_log->segment_bases().size(), 3u);
    auto r = compact();
    ASSERT_TRUE(r);
    EXPECT_GT(r->records_removed, 0u);
    const auto after = records();
    EXPECT_LT(after.size(), before.size());
    // The newest of each key is there, at its own offset; every record below the active
    // segment is the newest of its key.
    const auto got = newest(after);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, w] : want) {
        EXPECT_EQ(got.at(k).offset, w.offset);
        EXPECT_EQ(got.at(k).value, w.value);
    }
    const int64_t active_base = _log->segment_bases().back().value();
    expect_compacted_below(before, after, active_base);
    EXPECT_EQ(count_files(".cleaned"), 0u);
    EXPECT_EQ(count_files(".swap"), 0u);
    EXPECT_EQ(_log->first_dirty_offset(), offset(active_base));
    // A second pass has nothing new to clean.
    EXPECT_FALSE(compact());
    // It all survives a reopen, after a clean close and after a crash.
    _log->close();
    reopen();
    EXPECT_EQ(newest(records()).size(), want.size());
    EXPECT_EQ(records().size(), after.size());
    _log.reset();  // no close(): unclean
    reopen();
    EXPECT_EQ(records().size(), after.size());
    EXPECT_EQ(_log->first_dirty_offset(), offset(active_base));
}

TEST_F(cleaner_test, a_fetch_inside_a_gap_returns_the_next_batch) {
    for (int i = 0; i < 30; ++i) {
        put(i % 2 ? "odd" : "even", std::to_string(i));
    }
    ASSERT_TRUE(compact());
    std::vector<batch_info> batches;
    const auto all = records(-1, &batches);
    ASSERT_GE(batches.size(), 2u);
    // A read from any offset starts with the batch holding it or, in a gap, the next one.
    size_t gaps = 0;
    for (int64_t o = _log->log_start_offset().value(); o < _log->next_offset().value(); ++o) {
        auto b = std::find_if(batches.begin(), batches.end(), [&](const batch_info& x) { return x.last >= o; });
        ASSERT_NE(b, batches.end());
        gaps += b->base > o;
        std::vector<batch_info> got;
        records(o, &got);
        ASSERT_FALSE(got.empty()) << o;
        EXPECT_EQ(got.front().base, b->base) << o;
    }
    EXPECT_GT(gaps, 10u);
    // Batch-header walks (producer-state rebuild) see the same batches.
    size_t n = 0;
    ASSERT_TRUE(_log->for_each_batch_header([&](const batch_header&) { ++n; return true; }));
    EXPECT_EQ(n, batches.size());
}

TEST_F(cleaner_test, tombstones_go_after_delete_retention) {
    _cfg.delete_retention_ms = 3'600'000;
    _log->update_config(_cfg);
    put("gone", "1");
    put("gone", std::nullopt);
    put_others("");
    ASSERT_TRUE(compact());
    auto got = newest(records());
    ASSERT_TRUE(got.contains("gone"));
    EXPECT_FALSE(got.at("gone").value);  // the tombstone stays: consumers must see the delete
    // A later pass within delete.retention.ms keeps it.
    put_others("b");
    ASSERT_TRUE(compact());
    EXPECT_TRUE(newest(records()).contains("gone"));
    // Once the segment holding it was cleaned delete.retention.ms ago, the next pass drops it.
    _clock.advance(3'600'000 + 1000);
    put_others("c");
    ASSERT_TRUE(compact());
    got = newest(records());
    EXPECT_FALSE(got.contains("gone"));
    EXPECT_TRUE(got.contains("other"));
}

TEST_F(cleaner_test, a_tombstone_is_not_dropped_by_the_pass_that_first_sees_it) {
    _cfg.delete_retention_ms = 0;
    _log->update_config(_cfg);
    put("k", "1");
    put("k", std::nullopt);
    put_others("");
    ASSERT_TRUE(compact());
    auto got = newest(records());
    ASSERT_TRUE(got.contains("k"));
    EXPECT_FALSE(got.at("k").value);
    put_others("b");
    _clock.advance(2000);  // past the first cleaning's time (file times are the wall clock's)
    ASSERT_TRUE(compact());
    EXPECT_FALSE(newest(records()).contains("k"));
}

TEST_F(cleaner_test, waits_for_the_dirty_ratio) {
    _cfg.min_cleanable_dirty_ratio = 0.5;
    _log->update_config(_cfg);
    for (int i = 0; i < 40; ++i) {
        put(cat("k", i), "v");  // 40 distinct keys: nothing to remove
    }
    ASSERT_TRUE(_log->flush());
    auto task = _log->prepare_cleaning(_log->next_offset());
    ASSERT_TRUE(task);  // everything is dirty
    EXPECT_EQ(task->dirty_bytes, task->total_bytes);
    ASSERT_TRUE(_log->install_cleaned(*clean(*task, &_codec, 1 << 20)));
    EXPECT_EQ(_log->first_dirty_offset(), task->end);
    // A little new data: below the ratio.
    for (int i = 0; i < 6; ++i) {
        put(cat("k", i), "w");
    }
    ASSERT_TRUE(_log->flush());
    auto small = _log->prepare_cleaning(_log->next_offset());
    EXPECT_FALSE(small && double(small->dirty_bytes) / double(small->total_bytes) < 0.5);
    // Much more: above.
    for (int i = 0; i < 60; ++i) {
        put(cat("k", i % 40), "x");
    }
    ASSERT_TRUE(_log->flush());
    auto big = _log->prepare_cleaning(_log->next_offset());
    ASSERT_TRUE(big);
    EXPECT_GE(double(big->dirty_bytes) / double(big->total_bytes), 0.5);
}

TEST_F(cleaner_test, leaves_segments_younger_than_the_compaction_lag) {
    _cfg.min_compaction_lag_ms = 60'000;
    _log->update_config(_cfg);
    for (int i = 0; i < 30; ++i) {
        put("k", std::to_string(i));
    }
    ASSERT_TRUE(_log->flush());
    EXPECT_FALSE(_log->prepare_cleaning(_log->next_offset()));
    _clock.advance(61'000);
    put("k", "new");  // a new active segment's worth of time later
    auto r = compact();
    ASSERT_TRUE(r);
    EXPECT_GT(r->records_removed, 0u);
}

TEST_F(cleaner_test, cleans_no_further_than_it_is_told) {
    for (int i = 0; i < 30; ++i) {
        put("k", std::to_string(i));
    }
    ASSERT_TRUE(_log->flush());
    const auto bases = _log->segment_bases();
    ASSERT_GT(bases.size(), 3u);
    // Up to the high watermark: segments wholly below it only.
    auto task = _log->prepare_cleaning(bases[2]);
    ASSERT_TRUE(task);
    EXPECT_EQ(task->end, bases[2]);
    EXPECT_EQ(task->segments.size(), 2u);
    EXPECT_FALSE(_log->prepare_cleaning(bases[0] + 1));
}

TEST_F(cleaner_test, a_small_key_map_cleans_in_several_passes) {
    put_rounds(3, 20, "key-");
    const auto before = records();
    const auto want = newest(before);
    // Room for about three keys a pass.
    const size_t buffer = 3 * (6 + map_entry_overhead);
    int passes = 0;
    while (auto r = compact(buffer)) {
        ++passes;
        EXPECT_LE(r->map_bytes, buffer);
        ASSERT_LT(passes, 100);
    }
    EXPECT_GT(passes, 3);
    const auto after = records();
    const auto got = newest(after);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, w] : want) {
        EXPECT_EQ(got.at(k).offset, w.offset);
    }
    expect_compacted_below(before, after, _log->segment_bases().back().value());
    // A buffer that can't hold one key is an error, not a crash, and changes nothing.
    put("a-new-key-that-is-long", "v");
    for (int i = 0; i < 12; ++i) {
        put(cat("x", i), "v");
    }
    ASSERT_TRUE(_log->flush());
    auto r = _log->compact(_log->next_offset(), &_codec, 10);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::buffer_too_small));
    EXPECT_EQ(count_files(".cleaned"), 0u);
}

TEST_F(cleaner_test, compressed_batches_keep_their_codec) {
    _cfg.segment_bytes = 1000;
    _log->update_config(_cfg);
    const compression_codec codecs[] = {compression_codec::gzip, compression_codec::snappy,
                                        compression_codec::lz4, compression_codec::zstd};
    for (int round = 0; round < 6; ++round) {
        for (auto c : codecs) {
            std::vector<std::pair<std::string, std::optional<std::string>>> rs;
            for (int k = 0; k < 4; ++k) {
                rs.emplace_back(cat("key", k) + cat("-", int(c)),
                                cat("value-", round) + std::string(50, 'x'));
            }
            put(rs, {.codec = c});
        }
    }
    std::vector<batch_info> before_batches;
    const auto want = newest(records(-1, &before_batches));
    ASSERT_TRUE(compact());
    std::vector<batch_info> batches;
    const auto got = newest(records(-1, &batches));
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, w] : want) {
        EXPECT_EQ(got.at(k).offset, w.offset);
        EXPECT_EQ(got.at(k).value, w.value);
    }
    // Each surviving batch is one of the originals (same offsets) with the same codec.
    std::map<int64_t, batch_info> orig;
    for (const auto& b : before_batches) {
        orig[b.base] = b;
    }
    for (const auto& b : batches) {
        ASSERT_TRUE(orig.contains(b.base));
        EXPECT_EQ(b.last, orig[b.base].last);
        EXPECT_EQ(b.codec, orig[b.base].codec);
    }
    // Without a codec, a compressed batch fails the pass cleanly.
    for (int i = 0; i < 8; ++i) {
        put({{"z", "1"}, {"z", "2"}}, {.codec = compression_codec::lz4});
    }
    ASSERT_TRUE(_log->flush());
    auto r = _log->compact(_log->next_offset(), nullptr, 1 << 20);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::unsupported_codec));
    EXPECT_EQ(count_files(".cleaned"), 0u);
}

TEST_F(cleaner_test, keeps_the_last_batch_of_each_producer_even_empty) {
    put("p", "1", {.producer_id = 7, .base_sequence = 0});
    const int64_t last_of_7 = put("p", "2", {.producer_id = 7, .base_sequence = 1});
    for (int i = 0; i < 12; ++i) {
        put("p", cat("plain", i));  // supersedes both of producer 7's records
    }
    ASSERT_TRUE(compact());
    std::vector<batch_info> batches;
    const auto rs = records(-1, &batches);
    std::vector<batch_info> of_7;
    for (const auto& b : batches) {
        if (b.producer_id == 7) {
            of_7.push_back(b);
        }
    }
    ASSERT_EQ(of_7.size(), 1u);
    EXPECT_EQ(of_7[0].base, last_of_7);
    EXPECT_EQ(of_7[0].count, 0);
    EXPECT_EQ(newest(rs).at("p").value, "plain11");
    // And it survives a reopen (the empty batch is valid on disk).
    _log->close();
    reopen();
    EXPECT_EQ(records().size(), rs.size());
}

TEST_F(cleaner_test, a_reader_of_a_replaced_segment_keeps_reading_it) {
    for (int i = 0; i < 30; ++i) {
        put("k", std::to_string(i));
    }
    auto held = _log->read(_log->log_start_offset(), SIZE_MAX);
    ASSERT_TRUE(held);
    const auto& s = held->slices.front();
    bytes before(s.len);
    ASSERT_EQ(::pread(s.fd, before.data(), s.len, s.pos), ssize_t(s.len));
    ASSERT_TRUE(compact());
    bytes after(s.len);
    ASSERT_EQ(::pread(s.fd, after.data(), s.len, s.pos), ssize_t(s.len));
    EXPECT_EQ(before, after);
}

TEST_F(cleaner_test, a_truncation_into_cleaned_segments_survives_a_crash) {
    for (int i = 0; i < 40; ++i) {
        put(i % 2 ? std::string("odd") : cat("even", i), std::to_string(i));  // a gap at each odd offset
    }
    ASSERT_TRUE(compact());
    // Cut inside the cleaned part, past a gap: the segment holding the cut becomes the active
    // one, with its gaps, above the recovery point.
    const auto bases = _log->segment_bases();
    ASSERT_GT(bases.size(), 3u);
    const int64_t to = bases[bases.size() - 2].value() - 1;
    ASSERT_TRUE(_log->truncate(offset(to)));
    const auto kept = records();
    ASSERT_FALSE(kept.empty());
    put("after", "cut");
    _log.reset();  // crash
    reopen();
    auto again = records();
    ASSERT_EQ(again.size(), kept.size() + 1);
    for (size_t i = 0; i < kept.size(); ++i) {
        EXPECT_EQ(again[i].offset, kept[i].offset);
    }
    EXPECT_EQ(again.back().key, "after");
}

TEST_F(cleaner_test, a_follower_copies_a_compacted_log_with_its_gaps) {
    for (int i = 0; i < 40; ++i) {
        put(i % 2 ? std::string("odd") : cat("even", i), std::to_string(i));
    }
    ASSERT_TRUE(compact());
    auto leader = _log->read_bytes(_log->log_start_offset(), SIZE_MAX);
    ASSERT_TRUE(leader);
    const auto want = records();

    temp_dir follower_dir{"follower"};
    log_config cfg = _cfg;
    cfg.compact = false;  // as a follower of a topic it does not clean itself: the gaps are the leader's
    auto open = [&] {
        auto l = log::open(follower_dir.path(), cfg, _clock);
        EXPECT_TRUE(l) << l.error().message();
        return std::move(*l);
    };
    auto f = open();
    // Batch by batch, as fetches bring them; offsets are kept, gaps and all. Half-way (inside
    // the compacted part), a crash: the follower's active segment has gaps, above its recovery
    // point; they must survive recovery.
    protocol::record_set_iterator it(*leader);
    size_t at = 0;
    size_t n = 0;
    while (auto b = it.next()) {
        if (!*b) {
            break;
        }
        bytes one((*b)->data.begin(), (*b)->data.end());
        auto r = f->append(one, std::nullopt, false, append_source::follower);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->base.value(), (*b)->header.base_offset);
        at += one.size();
        if (++n == 6) {
            const offset end = f->next_offset();
            f.reset();
            f = open();
            ASSERT_EQ(f->next_offset(), end);
            auto copied = f->read_bytes(f->log_start_offset(), SIZE_MAX);
            ASSERT_TRUE(copied);
            EXPECT_EQ(*copied, bytes(leader->begin(), leader->begin() + at));
        }
    }
    EXPECT_EQ(at, leader->size());
    EXPECT_EQ(f->next_offset(), _log->next_offset());
    // A batch below the end is refused.
    bytes again(leader->begin(), leader->begin() + protocol::record_set_iterator(*leader).next().value()->data.size());
    EXPECT_FALSE(f->append(again, std::nullopt, false, append_source::follower));
    // Its active segment now has gaps above the recovery point: a crash must keep them.
    f.reset();
    f = open();
    auto copied = f->read_bytes(f->log_start_offset(), SIZE_MAX);
    ASSERT_TRUE(copied);
    EXPECT_EQ(*copied, *leader);
}

// Every point where a crash can stop install_cleaned(): reopen, and every newest value is
// there; cleaned or not, nothing else changed.
class cleaner_crash_test : public cleaner_test, public ::testing::WithParamInterface<int> {};

TEST_P(cleaner_crash_test, reopen_after_a_crash_mid_swap) {
    put_rounds(8, 4, "key");
    const auto before = records();
    const auto want = newest(before);
    ASSERT_TRUE(_log->flush());
    auto task = _log->prepare_cleaning(_log->next_offset());
    ASSERT_TRUE(task);
    auto r = clean(*task, &_codec, 1 << 20);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_GE(r->segments.size(), 2u);
    const auto& dir = _dir.path();
    auto stem = [&](size_t i) { return (dir / segment::file_stem(r->segments[i].base)).string(); };
    auto to_swap = [&](size_t i) {
        std::filesystem::rename(cleaned_path(dir, r->segments[i].base), swap_path(dir, r->segments[i].base));
    };
    auto to_log = [&](size_t i) {
        std::filesystem::remove(stem(i) + ".index");
        std::filesystem::remove(stem(i) + ".timeindex");
        std::filesystem::rename(swap_path(dir, r->segments[i].base), stem(i) + ".log");
    };
    const int point = GetParam();
    // 0: cleaned files written, none committed.
    if (point >= 1) {
        to_swap(0);  // 1: the first committed, the others not
    }
    if (point >= 2) {
        for (size_t i = 1; i < r->segments.size(); ++i) {
            to_swap(i);  // 2: all committed, none installed
        }
    }
    if (point >= 3) {
        to_log(0);  // 3: the first installed (old indexes gone, none rebuilt)
    }
    if (point >= 4) {
        for (size_t i = 1; i < r->segments.size(); ++i) {
            to_log(i);  // 4: all installed, no index rebuilt, no cleaner checkpoint
        }
    }
    _log.reset();  // the crash: no close()
    reopen();
    EXPECT_EQ(count_files(".cleaned"), 0u);
    EXPECT_EQ(count_files(".swap"), 0u);
    const auto after = records();
    const auto got = newest(after);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, w] : want) {
        EXPECT_EQ(got.at(k).offset, w.offset) << k;
        EXPECT_EQ(got.at(k).value, w.value) << k;
    }
    if (point == 0) {
        EXPECT_EQ(after.size(), before.size());
    } else {
        EXPECT_LT(after.size(), before.size());
    }
    // Cleaning again reaches the same end state from any of these.
    if (point < 2) {
        EXPECT_TRUE(compact());  // the cleaner checkpoint didn't move: cleaned again
    } else {
        compact();
    }
    expect_compacted_below(before, records(), _log->segment_bases().back().value());
}

INSTANTIATE_TEST_SUITE_P(points, cleaner_crash_test, ::testing::Values(0, 1, 2, 3, 4));

} // namespace
} // namespace trib::storage
