// Two electors on one fake API server with a fake clock: who leads, when the other takes
// over, and that a lost lease is given up. The real API server's side (a Lease really
// created, replaced with resourceVersion, taken over after the pod is killed) is the
// end-to-end test's.
#include <gtest/gtest.h>

#include "operator/k8s/leader_election.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

#include <condition_variable>
#include <mutex>

using namespace trib::op::k8s;
using namespace std::chrono_literals;
using trib::op::k8s::testing::fake_clock;
using trib::op::k8s::testing::fake_kube;

namespace {

struct replica {
    int started = 0, stopped = 0;
    std::unique_ptr<leader_elector> elector;

    replica(fake_kube& kube, const fake_clock& clk, const std::string& id) {
        leader_election_settings s{.ns = "ops", .name = "tributary-operator", .identity = id};
        s.started_leading = [this] { ++started; };
        s.stopped_leading = [this] { ++stopped; };
        elector = std::make_unique<leader_elector>(kube, s, clk);
    }
    void step() { elector->step(); }
    bool leading() const { return elector->leading(); }
};

web::json::value lease_spec(fake_kube& kube) {
    return kube.get(resources::leases, "ops", "tributary-operator")->at("spec");
}

} // namespace

TEST(leader_election, first_candidate_creates_the_lease_and_the_second_stands_by) {
    fake_kube kube;
    fake_clock clk;
    replica a(kube, clk, "a"), b(kube, clk, "b");
    a.step();
    b.step();
    EXPECT_TRUE(a.leading());
    EXPECT_FALSE(b.leading());
    EXPECT_EQ(a.started, 1);
    auto spec = lease_spec(kube);
    EXPECT_EQ(spec.at("holderIdentity").as_string(), "a");
    EXPECT_EQ(spec.at("leaseDurationSeconds").as_integer(), 15);
    EXPECT_EQ(spec.at("leaseTransitions").as_integer(), 0);
    EXPECT_EQ(spec.at("renewTime").as_string(), "2026-12-02T00:00:00.000000Z");
}

TEST(leader_election, a_renewing_leader_keeps_the_lease) {
    fake_kube kube;
    fake_clock clk;
    replica a(kube, clk, "a"), b(kube, clk, "b");
    a.step();
    for (int i = 0; i < 30; ++i) { // a minute of rounds
        clk.advance(2s);
        a.step();
        b.step();
    }
    EXPECT_TRUE(a.leading());
    EXPECT_FALSE(b.leading());
    EXPECT_EQ(b.started, 0);
    EXPECT_EQ(lease_spec(kube).at("renewTime").as_string(), "2026-12-02T00:01:00.000000Z");
}

TEST(leader_election, standby_takes_over_once_the_lease_expires_not_before) {
    fake_kube kube;
    fake_clock clk;
    replica a(kube, clk, "a"), b(kube, clk, "b");
    a.step();
    b.step(); // b sees the record at t0; a then stops renewing (killed)
    clk.advance(14s);
    b.step();
    EXPECT_FALSE(b.leading()) << "the lease is still valid";
    clk.advance(1s);
    b.step();
    EXPECT_TRUE(b.leading());
    auto spec = lease_spec(kube);
    EXPECT_EQ(spec.at("holderIdentity").as_string(), "b");
    EXPECT_EQ(spec.at("leaseTransitions").as_integer(), 1);

    a.step(); // a comes back: it must see it lost
    EXPECT_FALSE(a.leading());
    EXPECT_EQ(a.stopped, 1);
}

TEST(leader_election, release_hands_over_at_once) {
    fake_kube kube;
    fake_clock clk;
    replica a(kube, clk, "a"), b(kube, clk, "b");
    a.step();
    b.step();
    a.elector->stop();
    EXPECT_FALSE(a.leading());
    EXPECT_EQ(a.stopped, 1);
    EXPECT_EQ(lease_spec(kube).at("holderIdentity").as_string(), "");
    b.step(); // no time has passed
    EXPECT_TRUE(b.leading());
    EXPECT_EQ(lease_spec(kube).at("leaseTransitions").as_integer(), 1);
}

TEST(leader_election, leader_gives_up_when_it_cannot_renew_within_the_deadline) {
    fake_kube kube;
    fake_clock clk;
    replica a(kube, clk, "a");
    a.step();
    kube.fail_next("", "Lease", api_error(503, "ServiceUnavailable", "etcd is down"), 1000);
    for (int i = 0; i < 4; ++i) {
        clk.advance(2s);
        a.step();
    }
    EXPECT_TRUE(a.leading()) << "8 s without renewal is within the 10 s deadline";
    clk.advance(2s);
    a.step();
    EXPECT_FALSE(a.leading());
    EXPECT_EQ(a.stopped, 1);
}

TEST(leader_election, of_two_candidates_racing_for_an_expired_lease_one_wins) {
    fake_kube kube;
    fake_clock clk;
    replica old(kube, clk, "old"), a(kube, clk, "a"), b(kube, clk, "b");
    old.step();
    a.step();
    b.step();
    clk.advance(16s);
    // a completes a whole round between b's read and b's write.
    bool raced = false;
    kube.before_call = [&](const std::string& verb, const resource&, const std::string&, const std::string&) {
        if (verb == "replace" && !raced) {
            raced = true;
            a.step();
        }
    };
    b.step();
    EXPECT_TRUE(a.leading());
    EXPECT_FALSE(b.leading()) << "b's replace carried a stale resourceVersion";
    EXPECT_EQ(lease_spec(kube).at("holderIdentity").as_string(), "a");
}

TEST(leader_election, rejects_settings_that_cannot_work) {
    fake_kube kube;
    leader_election_settings s{.ns = "ops", .name = "l", .identity = "a"};
    s.renew_deadline = s.lease_duration;
    EXPECT_THROW(leader_elector(kube, s), std::invalid_argument);
    s = {.ns = "ops", .name = "l", .identity = ""};
    EXPECT_THROW(leader_elector(kube, s), std::invalid_argument);
}

// The thread: a leads, stops, and b (already running) takes over; on the real clock, with
// waits bounded only to fail rather than hang.
TEST(leader_election, running_electors_hand_over_on_stop) {
    fake_kube kube;
    std::mutex mu;
    std::condition_variable cv;
    std::string leader;
    auto make = [&](const std::string& id) {
        leader_election_settings s{.ns = "ops", .name = "tributary-operator", .identity = id};
        s.lease_duration = 5s;
        s.renew_deadline = 3s;
        s.retry_period = 50ms;
        s.started_leading = [&, id] {
            std::lock_guard lock(mu);
            leader = id;
            cv.notify_all();
        };
        return std::make_unique<leader_elector>(kube, s);
    };
    auto a = make("a");
    auto b = make("b");
    a->start();
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return leader == "a"; }));
    }
    b->start();
    a->stop();
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return leader == "b"; }));
    }
    EXPECT_TRUE(b->leading());
    b->stop();
}
