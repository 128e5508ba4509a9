#include "coordinator/raft/codec.h"
#include "coordinator/raft/store_errc.h"
#include "coordinator/raft/log_store.h"
#include "coordinator/single_voter_log.h"
#include "tests/fakes/temp_dir.h"
#include "storage/log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace trib::coordinator::raft {
namespace {

namespace fs = std::filesystem;

voter_set three_voters() {
    return {{node_id(1), "c1", 9093}, {node_id(2), "c2", 9093}, {node_id(3), "c3", 9093}};
}

topic_record topic(const std::string& name, uint8_t id) {
    topic_record r;
    r.name = name;
    r.topic_id.b[15] = id;
    return r;
}

entry data_entry(int64_t at, int64_t term, const std::vector<std::string>& topics) {
    std::vector<metadata_record> records;
    for (size_t i = 0; i < topics.size(); ++i) {
        records.push_back(topic(topics[i], uint8_t(at + int64_t(i))));
    }
    entry e;
    e.at = offset(at);
    e.count = int32_t(records.size());
    e.term = term_id(term);
    e.payload = make_batch(records, 1000);
    return e;
}

entry noop_entry(int64_t at, int64_t term) {
    entry e;
    e.at = offset(at);
    e.term = term_id(term);
    return e;
}

entry voters_entry(int64_t at, int64_t term, const voter_set& v) {
    entry e;
    e.at = offset(at);
    e.term = term_id(term);
    e.kind = entry_kind::voters;
    e.payload = encode_voters(v);
    return e;
}

// The topic names of the records of every data entry, in order.
std::vector<std::string> topic_names(bytes_view batches) {
    std::vector<std::string> out;
    auto r = for_each_record(batches, [&](offset, const metadata_record& rec) {
        out.push_back(std::get<topic_record>(rec).name);
    });
    EXPECT_TRUE(r) << r.error().message();
    return out;
}

class raft_log_store_test : public ::testing::Test {
protected:
    fs::path dir() const { return _tmp.path() / "__cluster_metadata-0"; }
    std::unique_ptr<log_store> open_store() {
        log_store::options o;
        o.configured_voters = three_voters();
        return log_store::open(dir(), o);
    }
    // [0] noop t1, [1,3) data t1, [3] voters t2, [4,7) data t2
    std::vector<entry> sample() {
        voter_set two = {{node_id(1), "c1", 9093}, {node_id(2), "c2", 9093}};
        return {noop_entry(0, 1), data_entry(1, 1, {"a", "b"}), voters_entry(3, 2, two),
                data_entry(4, 2, {"c", "d", "e"})};
    }

    // The log holding sample(), closed, and a snapshot file at `end` of `term` beside it, as
    // a crash leaves them between writing a snapshot and changing the log. Returns the state.
    bytes crash_after_snapshot_file(int64_t end, int64_t term) {
        {
            auto s = open_store();
            auto entries = sample();
            EXPECT_TRUE(s->append(entries));
        }
        bytes state = make_batch(std::vector<metadata_record>{topic("s", 9)}, 5);
        auto header = snapshot_header_batch({offset(end), term_id(term), three_voters()}, 0);
        EXPECT_TRUE(header);
        bytes file = *header;
        file.insert(file.end(), state.begin(), state.end());
        EXPECT_TRUE(write_snapshot(dir(), offset(end), file));
        return state;
    }

