#include "broker/partition.h"

#include "protocol/records.h"
#include "tests/fakes/partition_info.h"
#include "tests/fakes/temp_dir.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace trib::broker {
namespace {

using protocol::error_code;

using fakes::partition_state;

class partition_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto l = storage::log::open(_dir.path(), {});
        ASSERT_TRUE(l) << l.error().message();
        _p = std::make_unique<partition>(topic_partition{"t", 0}, protocol::uuid{}, std::move(*l), node_id(1));
    }
    // Appends `n` records as the leader does and tells the partition.
    void append(int n) {
        protocol::batch_builder b;
        for (int i = 0; i < n; ++i) {
            b.add("k", "v", 0);
        }
        auto data = b.build();
        ASSERT_TRUE(data);
        ASSERT_TRUE(_p->log().append(*data, _p->epoch().value()));
        _p->appended();
    }
    bool woken(waiter& w) {
        std::optional<bool> out;
        asio::co_spawn(_ctx, [&]() -> asio::awaitable<void> { out = co_await w.wait_until(waiter::clock::now()); },
                       [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
        _ctx.restart();
        _ctx.run();
        return out.value_or(false);
    }

    fakes::temp_dir _dir;
    std::unique_ptr<partition> _p;
    asio::io_context _ctx;
};

TEST_F(partition_test, a_new_replica_leads_nothing_until_metadata_says) {
    EXPECT_EQ(_p->role(), replica_role::none);
    EXPECT_EQ(_p->check_leader(), error_code::not_leader_or_follower);
}

TEST_F(partition_test, becoming_leader_starts_the_epoch_at_the_log_end) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    append(3);
    ASSERT_TRUE(_p->apply(partition_state(1, 4, {1})));
    EXPECT_TRUE(_p->is_leader());
    EXPECT_EQ(_p->epoch(), leader_epoch(4));
    ASSERT_EQ(_p->log().epochs().entries().size(), 2u);
    EXPECT_EQ(_p->log().epochs().entries().back(), (storage::epoch_entry{leader_epoch(4), offset(3)}));
}

TEST_F(partition_test, client_epochs_are_checked_against_the_leaders) {
    ASSERT_TRUE(_p->apply(partition_state(1, 5, {1})));
    EXPECT_EQ(_p->check_leader(-1), error_code::none) << "a client that knows no epoch";
    EXPECT_EQ(_p->check_leader(5), error_code::none);
    EXPECT_EQ(_p->check_leader(4), error_code::fenced_leader_epoch);
    EXPECT_EQ(_p->check_leader(6), error_code::unknown_leader_epoch);
}

TEST_F(partition_test, a_stale_change_is_ignored) {
    ASSERT_TRUE(_p->apply(partition_state(1, 5, {1})));
    EXPECT_FALSE(_p->apply(partition_state(2, 4, {2})));
    EXPECT_TRUE(_p->is_leader());
    EXPECT_EQ(_p->epoch(), leader_epoch(5));
}

TEST_F(partition_test, a_follower_or_an_offline_replica_serves_no_leader_request) {
    ASSERT_TRUE(_p->apply(partition_state(2, 1, {2, 1})));
    EXPECT_EQ(_p->role(), replica_role::follower);
    EXPECT_EQ(_p->leader(), node_id(2));
    EXPECT_EQ(_p->check_leader(1), error_code::not_leader_or_follower);
    ASSERT_TRUE(_p->apply(partition_state(-1, 1, {2})));
    EXPECT_EQ(_p->role(), replica_role::none);
}

TEST_F(partition_test, a_lone_leaders_high_watermark_follows_its_log_end) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    EXPECT_EQ(_p->high_watermark(), offset(0));
    append(2);
    EXPECT_EQ(_p->high_watermark(), offset(2));
    EXPECT_EQ(_p->log_end(), offset(2));
}

