#include "storage/checkpoint.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <random>
#include <tuple>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;

// Every test runs twice: appending through the page cache, and with direct writes.
class log_test : public ::testing::TestWithParam<bool> {
protected:
    std::unique_ptr<log> open_log(log_config cfg = {}) {
        cfg.direct_writes = GetParam();
        cfg.direct_min_bytes = 0;
        auto l = log::open(_dir.path(), cfg, _clock);
        EXPECT_TRUE(l) << l.error().message();
        return l ? std::move(*l) : nullptr;
    }

    temp_dir _dir;
    fake_clock _clock;
};

TEST_P(log_test, append_assigns_contiguous_offsets_and_reads_back) {
    auto l = open_log();
    EXPECT_EQ(l->next_offset(), offset(0));
    for (int i = 0; i < 10; ++i) {
        auto r = append_ok(*l, {.records = 3, .payload = 50, .seed = uint32_t(i)});
        EXPECT_EQ(r.base, offset(3 * i));
        EXPECT_EQ(r.last, offset(3 * i + 2));
    }
    EXPECT_EQ(l->next_offset(), offset(30));
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 10u);
    EXPECT_EQ(all.back().last, 29);
    EXPECT_EQ(l->size_bytes(), 10u * (61 + 50));
}

TEST_P(log_test, several_batches_in_one_append) {
    auto l = open_log();
    bytes b;
    append_batch(b, {.records = 2, .payload = 10});
    append_batch(b, {.records = 5, .payload = 20});
    auto r = l->append(b);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->base, offset(0));
    EXPECT_EQ(r->last, offset(6));
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].base, 2);
}

TEST_P(log_test, bad_batches_append_nothing) {
    auto l = open_log({.max_batch_bytes = 1000});
    append_ok(*l, {.records = 1});
    const auto size = l->size_bytes();

    bytes two;
    append_batch(two, {.records = 1});
    append_batch(two, {.records = 1});
    two.back() ^= 0xff;  // second batch's CRC no longer matches
    EXPECT_EQ(l->append(two).error(), errc::invalid_batch);

    bytes torn = make_batch({});
    torn.pop_back();
    EXPECT_EQ(l->append(torn).error(), errc::invalid_batch);
    bytes tiny(10, 0);
    EXPECT_EQ(l->append(tiny).error(), errc::invalid_batch);
    bytes none;
    EXPECT_EQ(l->append(none).error(), errc::invalid_batch);
    bytes big = make_batch({.payload = 2000});
    EXPECT_EQ(l->append(big).error(), errc::batch_too_large);

    EXPECT_EQ(l->next_offset(), offset(1));
    EXPECT_EQ(l->size_bytes(), size);
    EXPECT_EQ(read_all(*l).size(), 1u);
}

// A caller that verified the CRCs itself skips that check, but the framing still is.
TEST_P(log_test, crc_verified_append_still_checks_the_framing) {
    auto l = open_log({.max_batch_bytes = 1000});
    bytes torn = make_batch({});
    torn.pop_back();
    EXPECT_EQ(l->append(torn, {}, true).error(), errc::invalid_batch);
    bytes big = make_batch({.payload = 2000});
    EXPECT_EQ(l->append(big, {}, true).error(), errc::batch_too_large);
    EXPECT_EQ(l->next_offset(), offset(0));

    bytes two;
    append_batch(two, {.records = 2, .payload = 10});
    append_batch(two, {.records = 3, .payload = 10});
    auto r = l->append(two, {}, true);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->last, offset(4));
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].base, 2);
}

TEST_P(log_test, leader_epoch_is_stamped) {
    auto l = open_log();
    append_ok(*l, {}, 7);
    auto b = l->read_bytes(offset(0), 1);
    ASSERT_TRUE(b);
    auto h = read_and_verify_batch(*b);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->partition_leader_epoch, 7);
}

