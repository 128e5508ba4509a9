#include "broker/fetch_session.h"
#include "broker/replication/fetcher.h"

#include <gtest/gtest.h>

#include <climits>
#include <random>
#include <set>

namespace trib::broker {
namespace {

using protocol::error_code;

constexpr int64_t evict_ms = 120000;

session_fetch part(const std::string& topic, int32_t p, int64_t offset = 0, int32_t max_bytes = 1024) {
    session_fetch f;
    f.key = {{}, topic, p};
    f.fetch_offset = offset;
    f.max_bytes = max_bytes;
    return f;
}

session_read read(int64_t hw, size_t bytes = 0, int16_t err = 0, int64_t log_start = 0) {
    session_read r;
    r.error_code = err;
    r.high_watermark = err != 0 ? -1 : hw;
    r.last_stable_offset = err != 0 ? -1 : hw;
    r.log_start_offset = err != 0 ? -1 : log_start;
    r.bytes = bytes;
    return r;
}

std::vector<std::string> names(const std::vector<session_fetch>& parts) {
    std::vector<std::string> out;
    for (const auto& p : parts) {
        out.push_back(p.key.topic + "-" + std::to_string(p.key.partition));
    }
    return out;
}

struct fetch_session_test : ::testing::Test {
    fetch_session_cache cache{10, evict_ms, 0, INT32_MAX, nullptr, 42};

    // A full fetch of `parts` answered with `reads`: the new session's id.
    int32_t open(std::vector<session_fetch> parts, std::vector<session_read> reads, int64_t now = 0,
                 bool privileged = false) {
        return open_session(cache, now, privileged, false, parts, reads);
    }
};

TEST_F(fetch_session_test, full_fetch_opens_a_session_at_epoch_one) {
    int32_t id = open({part("a", 0), part("a", 1)}, {read(10), read(20)});
    ASSERT_NE(id, 0);
    auto* s = cache.find(id);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->epoch(), 1);
    EXPECT_EQ(names(s->partitions()), (std::vector<std::string>{"a-0", "a-1"}));
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.partitions(), 2u);
}

TEST_F(fetch_session_test, incremental_fetch_answers_only_partitions_that_changed) {
    std::vector<session_fetch> parts{part("a", 0), part("a", 1), part("b", 0)};
    int32_t id = open(parts, {read(10), read(20), read(30)});
    // Nothing new anywhere: an empty answer.
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    ASSERT_EQ(b.error, error_code::none);
    EXPECT_EQ(b.epoch, 2);
    ASSERT_EQ(b.parts.size(), 3u);
    auto send = select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10), read(20), read(30)});
    EXPECT_EQ(send, (std::vector<bool>{false, false, false}));
    // a-1's high watermark moved, b-0 has records: those two.
    b = begin_incremental(cache, id, 2, false, false, {}, {}, 2);
    ASSERT_EQ(b.error, error_code::none);
    send = select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10), read(21), read(30, 100)});
    EXPECT_EQ(send, (std::vector<bool>{false, true, true}));
    // What was sent is remembered: the same state again is nothing new.
    b = begin_incremental(cache, id, 3, false, false, {}, {}, 3);
    ASSERT_EQ(b.error, error_code::none);
    auto reads = std::vector{read(10), read(21), read(30)};
    send = select_incremental(cache, id, b.epoch, b.parts, reads);
    EXPECT_EQ(send, (std::vector<bool>{false, false, false}));
}

TEST_F(fetch_session_test, log_start_and_last_stable_offset_changes_are_sent) {
    int32_t id = open({part("a", 0), part("a", 1)}, {read(10), read(10)});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    auto moved_start = read(10, 0, 0, 5);
    auto moved_lso = read(10);
    moved_lso.last_stable_offset = 8;
    auto send = select_incremental(cache, id, b.epoch, b.parts, std::vector{moved_start, moved_lso});
    EXPECT_EQ(send, (std::vector<bool>{true, true}));
}

