// The reconcile pass (operator/controller) on a real kube-apiserver through the real client:
// what fake_kube cannot say: that the API server accepts every object the builders make, that
// server-side apply keeps the node ports it allocated so a second pass changes nothing, that
// the status subresource takes the status, and that deleteClaim's finalizer lets claims go.
// No node agent: pods stay Pending, which is all these checks need. Run by
// controller_test.py (KUBECONFIG, TRIB_IT_NAMESPACE; the CRD installed).
#include "tests/e2e/it_env.h"

#include <gtest/gtest.h>

#include "operator/controller/reconciler.h"
#include "operator/controller/user_reconciler.h"
#include "operator/k8s/client.h"
#include "operator/k8s/kubeconfig.h"
#include "operator/k8s/finalizer.h"
#include "operator/k8s/status.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

using namespace trib::op;
using namespace std::chrono_literals;
using web::json::value;
namespace res = k8s::resources;

namespace {

using it::env;
std::string ns() { return it::test_namespace(); }

// Reads straight from the API server: the cache the operator uses is tested on its own
// (k8s_client_it.cc); here every read is current, so a pass sees what the one before wrote.
struct direct_reader final : k8s::reader {
    k8s::api& api;
    explicit direct_reader(k8s::api& a) : api(a) {}
    std::optional<value> get(const k8s::resource& r, const std::string& n, const std::string& name) const override {
        return api.get(r, n, name);
    }
    std::vector<value> list(const k8s::resource& r, const std::string& n, const std::string& sel) const override {
        return api.list(r, n, sel);
    }
};

struct kept_events final : k8s::event_recorder {
    std::vector<std::string> reasons;
    void record(const value&, const std::string&, const std::string& reason, const std::string&) override {
        reasons.push_back(reason);
    }
};

// Polls `cond` every 200 ms for at most `limit`; true once it holds.
template<typename F>
bool eventually(F cond, std::chrono::seconds limit = 60s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(200ms);
    }
    return cond();
}

class controller_it : public ::testing::Test {
protected:
    k8s::client kube{k8s::load_kubeconfig(env("KUBECONFIG")), "tributary-operator"};
    direct_reader reader{kube};
    kept_events events;
    controller::reconciler rec{kube, reader, events, nullptr, {}};

    void create_cluster(const std::string& name, const std::string& spec) {
        value o = value::parse(R"({"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaCluster"})");
        o["metadata"]["name"] = value::string(name);
        o["metadata"]["namespace"] = value::string(ns());
        o["spec"] = value::parse(spec);
        kube.create(res::kafka_clusters, o);
    }
    value get(const k8s::resource& r, const std::string& name) {
        auto o = kube.get(r, ns(), name);
        if (!o) {
            throw std::runtime_error(r.kind + " " + name + " missing");
        }
        return *o;
    }
    std::string condition(const std::string& cluster, const std::string& type, const char* field) {
        auto st = get(res::kafka_clusters, cluster).at("status");
        auto c = k8s::find_condition(st, type);
        return c ? c->at(field).as_string() : "";
    }
};

