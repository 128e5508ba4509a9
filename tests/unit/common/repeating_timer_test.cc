#include "common/repeating_timer.h"

#include <gtest/gtest.h>

#include <chrono>

namespace trib {
namespace {

using namespace std::chrono_literals;

// Spins until the clock has passed `until`: both timers below are then due before the
// io_context first looks, so one reactor pass queues both completions, in expiry order.
void until_past(std::chrono::steady_clock::time_point until) {
    while (std::chrono::steady_clock::now() <= until) {
    }
}

TEST(repeating_timer, runs_every_interval_until_stopped) {
    boost::asio::io_context ctx;
    int runs = 0;
    repeating_timer* self = nullptr;
    repeating_timer t(ctx, 1ms, [&] {
        if (++runs == 3) {
            self->stop();  // a callback may stop its own timer
        }
    });
    self = &t;
    t.start();
    ctx.run_for(30s);  // a bound for a broken build; a working one returns after the third run
    EXPECT_TRUE(ctx.stopped());
    EXPECT_EQ(runs, 3);
}

// The hang a broker had on SIGTERM: the stop comes from a handler that ran in the same
// reactor pass in which the repeating timer expired, so its completion was already queued
// with success. Nothing may run after stop(), and the io_context must run out of work.
TEST(repeating_timer, a_completion_queued_before_stop_does_not_run_or_rearm) {
    boost::asio::io_context ctx;
    int runs = 0;
    repeating_timer t(ctx, 20ms, [&] { ++runs; });
    boost::asio::steady_timer stopper(ctx);
    stopper.expires_after(10ms);  // due before t, so its handler runs first
    stopper.async_wait([&](boost::system::error_code) { t.stop(); });
    t.start();
    until_past(std::chrono::steady_clock::now() + 40ms);
    ctx.run_for(30s);  // a bound for a broken build: it would otherwise run forever
    EXPECT_TRUE(ctx.stopped());
    EXPECT_EQ(runs, 0);
}

TEST(repeating_timer, restarted_after_stop_runs_again) {
    boost::asio::io_context ctx;
    int runs = 0;
    repeating_timer* self = nullptr;
    repeating_timer t(ctx, 1ms, [&] {
        if (++runs == 2) {
            self->stop();
        }
    });
    self = &t;
    t.start();
    t.stop();
    t.start();  // the first generation's completion (cancelled) must not count
    ctx.run_for(30s);
    EXPECT_TRUE(ctx.stopped());
    EXPECT_EQ(runs, 2);
}

} // namespace
} // namespace trib
