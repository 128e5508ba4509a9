// The rolling update (controller/roller.h) over the in-memory API (tests/fakes/fake_kube.h),
// with the StatefulSet controller played by the test (a template change gives a new
// updateRevision; a deleted pod comes back with it) and a fake roll_ops for the cluster:
// pods restarted one at a time, each after the previous is back and nothing is
// under-replicated; the refusal to go below min.insync.replicas; dynamic configs applied
// without a restart; a roll resumed by a new reconciler (an operator restarted mid-roll).
#include <gtest/gtest.h>

#include "operator/controller/reconciler.h"
#include "operator/controller/roll_ops.h"
#include "operator/controller/roller.h"
#include "operator/k8s/status.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

#include <algorithm>
#include <functional>

namespace trib::op::controller {
namespace {

namespace res = k8s::resources;
using k8s::testing::fake_kube;

struct fake_roll_ops final : roll_ops {
    std::optional<std::vector<partition_state>> parts = std::vector<partition_state>{};
    std::map<std::string, std::string> defaults;
    std::vector<dynamic_config_change> altered;
    std::optional<quorum_state> q;
    int partition_reads = 0;

    std::optional<std::vector<partition_state>> partitions(const std::vector<std::string>& brokers,
                                                          std::string& why) override {
        ++partition_reads;
        EXPECT_FALSE(brokers.empty());
        if (!parts) {
            why = "nobody answered";
        }
        return parts;
    }
    std::optional<std::map<std::string, std::string>> dynamic_defaults(const std::vector<std::string>&,
                                                                      std::string&) override {
        return defaults;
    }
    bool alter_dynamic_defaults(const std::vector<std::string>&, const dynamic_config_change& c,
                                std::string&) override {
        altered.push_back(c);
        for (const auto& [k, v] : c.set) {
            defaults[k] = v;
        }
        for (const auto& k : c.remove) {
            defaults.erase(k);
        }
        return true;
    }
    std::optional<quorum_state> quorum(const std::vector<std::string>&, std::string& why) override {
        if (!q) {
            why = "no quorum";
        }
        return q;
    }
};

// A partition of topic t on brokers 0, 1, 2.
partition_state part(int32_t index, std::vector<int32_t> isr, int32_t min_isr = 2,
                     std::vector<int32_t> replicas = {0, 1, 2}) {
    return {"t", index, std::move(replicas), std::move(isr), min_isr};
}

class roller_test : public ::testing::Test {
protected:
    fake_kube kube;
    fake_roll_ops ops;
    k8s::testing::fake_clock clock;
    std::unique_ptr<reconciler> rec = make_reconciler();
    std::vector<std::string> deleted;  // pods, in order

    std::unique_ptr<reconciler> make_reconciler() {
        reconciler_options o{{}, std::chrono::milliseconds(5000), &clock};
        o.roll = &ops;
        return std::make_unique<reconciler>(kube, kube, kube, nullptr, o);
    }

    void put_cluster(const std::string& spec) {
        auto existing = kube.get(res::kafka_clusters, "ns", "k");
        json o = existing ? *existing : json::parse(R"({"metadata": {"name": "k", "namespace": "ns"}})");
        o["spec"] = json::parse(spec);
        kube.put(res::kafka_clusters, o);
    }

    // One pass, then the StatefulSet controller's part: updateRevision from the template,
    // missing pods created with it (Ready when `ready`).
    void pass(bool new_pods_ready = false) {
        kube.calls.clear();
        rec->reconcile("ns", "k");
        for (const auto& c : kube.calls) {
            if (c.rfind("remove Pod ns/", 0) == 0) {
                deleted.push_back(c.substr(std::string("remove Pod ns/").size()));
            }
        }
        sts_controller("k-coordinator", new_pods_ready);
        sts_controller("k-broker", new_pods_ready);
    }