TEST_F(controller_it, the_api_server_takes_every_object_and_a_second_pass_changes_nothing) {
    create_cluster("a", R"({"listeners": [{"name": "plain", "port": 9092},
                                          {"name": "ext", "port": 9094, "type": "nodeport"}],
                            "brokers": {"rack": {"topologyKey": "topology.kubernetes.io/zone"},
                                        "config": {"num.partitions": "3"}}})");
    rec.reconcile(ns(), "a");
    for (const char* name : {"a-coordinator-config", "a-broker-config"}) {
        EXPECT_NO_THROW(get(res::config_maps, name)) << name;
    }
    for (const char* name : {"a-coordinator", "a-broker", "a-bootstrap", "a-broker-0-ext", "a-broker-2-ext"}) {
        EXPECT_NO_THROW(get(res::services, name)) << name;
    }
    EXPECT_EQ(get(res::stateful_sets, "a-broker").at("spec").at("replicas").as_integer(), 3);
    EXPECT_EQ(get(res::stateful_sets, "a-coordinator").at("spec").at("replicas").as_integer(), 1);
    EXPECT_NO_THROW(get(res::pod_disruption_budgets, "a-broker"));
    auto np = get(res::network_policies, "a-broker");
    EXPECT_EQ(np.at("spec").at("ingress").at(0).at("ports").at(0).at("port").as_integer(), 9091) << np.serialize();
    EXPECT_EQ(np.at("spec").at("ingress").at(0).at("from").size(), 2u) << "brokers and the operator";
    EXPECT_NO_THROW(get(res::network_policies, "a-coordinator"));

    // The node port the API server allocated is in the broker's own file.
    auto svc = get(res::services, "a-broker-1-ext");
    const auto node_port = svc.at("spec").at("ports").at(0).at("nodePort").as_integer();
    ASSERT_GT(node_port, 0);
    auto file = get(res::config_maps, "a-broker-config").at("data").at("a-broker-1.properties").as_string();
    EXPECT_NE(file.find("EXT://${env:HOST_IP}:" + std::to_string(node_port)), std::string::npos) << file;

    // Status through the subresource, as the CRD's schema keeps it.
    auto st = get(res::kafka_clusters, "a").at("status");
    EXPECT_EQ(st.at("observedGeneration").as_integer(), get(res::kafka_clusters, "a").at("metadata").at("generation").as_integer());
    EXPECT_EQ(st.at("brokers").size(), 3u);
    EXPECT_EQ(st.at("selector").as_string(),
              "app.kubernetes.io/name=tributary,app.kubernetes.io/instance=a,app.kubernetes.io/component=broker");
    EXPECT_EQ(condition("a", "Ready", "status"), "False");  // no node runs the pods
    EXPECT_EQ(condition("a", "Reconciling", "status"), "True");

    // What a pass that has nothing to do must leave alone: the resourceVersion of what only
    // the operator writes; for StatefulSets, whose status their controller keeps writing, the
    // generation (it counts spec changes).
    auto snapshot = [&] {
        std::map<std::string, std::string> out;
        for (const auto* r : {&res::config_maps, &res::services, &res::stateful_sets, &res::pod_disruption_budgets,
                              &res::network_policies}) {
            for (const auto& o : kube.list(*r, ns(), "app.kubernetes.io/instance=a")) {
                const auto& m = o.at("metadata");
                out[r->kind + "/" + m.at("name").as_string()] =
                    r == &res::stateful_sets ? m.at("generation").serialize() : m.at("resourceVersion").as_string();
            }
        }
        return out;
    };
    auto before = snapshot();
    ASSERT_GE(before.size(), 10u);
    rec.reconcile(ns(), "a");
    EXPECT_EQ(snapshot(), before);
    EXPECT_EQ(get(res::services, "a-broker-1-ext").at("spec").at("ports").at(0).at("nodePort").as_integer(), node_port);
}

// No broker runs here, so the drain a scale-down needs can't be asked: nothing shrinks.
TEST_F(controller_it, a_scale_down_waits_for_its_drain_on_the_real_server) {
    create_cluster("b", "{}");
    rec.reconcile(ns(), "b");
    kube.patch(res::kafka_clusters, ns(), "b", value::parse(R"({"spec": {"brokers": {"replicas": 1}}})"),
               k8s::patch_type::merge);
    rec.reconcile(ns(), "b");
    EXPECT_EQ(get(res::stateful_sets, "b-broker").at("spec").at("replicas").as_integer(), 3);
    EXPECT_EQ(condition("b", "Reconciling", "status"), "True");
    EXPECT_EQ(condition("b", "Reconciling", "reason"), "WaitingForCluster");
    EXPECT_EQ(condition("b", "ScalingBlocked", "status"), "False");

    kube.patch(res::kafka_clusters, ns(), "b", value::parse(R"({"spec": {"brokers": {"replicas": 4}}})"),
               k8s::patch_type::merge);
    rec.reconcile(ns(), "b");
    EXPECT_EQ(get(res::stateful_sets, "b-broker").at("spec").at("replicas").as_integer(), 4);
    EXPECT_EQ(condition("b", "ScalingBlocked", "status"), "False");
}

TEST_F(controller_it, delete_claim_removes_the_claims_then_the_cluster_goes) {
    create_cluster("c", R"({"brokers": {"replicas": 2, "storage": {"size": "1Gi", "deleteClaim": true}}})");
    rec.reconcile(ns(), "c");
    auto finalizers = get(res::kafka_clusters, "c").at("metadata").at("finalizers");
    ASSERT_EQ(finalizers.size(), 1u);
    EXPECT_EQ(finalizers.at(0).as_string(), "tributary.io/cleanup");
    // The StatefulSet controller makes the claims from the template, with its labels.
    const std::string selector = "app.kubernetes.io/instance=c,app.kubernetes.io/component=broker";
    ASSERT_TRUE(eventually([&] { return kube.list(res::persistent_volume_claims, ns(), selector).size() == 2; }));

    kube.remove(res::kafka_clusters, ns(), "c");
    rec.reconcile(ns(), "c");
    // Deleted, or marked for deletion while kubernetes.io/pvc-protection waits for the pods.
    for (const auto& pvc : kube.list(res::persistent_volume_claims, ns(), selector)) {
        EXPECT_TRUE(pvc.at("metadata").has_field("deletionTimestamp")) << pvc.at("metadata").at("name").as_string();
    }
    EXPECT_TRUE(eventually([&] { return !kube.get(res::kafka_clusters, ns(), "c"); }));
}