TEST_F(fetch_session_test, marks_are_kept_until_a_request_names_the_partition_and_unread_ones_are_not_sent) {
    auto news = std::make_shared<partition_news>();
    auto settled = read(10);
    settled.mark = {news, 7, true};
    int32_t id = open({part("a", 0), part("a", 1)}, {settled, settled});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    ASSERT_EQ(b.marks.size(), 2u);
    EXPECT_TRUE(b.marks[0].settled && b.marks[1].settled);
    EXPECT_EQ(b.marks[0].stamp, 7u);
    // Left out of this fetch's reads: not sent, even though its high watermark would differ,
    // and its mark and what was last sent stay.
    session_read unread = read(99);
    unread.read = false;
    auto moved = read(12);
    moved.mark = {news, 8, true};
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{unread, moved}),
              (std::vector<bool>{false, true}));
    // Named by the next request (its fetch offset may have moved): its mark goes.
    b = begin_incremental(cache, id, 2, false, false, std::vector{part("a", 1, 4)}, {}, 2);
    EXPECT_TRUE(b.marks[0].settled);
    EXPECT_EQ(b.marks[0].stamp, 7u);
    EXPECT_FALSE(b.marks[1].settled) << "a named partition is read whatever its mark";
    // The one left out was not recorded as sent: read with the old values, nothing new.
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10), unread}),
              (std::vector<bool>{false, false}));
}

TEST_F(fetch_session_test, a_mark_holds_while_its_stamp_does) {
    auto news = std::make_shared<partition_news>();
    using reader = partition_news::reader;
    partition_mark m{news, news->stamp(reader::consumer), true};
    EXPECT_TRUE(m.unchanged(reader::consumer));
    news->bump(/*visible=*/false);
    EXPECT_TRUE(m.unchanged(reader::consumer)) << "an append below nothing a consumer reads";
    news->bump();
    EXPECT_FALSE(m.unchanged(reader::consumer));
    EXPECT_FALSE((partition_mark{news, news->stamp(reader::consumer), false}.unchanged(reader::consumer)))
        << "a read that did not reach the end is read again";
}

// A read that found nothing more in the partition (settled) at its current stamp.
session_read settled(const std::shared_ptr<partition_news>& news, int64_t hw,
                     partition_news::reader r = partition_news::reader::consumer) {
    auto x = read(hw);
    x.mark = {news, news->stamp(r), true};
    return x;
}

TEST_F(fetch_session_test, quiet_partitions_are_left_out_until_their_news_posts_them) {
    std::vector<std::shared_ptr<partition_news>> news;
    for (int i = 0; i < 3; ++i) {
        news.push_back(std::make_shared<partition_news>());
    }
    int32_t id = open({part("a", 0), part("a", 1), part("a", 2)},
                      {settled(news[0], 10), settled(news[1], 10), settled(news[2], 10)});
    auto* s = cache.find(id);
    EXPECT_EQ(s->quiet(), 3u);
    EXPECT_EQ(s->size(), 3u);
    EXPECT_EQ(news[1]->subscribers(), 1u);
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    ASSERT_EQ(b.error, error_code::none);
    EXPECT_TRUE(b.parts.empty()) << "nothing changed: nothing to read";
    ASSERT_TRUE(b.inbox);
    EXPECT_FALSE(b.inbox->pending());
    select_incremental(cache, id, b.epoch, b.parts, std::vector<session_read>{});
    news[1]->bump();
    EXPECT_TRUE(b.inbox->pending());
    b = begin_incremental(cache, id, 2, false, false, {}, {}, 2);
    EXPECT_EQ(names(b.parts), std::vector<std::string>{"a-1"});
    EXPECT_FALSE(b.marks[0].unchanged(partition_news::reader::consumer)) << "so the fetch reads it";
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{settled(news[1], 11)}),
              std::vector<bool>{true});
    EXPECT_EQ(s->quiet(), 3u) << "read to its end again: set aside again";
    b = begin_incremental(cache, id, 3, false, false, {}, {}, 3);
    EXPECT_TRUE(b.parts.empty());
}

TEST_F(fetch_session_test, a_change_between_the_read_and_the_answer_keeps_the_partition_active) {
    auto news = std::make_shared<partition_news>();
    auto r = settled(news, 10);
    news->bump();  // after the read, before the session subscribes
    int32_t id = open({part("a", 0)}, {r});
    EXPECT_EQ(cache.find(id)->quiet(), 0u);
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    EXPECT_EQ(names(b.parts), std::vector<std::string>{"a-0"});
}

TEST_F(fetch_session_test, a_quiet_partition_the_request_names_is_read) {
    auto news = std::make_shared<partition_news>();
    int32_t id = open({part("a", 0), part("a", 1)}, {settled(news, 10), read(10)});
    auto b = begin_incremental(cache, id, 1, false, false, std::vector{part("a", 0, 4)}, {}, 1);
    EXPECT_EQ(names(b.parts), (std::vector<std::string>{"a-1", "a-0"}));
    EXPECT_FALSE(b.marks[1].settled);
    EXPECT_EQ(b.parts[1].fetch_offset, 4);
}