    fakes::temp_dir _tmp{"raft-log-store"};
};

TEST_F(raft_log_store_test, append_read_term_at_and_reopen) {
    auto entries = sample();
    {
        auto s = open_store();
        EXPECT_EQ(s->first(), offset(0));
        EXPECT_EQ(s->end(), offset(0));
        EXPECT_EQ(s->last_term(), term_id(0));
        EXPECT_EQ(s->voters(), three_voters());
        ASSERT_TRUE(s->append(std::span(entries).first(2)));
        ASSERT_TRUE(s->append(std::span(entries).subspan(2)));
        ASSERT_TRUE(s->sync());
        EXPECT_EQ(s->end(), offset(7));
        auto back = s->entries(offset(0), 1 << 20);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, entries);
        // A read from inside an entry starts with the entry holding it.
        auto mid = s->entries(offset(5), 1 << 20);
        ASSERT_TRUE(mid);
        ASSERT_EQ(mid->size(), 1u);
        EXPECT_EQ(mid->front(), entries[3]);
        EXPECT_EQ(s->voters(), *decode_voters(entries[2].payload));
    }
    auto s = open_store();
    EXPECT_EQ(s->end(), offset(7));
    auto back = s->entries(offset(0), 1 << 20);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, entries);
    std::vector<int64_t> terms;
    for (int64_t o = -1; o <= 7; ++o) {
        auto t = s->term_at(offset(o));
        terms.push_back(t ? t->value() : -9);
    }
    EXPECT_EQ(terms, (std::vector<int64_t>{0, 1, 1, 1, 2, 2, 2, 2, -9}));
    EXPECT_EQ(s->last_term(), term_id(2));
    ASSERT_EQ(s->voter_changes().size(), 1u);
    EXPECT_EQ(s->voter_changes()[0].first, offset(3));
    EXPECT_EQ(s->voters().size(), 2u);
    // The brokers' feed: raw batches up to the commit end; control batches carry no record.
    auto feed = s->read_batches(offset(0), 1 << 20, offset(3));
    ASSERT_TRUE(feed);
    EXPECT_EQ(topic_names(*feed), (std::vector<std::string>{"a", "b"}));
    auto all = s->read_batches(offset(0), 1 << 20, offset(7));
    ASSERT_TRUE(all);
    metadata_image image;
    ASSERT_TRUE(image.apply_batches(*all));
    EXPECT_NE(image.topic("e"), nullptr);
}

TEST_F(raft_log_store_test, append_refuses_what_would_break_the_log) {
    auto s = open_store();
    auto entries = sample();
    ASSERT_TRUE(s->append(std::span(entries).first(2)));
    auto gap = data_entry(4, 1, {"x"});
    EXPECT_EQ(s->append(std::span(&gap, 1)).error(), make_error_code(store_errc::not_contiguous));
    auto older = data_entry(3, 0, {"x"});
    EXPECT_EQ(s->append(std::span(&older, 1)).error(), make_error_code(store_errc::term_regressed));
    auto miscounted = data_entry(3, 1, {"x", "y"});
    miscounted.count = 3;
    EXPECT_EQ(s->append(std::span(&miscounted, 1)).error(), make_error_code(store_errc::bad_entry));
    entry garbage = noop_entry(3, 1);
    garbage.payload = {1, 2, 3};
    EXPECT_EQ(s->append(std::span(&garbage, 1)).error(), make_error_code(store_errc::bad_entry));
    // A bad entry after good ones: nothing of the call is appended.
    std::vector<entry> mixed = {data_entry(3, 1, {"x"}), garbage};
    mixed[1].at = offset(4);
    EXPECT_FALSE(s->append(mixed));
    EXPECT_EQ(s->end(), offset(3));
}

TEST_F(raft_log_store_test, truncate_drops_a_divergent_tail_durably) {
    auto entries = sample();
    {
        auto s = open_store();
        ASSERT_TRUE(s->append(entries));
        // From inside the last entry: the whole entry goes.
        ASSERT_TRUE(s->truncate(offset(5)));
        EXPECT_EQ(s->end(), offset(4));
        EXPECT_EQ(s->last_term(), term_id(2));
        // Cutting the voters entry reverts the voter set.
        ASSERT_TRUE(s->truncate(offset(3)));
        EXPECT_EQ(s->end(), offset(3));
        EXPECT_TRUE(s->voter_changes().empty());
        EXPECT_EQ(s->voters(), three_voters());
        EXPECT_EQ(s->last_term(), term_id(1));
        EXPECT_EQ(s->term_at(offset(3)), std::nullopt);
        // A new leader's entries of a later term replace them.
        auto next = data_entry(3, 3, {"z"});
        ASSERT_TRUE(s->append(std::span(&next, 1)));
        EXPECT_EQ(s->term_at(offset(3)), term_id(3));
        EXPECT_TRUE(s->truncate(offset(10)));  // past the end: nothing to do
        ASSERT_TRUE(s->sync());
    }
    auto s = open_store();
    EXPECT_EQ(s->end(), offset(4));
    EXPECT_EQ(s->term_at(offset(2)), term_id(1));
    EXPECT_EQ(s->term_at(offset(3)), term_id(3));
    auto back = s->entries(offset(1), 1 << 20);
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 2u);
    EXPECT_EQ(topic_names(back->back().payload), std::vector<std::string>{"z"});
}