TEST_P(log_test, rolls_by_size_and_reads_across_segments) {
    auto l = open_log({.segment_bytes = 1000});
    for (int i = 0; i < 40; ++i) {
        append_ok(*l, {.records = 2, .payload = 200, .seed = uint32_t(i)});
    }
    auto bases = l->segment_bases();
    EXPECT_EQ(bases.size(), 14u);  // 3 batches of 261 bytes per 1000-byte segment
    for (size_t i = 0; i < bases.size(); ++i) {
        EXPECT_EQ(bases[i], offset(int64_t(i) * 6));
    }
    auto rr = l->read(offset(0), SIZE_MAX);
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->slices.size(), 14u);
    EXPECT_EQ(rr->next_offset, offset(80));
    EXPECT_EQ(read_all(*l).size(), 40u);
}

TEST_P(log_test, rolls_by_age_of_first_batch) {
    auto l = open_log({.segment_ms = 1000});
    append_ok(*l, {});
    _clock.advance(999);
    append_ok(*l, {});
    EXPECT_EQ(l->segment_bases().size(), 1u);
    _clock.advance(1);
    append_ok(*l, {});
    EXPECT_EQ(l->segment_bases(), (std::vector<offset>{offset(0), offset(2)}));
    _clock.advance(5000);  // an empty active segment doesn't roll; the new one starts its age now
    append_ok(*l, {});
    EXPECT_EQ(l->segment_bases().size(), 3u);
    append_ok(*l, {});
    EXPECT_EQ(l->segment_bases().size(), 3u);
}

TEST_P(log_test, index_lookup_finds_the_batch_holding_any_offset) {
    auto l = open_log({.segment_bytes = 64 * 1024, .index_interval_bytes = 300});
    std::mt19937 rng(42);
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (int i = 0; i < 600; ++i) {
        auto r = append_ok(*l, {.records = int32_t(1 + rng() % 10), .payload = 20 + rng() % 400, .seed = uint32_t(i)});
        ranges.emplace_back(r.base.value(), r.last.value());
    }
    EXPECT_GT(l->segment_bases().size(), 2u);
    auto check = [&](log& lg) {
        for (int i = 0; i < 2000; ++i) {
            int64_t o = int64_t(rng() % uint64_t(lg.next_offset().value()));
            auto b = lg.read_bytes(offset(o), 1);
            ASSERT_TRUE(b);
            auto batches = parse_batches(*b);
            ASSERT_EQ(batches.size(), 1u);
            EXPECT_LE(batches[0].base, o);
            EXPECT_GE(batches[0].last, o);
        }
    };
    check(*l);
    l->close();
    l = open_log({.segment_bytes = 64 * 1024, .index_interval_bytes = 300});
    check(*l);  // from the index files
}

// Reads near the end use what append remembered of the last batches; after a reopen the same
// reads walk the batch headers in the file. Both must give the same answer for every start,
// size limit and upper bound, across a roll and a truncate.
TEST_P(log_test, tail_reads_match_reads_from_the_file) {
    log_config cfg{.segment_bytes = 16 * 1024};
    auto l = open_log(cfg);
    std::mt19937 rng(7);
    auto fill = [&](int n) {
        for (int i = 0; i < n; ++i) {
            append_ok(*l, {.records = int32_t(1 + rng() % 5), .payload = 10 + rng() % 300, .seed = uint32_t(i)});
        }
    };
    auto snapshot = [](log& lg) {
        std::vector<std::tuple<int64_t, uint64_t, size_t, int64_t, uint64_t>> seen;
        const int64_t end = lg.next_offset().value();
        for (int64_t start = lg.log_start_offset().value(); start <= end; ++start) {
            for (size_t max : {size_t(1), size_t(500), size_t(5000)}) {
                for (int64_t upto : {end, start + 7}) {
                    auto rr = lg.read(offset(start), max, offset(upto));
                    EXPECT_TRUE(rr);
                    if (!rr) {
                        return seen;
                    }
                    uint64_t first = rr->slices.empty() ? 0 : uint64_t(rr->slices[0].pos);
                    seen.emplace_back(start, rr->bytes, rr->slices.size(), rr->next_offset.value(), first);
                }
            }
        }
        return seen;
    };
    fill(300);  // several rolls: the remembered batches are the active segment's last ones
    ASSERT_GT(l->segment_bases().size(), 2u);
    auto cut = l->next_offset().value() - 40;
    ASSERT_TRUE(l->truncate(offset(cut)));
    fill(20);
    auto live = snapshot(*l);
    l->close();
    l = open_log(cfg);
    EXPECT_EQ(live, snapshot(*l));
}

