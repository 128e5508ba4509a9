#include <gtest/gtest.h>

#include "operator/k8s/events.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

using namespace trib::op::k8s;
using namespace std::chrono_literals;
using trib::op::k8s::testing::fake_clock;
using trib::op::k8s::testing::fake_kube;
using web::json::value;

namespace {

value cluster(const std::string& name) {
    value kc;
    kc["apiVersion"] = value::string("tributary.io/v1alpha1");
    kc["kind"] = value::string("KafkaCluster");
    kc["metadata"]["name"] = value::string(name);
    kc["metadata"]["namespace"] = value::string("ns");
    kc["metadata"]["uid"] = value::string("uid-" + name);
    return kc;
}

} // namespace

TEST(events, writes_a_core_v1_event_about_the_object) {
    fake_kube kube;
    fake_clock clk;
    api_event_recorder rec(kube, "tributary-operator", "op-0", clk);
    rec.record(cluster("c"), "Warning", "ScalingBlocked", "scale down would lose data");
    auto events = kube.list(resources::events, "ns");
    ASSERT_EQ(events.size(), 1u);
    const auto& ev = events[0];
    EXPECT_EQ(ev.at("involvedObject").at("kind").as_string(), "KafkaCluster");
    EXPECT_EQ(ev.at("involvedObject").at("name").as_string(), "c");
    EXPECT_EQ(ev.at("involvedObject").at("uid").as_string(), "uid-c");
    EXPECT_EQ(ev.at("involvedObject").at("apiVersion").as_string(), "tributary.io/v1alpha1");
    EXPECT_EQ(ev.at("type").as_string(), "Warning");
    EXPECT_EQ(ev.at("reason").as_string(), "ScalingBlocked");
    EXPECT_EQ(ev.at("message").as_string(), "scale down would lose data");
    EXPECT_EQ(ev.at("source").at("component").as_string(), "tributary-operator");
    EXPECT_EQ(ev.at("count").as_integer(), 1);
    EXPECT_EQ(ev.at("firstTimestamp").as_string(), "2026-12-02T00:00:00Z");
}

TEST(events, a_repeat_within_the_window_is_counted_not_written_again) {
    fake_kube kube;
    fake_clock clk;
    api_event_recorder rec(kube, "tributary-operator", "", clk, 10min);
    rec.record(cluster("c"), "Normal", "Created", "StatefulSet c-broker created");
    clk.advance(1min);
    rec.record(cluster("c"), "Normal", "Created", "StatefulSet c-broker created");
    rec.record(cluster("c"), "Normal", "Created", "StatefulSet c-coordinator created"); // differs
    auto events = kube.list(resources::events, "ns");
    ASSERT_EQ(events.size(), 2u);
    int64_t counted = 0;
    for (const auto& ev : events) {
        if (ev.at("message").as_string() == "StatefulSet c-broker created") {
            counted = ev.at("count").as_integer();
            EXPECT_EQ(ev.at("lastTimestamp").as_string(), "2026-12-02T00:01:00Z");
            EXPECT_EQ(ev.at("firstTimestamp").as_string(), "2026-12-02T00:00:00Z");
        }
    }
    EXPECT_EQ(counted, 2);

    clk.advance(11min);
    rec.record(cluster("c"), "Normal", "Created", "StatefulSet c-broker created");
    EXPECT_EQ(kube.list(resources::events, "ns").size(), 3u) << "after the window, a new Event";
}

TEST(events, a_counted_event_that_expired_on_the_server_is_written_anew) {
    fake_kube kube;
    fake_clock clk;
    api_event_recorder rec(kube, "tributary-operator", "", clk);
    rec.record(cluster("c"), "Normal", "Created", "x");
    auto first = kube.list(resources::events, "ns").at(0);
    kube.remove(resources::events, "ns", first.at("metadata").at("name").as_string());
    rec.record(cluster("c"), "Normal", "Created", "x");
    EXPECT_EQ(kube.list(resources::events, "ns").size(), 1u);
}

TEST(events, memory_of_recent_events_is_bounded) {
    fake_kube kube;
    fake_clock clk;
    api_event_recorder rec(kube, "tributary-operator", "", clk, 10min, 2);
    rec.record(cluster("a"), "Normal", "R", "m");
    clk.advance(1s);
    rec.record(cluster("b"), "Normal", "R", "m");
    clk.advance(1s);
    rec.record(cluster("c"), "Normal", "R", "m"); // forgets a's
    rec.record(cluster("a"), "Normal", "R", "m");
    EXPECT_EQ(kube.list(resources::events, "ns").size(), 4u);
}

TEST(events, cluster_scoped_objects_get_events_in_default_and_failures_do_not_throw) {
    fake_kube kube;
    fake_clock clk;
    api_event_recorder rec(kube, "tributary-operator", "", clk);
    value node;
    node["apiVersion"] = value::string("v1");
    node["kind"] = value::string("Node");
    node["metadata"]["name"] = value::string("n1");
    rec.record(node, "Normal", "Seen", "m");
    auto events = kube.list(resources::events, "default");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_FALSE(events[0].at("involvedObject").has_field("namespace"));

    kube.fail_next("create", "Event", api_error(403, "Forbidden", "events is forbidden"));
    EXPECT_NO_THROW(rec.record(cluster("c"), "Normal", "R", "m"));
}