TEST_F(raft_log_store_test, torn_tail_opens_at_the_last_whole_entry) {
    auto entries = sample();
    {
        auto s = open_store();
        ASSERT_TRUE(s->append(entries));
        ASSERT_TRUE(s->sync());
    }
    auto segment = dir() / "00000000000000000000.log";
    auto full = fs::file_size(segment);
    auto last = entry_to_batch(entries.back(), 0);
    ASSERT_TRUE(last);
    // Copies of the directory, each with the last batch torn at another point, as a SIGKILL
    // during the write (or a lost page) leaves it; without the clean-shutdown checkpoint.
    for (size_t cut : {size_t(1), last->size() / 2, last->size() - 1}) {
        fakes::temp_dir copy{"raft-torn"};
        auto d = copy.path() / "__cluster_metadata-0";
        fs::copy(dir(), d, fs::copy_options::recursive);
        fs::remove(d / "log.checkpoint");
        fs::resize_file(d / "00000000000000000000.log", full - cut);
        log_store::options o;
        auto s = log_store::open(d, o);
        EXPECT_EQ(s->end(), offset(4)) << "cut " << cut;
        auto back = s->entries(offset(0), 1 << 20);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, std::vector<entry>(entries.begin(), entries.end() - 1));
        EXPECT_EQ(s->last_term(), term_id(2));
        // The log goes on from there.
        auto again = data_entry(4, 3, {"f"});
        ASSERT_TRUE(s->append(std::span(&again, 1)));
        EXPECT_EQ(s->term_at(offset(4)), term_id(3));
    }
}