TEST_P(log_test, read_respects_max_bytes_and_upto) {
    auto l = open_log();
    for (int i = 0; i < 10; ++i) {
        append_ok(*l, {.records = 2, .payload = 39});  // 100 bytes, offsets 2i, 2i+1
    }
    auto rr = l->read(offset(0), 10);  // smaller than a batch: still one
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->bytes, 100u);
    EXPECT_EQ(rr->next_offset, offset(2));

    rr = l->read(offset(3), 350);  // starts with the batch holding 3
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->bytes, 300u);
    EXPECT_EQ(rr->slices.size(), 1u);
    EXPECT_EQ(rr->slices[0].pos, 100);
    EXPECT_EQ(rr->next_offset, offset(8));

    rr = l->read(offset(0), SIZE_MAX, offset(6));
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->next_offset, offset(6));
    rr = l->read(offset(0), SIZE_MAX, offset(5));  // the batch 4..5 straddles upto
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->next_offset, offset(4));
    rr = l->read(offset(4), SIZE_MAX, offset(5));
    ASSERT_TRUE(rr);
    EXPECT_EQ(rr->bytes, 0u);
    EXPECT_EQ(rr->next_offset, offset(4));

    rr = l->read(offset(20), 100);  // at the end: empty
    ASSERT_TRUE(rr);
    EXPECT_TRUE(rr->slices.empty());
    EXPECT_EQ(rr->next_offset, offset(20));
    EXPECT_EQ(l->read(offset(21), 100).error(), errc::offset_out_of_range);
    EXPECT_EQ(l->read(offset(-1), 100).error(), errc::offset_out_of_range);
}

TEST_P(log_test, offset_for_timestamp_and_max_timestamp) {
    auto l = open_log({.segment_bytes = 500, .index_interval_bytes = 1});
    EXPECT_FALSE(l->max_timestamp());
    // max timestamps 1000, 2000, ..., with one out-of-order batch.
    std::vector<int64_t> ts = {1000, 2000, 3000, 2500, 4000, 5000, 6000, 7000, 8000, 9000};
    for (size_t i = 0; i < ts.size(); ++i) {
        append_ok(*l, {.records = 2, .payload = 100, .max_timestamp = ts[i]});  // offsets 2i, 2i+1
    }
    EXPECT_GT(l->segment_bases().size(), 2u);
    auto at = [&](int64_t t) {
        auto r = l->offset_for_timestamp(timestamp_ms(t));
        EXPECT_TRUE(r);
        return r ? *r : std::nullopt;
    };
    EXPECT_EQ(at(0), offset(0));
    EXPECT_EQ(at(1000), offset(0));
    EXPECT_EQ(at(1001), offset(2));
    EXPECT_EQ(at(2600), offset(4));
    EXPECT_EQ(at(3500), offset(8));
    EXPECT_EQ(at(8500), offset(18));
    EXPECT_EQ(at(9000), offset(18));
    EXPECT_EQ(at(9001), std::nullopt);
    auto mt = l->max_timestamp();
    ASSERT_TRUE(mt);
    EXPECT_EQ(mt->first, offset(19));
    EXPECT_EQ(mt->second, timestamp_ms(9000));

    ASSERT_TRUE(l->advance_log_start_offset(offset(5)));
    EXPECT_EQ(at(0), offset(5));
    l->close();
    l = open_log({.segment_bytes = 500, .index_interval_bytes = 1});
    EXPECT_EQ(at(3500), offset(8));
    EXPECT_EQ(at(8500), offset(18));
    EXPECT_EQ(l->max_timestamp()->second, timestamp_ms(9000));
}