TEST_F(partition_test, with_followers_in_the_isr_the_high_watermark_waits_for_them) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));
    append(2);
    EXPECT_EQ(_p->log_end(), offset(2));
    EXPECT_EQ(_p->high_watermark(), offset(0)) << "broker 2 has not fetched: nothing is committed";
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));  // the ISR shrank to the leader
    EXPECT_EQ(_p->high_watermark(), offset(2));
}

TEST_F(partition_test, a_new_leaders_high_watermark_lags_its_epoch_start_until_followers_report) {
    // Leader at epoch 0 with a follower: 5 records appended, the follower has 3.
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));
    append(5);
    ASSERT_TRUE(_p->follower_fetched(node_id(2), offset(3), -1, partition::clock_ms()));
    EXPECT_EQ(_p->high_watermark(), offset(3));
    // A new epoch starts at the log end; the high watermark stays below it (ListOffsets
    // answers OFFSET_NOT_AVAILABLE then) until the follower has fetched everything.
    ASSERT_TRUE(_p->apply(partition_state(1, 1, {1, 2})));
    EXPECT_EQ(_p->epoch_start(), offset(5));
    EXPECT_LT(_p->high_watermark(), _p->epoch_start());
    ASSERT_TRUE(_p->follower_fetched(node_id(2), offset(5), -1, partition::clock_ms()));
    EXPECT_EQ(_p->high_watermark(), _p->epoch_start());
}

TEST_F(partition_test, watches_wake_when_the_high_watermark_passes_them) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));
    auto produce = std::make_shared<waiter>(_ctx.get_executor());
    auto fetch = std::make_shared<waiter>(_ctx.get_executor());
    _p->produce_watches().add(produce, [p = _p.get()] { return p->high_watermark() >= offset(1); });
    _p->fetch_watches().add(fetch, [p = _p.get()] { return p->high_watermark() > offset(0); });
    append(1);
    EXPECT_FALSE(woken(*produce)) << "not committed: the ISR's other member lacks it";
    EXPECT_FALSE(woken(*fetch));
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    EXPECT_TRUE(woken(*produce));
    EXPECT_TRUE(woken(*fetch));
}

TEST_F(partition_test, losing_leadership_or_stopping_wakes_every_waiter) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));
    auto w = std::make_shared<waiter>(_ctx.get_executor());
    _p->produce_watches().add(w, [] { return false; });
    ASSERT_TRUE(_p->apply(partition_state(2, 1, {2})));
    EXPECT_TRUE(woken(*w)) << "the producer must hear it is no longer the leader";
    _p->fetch_watches().add(w, [] { return false; });
    _p->stop();
    EXPECT_TRUE(woken(*w));
}

TEST_F(partition_test, followers_fetches_move_the_high_watermark) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2, 3})));
    append(4);
    int64_t now = partition::clock_ms();
    EXPECT_TRUE(_p->follower_fetched(node_id(2), offset(4), -1, now));
    EXPECT_EQ(_p->high_watermark(), offset(0)) << "3 has fetched nothing yet";
    EXPECT_TRUE(_p->follower_fetched(node_id(3), offset(2), -1, now));
    EXPECT_EQ(_p->high_watermark(), offset(2)) << "the smallest log end in the ISR";
    EXPECT_TRUE(_p->follower_fetched(node_id(3), offset(4), -1, now));
    EXPECT_EQ(_p->high_watermark(), offset(4));
    EXPECT_EQ(_p->follower_fetched(node_id(7), offset(4), -1, now).err, error_code::not_leader_or_follower)
        << "7 holds no replica";
}

