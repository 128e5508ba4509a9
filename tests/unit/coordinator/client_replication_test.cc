// The client's replication calls against the coordinator service on loopback: AlterPartition
// on the control channel (with heartbeats running), partition epochs in the published
// snapshot, and a controlled shutdown granted once the leaderships moved.
#include "tests/unit/coordinator/service_cluster.h"
#include "tests/fakes/run_until.h"
#include "tests/fakes/temp_dir.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

using namespace std::chrono_literals;
using fakes::run_until;
using testing::cluster;

// Creates `name` with partition 0 on `replicas` through b's admin envelope.
void create(asio::io_context& ctx, coordinator_client& b, const std::string& name, std::vector<int32_t> replicas) {
    protocol::create_topics_request req;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = -1;
    t.replication_factor = -1;
    t.assignments.push_back({0, std::move(replicas), {}});
    protocol::writer w;
    req.encode(w, 7);
    bytes body = w.take();
    std::optional<admin_result> result;
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { result = co_await b.admin(req.api_key, 7, body); }, asio::detached);
    ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
    ASSERT_EQ(result->error, protocol::error_code::none) << result->message;
}

// Starts both clients, waits until they are unfenced, and creates topic "t" on {1, 2}.
void start_with_topic(asio::io_context& ctx, const std::shared_ptr<coordinator_client>& b1,
                      const std::shared_ptr<coordinator_client>& b2) {
    b1->start();
    b2->start();
    ASSERT_TRUE(run_until(ctx, [&] { return !b1->fenced() && !b2->fenced(); }));
    create(ctx, *b1, "t", {1, 2});
}

TEST(client_replication, alter_partition_grows_the_isr_and_every_broker_sees_the_new_epoch) {
    fakes::temp_dir dir("trib-coordinator-repl");
    // The ISR starts as the leader alone here, so there is a member to add: a follower joins
    // through AlterPartition as it would after catching up (with the default, every replica
    // starts in sync).
    controller_config leader_alone;
    leader_alone.followers_replicate = false;
    cluster c(dir.path(), leader_alone);
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    auto b2 = c.client(ctx, 2);
    ASSERT_NO_FATAL_FAILURE(start_with_topic(ctx, b1, b2));
    const auto* p = b1->snapshot()->partition("t", 0);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->isr, std::vector<int32_t>{1});

    protocol::alter_partition_request req;
    auto& t = req.topics.emplace_back();
    t.topic_id = b1->snapshot()->topic("t")->id;
    auto& pd = t.partitions.emplace_back();
    pd.leader_epoch = p->epoch.value();
    pd.partition_epoch = p->partition_epoch;
    pd.new_isr_with_epochs.push_back({1, b1->broker_epoch(), {}});
    pd.new_isr_with_epochs.push_back({2, b2->broker_epoch(), {}});
    // Several in flight at once with the heartbeats: they take turns on the channel.
    std::vector<std::optional<result<protocol::alter_partition_response>>> answers(3);
    for (auto& a : answers) {
        asio::co_spawn(
            ctx, [&]() -> asio::awaitable<void> { a = co_await b1->alter_partition(req); }, asio::detached);
    }
    ASSERT_TRUE(run_until(ctx, [&] {
        return std::all_of(answers.begin(), answers.end(), [](const auto& a) { return a.has_value(); });
    }));
    int granted = 0;
    for (const auto& a : answers) {
        ASSERT_TRUE(*a) << a->error().message();
        const auto& resp = a->value();
        ASSERT_EQ(resp.error_code, 0);
        const auto& out = resp.topics.at(0).partitions.at(0);
        // The first is applied; the others carry its old partition epoch, or see the same ISR.
        if (out.error_code == 0) {
            ++granted;
            EXPECT_EQ(out.isr, (std::vector<int32_t>{1, 2}));
            EXPECT_EQ(out.partition_epoch, 1);
        } else {
            EXPECT_EQ(out.error_code, int16_t(protocol::error_code::invalid_update_version));
        }
    }
    EXPECT_GE(granted, 1);
    ASSERT_TRUE(run_until(ctx, [&] {
        const auto* q = b2->snapshot()->partition("t", 0);
        return q && q->partition_epoch == 1;
    }));
    EXPECT_EQ(b2->snapshot()->partition("t", 0)->isr, (std::vector<int32_t>{1, 2}));
    EXPECT_TRUE(b1->registered() && !b1->fenced()) << "heartbeats kept going";

    c.stop(ctx, {b1, b2});
}