TEST_F(fetch_session_test, forgetting_a_partition_or_closing_the_session_drops_its_subscription) {
    auto a = std::make_shared<partition_news>();
    auto b = std::make_shared<partition_news>();
    int32_t id = open({part("a", 0), part("b", 0)}, {settled(a, 1), settled(b, 1)});
    EXPECT_EQ(a->subscribers(), 1u);
    std::vector<session_key> gone{{{}, "a", 0}};
    auto begun = begin_incremental(cache, id, 1, false, false, {}, gone, 1);
    EXPECT_EQ(a->subscribers(), 0u);
    EXPECT_EQ(b->subscribers(), 1u);
    a->bump();
    EXPECT_FALSE(begun.inbox->pending());
    EXPECT_TRUE(cache.remove(id));
    EXPECT_EQ(b->subscribers(), 0u);
}

TEST_F(fetch_session_test, a_consumer_session_hears_of_visible_changes_and_a_follower_session_of_appends_too) {
    using reader = partition_news::reader;
    auto news = std::make_shared<partition_news>();
    int32_t consumer = open({part("a", 0)}, {settled(news, 10)});
    int32_t follower = open({part("a", 0)}, {settled(news, 10, reader::follower)}, 0, /*privileged=*/true);
    EXPECT_EQ(cache.find(consumer)->quiet(), 1u);
    EXPECT_EQ(cache.find(follower)->quiet(), 1u);
    news->bump(/*visible=*/false);  // a leader's append: the high watermark stays
    EXPECT_TRUE(begin_incremental(cache, consumer, 1, false, false, {}, {}, 1).parts.empty());
    EXPECT_EQ(begin_incremental(cache, follower, 1, true, false, {}, {}, 1).parts.size(), 1u);
}

TEST_F(fetch_session_test, news_that_comes_while_a_fetch_waits_is_taken_up_by_it) {
    auto news = std::make_shared<partition_news>();
    int32_t id = open({part("a", 0)}, {settled(news, 10)});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    EXPECT_TRUE(b.parts.empty());
    auto none = take_posted(cache, id, b.epoch);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->first.empty());
    news->bump();
    auto more = take_posted(cache, id, b.epoch);
    ASSERT_TRUE(more);
    EXPECT_EQ(names(more->first), std::vector<std::string>{"a-0"});
    EXPECT_FALSE(b.inbox->pending());
    EXPECT_FALSE(take_posted(cache, id, b.epoch + 1)) << "another fetch took the session over";
    EXPECT_FALSE(take_posted(cache, id + 1, b.epoch)) << "no such session";
}

// What an incremental fetch touches grows with what changed, not with the session: 1,000
// idle partitions beside one busy one.
TEST_F(fetch_session_test, an_incremental_fetch_takes_only_the_active_partitions_of_a_large_session) {
    constexpr int idle = 1000;
    std::vector<std::shared_ptr<partition_news>> news;
    std::vector<session_fetch> parts;
    std::vector<session_read> reads;
    for (int i = 0; i < idle; ++i) {
        news.push_back(std::make_shared<partition_news>());
        parts.push_back(part("idle", i));
        reads.push_back(settled(news.back(), 5));
    }
    auto busy = std::make_shared<partition_news>();
    parts.push_back(part("busy", 0));
    reads.push_back(read(100, 4096));  // records: not read to its end
    int32_t id = open(parts, reads);
    EXPECT_EQ(cache.find(id)->quiet(), size_t(idle));
    int32_t epoch = 1;
    for (int round = 0; round < 5; ++round) {
        auto b = begin_incremental(cache, id, epoch, false, false, {}, {}, round);
        ASSERT_EQ(b.error, error_code::none);
        EXPECT_EQ(names(b.parts), std::vector<std::string>{"busy-0"}) << "round " << round;
        select_incremental(cache, id, b.epoch, b.parts, std::vector{read(100 + round, 4096)});
        epoch = b.epoch;
    }
    news[500]->bump();
    auto b = begin_incremental(cache, id, epoch, false, false, {}, {}, 9);
    EXPECT_EQ(names(b.parts), (std::vector<std::string>{"busy-0", "idle-500"}));
    EXPECT_EQ(cache.partitions(), size_t(idle) + 1) << "the cache still counts every partition";
}