TEST_P(log_test, truncate_then_append_continues_at_the_cut) {
    log_config cfg{.segment_bytes = 400};
    auto l = open_log(cfg);
    for (int i = 0; i < 20; ++i) {
        append_ok(*l, {.records = 1, .payload = 39, .max_timestamp = 100 + i});
    }
    ASSERT_EQ(l->segment_bases().size(), 5u);
    ASSERT_TRUE(l->truncate(offset(10)));
    EXPECT_EQ(l->next_offset(), offset(10));
    EXPECT_EQ(l->segment_bases().size(), 3u);
    EXPECT_EQ(l->max_timestamp()->second, timestamp_ms(109));
    EXPECT_EQ(append_ok(*l, {.records = 3, .payload = 39}).base, offset(10));
    // Inside a batch: the whole batch goes.
    ASSERT_TRUE(l->truncate(offset(12)));
    EXPECT_EQ(l->next_offset(), offset(10));
    ASSERT_TRUE(l->truncate(offset(8)));  // exactly a segment boundary
    EXPECT_EQ(l->next_offset(), offset(8));
    EXPECT_EQ(append_ok(*l, {.records = 1, .payload = 39}).base, offset(8));
    auto all = read_all(*l);
    ASSERT_EQ(all.size(), 9u);
    EXPECT_EQ(all.back().base, 8);

    l->close();
    l = open_log(cfg);
    EXPECT_EQ(l->next_offset(), offset(9));
    EXPECT_EQ(read_all(*l).size(), 9u);
    // Unclean reopen finds the same.
    append_ok(*l, {.records = 1, .payload = 39});
    l.reset();
    l = open_log(cfg);
    EXPECT_EQ(l->next_offset(), offset(10));
    EXPECT_EQ(read_all(*l).size(), 10u);

    ASSERT_TRUE(l->truncate(offset(0)));
    EXPECT_EQ(l->next_offset(), offset(0));
    EXPECT_EQ(l->size_bytes(), 0u);
    EXPECT_EQ(append_ok(*l, {}).base, offset(0));
}

TEST_P(log_test, retention_by_time_keeps_the_active_segment) {
    const int64_t now = _clock.now_ms().value();
    log_config cfg{.segment_bytes = 300, .retention_ms = 10'000};
    auto l = open_log(cfg);
    // Two batches per segment; segment k's newest batch is (10 - k) seconds old... roughly.
    for (int i = 0; i < 10; ++i) {
        append_ok(*l, {.records = 1, .payload = 39, .max_timestamp = now - 20'000 + i * 2'000});
    }
    ASSERT_EQ(l->segment_bases().size(), 4u);  // 3 batches of 100 bytes each
    auto n = l->apply_retention();
    ASSERT_TRUE(n);
    // Segment 0 (newest 4000 ms after start: 16 s old) and segment 1 (10 s old → not past).
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(l->log_start_offset(), offset(3));
    EXPECT_EQ(l->read(offset(2), 100).error(), errc::offset_out_of_range);
    _clock.advance(1'000'000);
    n = l->apply_retention();
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(l->segment_bases().size(), 1u);  // the active one stays
    EXPECT_EQ(l->log_start_offset(), offset(9));
    EXPECT_EQ(read_all(*l).size(), 1u);
    l->close();
    l = open_log(cfg);
    EXPECT_EQ(l->log_start_offset(), offset(9));
}

TEST_P(log_test, retention_by_size) {
    log_config cfg{.segment_bytes = 300, .retention_ms = -1, .retention_bytes = 500};
    auto l = open_log(cfg);
    for (int i = 0; i < 12; ++i) {
        append_ok(*l, {.records = 1, .payload = 39});
    }
    ASSERT_EQ(l->size_bytes(), 1200u);
    auto n = l->apply_retention();
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);  // 1200 → 900 → 600; one more would drop below 500
    EXPECT_EQ(l->size_bytes(), 600u);
    EXPECT_EQ(l->log_start_offset(), offset(6));
    cfg.retention_bytes = 0;
    l->update_config(cfg);
    n = l->apply_retention();
    ASSERT_TRUE(n);
    EXPECT_EQ(l->segment_bases().size(), 1u);
}