    void sts_controller(const std::string& name, bool ready) {
        auto sts = kube.get(res::stateful_sets, "ns", name);
        if (!sts) {
            return;
        }
        const json& tmpl = sts->at("spec").at("template");
        const std::string rev = name + "-" + std::to_string(std::hash<std::string>{}(tmpl.serialize()) % 1000000);
        if (string_at(*sts, {"status", "updateRevision"}) != rev) {
            (*sts)["status"] = json::object();
            (*sts)["status"]["updateRevision"] = json::string(rev);
            kube.put(res::stateful_sets, *sts);
        }
        for (int64_t ord = 0; ord < sts->at("spec").at("replicas").as_integer(); ++ord) {
            const std::string pod = name + "-" + std::to_string(ord);
            if (kube.get(res::pods, "ns", pod)) {
                continue;
            }
            json p = json::object();
            p["metadata"] = tmpl.at("metadata");
            p["metadata"]["name"] = json::string(pod);
            p["metadata"]["namespace"] = json::string("ns");
            p["metadata"]["labels"][revision_label] = json::string(rev);
            p["spec"] = tmpl.at("spec");
            p["spec"]["nodeName"] = json::string("n1");
            p["status"] = json::parse(R"({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]})");
            p["status"]["podIP"] = json::string("10.0." + std::to_string(name == "k-broker" ? 0 : 1) + "." +
                                                std::to_string(ord));
            kube.create(res::pods, p);
            set_ready(pod, ready);
        }
    }

    void set_ready(const std::string& pod, bool ready) {
        auto p = *kube.get(res::pods, "ns", pod);
        p["status"]["conditions"][0]["status"] = json::string(ready ? "True" : "False");
        kube.put(res::pods, p);
    }
    void all_ready() {
        set_ready("k-coordinator-0", true);
        for (int i = 0; i < 3; ++i) {
            set_ready("k-broker-" + std::to_string(i), true);
        }
    }

    // A running cluster: objects, pods Ready, nothing outdated.
    void running_cluster(const std::string& spec = "{}") {
        put_cluster(spec);
        pass(true);
        pass(true);
        ASSERT_TRUE(deleted.empty());
    }

