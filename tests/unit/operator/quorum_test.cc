// The coordinator quorum step (controller/quorum.h): the pure decision over DescribeQuorum
// reads, and the step on the in-memory API (tests/fakes/fake_kube.h) with the StatefulSet
// controller played by the test and a fake quorum_ops playing the coordinators' Raft rules
// (one change at a time, a coordinator outside the voters seen as an observer with its
// directory, DUPLICATE_VOTER / VOTER_NOT_FOUND): 1 -> 3 -> 5 -> 3 -> 1, a voter whose disk
// was wiped replaced, no leader, a change still in flight, an operator restarted mid-change,
// and the ConfigMap's voters line changing without a config-hash change or a roll.
#include <gtest/gtest.h>

#include "operator/controller/config_maps.h"
#include "operator/controller/quorum.h"
#include "operator/controller/quorum_ops.h"
#include "operator/controller/reconciler.h"
#include "operator/controller/roller.h"
#include "operator/k8s/status.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace trib::op::controller {
namespace {

namespace res = k8s::resources;
using k8s::testing::fake_kube;
using kind = quorum_decision::kind;

quorum_view view(std::vector<std::pair<int32_t, std::string>> voters,
                 std::vector<std::pair<int32_t, std::string>> observers = {}, int32_t leader = 1000) {
    quorum_view v;
    v.leader_id = leader;
    v.epoch = 3;
    for (auto& [id, d] : voters) {
        v.voters.push_back({id, d, 10});
    }
    for (auto& [id, d] : observers) {
        v.observers.push_back({id, d, 10});
    }
    return v;
}

// --- the decision ---

TEST(decide_quorum, grows_one_to_three_one_voter_at_a_time_from_the_observers) {
    // The StatefulSet grows to the spec at once; 1001 is not seen yet: wait.
    auto d = decide_quorum(3, 1, view({{1000, "d0"}}));
    EXPECT_EQ(d.what, kind::wait);
    EXPECT_EQ(d.replicas, 3);
    EXPECT_NE(d.message.find("1001"), std::string::npos);
    // Both new ones observed: the lowest first, with the directory DescribeQuorum gave.
    d = decide_quorum(3, 3, view({{1000, "d0"}}, {{1002, "d2"}, {1001, "d1"}, {0, ""}}));
    EXPECT_EQ(d.what, kind::add);
    EXPECT_EQ(d.id, 1001);
    EXPECT_EQ(d.directory, "d1");
    d = decide_quorum(3, 3, view({{1000, "d0"}, {1001, "d1"}}, {{1002, "d2"}}));
    EXPECT_EQ(d.what, kind::add);
    EXPECT_EQ(d.id, 1002);
    d = decide_quorum(3, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}));
    EXPECT_EQ(d.what, kind::none);
    EXPECT_EQ(d.replicas, 3);
}

TEST(decide_quorum, grows_three_to_five) {
    auto d = decide_quorum(5, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {{1003, "d3"}, {1004, "d4"}}));
    EXPECT_EQ(d.what, kind::add);
    EXPECT_EQ(d.id, 1003);
    EXPECT_EQ(d.replicas, 5);
}

TEST(decide_quorum, shrinks_five_to_three_highest_first_and_keeps_the_statefulset_over_every_voter) {
    auto five = view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}, {1003, "d3"}, {1004, "d4"}});
    auto d = decide_quorum(3, 5, five);
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1004);
    EXPECT_EQ(d.directory, "d4");
    EXPECT_FALSE(d.replacement);
    EXPECT_EQ(d.replicas, 5);
    // 1004 removed (and still running as an observer): the StatefulSet may drop it; 1003 next.
    d = decide_quorum(3, 5, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}, {1003, "d3"}}, {{1004, "d4"}}));
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1003);
    EXPECT_EQ(d.replicas, 4);
    d = decide_quorum(3, 4, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {{1003, "d3"}}));
    EXPECT_EQ(d.what, kind::none);
    EXPECT_EQ(d.replicas, 3);
}

