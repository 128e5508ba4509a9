// The controller runtime pieces (operator/k8s: leader election, finalizers, status writes,
// events) on a real kube-apiserver through the real client: what the unit tests' fake can
// only claim. Run by k8s_runtime_test.py, which starts the control plane (kube.py) and passes
// KUBECONFIG (admin) and TRIB_IT_NAMESPACE (a fresh namespace) in the environment.
// Waits are bounded and on conditions; no pass/fail depends on how long something took.
#include "tests/e2e/it_env.h"

#include <gtest/gtest.h>

#include "operator/k8s/client.h"
#include "operator/k8s/events.h"
#include "operator/k8s/finalizer.h"
#include "operator/k8s/kubeconfig.h"
#include "operator/k8s/leader_election.h"
#include "operator/k8s/status.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

using namespace trib::op::k8s;
using namespace std::chrono_literals;
using web::json::value;

namespace {

using trib::op::it::admin;
using trib::op::it::env;
std::string ns() { return trib::op::it::test_namespace(); }

// Who leads, as the electors' callbacks report it.
struct leadership {
    std::mutex mu;
    std::condition_variable cv;
    std::string leader;

    std::function<void()> started(const std::string& id) {
        return [this, id] {
            std::lock_guard lock(mu);
            leader = id;
            cv.notify_all();
        };
    }
    bool wait_for_leader(const std::string& id) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, 60s, [&] { return leader == id; });
    }
};

leader_election_settings settings(const std::string& lease, const std::string& id, leadership& l) {
    leader_election_settings s{.ns = ns(), .name = lease, .identity = id};
    s.lease_duration = 3s;
    s.renew_deadline = 2s;
    s.retry_period = 200ms;
    s.started_leading = l.started(id);
    return s;
}

value lease_spec(client& kube, const std::string& lease) {
    auto obj = kube.get(resources::leases, ns(), lease);
    if (!obj) {
        throw std::runtime_error("lease " + lease + " missing");
    }
    return obj->at("spec");
}

value config_map(const std::string& name) {
    value cm;
    cm["apiVersion"] = value::string("v1");
    cm["kind"] = value::string("ConfigMap");
    cm["metadata"]["name"] = value::string(name);
    cm["metadata"]["namespace"] = value::string(ns());
    return cm;
}

// Passes calls through to the client; before the first replace_status, changes the object
// the way another writer would (a label), so that write carries a stale resourceVersion.
class interfering_api final : public api {
public:
    explicit interfering_api(client& c) : _c(c) {}
    std::optional<value> get(const resource& r, const std::string& n, const std::string& name) override {
        return _c.get(r, n, name);
    }
    std::vector<value> list(const resource& r, const std::string& n, const std::string& sel = "") override {
        return _c.list(r, n, sel);
    }
    value apply(const resource& r, const value& obj) override { return _c.apply(r, obj); }
    value create(const resource& r, const value& obj) override { return _c.create(r, obj); }
    value replace(const resource& r, const value& obj) override { return _c.replace(r, obj); }
    value replace_status(const resource& r, const value& obj) override {
        ++status_writes;
        if (!interfered) {
            interfered = true;
            value label = value::parse(R"({"metadata":{"labels":{"touched":"yes"}}})");
            _c.patch(r, obj.at("metadata").at("namespace").as_string(), obj.at("metadata").at("name").as_string(),
                     label, patch_type::merge);
        }
        return _c.replace_status(r, obj);
    }
    value patch(const resource& r, const std::string& n, const std::string& name, const value& body,
                patch_type t) override {
        return _c.patch(r, n, name, body, t);
    }
    bool remove(const resource& r, const std::string& n, const std::string& name, const std::string& p) override {
        return _c.remove(r, n, name, p);
    }
    bool interfered = false;
    int status_writes = 0;

private:
    client& _c;
};

} // namespace

TEST(leader_election, release_on_stop_hands_the_lease_to_the_standby) {
    auto kube_a = admin();
    auto kube_b = admin();
    leadership l;
    leader_elector a(kube_a, settings("release", "a", l));
    leader_elector b(kube_b, settings("release", "b", l));
    a.start();
    ASSERT_TRUE(l.wait_for_leader("a"));
    b.start();
    EXPECT_FALSE(b.leading());
    a.stop();
    ASSERT_TRUE(l.wait_for_leader("b"));
    auto spec = lease_spec(kube_b, "release");
    EXPECT_EQ(spec.at("holderIdentity").as_string(), "b");
    EXPECT_EQ(spec.at("leaseTransitions").as_integer(), 1);
    EXPECT_EQ(spec.at("leaseDurationSeconds").as_integer(), 3);
    b.stop();
    EXPECT_EQ(lease_spec(kube_b, "release").at("holderIdentity").as_string(), "");
}