TEST_F(fetch_session_test, errors_are_always_sent_and_the_partition_again_once_they_clear) {
    int32_t id = open({part("a", 0)}, {read(10)});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    auto err = read(0, 0, int16_t(error_code::not_leader_or_follower));
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{err}), std::vector<bool>{true});
    b = begin_incremental(cache, id, 2, false, false, {}, {}, 2);
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{err}), std::vector<bool>{true});
    // The error is gone, the offsets are those sent before it: sent all the same.
    b = begin_incremental(cache, id, 3, false, false, {}, {}, 3);
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10)}), std::vector<bool>{true});
    // A diverging epoch is sent too.
    b = begin_incremental(cache, id, 4, false, false, {}, {}, 4);
    auto div = read(10);
    div.diverging = true;
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{div}), std::vector<bool>{true});
}

TEST_F(fetch_session_test, incremental_fetch_adds_updates_and_forgets_partitions) {
    int32_t id = open({part("a", 0, 5), part("a", 1, 7)}, {read(10), read(10)});
    std::vector<session_fetch> changed{part("a", 1, 9, 2048), part("b", 0, 3)};
    std::vector<session_key> gone{{{}, "a", 0}, {{}, "nope", 4}};
    auto b = begin_incremental(cache, id, 1, false, false, changed, gone, 1);
    ASSERT_EQ(b.error, error_code::none);
    EXPECT_EQ(names(b.parts), (std::vector<std::string>{"a-1", "b-0"}));
    EXPECT_EQ(b.parts[0].fetch_offset, 9);  // updated
    EXPECT_EQ(b.parts[0].max_bytes, 2048);
    EXPECT_EQ(b.parts[1].fetch_offset, 3);  // added
    EXPECT_EQ(cache.partitions(), 2u);
    // The added partition has sent nothing yet: it is in the next answer.
    auto send = select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10), read(0)});
    EXPECT_EQ(send, (std::vector<bool>{false, true}));
    // Not named again: the session keeps its last fetch offset.
    b = begin_incremental(cache, id, 2, false, false, {}, {}, 2);
    EXPECT_EQ(b.parts[0].fetch_offset, 9);
}

TEST_F(fetch_session_test, partitions_with_records_move_to_the_end) {
    int32_t id = open({part("a", 0), part("a", 1), part("a", 2)}, {read(10), read(10), read(10)});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    select_incremental(cache, id, b.epoch, b.parts, std::vector{read(20, 100), read(10), read(10)});
    b = begin_incremental(cache, id, 2, false, false, {}, {}, 2);
    EXPECT_EQ(names(b.parts), (std::vector<std::string>{"a-1", "a-2", "a-0"}));
}

TEST_F(fetch_session_test, unknown_session_and_wrong_epoch_are_errors) {
    int32_t id = open({part("a", 0)}, {read(10)});
    EXPECT_EQ(begin_incremental(cache, id + 1, 1, false, false, {}, {}, 1).error, error_code::fetch_session_id_not_found);
    EXPECT_EQ(begin_incremental(cache, id, 2, false, false, {}, {}, 1).error, error_code::invalid_fetch_session_epoch);
    // A refused fetch leaves the epoch where it was.
    EXPECT_EQ(begin_incremental(cache, id, 1, false, false, {}, {}, 1).error, error_code::none);
    // The same epoch twice (a retried request) is refused: the session moved on.
    EXPECT_EQ(begin_incremental(cache, id, 1, false, false, {}, {}, 1).error, error_code::invalid_fetch_session_epoch);
    EXPECT_EQ(begin_incremental(cache, id, 2, false, false, {}, {}, 1).error, error_code::none);
}

TEST_F(fetch_session_test, topic_id_kind_must_match_the_session) {
    int32_t id = open({part("a", 0)}, {read(10)});
    EXPECT_EQ(begin_incremental(cache, id, 1, false, true, {}, {}, 1).error, error_code::fetch_session_topic_id_error);
    int32_t with_ids = open_session(cache, 0, false, true, std::vector{part("b", 0)}, std::vector{read(1)});
    EXPECT_EQ(begin_incremental(cache, with_ids, 1, false, false, {}, {}, 1).error,
              error_code::fetch_session_topic_id_error);
    EXPECT_EQ(begin_incremental(cache, with_ids, 1, false, true, {}, {}, 1).error, error_code::none);
}