TEST_F(raft_log_store_test, local_snapshot_compacts_the_log_below_it) {
    auto entries = sample();
    bytes state = make_batch(std::vector<metadata_record>{topic("a", 1), topic("b", 2)}, 5);
    snapshot_meta meta{offset(3), term_id(1), three_voters()};
    {
        auto s = open_store();
        ASSERT_TRUE(s->append(entries));
        EXPECT_FALSE(s->has_snapshot());
        EXPECT_EQ(s->snapshot(), snapshot_meta{});
        // The meta must match the log.
        EXPECT_EQ(s->save_snapshot({offset(3), term_id(2), three_voters()}, state).error(),
                  make_error_code(store_errc::snapshot_mismatch));
        EXPECT_EQ(s->save_snapshot({offset(8), term_id(2), three_voters()}, state).error(),
                  make_error_code(store_errc::snapshot_mismatch));
        EXPECT_EQ(s->save_snapshot(meta, bytes{0, 0, 0, 9}).error(), make_error_code(store_errc::bad_entry));
        EXPECT_GT(s->bytes_since_snapshot(), 0u);
        ASSERT_TRUE(s->save_snapshot(meta, state));
        // The snapshot policy counts from here, though the segment below it stays (it is not whole).
        EXPECT_EQ(s->bytes_since_snapshot(), 0u);
        EXPECT_EQ(s->save_snapshot(meta, state).error(), make_error_code(store_errc::stale_snapshot));
        EXPECT_EQ(s->first(), offset(3));
        EXPECT_EQ(s->snapshot(), meta);
        EXPECT_EQ(s->term_at(offset(2)), term_id(1));  // the snapshot's
        EXPECT_EQ(s->term_at(offset(1)), std::nullopt);
        EXPECT_EQ(s->entries(offset(1), 100).error(), make_error_code(store_errc::below_log_start));
        EXPECT_EQ(s->truncate(offset(2)).error(), make_error_code(store_errc::below_log_start));
        EXPECT_EQ(s->snapshot_size(), state.size());
        auto chunk = s->snapshot_chunk(4, 10);
        ASSERT_TRUE(chunk);
        EXPECT_EQ(*chunk, bytes(state.begin() + 4, state.begin() + 14));
        auto tail = s->snapshot_chunk(state.size(), 10);
        ASSERT_TRUE(tail);
        EXPECT_TRUE(tail->empty());
        EXPECT_EQ(s->snapshot_chunk(state.size() + 1, 10).error(), make_error_code(store_errc::beyond_log_end));
        // The voters entry at 3 is above the snapshot: still in force.
        EXPECT_EQ(s->voter_changes().size(), 1u);
    }
    auto s = open_store();
    EXPECT_EQ(s->first(), offset(3));
    EXPECT_EQ(s->end(), offset(7));
    ASSERT_TRUE(s->has_snapshot());
    EXPECT_EQ(s->snapshot(), meta);
    EXPECT_EQ(s->snapshot_data(), state);
    auto back = s->entries(offset(3), 1 << 20);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, std::vector<entry>(entries.begin() + 2, entries.end()));
    // The snapshot file is what single-voter code reads too: its records are the state.
    auto file = read_latest_snapshot(dir());
    ASSERT_TRUE(file);
    EXPECT_EQ(file->first, offset(3));
    EXPECT_EQ(topic_names(file->second), (std::vector<std::string>{"a", "b"}));
}

TEST_F(raft_log_store_test, interrupted_save_is_finished_at_open) {
    auto entries = sample();
    // The entry ending at the snapshot's end has its term: the log holds its history, and
    // only the entries the snapshot covers go.
    crash_after_snapshot_file(4, 2);
    auto s = open_store();
    EXPECT_EQ(s->first(), offset(4));
    EXPECT_EQ(s->end(), offset(7));
    EXPECT_EQ(s->term_at(offset(3)), term_id(2));
    auto back = s->entries(offset(4), 1 << 20);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, std::vector<entry>(entries.begin() + 3, entries.end()));
}

TEST_F(raft_log_store_test, installed_snapshot_replaces_the_whole_log) {
    auto entries = sample();
    bytes state = make_batch(std::vector<metadata_record>{topic("s", 9)}, 5);
    snapshot_meta meta{offset(5), term_id(4), {{node_id(1), "c1", 9093}}};
    {
        auto s = open_store();
        ASSERT_TRUE(s->append(entries));
        EXPECT_EQ(s->install_snapshot(meta, bytes{1, 2, 3}).error(), make_error_code(store_errc::bad_entry));
        EXPECT_EQ(s->end(), offset(7));
        // Even entries above the snapshot's end go: they may be another leader's.
        ASSERT_TRUE(s->install_snapshot(meta, state));
        EXPECT_EQ(s->first(), offset(5));
        EXPECT_EQ(s->end(), offset(5));
        EXPECT_EQ(s->last_term(), term_id(4));
        EXPECT_EQ(s->term_at(offset(4)), term_id(4));
        EXPECT_TRUE(s->voter_changes().empty());
        EXPECT_EQ(s->voters(), meta.voters);
        EXPECT_EQ(s->install_snapshot(meta, state).error(), make_error_code(store_errc::stale_snapshot));
        auto next = data_entry(5, 4, {"t"});
        ASSERT_TRUE(s->append(std::span(&next, 1)));
        ASSERT_TRUE(s->sync());
    }
    auto s = open_store();
    EXPECT_EQ(s->first(), offset(5));
    EXPECT_EQ(s->end(), offset(6));
    EXPECT_EQ(s->snapshot(), meta);
    EXPECT_EQ(s->snapshot_data(), state);
    EXPECT_EQ(s->voters(), meta.voters);
    EXPECT_EQ(s->term_at(offset(4)), term_id(4));
}

