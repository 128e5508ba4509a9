// Reconcile passes over the in-memory API (tests/fakes/fake_kube.h): the order of the steps,
// idempotence, broker ids across scaling and restarts, a scale-down without cluster access, waiting
// for addresses, status, deletion with deleteClaim.
#include <gtest/gtest.h>

#include "operator/controller/broker_status.h"
#include "operator/controller/manager.h"
#include "operator/controller/reconciler.h"
#include "operator/controller/users.h"
#include "operator/k8s/status.h"
#include "operator/kafka/security.h"
#include "tests/fakes/fake_kube.h"
#include "tests/fakes/operator_fake_clock.h"

#include <cpprest/asyncrt_utils.h>

#include <algorithm>

namespace trib::op::controller {
namespace {

namespace res = k8s::resources;
using k8s::testing::fake_kube;

struct fake_probe final : cluster_probe {
    std::optional<probe_result> answer;
    std::vector<std::string> asked;
    std::optional<probe_result> describe(const std::string& bootstrap) override {
        asked.push_back(bootstrap);
        return answer;
    }
};

// The API server gives a NodePort or LoadBalancer Service its node ports and keeps them across
// applies that don't mention them (server-side apply merges ports by port number);
// fake_kube's apply replaces lists whole, so this wrapper plays the server's part there.
class node_port_allocator final : public k8s::api {
public:
    explicit node_port_allocator(fake_kube& kube) : _kube(kube) {}

    std::optional<json> get(const k8s::resource& r, const std::string& ns, const std::string& n) override {
        return _kube.get(r, ns, n);
    }
    std::vector<json> list(const k8s::resource& r, const std::string& ns, const std::string& sel) override {
        return _kube.list(r, ns, sel);
    }
    json create(const k8s::resource& r, const json& o) override { return _kube.create(r, o); }
    json replace(const k8s::resource& r, const json& o) override { return _kube.replace(r, o); }
    json replace_status(const k8s::resource& r, const json& o) override { return _kube.replace_status(r, o); }
    json patch(const k8s::resource& r, const std::string& ns, const std::string& n, const json& body,
               k8s::patch_type t) override {
        return _kube.patch(r, ns, n, body, t);
    }
    bool remove(const k8s::resource& r, const std::string& ns, const std::string& n, const std::string& p) override {
        return _kube.remove(r, ns, n, p);
    }
    json apply(const k8s::resource& r, const json& o) override {
        if (r.kind != "Service" || !o.at("spec").has_string_field("type") ||
            (o.at("spec").at("type").as_string() != "NodePort" && o.at("spec").at("type").as_string() != "LoadBalancer")) {
            return _kube.apply(r, o);
        }
        // What the server would store: the sent ports with the node ports allocated before
        // (or now, on the first apply), in one write.
        json with_ports = o;
        for (auto& port : with_ports["spec"]["ports"].as_array()) {
            const std::string key = o.at("metadata").at("name").as_string() + ":" +
                                    std::to_string(port.at("port").as_integer());
            if (!_allocated.count(key)) {
                _allocated[key] = _next++;
            }
            port["nodePort"] = json::number(_allocated[key]);
        }
        return _kube.apply(r, with_ports);
    }
    int64_t node_port(const std::string& service, int port) { return _allocated.at(service + ":" + std::to_string(port)); }

private:
    fake_kube& _kube;
    std::map<std::string, int64_t> _allocated;
    int64_t _next = 30000;
};

// The pass's cache as the running operator has it: only the kinds the manager watches (a read
// of another kind throws there, as k8s::informer_reader does).
class watched_only final : public k8s::reader {
public:
    explicit watched_only(const k8s::reader& r) : _r(r) {}
    std::optional<json> get(const k8s::resource& r, const std::string& ns, const std::string& name) const override {
        check(r);
        return _r.get(r, ns, name);
    }
    std::vector<json> list(const k8s::resource& r, const std::string& ns, const std::string& sel) const override {
        check(r);
        return _r.list(r, ns, sel);
    }

private:
    static void check(const k8s::resource& r) {
        const auto kinds = manager::cached_kinds();
        if (std::find(kinds.begin(), kinds.end(), &r) == kinds.end()) {
            throw std::logic_error("no informer for " + r.plural);
        }
    }
    const k8s::reader& _r;
};

class reconciler_test : public ::testing::Test {
protected:
    fake_kube kube;
    watched_only cache{kube};
    node_port_allocator server{kube};
    fake_probe probe;
    k8s::testing::fake_clock clock;
    reconciler rec{server, cache, kube, &probe, reconciler_options{{}, std::chrono::milliseconds(5000), &clock}};

    void put_cluster(const std::string& spec) {
        auto existing = kube.get(res::kafka_clusters, "ns", "k");
        json o = existing ? *existing
                          : json::parse(R"({"metadata": {"name": "k", "namespace": "ns"}})");
        o["spec"] = json::parse(spec);
        kube.put(res::kafka_clusters, o);
    }

    reconcile_result pass() {
        kube.calls.clear();
        return rec.reconcile("ns", "k");
    }

    json cluster() { return *kube.get(res::kafka_clusters, "ns", "k"); }
    json status() { return cluster().at("status"); }
    json condition(const std::string& type) { return *k8s::find_condition(status(), type); }
    std::string cond_status(const std::string& type) { return condition(type).at("status").as_string(); }
    std::string cond_reason(const std::string& type) { return condition(type).at("reason").as_string(); }

    int64_t broker_replicas() {
        return kube.get(res::stateful_sets, "ns", "k-broker")->at("spec").at("replicas").as_integer();
    }
    std::string broker_file(int ordinal) {
        auto cm = kube.get(res::config_maps, "ns", "k-broker-config");
        auto key = "k-broker-" + std::to_string(ordinal) + ".properties";
        return cm && cm->at("data").has_field(key) ? cm->at("data").at(key).as_string() : "";
    }

    // A pod as the StatefulSet controller and the kubelet would leave it.
    void put_pod(const std::string& name, const std::string& ip, bool ready, const std::string& node = "n1") {
        json p = json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns"}, "spec": {}, "status": {"phase": "Running",
            "hostIP": "192.168.0.1", "conditions": [{"type": "Ready"}]}})");
        p["metadata"]["name"] = json::string(name);
        p["spec"]["nodeName"] = json::string(node);
        p["status"]["podIP"] = json::string(ip);
        p["status"]["conditions"][0]["status"] = json::string(ready ? "True" : "False");
        kube.put(res::pods, p);
    }
    void all_pods_ready(int brokers) {
        put_pod("k-coordinator-0", "10.0.1.0", true);
        for (int i = 0; i < brokers; ++i) {
            put_pod("k-broker-" + std::to_string(i), "10.0.0." + std::to_string(i), true);
        }
    }
    int count_events(const std::string& reason) {
        return int(std::count_if(kube.events.begin(), kube.events.end(),
                                 [&](const auto& e) { return e.reason == reason; }));
    }
    // Every stored object with its resourceVersion: equal before and after a pass that
    // changed nothing.
    std::map<std::string, std::string> versions() {
        std::map<std::string, std::string> out;
        for (const auto* r : {&res::config_maps, &res::services, &res::stateful_sets, &res::pod_disruption_budgets,
                              &res::network_policies, &res::kafka_clusters}) {
            for (const auto& o : kube.list(*r, "ns")) {
                out[r->kind + "/" + o.at("metadata").at("name").as_string()] =
                    o.at("metadata").at("resourceVersion").as_string();
            }
        }
        return out;
    }
};