    json status() { return kube.get(res::kafka_clusters, "ns", "k")->at("status"); }
    std::string cond(const std::string& type, const char* field) {
        return k8s::find_condition(status(), type)->at(field).as_string();
    }
    std::vector<std::string> event_messages(const std::string& reason) {
        std::vector<std::string> out;
        for (const auto& e : kube.events) {
            if (e.reason == reason) {
                out.push_back(e.message);
            }
        }
        return out;
    }
};

TEST_F(roller_test, an_image_change_restarts_every_pod_once_one_at_a_time_coordinator_first) {
    running_cluster();
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();  // the templates change; the StatefulSet controller gives new updateRevisions
    std::vector<std::string> expected;
    for (const char* pod : {"k-coordinator-0", "k-broker-0", "k-broker-1", "k-broker-2"}) {
        pass();
        expected.push_back(pod);
        ASSERT_EQ(deleted, expected);
        EXPECT_EQ(cond("Reconciling", "reason"), "RollingUpdate");
        EXPECT_EQ(status().at("rollingUpdate").at("restarting").as_string(), pod);
        EXPECT_EQ(status().at("rollingUpdate").at("reason").as_string(), "image changed");
        // The new pod starts: nothing else is restarted meanwhile.
        pass();
        EXPECT_EQ(deleted, expected);
        EXPECT_NE(status().at("rollingUpdate").at("message").as_string().find(pod), std::string::npos);
        set_ready(pod, true);
        if (std::string(pod).find("broker") != std::string::npos && std::string(pod) != "k-broker-2") {
            // Ready, but its partitions are still catching up: the roll waits (after the last
            // one there is nothing left to wait for).
            const int32_t id = pod[std::string(pod).size() - 1] - '0';
            std::vector<int32_t> isr;
            for (int32_t b : {0, 1, 2}) {
                if (b != id) {
                    isr.push_back(b);
                }
            }
            ops.parts = std::vector<partition_state>{part(0, isr), part(1, {0, 1, 2})};
            pass();
            EXPECT_EQ(deleted, expected);
            EXPECT_NE(status().at("rollingUpdate").at("message").as_string().find("under-replicated: t-0"),
                      std::string::npos);
            ops.parts = std::vector<partition_state>{part(0, {0, 1, 2}), part(1, {0, 1, 2})};
        }
    }
    pass();
    EXPECT_EQ(deleted, expected);  // every pod once
    EXPECT_FALSE(status().has_field("rollingUpdate"));
    EXPECT_EQ(cond("Reconciling", "status"), "False");
    auto restarted = event_messages("BrokerRestarted");
    ASSERT_EQ(restarted.size(), 3u);
    EXPECT_EQ(restarted[0], "Restarted broker 0 (pod k-broker-0): image changed");
    EXPECT_EQ(event_messages("CoordinatorRestarted").size(), 1u);
    auto rolls = event_messages("RollingRestart");
    ASSERT_EQ(rolls.size(), 2u);  // coordinators, then brokers
    EXPECT_EQ(rolls[1], "Restarting brokers one at a time: k-broker-0, k-broker-1, k-broker-2 (image changed)");
    EXPECT_EQ(event_messages("RollingRestartComplete").size(), 1u);
}

TEST_F(roller_test, no_broker_is_restarted_while_a_coordinator_or_another_broker_is_down) {
    running_cluster();
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();
    pass();  // the coordinator; its new pod starts
    ASSERT_EQ(deleted, std::vector<std::string>{"k-coordinator-0"});
    const auto reads = ops.partition_reads;
    pass();
    EXPECT_EQ(deleted.size(), 1u);
    EXPECT_NE(cond("Reconciling", "message").find("rolling coordinators: k-coordinator-0 is not ready"), std::string::npos);
    set_ready("k-coordinator-0", true);
    kube.remove(res::pods, "ns", "k-broker-2");  // gone (evicted, say)
    pass();
    EXPECT_EQ(deleted.size(), 1u);
    EXPECT_NE(cond("Reconciling", "message").find("broker 2 (k-broker-2) is not created yet"), std::string::npos);
    pass();  // back with the new template, starting
    EXPECT_EQ(deleted.size(), 1u);
    EXPECT_NE(cond("Reconciling", "message").find("broker 2 (k-broker-2) is not ready"), std::string::npos);
    EXPECT_EQ(ops.partition_reads, reads);  // not worth asking the cluster meanwhile
    set_ready("k-broker-2", true);
    pass();
    EXPECT_EQ(deleted.back(), "k-broker-0");
}

TEST_F(roller_test, a_stop_that_would_go_below_min_isr_is_refused_and_reported) {
    running_cluster();
    // t-0 has a replica on broker 7, which is gone: in sync are 0 and 1, min.insync.replicas 2.
    ops.parts = std::vector<partition_state>{part(0, {0, 1}, 2, {0, 1, 7}), part(1, {0, 1, 2})};
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();
    pass(true);  // the coordinator (its new pod comes back Ready)
    pass(true);
    // 0 and 1 are refused; 2 is not in t-0's ISR.
    EXPECT_EQ(deleted, (std::vector<std::string>{"k-coordinator-0", "k-broker-2"}));
    pass(true);
    pass(true);
    EXPECT_EQ(deleted.size(), 2u);
    auto st = status().at("rollingUpdate");
    EXPECT_TRUE(st.at("blocked").as_bool());
    EXPECT_EQ(st.at("message").as_string(),
              "broker 0 would take t-0 below min.insync.replicas; broker 1 would take t-0 below min.insync.replicas");
    EXPECT_EQ(cond("Reconciling", "reason"), "RollingUpdate");
    EXPECT_EQ(event_messages("RollingRestartBlocked").size(), 1u);  // on change, not every pass
    // Once broker 7's replica is reassigned to 2 and in sync, the roll goes on.
    ops.parts = std::vector<partition_state>{part(0, {0, 1, 2}), part(1, {0, 1, 2})};
    pass(true);
    EXPECT_EQ(deleted.back(), "k-broker-0");
}

TEST_F(roller_test, a_partition_already_below_min_isr_is_reported_not_waited_on) {
    running_cluster();
    ops.parts = std::vector<partition_state>{part(0, {0}, 2), part(1, {0, 1, 2})};
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();
    pass(true);  // coordinator
    pass(true);
    EXPECT_EQ(deleted, (std::vector<std::string>{"k-coordinator-0", "k-broker-0"}));
    EXPECT_EQ(status().at("rollingUpdate").at("partitionsBelowMinIsr").at(0).as_string(), "t-0");
    auto warned = event_messages("PartitionsBelowMinIsr");
    ASSERT_EQ(warned.size(), 1u);
    EXPECT_NE(warned[0].find("t-0"), std::string::npos);
}

TEST_F(roller_test, the_roll_waits_while_the_cluster_cannot_be_read) {
    running_cluster();
    ops.parts = std::nullopt;
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();
    pass(true);
    pass(true);
    EXPECT_EQ(deleted, std::vector<std::string>{"k-coordinator-0"});
    EXPECT_NE(cond("Reconciling", "message").find("could not be read: nobody answered"), std::string::npos);
}

TEST_F(roller_test, a_dynamic_config_change_is_applied_without_restarting_anything) {
    running_cluster(R"({"brokers": {"config": {"num.network.threads": "3"}}})");
    put_cluster(R"({"brokers": {"config": {"num.network.threads": "3", "log.retention.ms": "60000",
                   "follower.replication.throttled.rate": "1000000"}}})");
    pass(true);
    pass(true);
    pass(true);
    EXPECT_TRUE(deleted.empty());
    ASSERT_EQ(ops.altered.size(), 1u);  // once: then the cluster has them
    EXPECT_EQ(ops.altered[0].set, (std::map<std::string, std::string>{{"follower.replication.throttled.rate", "1000000"},
                                                                      {"log.retention.ms", "60000"}}));
    EXPECT_EQ(status().at("dynamicBrokerConfig").at("log.retention.ms").as_string(), "60000");
    EXPECT_EQ(event_messages("DynamicConfigApplied").size(), 1u);
    // Dropped from the spec: removed from the cluster, still no restart.
    put_cluster(R"({"brokers": {"config": {"num.network.threads": "3", "log.retention.ms": "60000"}}})");
    pass(true);
    pass(true);
    EXPECT_TRUE(deleted.empty());
    ASSERT_EQ(ops.altered.size(), 2u);
    EXPECT_EQ(ops.altered[1].remove, std::vector<std::string>{"follower.replication.throttled.rate"});
    EXPECT_TRUE(ops.altered[1].set.empty());
    // A key a broker reads only at start: every broker restarts, saying which key.
    put_cluster(R"({"brokers": {"config": {"num.network.threads": "4", "log.retention.ms": "60000"}}})");
    pass(true);
    pass(true);
    EXPECT_EQ(deleted, std::vector<std::string>{"k-broker-0"});  // the coordinators' config is the same
    EXPECT_EQ(event_messages("BrokerRestarted").at(0),
              "Restarted broker 0 (pod k-broker-0): config changed: num.network.threads");
}