TEST_P(log_test, advance_log_start_offset_deletes_whole_segments_below) {
    log_config cfg{.segment_bytes = 300};
    auto l = open_log(cfg);
    for (int i = 0; i < 10; ++i) {
        append_ok(*l, {.records = 1, .payload = 39});
    }
    ASSERT_EQ(l->segment_bases().size(), 4u);
    EXPECT_EQ(l->advance_log_start_offset(offset(11)).error(), errc::offset_out_of_range);
    ASSERT_TRUE(l->advance_log_start_offset(offset(4)));
    EXPECT_EQ(l->log_start_offset(), offset(4));
    EXPECT_EQ(l->segment_bases().front(), offset(3));
    EXPECT_EQ(l->read(offset(3), 100).error(), errc::offset_out_of_range);
    auto b = l->read_bytes(offset(4), 100);
    ASSERT_TRUE(b);
    EXPECT_EQ(parse_batches(*b).front().base, 4);
    ASSERT_TRUE(l->advance_log_start_offset(offset(2)));  // going back is a no-op
    EXPECT_EQ(l->log_start_offset(), offset(4));
    l.reset();  // unclean: the log start offset comes from the checkpoint
    l = open_log(cfg);
    EXPECT_EQ(l->log_start_offset(), offset(4));
    ASSERT_TRUE(l->advance_log_start_offset(offset(10)));
    EXPECT_EQ(l->segment_bases().size(), 1u);
    EXPECT_EQ(read_all(*l).size(), 0u);
    EXPECT_EQ(append_ok(*l, {}).base, offset(10));
}

TEST_P(log_test, reopen_after_clean_close_keeps_everything) {
    log_config cfg{.segment_bytes = 2000, .index_interval_bytes = 150};
    auto l = open_log(cfg);
    for (int i = 0; i < 50; ++i) {
        append_ok(*l, {.records = 2, .payload = 60, .max_timestamp = 1000 + i});
    }
    auto before = read_all(*l);
    auto bases = l->segment_bases();
    l->close();
    EXPECT_EQ(l->append(*std::make_unique<bytes>(make_batch({}))).error(), errc::closed);
    auto cp = checkpoint::read(_dir.path());
    ASSERT_TRUE(cp && *cp);
    EXPECT_TRUE((*cp)->clean);
    EXPECT_EQ((*cp)->recovery_point, offset(100));

    l = open_log(cfg);
    cp = checkpoint::read(_dir.path());
    EXPECT_FALSE((*cp)->clean);  // marked unclean while open
    EXPECT_EQ(l->segment_bases(), bases);
    EXPECT_EQ(l->next_offset(), offset(100));
    auto after = read_all(*l);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
        EXPECT_EQ(after[i].crc, before[i].crc);
    }
    EXPECT_EQ(l->max_timestamp()->second, timestamp_ms(1049));
    EXPECT_EQ(append_ok(*l, {}).base, offset(100));
}

TEST_P(log_test, open_reports_what_it_had_to_scan) {
    log_config cfg{.segment_bytes = 2000, .index_interval_bytes = 150};
    auto l = open_log(cfg);
    EXPECT_TRUE(l->opened_with().clean);  // a new log: nothing to recover
    for (int i = 0; i < 50; ++i) {
        append_ok(*l, {.records = 2, .payload = 60});
    }
    l->close();
    l = open_log(cfg);
    EXPECT_TRUE(l->opened_with().clean);
    EXPECT_EQ(l->opened_with().segments_scanned, 0u);
    EXPECT_EQ(l->opened_with().bytes_scanned, 0u);

    append_ok(*l, {.records = 2, .payload = 60});
    l.reset();  // destroyed without close(): an unclean shutdown
    l = open_log(cfg);
    EXPECT_FALSE(l->opened_with().clean);
    EXPECT_GE(l->opened_with().segments_scanned, 1u);  // the active one at least
    EXPECT_GT(l->opened_with().bytes_scanned, 0u);
    EXPECT_EQ(l->next_offset(), offset(102));
    // What recovery read was not fsync'ed: the recovery point stays at the clean close's, so a
    // machine crash now would have it scanned again.
    auto cp = checkpoint::read(_dir.path());
    ASSERT_TRUE(cp && *cp);
    EXPECT_EQ((*cp)->recovery_point, offset(100));
    l.reset();
    l = open_log(cfg);
    EXPECT_FALSE(l->opened_with().clean);
    EXPECT_GE(l->opened_with().segments_scanned, 1u);
    EXPECT_EQ(l->next_offset(), offset(102));
    ASSERT_TRUE(l->flush());  // now it is on the disk
    cp = checkpoint::read(_dir.path());
    EXPECT_EQ((*cp)->recovery_point, offset(102));
}