TEST_F(reconciler_test, a_first_pass_writes_every_object_in_step_order_then_the_status) {
    put_cluster("{}");
    auto r = pass();
    EXPECT_EQ(rec.last_steps(), reconciler::step_names());
    EXPECT_EQ(kube.writes(), (std::vector<std::string>{
                                 // internal TLS: the CA and the coordinators' and operator's
                                 // certificates before anything of the coordinators
                                 "apply Secret ns/k-cluster-ca",
                                 "apply Secret ns/k-cluster-ca-cert",
                                 "apply Secret ns/k-coordinator-certs",
                                 "apply Secret ns/k-operator-certs",
                                 "apply ConfigMap ns/k-coordinator-config",
                                 "apply Service ns/k-coordinator",
                                 "apply StatefulSet ns/k-coordinator",
                                 "apply Service ns/k-broker",
                                 "apply Service ns/k-bootstrap",
                                 "apply Secret ns/k-cluster-ca-cert",
                                 "apply Secret ns/k-broker-certs",
                                 "apply ConfigMap ns/k-broker-config",
                                 "apply StatefulSet ns/k-broker",
                                 "apply PodDisruptionBudget ns/k-coordinator",
                                 "apply PodDisruptionBudget ns/k-broker",
                                 "apply NetworkPolicy ns/k-coordinator",
                                 "apply NetworkPolicy ns/k-broker",
                                 "replace_status KafkaCluster ns/k",
                             }));
    EXPECT_EQ(broker_replicas(), 3);
    EXPECT_EQ(count_events("Created"), 2);  // the two StatefulSets
    // Nothing runs yet: the pass asks to look again.
    ASSERT_TRUE(r.requeue_after);
    EXPECT_EQ(*r.requeue_after, std::chrono::milliseconds(5000));
    EXPECT_EQ(cond_status("Ready"), "False");
    EXPECT_EQ(cond_status("Reconciling"), "True");
    EXPECT_EQ(cond_reason("Reconciling"), "CoordinatorNotReady");
    EXPECT_EQ(cond_status("Degraded"), "False");
    EXPECT_EQ(cond_status("ScalingBlocked"), "False");
    EXPECT_EQ(status().at("observedGeneration").as_integer(), cluster().at("metadata").at("generation").as_integer());
    EXPECT_EQ(status().at("brokers").size(), 3u);
    EXPECT_EQ(status().at("brokers").at(2).at("state").as_string(), "Pending");
    EXPECT_EQ(status().at("replicas").as_integer(), 0);  // no pods yet
    EXPECT_TRUE(probe.asked.empty());                     // nobody to ask
}

TEST_F(reconciler_test, network_policies_turned_off_are_removed) {
    put_cluster("{}");
    pass();
    ASSERT_TRUE(kube.get(res::network_policies, "ns", "k-broker"));
    reconciler off{server, cache, kube, &probe,
                   reconciler_options{{.network_policies = false}, std::chrono::milliseconds(5000), &clock}};
    off.reconcile("ns", "k");
    EXPECT_FALSE(kube.get(res::network_policies, "ns", "k-broker"));
    EXPECT_FALSE(kube.get(res::network_policies, "ns", "k-coordinator"));
    off.reconcile("ns", "k");  // already gone: nothing to fail on
}

TEST_F(reconciler_test, a_tls_listener_gets_a_ca_and_broker_certificates_kept_until_one_is_lost) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "secure", "port": 9095, "tls": true}]})");
    pass();
    auto ca = kube.get(res::secrets, "ns", "k-cluster-ca");
    auto held = kube.get(res::secrets, "ns", "k-broker-certs");
    ASSERT_TRUE(ca && held && kube.get(res::secrets, "ns", "k-cluster-ca-cert"));
    EXPECT_EQ(held->at("data").size(), 3u);
    EXPECT_EQ(count_events("CertificateAuthorityCreated"), 1);
    EXPECT_EQ(count_events("CertificatesIssued"), 2) << "the coordinators' and operator's (internal TLS), the brokers'";
    auto serials = [&] {
        return kube.get(res::stateful_sets, "ns", "k-broker")
            ->at("spec").at("template").at("metadata").at("annotations").at("tributary.io/certificates").as_string();
    };
    const std::string first = serials();
    EXPECT_NE(first.find("k-broker-2="), std::string::npos) << first;

    pass();  // nothing to issue: same Secrets, same template
    EXPECT_EQ(kube.get(res::secrets, "ns", "k-cluster-ca")->at("data"), ca->at("data"));
    EXPECT_EQ(kube.get(res::secrets, "ns", "k-broker-certs")->at("data"), held->at("data"));
    EXPECT_EQ(count_events("CertificatesIssued"), 2);
    EXPECT_EQ(serials(), first);

    json lost = *held;
    lost["data"].as_object().erase("k-broker-1.pem");
    kube.put(res::secrets, lost);
    pass();
    auto again = kube.get(res::secrets, "ns", "k-broker-certs")->at("data");
    EXPECT_EQ(again.at("k-broker-0.pem"), held->at("data").at("k-broker-0.pem"));
    EXPECT_TRUE(again.has_field("k-broker-1.pem"));
    EXPECT_EQ(count_events("CertificatesIssued"), 3);
    EXPECT_NE(serials(), first) << "a new certificate changes the pod template: the brokers roll";
    EXPECT_EQ(kube.get(res::secrets, "ns", "k-cluster-ca")->at("data"), ca->at("data")) << "the CA is kept";
}

TEST_F(reconciler_test, a_new_cluster_runs_its_internal_listeners_with_mutual_tls_and_the_operator_holds_a_certificate) {
    kafka::tls_registry registry;
    reconciler with_tls{server, cache, kube, &probe,
                        reconciler_options{.settings = {}, .wait_interval = std::chrono::milliseconds(5000),
                                           .clock = &clock, .tls = &registry}};
    put_cluster(R"({"coordinators": {"replicas": 3}})");
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(with_tls.last_steps().at(2), "internal certificates");
    EXPECT_EQ(cond_status("InternalTLS"), "True");
    EXPECT_EQ(cond_reason("InternalTLS"), "MutualTLS");
    auto coordinators = kube.get(res::secrets, "ns", "k-coordinator-certs");
    auto op = kube.get(res::secrets, "ns", "k-operator-certs");
    ASSERT_TRUE(coordinators && op && kube.get(res::secrets, "ns", "k-cluster-ca"));
    EXPECT_EQ(coordinators->at("data").size(), 5u) << "every coordinator there may be: scaling rolls no one";
    ASSERT_TRUE(op->at("data").has_field("k-operator.pem"));
    EXPECT_EQ(op->at("metadata").at("labels").at("app.kubernetes.io/managed-by").as_string(), "tributary-operator")
        << "the operator's Secret watch sees it";
    EXPECT_NE(registry.get("ns", "k"), nullptr) << "the operator's calls to the cluster go with its certificate";
    auto sts = kube.get(res::stateful_sets, "ns", "k-coordinator");
    ASSERT_TRUE(sts);
    EXPECT_NE(sts->at("spec").at("template").at("metadata").at("annotations").at("tributary.io/certificates")
                  .as_string().find("k-coordinator-0="), std::string::npos);
    const auto file = kube.get(res::config_maps, "ns", "k-coordinator-config")
                          ->at("data").at("coordinator.properties").as_string();
    EXPECT_NE(file.find("\nlistener.security.protocol.map=CONTROLLER:SSL\n"), std::string::npos) << file;
    // The brokers' certificates too, though no listener has TLS.
    EXPECT_TRUE(kube.get(res::secrets, "ns", "k-broker-certs"));

    // The next pass keeps all of it: the cluster is recognised by its coordinators' file.
    const auto op_data = op->at("data");
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(cond_reason("InternalTLS"), "MutualTLS");
    EXPECT_EQ(kube.get(res::secrets, "ns", "k-operator-certs")->at("data"), op_data);
}