TEST(decide_quorum, shrinks_three_to_one_down_to_the_seed) {
    auto d = decide_quorum(1, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {}, 1002));
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1002);  // the leader too: it hands over once the change is committed
    d = decide_quorum(1, 3, view({{1000, "d0"}, {1001, "d1"}}, {}, 1001));
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1001);
    EXPECT_EQ(d.replicas, 2);
    d = decide_quorum(1, 2, view({{1000, "d0"}}));
    EXPECT_EQ(d.what, kind::none);
    EXPECT_EQ(d.replicas, 1);
}

TEST(decide_quorum, a_voter_on_a_wiped_disk_is_removed_then_added_with_its_new_directory) {
    auto d = decide_quorum(3, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {{1001, "d1-new"}}));
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1001);
    EXPECT_EQ(d.directory, "d1");  // the seat's, which RemoveRaftVoter must name
    EXPECT_TRUE(d.replacement);
    EXPECT_EQ(d.replicas, 3);
    d = decide_quorum(3, 3, view({{1000, "d0"}, {1002, "d2"}}, {{1001, "d1-new"}}));
    EXPECT_EQ(d.what, kind::add);
    EXPECT_EQ(d.id, 1001);
    EXPECT_EQ(d.directory, "d1-new");
    // Before the grow: a replacement goes first.
    d = decide_quorum(5, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {{1003, "d3"}, {1002, "d2-new"}}));
    EXPECT_EQ(d.what, kind::remove);
    EXPECT_EQ(d.id, 1002);
    // The same directory observed (a stale observer entry): nothing to replace.
    d = decide_quorum(3, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {{1001, "d1"}}));
    EXPECT_EQ(d.what, kind::none);
    // The only voter can't be replaced (nobody would be left to commit the change).
    d = decide_quorum(1, 1, view({{1000, "d0"}}, {{1000, "d0-new"}}));
    EXPECT_EQ(d.what, kind::wait);
}

TEST(decide_quorum, without_a_read_or_a_leader_it_waits_and_never_shrinks) {
    auto d = decide_quorum(1, 3, std::nullopt);
    EXPECT_EQ(d.what, kind::wait);
    EXPECT_EQ(d.replicas, 3);
    d = decide_quorum(3, 0, std::nullopt);  // a new cluster: the pods start, coordinator-0 seeds
    EXPECT_EQ(d.replicas, 3);
    d = decide_quorum(1, 3, view({{1000, "d0"}, {1001, "d1"}, {1002, "d2"}}, {}, -1));
    EXPECT_EQ(d.what, kind::wait);
    EXPECT_EQ(d.replicas, 3);
    EXPECT_NE(d.message.find("no leader"), std::string::npos);
}

TEST(config_maps, the_voters_line_follows_the_voter_set_and_is_left_out_of_the_hash) {
    api::kafka_cluster c;
    c.name = "k";
    c.ns = "ns";
    build_context ctx{c, {}};
    json one = coordinator_config_map(ctx, 1);
    json three = coordinator_config_map(ctx, 3, {1000, 1001, 1002});
    const std::string shared = three.at("data").at(coordinator_shared_file).as_string();
    EXPECT_NE(shared.find("controller.quorum.voters=" + quorum_voters(ctx, 3) + "\n"), std::string::npos);
    EXPECT_TRUE(three.at("data").has_field(pod_file_key("k", component::coordinator, 2)));
    // Only the voters line differs: the same hash as the seed's file.
    EXPECT_EQ(data_for_hash(ctx, three.at("data"), coordinator_shared_file).at(coordinator_shared_file),
              one.at("data").at(coordinator_shared_file));
    // Voters named by id, not by count: 1000 and 1002 after 1001 left.
    EXPECT_EQ(quorum_voters(ctx, std::vector<int32_t>{1000, 1002}),
              "1000@" + pod_dns_name(ctx, component::coordinator, 0) + ":9093,1002@" +
                  pod_dns_name(ctx, component::coordinator, 2) + ":9093");
}

