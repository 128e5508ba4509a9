#include <gtest/gtest.h>

#include "operator/k8s/work_queue.h"
#include "tests/fakes/operator_fake_clock.h"

#include <thread>

using namespace trib::op::k8s;
using namespace std::chrono_literals;
using trib::op::k8s::testing::fake_clock;

TEST(work_queue, adds_of_a_waiting_key_make_one_item) {
    fake_clock clk;
    work_queue q(clk);
    q.add("ns/a");
    q.add("ns/b");
    q.add("ns/a");
    EXPECT_EQ(q.ready(), 2u);
    EXPECT_EQ(q.try_get(), "ns/a");
    EXPECT_EQ(q.try_get(), "ns/b");
    EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(work_queue, a_key_in_process_is_not_handed_out_again_until_done) {
    fake_clock clk;
    work_queue q(clk);
    q.add("ns/a");
    ASSERT_EQ(q.try_get(), "ns/a");
    q.add("ns/a"); // changed while being reconciled
    q.add("ns/a");
    EXPECT_EQ(q.try_get(), std::nullopt) << "a second worker would reconcile it concurrently";
    q.done("ns/a");
    EXPECT_EQ(q.try_get(), "ns/a") << "the change seen during processing is not lost";
    q.done("ns/a");
    EXPECT_EQ(q.try_get(), std::nullopt) << "one re-run for any number of adds";
}

TEST(work_queue, add_after_waits_for_the_clock_and_keeps_the_earliest) {
    fake_clock clk;
    work_queue q(clk);
    q.add_after("ns/a", 10s);
    q.add_after("ns/a", 3s);
    EXPECT_EQ(q.try_get(), std::nullopt);
    clk.advance(3s);
    EXPECT_EQ(q.try_get(), "ns/a");
    q.done("ns/a");
    clk.advance(10s);
    EXPECT_EQ(q.try_get(), std::nullopt) << "the later delay was folded into the earlier";
}

TEST(work_queue, rate_limited_adds_back_off_exponentially_until_forget) {
    fake_clock clk;
    work_queue q(clk, backoff(5ms, 1s));
    auto fail_once = [&](std::chrono::milliseconds expected_delay) {
        q.add_rate_limited("ns/a");
        clk.advance(expected_delay - 1ms);
        EXPECT_EQ(q.try_get(), std::nullopt) << "too early for delay " << expected_delay.count();
        clk.advance(1ms);
        auto key = q.try_get();
        EXPECT_EQ(key, "ns/a") << "delay " << expected_delay.count();
        q.done("ns/a");
    };
    for (auto d : {5ms, 10ms, 20ms, 40ms}) {
        fail_once(d);
    }
    EXPECT_EQ(q.requeues("ns/a"), 4);
    q.forget("ns/a");
    EXPECT_EQ(q.requeues("ns/a"), 0);
    fail_once(5ms);
}

TEST(work_queue, backoff_stops_at_the_cap) {
    backoff b(5ms, 300s);
    std::chrono::milliseconds last{};
    for (int i = 0; i < 100; ++i) {
        last = b.when("k");
    }
    EXPECT_EQ(last, 300s);
    EXPECT_EQ(b.when("other"), 5ms) << "keys back off independently";
}

TEST(work_queue, get_blocks_until_a_key_or_shutdown) {
    work_queue q;
    std::optional<std::string> got;
    std::thread worker([&] { got = q.get(); });
    q.add("ns/a");
    worker.join();
    EXPECT_EQ(got, "ns/a");
    q.done("ns/a");

    std::thread waiting([&] { got = q.get(); });
    q.shutdown();
    waiting.join();
    EXPECT_EQ(got, std::nullopt);
    q.add("ns/b");
    EXPECT_EQ(q.get(), std::nullopt) << "nothing is handed out after shutdown";
}

TEST(work_queue, blocked_get_wakes_for_a_delayed_key) {
    work_queue q; // real clock: the worker must wake by itself when the delay passes
    std::optional<std::string> got;
    std::thread worker([&] { got = q.get(); });
    q.add_after("ns/a", 20ms);
    worker.join();
    EXPECT_EQ(got, "ns/a");
}

TEST(clock, formats_kubernetes_times) {
    auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'796'169'600'000'042));
    EXPECT_EQ(rfc3339(t), "2026-12-02T00:00:00Z");
    EXPECT_EQ(rfc3339_micro(t), "2026-12-02T00:00:00.000042Z");
}