TEST_F(reconciler_test, a_cluster_running_plaintext_inside_keeps_it_and_says_why) {
    kafka::tls_registry registry;
    reconciler with_tls{server, cache, kube, &probe,
                        reconciler_options{.settings = {}, .wait_interval = std::chrono::milliseconds(5000),
                                           .clock = &clock, .tls = &registry}};
    put_cluster("{}");
    // What an operator before internal TLS made: the coordinators' file without an SSL listener.
    reconciler old{server, cache, kube, &probe,
                   reconciler_options{{.network_policies = true, .internal_tls = false},
                                      std::chrono::milliseconds(5000), &clock}};
    old.reconcile("ns", "k");
    EXPECT_EQ(cond_reason("InternalTLS"), "Disabled");
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(cond_status("InternalTLS"), "False");
    EXPECT_EQ(cond_reason("InternalTLS"), "PlaintextCluster");
    EXPECT_NE(condition("InternalTLS").at("message").as_string().find("not built"), std::string::npos);
    EXPECT_FALSE(kube.get(res::secrets, "ns", "k-coordinator-certs"));
    EXPECT_FALSE(kube.get(res::secrets, "ns", "k-operator-certs"));
    EXPECT_EQ(registry.get("ns", "k"), nullptr) << "plaintext calls";
    const auto coordinator_file = [&] {
        return kube.get(res::config_maps, "ns", "k-coordinator-config")->at("data").at("coordinator.properties").as_string();
    };
    EXPECT_EQ(coordinator_file().find("SSL"), std::string::npos) << coordinator_file();

    // Its ConfigMaps deleted by hand, it is still recognised, by the InternalTLS condition the
    // last pass recorded: written again with SSL, its rolled brokers could not reach the
    // coordinators still on PLAINTEXT. Once nothing runs (no StatefulSet of its), all pods start
    // together and it gets TLS.
    ASSERT_TRUE(kube.remove(res::config_maps, "ns", "k-coordinator-config", ""));
    ASSERT_TRUE(kube.remove(res::config_maps, "ns", "k-broker-config", ""));
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(cond_status("InternalTLS"), "False");
    EXPECT_EQ(cond_reason("InternalTLS"), "PlaintextCluster");
    EXPECT_EQ(coordinator_file().find("SSL"), std::string::npos) << coordinator_file();
    const auto brokers = kube.get(res::config_maps, "ns", "k-broker-config")->at("data").at("broker.properties").as_string();
    EXPECT_NE(brokers.find("\nlistener.security.protocol.map=REPLICATION:PLAINTEXT"), std::string::npos) << brokers;
    EXPECT_FALSE(kube.get(res::secrets, "ns", "k-coordinator-certs"));
    EXPECT_EQ(registry.get("ns", "k"), nullptr) << "plaintext calls";

    for (const char* kind : {"coordinator", "broker"}) {
        ASSERT_TRUE(kube.remove(res::config_maps, "ns", std::string("k-") + kind + "-config", ""));
        ASSERT_TRUE(kube.remove(res::stateful_sets, "ns", std::string("k-") + kind, ""));
    }
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(cond_status("InternalTLS"), "True");
    EXPECT_EQ(cond_reason("InternalTLS"), "MutualTLS");
    EXPECT_NE(coordinator_file().find("\nlistener.security.protocol.map=CONTROLLER:SSL\n"), std::string::npos)
        << coordinator_file();
}

// What cert-manager's CA issuer does with every Certificate of the namespace (or the one named
// `only`): a certificate with the asked subject, names and usages under `ca` into its Secret,
// and Ready.
void issue_as_cert_manager(fake_kube& kube, const certs::key_pair& ca, certs::time_point now,
                           const std::string& only = "") {
    auto b64 = [](const std::string& s) {
        return json::string(utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end())));
    };
    for (auto c : kube.list(res::certificates, "ns")) {
        if (!only.empty() && string_at(c, {"metadata", "name"}) != only) {
            continue;
        }
        const json& spec = c.at("spec");
        certs::leaf_request want;
        want.common_name = string_at(spec, {"commonName"});
        want.organization = spec.at("subject").at("organizations").at(0).as_string();
        for (const char* k : {"dnsNames", "ipAddresses"}) {
            if (const json* names = field_at(spec, {k})) {
                for (const auto& n : names->as_array()) {
                    (k[0] == 'd' ? want.dns_names : want.ip_addresses).push_back(n.as_string());
                }
            }
        }
        const auto& usages = spec.at("usages").as_array();
        want.client_only = std::none_of(usages.begin(), usages.end(), [](const json& u) { return u.as_string() == "server auth"; });
        auto leaf = certs::issue(ca, want, now, std::chrono::hours(24 * 90)).value();
        json secret = json::parse(R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "ns"}})");
        secret["metadata"]["name"] = spec.at("secretName");
        secret["data"] = obj({{"tls.crt", b64(leaf.cert_pem)}, {"tls.key", b64(leaf.key_pem)}, {"ca.crt", b64(ca.cert_pem)}});
        kube.put(res::secrets, secret);
        c["status"] = json::parse(R"({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]})");
        kube.put(res::certificates, c);
    }
}

