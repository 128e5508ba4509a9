// The coordinator service on a loopback port and two coordinator clients: registration,
// fencing state, a topic created through the admin envelope with a real CreateTopics
// request, and both clients' images converging.
#include "tests/unit/coordinator/service_cluster.h"
#include "tests/fakes/run_until.h"
#include "tests/fakes/temp_dir.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>

namespace trib::coordinator {
namespace {

using testing::cluster;

using namespace std::chrono_literals;

using fakes::run_until;

TEST(end_to_end, two_brokers_register_create_a_topic_and_converge) {
    fakes::temp_dir dir("trib-coordinator-e2e");
    cluster c(dir.path());
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    auto b2 = c.client(ctx, 2);
    int updates = 0;
    b2->on_update([&](std::shared_ptr<const cluster_snapshot>) { ++updates; });
    b1->start();
    b2->start();
    ASSERT_TRUE(run_until(ctx, [&] { return b1->registered() && !b1->fenced() && b2->registered() && !b2->fenced(); }))
        << "both brokers should be registered and unfenced";

    // A real CreateTopics v7 request, as a Kafka client would send it to a broker.
    protocol::create_topics_request req;
    auto& t = req.topics.emplace_back();
    t.name = "orders";
    t.num_partitions = 4;
    t.replication_factor = 2;
    t.configs.push_back({"retention.ms", std::string("60000"), {}});
    protocol::writer w;
    req.encode(w, 7);
    bytes body = w.take();

    std::optional<admin_result> result;
    bool topic_visible_on_return = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto r = co_await b1->admin(protocol::create_topics_request::api_key, 7, body);
            topic_visible_on_return = b1->snapshot()->topic("orders") != nullptr;
            result = std::move(r);
        },
        asio::detached);
    ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
    ASSERT_EQ(result->error, protocol::error_code::none) << result->message;
    EXPECT_TRUE(topic_visible_on_return) << "admin() returns once the local copy has the change";
    protocol::create_topics_response resp;
    protocol::reader r(result->body);
    resp.decode(r, 7);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(resp.topics.size(), 1u);
    EXPECT_EQ(resp.topics[0].error_code, 0);
    EXPECT_FALSE(resp.topics[0].topic_id.is_zero());

    ASSERT_TRUE(run_until(ctx, [&] { return b2->image().next_offset() >= result->commit; }));
    EXPECT_EQ(b1->image(), b2->image());
    auto s1 = b1->snapshot();
    auto s2 = b2->snapshot();
    const auto* topic = s2->topic("orders");
    ASSERT_NE(topic, nullptr);
    EXPECT_EQ(topic->id, resp.topics[0].topic_id);
    EXPECT_EQ(topic->configs.at("retention.ms"), "60000");
    ASSERT_EQ(topic->partitions.size(), 4u);
    for (const auto& p : topic->partitions) {
        EXPECT_NE(p.leader, node_id(-1));
        EXPECT_EQ(p.replicas.size(), 2u);
    }
    EXPECT_EQ(s1->topics.at("orders"), s2->topics.at("orders"));
    EXPECT_EQ(s2->brokers.size(), 2u);
    EXPECT_EQ(s2->brokers.at(1).endpoints.at(0).port, 9091);
    EXPECT_GT(updates, 0);

    // The coordinator's own image agrees.
    auto coordinator_offset = c.svc->call([](controller& ctl) { return ctl.image().next_offset(); });
    EXPECT_EQ(coordinator_offset, b2->image().next_offset());

    // A second process claiming node id 1 is refused while broker 1 is alive.
    auto intruder = c.client(ctx, 1);
    intruder->start();
    ASSERT_TRUE(run_until(ctx, [&] {
        return intruder->registration_error() == protocol::error_code::duplicate_broker_registration;
    }));
    EXPECT_FALSE(intruder->registered());

    c.stop(ctx, {intruder, b1, b2});
}

