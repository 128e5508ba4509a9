// Producer-state snapshots beside the log: whatever happened to the log (clean close, crash,
// torn tail, truncation, damaged snapshot files), the state load() gives must be the state a
// walk over every batch header of the log gives, and it must read only the batches after the
// snapshot it used.
#include "broker/producer_state.h"
#include "common/crc32c.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>

namespace trib::broker {
namespace {

// A batch's max timestamp: distinct per producer and sequence, so a timestamp taken from the
// wrong batch shows.
int64_t timestamp_of(int64_t pid, int32_t seq) {
    return 1'700'000'000'000 + pid * 100'000 + seq;
}

bytes producer_batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records, size_t payload = 40) {
    bytes out = storage::testing::make_batch(
        {.records = records, .payload = payload, .max_timestamp = timestamp_of(pid, seq), .seed = uint32_t(seq)});
    batch_header h = decode_batch_header(out.data());
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = pid >= 0 ? seq : -1;
    write_batch_header(out.data(), h);
    store_be32(out.data() + 17, compute_batch_crc(out));
    return out;
}

batch_header header_of(int64_t pid, int16_t epoch, int32_t seq, int32_t records) {
    return decode_batch_header(producer_batch(pid, epoch, seq, records).data());
}

// The reference: a walk over every batch header of the log (the rebuild before snapshots).
producer_state full_walk(const storage::log& log) {
    producer_state s;
    auto r = log.for_each_batch_header([&](const batch_header& h) {
        if (h.producer_id >= 0) {
            s.record(h);
        }
        return true;
    });
    EXPECT_TRUE(r) << r.error().message();
    return s;
}

bytes read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& p, const bytes& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A partition as the broker keeps one: a log with small segments (so it rolls often), the
// producer state loaded from it, snapshotting on roll, and every producer batch recorded
// right after its append.
class partition_fixture {
public:
    explicit partition_fixture(storage::log_config cfg = small_segments()) : _cfg(cfg) { open(); }

    static storage::log_config small_segments() {
        storage::log_config cfg;
        cfg.segment_bytes = 2048;
        cfg.index_interval_bytes = 256;
        return cfg;
    }

    producer_state::load_stats open() {
        auto l = storage::log::open(_dir.path(), _cfg);
        EXPECT_TRUE(l) << l.error().message();
        log = std::move(*l);
        state = producer_state();
        auto st = state.load(*log);
        EXPECT_TRUE(st) << st.error().message();
        state.snapshot_on_roll(*log);
        return st ? *st : producer_state::load_stats{};
    }
    // Clean shutdown as partition_manager::close_all does it.
    producer_state::load_stats clean_restart() {
        EXPECT_TRUE(state.write_snapshot(*log));
        log->close();
        log.reset();
        return open();
    }
    // SIGKILL: the log object goes without close() (its data is in the files already).
    producer_state::load_stats crash_restart() {
        log.reset();
        return open();
    }

    offset append(int64_t pid, int16_t epoch, int32_t seq, int32_t records = 1) {
        bytes b = producer_batch(pid, epoch, seq, records);
        auto r = log->append(std::span<uint8_t>(b));
        EXPECT_TRUE(r) << r.error().message();
        if (pid >= 0) {
            batch_header h = decode_batch_header(b.data());
            h.base_offset = r->base.value();
            state.record(h);
        }
        return r->base;
    }
    // `n` batches from producers 1..producers in turn, in sequence, plus a plain batch every
    // fifth.
    void append_many(int n, int producers = 3) {
        for (int i = 0; i < n; ++i) {
            if (i % 5 == 4) {
                append(-1, -1, -1, 2);
                continue;
            }
            int64_t pid = 1 + i % producers;
            append(pid, 0, _next_seq[pid], 2);
            _next_seq[pid] += 2;
        }
    }
    std::vector<offset> snapshots() const {
        auto s = producer_state::list_snapshots(_dir.path());
        EXPECT_TRUE(s);
        return s ? *s : std::vector<offset>{};
    }
    const std::filesystem::path& dir() const { return _dir.path(); }