TEST_F(reconciler_test, a_cluster_with_cert_manager_runs_mutual_tls_inside_with_its_certificates) {
    kafka::tls_registry registry;
    reconciler with_tls{server, cache, kube, &probe,
                        reconciler_options{.settings = {}, .wait_interval = std::chrono::milliseconds(5000),
                                           .clock = &clock, .tls = &registry}};
    put_cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}})");
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(cond_status("InternalTLS"), "True");
    EXPECT_EQ(cond_reason("InternalTLS"), "MutualTLS");
    EXPECT_NE(condition("InternalTLS").at("message").as_string().find("cert-manager"), std::string::npos);
    // Not issued yet: the pass waits before anything of the coordinators.
    EXPECT_EQ(cond_reason("Reconciling"), "CertificatesPending");
    EXPECT_EQ(with_tls.last_steps().back(), "internal certificates");
    EXPECT_FALSE(kube.get(res::stateful_sets, "ns", "k-coordinator"));
    for (const char* name : {"k-coordinator-0", "k-coordinator-4", "k-operator"}) {
        auto c = kube.get(res::certificates, "ns", name);
        ASSERT_TRUE(c) << name;
        EXPECT_EQ(string_at(*c, {"spec", "issuerRef", "kind"}), "ClusterIssuer");
    }
    EXPECT_EQ(kube.list(res::certificates, "ns").size(), 6u) << "every coordinator there may be, and the operator";
    EXPECT_FALSE(kube.get(res::secrets, "ns", "k-cluster-ca")) << "cert-manager's CA, not the operator's";
    EXPECT_EQ(registry.get("ns", "k"), nullptr) << "no certificate for the operator yet";

    const auto ca = certs::make_ca("issuer-ca", clock.wall_now(), std::chrono::hours(24 * 365)).value();
    issue_as_cert_manager(kube, ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    auto coordinators = kube.get(res::secrets, "ns", "k-coordinator-certs");
    auto op = kube.get(res::secrets, "ns", "k-operator-certs");
    ASSERT_TRUE(coordinators && op);
    EXPECT_EQ(coordinators->at("data").size(), 5u);
    const auto issued = kube.get(res::secrets, "ns", "k-coordinator-0-tls");
    EXPECT_EQ(*secret_value(*coordinators, "k-coordinator-0.pem"),
              *secret_value(*issued, "tls.key") + *secret_value(*issued, "tls.crt"));
    const auto op_issued = kube.get(res::secrets, "ns", "k-operator-tls");
    EXPECT_EQ(*secret_value(*op, "k-operator.pem"), *secret_value(*op_issued, "tls.key") + *secret_value(*op_issued, "tls.crt"));
    EXPECT_EQ(*secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca-cert"), "ca.crt"), ca.cert_pem)
        << "what the internal listeners and the operator trust: the issuer's CA";
    EXPECT_NE(registry.get("ns", "k"), nullptr) << "the operator's calls go with cert-manager's certificate";
    auto sts = kube.get(res::stateful_sets, "ns", "k-coordinator");
    ASSERT_TRUE(sts) << "the coordinators start once their certificates are there";
    const auto serials =
        sts->at("spec").at("template").at("metadata").at("annotations").at("tributary.io/certificates").as_string();
    EXPECT_NE(serials.find("k-coordinator-0="), std::string::npos);
    EXPECT_NE(serials.find(";trust=" + certs::inspect(ca.cert_pem)->serial_hex), std::string::npos)
        << "the CAs they trust: a new one rolls them before a keystore under it is taken";
    const auto file = kube.get(res::config_maps, "ns", "k-coordinator-config")
                          ->at("data").at("coordinator.properties").as_string();
    EXPECT_NE(file.find("\nlistener.security.protocol.map=CONTROLLER:SSL\n"), std::string::npos) << file;
    // The brokers' Certificates come once their addresses are known; their keystores then too.
    all_pods_ready(1);
    issue_as_cert_manager(kube, ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    ASSERT_TRUE(kube.get(res::certificates, "ns", "k-broker-0"));
    issue_as_cert_manager(kube, ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    auto brokers = kube.get(res::secrets, "ns", "k-broker-certs");
    ASSERT_TRUE(brokers && brokers->at("data").has_field("k-broker-0.pem"));
    const auto shared = kube.get(res::config_maps, "ns", "k-broker-config")->at("data").at("broker.properties").as_string();
    EXPECT_NE(shared.find("REPLICATION:SSL"), std::string::npos) << shared;
}

TEST_F(reconciler_test, a_new_issuer_ca_reaches_every_pod_before_a_certificate_under_it_is_used) {
    kafka::tls_registry registry;
    reconciler with_tls{server, cache, kube, &probe,
                        reconciler_options{.settings = {}, .wait_interval = std::chrono::milliseconds(5000),
                                           .clock = &clock, .tls = &registry}};
    put_cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca"}}}})");
    with_tls.reconcile("ns", "k");
    const auto old_ca = certs::make_ca("issuer-ca", clock.wall_now(), std::chrono::hours(24 * 365)).value();
    issue_as_cert_manager(kube, old_ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    // The coordinator pod as the StatefulSet makes it: the template's labels and annotations.
    auto run_template = [&] {
        put_pod("k-coordinator-0", "10.0.1.0", true);
        auto pod = *kube.get(res::pods, "ns", "k-coordinator-0");
        const json tmpl = kube.get(res::stateful_sets, "ns", "k-coordinator")->at("spec").at("template").at("metadata");
        pod["metadata"]["labels"] = tmpl.at("labels");
        pod["metadata"]["annotations"] = tmpl.at("annotations");
        kube.put(res::pods, pod);
    };
    auto bundle = [&] { return *secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca-cert"), "ca.crt"); };
    auto held = [&] { return *secret_value(*kube.get(res::secrets, "ns", "k-coordinator-certs"), "k-coordinator-0.pem"); };
    run_template();
    with_tls.reconcile("ns", "k");
    ASSERT_EQ(bundle(), old_ca.cert_pem);
    const std::string before = held();

    // The issuer's CA replaced, everything issued again under the new one: the new CA goes into
    // ca.crt and onto the template, the coordinator keeps its keystore until it runs with both.
    const auto new_ca = certs::make_ca("issuer-ca-2", clock.wall_now(), std::chrono::hours(24 * 365)).value();
    issue_as_cert_manager(kube, new_ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(held(), before);
    EXPECT_EQ(bundle(), old_ca.cert_pem + new_ca.cert_pem);
    EXPECT_NE(kube.get(res::stateful_sets, "ns", "k-coordinator")->at("spec").at("template").at("metadata")
                  .at("annotations").at("tributary.io/certificates").as_string()
                  .find(certs::inspect(new_ca.cert_pem)->serial_hex),
              std::string::npos)
        << "the pods roll to load it";

    // Restarted with both: the new keystore is taken; the old CA stays while the pod runs the old.
    run_template();
    with_tls.reconcile("ns", "k");
    const auto issued = kube.get(res::secrets, "ns", "k-coordinator-0-tls");
    EXPECT_EQ(held(), *secret_value(*issued, "tls.key") + *secret_value(*issued, "tls.crt"));
    EXPECT_EQ(bundle(), old_ca.cert_pem + new_ca.cert_pem);

    // Restarted with the new keystore: nothing is under the old CA any more.
    run_template();
    with_tls.reconcile("ns", "k");
    EXPECT_EQ(bundle(), new_ca.cert_pem);
}

TEST_F(reconciler_test, a_new_issuer_ca_of_one_broker_certificate_reaches_the_coordinators_too) {
    // cert-manager renews each Certificate at its own time: here broker 0's comes first under the
    // issuer's new CA. The pass looks at the certificates twice (before the coordinators, and with
    // the brokers), and neither look may take the new CA out of ca.crt again: a pod started then
    // would not trust it while its template says it does.
    kafka::tls_registry registry;
    reconciler with_tls{server, cache, kube, &probe,
                        reconciler_options{.settings = {}, .wait_interval = std::chrono::milliseconds(5000),
                                           .clock = &clock, .tls = &registry}};
    put_cluster(R"({"replicas": 1, "certificateAuthority": {"certManager": {"issuerRef": {"name": "ca"}}}})");
    const auto old_ca = certs::make_ca("issuer-ca", clock.wall_now(), std::chrono::hours(24 * 365)).value();
    const auto new_ca = certs::make_ca("issuer-ca-2", clock.wall_now(), std::chrono::hours(24 * 365)).value();
    const std::string new_serial = certs::inspect(new_ca.cert_pem)->serial_hex;
    // The pods as their StatefulSets make them: the templates' labels and annotations.
    auto run_templates = [&] {
        all_pods_ready(1);
        for (const auto& [pod, sts] : {std::pair{"k-coordinator-0", "k-coordinator"}, {"k-broker-0", "k-broker"}}) {
            auto set = kube.get(res::stateful_sets, "ns", sts);
            if (!set) {
                continue;
            }
            auto o = *kube.get(res::pods, "ns", pod);
            const json tmpl = set->at("spec").at("template").at("metadata");
            o["metadata"]["labels"] = tmpl.at("labels");
            o["metadata"]["annotations"] = tmpl.at("annotations");
            kube.put(res::pods, o);
        }
    };
    auto bundle = [&] { return *secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca-cert"), "ca.crt"); };
    auto trust = [&](const char* sts) {
        const std::string a = kube.get(res::stateful_sets, "ns", sts)->at("spec").at("template").at("metadata")
                                  .at("annotations").at("tributary.io/certificates").as_string();
        return a.substr(a.find(";trust="));
    };
    with_tls.reconcile("ns", "k");
    issue_as_cert_manager(kube, old_ca, clock.wall_now());
    with_tls.reconcile("ns", "k");
    run_templates();
    with_tls.reconcile("ns", "k");
    issue_as_cert_manager(kube, old_ca, clock.wall_now());  // the broker's Certificate, now there
    for (int i = 0; i < 3; ++i) {
        run_templates();
        with_tls.reconcile("ns", "k");
    }
    ASSERT_TRUE(secret_value(*kube.get(res::secrets, "ns", "k-broker-certs"), "k-broker-0.pem"));
    ASSERT_EQ(bundle(), old_ca.cert_pem);

    // Every ca.crt written from here on.
    std::vector<std::string> written;
    bool inside = false;
    kube.before_call = [&](const std::string&, const k8s::resource&, const std::string&, const std::string&) {
        if (!inside) {
            inside = true;
            written.push_back(bundle());
            inside = false;
        }
    };
    issue_as_cert_manager(kube, new_ca, clock.wall_now(), "k-broker-0");
    for (int i = 0; i < 2; ++i) {
        with_tls.reconcile("ns", "k");
    }
    written.push_back(bundle());
    kube.before_call = nullptr;
    const auto first = std::find_if(written.begin(), written.end(),
                                    [&](const std::string& b) { return b.find(new_ca.cert_pem) != std::string::npos; });
    ASSERT_NE(first, written.end()) << "the new CA goes into ca.crt";
    for (auto it = first; it != written.end(); ++it) {
        EXPECT_NE(it->find(new_ca.cert_pem), std::string::npos) << "taken out again after " << (it - first) << " calls";
        EXPECT_NE(it->find(old_ca.cert_pem), std::string::npos) << "still under it: everything but broker 0's";
    }
    EXPECT_NE(trust("k-broker").find(new_serial), std::string::npos);
    EXPECT_NE(trust("k-coordinator").find(new_serial), std::string::npos)
        << "the coordinators roll to trust it too, or broker 0 never takes its keystore";
    EXPECT_EQ(trust("k-broker"), trust("k-coordinator"));

    // Both pods restarted with both CAs: broker 0 takes its keystore; the old CA stays (the
    // coordinators' and the operator's are under it).
    run_templates();
    with_tls.reconcile("ns", "k");
    const auto issued = kube.get(res::secrets, "ns", "k-broker-0-tls");
    EXPECT_EQ(secret_value(*kube.get(res::secrets, "ns", "k-broker-certs"), "k-broker-0.pem"),
              *secret_value(*issued, "tls.key") + *secret_value(*issued, "tls.crt"));
    EXPECT_NE(bundle().find(old_ca.cert_pem), std::string::npos);
    EXPECT_NE(bundle().find(new_ca.cert_pem), std::string::npos);
}

TEST_F(reconciler_test, a_cert_manager_cluster_made_plaintext_inside_keeps_it) {
    // What an operator before internal TLS for cert-manager made: PLAINTEXT inside.
    put_cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}})");
    reconciler old{server, cache, kube, &probe,
                   reconciler_options{{.network_policies = true, .internal_tls = false},
                                      std::chrono::milliseconds(5000), &clock}};
    old.reconcile("ns", "k");
    pass();
    EXPECT_EQ(cond_status("InternalTLS"), "False");
    EXPECT_EQ(cond_reason("InternalTLS"), "PlaintextCluster");
    EXPECT_FALSE(kube.get(res::certificates, "ns", "k-coordinator-0")) << "nothing to issue inside";
    EXPECT_FALSE(kube.get(res::secrets, "ns", "k-coordinator-certs"));
}

TEST_F(reconciler_test, force_renew_on_the_ca_secret_renews_the_cluster_ca_and_the_annotation_goes) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "secure", "port": 9095, "tls": true}]})");
    pass();
    const json ca = *kube.get(res::secrets, "ns", "k-cluster-ca");
    const std::string old_cert = *secret_value(ca, "ca.crt");
    EXPECT_EQ(status().at("certificateAuthority").at("cluster").at("phase").as_string(), "Valid");
    auto serials = [&] {
        return kube.get(res::stateful_sets, "ns", "k-broker")
            ->at("spec").at("template").at("metadata").at("annotations").at("tributary.io/certificates").as_string();
    };
    const std::string first = serials();

    json asked = ca;
    asked["metadata"]["annotations"] = json::object();
    asked["metadata"]["annotations"]["tributary.io/force-renew"] = json::string("true");
    kube.put(res::secrets, asked);
    pass();
    const json renewing = *kube.get(res::secrets, "ns", "k-cluster-ca");
    EXPECT_EQ(secret_value(renewing, "ca-old.crt"), old_cert);
    EXPECT_TRUE(secret_value(renewing, "ca-rollover.crt"));
    EXPECT_NE(secret_value(renewing, "ca.crt"), old_cert);
    EXPECT_FALSE(field_at(renewing, {"metadata", "annotations", "tributary.io/force-renew"})) << "removed";
    const auto bundle = *secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca-cert"), "ca.crt");
    EXPECT_EQ(bundle, *secret_value(renewing, "ca.crt") + old_cert);
    EXPECT_EQ(count_events("CertificateAuthorityRenewing"), 1);
    EXPECT_NE(serials(), first) << "every broker certificate issued again: the brokers roll";
    const json st = status().at("certificateAuthority").at("cluster");
    EXPECT_EQ(st.at("phase").as_string(), "Renewing");
    EXPECT_TRUE(st.has_string_field("previousNotAfter"));

    // A broker pod still on the old certificates holds the renewal open, whatever the pass's
    // first look (internal TLS, before the brokers' step) finds.
    json pod = json::parse(R"({"metadata": {"name": "k-broker-0", "namespace": "ns", "annotations": {}}})");
    pod["metadata"]["annotations"]["tributary.io/certificates"] = json::string(first);
    kube.put(res::pods, pod);
    pass();
    EXPECT_TRUE(secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca"), "ca-old.crt"))
        << "k-broker-0 runs a certificate of the old CA alone";
    kube.remove(res::pods, "ns", "k-broker-0", "");

    // No broker pod runs an old certificate here (none exist): the next pass ends it.
    pass();
    const json done = *kube.get(res::secrets, "ns", "k-cluster-ca");
    EXPECT_FALSE(secret_value(done, "ca-old.crt"));
    EXPECT_FALSE(secret_value(done, "ca-rollover.crt"));
    EXPECT_EQ(secret_value(done, "ca.crt"), secret_value(renewing, "ca.crt"));
    EXPECT_EQ(secret_value(*kube.get(res::secrets, "ns", "k-cluster-ca-cert"), "ca.crt"), secret_value(done, "ca.crt"));
    EXPECT_EQ(count_events("CertificateAuthorityRenewed"), 1);
    EXPECT_EQ(status().at("certificateAuthority").at("cluster").at("phase").as_string(), "Valid");
    EXPECT_FALSE(status().at("certificateAuthority").at("cluster").has_field("previousNotAfter"));
}