TEST_F(partition_test, a_fetch_that_does_not_fit_the_log_neither_joins_the_isr_nor_moves_the_high_watermark) {
    // Seeded fault schedule 1099 found this: a follower whose last record came from a leader
    // this one never followed fetched from past it; counted, it joined the ISR with a record
    // the leader does not hold, then truncated it away, and could be elected without a
    // record the high watermark had passed.
    ASSERT_TRUE(_p->apply(partition_state(1, 1, {1}, {1, 2})));
    append(3);  // epoch 1: offsets 0-2
    ASSERT_TRUE(_p->apply(partition_state(1, 3, {1}, {1, 2})));
    append(2);  // epoch 3: offsets 3-4
    ASSERT_EQ(_p->high_watermark(), offset(5));
    int64_t now = partition::clock_ms();

    // 2 holds 0-2 of epoch 1, then 3-4 of epoch 2.
    auto c = _p->follower_fetched(node_id(2), offset(5), 2, now);
    ASSERT_TRUE(c.diverging);
    EXPECT_EQ(*c.diverging, (std::pair{leader_epoch(1), offset(3)})) << "epoch 1 ends at 3 here";
    EXPECT_EQ(_p->follower_end(node_id(2)), offset(-1)) << "a diverging offset says nothing of the follower's log";
    EXPECT_FALSE(_p->wanted_isr(now, 30000)) << "it does not join with a record this log lacks";

    EXPECT_EQ(_p->follower_fetched(node_id(2), offset(9), 3, now).err, error_code::offset_out_of_range);
    EXPECT_EQ(_p->follower_end(node_id(2)), offset(-1));
    EXPECT_FALSE(_p->wanted_isr(now, 30000));

    // Truncated to 3, it fetches on from there and joins once it has the high watermark.
    EXPECT_TRUE(_p->follower_fetched(node_id(2), offset(3), 1, now));
    EXPECT_FALSE(_p->wanted_isr(now, 30000)) << "below the high watermark";
    EXPECT_TRUE(_p->follower_fetched(node_id(2), offset(5), 3, now));
    auto isr = _p->wanted_isr(now, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2}));
}

TEST_F(partition_test, a_laggard_leaves_the_isr_and_a_caught_up_replica_joins) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2, 3})));
    int64_t t0 = partition::clock_ms();
    append(4);
    _p->follower_fetched(node_id(2), offset(4), -1, t0 + 10);  // caught up
    _p->follower_fetched(node_id(3), offset(1), -1, t0 + 10);  // behind
    EXPECT_FALSE(_p->wanted_isr(t0 + 1000, 30000)) << "nobody has lagged for 30 s yet";
    append(1);
    _p->follower_fetched(node_id(2), offset(5), -1, t0 + 20000);
    auto isr = _p->wanted_isr(t0 + 40000, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2})) << "3 has not caught up since it became follower";

    _p->set_pending_isr(*isr);
    EXPECT_FALSE(_p->wanted_isr(t0 + 40000, 30000)) << "one change in flight at a time";
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));  // the coordinator took it
    EXPECT_FALSE(_p->pending_isr());
    EXPECT_EQ(_p->high_watermark(), offset(5));

    _p->follower_fetched(node_id(3), offset(4), -1, t0 + 41000);
    EXPECT_FALSE(_p->wanted_isr(t0 + 41000, 30000)) << "below the high watermark: not back yet";
    _p->follower_fetched(node_id(3), offset(5), -1, t0 + 42000);
    isr = _p->wanted_isr(t0 + 42000, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2, 3}));
}

TEST_F(partition_test, a_joining_member_counts_for_the_high_watermark_while_its_change_is_in_flight) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    append(3);
    EXPECT_EQ(_p->high_watermark(), offset(3));
    append(2);
    _p->follower_fetched(node_id(2), offset(3), -1, partition::clock_ms());
    _p->set_pending_isr(std::vector<int32_t>{1, 2});
    EXPECT_EQ(_p->high_watermark(), offset(5)) << "it never goes back";
    append(1);
    EXPECT_EQ(_p->high_watermark(), offset(5)) << "2 has 3 of 6: the maximal ISR holds it at 5";
    _p->follower_fetched(node_id(2), offset(6), -1, partition::clock_ms());
    EXPECT_EQ(_p->high_watermark(), offset(6));
}