// Passes until Ready, as the operator's work queue would run them (following requeue_after),
// over pods the node agent runs. The Python side creates the cluster and names it in
// TRIB_IT_CLUSTER, then checks it with clients.
TEST_F(controller_it, reconciles_until_ready) {
    const std::string name = env("TRIB_IT_CLUSTER");
    bool ready = eventually(
        [&] {
            auto r = rec.reconcile(ns(), name);
            if (condition(name, "Ready", "status") == "True") {
                return true;
            }
            std::this_thread::sleep_for(r.requeue_after.value_or(1000ms));
            return false;
        },
        240s);
    auto st = get(res::kafka_clusters, name).at("status");
    ASSERT_TRUE(ready) << st.serialize();
    for (const auto& b : st.at("brokers").as_array()) {
        EXPECT_EQ(b.at("state").as_string(), "Running") << b.serialize();
    }
}

} // namespace

// The KafkaUser side with no broker behind it: a cluster that keeps what it is told (ACLs
// by their description, whether a credential was set), which is all the API server's part
// needs.
struct remembering_cluster final : controller::user_ops {
    std::vector<std::string> calls;
    std::vector<trib::security::acl_binding> acls;
    bool credential = false;
    controller::acls_answer describe_acls(const brokers&, const std::string& p) override {
        calls.push_back("describe_acls " + p);
        controller::acls_answer a{{true, ""}, {}};
        for (const auto& b : acls) {
            if (b.principal == p) {
                a.acls.push_back(b);
            }
        }
        return a;
    }
    controller::user_ops_answer create_acls(const brokers&, const std::vector<trib::security::acl_binding>& a) override {
        calls.push_back("create_acls " + std::to_string(a.size()));
        acls.insert(acls.end(), a.begin(), a.end());
        return {true, ""};
    }
    controller::user_ops_answer delete_acls(const brokers&, const std::vector<trib::security::acl_filter>&) override {
        calls.push_back("delete_acls");
        acls.clear();
        return {true, ""};
    }
    controller::scram_answer describe_scram(const brokers&, const std::string&) override {
        return {{true, ""}, credential};
    }
    controller::user_ops_answer upsert_scram(const brokers&, const controller::scram_upsert& c) override {
        calls.push_back("upsert_scram " + c.user);
        credential = true;
        return {true, ""};
    }
    controller::user_ops_answer delete_scram(const brokers&, const std::string& u) override {
        calls.push_back("delete_scram " + u);
        credential = false;
        return {true, ""};
    }
};