TEST_F(reconciler_test, a_clients_ca_renewal_ends_once_every_tls_users_certificate_is_under_the_new_ca) {
    put_cluster(R"({"listeners": [{"name": "mtls", "port": 9095, "tls": true, "authentication": {"type": "tls"}}]})");
    pass();
    const json ca = *kube.get(res::secrets, "ns", "k-clients-ca");
    const certs::key_pair old_ca{*secret_value(ca, "ca.key"), *secret_value(ca, "ca.crt")};
    // A tls KafkaUser whose Secret holds a certificate of the old clients CA.
    kube.put(res::kafka_users, json::parse(R"({"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaUser",
        "metadata": {"name": "alice", "namespace": "ns", "labels": {"tributary.io/cluster": "k"}},
        "spec": {"authentication": {"type": "tls"}}})"));
    auto user_secret = [&](const std::string& crt) {
        json d = json::object();
        d["user.crt"] = json::string(utility::conversions::to_base64(std::vector<unsigned char>(crt.begin(), crt.end())));
        json o = json::parse(R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alice", "namespace": "ns"}})");
        o["data"] = d;
        kube.put(res::secrets, o);
    };
    certs::leaf_request alice{"alice", {}, {}, ""};
    user_secret(certs::issue(old_ca, alice, clock.wall_now(), std::chrono::hours(24 * 365))->cert_pem);

    json asked = ca;
    asked["metadata"]["annotations"] = json::object();
    asked["metadata"]["annotations"]["tributary.io/force-renew"] = json::string("true");
    kube.put(res::secrets, asked);
    pass();
    pass();
    const json renewing = *kube.get(res::secrets, "ns", "k-clients-ca");
    EXPECT_EQ(secret_value(renewing, "ca-old.crt"), old_ca.cert_pem) << "alice's certificate is still the old CA's";
    EXPECT_EQ(status().at("certificateAuthority").at("clients").at("phase").as_string(), "Renewing");
    EXPECT_EQ(status().at("certificateAuthority").at("cluster").at("phase").as_string(), "Valid");
    EXPECT_EQ(count_events("CertificateAuthorityRenewed"), 0);

    const certs::key_pair new_ca{*secret_value(renewing, "ca.key"), *secret_value(renewing, "ca.crt")};
    user_secret(certs::issue(new_ca, alice, clock.wall_now(), std::chrono::hours(24 * 365))->cert_pem +
                *secret_value(renewing, "ca-rollover.crt"));
    pass();
    EXPECT_FALSE(secret_value(*kube.get(res::secrets, "ns", "k-clients-ca"), "ca-old.crt"));
    EXPECT_EQ(secret_value(*kube.get(res::secrets, "ns", "k-clients-ca-cert"), "ca.crt"), new_ca.cert_pem);
    EXPECT_EQ(count_events("CertificateAuthorityRenewed"), 1);
    EXPECT_EQ(status().at("certificateAuthority").at("clients").at("phase").as_string(), "Valid");
}

TEST_F(reconciler_test, a_second_pass_changes_nothing) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"}]})");
    pass();
    auto before = versions();
    auto first_writes = kube.writes();
    auto events = kube.events.size();
    pass();
    EXPECT_EQ(versions(), before);
    EXPECT_EQ(kube.events.size(), events);
    // The same applies; the status write is skipped because it would change nothing.
    auto second_writes = kube.writes();
    EXPECT_EQ(std::count(second_writes.begin(), second_writes.end(), "replace_status KafkaCluster ns/k"), 0);
}