TEST_F(partition_test, a_follower_appends_what_the_leader_sent_at_its_offsets) {
    ASSERT_TRUE(_p->apply(partition_state(2, 3, {2, 1})));
    protocol::batch_builder b;
    b.add("k", "v", 0).add("k", "v", 0);
    auto data = b.build();
    ASSERT_TRUE(data);
    set_partition_leader_epoch(data->data(), 3);
    ASSERT_TRUE(_p->append_from_leader(*data, offset(1)));
    EXPECT_EQ(_p->log_end(), offset(2));
    EXPECT_EQ(_p->high_watermark(), offset(1)) << "the leader's";
    EXPECT_EQ(_p->log().epochs().latest_epoch(), leader_epoch(3)) << "the batch's epoch";

    auto again = b.build();  // base offset 0 again: not where this log ends
    ASSERT_TRUE(again);
    EXPECT_FALSE(_p->append_from_leader(*again, offset(2)));
    EXPECT_EQ(_p->log_end(), offset(2));

    ASSERT_TRUE(_p->append_from_leader({}, offset(9)));
    EXPECT_EQ(_p->high_watermark(), offset(2)) << "capped by this log's end";
    ASSERT_TRUE(_p->truncate_to(offset(0)));
    EXPECT_EQ(_p->log_end(), offset(0));
    EXPECT_EQ(_p->high_watermark(), offset(0));
}

TEST_F(partition_test, truncating_at_the_log_end_forgets_an_epoch_it_led_without_writing) {
    // Found by a seeded fault schedule: this replica led epoch 1 briefly and wrote nothing;
    // the leader at epoch 2 says epoch 0 runs on past this log's end. Keeping "epoch 1 starts
    // at 2" would make every later fetch diverge again.
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    append(2);
    ASSERT_TRUE(_p->apply(partition_state(1, 1, {1})));
    ASSERT_TRUE(_p->apply(partition_state(2, 2, {2, 1})));
    ASSERT_EQ(_p->log().epochs().latest_epoch(), leader_epoch(1));
    ASSERT_TRUE(_p->truncate_to(offset(2)));
    EXPECT_EQ(_p->log_end(), offset(2));
    EXPECT_EQ(_p->log().epochs().latest_epoch(), leader_epoch(0));
}

TEST_F(partition_test, a_refused_isr_change_is_asked_again_after_a_pause) {
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    int64_t t0 = partition::clock_ms();
    _p->follower_fetched(node_id(2), offset(0), -1, t0);
    auto isr = _p->wanted_isr(t0, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2}));
    _p->set_pending_isr(*isr);
    _p->isr_change_refused(t0 + 1000);
    EXPECT_FALSE(_p->pending_isr());
    EXPECT_FALSE(_p->wanted_isr(t0 + 500, 30000)) << "not before the pause is over";
    EXPECT_TRUE(_p->wanted_isr(t0 + 1000, 30000));
}

TEST_F(partition_test, a_follower_with_every_record_stays_in_the_isr_however_long_since_its_fetch) {
    // Kafka's isCaughtUp: an idle partition's follower, at the log end, is not dropped for not
    // fetching it (a fetch session leaves such a partition out of its reads).
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2, 3})));
    int64_t t0 = partition::clock_ms();
    append(3);
    _p->follower_fetched(node_id(2), offset(3), -1, t0);
    _p->follower_fetched(node_id(3), offset(2), -1, t0);
    auto isr = _p->wanted_isr(t0 + 60000, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2})) << "3 lacks a record and has not caught up for 60 s";
    append(1);
    isr = _p->wanted_isr(t0 + 60000, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1})) << "a record appended since: 2 lacks it now";
}