// The CRD's schema and defaults, the status subresource, the finalizer, and the user's Secret
// owned by it, on the real API server (kafkausers.tributary.io installed). The broker is a pod
// object whose status the test writes: nothing runs it.
TEST_F(controller_it, a_kafka_user_on_the_real_api_server) {
    remembering_cluster cluster;
    controller::user_reconciler users{kube, reader, events, {.wait_interval = 1s, .clock = nullptr, .ops = &cluster}};
    auto user = [&](const std::string& name, const std::string& spec) {
        value o = value::parse(R"({"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaUser",
                                   "metadata": {"labels": {"tributary.io/cluster": "uc"}}})");
        o["metadata"]["name"] = value::string(name);
        o["metadata"]["namespace"] = value::string(ns());
        o["spec"] = value::parse(spec);
        return kube.create(res::kafka_users, o);
    };
    // The schema refuses what validate() would: an unknown operation, a cluster resource by
    // another name.
    for (const char* bad : {R"({"authorization": {"acls": [{"resource": {"type": "topic", "name": "t"}, "operations": ["Fly"]}]}})",
                            R"({"authorization": {"acls": [{"resource": {"type": "cluster", "name": "x"}, "operations": ["Alter"]}]}})",
                            R"({"authentication": {"type": "plain"}})",
                            R"({"authentication": {}})"}) {
        try {
            user("bad", bad);
            ADD_FAILURE() << "accepted: " << bad;
        } catch (const k8s::api_error& e) {
            EXPECT_EQ(e.status, 422) << e.what();
        }
    }

    auto created = user("alice", R"({"authentication": {"type": "scram-sha-512"}, "authorization": {"acls": [{"resource": {"type": "topic", "name": "orders"}, "operations": ["Read", "Describe"]}]}})");
    // Defaults filled in by the API server.
    const auto& acl = created.at("spec").at("authorization").at("acls").at(0);
    EXPECT_EQ(acl.at("host").as_string(), "*");
    EXPECT_EQ(acl.at("type").as_string(), "allow");
    EXPECT_EQ(acl.at("resource").at("patternType").as_string(), "literal");

    users.reconcile_user(ns(), "alice");
    EXPECT_EQ(k8s::find_condition(get(res::kafka_users, "alice").at("status"), "Ready")->at("reason").as_string(),
              "ClusterNotFound");

    create_cluster("uc", "{}");
    value pod = value::parse(R"({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "uc-broker-0", "labels": {"app.kubernetes.io/instance": "uc", "app.kubernetes.io/component": "broker"}},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "broker", "image": "none"}]}})");
    pod["metadata"]["namespace"] = value::string(ns());
    users.reconcile_user(ns(), "alice");
    EXPECT_EQ(k8s::find_condition(get(res::kafka_users, "alice").at("status"), "Ready")->at("reason").as_string(),
              "ClusterNotReady");
    pod = kube.create(res::pods, pod);
    pod["status"] = value::parse(R"({"phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}],
                                     "conditions": [{"type": "Ready", "status": "True"}]})");
    kube.replace_status(res::pods, pod);

    users.reconcile_user(ns(), "alice");
    auto ku = get(res::kafka_users, "alice");
    auto ready = k8s::find_condition(ku.at("status"), "Ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->at("status").as_string(), "True") << ready->serialize();
    EXPECT_EQ(ku.at("status").at("username").as_string(), "alice");
    EXPECT_TRUE(k8s::has_finalizer(ku, controller::user_cleanup_finalizer));
    auto secret = get(res::secrets, "alice");
    EXPECT_EQ(ku.at("status").at("credentialSecretUid").as_string(), secret.at("metadata").at("uid").as_string());
    EXPECT_EQ(secret.at("metadata").at("ownerReferences").at(0).at("uid").as_string(),
              ku.at("metadata").at("uid").as_string());
    EXPECT_EQ(controller::secret_value(secret, "password").value_or("").size(), 32u);
    EXPECT_EQ(cluster.calls.back(), "create_acls 2");

    // A second pass changes nothing the API server would count.
    const auto rv = ku.at("metadata").at("resourceVersion").as_string();
    const auto secret_rv = secret.at("metadata").at("resourceVersion").as_string();
    cluster.calls.clear();
    users.reconcile_user(ns(), "alice");
    EXPECT_EQ(get(res::kafka_users, "alice").at("metadata").at("resourceVersion").as_string(), rv);
    EXPECT_EQ(get(res::secrets, "alice").at("metadata").at("resourceVersion").as_string(), secret_rv);
    EXPECT_EQ(cluster.calls, (std::vector<std::string>{"describe_acls User:alice", "describe_acls User:CN=alice"}));

    // Deleted: the clean-up, then the finalizer goes and so does the user (its Secret follows
    // by garbage collection, which here waits for the collector to discover the new kind).
    kube.remove(res::kafka_users, ns(), "alice");
    users.reconcile_user(ns(), "alice");
    EXPECT_TRUE(cluster.acls.empty());
    EXPECT_FALSE(cluster.credential);
    EXPECT_TRUE(eventually([&] { return !kube.get(res::kafka_users, ns(), "alice"); }, 10s));

    // A user that authenticates elsewhere (OAuth: spec.authentication omitted, as Strimzi has
    // it): the API server adds no authentication, the operator makes no Secret, and the ACLs of
    // User:carol appear, then go with the user.
    cluster.calls.clear();
    auto carol = user("carol", R"({"authorization": {"acls": [{"resource": {"type": "topic", "name": "audit"}, "operations": ["Write"]}]}})");
    EXPECT_FALSE(carol.at("spec").has_field("authentication")) << carol.serialize();
    users.reconcile_user(ns(), "carol");
    ku = get(res::kafka_users, "carol");
    ready = k8s::find_condition(ku.at("status"), "Ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->at("status").as_string(), "True") << ready->serialize();
    EXPECT_EQ(ku.at("status").at("username").as_string(), "carol");
    EXPECT_FALSE(ku.at("status").has_field("secret"));
    EXPECT_FALSE(kube.get(res::secrets, ns(), "carol"));
    ASSERT_EQ(cluster.acls.size(), 1u);
    EXPECT_EQ(trib::security::describe(cluster.acls[0]), "User:carol from * Allow Write on Topic:LITERAL:audit");
    EXPECT_EQ(std::count_if(cluster.calls.begin(), cluster.calls.end(),
                            [](const std::string& c) { return c.starts_with("upsert_scram"); }),
              0);
    kube.remove(res::kafka_users, ns(), "carol");
    users.reconcile_user(ns(), "carol");
    EXPECT_TRUE(cluster.acls.empty());
    EXPECT_TRUE(eventually([&] { return !kube.get(res::kafka_users, ns(), "carol"); }, 10s));
    kube.remove(res::pods, ns(), "uc-broker-0", "Background");
}