TEST_F(fetch_session_test, a_session_answers_only_the_kind_of_reader_that_opened_it) {
    // A follower's quiet partitions hear of every append, a consumer's of visible changes
    // only: a follower fetching in a consumer's session would miss appends.
    using reader = partition_news::reader;
    auto news = std::make_shared<partition_news>();
    int32_t consumer = open({part("a", 0)}, {settled(news, 10)});
    int32_t follower = open({part("a", 0)}, {settled(news, 10, reader::follower)}, 0, /*privileged=*/true);
    news->bump(/*visible=*/false);
    EXPECT_EQ(begin_incremental(cache, consumer, 1, true, false, {}, {}, 1).error,
              error_code::fetch_session_id_not_found);
    EXPECT_EQ(begin_incremental(cache, follower, 1, false, false, {}, {}, 1).error,
              error_code::fetch_session_id_not_found);
    // Refused, each session is where it was, for the reader that opened it.
    EXPECT_EQ(begin_incremental(cache, consumer, 1, false, false, {}, {}, 1).error, error_code::none);
    auto b = begin_incremental(cache, follower, 1, true, false, {}, {}, 1);
    EXPECT_EQ(b.error, error_code::none);
    EXPECT_EQ(names(b.parts), (std::vector<std::string>{"a-0"}));
}

TEST_F(fetch_session_test, forgetting_every_partition_closes_the_session) {
    int32_t id = open({part("a", 0)}, {read(10)});
    std::vector<session_key> gone{{{}, "a", 0}};
    auto b = begin_incremental(cache, id, 1, false, false, {}, gone, 1);
    EXPECT_EQ(b.error, error_code::none);
    EXPECT_TRUE(b.closed);
    EXPECT_EQ(cache.find(id), nullptr);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.partitions(), 0u);
}

TEST_F(fetch_session_test, epochs_wrap_to_one) {
    EXPECT_EQ(fetch_session_ids::next_epoch(0), 1);
    EXPECT_EQ(fetch_session_ids::next_epoch(INT32_MAX), 1);
    EXPECT_EQ(fetch_session_ids::next_epoch(-1), -1);
}

// A session of `n` partitions of `topic` opened in `c` at `now`: its id, 0 when refused.
int32_t open_n(fetch_session_cache& c, int64_t now, bool privileged, const std::string& topic, int n) {
    std::vector<session_fetch> parts;
    std::vector<session_read> reads;
    for (int i = 0; i < n; ++i) {
        parts.push_back(part(topic, i));
        reads.push_back(read(0));
    }
    return open_session(c, now, privileged, false, parts, reads);
}

TEST(fetch_session_eviction, a_full_cache_refuses_a_session_while_every_one_is_young_and_as_valuable) {
    fetch_session_cache small(2, evict_ms, 0, INT32_MAX, nullptr, 1);
    EXPECT_NE(open_n(small, 0, false, "a", 1), 0);
    EXPECT_NE(open_n(small, 0, false, "a", 1), 0);
    EXPECT_EQ(open_n(small, 1, false, "a", 1), 0);
    EXPECT_EQ(small.size(), 2u);
    EXPECT_EQ(small.evictions(), 0u);
}

TEST(fetch_session_eviction, a_session_idle_past_the_eviction_time_makes_room) {
    fetch_session_cache small(2, evict_ms, 0, INT32_MAX, nullptr, 1);
    int32_t old = open_n(small, 0, true, "a", 1);  // a follower's, even
    int32_t used = open_n(small, 0, false, "a", 1);
    small.touch(*small.find(used), 100000);
    EXPECT_NE(open_n(small, 130000, false, "a", 1), 0);
    EXPECT_EQ(small.find(old), nullptr);  // the least recently used went
    EXPECT_NE(small.find(used), nullptr);
    EXPECT_EQ(small.evictions(), 1u);
}

TEST(fetch_session_eviction, a_follower_evicts_a_young_consumer_session) {
    fetch_session_cache small(1, evict_ms, 0, INT32_MAX, nullptr, 1);
    int32_t consumer = open_n(small, 0, false, "a", 2);
    // Another consumer may not take a young session's slot, even with more partitions...
    EXPECT_EQ(open_n(small, 10, false, "b", 3), 0);
    // ...a follower may, even with fewer.
    int32_t follower = open_n(small, 10, true, "c", 1);
    EXPECT_NE(follower, 0);
    EXPECT_EQ(small.find(consumer), nullptr);
    // And no one takes a young follower's session.
    EXPECT_EQ(open_n(small, 20, true, "b", 3), 0);
    EXPECT_NE(small.find(follower), nullptr);
    EXPECT_EQ(small.evictions(), 1u);
}