TEST_F(reconciler_test, a_running_cluster_is_ready_with_its_brokers_ids_and_addresses_in_status) {
    put_cluster("{}");
    pass();
    all_pods_ready(3);
    probe.answer = probe_result{"cid", {0, 1, 2}};
    auto r = pass();
    EXPECT_FALSE(r.requeue_after);
    EXPECT_EQ(probe.asked.back(), "10.0.0.0:9091,10.0.0.1:9091,10.0.0.2:9091");
    EXPECT_EQ(cond_status("Ready"), "True");
    EXPECT_EQ(cond_status("Reconciling"), "False");
    auto s = status();
    EXPECT_EQ(s.at("clusterId").as_string(), "cid");
    EXPECT_EQ(s.at("replicas").as_integer(), 3);
    EXPECT_EQ(s.at("selector").as_string(),
              "app.kubernetes.io/name=tributary,app.kubernetes.io/instance=k,app.kubernetes.io/component=broker");
    for (int i = 0; i < 3; ++i) {
        const auto& b = s.at("brokers").at(i);
        EXPECT_EQ(b.at("id").as_integer(), i);
        EXPECT_EQ(b.at("pod").as_string(), "k-broker-" + std::to_string(i));
        EXPECT_EQ(b.at("state").as_string(), "Running");
        EXPECT_EQ(b.at("addresses").at(0).at("host").as_string(),
                  "k-broker-" + std::to_string(i) + ".k-broker.ns.svc.cluster.local");
        EXPECT_EQ(b.at("addresses").at(0).at("port").as_integer(), 9092);
    }
    EXPECT_EQ(s.at("listeners").at(0).at("bootstrapServers").as_string(), "k-bootstrap.ns.svc:9092");
    EXPECT_EQ(s.at("coordinators").at("ready").as_integer(), 1);
}

TEST_F(reconciler_test, broker_states_combine_readiness_and_registration) {
    put_cluster("{}");
    pass();
    put_pod("k-coordinator-0", "10.0.1.0", true);
    put_pod("k-broker-0", "10.0.0.0", true);
    put_pod("k-broker-1", "10.0.0.1", true);
    put_pod("k-broker-2", "10.0.0.2", false);
    probe.answer = probe_result{"cid", {0, 2}};
    pass();
    auto b = status().at("brokers");
    EXPECT_EQ(b.at(0).at("state").as_string(), "Running");
    EXPECT_EQ(b.at(1).at("state").as_string(), "Unregistered");
    EXPECT_EQ(b.at(2).at("state").as_string(), "NotReady");
    EXPECT_EQ(cond_reason("Ready"), "BrokersNotReady");
    EXPECT_NE(condition("Ready").at("message").as_string().find("1 (Unregistered), 2 (NotReady)"), std::string::npos);
}

TEST_F(reconciler_test, a_crash_looping_broker_shows_why_and_degrades_the_cluster) {
    put_cluster("{}");
    pass();
    all_pods_ready(3);
    probe.answer = probe_result{"cid", {0, 1, 2}};
    // As the kubelet reports broker 1 after the broker halted on a full disk and was restarted
    // four times: waiting to start again, its last run ended with the broker's own message.
    put_pod("k-broker-1", "10.0.0.1", false);
    auto pod = *kube.get(res::pods, "ns", "k-broker-1");
    pod["status"]["containerStatuses"] = json::parse(R"([{"name": "broker", "restartCount": 4, "ready": false,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
            "message": "log directory /var/lib/tributary/data failed (t-0: append: pwrite /var/lib/tributary/data/t-0/00000000000000000000.log: No space left on device): halting the broker"}}}])");
    kube.put(res::pods, pod);
    pass();
    const std::string why = "exit code 1 (Error): log directory /var/lib/tributary/data failed (t-0: append: pwrite "
                            "/var/lib/tributary/data/t-0/00000000000000000000.log: No space left on device): halting "
                            "the broker";
    auto b = status().at("brokers");
    EXPECT_EQ(b.at(1).at("state").as_string(), "NotReady");
    EXPECT_EQ(b.at(1).at("restarts").as_integer(), 4);
    EXPECT_EQ(b.at(1).at("lastTermination").as_string(), why);
    EXPECT_FALSE(b.at(0).has_field("restarts"));
    EXPECT_FALSE(b.at(0).has_field("lastTermination"));
    EXPECT_EQ(cond_reason("Degraded"), "BrokerCrashLooping");
    EXPECT_EQ(condition("Degraded").at("status").as_string(), "True");
    EXPECT_EQ(condition("Degraded").at("message").as_string(), "broker 1 keeps failing (restarts: 4), last: " + why);
    EXPECT_EQ(count_events("BrokerCrashLooping"), 1);

    // Restarted once more: the status follows, the event is not repeated.
    pod["status"]["containerStatuses"][0]["restartCount"] = json::number(5);
    kube.put(res::pods, pod);
    pass();
    EXPECT_EQ(status().at("brokers").at(1).at("restarts").as_integer(), 5);
    EXPECT_EQ(count_events("BrokerCrashLooping"), 1);

    // Mended and running again: the restarts stay counted, the last end is no longer shown,
    // and the cluster is no longer degraded.
    put_pod("k-broker-1", "10.0.0.1", true);
    pod = *kube.get(res::pods, "ns", "k-broker-1");
    pod["status"]["containerStatuses"] = json::parse(R"([{"name": "broker", "restartCount": 5, "ready": true,
        "state": {"running": {"startedAt": "2026-12-07T22:00:00Z"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "log directory failed"}}}])");
    kube.put(res::pods, pod);
    pass();
    b = status().at("brokers");
    EXPECT_EQ(b.at(1).at("state").as_string(), "Running");
    EXPECT_EQ(b.at(1).at("restarts").as_integer(), 5);
    EXPECT_FALSE(b.at(1).has_field("lastTermination"));
    EXPECT_EQ(condition("Degraded").at("status").as_string(), "False");
}

TEST(broker_status, last_termination_reads_the_state_then_the_last_state) {
    auto pod = json::parse(R"({"status": {"containerStatuses": [
        {"name": "other", "state": {"terminated": {"exitCode": 2}}},
        {"name": "broker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
         "lastState": {"terminated": {"exitCode": 1, "message": "older"}}}]}})");
    EXPECT_EQ(last_termination(pod, "broker"), "exit code 137 (OOMKilled)");
    EXPECT_EQ(last_termination(pod, "other"), "exit code 2");
    // FallbackToLogsOnError: the log's end, of which the last line is kept, 512 bytes at most.
    pod = json::parse(R"({"status": {"containerStatuses": [{"name": "broker", "state": {"waiting": {}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
            "message": "starting broker 1\nstart-up failed: cluster.id is a\n"}}}]}})");
    EXPECT_EQ(last_termination(pod, "broker"), "exit code 1 (Error): start-up failed: cluster.id is a");
    pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] = json::string(std::string(600, 'x'));
    EXPECT_EQ(last_termination(pod, "broker"), "exit code 1 (Error): " + std::string(512, 'x'));
    // ... cut before a character of several bytes that would not fit whole.
    pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] =
        json::string(std::string(511, 'x') + "\u00e9" + "y");
    EXPECT_EQ(last_termination(pod, "broker"), "exit code 1 (Error): " + std::string(511, 'x'));
    // Never ended, or no status for it yet.
    EXPECT_EQ(last_termination(json::parse(R"({"status": {"containerStatuses": [{"name": "broker",
        "state": {"running": {}}}]}})"), "broker"), "");
    EXPECT_EQ(last_termination(json::parse(R"({"status": {}})"), "broker"), "");
}

TEST_F(reconciler_test, listeners_advertising_pod_ips_list_the_ready_brokers_as_bootstrap) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092, "advertisedHost": "{podIP}"}]})");
    pass();
    all_pods_ready(3);
    put_pod("k-broker-1", "10.0.0.1", false);
    pass();
    EXPECT_EQ(status().at("listeners").at(0).at("bootstrapServers").as_string(), "10.0.0.0:9092,10.0.0.2:9092");
    EXPECT_EQ(status().at("brokers").at(0).at("addresses").at(0).at("host").as_string(), "10.0.0.0");
}

