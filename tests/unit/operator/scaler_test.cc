// Scale-down with drain (operator/controller/scaler.h): the pure decisions, one pass against a
// fake cluster (a drain_ops playing the coordinator's drain and unregister rules), and the
// reconcile step on the fake API server: 5 -> 3 drains 3 and 4, keeps the StatefulSet until
// both are empty, shrinks, unregisters once the pods are gone; refusals; resuming from the
// status a previous pass wrote; drainedIds; an id given back by a scale-up is undrained.
#include <gtest/gtest.h>

#include "operator/controller/reconciler.h"
#include "operator/controller/scaler.h"
#include "operator/k8s/status.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

#include <algorithm>

namespace trib::op::controller {
namespace {

namespace res = k8s::resources;
using k8s::testing::fake_kube;

// The coordinator's drain and unregister as coordinator/README.md describes them, with the
// partitions left out: each broker holds what the test says, and `min_remaining` stands for
// the largest replication factor (a drain leaving fewer undrained registered brokers is
// refused).
struct fake_cluster final : drain_ops {
    struct broker {
        bool registered = true, drained = false, running = true;
        int32_t replicas = 0, leaders = 0;
        std::vector<std::string> stuck;
    };
    std::map<int32_t, broker> brokers;
    int32_t min_remaining = 1;
    bool reachable = true;
    std::vector<std::string> calls;
    std::vector<std::string> bootstraps;

    explicit fake_cluster(int n = 0) {
        for (int i = 0; i < n; ++i) {
            brokers[i] = broker{.replicas = 10, .leaders = 3, .stuck = {}};
        }
    }

    drain_state state(int32_t id) {
        const auto& b = brokers[id];
        return {id, b.drained, b.replicas, b.leaders, 0, b.stuck};
    }
    drain_answer answer(const std::vector<int32_t>& named) {
        drain_answer a{drain_outcome::ok, "", {}};
        std::set<int32_t> shown(named.begin(), named.end());
        for (const auto& [id, b] : brokers) {
            if (b.drained) {
                shown.insert(id);
            }
        }
        for (int32_t id : shown) {
            a.brokers.push_back(state(id));
        }
        return a;
    }
    bool known(int32_t id) { return brokers.count(id) && (brokers[id].registered || brokers[id].drained); }