TEST(fetch_session_eviction, an_old_session_goes_for_a_more_valuable_one) {
    fetch_session_cache small(1, evict_ms, 0, INT32_MAX, nullptr, 1);
    int32_t first = open_n(small, 0, false, "a", 2);
    // Used recently, but created long ago: evictable by anyone, by value.
    small.touch(*small.find(first), 200000);
    EXPECT_EQ(open_n(small, 200001, false, "b", 1), 0);  // worth less
    EXPECT_NE(open_n(small, 200002, false, "b", 3), 0);
    EXPECT_EQ(small.find(first), nullptr);
}

TEST(fetch_session_eviction, no_slots_no_sessions) {
    fetch_session_cache none(0, evict_ms, 0, INT32_MAX, nullptr, 1);
    EXPECT_EQ(open_n(none, 0, true, "a", 1), 0);
}

TEST_F(fetch_session_test, a_session_evicted_during_a_fetch_answers_every_partition) {
    int32_t id = open({part("a", 0), part("a", 1)}, {read(10), read(10)});
    auto b = begin_incremental(cache, id, 1, false, false, {}, {}, 1);
    cache.remove(id);
    EXPECT_EQ(select_incremental(cache, id, b.epoch, b.parts, std::vector{read(10), read(10)}),
              (std::vector<bool>{true, true}));
}

TEST(fetch_sessions, ids_name_their_core) {
    prometheus::Registry reg;
    fetch_sessions all(3, 15, evict_ms, reg);
    for (size_t core = 0; core < 3; ++core) {
        for (int i = 0; i < 5; ++i) {
            auto* s = all.on(core).create(0, false, false, std::vector{part("a", i)});
            ASSERT_NE(s, nullptr);
            EXPECT_EQ(all.core_of(s->id()), core);
        }
    }
    EXPECT_EQ(all.core_of(0), std::nullopt);
    EXPECT_EQ(all.core_of(-5), std::nullopt);
    EXPECT_EQ(all.core_of(INT32_MAX), std::nullopt);  // past the last core's range
}

TEST(fetch_sessions, slots_split_between_cores_and_metrics_count_sessions) {
    prometheus::Registry reg;
    fetch_sessions all(2, 3, evict_ms, reg);
    auto one = std::vector{part("a", 0), part("a", 1)};
    EXPECT_NE(all.on(0).create(0, false, false, one), nullptr);
    EXPECT_NE(all.on(0).create(0, false, false, one), nullptr);
    EXPECT_EQ(all.on(0).create(0, false, false, one), nullptr);  // core 0 has 2 of the 3
    auto* s = all.on(1).create(0, false, false, one);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(all.on(1).create(0, false, false, one), nullptr);
    EXPECT_EQ(all.metrics().sessions->Value(), 3);
    EXPECT_EQ(all.metrics().partitions->Value(), 6);
    all.on(1).remove(s->id());
    EXPECT_EQ(all.metrics().sessions->Value(), 2);
    EXPECT_EQ(all.metrics().partitions->Value(), 4);
    // A young consumer's session goes for a follower's: counted as an eviction.
    EXPECT_NE(all.on(0).create(1, true, false, one), nullptr);
    EXPECT_EQ(all.metrics().evictions->Value(), 1);
    EXPECT_EQ(all.metrics().sessions->Value(), 2);
}