    std::unique_ptr<storage::log> log;
    producer_state state;

private:
    fakes::temp_dir _dir{"trib-pstate"};
    storage::log_config _cfg;
    std::map<int64_t, int32_t> _next_seq;
};

TEST(producer_snapshot, encoding_round_trips_and_is_one_per_state) {
    partition_fixture p;
    p.append_many(40, 4);
    p.append(9, 3, 0, 1);
    p.append(9, 4, 0, 7);  // a new epoch forgets the older batches
    bytes file = p.state.encode_snapshot(p.log->next_offset());
    std::string why;
    auto back = producer_state::decode_snapshot(file, p.log->next_offset(), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(*back, p.state);
    EXPECT_EQ(back->encode_snapshot(p.log->next_offset()), file);
    EXPECT_EQ(back->check(header_of(9, 4, 7, 1)).v, producer_state::verdict::append);
    EXPECT_EQ(back->check(header_of(9, 3, 1, 1)).v, producer_state::verdict::fenced);
}

TEST(producer_snapshot, damaged_files_are_refused_with_a_reason) {
    partition_fixture p;
    p.append_many(12, 2);
    const offset at = p.log->next_offset();
    const bytes good = p.state.encode_snapshot(at);
    std::string why;
    ASSERT_TRUE(producer_state::decode_snapshot(good, at, why));
    for (size_t n = 0; n < good.size(); ++n) {
        EXPECT_FALSE(producer_state::decode_snapshot(bytes_view(good).first(n), at, why)) << "cut at " << n;
    }
    for (size_t i = 0; i < good.size(); ++i) {
        bytes bad = good;
        bad[i] ^= 0x10;
        EXPECT_FALSE(producer_state::decode_snapshot(bad, at, why)) << "flipped byte " << i;
    }
    EXPECT_FALSE(producer_state::decode_snapshot(good, at + 1, why)) << "another offset";
    EXPECT_NE(why.find("offset"), std::string::npos) << why;

    // Damage with a correct CRC: what a bug (or a future version) would write.
    auto with_crc = [](bytes b) {
        store_be32(b.data() + b.size() - 4, crc32c::extend(0, b.data(), b.size() - 4));
        return b;
    };
    for (uint16_t v : {0, 3}) {
        bytes other = good;
        store_be16(other.data() + 4, v);
        EXPECT_FALSE(producer_state::decode_snapshot(with_crc(other), at, why)) << "version " << v;
        EXPECT_NE(why.find("version"), std::string::npos) << why;
    }
    bytes no_batches = good;
    no_batches[20 + 18] = 0;
    EXPECT_FALSE(producer_state::decode_snapshot(with_crc(no_batches), at, why)) << "a producer without batches";
    bytes same_id = good;  // the second producer given the first one's id
    const size_t second = 20 + 19 + 16 * good[20 + 18];
    std::memcpy(same_id.data() + second, good.data() + 20, 8);
    EXPECT_FALSE(producer_state::decode_snapshot(with_crc(same_id), at, why));
    EXPECT_NE(why.find("ascending"), std::string::npos) << why;
    bytes more = good;
    store_be32(more.data() + 16, load_be32(good.data() + 16) + 1);
    EXPECT_FALSE(producer_state::decode_snapshot(with_crc(more), at, why)) << "a count past the end";
    bytes huge = good;
    store_be32(huge.data() + 16, UINT32_MAX);
    EXPECT_FALSE(producer_state::decode_snapshot(with_crc(huge), at, why)) << "a count that can't be";
    EXPECT_FALSE(producer_state::decode_snapshot(with_crc(good), offset(1), why)) << "batches above the offset";
}

// The seed files of the snapshot fuzzer: `two_producers` was written by the version 1 encoder
// (before timestamps), `two_producers_v2` by hand from the version 2 layout in
// broker/README.md. Both describe the same producers, batches and offset.
bytes corpus_file(const char* name) {
    return read_file(std::filesystem::path(TRIB_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_producer_snapshot" / name);
}

// A corpus file, which must be of `version`, decoded at its offset (40).
std::optional<producer_state> decode_corpus(const char* name, uint16_t version) {
    const bytes data = corpus_file(name);
    EXPECT_EQ(data.size() > 6 ? load_be16(data.data() + 4) : 0, version) << name;
    std::string why;
    auto s = producer_state::decode_snapshot(data, offset(40), why);
    EXPECT_TRUE(s) << name << ": " << why;
    return s;
}

using active = producer_state::active_producer;

TEST(producer_snapshot, a_version_1_file_is_read_with_unknown_timestamps) {
    auto s = decode_corpus("two_producers", 1);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->active(), (std::vector<active>{{1, 0, 3, -1}, {7, 3, 10, -1}}));
    // Judged as before: producer 7's retry of its batch 6..9 is a duplicate at offset 21.
    auto dup = s->check(header_of(7, 3, 6, 4));
    EXPECT_EQ(dup.v, producer_state::verdict::duplicate);
    EXPECT_EQ(dup.duplicate_of, 21);
    // Written again, it is version 2, and the same state reads back from it.
    bytes again = s->encode_snapshot(offset(40));
    EXPECT_EQ(load_be16(again.data() + 4), producer_state::snapshot_version);
    std::string why;
    auto back = producer_state::decode_snapshot(again, offset(40), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(*back, *s);
    EXPECT_EQ(s->encode_snapshot(offset(40), 1), corpus_file("two_producers")) << "version 1 encodes as the old encoder did";
}

TEST(producer_snapshot, a_version_2_file_keeps_each_producers_last_timestamp) {
    auto s = decode_corpus("two_producers_v2", 2);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->active(), (std::vector<active>{{1, 0, 3, 1733371200123}, {7, 3, 10, -1}}));
    EXPECT_EQ(s->encode_snapshot(offset(40)), corpus_file("two_producers_v2")) << "one encoding per state";
    auto v1 = decode_corpus("two_producers", 1);
    ASSERT_TRUE(v1);
    EXPECT_NE(*s, *v1) << "a timestamp is part of the state";
    EXPECT_EQ(s->encode_snapshot(offset(40), 1), corpus_file("two_producers")) << "the same producers and batches";
}

TEST(producer_snapshot, the_last_timestamp_is_the_last_batchs_and_survives_every_restart) {
    partition_fixture p;
    p.append_many(150, 3);
    p.append(9, 3, 0, 2);
    p.append(9, 3, 2, 5);
    auto expect_timestamps = [&](const char* when) {
        for (const auto& a : p.state.active()) {
            const int32_t first_seq = a.producer_id == 9 ? 2 : a.last_sequence - 1;  // append_many's batches hold 2
            EXPECT_EQ(a.last_timestamp, timestamp_of(a.producer_id, first_seq)) << when << ", producer " << a.producer_id;
        }
    };
    ASSERT_EQ(p.state.active().size(), 4u);
    expect_timestamps("appended");
    EXPECT_EQ(p.state.active().back(), (active{9, 3, 6, timestamp_of(9, 2)}));
    p.clean_restart();
    expect_timestamps("from the snapshot of a clean close");
    p.append_many(40, 3);
    p.crash_restart();
    expect_timestamps("from a snapshot and the walk after it");
    for (auto s : p.snapshots()) {
        std::filesystem::remove(producer_state::snapshot_path(p.dir(), s));
    }
    auto st = p.crash_restart();
    EXPECT_FALSE(st.snapshot);
    expect_timestamps("rebuilt from the batch headers");
}

TEST(producer_snapshot, a_version_1_snapshot_is_loaded_then_replaced_by_version_2) {
    partition_fixture p;
    p.append_many(30, 2);
    const producer_state before = p.state;
    // What a broker of the previous version left at a clean close.
    ASSERT_TRUE(p.state.write_snapshot(*p.log));
    const offset end = p.log->next_offset();
    const auto path = producer_state::snapshot_path(p.dir(), end);
    write_file(path, p.state.encode_snapshot(end, 1));
    p.log->close();
    p.log.reset();
    auto st = p.open();
    EXPECT_EQ(st.snapshot, end);
    EXPECT_EQ(st.snapshot_version, 1);
    EXPECT_EQ(st.batches_walked, 0u);
    for (const auto& a : p.state.active()) {
        EXPECT_EQ(a.last_timestamp, -1) << "a version 1 file has none";
    }
    EXPECT_EQ(p.state.active().size(), before.active().size());
    // A producer that writes again has one (producer 1: append_many goes on with it alone);
    // the next clean close writes version 2 at the same offset as the old file was.
    p.append_many(1, 2);
    auto st2 = p.clean_restart();
    EXPECT_EQ(st2.snapshot_version, producer_state::snapshot_version);
    EXPECT_EQ(load_be16(read_file(producer_state::snapshot_path(p.dir(), p.log->next_offset())).data() + 4),
              producer_state::snapshot_version);
    auto now = p.state.active();
    ASSERT_EQ(now.size(), 2u);
    EXPECT_EQ(now[0].producer_id, 1);
    EXPECT_EQ(now[0].last_timestamp, timestamp_of(1, now[0].last_sequence - 1));
    EXPECT_EQ(now[1].last_timestamp, -1) << "producer 2 has not written since";
}

TEST(producer_snapshot, rolls_write_snapshots_and_the_last_two_are_kept) {
    partition_fixture p;
    p.append_many(200);
    auto bases = p.log->segment_bases();
    ASSERT_GE(bases.size(), 4u) << "the test needs several rolls";
    auto snaps = p.snapshots();
    ASSERT_EQ(snaps.size(), 2u);
    EXPECT_EQ(snaps[1], bases.back()) << "the last roll";
    EXPECT_EQ(snaps[0], bases[bases.size() - 2]);
    EXPECT_FALSE(std::filesystem::exists(p.dir() / (producer_state::snapshot_path(p.dir(), snaps[1]).filename().string() + ".tmp")));
}

TEST(producer_snapshot, after_a_clean_close_no_batch_is_read) {
    partition_fixture p;
    p.append_many(150);
    producer_state before = p.state;
    auto st = p.clean_restart();
    EXPECT_EQ(st.snapshot, p.log->next_offset());
    EXPECT_EQ(st.batches_walked, 0u);
    EXPECT_EQ(p.state, before);
    EXPECT_EQ(p.state, full_walk(*p.log));
    EXPECT_GT(p.state.producers(), 0u);
}

TEST(producer_snapshot, after_a_crash_only_the_batches_after_the_last_roll_are_read) {
    partition_fixture p;
    p.append_many(150);
    producer_state before = p.state;
    const offset last_roll = p.log->segment_bases().back();
    uint64_t in_active = 0;
    ASSERT_TRUE(p.log->for_each_batch_header(last_roll, [&](const batch_header&) { return ++in_active, true; }));
    auto st = p.crash_restart();
    EXPECT_EQ(st.snapshot, last_roll);
    EXPECT_EQ(st.batches_walked, in_active);
    EXPECT_LT(st.batches_walked, 150u);
    EXPECT_EQ(p.state, before);
    EXPECT_EQ(p.state, full_walk(*p.log));
    // And it goes on from there: the next batch of each producer follows on.
    p.append_many(20);
    p.crash_restart();
    EXPECT_EQ(p.state, full_walk(*p.log));
}

TEST(producer_snapshot, a_snapshot_above_the_recovered_log_end_is_ignored_and_deleted) {
    partition_fixture p;
    p.append_many(123);
    const offset last_roll = p.log->segment_bases().back();
    ASSERT_EQ(p.snapshots().back(), last_roll);
    ASSERT_TRUE(p.state.write_snapshot(*p.log));  // at the end, as a clean close would
    const offset end = p.log->next_offset();
    ASSERT_EQ(p.snapshots(), (std::vector<offset>{last_roll, end}));
    // An unclean stop that loses the last batch: its bytes never reached the disk.
    p.log.reset();
    auto active = p.dir() / (storage::segment::file_stem(last_roll) + ".log");
    auto size = std::filesystem::file_size(active);
    std::filesystem::resize_file(active, size - 20);
    auto st = p.open();
    ASSERT_LT(p.log->next_offset(), end);
    EXPECT_EQ(st.snapshot, last_roll) << "falls back to the roll's snapshot";
    EXPECT_EQ(st.snapshots_dropped, 1u);
    EXPECT_FALSE(std::filesystem::exists(producer_state::snapshot_path(p.dir(), end)));
    EXPECT_EQ(p.state, full_walk(*p.log));
    // Appending past the old end must not bring the old snapshot's view back.
    p.append_many(10, 5);
    p.crash_restart();
    EXPECT_EQ(p.state, full_walk(*p.log));
}

TEST(producer_snapshot, a_damaged_snapshot_falls_back_to_the_older_one_or_a_full_walk) {
    partition_fixture p;
    p.append_many(150);
    auto snaps = p.snapshots();
    ASSERT_EQ(snaps.size(), 2u);
    auto newest = producer_state::snapshot_path(p.dir(), snaps[1]);
    bytes b = read_file(newest);
    b[b.size() / 2] ^= 1;
    write_file(newest, b);
    auto st = p.crash_restart();
    EXPECT_EQ(st.snapshot, snaps[0]);
    EXPECT_EQ(st.snapshots_dropped, 1u);
    EXPECT_FALSE(std::filesystem::exists(newest));
    EXPECT_EQ(p.state, full_walk(*p.log));

    // Both gone bad (one cut short, one of an unknown version): every batch is walked, and a
    // snapshot at the end spares the next open that walk.
    p.append_many(60);
    snaps = p.snapshots();
    ASSERT_EQ(snaps.size(), 2u);
    auto a = producer_state::snapshot_path(p.dir(), snaps[0]);
    auto c = producer_state::snapshot_path(p.dir(), snaps[1]);
    std::filesystem::resize_file(a, std::filesystem::file_size(a) - 1);
    b = read_file(c);
    b[5] = 9;
    write_file(c, b);
    st = p.crash_restart();
    EXPECT_FALSE(st.snapshot);
    EXPECT_EQ(st.snapshots_dropped, 2u);
    EXPECT_EQ(p.state, full_walk(*p.log));
    EXPECT_EQ(p.snapshots(), std::vector<offset>{p.log->next_offset()});
    st = p.crash_restart();
    EXPECT_EQ(st.batches_walked, 0u);
    EXPECT_EQ(p.state, full_walk(*p.log));
}

TEST(producer_snapshot, truncation_removes_later_snapshots_and_reloads) {
    partition_fixture p;
    p.append_many(200);
    auto snaps = p.snapshots();
    ASSERT_EQ(snaps.size(), 2u);
    // Into the segment before the newest snapshot, inside a batch.
    const offset to = snaps[0] - 5;
    ASSERT_TRUE(p.state.truncate(*p.log, to));
    EXPECT_LE(p.log->next_offset(), to);
    for (offset s : p.snapshots()) {
        EXPECT_LE(s, p.log->next_offset());
    }
    EXPECT_EQ(p.state, full_walk(*p.log));
    // A new leader's different history on top, then a crash: nothing of the old tail may come
    // back through a snapshot.
    p.append(77, 0, 0, 3);
    p.append_many(100, 6);
    p.crash_restart();
    EXPECT_EQ(p.state, full_walk(*p.log));
    EXPECT_EQ(p.state.check(header_of(77, 0, 3, 1)).v,
              producer_state::verdict::append);
}

TEST(producer_snapshot, truncation_below_the_log_start_forgets_everything) {
    partition_fixture p;
    p.append_many(100);
    // A snapshot sits exactly where the log restarts: it describes the history the restart
    // throws away (a follower whose leader's log starts later), so it must not be loaded.
    const offset last_roll = p.log->segment_bases().back();
    ASSERT_EQ(p.snapshots().back(), last_roll);
    ASSERT_TRUE(p.log->advance_log_start_offset(last_roll + 1));
    ASSERT_TRUE(p.state.truncate(*p.log, last_roll));
    EXPECT_EQ(p.log->next_offset(), last_roll);
    EXPECT_EQ(p.state.producers(), 0u);
    EXPECT_TRUE(p.snapshots().empty());
    p.append(5, 0, 0);
    auto st = p.clean_restart();
    EXPECT_EQ(st.batches_walked, 0u);
    EXPECT_EQ(p.state, full_walk(*p.log));
    EXPECT_EQ(p.state.producers(), 1u);
}

TEST(producer_snapshot, producers_of_deleted_segments_survive_retention_and_restart) {
    auto cfg = partition_fixture::small_segments();
    partition_fixture p(cfg);
    p.append(42, 0, 0, 5);  // only in the first segment
    p.append_many(150);
    cfg.retention_bytes = 4096;
    p.log->update_config(cfg);
    auto deleted = p.log->apply_retention();
    ASSERT_TRUE(deleted);
    ASSERT_GT(*deleted, 0u);
    ASSERT_TRUE(p.state.retain(*p.log));
    for (offset s : p.snapshots()) {
        EXPECT_GE(s, p.log->log_start_offset());
    }
    producer_state before = p.state;
    p.crash_restart();
    EXPECT_EQ(p.state, before) << "as the running broker knew it";
    EXPECT_EQ(p.state.check(header_of(42, 0, 0, 5)).v,
              producer_state::verdict::duplicate);

    // DeleteRecords to the end passes every snapshot: retain writes one at the end.
    ASSERT_TRUE(p.log->advance_log_start_offset(p.log->next_offset()));
    ASSERT_TRUE(p.state.retain(*p.log));
    EXPECT_EQ(p.snapshots(), std::vector<offset>{p.log->next_offset()});
    before = p.state;
    p.crash_restart();
    EXPECT_EQ(p.state, before);
}

// A bad header inside a segment before the last, which a clean open of the log trusts without
// reading: the producer-state walk over it fails, and that partial state is never written,
// whether the walk started at the log's start or after a snapshot.
TEST(producer_snapshot, a_state_whose_load_failed_is_never_saved) {
    for (bool from_snapshot : {false, true}) {
        SCOPED_TRACE(from_snapshot ? "from a snapshot" : "from the start");
        partition_fixture p;
        p.append_many(100);
        const auto bases = p.log->segment_bases();
        ASSERT_GE(bases.size(), 3u);
        const offset damaged = from_snapshot ? bases[bases.size() - 2] : bases[0];
        producer_state upto;  // the state at `damaged`, for a snapshot there
        ASSERT_TRUE(p.log->for_each_batch_header([&](const batch_header& h) {
            if (offset(h.base_offset) >= damaged) {
                return false;
            }
            if (h.producer_id >= 0) {
                upto.record(h);
            }
            return true;
        }));
        p.log->close();
        p.log.reset();
        for (offset s : p.snapshots()) {
            ASSERT_TRUE(storage::remove_file(producer_state::snapshot_path(p.dir(), s)));
        }
        if (from_snapshot) {
            ASSERT_TRUE(upto.write_snapshot(p.dir(), damaged));
        }
        auto file = p.dir() / (storage::segment::file_stem(damaged) + ".log");
        bytes b = read_file(file);
        const size_t second_batch = decode_batch_header(b.data()).total_size();
        store_be32(b.data() + second_batch + 8, 0x7fffffff);
        write_file(file, b);
        const auto before = p.snapshots();

        auto l = storage::log::open(p.dir(), partition_fixture::small_segments());
        ASSERT_TRUE(l);
        producer_state s;
        EXPECT_FALSE(s.load(**l));
        EXPECT_FALSE(s.write_snapshot(**l));
        EXPECT_EQ(p.snapshots(), before);
    }
}

// Seeded random histories: appends from producers coming and going (with epoch bumps), plain
// batches, clean and unclean restarts, truncations, damaged snapshot files. After every step
// that reloads the state it must equal a walk over the whole log.
TEST(producer_snapshot, random_histories_load_what_a_full_walk_gives) {
    for (uint32_t seed = 1; seed <= 12; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        std::mt19937 rng(seed);
        auto pick = [&](uint32_t n) { return uint32_t(rng() % n); };
        partition_fixture p;
        std::map<int64_t, std::pair<int16_t, int32_t>> next;  // pid → epoch, sequence
        for (int step = 0; step < 120; ++step) {
            uint32_t what = pick(100);
            if (what < 80) {
                int64_t pid = int64_t(pick(8)) - 1;  // -1: a plain batch
                int32_t records = 1 + int32_t(pick(4));
                if (pid < 0) {
                    p.append(-1, -1, -1, records);
                    continue;
                }
                auto& [epoch, seq] = next[pid];
                if (pick(20) == 0) {
                    ++epoch;
                    seq = 0;
                }
                p.append(pid, epoch, seq, records);
                seq += records;
            } else if (what < 86) {
                p.clean_restart();
                ASSERT_EQ(p.state, full_walk(*p.log));
            } else if (what < 92) {
                p.crash_restart();
                ASSERT_EQ(p.state, full_walk(*p.log));
            } else if (what < 97) {
                const int64_t end = p.log->next_offset().value();
                const int64_t start = p.log->log_start_offset().value();
                offset to(start + int64_t(pick(uint32_t(end - start + 1))));
                ASSERT_TRUE(p.state.truncate(*p.log, to));
                ASSERT_EQ(p.state, full_walk(*p.log));
                next.clear();  // producers start over (a truncated producer would be fenced or retry)
                for (int64_t pid = 0; pid < 8; ++pid) {
                    next[pid] = {int16_t(100 + step), 0};
                }
            } else {
                auto snaps = p.snapshots();
                if (!snaps.empty()) {
                    auto path = producer_state::snapshot_path(p.dir(), snaps[pick(uint32_t(snaps.size()))]);
                    bytes b = read_file(path);
                    b[pick(uint32_t(b.size()))] ^= uint8_t(1 + pick(255));
                    write_file(path, b);
                }
                p.crash_restart();
                ASSERT_EQ(p.state, full_walk(*p.log));
            }
        }
    }
}

} // namespace
} // namespace trib::broker