// Scale-down with drain is scaler_test.cc's; without a way to ask the cluster (no drain_ops)
// nothing shrinks.
TEST_F(reconciler_test, without_access_to_the_cluster_a_scale_down_waits_and_removes_nothing) {
    put_cluster("{}");
    pass();
    all_pods_ready(3);
    put_cluster(R"({"brokers": {"replicas": 1}})");
    auto r = pass();
    EXPECT_EQ(broker_replicas(), 3);
    EXPECT_EQ(cond_status("Reconciling"), "True");
    EXPECT_EQ(cond_reason("Reconciling"), "WaitingForCluster");
    EXPECT_TRUE(r.requeue_after.has_value());
    // The brokers that keep running keep their status and files.
    EXPECT_EQ(status().at("brokers").size(), 3u);
    EXPECT_NE(broker_file(2).find("node.id=2"), std::string::npos);

    put_cluster(R"({"brokers": {"replicas": 3}})");
    pass();
    EXPECT_EQ(cond_status("Reconciling"), "False");
    EXPECT_EQ(broker_replicas(), 3);
}

TEST_F(reconciler_test, broker_ids_stay_with_their_ordinals_across_scaling_and_restarts) {
    put_cluster("{}");
    pass();
    all_pods_ready(3);
    pass();
    const std::vector<std::string> files = {broker_file(0), broker_file(1), broker_file(2)};

    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    EXPECT_EQ(broker_replicas(), 5);
    EXPECT_EQ(count_events("Scaled"), 1);
    EXPECT_NE(broker_file(3).find("node.id=3\n"), std::string::npos);
    EXPECT_NE(broker_file(4).find("node.id=4\n"), std::string::npos);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(broker_file(i), files[i]);
    }

    // A scale-down that waits (no cluster access) and a pod that comes back elsewhere with a new IP change no id.
    put_cluster(R"({"brokers": {"replicas": 2}})");
    pass();
    kube.remove(res::pods, "ns", "k-broker-1");
    pass();
    put_pod("k-broker-1", "10.0.0.99", true, "n2");
    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(broker_file(i), files[i]);
    }
    EXPECT_EQ(status().at("brokers").at(1).at("id").as_integer(), 1);
    EXPECT_EQ(status().at("brokers").at(1).at("pod").as_string(), "k-broker-1");
}

TEST_F(reconciler_test, a_scale_up_leaves_the_running_brokers_pod_template_as_it_is) {
    // Internal TLS gives every broker a certificate; that of a broker being added must not change
    // the template the running ones were made from, or the roll would restart each of them.
    put_cluster("{}");
    pass();
    all_pods_ready(3);
    pass();
    auto tmpl = [&] { return kube.get(res::stateful_sets, "ns", "k-broker")->at("spec").at("template"); };
    auto keystores = [&] { return kube.get(res::secrets, "ns", "k-broker-certs")->at("data"); };
    const json before = tmpl();
    ASSERT_TRUE(keystores().has_field("k-broker-2.pem"));
    ASSERT_TRUE(before.at("metadata").at("annotations").has_field("tributary.io/certificates"));

    put_cluster(R"({"brokers": {"replicas": 5}})");
    pass();
    EXPECT_EQ(broker_replicas(), 5);
    EXPECT_TRUE(keystores().has_field("k-broker-3.pem") && keystores().has_field("k-broker-4.pem"))
        << "issued before their pods are made";
    EXPECT_EQ(tmpl().serialize(), before.serialize());
    all_pods_ready(5);
    pass();
    EXPECT_EQ(tmpl().serialize(), before.serialize()) << "nor once they run";
}

TEST_F(reconciler_test, brokers_wait_for_their_load_balancer_addresses_before_they_start) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "lb", "port": 9095, "type": "loadbalancer"}]})");
    auto r = pass();
    EXPECT_EQ(broker_replicas(), 0);
    EXPECT_TRUE(kube.get(res::services, "ns", "k-broker-2-lb"));
    EXPECT_EQ(cond_reason("Reconciling"), "WaitingForAddresses");
    EXPECT_NE(condition("Reconciling").at("message").as_string().find("Service k-broker-0-lb"), std::string::npos);
    ASSERT_TRUE(r.requeue_after);

    auto give_ingress = [&](int id, const std::string& ip) {
        auto svc = *kube.get(res::services, "ns", "k-broker-" + std::to_string(id) + "-lb");
        svc["status"] = json::parse(R"({"loadBalancer": {"ingress": [{"ip": ")" + ip + R"("}]}})");
        kube.put(res::services, svc);
    };
    give_ingress(0, "203.0.113.10");
    give_ingress(1, "203.0.113.11");
    pass();
    EXPECT_EQ(broker_replicas(), 2);  // broker 2 still waits
    EXPECT_NE(broker_file(1).find("LB://203.0.113.11:9095"), std::string::npos);
    EXPECT_EQ(broker_file(2), "");
    give_ingress(2, "203.0.113.12");
    pass();
    EXPECT_EQ(broker_replicas(), 3);
    all_pods_ready(3);
    pass();
    EXPECT_EQ(cond_status("Ready"), "True");
    EXPECT_EQ(status().at("listeners").at(1).at("bootstrapServers").as_string(),
              "203.0.113.10:9095,203.0.113.11:9095,203.0.113.12:9095");
}

TEST_F(reconciler_test, node_port_listeners_advertise_the_node_and_the_allocated_port) {
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"}]})");
    pass();
    // The per-broker Services come first in the pass, so their ports are known in time.
    EXPECT_EQ(broker_replicas(), 3);
    const auto port2 = server.node_port("k-broker-2-ext", 9094);
    EXPECT_NE(broker_file(2).find("EXT://${env:HOST_IP}:" + std::to_string(port2)), std::string::npos);
    all_pods_ready(3);
    pass();
    const json a = status().at("brokers").at(2).at("addresses").at(1);
    EXPECT_EQ(a.at("listener").as_string(), "ext");
    EXPECT_EQ(a.at("host").as_string(), "192.168.0.1");
    EXPECT_EQ(a.at("port").as_integer(), port2);

    // Making the listener internal removes the per-broker Services.
    put_cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    pass();
    EXPECT_FALSE(kube.get(res::services, "ns", "k-broker-0-ext"));
}

TEST_F(reconciler_test, a_write_the_api_server_refuses_is_reported_then_thrown_for_the_retry) {
    put_cluster("{}");
    kube.fail_next("apply", "StatefulSet", k8s::api_error(422, "Invalid", "spec.template: bad"));
    EXPECT_THROW(pass(), k8s::api_error);
    EXPECT_EQ(cond_status("Degraded"), "True");
    EXPECT_EQ(cond_reason("Degraded"), "ApiError");
    EXPECT_NE(condition("Degraded").at("message").as_string().find("step 'coordinator statefulset': Invalid: spec.template: bad"),
              std::string::npos);
    pass();  // the retry
    EXPECT_EQ(cond_reason("Degraded"), "AsExpected");
}

TEST_F(reconciler_test, an_invalid_spec_changes_nothing_and_says_why) {
    put_cluster(R"({"brokers": {"config": {"node.id": "7"}}})");
    auto r = pass();
    EXPECT_EQ(rec.last_steps(), std::vector<std::string>{"validate spec"});
    EXPECT_EQ(kube.writes(), std::vector<std::string>{"replace_status KafkaCluster ns/k"});
    EXPECT_EQ(cond_status("Degraded"), "True");
    EXPECT_EQ(cond_reason("Degraded"), "InvalidSpec");
    EXPECT_NE(condition("Degraded").at("message").as_string().find("set by the operator"), std::string::npos);
    EXPECT_EQ(cond_status("Ready"), "False");
    EXPECT_EQ(count_events("InvalidSpec"), 1);
    EXPECT_FALSE(r.requeue_after);  // a spec change brings it back
    pass();
    EXPECT_EQ(count_events("InvalidSpec"), 1);
}