// A seeded run of random creates, removals and incremental fetches: the cache's counts agree
// with its sessions, it never holds more than its slots, ids stay in their range, and every
// session that vanished without a removal was counted as an eviction.
TEST(fetch_session_cache, random_operations_keep_the_books) {
    std::mt19937 rng(7);
    fetch_session_cache c(8, 1000, 5000, 1000, nullptr, 3);
    std::set<int32_t> live;
    uint64_t vanished = 0;
    int64_t now = 0;
    auto some_parts = [&rng] {
        std::vector<session_fetch> out;
        for (uint32_t n = rng() % 4; n > 0; --n) {
            out.push_back(part(std::string(1, char('a' + rng() % 3)), int32_t(rng() % 4), rng() % 100));
        }
        return out;
    };
    for (int step = 0; step < 5000; ++step) {
        now += rng() % 60;
        auto pick = [&]() -> int32_t {
            if (live.empty()) {
                return 1;
            }
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            return *it;
        };
        switch (rng() % 4) {
        case 0: {
            auto parts = some_parts();
            if (auto* s = c.create(now, rng() % 2 == 0, false, parts)) {
                EXPECT_GE(s->id(), 5000);
                EXPECT_LT(s->id(), 6000);
                EXPECT_FALSE(live.contains(s->id()));
                live.insert(s->id());
            }
            break;
        }
        case 1:
            if (int32_t id = pick(); c.remove(id)) {
                live.erase(id);
            }
            break;
        default: {
            int32_t id = pick();
            auto* s = c.find(id);
            int32_t epoch = s ? s->epoch() + int32_t(rng() % 3 == 0) : 1;
            auto adds = some_parts();
            std::vector<session_key> gone;
            for (const auto& f : some_parts()) {
                gone.push_back(f.key);
            }
            bool privileged = s && s->privileged();  // a session's own kind of reader
            auto b = begin_incremental(c, id, epoch, privileged, false, adds, gone, now);
            if (!s) {
                EXPECT_EQ(b.error, error_code::fetch_session_id_not_found);
            } else if (b.error == error_code::none && b.closed) {
                live.erase(id);
            } else if (b.error == error_code::none) {
                std::vector<session_read> reads(b.parts.size(), read(int64_t(rng() % 5), rng() % 2));
                select_incremental(c, id, b.epoch, b.parts, reads);
            } else {
                EXPECT_EQ(b.error, error_code::invalid_fetch_session_epoch);
            }
        }
        }
        size_t parts = 0;
        for (auto it = live.begin(); it != live.end();) {
            if (auto* s = c.find(*it)) {
                parts += s->size();
                ++it;
            } else {
                ++vanished;
                it = live.erase(it);
            }
        }
        ASSERT_EQ(c.size(), live.size());
        ASSERT_LE(c.size(), 8u);
        ASSERT_EQ(c.partitions(), parts);
        ASSERT_EQ(c.evictions(), vanished);
    }
    EXPECT_GT(vanished, 0u);  // the run did exercise eviction
}

// The replica fetcher's side (Kafka's FetchSessionHandler).
using wanted = fetch_session_handler::wanted;

std::vector<std::string> requested(const protocol::fetch_request& req) {
    std::vector<std::string> out;
    for (const auto& t : req.topics) {
        for (const auto& p : t.partitions) {
            out.push_back(t.topic + "-" + std::to_string(p.partition) + "@" + std::to_string(p.fetch_offset));
        }
    }
    return out;
}

std::vector<std::string> forgotten(const protocol::fetch_request& req) {
    std::vector<std::string> out;
    for (const auto& t : req.forgotten_topics_data) {
        for (int32_t p : t.partitions) {
            out.push_back(t.topic + "-" + std::to_string(p));
        }
    }
    return out;
}

protocol::fetch_response answer(int32_t session_id, std::vector<topic_partition> parts = {}, int16_t error = 0) {
    protocol::fetch_response r;
    r.session_id = session_id;
    r.error_code = error;
    for (const auto& tp : parts) {
        if (r.responses.empty() || r.responses.back().topic != tp.topic) {
            r.responses.emplace_back().topic = tp.topic;
        }
        r.responses.back().partitions.emplace_back().partition_index = tp.partition;
    }
    return r;
}

// Every partition of `next` and of `also`, sorted: what may have changed.
std::vector<topic_partition> keys(const fetch_session_handler::partitions& next,
                                  std::initializer_list<topic_partition> also = {}) {
    std::set<topic_partition> out(also);
    for (const auto& [tp, w] : next) {
        out.insert(tp);
    }
    return {out.begin(), out.end()};
}