TEST_F(partition_test, an_append_after_a_long_idle_time_does_not_drop_the_followers_that_had_everything) {
    // The followers' last fetches of an idle partition may be long ago (their sessions left it
    // out). An append makes them lack a record; until they fetch it they were caught up as of
    // the append, not as of their last fetch.
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2, 3})));
    int64_t t0 = partition::clock_ms();
    append(3);
    _p->follower_fetched(node_id(2), offset(3), -1, t0);
    _p->follower_fetched(node_id(3), offset(2), -1, t0);  // lacks a record
    protocol::batch_builder b;
    b.add("k", "v", 0);
    auto data = b.build();
    ASSERT_TRUE(data);
    ASSERT_TRUE(_p->log().append(*data, _p->epoch().value()));
    _p->appended(t0 + 60000);
    auto isr = _p->wanted_isr(t0 + 60001, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2})) << "2 had everything until the append; 3 did not";
    // 2 fetches the record a moment later: caught up as of its fetch (Kafka's rule: it reached
    // the end the leader had at its previous fetch).
    _p->follower_fetched(node_id(2), offset(4), -1, t0 + 60002);
    isr = _p->wanted_isr(t0 + 60002 + 29000, 30000);
    ASSERT_TRUE(isr);
    EXPECT_EQ(*isr, (std::vector<int32_t>{1, 2}));
}

TEST_F(partition_test, what_a_fetch_answers_from_moves_the_change_stamps) {
    using reader = partition_news::reader;
    auto& n = *_p->news();
    auto stamps = [&] { return std::pair{n.stamp(reader::follower), n.stamp(reader::consumer)}; };
    auto before = stamps();
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1, 2})));
    EXPECT_NE(stamps().first, before.first) << "leadership";
    EXPECT_NE(stamps().second, before.second);

    // An append the high watermark doesn't follow is news to followers only.
    before = stamps();
    append(1);
    EXPECT_NE(stamps().first, before.first);
    EXPECT_EQ(stamps().second, before.second);
    // A follower's fetch moves the high watermark: news to both.
    before = stamps();
    ASSERT_TRUE(_p->follower_fetched(node_id(2), offset(1), -1, partition::clock_ms()));
    EXPECT_NE(stamps().first, before.first);
    EXPECT_NE(stamps().second, before.second);
    // Nothing changed: no news.
    before = stamps();
    ASSERT_TRUE(_p->follower_fetched(node_id(2), offset(1), -1, partition::clock_ms()));
    EXPECT_EQ(stamps(), before);
    // An ISR change in flight, the ISR the coordinator committed, the log start moved by
    // whoever moves it, stopping.
    _p->set_pending_isr(std::vector<int32_t>{1});
    EXPECT_NE(stamps().second, before.second);
    before = stamps();
    ASSERT_TRUE(_p->apply(partition_state(1, 0, {1})));
    EXPECT_NE(stamps().second, before.second);
    before = stamps();
    _p->changed();
    EXPECT_NE(stamps().second, before.second);
    before = stamps();
    _p->stop();
    EXPECT_NE(stamps().second, before.second);
}

TEST_F(partition_test, a_follower_copying_or_cutting_its_log_moves_the_stamps) {
    using reader = partition_news::reader;
    ASSERT_TRUE(_p->apply(partition_state(2, 0, {2, 1})));
    auto news = _p->news();
    auto before = news->stamp(reader::consumer);
    protocol::batch_builder b;
    b.add("k", "v", 0);
    auto data = b.build();
    ASSERT_TRUE(data);
    ASSERT_TRUE(_p->append_from_leader(*data, offset(1)));
    EXPECT_NE(news->stamp(reader::consumer), before);
    before = news->stamp(reader::consumer);
    ASSERT_TRUE(_p->truncate_to(offset(0)));
    EXPECT_NE(news->stamp(reader::consumer), before);
    before = news->stamp(reader::consumer);
    _p.reset();
    EXPECT_NE(news->stamp(reader::consumer), before) << "a fetch that kept the stamp must find the replica gone";
}

} // namespace
} // namespace trib::broker