// A key the API server doesn't copy onto pods: the operator reads the node's label.
TEST_F(reconciler_test, the_rack_comes_from_the_label_of_the_node_the_pod_runs_on) {
    put_cluster(R"({"brokers": {"rack": {"topologyKey": "example.com/rack"}}})");
    kube.put(res::nodes, json::parse(R"({"metadata": {"name": "n1", "labels": {"example.com/rack": "z1"}}})"));
    kube.put(res::nodes, json::parse(R"({"metadata": {"name": "n2", "labels": {"example.com/rack": "z2"}}})"));
    pass();
    EXPECT_EQ(broker_file(0).find("broker.rack"), std::string::npos);  // not scheduled yet
    all_pods_ready(3);
    put_pod("k-broker-2", "10.0.0.2", true, "n2");
    pass();
    EXPECT_NE(broker_file(0).find("broker.rack=z1\n"), std::string::npos);
    EXPECT_NE(broker_file(2).find("broker.rack=z2\n"), std::string::npos);
    EXPECT_EQ(status().at("brokers").at(2).at("rack").as_string(), "z2");
    EXPECT_EQ(count_events("ConfigChanged"), 1);
    // A pod between two lives keeps its rack: no config change for a restart.
    const auto file = broker_file(2);
    kube.remove(res::pods, "ns", "k-broker-2");
    pass();
    EXPECT_EQ(broker_file(2), file);
    EXPECT_EQ(count_events("ConfigChanged"), 1);
}

// Zone (or region): the pod's own copy of the label, from the very first pass; scheduling the
// pod changes no file. The status still shows the rack from the node.
TEST_F(reconciler_test, a_zone_rack_is_read_by_the_broker_from_its_pod_label_from_the_first_start) {
    put_cluster(R"({"brokers": {"rack": {"topologyKey": "topology.kubernetes.io/zone"}}})");
    kube.put(res::nodes, json::parse(R"({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}})"));
    pass();
    EXPECT_NE(broker_file(0).find("broker.rack=${env:BROKER_RACK}\n"), std::string::npos);
    const auto before = broker_file(0);
    all_pods_ready(3);
    pass();
    EXPECT_EQ(broker_file(0), before);
    EXPECT_EQ(count_events("ConfigChanged"), 0);
    EXPECT_EQ(status().at("brokers").at(0).at("rack").as_string(), "z1");
}

// The hash of the whole ConfigMap is on the StatefulSet; on the pod template only what a
// broker must restart to take (controller/roller.h), so a dynamic key changes no template.
TEST_F(reconciler_test, the_config_hash_is_on_the_stateful_set_and_the_restart_config_on_the_template) {
    put_cluster("{}");
    pass();
    auto hash = [&] {
        return kube.get(res::stateful_sets, "ns", "k-broker")
            ->at("metadata").at("annotations").at(broker_config_hash_annotation).as_string();
    };
    auto first = hash();
    put_cluster(R"({"brokers": {"config": {"log.retention.hours": "24"}}})");
    pass();
    EXPECT_NE(hash(), first);
    EXPECT_EQ(count_events("ConfigChanged"), 1);
    EXPECT_EQ(kube.events.back().message,
              "ConfigMap k-broker-config changed (broker.properties); keys that need a restart roll the pods one "
              "at a time, dynamic ones are applied without");
    auto restart_config = [&] {
        return kube.get(res::stateful_sets, "ns", "k-broker")
            ->at("spec").at("template").at("metadata").at("annotations").at("tributary.io/restart-config").as_string();
    };
    EXPECT_NE(restart_config().find("log.retention.hours=24"), std::string::npos);
    const auto with_hours = restart_config();
    put_cluster(R"({"brokers": {"config": {"log.retention.hours": "24", "log.retention.ms": "5000"}}})");
    pass();
    EXPECT_EQ(count_events("ConfigChanged"), 2);
    EXPECT_EQ(restart_config(), with_hours);
}

TEST_F(reconciler_test, a_storage_change_keeps_the_claims_template_and_reports_it) {
    put_cluster("{}");
    pass();
    put_cluster(R"({"brokers": {"storage": {"size": "20Gi"}, "config": {"num.partitions": "2"}}})");
    pass();
    auto sts = *kube.get(res::stateful_sets, "ns", "k-broker");
    EXPECT_EQ(sts.at("spec").at("volumeClaimTemplates").at(0).at("spec").at("resources").at("requests").at("storage")
                  .as_string(),
              "10Gi");
    EXPECT_EQ(cond_reason("Degraded"), "StorageChangeNotSupported");
    EXPECT_NE(condition("Degraded").at("message").as_string().find("resize the PersistentVolumeClaims"),
              std::string::npos);
    EXPECT_NE(broker_file(0), "");  // the rest still reconciled
    EXPECT_NE(kube.get(res::config_maps, "ns", "k-broker-config")
                  ->at("data").at("broker.properties").as_string().find("num.partitions=2"),
              std::string::npos);
}

TEST_F(reconciler_test, names_that_would_make_invalid_object_names_are_refused) {
    json o = json::parse(R"({"metadata": {"name": "a-cluster-name-that-is-far-too-long-for-this", "namespace": "ns"},
                             "spec": {}})");
    kube.put(res::kafka_clusters, o);
    rec.reconcile("ns", "a-cluster-name-that-is-far-too-long-for-this");
    auto st = kube.get(res::kafka_clusters, "ns", "a-cluster-name-that-is-far-too-long-for-this")->at("status");
    auto degraded = *k8s::find_condition(st, "Degraded");
    EXPECT_EQ(degraded.at("reason").as_string(), "InvalidSpec");
    EXPECT_NE(degraded.at("message").as_string().find("at most 40 characters"), std::string::npos);
    EXPECT_FALSE(kube.get(res::stateful_sets, "ns", "a-cluster-name-that-is-far-too-long-for-this-broker"));
}

TEST_F(reconciler_test, delete_claim_holds_the_cluster_with_a_finalizer_until_its_claims_are_deleted) {
    put_cluster(R"({"brokers": {"storage": {"deleteClaim": true}}})");
    pass();
    auto fins = cluster().at("metadata").at("finalizers");
    ASSERT_EQ(fins.size(), 1u);
    EXPECT_EQ(fins.at(0).as_string(), "tributary.io/cleanup");
    auto claim = [&](const std::string& name, const std::string& comp) {
        json c = json::parse(R"({"metadata": {"namespace": "ns", "labels": {"app.kubernetes.io/instance": "k"}}})");
        c["metadata"]["name"] = json::string(name);
        c["metadata"]["labels"]["app.kubernetes.io/component"] = json::string(comp);
        kube.put(res::persistent_volume_claims, c);
    };
    claim("data-k-broker-0", "broker");
    claim("data-k-broker-1", "broker");
    claim("data-k-coordinator-0", "coordinator");

    kube.remove(res::kafka_clusters, "ns", "k");
    ASSERT_TRUE(kube.get(res::kafka_clusters, "ns", "k"));  // held by the finalizer
    pass();
    EXPECT_EQ(rec.last_steps(), std::vector<std::string>{"clean up"});
    EXPECT_FALSE(kube.get(res::persistent_volume_claims, "ns", "data-k-broker-0"));
    EXPECT_FALSE(kube.get(res::persistent_volume_claims, "ns", "data-k-broker-1"));
    EXPECT_TRUE(kube.get(res::persistent_volume_claims, "ns", "data-k-coordinator-0"));  // its deleteClaim is false
    EXPECT_FALSE(kube.get(res::kafka_clusters, "ns", "k"));  // finalizer removed: gone
}

TEST_F(reconciler_test, the_finalizer_goes_when_delete_claim_is_turned_off_and_others_are_kept) {
    put_cluster(R"({"brokers": {"storage": {"deleteClaim": true}}})");
    auto c = cluster();
    c["metadata"]["finalizers"] = json::parse(R"(["example.com/other"])");
    kube.put(res::kafka_clusters, c);
    pass();
    EXPECT_EQ(cluster().at("metadata").at("finalizers").serialize(), R"(["example.com/other","tributary.io/cleanup"])");
    put_cluster(R"({"brokers": {"storage": {"deleteClaim": false}}})");
    pass();
    EXPECT_EQ(cluster().at("metadata").at("finalizers").serialize(), R"(["example.com/other"])");
}

} // namespace
} // namespace trib::op::controller