TEST_F(roller_test, a_roll_interrupted_by_an_operator_restart_resumes_where_the_objects_say) {
    running_cluster();
    put_cluster(R"({"brokers": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}})");
    pass();
    pass(true);
    ASSERT_EQ(deleted, (std::vector<std::string>{"k-broker-0"}));
    EXPECT_EQ(event_messages("BrokerRestarted").at(0), "Restarted broker 0 (pod k-broker-0): resources changed");
    // The operator is killed and another replica takes over: nothing of the first is kept.
    rec = make_reconciler();
    pass(true);
    EXPECT_EQ(deleted, (std::vector<std::string>{"k-broker-0", "k-broker-1"}));
    EXPECT_EQ(event_messages("RollingRestart").size(), 1u);  // the same roll, not a new one
    pass(true);
    pass(true);
    EXPECT_EQ(deleted, (std::vector<std::string>{"k-broker-0", "k-broker-1", "k-broker-2"}));
    EXPECT_FALSE(status().has_field("rollingUpdate"));
}

TEST_F(roller_test, a_deleted_pod_the_cache_still_shows_is_not_deleted_twice) {
    running_cluster();
    put_cluster(R"({"image": "repo/tributary:2"})");
    pass();
    // The API server already replaced the coordinator pod; the cache (here: the same store)
    // is read first, then the pod is fetched again before the delete.
    bool replaced = false;
    kube.before_call = [&](const std::string& verb, const k8s::resource& r, const std::string&, const std::string& name) {
        if (!replaced && verb == "get" && r.kind == "Pod" && name == "k-coordinator-0") {
            replaced = true;
            auto p = *kube.get(res::pods, "ns", name);
            p["metadata"]["deletionTimestamp"] = json::string("2026-01-01T00:00:00Z");
            kube.put(res::pods, p);
        }
    };
    kube.calls.clear();
    rec->reconcile("ns", "k");
    EXPECT_EQ(std::count(kube.calls.begin(), kube.calls.end(), "remove Pod ns/k-coordinator-0"), 0);
    EXPECT_NE(cond("Reconciling", "message").find("k-coordinator-0 is being replaced"), std::string::npos);
}

// --- the decisions alone ---

roll_member member(int32_t ord, bool outdated, bool ready = true, int32_t base = 0) {
    roll_member m;
    m.ordinal = ord;
    m.node_id = base + ord;
    m.pod = "p-" + std::to_string(ord);
    m.exists = true;
    m.ready = ready;
    m.outdated = outdated;
    m.reason = "image changed";
    return m;
}