TEST_F(raft_log_store_test, interrupted_install_is_finished_at_open) {
    // The entry ending at the snapshot's end has another term: the log's history is not the
    // snapshot's, so the log restarts at its end.
    bytes state = crash_after_snapshot_file(4, 3);
    {
        auto s = open_store();
        EXPECT_EQ(s->first(), offset(4));
        EXPECT_EQ(s->end(), offset(4));
        EXPECT_EQ(s->last_term(), term_id(3));
        EXPECT_EQ(s->snapshot_data(), state);
    }
    auto s = open_store();  // and stays so
    EXPECT_EQ(s->first(), offset(4));
    EXPECT_EQ(s->end(), offset(4));
}

TEST_F(raft_log_store_test, interrupted_install_beyond_the_log_end_is_finished_at_open) {
    crash_after_snapshot_file(40, 5);
    auto s = open_store();
    EXPECT_EQ(s->first(), offset(40));
    EXPECT_EQ(s->end(), offset(40));
    EXPECT_EQ(s->last_term(), term_id(5));
    EXPECT_TRUE(s->voter_changes().empty());
}

TEST_F(raft_log_store_test, a_log_that_lost_entries_refuses_to_open) {
    {
        storage::log_config cfg;
        auto log = storage::log::open(dir(), cfg);
        ASSERT_TRUE(log);
        ASSERT_TRUE((*log)->truncate_fully_and_start_at(offset(10)));
        (*log)->close();
    }
    try {
        open_store();
        FAIL() << "opened a log starting at 10 without a snapshot";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("no snapshot"), std::string::npos) << e.what();
    }
}

// A state machine that keeps the image, as the controller does.
struct image_machine : state_machine {
    metadata_image image;
    void apply(offset at, const metadata_record& r) override { ASSERT_TRUE(image.apply(at, r)); }
    void restore(const metadata_image& i) override { image = i; }
};

TEST_F(raft_log_store_test, opens_a_single_voter_log_written_before_raft) {
    bytes old_snapshot;
    {
        image_machine sm;
        auto old = single_voter_log::open(dir(), {}, sm);
        auto append = [&](std::vector<metadata_record> records) {
            bool done = false;
            old->append(records, [&](result<offset> r) { done = bool(r); });
            ASSERT_TRUE(done);
        };
        append({topic("a", 1), topic("b", 2)});
        append({topic("c", 3)});
        ASSERT_TRUE(old->snapshot(sm.image));  // at 3, the log start moves there
        old_snapshot = *old->latest_snapshot()->batches;
        append({topic("d", 4), topic("e", 5)});
        old->close();
    }
    auto s = open_store();
    EXPECT_EQ(s->first(), offset(3));
    EXPECT_EQ(s->end(), offset(5));
    ASSERT_TRUE(s->has_snapshot());
    EXPECT_EQ(s->snapshot(), (snapshot_meta{offset(3), term_id(0), three_voters()}));
    EXPECT_EQ(s->snapshot_data(), old_snapshot);
    EXPECT_EQ(s->last_term(), term_id(0));
    EXPECT_EQ(s->term_at(offset(2)), term_id(0));
    auto back = s->entries(offset(3), 1 << 20);
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ(back->front().kind, entry_kind::data);
    EXPECT_EQ(back->front().term, term_id(0));
    EXPECT_EQ(back->front().count, 2);
    EXPECT_EQ(topic_names(back->front().payload), (std::vector<std::string>{"d", "e"}));
    // The first Raft leader goes on after it.
    auto next = noop_entry(5, 1);
    ASSERT_TRUE(s->append(std::span(&next, 1)));
    EXPECT_EQ(s->term_at(offset(4)), term_id(0));
    EXPECT_EQ(s->term_at(offset(5)), term_id(1));
}

} // namespace
} // namespace trib::coordinator::raft
