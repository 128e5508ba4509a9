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

TEST(cluster_metrics, publishes_each_groups_lag_with_the_clusters_labels_and_drops_gone_groups) {
    prometheus::Registry registry;
    cluster_metrics m(registry);
    auto v = two_topics();
    // orders: ends 10 and 7. "billing" committed both, "audit" (a KIP-848 group: members
    // unknown) only partition 1, "late" to a topic whose end could not be read.
    v.groups = {
        {.group_id = "audit", .coordinator = 2, .protocol_type = "consumer", .type = "consumer", .state = "Stable",
         .members = -1, .offsets = {{"orders", 1, 7}}},
        {.group_id = "billing", .coordinator = 1, .protocol_type = "consumer", .type = "classic", .state = "Stable",
         .members = 2, .offsets = {{"orders", 0, 4}, {"orders", 1, 6}}},
        {.group_id = "late", .coordinator = 1, .protocol_type = "", .type = "classic", .state = "Empty", .members = 0,
         .offsets = {{"users", 0, 3}}},
    };
    EXPECT_TRUE(m.update("team-a", "main", v).empty());
    auto text = scrape(registry);
    const std::string c = R"(kafkacluster="main",namespace="team-a")";
    auto gp = [&](const std::string& g, int p) {
        return R"({consumergroup=")" + g + R"(",)" + c + R"(,partition=")" + std::to_string(p) + R"(",topic="orders"})";
    };
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_members{consumergroup=\"billing\"," + c + "} 2")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_current_offset" + gp("billing", 0) + " 4")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag" + gp("billing", 0) + " 6")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag" + gp("billing", 1) + " 1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag_sum{consumergroup=\"billing\"," + c + R"(,topic="orders"} 7)"))
        << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_current_offset_sum{consumergroup=\"billing\"," + c +
                                   R"(,topic="orders"} 10)"))
        << text;
    // kafka_exporter's -1 for the partition without a commit; no member count when unknown.
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_current_offset" + gp("audit", 0) + " -1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag" + gp("audit", 0) + " -1")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag" + gp("audit", 1) + " 0")) << text;
    EXPECT_EQ(text.find(R"(kafka_consumergroup_members{consumergroup="audit")"), std::string::npos) << text;
    // An end not read: the commit, but no lag rather than a wrong one.
    EXPECT_TRUE(has_line(text, R"(kafka_consumergroup_members{consumergroup="late",)" + c + "} 0")) << text;
    EXPECT_NE(text.find(R"(kafka_consumergroup_current_offset{consumergroup="late",)"), std::string::npos) << text;
    EXPECT_EQ(text.find(R"(kafka_consumergroup_lag{consumergroup="late",)"), std::string::npos) << text;
    // No lag in seconds (no timestamps read) and the partitions' offsets once each.
    EXPECT_EQ(text.find("kafka_consumergroup_lag_seconds{"), std::string::npos) << text;
    size_t current = 0;
    for (size_t at = 0; (at = text.find("\nkafka_topic_partition_current_offset{", at)) != std::string::npos; ++at) {
        ++current;
    }
    EXPECT_EQ(current, 2u) << text;  // orders 0 and 1; users' end unknown

    // A commit above the end shows lag 0 and is handed back for the log.
    v.groups[1].offsets[0].offset = 12;
    auto inverted = m.update("team-a", "main", v);
    ASSERT_EQ(inverted.size(), 1u);
    EXPECT_EQ(inverted[0].group_id, "billing");
    EXPECT_EQ(inverted[0].end, 10);
    EXPECT_TRUE(has_line(scrape(registry), "kafka_consumergroup_lag" + gp("billing", 0) + " 0"));

    // Groups gone (deleted) lose their series; an unreachable cluster loses them all.
    v.groups.erase(v.groups.begin() + 1, v.groups.end());
    m.update("team-a", "main", v);
    text = scrape(registry);
    EXPECT_EQ(text.find(R"(consumergroup="billing")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(consumergroup="audit")"), std::string::npos) << text;
    m.unreachable("team-a", "main");
    EXPECT_EQ(scrape(registry).find("consumergroup="), std::string::npos);
}

TEST(cluster_metrics, lag_seconds_is_the_age_of_the_next_record_at_the_reads_time) {
    prometheus::Registry registry;
    cluster_metrics m(registry);
    auto v = two_topics();  // orders: ends 10 and 7
    v.groups = {{.group_id = "billing", .coordinator = 1, .protocol_type = "consumer", .type = "classic",
                 .state = "Stable", .members = 1, .offsets = {{"orders", 0, 4}, {"orders", 1, 7}}}};
    v.partitions[0].next_timestamp_ms = {{4, 7'000}};
    v.timestamps_read = true;
    v.read_at_ms = 10'500;
    m.update("team-a", "main", v);
    auto text = scrape(registry);
    const std::string g = R"({consumergroup="billing",kafkacluster="main",namespace="team-a",partition=")";
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag_seconds" + g + R"(0",topic="orders"} 3.5)")) << text;
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag_seconds" + g + R"(1",topic="orders"} 0)")) << text;

    // Behind without the record's timestamp: lag, but no lag_seconds for that partition.
    v.partitions[0].next_timestamp_ms.clear();
    m.update("team-a", "main", v);
    text = scrape(registry);
    EXPECT_TRUE(has_line(text, "kafka_consumergroup_lag" + g + R"(0",topic="orders"} 6)")) << text;
    EXPECT_EQ(text.find("kafka_consumergroup_lag_seconds" + g + R"(0")"), std::string::npos) << text;
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