TEST(roller_decisions, coordinators_go_one_at_a_time_caught_up_with_the_raft_leader_last) {
    std::vector<roll_member> ms{member(0, true, true, 1000), member(1, true, true, 1000), member(2, true, true, 1000)};
    quorum_state q{1000, 50, {{1000, 50}, {1001, 50}, {1002, 50}}};
    auto d = decide_coordinator_roll(ms, q);
    EXPECT_EQ(d.what, roll_decision::kind::restart);
    EXPECT_EQ(d.ordinal, 1);  // not the leader (1000)
    ms[1].outdated = false;
    ms[2].outdated = false;
    d = decide_coordinator_roll(ms, q);
    EXPECT_EQ(d.ordinal, 0);
    EXPECT_EQ(d.message, "image changed (the Raft leader, last)");
    q.voter_log_end[1002] = 40;  // behind the high watermark
    d = decide_coordinator_roll(ms, q);
    EXPECT_EQ(d.what, roll_decision::kind::wait);
    EXPECT_EQ(d.message, "coordinator 1002 is catching up with the quorum");
    EXPECT_EQ(decide_coordinator_roll(ms, std::nullopt).what, roll_decision::kind::wait);
}

TEST(roller_decisions, an_outdated_pod_that_is_not_ready_is_replaced_first) {
    std::vector<roll_member> ms{member(0, true), member(1, true, false), member(2, false)};
    auto d = decide_broker_roll(ms, std::nullopt);  // it serves nothing: no cluster check needed
    EXPECT_EQ(d.what, roll_decision::kind::restart);
    EXPECT_EQ(d.ordinal, 1);
    EXPECT_EQ(d.message, "image changed (not ready)");
}

TEST(roller_decisions, min_isr_rules) {
    std::vector<partition_state> ps{part(0, {0, 1, 2}, 2), part(1, {0, 1}, 2), part(2, {0}, 1, {0}),
                                    part(3, {1}, 2)};
    // t-1 at its minimum: 0 and 1 may not stop; t-2 (one replica, min 1) never blocks; t-3 is
    // below already.
    EXPECT_EQ(would_go_below_min_isr(ps, 0), std::vector<std::string>{"t-1"});
    EXPECT_EQ(would_go_below_min_isr(ps, 1), std::vector<std::string>{"t-1"});
    EXPECT_TRUE(would_go_below_min_isr(ps, 2).empty());
    EXPECT_EQ(below_min_isr(ps), std::vector<std::string>{"t-3"});
}

TEST(roller_decisions, restart_config_leaves_out_dynamic_keys_and_names_changed_ones) {
    const std::string file = "# c\nnode.id=1\nlog.retention.ms=5\nnum.io.threads=8\nleader.replication.throttled.rate=9\n";
    EXPECT_EQ(restart_properties(file), "# c\nnode.id=1\nnum.io.threads=8\n");
    EXPECT_EQ(changed_keys("a=1\nb=2\n", "a=1\nb=3\nc=4\n"), (std::vector<std::string>{"b", "c"}));
    EXPECT_EQ(changed_keys("a=1\nb=2\n", "a=1\n"), std::vector<std::string>{"b"});
    auto c = plan_dynamic_config({{"x", "1"}, {"y", "2"}}, {{"x", "1"}, {"z", "3"}, {"w", "4"}}, {{"w", "4"}});
    EXPECT_EQ(c.set, (std::map<std::string, std::string>{{"y", "2"}}));
    EXPECT_EQ(c.remove, std::vector<std::string>{"w"});  // z was set by someone else: left alone
}

TEST(roller_decisions, restart_reasons_compare_the_pod_with_the_template) {
    json sts = json::parse(R"({"spec": {"template": {"metadata": {"annotations": {"tributary.io/restart-config": "a=1\nb=2\n"}},
        "spec": {"containers": [{"image": "i:2", "resources": {"requests": {"cpu": "1"}}}]}}},
        "status": {"updateRevision": "r2"}})");
    json pod = json::parse(R"({"metadata": {"labels": {"controller-revision-hash": "r1"},
        "annotations": {"tributary.io/restart-config": "a=1\nb=1\n"}},
        "spec": {"containers": [{"image": "i:1", "resources": {"requests": {"cpu": "1"}}}]}})");
    EXPECT_TRUE(pod_outdated(pod, sts));
    EXPECT_EQ(restart_reason(pod, sts), "image changed; config changed: b");
    pod["metadata"]["labels"]["controller-revision-hash"] = json::string("r2");
    EXPECT_FALSE(pod_outdated(pod, sts));
    sts["status"] = json::object();
    EXPECT_FALSE(pod_outdated(pod, sts));  // no updateRevision yet: nothing to compare
}

} // namespace
} // namespace trib::op::controller