// --- the step, with a fake cluster ---

// The coordinators' Raft as far as the operator sees it: voters (id -> directory), a leader,
// and every coordinator pod that runs outside its seat shows as an observer.
struct fake_quorum final : quorum_ops {
    fake_kube& kube;
    std::map<int32_t, std::string> voters{{1000, "dir-1000-0"}};
    std::map<int32_t, std::string> disks;  // ordinal -> the directory of its disk
    int32_t leader = 1000;
    bool readable = true;
    int busy = 0;  // the next changes answer REQUEST_TIMED_OUT (a change in flight)
    std::string refusal;  // every change answers this error while set
    std::vector<std::string> changes;  // "add 1001 dir" / "remove 1001 dir"
    std::vector<std::string> asked;    // addresses of the last describe

    explicit fake_quorum(fake_kube& k) : kube(k) {}

    std::string disk(int32_t ord) {
        auto it = disks.find(ord);
        if (it == disks.end()) {
            it = disks.emplace(ord, "dir-" + std::to_string(1000 + ord) + "-0").first;
        }
        return it->second;
    }
    std::optional<quorum_view> describe(const std::vector<std::string>& coordinators, std::string& why) override {
        asked = coordinators;
        if (!readable) {
            why = "nobody answered";
            return std::nullopt;
        }
        quorum_view v;
        v.leader_id = leader;
        for (const auto& [id, d] : voters) {
            v.voters.push_back({id, d, 5});
        }
        for (int32_t ord = 0; ord < 8; ++ord) {
            if (!kube.get(res::pods, "ns", "k-coordinator-" + std::to_string(ord))) {
                continue;
            }
            auto it = voters.find(1000 + ord);
            if (it == voters.end() || it->second != disk(ord)) {
                v.observers.push_back({1000 + ord, disk(ord), 5});
            }
        }
        v.observers.push_back({0, "", 5});  // a broker
        return v;
    }
    voter_change_result add_voter(const std::vector<std::string>&, int32_t id, const std::string& dir,
                                  const std::string& host, int32_t port) override {
        EXPECT_EQ(host, "k-coordinator-" + std::to_string(id - 1000) + ".k-coordinator.ns.svc.cluster.local");
        EXPECT_EQ(port, 9093);
        if (busy > 0) {
            --busy;
            return {voter_change_result::kind::busy, "REQUEST_TIMED_OUT"};
        }
        if (!refusal.empty()) {
            return {voter_change_result::kind::refused, refusal};
        }
        if (voters.count(id)) {
            return {voter_change_result::kind::refused, "DUPLICATE_VOTER"};
        }
        changes.push_back("add " + std::to_string(id) + " " + dir);
        voters[id] = dir;
        return {voter_change_result::kind::done, ""};
    }
    voter_change_result remove_voter(const std::vector<std::string>&, int32_t id, const std::string& dir) override {
        if (busy > 0) {
            --busy;
            return {voter_change_result::kind::busy, "REQUEST_TIMED_OUT"};
        }
        auto it = voters.find(id);
        if (it == voters.end() || it->second != dir) {
            return {voter_change_result::kind::refused, "VOTER_NOT_FOUND"};
        }
        changes.push_back("remove " + std::to_string(id) + " " + dir);
        voters.erase(it);
        if (leader == id) {
            leader = voters.begin()->first;
        }
        return {voter_change_result::kind::done, ""};
    }
    std::vector<int32_t> voter_ids() const {
        std::vector<int32_t> out;
        for (const auto& [id, d] : voters) {
            out.push_back(id);
        }
        return out;
    }
};

class quorum_step_test : public ::testing::Test {
protected:
    fake_kube kube;
    fake_quorum cluster{kube};
    k8s::testing::fake_clock clock;
    std::unique_ptr<reconciler> rec = make_reconciler();