    drain_answer describe(const std::string& bootstrap) override {
        bootstraps.push_back(bootstrap);
        calls.push_back("describe");
        if (!reachable) {
            return {drain_outcome::unavailable, "10.0.0.0:9091: DrainBrokers: timed out", {}};
        }
        return answer({});
    }
    drain_answer drain(const std::string&, const std::vector<int32_t>& ids) override {
        std::string c = "drain";
        for (int32_t id : ids) {
            c.append(" ").append(std::to_string(id));
        }
        calls.push_back(c);
        for (int32_t id : ids) {
            if (!known(id)) {
                return {drain_outcome::not_registered, "BROKER_ID_NOT_REGISTERED: broker " + std::to_string(id), {}};
            }
        }
        int32_t remaining = 0;
        for (const auto& [id, b] : brokers) {
            remaining += b.registered && !b.drained && std::find(ids.begin(), ids.end(), id) == ids.end() ? 1 : 0;
        }
        if (remaining < min_remaining) {
            return {drain_outcome::refused,
                    "INVALID_REQUEST: t-0 has " + std::to_string(min_remaining) + " replicas and only " +
                        std::to_string(remaining) + " broker(s) would remain",
                    {}};
        }
        for (int32_t id : ids) {
            brokers[id].drained = true;
        }
        return answer(ids);
    }
    drain_answer undrain(const std::string&, int32_t id) override {
        calls.push_back("undrain " + std::to_string(id));
        brokers[id].drained = false;
        return answer({id});
    }
    drain_answer unregister(const std::string&, int32_t id) override {
        calls.push_back("unregister " + std::to_string(id));
        auto& b = brokers[id];
        if (!b.registered) {
            return {drain_outcome::not_registered, "BROKER_ID_NOT_REGISTERED", {}};
        }
        if (b.replicas > 0) {
            return {drain_outcome::refused, "INVALID_REQUEST: broker still holds replicas", {}};
        }
        if (b.running) {
            return {drain_outcome::refused, "INVALID_REQUEST: broker " + std::to_string(id) + " is running", {}};
        }
        b.registered = false;
        return {drain_outcome::ok, "", {}};
    }
    // The controller's drain step: what the brokers named held has moved.
    void empty_out(std::initializer_list<int32_t> ids) {
        for (int32_t id : ids) {
            brokers[id].replicas = 0;
            brokers[id].leaders = 0;
            brokers[id].stuck.clear();
        }
    }
    int count(const std::string& call) { return int(std::count(calls.begin(), calls.end(), call)); }
};

scale_input scaling(int32_t want, int32_t current) {
    scale_input in;
    in.want = want;
    in.current = current;
    in.addressed = std::max(want, current);
    in.has_pod = [current](int32_t id) { return id < current; };
    return in;
}

bool has_event(const scale_outcome& o, const std::string& reason) {
    return std::any_of(o.events.begin(), o.events.end(), [&](const auto& e) { return e.reason == reason; });
}

// --- the decisions ---

TEST(scaler, the_highest_ordinals_and_the_drained_ids_below_the_spec_are_drained) {
    EXPECT_EQ(brokers_to_drain(scaling(3, 5)), (std::set<int32_t>{3, 4}));
    auto in = scaling(3, 5);
    in.keep_drained = {1, 4, 7};
    EXPECT_EQ(brokers_to_drain(in), (std::set<int32_t>{1, 3, 4}));
    in = scaling(5, 3);  // scaling up: only the ids kept drained
    in.keep_drained = {4};
    EXPECT_EQ(brokers_to_drain(in), (std::set<int32_t>{4}));
    EXPECT_TRUE(brokers_to_drain(scaling(3, 3)).empty());
}

TEST(scaler, the_stateful_set_shrinks_only_when_every_broker_that_goes_holds_nothing) {
    const auto in = scaling(3, 5);
    EXPECT_EQ(target_replicas(in, {}, true), 5);
    EXPECT_EQ(target_replicas(in, {4}, true), 5);
    EXPECT_EQ(target_replicas(in, {3, 4}, true), 3);
    EXPECT_EQ(target_replicas(in, {3, 4}, false), 5);  // the cluster not reached: nothing shrinks
    auto up = scaling(5, 3);
    up.addressed = 4;
    EXPECT_EQ(target_replicas(up, {}, false), 4);  // scaling up as far as addresses are known
}

TEST(scaler, draining_the_last_broker_of_a_rack_is_refused) {
    auto in = scaling(2, 3);
    in.rack_aware = true;
    in.racks = {{0, "a"}, {1, "b"}, {2, "c"}};
    const auto why = rack_refusal(in, {2});
    EXPECT_NE(why.find("rack c (brokers 2)"), std::string::npos) << why;
    in.racks[1] = "c";  // c keeps broker 1
    EXPECT_EQ(rack_refusal(in, {2}), "");
    in.rack_aware = false;
    in.racks[1] = "b";
    EXPECT_EQ(rack_refusal(in, {2}), "");
}

// --- one pass against the fake cluster ---

TEST(scaler, scale_down_drains_then_shrinks_then_unregisters_once_the_pods_are_gone) {
    fake_cluster c(5);
    auto in = scaling(3, 5);
    auto o = scale_brokers(in, &c, "b");
    EXPECT_EQ(c.count("drain 3 4"), 1);  // together: the controller checks them at once
    EXPECT_EQ(o.target, 5);
    EXPECT_EQ(o.waiting_reason, "Draining");
    EXPECT_NE(o.waiting_message.find("3 (10 replicas, 3 leaderships"), std::string::npos) << o.waiting_message;
    EXPECT_TRUE(has_event(o, "Draining"));
    ASSERT_EQ(o.drains.size(), 2u);
    EXPECT_EQ(o.drains[0].state, drain_draining);

    // The next pass asks nothing again; a stuck partition is reported.
    c.brokers[3].stuck = {"t-1: offline"};
    c.empty_out({4});
    c.calls.clear();
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(c.calls, std::vector<std::string>{"describe"});
    EXPECT_EQ(o.target, 5);  // 3 still holds replicas
    EXPECT_NE(o.waiting_message.find("cannot move now: t-1: offline"), std::string::npos) << o.waiting_message;
    EXPECT_FALSE(has_event(o, "Draining"));
    EXPECT_TRUE(has_event(o, "Drained"));  // 4

    c.empty_out({3});
    in.previous_drains = o.drains;
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(o.target, 3);
    EXPECT_EQ(o.waiting_reason, "");
    EXPECT_EQ(c.count("unregister 3"), 0);  // pods still there

    // Pods gone; 4 is still fenced-but-leased ("running") for a moment.
    in.current = 3;
    in.has_pod = [](int32_t id) { return id < 3; };
    in.previous_drains = o.drains;
    c.brokers[3].running = false;
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(c.count("unregister 3"), 1);
    EXPECT_EQ(c.count("unregister 4"), 1);
    EXPECT_FALSE(c.brokers[3].registered);
    EXPECT_EQ(o.waiting_reason, "WaitingForUnregister");
    EXPECT_NE(o.waiting_message.find("broker 4 is running"), std::string::npos) << o.waiting_message;
    EXPECT_EQ(std::count_if(o.events.begin(), o.events.end(), [](const auto& e) { return e.reason == "Unregistered"; }), 1);

    c.brokers[4].running = false;
    in.previous_drains = o.drains;
    c.calls.clear();
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(c.calls, (std::vector<std::string>{"describe", "unregister 4"}));  // 3 is known unregistered
    EXPECT_EQ(o.waiting_reason, "");
    ASSERT_EQ(o.drains.size(), 2u);
    EXPECT_EQ(o.drains[0].state, drain_unregistered);
    EXPECT_EQ(o.drains[1].state, drain_unregistered);
}

TEST(scaler, a_drain_the_cluster_refuses_blocks_scaling_and_changes_nothing) {
    fake_cluster c(4);
    c.min_remaining = 3;  // a topic of replication factor 3
    auto o = scale_brokers(scaling(2, 4), &c, "b");
    EXPECT_EQ(o.target, 4);
    EXPECT_EQ(o.blocked_reason, "DrainRefused");
    EXPECT_NE(o.blocked_message.find("t-0 has 3 replicas and only 2 broker(s) would remain"), std::string::npos)
        << o.blocked_message;
    EXPECT_FALSE(c.brokers[2].drained);
    EXPECT_FALSE(c.brokers[3].drained);

    auto in = scaling(3, 4);  // one fewer is fine
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(o.blocked_reason, "");
    EXPECT_TRUE(c.brokers[3].drained);
}

TEST(scaler, a_drain_that_would_empty_a_rack_is_refused_before_the_cluster_is_asked) {
    fake_cluster c(3);
    auto in = scaling(2, 3);
    in.rack_aware = true;
    in.racks = {{0, "a"}, {1, "b"}, {2, "c"}};
    auto o = scale_brokers(in, &c, "b");
    EXPECT_EQ(o.blocked_reason, "RackWouldBeEmpty");
    EXPECT_EQ(o.target, 3);
    EXPECT_EQ(c.calls, std::vector<std::string>{"describe"});
}

TEST(scaler, an_unreachable_cluster_holds_a_scale_down_but_not_a_scale_up) {
    fake_cluster c(3);
    c.reachable = false;
    auto o = scale_brokers(scaling(2, 3), &c, "b");
    EXPECT_EQ(o.target, 3);
    EXPECT_EQ(o.waiting_reason, "WaitingForCluster");
    EXPECT_NE(o.waiting_message.find("timed out"), std::string::npos) << o.waiting_message;
    o = scale_brokers(scaling(4, 3), &c, "b");
    EXPECT_EQ(o.target, 4);
    EXPECT_EQ(o.waiting_reason, "");
    o = scale_brokers(scaling(2, 3), nullptr, "");
    EXPECT_EQ(o.target, 3);
    EXPECT_EQ(o.waiting_reason, "WaitingForCluster");
}

TEST(scaler, a_broker_that_never_registered_holds_nothing_and_goes_at_once) {
    fake_cluster c(4);  // broker 4's pod never started
    auto o = scale_brokers(scaling(3, 5), &c, "b");
    EXPECT_EQ(c.count("drain 3 4"), 1);
    EXPECT_EQ(c.count("drain 3"), 1);
    EXPECT_EQ(c.count("drain 4"), 1);
    EXPECT_TRUE(c.brokers[3].drained);
    EXPECT_EQ(o.target, 5);  // 3 still holds replicas
    c.empty_out({3});
    o = scale_brokers(scaling(3, 5), &c, "b");
    EXPECT_EQ(o.target, 3);
}

TEST(scaler, drained_ids_are_kept_drained_with_their_pods_and_undrained_when_taken_out) {
    fake_cluster c(3);
    auto in = scaling(3, 3);
    in.keep_drained = {1};
    auto o = scale_brokers(in, &c, "b");
    EXPECT_TRUE(c.brokers[1].drained);
    EXPECT_EQ(o.target, 3);
    EXPECT_EQ(o.waiting_reason, "Draining");
    c.empty_out({1});
    o = scale_brokers(in, &c, "b");
    EXPECT_EQ(o.waiting_reason, "");
    ASSERT_EQ(o.drains.size(), 1u);
    EXPECT_EQ(o.drains[0].state, drain_drained);
    EXPECT_EQ(c.count("unregister 1"), 0);  // its pod runs

    in.keep_drained.clear();
    o = scale_brokers(in, &c, "b");
    EXPECT_FALSE(c.brokers[1].drained);
    EXPECT_TRUE(has_event(o, "Undrained"));
    EXPECT_TRUE(o.drains.empty());
}

TEST(scaler, an_id_given_back_by_a_scale_up_is_undrained) {
    fake_cluster c(4);
    c.brokers[3] = {.registered = false, .drained = true, .running = false, .stuck = {}};  // scaled away before
    auto in = scaling(4, 3);
    in.previous_drains = {{3, drain_unregistered, 0, 0, 0, {}}};
    auto o = scale_brokers(in, &c, "b");
    EXPECT_EQ(o.target, 4);
    EXPECT_FALSE(c.brokers[3].drained);
    EXPECT_EQ(c.count("unregister 3"), 0);
}

// --- spec.brokers.drainedIds and status.drains ---

TEST(scaler, drained_ids_are_read_validated_and_drains_written_as_the_crd_names_them) {
    std::vector<std::string> errors;
    auto c = api::parse_kafka_cluster(
        json::parse(R"({"metadata": {"name": "k", "namespace": "ns"}, "spec": {"brokers": {"replicas": 3, "drainedIds": [2, 0]}}})"),
        errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(c.spec.brokers.drained_ids, (std::vector<int32_t>{2, 0}));
    EXPECT_TRUE(api::validate(c.spec).empty());

    api::parse_kafka_cluster(json::parse(R"({"spec": {"brokers": {"drainedIds": ["x"]}}})"), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "spec.brokers.drainedIds[0] must be an integer");

    c.spec.brokers.drained_ids = {1, 1, -2};
    auto v = api::validate(c.spec);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NE(v[0].find("names broker 1 twice"), std::string::npos) << v[0];
    EXPECT_NE(v[1].find("-2 is not a broker id"), std::string::npos) << v[1];
    c.spec.brokers.drained_ids = {0, 1, 2, 5};
    v = api::validate(c.spec);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_NE(v[0].find("drains every broker"), std::string::npos) << v[0];

    api::kafka_cluster_status s;
    EXPECT_FALSE(api::to_json(s).has_field("drains"));
    s.drains.push_back({3, drain_draining, 4, 1, 2, {"t-0: offline"}});
    const auto j = api::to_json(s).at("drains").at(0);
    EXPECT_EQ(j.serialize(),
              R"({"id":3,"leaders":1,"movesInFlight":2,"replicas":4,"state":"Draining","stuck":["t-0: offline"]})");
}

// --- the reconcile step on the fake API server ---

class scale_step_test : public ::testing::Test {
protected:
    fake_kube kube;
    fake_cluster cluster{5};
    k8s::testing::fake_clock clock;
    reconciler_options opts() {
        reconciler_options o{{}, std::chrono::milliseconds(5000), &clock};
        o.drains = &cluster;
        return o;
    }

    void put_cluster(const std::string& spec) {
        auto existing = kube.get(res::kafka_clusters, "ns", "k");
        json o = existing ? *existing : json::parse(R"({"metadata": {"name": "k", "namespace": "ns"}})");
        o["spec"] = json::parse(spec);
        kube.put(res::kafka_clusters, o);
    }
    reconcile_result pass() {
        reconciler rec{kube, kube, kube, nullptr, opts()};  // a new one each pass: as after a restart
        return rec.reconcile("ns", "k");
    }
    json status() { return kube.get(res::kafka_clusters, "ns", "k")->at("status"); }
    json condition(const std::string& type) { return *k8s::find_condition(status(), type); }
    std::string cond(const std::string& type) {
        return condition(type).at("status").as_string() + "/" + condition(type).at("reason").as_string();
    }
    int64_t broker_replicas() {
        return kube.get(res::stateful_sets, "ns", "k-broker")->at("spec").at("replicas").as_integer();
    }
    void put_pod(const std::string& name, const std::string& ip) {
        json p = json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns"}, "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})");
        p["metadata"]["name"] = json::string(name);
        p["status"]["podIP"] = json::string(ip);
        kube.put(res::pods, p);
    }
    void pods(int brokers) {
        put_pod("k-coordinator-0", "10.0.1.0");
        for (int i = 0; i < brokers; ++i) {
            put_pod("k-broker-" + std::to_string(i), "10.0.0." + std::to_string(i));
        }
    }
    int events(const std::string& reason) {
        return int(std::count_if(kube.events.begin(), kube.events.end(), [&](const auto& e) { return e.reason == reason; }));
    }
};

TEST_F(scale_step_test, five_to_three_drains_three_and_four_then_shrinks_then_unregisters) {
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    pods(5);
    pass();
    ASSERT_EQ(broker_replicas(), 5);
    EXPECT_EQ(cluster.count("drain 3 4"), 0);

    put_cluster(R"({"brokers": {"replicas": 3}})");
    auto r = pass();
    EXPECT_EQ(cluster.count("drain 3 4"), 1);
    EXPECT_EQ(broker_replicas(), 5);
    EXPECT_EQ(cond("Reconciling"), "True/Draining");
    EXPECT_EQ(cond("ScalingBlocked"), "False/NotBlocked");
    EXPECT_TRUE(r.requeue_after.has_value());
    ASSERT_EQ(status().at("drains").size(), 2u);
    EXPECT_EQ(status().at("drains").at(0).at("id").as_integer(), 3);
    EXPECT_EQ(status().at("drains").at(0).at("state").as_string(), "Draining");
    EXPECT_EQ(status().at("drains").at(0).at("replicas").as_integer(), 10);
    EXPECT_EQ(events("Draining"), 1);
    // Every broker keeps running and answering while it drains; the ones that stay are asked first.
    EXPECT_EQ(cluster.bootstraps.back(), "10.0.0.0:9091,10.0.0.1:9091,10.0.0.2:9091,10.0.0.3:9091,10.0.0.4:9091");

    cluster.empty_out({3});
    pass();
    EXPECT_EQ(broker_replicas(), 5);  // 4 still holds replicas
    EXPECT_EQ(cluster.count("drain 3 4"), 1);

    cluster.empty_out({4});
    pass();
    EXPECT_EQ(broker_replicas(), 3);
    EXPECT_EQ(events("Drained"), 2);
    EXPECT_EQ(events("Scaled"), 1);
    EXPECT_EQ(cluster.count("unregister 3") + cluster.count("unregister 4"), 0);
    EXPECT_EQ(status().at("drains").at(1).at("state").as_string(), "Drained");

    // The StatefulSet controller deletes the pods; the brokers stop.
    kube.remove(res::pods, "ns", "k-broker-3");
    kube.remove(res::pods, "ns", "k-broker-4");
    cluster.brokers[3].running = cluster.brokers[4].running = false;
    pass();
    EXPECT_FALSE(cluster.brokers[3].registered);
    EXPECT_FALSE(cluster.brokers[4].registered);
    EXPECT_EQ(events("Unregistered"), 2);
    EXPECT_EQ(status().at("drains").at(0).at("state").as_string(), "Unregistered");
    EXPECT_EQ(cond("Ready"), "True/Ready");
    EXPECT_EQ(status().at("brokers").size(), 3u);

    pass();  // nothing asked again
    EXPECT_EQ(cluster.count("unregister 3"), 1);
    EXPECT_EQ(events("Unregistered"), 2);
}

TEST_F(scale_step_test, a_scale_down_below_the_replication_factor_is_blocked_and_the_stateful_set_stays) {
    cluster.min_remaining = 3;
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    pods(5);
    pass();
    put_cluster(R"({"brokers": {"replicas": 2}})");
    pass();
    EXPECT_EQ(broker_replicas(), 5);
    EXPECT_EQ(cond("ScalingBlocked"), "True/DrainRefused");
    const auto message = condition("ScalingBlocked").at("message").as_string();
    EXPECT_NE(message.find("only 2 broker(s) would remain"), std::string::npos) << message;
    EXPECT_EQ(events("ScalingBlocked"), 1);
    pass();
    EXPECT_EQ(events("ScalingBlocked"), 1);  // once per refusal
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    EXPECT_EQ(cond("ScalingBlocked"), "False/NotBlocked");
    EXPECT_EQ(broker_replicas(), 5);
}

TEST_F(scale_step_test, a_pass_after_a_restart_resumes_from_the_cluster_and_the_status) {
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    pods(5);
    pass();
    put_cluster(R"({"brokers": {"replicas": 3}})");
    pass();  // drain asked; then the operator is killed
    cluster.empty_out({3, 4});
    pass();  // a new reconciler: shrinks from what the cluster says
    EXPECT_EQ(cluster.count("drain 3 4"), 1);
    EXPECT_EQ(broker_replicas(), 3);
    kube.remove(res::pods, "ns", "k-broker-3");
    kube.remove(res::pods, "ns", "k-broker-4");
    cluster.brokers[3].running = cluster.brokers[4].running = false;
    pass();
    EXPECT_FALSE(cluster.brokers[4].registered);

    // Scale up again: ids 3 and 4 come back as fresh brokers, undrained.
    put_cluster(R"({"brokers": {"replicas": 5}})");
    cluster.brokers[3].registered = true;
    pass();
    EXPECT_EQ(broker_replicas(), 5);
    EXPECT_FALSE(cluster.brokers[3].drained);
    EXPECT_FALSE(cluster.brokers[4].drained);
    EXPECT_FALSE(status().has_field("drains"));
}

// Found by e2e_quorum's coordinator failover: a pass that could not read the drains wrote
// a status without them.
TEST_F(scale_step_test, a_pass_that_cannot_read_the_cluster_keeps_the_drains_in_status) {
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    pods(5);
    pass();
    put_cluster(R"({"brokers": {"replicas": 4}})");
    pass();
    ASSERT_EQ(status().at("drains").size(), 1u);
    const json before = status().at("drains");
    EXPECT_EQ(before.at(0).at("state").as_string(), "Draining");

    cluster.reachable = false;  // the coordinators elect a new leader
    pass();
    EXPECT_EQ(status().at("drains"), before);
    EXPECT_EQ(cond("Reconciling"), "True/WaitingForCluster");
    EXPECT_EQ(broker_replicas(), 5);

    cluster.reachable = true;
    cluster.empty_out({4});
    pass();
    EXPECT_EQ(status().at("drains").at(0).at("state").as_string(), "Drained");
    cluster.reachable = false;
    pass();
    EXPECT_EQ(status().at("drains").at(0).at("state").as_string(), "Drained");
    cluster.reachable = true;
    pass();
    EXPECT_EQ(events("Drained"), 1);  // not announced again after the blind pass
}

TEST_F(scale_step_test, a_drained_id_keeps_its_pod_running_empty) {
    put_cluster(R"({"brokers": {"replicas": 5, "drainedIds": [1]}})");
    pass();
    pods(5);
    pass();
    EXPECT_TRUE(cluster.brokers[1].drained);
    EXPECT_EQ(broker_replicas(), 5);
    cluster.empty_out({1});
    pass();
    EXPECT_EQ(status().at("drains").at(0).at("state").as_string(), "Drained");
    EXPECT_EQ(cond("Ready"), "True/Ready");
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    EXPECT_FALSE(cluster.brokers[1].drained);
}

} // namespace
} // namespace trib::op::controller
