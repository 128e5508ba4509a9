#include <gtest/gtest.h>

#include "operator/k8s/status.h"
#include "tests/fakes/fake_kube.h"

using namespace trib::op::k8s;
using namespace std::chrono_literals;
using trib::op::k8s::testing::fake_kube;
using web::json::value;

namespace {

value cluster() {
    value kc;
    kc["metadata"]["name"] = value::string("c");
    kc["metadata"]["namespace"] = value::string("ns");
    kc["spec"]["brokers"]["replicas"] = value::number(3);
    return kc;
}

const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'796'169'600)); // 2026-12-02T00:00:00Z

} // namespace

TEST(status, writes_the_mutated_status_through_the_subresource) {
    fake_kube kube;
    kube.put(resources::kafka_clusters, cluster());
    auto stored = update_status(kube, resources::kafka_clusters, "ns", "c",
                                [](value& obj) { obj["status"]["replicas"] = value::number(3); });
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->at("status").at("replicas").as_integer(), 3);
    EXPECT_EQ(kube.writes(), std::vector<std::string>{"replace_status KafkaCluster ns/c"});
}

TEST(status, an_unchanged_status_is_not_written) {
    fake_kube kube;
    kube.put(resources::kafka_clusters, cluster());
    auto set = [](value& obj) { obj["status"]["replicas"] = value::number(3); };
    update_status(kube, resources::kafka_clusters, "ns", "c", set);
    auto rv = kube.get(resources::kafka_clusters, "ns", "c")->at("metadata").at("resourceVersion");
    kube.calls.clear();
    update_status(kube, resources::kafka_clusters, "ns", "c", set);
    EXPECT_TRUE(kube.writes().empty());
    EXPECT_EQ(kube.get(resources::kafka_clusters, "ns", "c")->at("metadata").at("resourceVersion"), rv);
}

TEST(status, a_conflict_rereads_and_reapplies_the_mutation) {
    fake_kube kube;
    kube.put(resources::kafka_clusters, cluster());
    // Between our read and our write, someone scales the cluster.
    bool scaled = false;
    kube.before_call = [&](const std::string& verb, const resource&, const std::string&, const std::string&) {
        if (verb == "replace_status" && !scaled) {
            scaled = true;
            auto obj = *kube.get(resources::kafka_clusters, "ns", "c");
            obj["spec"]["brokers"]["replicas"] = value::number(5);
            kube.put(resources::kafka_clusters, obj);
        }
    };
    int runs = 0;
    auto stored = update_status(kube, resources::kafka_clusters, "ns", "c", [&](value& obj) {
        ++runs;
        obj["status"]["wanted"] = obj.at("spec").at("brokers").at("replicas");
    });
    EXPECT_EQ(runs, 2);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->at("status").at("wanted").as_integer(), 5) << "computed from the fresh object";
    EXPECT_EQ(stored->at("spec").at("brokers").at("replicas").as_integer(), 5) << "the scale is not undone";
}

TEST(status, gives_up_after_the_attempts_and_reports_the_conflict) {
    fake_kube kube;
    kube.put(resources::kafka_clusters, cluster());
    kube.fail_next("replace_status", "KafkaCluster", api_error(409, "Conflict", "modified"), 5);
    try {
        update_status(kube, resources::kafka_clusters, "ns", "c",
                      [](value& obj) { obj["status"]["replicas"] = value::number(1); });
        FAIL() << "five conflicts did not surface";
    } catch (const api_error& e) {
        EXPECT_TRUE(e.conflict());
    }
    EXPECT_EQ(kube.writes().size(), 5u);
}

TEST(status, a_missing_object_is_nullopt) {
    fake_kube kube;
    EXPECT_FALSE(update_status(kube, resources::kafka_clusters, "ns", "c", [](value&) {}).has_value());
}

TEST(conditions, transition_time_moves_only_when_the_status_changes) {
    value status;
    EXPECT_TRUE(set_condition(status, "Ready", "False", "Starting", "0/3 brokers", 1, t0));
    EXPECT_TRUE(set_condition(status, "Reconciling", "True", "Applying", "", 1, t0));
    EXPECT_TRUE(set_condition(status, "Ready", "False", "Starting", "2/3 brokers", 1, t0 + 30s));
    auto ready = find_condition(status, "Ready");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->at("lastTransitionTime").as_string(), "2026-12-02T00:00:00Z");
    EXPECT_EQ(ready->at("message").as_string(), "2/3 brokers");

    EXPECT_FALSE(set_condition(status, "Ready", "False", "Starting", "2/3 brokers", 1, t0 + 60s))
        << "same content: no change, so no status write";

    EXPECT_TRUE(set_condition(status, "Ready", "True", "AllBrokersReady", "3/3 brokers", 2, t0 + 90s));
    ready = find_condition(status, "Ready");
    EXPECT_EQ(ready->at("lastTransitionTime").as_string(), "2026-12-02T00:01:30Z");
    EXPECT_EQ(ready->at("observedGeneration").as_integer(), 2);
    EXPECT_EQ(status.at("conditions").size(), 2u);
    EXPECT_FALSE(find_condition(status, "Degraded").has_value());
}