    std::unique_ptr<reconciler> make_reconciler() {
        reconciler_options o{{}, std::chrono::milliseconds(5000), &clock};
        o.quorum = &cluster;
        return std::make_unique<reconciler>(kube, kube, kube, nullptr, o);
    }

    void put_cluster(int32_t coordinators) {
        auto existing = kube.get(res::kafka_clusters, "ns", "k");
        json o = existing ? *existing : json::parse(R"({"metadata": {"name": "k", "namespace": "ns"}})");
        o["spec"] = json::parse(R"({"brokers": {"replicas": 1}})");
        o["spec"]["coordinators"] = json::parse(R"({"replicas": 1})");
        o["spec"]["coordinators"]["replicas"] = json::number(coordinators);
        kube.put(res::kafka_clusters, o);
    }

    // One pass, then the StatefulSet controller: pods below the replicas exist (Ready, with
    // an IP), pods above are gone.
    reconcile_result pass() {
        auto r = rec->reconcile("ns", "k");
        for (const char* name : {"k-coordinator", "k-broker"}) {
            auto sts = kube.get(res::stateful_sets, "ns", name);
            if (!sts) {
                continue;
            }
            const int64_t n = sts->at("spec").at("replicas").as_integer();
            for (int64_t ord = 0; ord < 8; ++ord) {
                const std::string pod = std::string(name) + "-" + std::to_string(ord);
                const bool exists = kube.get(res::pods, "ns", pod).has_value();
                if (ord >= n && exists) {
                    kube.remove(res::pods, "ns", pod);
                } else if (ord < n && !exists) {
                    json p = json::parse(R"({"metadata": {"namespace": "ns"}, "status": {"phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True"}]}})");
                    p["metadata"]["name"] = json::string(pod);
                    p["status"]["podIP"] = json::string("10.0.1." + std::to_string(ord));
                    kube.create(res::pods, p);
                }
            }
        }
        return r;
    }
    // Passes until the quorum is as asked (at most `limit`).
    int settle(int limit = 20) {
        for (int i = 1; i <= limit; ++i) {
            pass();
            if (cond_status("QuorumReady") == "True") {
                return i;
            }
        }
        return -1;
    }

    json status() { return kube.get(res::kafka_clusters, "ns", "k")->at("status"); }
    std::string cond_status(const std::string& type) {
        auto c = k8s::find_condition(status(), type);
        return c ? c->at("status").as_string() : "";
    }
    std::string cond(const std::string& type, const char* field) {
        return k8s::find_condition(status(), type)->at(field).as_string();
    }
    int64_t sts_replicas() {
        return kube.get(res::stateful_sets, "ns", "k-coordinator")->at("spec").at("replicas").as_integer();
    }
    std::string config_line(const char* file, const char* component_cm) {
        auto cm = kube.get(res::config_maps, "ns", component_cm);
        const std::string text = cm->at("data").at(file).as_string();
        auto at = text.find("controller.quorum.voters=");
        return text.substr(at, text.find('\n', at) - at);
    }
    std::string annotation(const char* sts, const char* which) {
        auto s = kube.get(res::stateful_sets, "ns", sts);
        if (std::string(which) == "hash") {
            return s->at("metadata").at("annotations").serialize();
        }
        return s->at("spec").at("template").at("metadata").at("annotations").serialize();
    }
    std::string three_voters() {
        api::kafka_cluster c;
        c.name = "k";
        c.ns = "ns";
        return quorum_voters(build_context{c, {}}, 3);
    }
    std::vector<int32_t> status_voters() { return voters_in_status(status()); }
    int events(const std::string& reason) {
        return int(std::count_if(kube.events.begin(), kube.events.end(),
                                 [&](const auto& e) { return e.reason == reason; }));
    }
};