TEST(end_to_end, a_restarted_coordinator_serves_its_snapshot_and_tail) {
    fakes::temp_dir dir("trib-coordinator-e2e");
    metadata_image before;
    {
        cluster c(dir.path());
        asio::io_context ctx;
        auto b1 = c.client(ctx, 1);
        b1->start();
        ASSERT_TRUE(run_until(ctx, [&] { return b1->registered() && !b1->fenced(); }));
        for (int i = 0; i < 3; ++i) {
            protocol::create_topics_request req;
            req.topics.push_back({"topic-" + std::to_string(i), 2, 1, {}, {}, {}});
            protocol::writer w;
            req.encode(w, 7);
            bytes body = w.take();
            bool done = false;
            asio::co_spawn(
                ctx,
                [&]() -> asio::awaitable<void> {
                    auto res = co_await b1->admin(19, 7, body);
                    EXPECT_EQ(res.error, protocol::error_code::none);
                    done = true;
                },
                asio::detached);
            ASSERT_TRUE(run_until(ctx, [&] { return done; }));
        }
        before = c.svc->call([](controller& ctl) { return ctl.image(); });
        c.stop(ctx, {b1});
    }
    // Take a snapshot offline, as the service would after enough bytes.
    {
        steady_clock clk;
        controller ctl(controller_config{"e2e"}, clk);
        auto log = single_voter_log::open(dir.path() / "__cluster_metadata-0", {}, ctl);
        ASSERT_TRUE(log->snapshot(ctl.image()));
        log->close();
    }
    cluster c(dir.path());
    EXPECT_EQ(c.svc->call([](controller& ctl) { return ctl.image(); }), before);
    // A new follower starting from 0 gets the snapshot (the log starts after it).
    asio::io_context ctx;
    auto follower = c.client(ctx, 5);
    follower->start();
    ASSERT_TRUE(run_until(ctx, [&] {
        return follower->image().next_offset() >= before.next_offset() && follower->snapshot()->topic("topic-2");
    }));
    EXPECT_EQ(follower->snapshot()->topics.size(), 3u);
    c.stop(ctx, {follower});
}


TEST(end_to_end, describe_quorum_names_the_coordinator_and_the_brokers_following_its_log) {
    fakes::temp_dir dir("trib-coordinator-e2e");
    controller_config ctl;
    ctl.id = node_id(100);
    cluster c(dir.path(), ctl);
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    auto b2 = c.client(ctx, 2);
    b1->start();
    b2->start();
    ASSERT_TRUE(run_until(ctx, [&] { return !b1->fenced() && !b2->fenced(); }));

    protocol::describe_quorum_request req;
    auto& t = req.topics.emplace_back();
    t.topic_name = "__cluster_metadata";
    t.partitions.emplace_back().partition_index = 0;
    protocol::writer w;
    req.encode(w, 2);
    bytes body = w.take();
    // Each heartbeat reports how far its broker applied the log: wait until both are caught up.
    protocol::describe_quorum_response resp;
    ASSERT_TRUE(run_until(ctx, [&] {
        std::optional<admin_result> result;
        asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
            result = co_await b1->admin(protocol::describe_quorum_request::api_key, 2, body);
        }, asio::detached);
        if (!run_until(ctx, [&] { return result.has_value(); }) || result->error != protocol::error_code::none) {
            return false;
        }
        protocol::reader r(result->body);
        resp = {};
        resp.decode(r, 2);
        if (!r.ok() || resp.topics.size() != 1 || resp.topics[0].partitions.size() != 1) {
            return false;
        }
        const auto& p = resp.topics[0].partitions[0];
        return p.observers.size() == 2 && p.observers[0].log_end_offset == p.high_watermark &&
               p.observers[1].log_end_offset == p.high_watermark;
    })) << "both brokers listed as observers, caught up with the log; error " << resp.error_code << ", "
        << (resp.topics.empty() || resp.topics[0].partitions.empty()
                ? std::string("no partition")
                : fmt::format("hw {}, {} observers, first at {}", resp.topics[0].partitions[0].high_watermark,
                              resp.topics[0].partitions[0].observers.size(),
                              resp.topics[0].partitions[0].observers.empty()
                                  ? -1
                                  : resp.topics[0].partitions[0].observers[0].log_end_offset));
    EXPECT_EQ(resp.error_code, 0);
    const auto& p = resp.topics[0].partitions[0];
    EXPECT_EQ(p.error_code, 0);
    EXPECT_EQ(p.leader_id, 100);
    EXPECT_EQ(p.high_watermark, c.svc->call([](controller& k) { return k.image().next_offset().value(); }));
    ASSERT_EQ(p.current_voters.size(), 1u);
    EXPECT_EQ(p.current_voters[0].replica_id, 100);
    EXPECT_EQ(p.current_voters[0].log_end_offset, p.high_watermark);
    EXPECT_GT(p.current_voters[0].last_caught_up_timestamp, 0) << "the leader is caught up now";
    EXPECT_EQ(p.observers[0].replica_id, 1);
    EXPECT_EQ(p.observers[1].replica_id, 2);
    EXPECT_GT(p.observers[0].last_fetch_timestamp, 0);
    ASSERT_EQ(resp.nodes.size(), 1u);
    EXPECT_EQ(resp.nodes[0].node_id, 100);
    ASSERT_EQ(resp.nodes[0].listeners.size(), 1u);
    EXPECT_EQ(resp.nodes[0].listeners[0].name, "CONTROLLER");
    EXPECT_EQ(resp.nodes[0].listeners[0].port, c.port);
    c.stop(ctx, {b1, b2});
}

} // namespace
} // namespace trib::coordinator
