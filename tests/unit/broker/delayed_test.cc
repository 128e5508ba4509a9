#include "broker/delayed.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <thread>

namespace trib::broker {
namespace {

using namespace std::chrono_literals;

// Runs `wait_until(deadline)` of a waiter on `ctx` to completion and gives its answer.
bool run_wait(asio::io_context& ctx, waiter& w, waiter::clock::time_point deadline) {
    std::optional<bool> out;
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> { out = co_await w.wait_until(deadline); },
                   [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    ctx.restart();
    ctx.run();
    EXPECT_TRUE(out.has_value());
    return out.value_or(false);
}

TEST(waiter, a_wake_before_the_wait_ends_it_at_once) {
    asio::io_context ctx;
    auto w = std::make_shared<waiter>(ctx.get_executor());
    w->wake();
    auto start = waiter::clock::now();
    EXPECT_TRUE(run_wait(ctx, *w, start + 1h));
    EXPECT_LT(waiter::clock::now() - start, 1h) << "did not wait for the deadline";
}

TEST(waiter, the_deadline_ends_a_wait_nobody_wakes) {
    asio::io_context ctx;
    auto w = std::make_shared<waiter>(ctx.get_executor());
    auto deadline = waiter::clock::now() + 20ms;
    EXPECT_FALSE(run_wait(ctx, *w, deadline));
    EXPECT_GE(waiter::clock::now(), deadline);
}

TEST(waiter, a_wake_from_another_thread_ends_the_wait) {
    asio::io_context ctx;
    auto w = std::make_shared<waiter>(ctx.get_executor());
    std::optional<bool> out;
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> { out = co_await w->wait_until(waiter::clock::now() + 1h); },
                   asio::detached);
    ctx.run_one();  // the coroutine starts and waits on its timer
    std::thread t([&] { w->wake(); });
    t.join();
    ctx.run();
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out);
}

TEST(waiter, a_wake_already_seen_does_not_end_the_next_wait) {
    asio::io_context ctx;
    auto w = std::make_shared<waiter>(ctx.get_executor());
    w->wake();  // its cancel is posted, and runs during the first wait below
    EXPECT_TRUE(run_wait(ctx, *w, waiter::clock::now() + 1h));
    auto deadline = waiter::clock::now() + 20ms;
    EXPECT_FALSE(run_wait(ctx, *w, deadline)) << "woken by the stale cancel";
    EXPECT_GE(waiter::clock::now(), deadline);
}

// Whether `w` has a wake-up pending (consumes it).
bool woken(asio::io_context& ctx, waiter& w) { return run_wait(ctx, w, waiter::clock::now()); }

TEST(watch_list, check_wakes_only_the_waiters_whose_condition_holds) {
    asio::io_context ctx;
    auto a = std::make_shared<waiter>(ctx.get_executor());
    auto b = std::make_shared<waiter>(ctx.get_executor());
    int end = 0;
    watch_list l;
    l.add(a, [&] { return end > 1; });
    l.add(b, [&] { return end > 5; });
    l.check();
    EXPECT_EQ(l.size(), 2u);
    end = 3;
    l.check();
    EXPECT_EQ(l.size(), 1u) << "a's watch ends once it fired";
    EXPECT_TRUE(woken(ctx, *a));
    EXPECT_FALSE(woken(ctx, *b));
    end = 6;
    l.check();
    EXPECT_TRUE(woken(ctx, *b));
    EXPECT_EQ(l.size(), 0u);
}

TEST(watch_list, adding_again_replaces_and_gone_waiters_are_dropped) {
    asio::io_context ctx;
    auto a = std::make_shared<waiter>(ctx.get_executor());
    watch_list l;
    l.add(a, [] { return false; });
    l.add(a, [] { return true; });
    EXPECT_EQ(l.size(), 1u);
    {
        auto gone = std::make_shared<waiter>(ctx.get_executor());
        l.add(gone, [] { return false; });
    }
    EXPECT_EQ(l.size(), 2u);
    l.check();
    EXPECT_EQ(l.size(), 0u) << "a fired with its second condition; the other's request has gone";
    EXPECT_TRUE(woken(ctx, *a));
}

TEST(watch_list, a_partition_without_events_keeps_only_the_live_waiters) {
    // No check() ever runs on an idle partition: adding must drop the watches of requests
    // that have gone, or every fetch that ever waited there stays listed.
    asio::io_context ctx;
    auto live = std::make_shared<waiter>(ctx.get_executor());
    watch_list l;
    l.add(live, [] { return false; });
    for (int i = 0; i < 1000; ++i) {
        auto gone = std::make_shared<waiter>(ctx.get_executor());
        l.add(gone, [] { return false; });
    }
    EXPECT_EQ(l.size(), 2u) << "the live waiter and the last one added (gone since, dropped at the next add)";
    l.add(live, [] { return true; });
    EXPECT_EQ(l.size(), 1u);
    l.check();
    EXPECT_TRUE(woken(ctx, *live)) << "the live waiter kept its place and its new condition";
}

TEST(watch_list, wake_all_wakes_everyone_whatever_their_condition) {
    asio::io_context ctx;
    auto a = std::make_shared<waiter>(ctx.get_executor());
    auto b = std::make_shared<waiter>(ctx.get_executor());
    watch_list l;
    l.add(a, [] { return false; });
    l.add(b, [] { return false; });
    l.wake_all();
    EXPECT_EQ(l.size(), 0u);
    EXPECT_TRUE(woken(ctx, *a));
    EXPECT_TRUE(woken(ctx, *b));
}

TEST(partition_news, an_append_wakes_followers_and_a_visible_change_everyone) {
    using reader = partition_news::reader;
    asio::io_context ctx;
    auto follower = std::make_shared<waiter>(ctx.get_executor());
    auto consumer = std::make_shared<waiter>(ctx.get_executor());
    partition_news n;
    n.watch(follower, reader::follower);
    n.watch(consumer, reader::consumer);
    n.watch(consumer, reader::consumer);
    EXPECT_EQ(n.watchers(), 2u) << "a waiter registered again is listed once";
    n.bump(/*visible=*/false);
    EXPECT_TRUE(woken(ctx, *follower));
    EXPECT_FALSE(woken(ctx, *consumer)) << "nothing a consumer reads changed";
    EXPECT_EQ(n.watchers(), 1u) << "the woken follower is dropped";
    n.bump();
    EXPECT_TRUE(woken(ctx, *consumer));
    EXPECT_EQ(n.watchers(), 0u);
    n.bump();
    EXPECT_FALSE(woken(ctx, *follower)) << "a wake is for one registration";
}

TEST(partition_news, stamps_move_with_what_each_reader_sees) {
    using reader = partition_news::reader;
    partition_news n;
    auto f = n.stamp(reader::follower), c = n.stamp(reader::consumer);
    n.bump(false);
    EXPECT_NE(n.stamp(reader::follower), f);
    EXPECT_EQ(n.stamp(reader::consumer), c);
    f = n.stamp(reader::follower);
    n.bump();
    EXPECT_NE(n.stamp(reader::follower), f);
    EXPECT_NE(n.stamp(reader::consumer), c);
}

TEST(partition_news, gone_waiters_do_not_pile_up_on_a_partition_that_never_changes) {
    asio::io_context ctx;
    partition_news n;
    auto live = std::make_shared<waiter>(ctx.get_executor());
    n.watch(live, partition_news::reader::follower);
    for (int i = 0; i < 100; ++i) {
        auto w = std::make_shared<waiter>(ctx.get_executor());
        n.watch(w, partition_news::reader::follower);
    }
    EXPECT_LE(n.watchers(), 2u);
}

TEST(partition_news, a_bump_racing_a_registration_is_never_missed) {
    // The fetch's order: register, then compare the stamp. Whatever the interleaving with a
    // bump on another thread, the fetch either sees the new stamp or is woken.
    using reader = partition_news::reader;
    for (int round = 0; round < 2000; ++round) {
        asio::io_context ctx;
        auto w = std::make_shared<waiter>(ctx.get_executor());
        partition_news n;
        auto seen = n.stamp(reader::consumer);
        std::thread t([&] { n.bump(); });
        n.watch(w, reader::consumer);
        bool changed = n.stamp(reader::consumer) != seen;
        t.join();
        if (!changed) {
            ASSERT_TRUE(woken(ctx, *w)) << "round " << round;
        }
    }
}

TEST(partition_news, a_subscription_is_posted_once_until_drained_and_for_its_reader_only) {
    using reader = partition_news::reader;
    partition_news n;
    auto inbox = std::make_shared<session_inbox>();
    auto follower = std::make_shared<news_subscription>(inbox, 1, reader::follower);
    auto consumer = std::make_shared<news_subscription>(inbox, 2, reader::consumer);
    n.subscribe(follower);
    n.subscribe(consumer);
    EXPECT_FALSE(inbox->pending());
    n.bump(/*visible=*/false);
    EXPECT_TRUE(inbox->pending());
    EXPECT_EQ(inbox->drain(), std::vector<uint64_t>{1}) << "an append below the high watermark is no consumer's news";
    EXPECT_FALSE(inbox->pending());
    n.bump();
    n.bump();
    EXPECT_EQ(inbox->drain(), std::vector<uint64_t>{2}) << "the follower was posted and not cleared since";
    follower->posted = false;  // what the session does when it drains the token
    consumer->posted = false;
    n.bump();
    auto both = inbox->drain();
    std::sort(both.begin(), both.end());
    EXPECT_EQ(both, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(n.subscribers(), 2u) << "a subscription stays after a post";
}

TEST(partition_news, a_dropped_subscription_is_not_posted_and_leaves_the_list) {
    partition_news n;
    auto inbox = std::make_shared<session_inbox>();
    auto sub = std::make_shared<news_subscription>(inbox, 7, partition_news::reader::consumer);
    n.subscribe(sub);
    sub.reset();  // the session forgot the partition, or was evicted
    EXPECT_EQ(n.subscribers(), 0u);
    n.bump();
    EXPECT_FALSE(inbox->pending());
    for (int i = 0; i < 100; ++i) {
        n.subscribe(std::make_shared<news_subscription>(inbox, uint64_t(i), partition_news::reader::consumer));
    }
    auto live = std::make_shared<news_subscription>(inbox, 1000, partition_news::reader::consumer);
    n.subscribe(live);
    EXPECT_EQ(n.subscribers(), 1u);
    n.bump();
    EXPECT_EQ(inbox->drain(), std::vector<uint64_t>{1000});
}

TEST(session_inbox, a_post_wakes_the_watching_fetch_and_a_pending_post_is_not_waited_for) {
    asio::io_context ctx;
    auto w = std::make_shared<waiter>(ctx.get_executor());
    session_inbox inbox;
    EXPECT_FALSE(inbox.watch(w));
    inbox.post(3);
    EXPECT_TRUE(woken(ctx, *w));
    EXPECT_TRUE(inbox.watch(w)) << "news already in: no wait";
    EXPECT_EQ(inbox.drain(), std::vector<uint64_t>{3});
    EXPECT_FALSE(inbox.watch(w));
    inbox.drain();
    EXPECT_FALSE(woken(ctx, *w)) << "nothing was posted";
}

TEST(session_inbox, a_bump_racing_a_subscription_is_never_missed) {
    // The session's order: subscribe, then compare the stamp of the read. Whatever the
    // interleaving with a bump on another thread, it sees the new stamp or is posted.
    using reader = partition_news::reader;
    for (int round = 0; round < 2000; ++round) {
        partition_news n;
        auto inbox = std::make_shared<session_inbox>();
        auto sub = std::make_shared<news_subscription>(inbox, 1, reader::consumer);
        auto seen = n.stamp(reader::consumer);
        std::thread t([&] { n.bump(); });
        n.subscribe(sub);
        bool changed = n.stamp(reader::consumer) != seen;
        t.join();
        if (!changed) {
            ASSERT_TRUE(inbox->pending()) << "round " << round;
        }
    }
}

} // namespace
} // namespace trib::broker