TEST(fetch_session_handler, full_fetch_then_only_changed_partitions) {
    fetch_session_handler h;
    fetch_session_handler::partitions next{{{"a", 0}, wanted{5, 1, 1, 100}}, {{"a", 1}, wanted{7, 1, 1, 100}}};
    protocol::fetch_request req;
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_id, 0);
    EXPECT_EQ(req.session_epoch, 0);
    EXPECT_EQ(requested(req), (std::vector<std::string>{"a-0@5", "a-1@7"}));
    ASSERT_TRUE(h.handle_response(answer(77, {{"a", 0}, {"a", 1}})));
    EXPECT_EQ(h.session_id(), 77);
    EXPECT_EQ(h.epoch(), 1);

    // Nothing changed: an incremental request naming nothing.
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_id, 77);
    EXPECT_EQ(req.session_epoch, 1);
    EXPECT_TRUE(requested(req).empty());
    EXPECT_TRUE(forgotten(req).empty());
    ASSERT_TRUE(h.handle_response(answer(77)));
    EXPECT_EQ(h.epoch(), 2);

    // a-1 moved on, b-0 is new (leadership came here), a-0 is gone.
    next.erase({"a", 0});
    next[{"a", 1}].fetch_offset = 9;
    next[{"b", 0}] = wanted{0, 3, -1, 100};
    h.build(next, keys(next, {{"a", 0}}), req);
    EXPECT_EQ(req.session_epoch, 2);
    EXPECT_EQ(requested(req), (std::vector<std::string>{"a-1@9", "b-0@0"}));
    EXPECT_EQ(forgotten(req), (std::vector<std::string>{"a-0"}));
    ASSERT_TRUE(h.handle_response(answer(77, {{"b", 0}})));
    EXPECT_EQ(h.epoch(), 3);

    // A new leader epoch alone is a change too.
    next[{"b", 0}].current_leader_epoch = 4;
    h.build(next, keys(next), req);
    EXPECT_EQ(requested(req), (std::vector<std::string>{"b-0@0"}));
    ASSERT_TRUE(h.handle_response(answer(77)));

    // Only the partitions said to have changed are compared: the caller lists every one
    // whose entry may differ, and the others are not looked at.
    next[{"a", 1}].fetch_offset = 10;
    next[{"b", 0}].fetch_offset = 3;
    std::vector<topic_partition> only_b{{"b", 0}};
    h.build(next, only_b, req);
    EXPECT_EQ(requested(req), (std::vector<std::string>{"b-0@3"}));
}

TEST(fetch_session_handler, session_errors_start_over_with_a_full_fetch) {
    fetch_session_handler h;
    fetch_session_handler::partitions next{{{"a", 0}, wanted{5, 1, 1, 100}}};
    protocol::fetch_request req;
    h.build(next, keys(next), req);
    ASSERT_TRUE(h.handle_response(answer(77, {{"a", 0}})));
    h.build(next, keys(next), req);
    // The leader restarted: the session is unknown. A full fetch without a session id next.
    EXPECT_FALSE(h.handle_response(answer(0, {}, int16_t(error_code::fetch_session_id_not_found))));
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_id, 0);
    EXPECT_EQ(req.session_epoch, 0);
    EXPECT_EQ(requested(req), (std::vector<std::string>{"a-0@5"}));
    ASSERT_TRUE(h.handle_response(answer(78, {{"a", 0}})));
    // A wrong epoch: a full fetch that closes the session it names.
    h.build(next, keys(next), req);
    EXPECT_FALSE(h.handle_response(answer(0, {}, int16_t(error_code::invalid_fetch_session_epoch))));
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_id, 78);
    EXPECT_EQ(req.session_epoch, 0);
    EXPECT_EQ(requested(req).size(), 1u);
    // No answer at all: the same.
    h.handle_error();
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_epoch, 0);
}

TEST(fetch_session_handler, an_answer_outside_the_session_is_refused) {
    fetch_session_handler h;
    fetch_session_handler::partitions next{{{"a", 0}, wanted{5, 1, 1, 100}}};
    protocol::fetch_request req;
    h.build(next, keys(next), req);
    EXPECT_FALSE(h.handle_response(answer(77, {{"z", 9}})));
    EXPECT_TRUE(h.full());
}

TEST(fetch_session_handler, no_session_from_the_leader_keeps_full_fetches) {
    fetch_session_handler h;
    fetch_session_handler::partitions next{{{"a", 0}, wanted{5, 1, 1, 100}}};
    protocol::fetch_request req;
    h.build(next, keys(next), req);
    ASSERT_TRUE(h.handle_response(answer(0, {{"a", 0}})));  // no room in its cache
    h.build(next, keys(next), req);
    EXPECT_EQ(req.session_id, 0);
    EXPECT_EQ(req.session_epoch, 0);
    EXPECT_EQ(requested(req).size(), 1u);
}

} // namespace
} // namespace trib::broker
