#include "broker/delayed.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

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

} // namespace
} // namespace trib::broker
