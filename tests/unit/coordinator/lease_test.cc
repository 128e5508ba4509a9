// The coordinator client's leadership lease (client.h, "Leadership lease") against the
// coordinator service on loopback: granted once the broker is unfenced, renewed by every
// heartbeat while they keep coming, and, once it has run out (here: the coordinator stopped
// for longer than the lease), renewed only together with the metadata end the coordinator
// had when it answered, which the broker must reach before it leads again.
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

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TEST(client_lease, runs_while_heartbeats_are_answered_and_names_the_metadata_end_after_running_out) {
    fakes::temp_dir dir("trib-coordinator-lease");
    cluster c(dir.path());
    asio::io_context ctx;
    auto b1 = c.client(ctx, 1);
    std::vector<lease> seen;
    b1->on_lease([&](const lease& l) { seen.push_back(l); });
    b1->start();
    ASSERT_TRUE(run_until(ctx, [&] { return b1->current_lease().until_ms > 0; })) << "granted once unfenced";
    const lease first = b1->current_lease();
    EXPECT_GT(first.until_ms, now_ms());
    EXPECT_GT(first.from_offset, 0) << "its own registration lies below it";
    EXPECT_EQ(seen.back(), first);

    // The metadata grows (a topic), heartbeats go on: the lease moves on, from the same offset.
    protocol::create_topics_request req;
    req.topics.push_back({"t", 1, 1, {}, {}, {}});
    protocol::writer w;
    req.encode(w, 7);
    bytes body = w.take();
    std::optional<admin_result> created;
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { created = co_await b1->admin(req.api_key, 7, body); }, asio::detached);
    ASSERT_TRUE(run_until(ctx, [&] { return created.has_value(); }));
    ASSERT_EQ(created->error, protocol::error_code::none) << created->message;
    ASSERT_TRUE(run_until(ctx, [&] { return b1->current_lease().until_ms > first.until_ms; }));
    EXPECT_EQ(b1->current_lease().from_offset, first.from_offset) << "renewed in time: nothing to relearn";

    // No coordinator for longer than the lease: it runs out here.
    const int64_t until = b1->current_lease().until_ms;
    c.svc->stop();
    c.svc.reset();
    ASSERT_TRUE(run_until(ctx, [&] { return now_ms() >= until; }, 10s));
    c.svc = std::make_unique<service>(c.cfg, c.clk);
    c.svc->start();
    const int64_t end = c.svc->call([](controller& ctl) { return ctl.image().next_offset().value(); });
    ASSERT_TRUE(run_until(ctx, [&] { return b1->current_lease().until_ms > until; }));
    EXPECT_EQ(b1->current_lease().from_offset, end)
        << "after running out, the lease names the metadata the coordinator had when it renewed it";
    EXPECT_GT(end, first.from_offset);
    c.stop(ctx, {b1});
}

} // namespace
} // namespace trib::coordinator