TEST_P(log_test, truncate_fully_and_start_at_a_later_offset) {
    log_config cfg{.segment_bytes = 2000, .index_interval_bytes = 150};
    auto l = open_log(cfg);
    for (int i = 0; i < 30; ++i) {
        append_ok(*l, {.records = 2, .payload = 60});
    }
    ASSERT_TRUE(l->truncate_fully_and_start_at(offset(500)));
    EXPECT_EQ(l->log_start_offset(), offset(500));
    EXPECT_EQ(l->next_offset(), offset(500));
    EXPECT_EQ(l->size_bytes(), 0u);
    EXPECT_EQ(l->segment_bases(), std::vector<offset>{offset(500)});
    EXPECT_EQ(append_ok(*l, {}).base, offset(500));
    l.reset();  // unclean: what open() finds must be the restarted log
    l = open_log(cfg);
    EXPECT_EQ(l->log_start_offset(), offset(500));
    EXPECT_EQ(l->next_offset(), offset(501));
}

TEST_P(log_test, flush_policy_by_messages_and_time) {
    auto l = open_log({.flush_messages = 10});
    const auto rp0 = l->checkpointed_recovery_point();
    for (int i = 0; i < 3; ++i) {
        append_ok(*l, {.records = 3});
    }
    EXPECT_EQ(l->checkpointed_recovery_point(), rp0);
    append_ok(*l, {.records = 3});  // 12 records ≥ 10
    EXPECT_EQ(l->checkpointed_recovery_point(), offset(12));
    l->close();

    auto l2 = open_log({.flush_ms = 1000});
    append_ok(*l2, {});
    ASSERT_TRUE(l2->maybe_flush());
    EXPECT_EQ(l2->checkpointed_recovery_point(), offset(12));
    _clock.advance(1000);
    ASSERT_TRUE(l2->maybe_flush());
    EXPECT_EQ(l2->checkpointed_recovery_point(), offset(13));
}

TEST_P(log_test, sync_without_a_syncer_completes_inline) {
    auto l = open_log();
    append_ok(*l, {});
    bool called = false;
    l->sync(offset(0), [&](std::error_code ec) {
        EXPECT_FALSE(ec);
        called = true;
    });
    EXPECT_TRUE(called);
}

TEST_P(log_test, segment_files_are_named_by_base_offset) {
    auto l = open_log({.segment_bytes = 150});
    append_ok(*l, {.records = 5, .payload = 39});
    append_ok(*l, {.records = 5, .payload = 39});
    EXPECT_TRUE(std::filesystem::exists(_dir.path() / "00000000000000000000.log"));
    EXPECT_TRUE(std::filesystem::exists(_dir.path() / "00000000000000000005.log"));
    EXPECT_TRUE(std::filesystem::exists(_dir.path() / "00000000000000000005.index"));
    EXPECT_TRUE(std::filesystem::exists(_dir.path() / "00000000000000000005.timeindex"));
    EXPECT_TRUE(std::filesystem::exists(_dir.path() / "log.checkpoint"));
}

INSTANTIATE_TEST_SUITE_P(buffered_and_direct, log_test, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "direct" : "buffered"; });

} // namespace
} // namespace trib::storage