TEST(client_replication, controlled_shutdown_is_granted_after_leadership_moved) {
    fakes::temp_dir dir("trib-coordinator-repl");
    cluster c(dir.path());
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    auto b2 = c.client(ctx, 2);
    ASSERT_NO_FATAL_FAILURE(start_with_topic(ctx, b1, b2));
    ASSERT_EQ(b1->snapshot()->partition("t", 0)->leader, node_id(1));
    ASSERT_EQ(b1->snapshot()->partition("t", 0)->isr, (std::vector<int32_t>{1, 2}));

    bool callback = false;
    b1->on_shutdown_granted([&] { callback = true; });
    std::optional<bool> granted;
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { granted = co_await b1->wait_for_shutdown(10s); }, asio::detached);
    b1->request_shutdown();
    ASSERT_TRUE(run_until(ctx, [&] { return granted.has_value(); }));
    EXPECT_TRUE(*granted);
    EXPECT_TRUE(callback);
    EXPECT_TRUE(b1->shutdown_granted());
    ASSERT_TRUE(run_until(ctx, [&] { return b2->snapshot()->partition("t", 0)->leader == node_id(2); }));
    EXPECT_EQ(b2->snapshot()->partition("t", 0)->isr, std::vector<int32_t>{2});

    c.stop(ctx, {b1, b2});
}

TEST(client_replication, alter_partition_at_an_unclaimed_version_closes_only_that_connection) {
    fakes::temp_dir dir("trib-coordinator-repl");
    cluster c(dir.path());
    asio::io_context ctx;
    rpc_channel raw(ctx.get_executor(), {{"127.0.0.1", c.port}}, "test");
    protocol::alter_partition_request req;
    req.broker_id = 7;
    std::optional<std::error_code> v1, v3;
    protocol::alter_partition_response resp;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            v1 = co_await raw.call(req, resp, 5s, 1);  // v1 names topics: not served
            v3 = co_await raw.call(req, resp, 5s, 3);  // reconnects
        },
        asio::detached);
    ASSERT_TRUE(run_until(ctx, [&] { return v3.has_value(); }));
    EXPECT_TRUE(*v1) << "the coordinator closes the connection";
    EXPECT_FALSE(*v3) << v3->message();
    EXPECT_EQ(resp.error_code, int16_t(protocol::error_code::stale_broker_epoch)) << "broker 7 is not registered";
    raw.close();
    c.svc->stop();
}

// The admin channel sits idle between admin requests; a coordinator restart closes it under
// the client. The next admin request reconnects and is answered, where it used to be written
// into the dead connection and fail (REQUEST_TIMED_OUT to the broker's client).
TEST(client_replication, an_admin_request_after_a_coordinator_restart_reconnects) {
    fakes::temp_dir dir("trib-coordinator-repl");
    cluster c(dir.path());
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    b1->start();
    ASSERT_TRUE(run_until(ctx, [&] { return !b1->fenced(); }));
    ASSERT_NO_FATAL_FAILURE(create(ctx, *b1, "before", {1}));
    c.restart();
    ASSERT_NO_FATAL_FAILURE(create(ctx, *b1, "after", {1}));
    EXPECT_NE(b1->snapshot()->topic("after"), nullptr);
    c.stop(ctx, {b1});
}

TEST(client_replication, an_unregistered_client_may_shut_down_at_once) {
    asio::io_context ctx;
    client_config cfg;
    cfg.coordinators.push_back({"127.0.0.1", 1});  // nothing listens: never registers
    cfg.id = node_id(3);
    auto b = std::make_shared<coordinator_client>(ctx.get_executor(), cfg);
    b->request_shutdown();
    ASSERT_TRUE(run_until(ctx, [&] { return b->shutdown_granted(); }));
}

} // namespace
} // namespace trib::coordinator

namespace trib::coordinator {
namespace {

// A broker starting later replays the metadata log in chunks and publishes each: caught_up()
// (what the broker waits on before it calls itself ready and removes stray replicas) only
// holds once the image has reached the coordinator's end, so every snapshot seen with it
// knows the topics created before the start.
TEST(client_replication, caught_up_only_once_the_image_reaches_the_coordinators_end) {
    fakes::temp_dir dir("trib-coordinator-caught-up");
    cluster c(dir.path());
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    auto b2 = c.client(ctx, 2);
    ASSERT_NO_FATAL_FAILURE(start_with_topic(ctx, b1, b2));
    for (int i = 0; i < 20; ++i) {
        ASSERT_NO_FATAL_FAILURE(create(ctx, *b1, "more-" + std::to_string(i), {1, 2}));
    }
    auto late = c.client(ctx, 3);
    int published = 0;
    int caught_up_without_the_topics = 0;
    late->on_change([&](std::shared_ptr<const cluster_snapshot> s, const metadata_delta&) {
        ++published;
        if (late->caught_up() && (!s->topic("t") || !s->topic("more-19"))) {
            ++caught_up_without_the_topics;
        }
    });
    EXPECT_FALSE(late->caught_up());
    late->start();
    ASSERT_TRUE(run_until(ctx, [&] { return late->caught_up(); }));
    EXPECT_GT(published, 0);
    EXPECT_EQ(caught_up_without_the_topics, 0);
    EXPECT_NE(late->snapshot()->topic("more-19"), nullptr);
    c.stop(ctx, {b1, b2, late});
}

} // namespace
} // namespace trib::coordinator