// A leader that died without releasing: its Lease stays, never renewed.
TEST(leader_election, a_lease_whose_holder_died_is_taken_after_it_expires) {
    auto kube = admin();
    value lease;
    lease["apiVersion"] = value::string("coordination.k8s.io/v1");
    lease["kind"] = value::string("Lease");
    lease["metadata"]["name"] = value::string("dead");
    lease["metadata"]["namespace"] = value::string(ns());
    lease["spec"]["holderIdentity"] = value::string("killed-pod");
    lease["spec"]["leaseDurationSeconds"] = value::number(3);
    lease["spec"]["leaseTransitions"] = value::number(4);
    lease["spec"]["renewTime"] = value::string(rfc3339_micro(std::chrono::system_clock::now()));
    kube.create(resources::leases, lease);

    leadership l;
    leader_elector b(kube, settings("dead", "b", l));
    b.start();
    ASSERT_TRUE(l.wait_for_leader("b"));
    auto spec = lease_spec(kube, "dead");
    EXPECT_EQ(spec.at("holderIdentity").as_string(), "b");
    EXPECT_EQ(spec.at("leaseTransitions").as_integer(), 5);
    b.stop();
}

TEST(finalizer, a_stale_read_is_refused_and_the_other_entry_kept) {
    auto kube = admin();
    auto read = kube.create(resources::config_maps, config_map("fin"));
    kube.patch(resources::config_maps, ns(), "fin",
               value::parse(R"({"metadata":{"finalizers":["other.io/x"]}})"), patch_type::merge);
    try {
        add_finalizer(kube, resources::config_maps, read, "tributary.io/cleanup");
        FAIL() << "adding on a stale read succeeded";
    } catch (const api_error& e) {
        EXPECT_TRUE(stale_finalizers(e)) << e.status << " " << e.reason << ": " << e.what();
    }
    auto fresh = *kube.get(resources::config_maps, ns(), "fin");
    auto with = add_finalizer(kube, resources::config_maps, fresh, "tributary.io/cleanup");
    EXPECT_EQ(with.at("metadata").at("finalizers").size(), 2u);

    // Deletion waits for both; ours removed, then the other's: the object goes.
    kube.remove(resources::config_maps, ns(), "fin");
    auto held = kube.get(resources::config_maps, ns(), "fin");
    ASSERT_TRUE(held.has_value());
    EXPECT_TRUE(held->at("metadata").has_field("deletionTimestamp"));
    auto after = remove_finalizer(kube, resources::config_maps, *held, "tributary.io/cleanup");
    EXPECT_FALSE(has_finalizer(after, "tributary.io/cleanup"));
    EXPECT_TRUE(has_finalizer(after, "other.io/x"));
    remove_finalizer(kube, resources::config_maps, after, "other.io/x");
    EXPECT_FALSE(kube.get(resources::config_maps, ns(), "fin").has_value());
}

// A Service has a status subresource with metav1.Conditions: the API server validates the
// condition shape set_condition writes.
TEST(status, conflict_is_retried_and_an_unchanged_status_not_written) {
    auto kube = admin();
    value svc;
    svc["apiVersion"] = value::string("v1");
    svc["kind"] = value::string("Service");
    svc["metadata"]["name"] = value::string("st");
    svc["metadata"]["namespace"] = value::string(ns());
    svc["spec"]["ports"][0]["port"] = value::number(9092);
    kube.create(resources::services, svc);

    interfering_api api(kube);
    auto now = std::chrono::system_clock::now();
    auto mutate = [&](value& obj) {
        set_condition(obj["status"], "Ready", "True", "AllBrokersReady", "3/3 brokers", 1, now);
    };
    auto stored = update_status(api, resources::services, ns(), "st", mutate);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(api.status_writes, 2) << "the first write met a Conflict and was retried";
    EXPECT_EQ(stored->at("metadata").at("labels").at("touched").as_string(), "yes");
    auto ready = find_condition(stored->at("status"), "Ready");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->at("reason").as_string(), "AllBrokersReady");

    auto version = stored->at("metadata").at("resourceVersion").as_string();
    update_status(api, resources::services, ns(), "st", mutate);
    EXPECT_EQ(api.status_writes, 2) << "nothing changed: no write";
    EXPECT_EQ(kube.get(resources::services, ns(), "st")->at("metadata").at("resourceVersion").as_string(), version);
}

TEST(events, a_repeat_is_counted_on_one_event) {
    auto kube = admin();
    auto cm = kube.create(resources::config_maps, config_map("ev"));
    api_event_recorder rec(kube, "tributary-operator", "it");
    rec.record(cm, "Normal", "Created", "ConfigMap ev created");
    rec.record(cm, "Normal", "Created", "ConfigMap ev created");
    auto events = kube.list(resources::events, ns());
    int matching = 0;
    for (const auto& ev : events) {
        if (ev.at("involvedObject").at("name").as_string() == "ev") {
            ++matching;
            EXPECT_EQ(ev.at("count").as_integer(), 2);
            EXPECT_EQ(ev.at("source").at("component").as_string(), "tributary-operator");
            EXPECT_EQ(ev.at("involvedObject").at("uid"), cm.at("metadata").at("uid"));
        }
    }
    EXPECT_EQ(matching, 1);
}