TEST_F(quorum_step_test, grows_1_3_5_and_shrinks_5_3_1_one_change_at_a_time_without_rolling_anyone) {
    put_cluster(1);
    EXPECT_EQ(settle(), 2);  // the first pass finds no pod to ask; then the seed is the voter set
    EXPECT_EQ(status_voters(), (std::vector<int32_t>{1000}));
    const std::string sts_hash = annotation("k-coordinator", "hash"), sts_tmpl = annotation("k-coordinator", "tmpl");
    const std::string broker_hash = annotation("k-broker", "hash"), broker_tmpl = annotation("k-broker", "tmpl");
    EXPECT_EQ(config_line(coordinator_shared_file, "k-coordinator-config"),
              "controller.quorum.voters=1000@k-coordinator-0.k-coordinator.ns.svc.cluster.local:9093");

    put_cluster(3);
    pass();  // StatefulSet to 3; the new pods are not followers yet
    EXPECT_EQ(sts_replicas(), 3);
    EXPECT_EQ(cond_status("QuorumReady"), "False");
    EXPECT_EQ(cond("Reconciling", "reason"), "AddingCoordinator");
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"add 1001 dir-1001-0", "add 1002 dir-1002-0"}));
    EXPECT_EQ(status_voters(), (std::vector<int32_t>{1000, 1001, 1002}));
    EXPECT_EQ(events("CoordinatorAdded"), 2);
    EXPECT_EQ(status().at("coordinators").at("replicas").as_integer(), 3);
    // The voters line names the three; nothing that drives a roll changed.
    EXPECT_EQ(config_line(coordinator_shared_file, "k-coordinator-config"),
              "controller.quorum.voters=" + three_voters());
    EXPECT_EQ(annotation("k-coordinator", "tmpl"), sts_tmpl);
    EXPECT_EQ(annotation("k-broker", "tmpl"), broker_tmpl);
    EXPECT_EQ(annotation("k-broker", "hash"), broker_hash);
    EXPECT_NE(annotation("k-coordinator", "hash"), sts_hash);  // the new pods' own files only
    EXPECT_EQ(cond("Ready", "status"), "True");

    put_cluster(5);
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.voter_ids(), (std::vector<int32_t>{1000, 1001, 1002, 1003, 1004}));
    EXPECT_EQ(sts_replicas(), 5);

    cluster.changes.clear();
    put_cluster(3);
    pass();
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"remove 1004 dir-1004-0"}));
    EXPECT_EQ(sts_replicas(), 5);  // 1004 still a voter when the pass began
    EXPECT_EQ(cond("Reconciling", "reason"), "RemovingCoordinator");
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"remove 1004 dir-1004-0", "remove 1003 dir-1003-0"}));
    EXPECT_EQ(sts_replicas(), 3);
    EXPECT_EQ(events("CoordinatorRemoved"), 2);

    cluster.leader = 1002;
    put_cluster(1);
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.voter_ids(), (std::vector<int32_t>{1000}));
    EXPECT_EQ(sts_replicas(), 1);
    EXPECT_FALSE(kube.get(res::pods, "ns", "k-coordinator-1"));
    EXPECT_EQ(config_line(coordinator_shared_file, "k-coordinator-config"),
              "controller.quorum.voters=1000@k-coordinator-0.k-coordinator.ns.svc.cluster.local:9093");
    EXPECT_EQ(annotation("k-coordinator", "tmpl"), sts_tmpl);
    EXPECT_EQ(annotation("k-broker", "tmpl"), broker_tmpl);
}

TEST_F(quorum_step_test, a_voter_whose_disk_was_wiped_is_replaced_by_a_new_voter) {
    put_cluster(3);
    ASSERT_GT(settle(), 0);
    cluster.changes.clear();
    cluster.disks[1] = "dir-1001-1";  // pod and claim deleted: same id, new directory
    pass();
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"remove 1001 dir-1001-0"}));
    EXPECT_EQ(events("CoordinatorReplaced"), 1);
    EXPECT_EQ(cond("QuorumReady", "status"), "False");
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"remove 1001 dir-1001-0", "add 1001 dir-1001-1"}));
    EXPECT_EQ(cluster.voters[1001], "dir-1001-1");
}

