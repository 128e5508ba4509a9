// cluster_metrics and operator_metrics as /metrics shows them: the Prometheus text a scrape
// gets (prometheus-cpp's TextSerializer, as the status server uses it).
#include "operator/metrics/cluster_metrics.h"
#include "operator/metrics/operator_metrics.h"

#include "tests/fakes/metrics_text.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>

using namespace trib::op::metrics;
using trib::fakes::has_line;
using trib::fakes::scrape;
using namespace std::chrono_literals;

namespace {

cluster_view two_topics() {
    cluster_view v;
    v.cluster_id = "abc";
    v.brokers = {{1, "b1.example", 9092, ""}, {2, "b2.example", 9092, "rack-b"}};
    v.partitions = {
        {.topic = "orders", .partition = 0, .leader = 1, .replicas = {1, 2}, .isr = {1}, .oldest_offset = 3,
         .current_offset = 10},
        {.topic = "orders", .partition = 1, .leader = 1, .replicas = {2, 1}, .isr = {2, 1}, .oldest_offset = 0,
         .current_offset = 7},
        {.topic = "users", .partition = 0, .leader = 2, .replicas = {2}, .isr = {2}, .oldest_offset = -1,
         .current_offset = -1},
    };
    return v;
}

} // namespace

TEST(cluster_metrics, publishes_kafka_exporter_series_per_cluster) {
    prometheus::Registry registry;
    cluster_metrics m(registry);
    m.update("team-a", "main", two_topics());
    auto text = scrape(registry);
    const std::string c = R"(kafkacluster="main",namespace="team-a")";
    EXPECT_TRUE(has_line(text, "kafka_brokers{" + c + "} 2")) << text;
    EXPECT_TRUE(has_line(text, R"(kafka_broker_info{address="b2.example:9092",id="2",)" + c + "} 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partitions{" + c + R"(,topic="orders"} 2)")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partitions{" + c + R"(,topic="users"} 1)")) << text;
    const std::string o0 = c + R"(,partition="0",topic="orders"})";
    const std::string o1 = c + R"(,partition="1",topic="orders"})";
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_current_offset{" + o0 + " 10")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_oldest_offset{" + o0 + " 3")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_leader{" + o0 + " 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_replicas{" + o0 + " 2")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_in_sync_replica{" + o0 + " 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_under_replicated_partition{" + o0 + " 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_under_replicated_partition{" + o1 + " 0")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_leader_is_preferred{" + o0 + " 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_leader_is_preferred{" + o1 + " 0")) << text;
    // Offsets that could not be read are left out, not published as -1.
    EXPECT_EQ(text.find(R"(kafka_topic_partition_current_offset{)" + c + R"(,partition="0",topic="users"})"),
              std::string::npos)
        << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_leader{" + c + R"(,partition="0",topic="users"} 2)")) << text;
}

TEST(cluster_metrics, update_replaces_the_clusters_series_and_leaves_others_alone) {
    prometheus::Registry registry;
    cluster_metrics m(registry);
    m.update("team-a", "main", two_topics());
    m.update("team-b", "other", two_topics());

    auto smaller = two_topics();
    smaller.partitions.erase(smaller.partitions.begin() + 1, smaller.partitions.end());  // orders[0] only
    smaller.partitions[0].current_offset = 42;
    smaller.brokers.pop_back();
    m.update("team-a", "main", smaller);

    auto text = scrape(registry);
    const std::string a = R"(kafkacluster="main",namespace="team-a")";
    const std::string b = R"(kafkacluster="other",namespace="team-b")";
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_current_offset{" + a + R"(,partition="0",topic="orders"} 42)"))
        << text;
    EXPECT_EQ(text.find(a + R"(,partition="1",topic="orders")"), std::string::npos) << text;
    EXPECT_EQ(text.find(a + R"(,topic="users")"), std::string::npos) << text;
    EXPECT_EQ(text.find(R"(kafka_broker_info{address="b2.example:9092",id="2",)" + a), std::string::npos) << text;
    EXPECT_TRUE(has_line(text, "kafka_brokers{" + a + "} 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partitions{" + a + R"(,topic="orders"} 1)")) << text;
    // The other cluster keeps everything.
    EXPECT_TRUE(has_line(text, "kafka_topic_partitions{" + b + R"(,topic="users"} 1)")) << text;
    EXPECT_TRUE(has_line(text, "kafka_topic_partition_current_offset{" + b + R"(,partition="1",topic="orders"} 7)"))
        << text;

    m.remove("team-b", "other");
    text = scrape(registry);
    EXPECT_EQ(text.find(b), std::string::npos) << text;
    EXPECT_TRUE(has_line(text, "kafka_brokers{" + a + "} 1")) << text;
    m.remove("team-b", "other");  // again: nothing left to remove, no harm
    m.remove("team-a", "main");
    EXPECT_EQ(scrape(registry).find("kafkacluster="), std::string::npos);
}

TEST(operator_metrics, counts_reconciles_errors_durations_brokers_and_leadership) {
    prometheus::Registry registry;
    operator_metrics m(registry);
    EXPECT_TRUE(has_line(scrape(registry), "tributary_operator_leader 0"));
    m.set_leader(true);
    m.reconciled("ns", "kc", reconcile_result::success, 20ms);
    m.reconciled("ns", "kc", reconcile_result::success, 30ms);
    m.reconciled("ns", "kc", reconcile_result::error, 2s);
    m.reconciled("ns", "kc", reconcile_result::requeue, 1ms);
    m.set_brokers("ns", "kc", {{"Running", 2}, {"Pending", 1}});
    m.set_brokers("ns", "kc", {{"Running", 3}});

    auto text = scrape(registry);
    const std::string c = R"(kafkacluster="kc",namespace="ns")";
    EXPECT_TRUE(has_line(text, "tributary_operator_leader 1")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_total{" + c + R"(,result="success"} 2)")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_total{" + c + R"(,result="error"} 1)")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_total{" + c + R"(,result="requeue"} 1)")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_errors_total{" + c + "} 1")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_duration_seconds_count{" + c + "} 4")) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_reconcile_duration_seconds_bucket{" + c + R"(,le="0.025"} 2)"))
        << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_brokers{" + c + R"(,state="Running"} 3)")) << text;
    EXPECT_EQ(text.find(R"(state="Pending")"), std::string::npos) << text;

    m.remove("ns", "kc");
    text = scrape(registry);
    EXPECT_EQ(text.find("kafkacluster="), std::string::npos) << text;
    EXPECT_TRUE(has_line(text, "tributary_operator_leader 1")) << text;
}
