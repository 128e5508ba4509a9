// cluster_poller: what it publishes after reading a cluster, after failing to, and after
// forgetting it; and that track() wakes its thread at once instead of a period later.
#include "operator/metrics/cluster_poller.h"

#include "tests/fakes/kafka_fake_broker.h"

#include "tests/fakes/metrics_text.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <thread>

using namespace trib;
using namespace trib::op::metrics;
using trib::fakes::has_line;
using trib::fakes::scrape;
using namespace std::chrono_literals;

namespace {

// A broker that answers ApiVersions and a Metadata listing itself and no topics, on
// `connections` connections.
fakes::kafka_fake_broker one_broker_cluster(int connections) {
    return fakes::kafka_fake_broker(
        [](int16_t key, int32_t corr) -> std::optional<bytes> {
            if (key == protocol::api_versions_key) return fakes::api_versions_answer(corr);
            protocol::metadata_response md;
            md.cluster_id = "fake";
            md.brokers = {{7, "127.0.0.1", 9092, std::nullopt, {}}};
            return fakes::framed(fakes::encode_response(md, 12, corr));
        },
        connections);
}

const std::string labels = R"(kafkacluster="kc",namespace="ns")";

} // namespace

TEST(cluster_poller, publishes_a_read_then_drops_it_when_the_cluster_cannot_be_read) {
    prometheus::Registry registry;
    cluster_metrics metrics(registry);
    cluster_poller poller(metrics, 1h);
    {
        auto broker = one_broker_cluster(1);
        poller.track("ns", "kc", broker.address());
        poller.poll_once();
    }
    auto text = scrape(registry);
    EXPECT_TRUE(has_line(text, "kafka_brokers{" + labels + "} 1")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_cluster_reachable{" + labels + "} 1")) << text;
    EXPECT_EQ(poller.last_error("ns", "kc"), "");

    auto dead = fakes::dead_address();
    poller.track("ns", "kc", dead);
    poller.poll_once();
    text = scrape(registry);
    EXPECT_EQ(text.find("kafka_brokers{"), std::string::npos) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_cluster_reachable{" + labels + "} 0")) << text;
    EXPECT_EQ(poller.last_error("ns", "kc"), "no bootstrap broker answered: " + dead + ": Connection refused");

    poller.forget("ns", "kc");
    EXPECT_EQ(scrape(registry).find("kafkacluster="), std::string::npos);
    EXPECT_EQ(poller.last_error("ns", "kc"), "");
}

TEST(cluster_poller, forget_all_removes_every_clusters_series) {
    prometheus::Registry registry;
    cluster_metrics metrics(registry);
    cluster_poller poller(metrics, 1h);
    poller.track("ns", "a", fakes::dead_address());
    poller.track("other", "b", fakes::dead_address());
    poller.poll_once();
    auto text = scrape(registry);
    EXPECT_TRUE(has_line(text, R"(tributary_operator_cluster_reachable{kafkacluster="a",namespace="ns"} 0)")) << text;
    EXPECT_TRUE(has_line(text, R"(tributary_operator_cluster_reachable{kafkacluster="b",namespace="other"} 0)")) << text;
    poller.forget_all();
    EXPECT_EQ(scrape(registry).find("kafkacluster="), std::string::npos);
    poller.poll_once();  // nothing tracked: nothing comes back
    EXPECT_EQ(scrape(registry).find("kafkacluster="), std::string::npos);
}

TEST(cluster_poller, track_reads_a_new_cluster_at_once) {
    prometheus::Registry registry;
    cluster_metrics metrics(registry);
    cluster_poller poller(metrics, 1h);  // a period no test waits out
    poller.start();
    poller.poll_once();  // nothing tracked yet
    auto dead = fakes::dead_address();
    poller.track("ns", "kc", dead);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (poller.last_error("ns", "kc").empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_NE(poller.last_error("ns", "kc"), "");
    poller.stop();
    poller.stop();  // idempotent
}