TEST_F(quorum_step_test, no_leader_or_no_answer_waits_and_keeps_the_last_voter_set) {
    put_cluster(3);
    ASSERT_GT(settle(), 0);
    put_cluster(1);
    cluster.readable = false;
    cluster.changes.clear();
    auto r = pass();
    EXPECT_TRUE(cluster.changes.empty());
    EXPECT_EQ(sts_replicas(), 3);
    EXPECT_EQ(cond("QuorumReady", "reason"), "QuorumUnreadable");
    EXPECT_NE(cond("QuorumReady", "message").find("nobody answered"), std::string::npos);
    EXPECT_TRUE(r.requeue_after.has_value());
    // The voters line keeps the set last read (status), not the seed: a wiped coordinator-0
    // must not start a log of its own.
    EXPECT_EQ(config_line(coordinator_shared_file, "k-coordinator-config"),
              "controller.quorum.voters=" + three_voters());
    EXPECT_EQ(cluster.asked, (std::vector<std::string>{"10.0.1.0:9093", "10.0.1.1:9093", "10.0.1.2:9093"}));
    cluster.readable = true;
    cluster.leader = -1;
    pass();
    EXPECT_TRUE(cluster.changes.empty());
    EXPECT_EQ(cond("QuorumReady", "reason"), "NoLeader");
    cluster.leader = 1000;
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.voter_ids(), (std::vector<int32_t>{1000}));
}

TEST_F(quorum_step_test, a_change_in_flight_is_waited_for_and_a_restarted_operator_carries_on) {
    put_cluster(1);
    ASSERT_GT(settle(), 0);
    put_cluster(3);
    pass();  // the pods appear
    cluster.busy = 2;
    pass();
    EXPECT_TRUE(cluster.changes.empty());
    EXPECT_EQ(cond("QuorumReady", "status"), "False");
    EXPECT_NE(cond("QuorumReady", "message").find("in progress"), std::string::npos);
    EXPECT_NE(string_at(status(), {"quorum", "change"}).find("adding coordinator 1001"), std::string::npos);
    // The operator restarts (SIGKILL): a new reconciler with nothing in memory.
    rec = make_reconciler();
    pass();  // still busy
    EXPECT_TRUE(cluster.changes.empty());
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.changes, (std::vector<std::string>{"add 1001 dir-1001-0", "add 1002 dir-1002-0"}));
    EXPECT_EQ(status().at("quorum").at("leaderId").as_integer(), 1000);
}

TEST_F(quorum_step_test, a_refused_change_is_a_warning_once_and_is_asked_again) {
    put_cluster(1);
    ASSERT_GT(settle(), 0);
    put_cluster(3);
    pass();  // the new pods
    cluster.refusal = "INVALID_REQUEST: no";
    pass();
    pass();
    pass();
    EXPECT_TRUE(cluster.changes.empty());
    EXPECT_EQ(events("QuorumChangeRefused"), 1);
    EXPECT_NE(cond("QuorumReady", "message").find("refused: INVALID_REQUEST: no"), std::string::npos);
    cluster.refusal.clear();
    EXPECT_GT(settle(), 0);
    EXPECT_EQ(cluster.voter_ids(), (std::vector<int32_t>{1000, 1001, 1002}));
}

TEST_F(quorum_step_test, without_cluster_access_one_coordinator_runs_as_before) {
    reconciler_options o{{}, std::chrono::milliseconds(5000), &clock};
    rec = std::make_unique<reconciler>(kube, kube, kube, nullptr, o);
    put_cluster(3);
    pass();
    EXPECT_EQ(sts_replicas(), 1);
    EXPECT_FALSE(k8s::find_condition(status(), "QuorumReady"));
    EXPECT_EQ(cond("Degraded", "status"), "False");
}

} // namespace
} // namespace trib::op::controller
