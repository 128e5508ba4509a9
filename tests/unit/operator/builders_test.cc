// The desired objects of a KafkaCluster: what the API server will store and what the pods
// will run with.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include "operator/controller/config_maps.h"
#include "operator/controller/listeners.h"
#include "operator/controller/workloads.h"


namespace trib::op::controller {
namespace {

api::kafka_cluster cluster(const std::string& spec = "{}") {
    std::vector<std::string> errors;
    auto c = api::parse_kafka_cluster(
        json::parse(R"({"metadata": {"name": "k", "namespace": "ns", "uid": "u1"}, "spec": )" + spec + "}"), errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_TRUE(api::validate(c.spec).empty());
    return c;
}

// Each line of a properties file as key -> value.
std::map<std::string, std::string> props(const std::string& text) {
    std::map<std::string, std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto eq = line.find('=');
        out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
}

void expect_owned(const json& o, const std::string& component) {
    const auto& m = o.at("metadata");
    EXPECT_EQ(m.at("namespace").as_string(), "ns");
    EXPECT_EQ(m.at("labels").at("app.kubernetes.io/name").as_string(), "tributary");
    EXPECT_EQ(m.at("labels").at("app.kubernetes.io/instance").as_string(), "k");
    EXPECT_EQ(m.at("labels").at("app.kubernetes.io/component").as_string(), component);
    EXPECT_EQ(m.at("labels").at("app.kubernetes.io/managed-by").as_string(), "tributary-operator");
    const auto& ref = m.at("ownerReferences").at(0);
    EXPECT_EQ(ref.at("apiVersion").as_string(), "tributary.io/v1alpha1");
    EXPECT_EQ(ref.at("kind").as_string(), "KafkaCluster");
    EXPECT_EQ(ref.at("name").as_string(), "k");
    EXPECT_EQ(ref.at("uid").as_string(), "u1");
    EXPECT_TRUE(ref.at("controller").as_bool());
    EXPECT_TRUE(ref.at("blockOwnerDeletion").as_bool());
}

TEST(builders, broker_config_has_the_operator_keys_and_the_users) {
    auto c = cluster(R"({"brokers": {"config": {"num.partitions": "6", "log.retention.hours": "24"}},
        "listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"}]})");
    build_context ctx{c, {}};
    auto p = props(broker_shared_properties(ctx, 1));
    EXPECT_EQ(p["listeners"], "REPLICATION://${env:POD_IP}:9091,PLAIN://${env:POD_IP}:9092,EXT://${env:POD_IP}:9094");
    EXPECT_EQ(p["listener.security.protocol.map"], "REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,EXT:PLAINTEXT");
    EXPECT_EQ(p["inter.broker.listener.name"], "REPLICATION");
    EXPECT_EQ(p["log.dirs"], "/var/lib/tributary/data");
    EXPECT_EQ(p["controller.quorum.voters"], "1000@k-coordinator-0.k-coordinator.ns.svc.cluster.local:9093");
    EXPECT_EQ(p["tributary.http.listener"], "${env:POD_IP}:9644");
    EXPECT_EQ(p["cluster.id"], cluster_id("ns", "k"));
    EXPECT_EQ(p["num.partitions"], "6");
    EXPECT_EQ(p["log.retention.hours"], "24");
    EXPECT_EQ(p.count("node.id"), 0u);
}

TEST(builders, cluster_id_is_kafka_shaped_and_stable_per_namespace_and_name) {
    auto id = cluster_id("ns", "k");
    EXPECT_EQ(id.size(), 22u);
    EXPECT_EQ(id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
    EXPECT_EQ(id, cluster_id("ns", "k"));
    EXPECT_NE(id, cluster_id("ns", "k2"));
    EXPECT_NE(id, cluster_id("ns2", "k"));
}

TEST(builders, per_pod_files_give_id_and_advertised_listeners_from_the_pod_environment) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092},
                                       {"name": "direct", "port": 9096, "advertisedHost": "{podIP}"},
                                       {"name": "named", "port": 9095, "advertisedHost": "b{id}.example.com"}]})");
    build_context ctx{c, {}};
    auto eps = resolve_endpoints(ctx, 2, [](const std::string&) { return std::nullopt; });
    EXPECT_TRUE(eps.waiting_for.empty());
    auto cm = broker_config_map(ctx, 1, {{2, eps.listeners, "zone-a"}});
    expect_owned(cm, "broker");
    EXPECT_EQ(cm.at("metadata").at("name").as_string(), "k-broker-config");
    auto p = props(cm.at("data").at("k-broker-2.properties").as_string());
    EXPECT_EQ(p["node.id"], "2");
    EXPECT_EQ(p["advertised.listeners"],
              "REPLICATION://${env:POD_IP}:9091,PLAIN://${env:POD_NAME}.k-broker.ns.svc.cluster.local:9092,"
              "DIRECT://${env:POD_IP}:9096,NAMED://b2.example.com:9095");
    EXPECT_EQ(p["broker.rack"], "zone-a");
    EXPECT_TRUE(cm.at("data").has_field("broker.properties"));
    EXPECT_EQ(cm.at("data").size(), 2u);
}

TEST(builders, a_pod_without_a_known_rack_gets_no_rack_line) {
    auto c = cluster();
    build_context ctx{c, {}};
    auto eps = resolve_endpoints(ctx, 0, [](const std::string&) { return std::nullopt; });
    EXPECT_EQ(props(broker_pod_properties({0, eps.listeners, ""})).count("broker.rack"), 0u);
}

TEST(builders, the_rack_is_read_back_from_a_pod_file) {
    EXPECT_EQ(rack_in_pod_properties(broker_pod_properties({0, {}, "zone-a"})), "zone-a");
    EXPECT_EQ(rack_in_pod_properties(broker_pod_properties({0, {}, "a\\b"})), "a\\b");
    EXPECT_EQ(rack_in_pod_properties(broker_pod_properties({0, {}, ""})), "");
    EXPECT_EQ(rack_in_pod_properties("broker.rack=r1\nnode.id=1\n"), "r1");
}

TEST(builders, the_cluster_domain_setting_is_used_in_dns_names) {
    auto c = cluster();
    build_context ctx{c, {"img", "corp.example"}};
    EXPECT_EQ(quorum_voters(ctx, 1), "1000@k-coordinator-0.k-coordinator.ns.svc.corp.example:9093");
    EXPECT_EQ(default_host_template(ctx, c.spec.listeners[0]), "{podName}.k-broker.ns.svc.corp.example");
}

TEST(builders, coordinator_config_gives_ids_from_1000_and_a_voter_list_that_can_grow) {
    auto c = cluster(R"({"brokers": {"config": {"num.partitions": "6", "default.replication.factor": "3"}}})");
    build_context ctx{c, {}};
    auto cm = coordinator_config_map(ctx, 1);
    expect_owned(cm, "coordinator");
    EXPECT_EQ(cm.at("metadata").at("name").as_string(), "k-coordinator-config");
    auto shared = props(cm.at("data").at("coordinator.properties").as_string());
    EXPECT_EQ(shared["listeners"], "CONTROLLER://${env:POD_IP}:9093");
    EXPECT_EQ(shared["log.dirs"], "/var/lib/tributary/metadata");
    EXPECT_EQ(shared["controller.quorum.voters"], "1000@k-coordinator-0.k-coordinator.ns.svc.cluster.local:9093");
    EXPECT_EQ(shared["cluster.id"], cluster_id("ns", "k"));
    EXPECT_EQ(shared["num.partitions"], "6");
    EXPECT_EQ(shared["default.replication.factor"], "3");
    EXPECT_EQ(props(cm.at("data").at("k-coordinator-0.properties").as_string())["node.id"], "1000");
    // The Raft issue raises the voter count: every voter gets its id and its file.
    auto three = coordinator_config_map(ctx, 3);
    EXPECT_EQ(props(three.at("data").at("coordinator.properties").as_string())["controller.quorum.voters"],
              "1000@k-coordinator-0.k-coordinator.ns.svc.cluster.local:9093,"
              "1001@k-coordinator-1.k-coordinator.ns.svc.cluster.local:9093,"
              "1002@k-coordinator-2.k-coordinator.ns.svc.cluster.local:9093");
    EXPECT_EQ(props(three.at("data").at("k-coordinator-2.properties").as_string())["node.id"], "1002");
}

TEST(builders, services_headless_and_bootstrap) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"}]})");
    build_context ctx{c, {}};
    auto hb = headless_service(ctx, component::broker);
    expect_owned(hb, "broker");
    EXPECT_EQ(hb.at("metadata").at("name").as_string(), "k-broker");
    EXPECT_EQ(hb.at("spec").at("clusterIP").as_string(), "None");
    EXPECT_TRUE(hb.at("spec").at("publishNotReadyAddresses").as_bool());
    EXPECT_EQ(hb.at("spec").at("selector").at("app.kubernetes.io/component").as_string(), "broker");
    EXPECT_EQ(hb.at("spec").at("ports").size(), 4u);  // plain, ext, replication, http
    auto hc = headless_service(ctx, component::coordinator);
    EXPECT_EQ(hc.at("metadata").at("name").as_string(), "k-coordinator");
    EXPECT_EQ(hc.at("spec").at("ports").at(0).at("port").as_integer(), 9093);

    auto boot = bootstrap_service(ctx);
    ASSERT_TRUE(boot);
    expect_owned(*boot, "broker");
    EXPECT_EQ(boot->at("metadata").at("name").as_string(), "k-bootstrap");
    ASSERT_EQ(boot->at("spec").at("ports").size(), 1u);  // internal listeners only
    EXPECT_EQ(boot->at("spec").at("ports").at(0).at("port").as_integer(), 9092);
    EXPECT_FALSE(boot->at("spec").has_field("publishNotReadyAddresses"));

    auto only_external = cluster(R"({"listeners": [{"name": "ext", "port": 9094, "type": "nodeport"}]})");
    EXPECT_FALSE(bootstrap_service(build_context{only_external, {}}));
}

TEST(builders, per_broker_services_select_one_pod_per_external_listener) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"},
                                       {"name": "lb", "port": 9095, "type": "loadbalancer"}]})");
    build_context ctx{c, {}};
    auto svcs = per_broker_services(ctx, 4);
    ASSERT_EQ(svcs.size(), 2u);
    expect_owned(svcs[0], "broker");
    EXPECT_EQ(svcs[0].at("metadata").at("name").as_string(), "k-broker-4-ext");
    EXPECT_EQ(svcs[0].at("metadata").at("labels").at(broker_id_label).as_string(), "4");
    EXPECT_EQ(svcs[0].at("spec").at("type").as_string(), "NodePort");
    EXPECT_EQ(svcs[0].at("spec").at("selector").at("statefulset.kubernetes.io/pod-name").as_string(), "k-broker-4");
    EXPECT_EQ(svcs[0].at("spec").at("ports").at(0).at("targetPort").as_integer(), 9094);
    EXPECT_FALSE(svcs[0].at("spec").at("ports").at(0).has_field("nodePort"));  // the API server allocates it
    EXPECT_EQ(svcs[1].at("metadata").at("name").as_string(), "k-broker-4-lb");
    EXPECT_EQ(svcs[1].at("spec").at("type").as_string(), "LoadBalancer");
}

TEST(builders, addresses_wait_for_the_node_port_and_the_load_balancer) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094, "type": "nodeport"},
                                       {"name": "lb", "port": 9095, "type": "loadbalancer"}]})");
    build_context ctx{c, {}};
    std::map<std::string, json> services;
    auto lookup = [&](const std::string& n) -> std::optional<json> {
        auto it = services.find(n);
        return it == services.end() ? std::nullopt : std::optional<json>(it->second);
    };
    EXPECT_EQ(resolve_endpoints(ctx, 1, lookup).waiting_for, "the node port of Service k-broker-1-ext");

    auto svcs = per_broker_services(ctx, 1);
    services["k-broker-1-ext"] = svcs[0];
    services["k-broker-1-ext"]["spec"]["ports"][0]["nodePort"] = num(31001);
    services["k-broker-1-lb"] = svcs[1];
    EXPECT_EQ(resolve_endpoints(ctx, 1, lookup).waiting_for, "the load balancer address of Service k-broker-1-lb");

    services["k-broker-1-lb"]["status"] = json::parse(R"({"loadBalancer": {"ingress": [{"hostname": "lb1.example"}]}})");
    auto eps = resolve_endpoints(ctx, 1, lookup);
    EXPECT_EQ(eps.waiting_for, "");
    ASSERT_EQ(eps.listeners.size(), 3u);
    EXPECT_EQ(eps.listeners[0].host, "{podName}.k-broker.ns.svc.cluster.local");
    EXPECT_EQ(eps.listeners[0].port, 9092);
    EXPECT_EQ(eps.listeners[1].host, "{nodeIP}");
    EXPECT_EQ(eps.listeners[1].port, 31001);
    EXPECT_EQ(eps.listeners[2].host, "lb1.example");
    EXPECT_EQ(eps.listeners[2].port, 9095);
    auto p = props(broker_pod_properties({1, eps.listeners, ""}));
    EXPECT_EQ(p["advertised.listeners"],
              "REPLICATION://${env:POD_IP}:9091,PLAIN://${env:POD_NAME}.k-broker.ns.svc.cluster.local:9092,"
              "EXT://${env:HOST_IP}:31001,LB://lb1.example:9095");

    // Status fills templates from the pod, and knows nothing before it is scheduled.
    pod_facts pod{"k-broker-1", "10.0.0.7", "192.168.1.3"};
    EXPECT_EQ(*host_for_status(eps.listeners[1].host, 1, pod), "192.168.1.3");
    EXPECT_EQ(*host_for_status(eps.listeners[0].host, 1, pod), "k-broker-1.k-broker.ns.svc.cluster.local");
    EXPECT_FALSE(host_for_status("{nodeIP}", 1, pod_facts{"k-broker-1", "", ""}));
}

// A zone or region rack key: the API server copies that node label onto the pod when it binds
// it, so the broker reads it through the downward API at its first start; any other key is
// written by the operator once it has seen the node.
TEST(builders, a_zone_rack_comes_from_the_pods_own_label_other_keys_from_the_node) {
    auto env_of = [](const web::json::value& sts) {
        std::map<std::string, std::string> env;
        for (const auto& e : sts.at("spec").at("template").at("spec").at("containers").at(0).at("env").as_array()) {
            env[e.at("name").as_string()] = e.at("valueFrom").at("fieldRef").at("fieldPath").as_string();
        }
        return env;
    };
    auto zoned = cluster(R"({"brokers": {"rack": {"topologyKey": "topology.kubernetes.io/zone"}}})");
    build_context zctx{zoned, {}};
    EXPECT_EQ(env_of(broker_stateful_set(zctx, 3, "h"))["BROKER_RACK"],
              "metadata.labels['topology.kubernetes.io/zone']");
    EXPECT_EQ(env_of(coordinator_stateful_set(zctx, 1, "h")).count("BROKER_RACK"), 0u);
    EXPECT_EQ(props(broker_pod_properties({0, {}, "", true}))["broker.rack"], "${env:BROKER_RACK}");
    EXPECT_EQ(props(broker_pod_properties({0, {}, "zone-a", true}))["broker.rack"], "${env:BROKER_RACK}");

    auto custom = cluster(R"({"brokers": {"rack": {"topologyKey": "example.com/rack"}}})");
    build_context cctx{custom, {}};
    EXPECT_EQ(env_of(broker_stateful_set(cctx, 3, "h")).count("BROKER_RACK"), 0u);
    EXPECT_EQ(props(broker_pod_properties({0, {}, "r1", false}))["broker.rack"], "r1");
    EXPECT_TRUE(rack_key_copied_to_pods("topology.kubernetes.io/region"));
    EXPECT_FALSE(rack_key_copied_to_pods("kubernetes.io/hostname"));
}

TEST(builders, broker_stateful_set_generalises_the_manifest) {
    auto c = cluster(R"({"brokers": {"storage": {"size": "20Gi", "class": "fast"}, "resources": {"requests": {"cpu": "1"}}},
                        "listeners": [{"name": "plain", "port": 9092}, {"name": "averyverylongname", "port": 9094}]})");
    build_context ctx{c, {"localhost/tributary-broker:0.1.0", "cluster.local"}};
    auto sts = broker_stateful_set(ctx, 3, "abc");
    expect_owned(sts, "broker");
    const auto& spec = sts.at("spec");
    EXPECT_EQ(sts.at("metadata").at("name").as_string(), "k-broker");
    EXPECT_EQ(sts.at("metadata").at("annotations").at(broker_config_hash_annotation).as_string(), "abc");
    EXPECT_EQ(spec.at("replicas").as_integer(), 3);
    EXPECT_EQ(spec.at("serviceName").as_string(), "k-broker");
    EXPECT_EQ(spec.at("updateStrategy").at("type").as_string(), "OnDelete");  // restarts are the roller's
    EXPECT_EQ(spec.at("podManagementPolicy").as_string(), "Parallel");
    EXPECT_EQ(spec.at("selector").at("matchLabels"), selector_labels(ctx, component::broker));
    const auto& tmpl = spec.at("template");
    EXPECT_FALSE(tmpl.at("metadata").has_field("annotations"));  // no restart on config change
    EXPECT_EQ(tmpl.at("metadata").at("labels").at("app.kubernetes.io/instance").as_string(), "k");
    const auto& pod = tmpl.at("spec");
    EXPECT_EQ(pod.at("securityContext").at("runAsUser").as_integer(), 10001);
    EXPECT_EQ(pod.at("securityContext").at("fsGroup").as_integer(), 10001);
    const auto& ct = pod.at("containers").at(0);
    EXPECT_EQ(ct.at("image").as_string(), "localhost/tributary-broker:0.1.0");
    EXPECT_EQ(ct.at("command").serialize(),
              R"(["tributary-broker","/etc/tributary/broker.properties","/etc/tributary/$(POD_NAME).properties"])");
    std::map<std::string, std::string> env;
    for (const auto& e : ct.at("env").as_array()) {
        env[e.at("name").as_string()] = e.at("valueFrom").at("fieldRef").at("fieldPath").as_string();
    }
    EXPECT_EQ(env["POD_NAME"], "metadata.name");
    EXPECT_EQ(env["POD_NAMESPACE"], "metadata.namespace");
    EXPECT_EQ(env["POD_IP"], "status.podIP");
    EXPECT_EQ(env["HOST_IP"], "status.hostIP");
    const auto& ports = ct.at("ports").as_array();
    ASSERT_EQ(ports.size(), 4u);
    EXPECT_EQ(ports.at(0).at("name").as_string(), "plain");
    EXPECT_FALSE(ports.at(1).has_field("name"));  // longer than a port name may be
    EXPECT_EQ(ports.at(1).at("containerPort").as_integer(), 9094);
    EXPECT_EQ(ports.at(2).at("containerPort").as_integer(), 9091);
    EXPECT_EQ(ports.at(3).at("name").as_string(), "http");
    EXPECT_EQ(ct.at("readinessProbe").at("httpGet").at("path").as_string(), "/readyz");
    EXPECT_EQ(ct.at("livenessProbe").at("httpGet").at("path").as_string(), "/healthz");
    // The broker's own reason when it halts, else its log's end, in the pod's status.
    EXPECT_EQ(ct.at("terminationMessagePolicy").as_string(), "FallbackToLogsOnError");
    EXPECT_EQ(ct.at("resources").at("requests").at("cpu").as_string(), "1");
    EXPECT_EQ(pod.at("volumes").at(0).at("configMap").at("name").as_string(), "k-broker-config");
    const auto& claim = spec.at("volumeClaimTemplates").at(0);
    EXPECT_EQ(claim.at("metadata").at("name").as_string(), "data");
    EXPECT_EQ(claim.at("metadata").at("labels").at("app.kubernetes.io/instance").as_string(), "k");
    EXPECT_EQ(claim.at("spec").at("resources").at("requests").at("storage").as_string(), "20Gi");
    EXPECT_EQ(claim.at("spec").at("storageClassName").as_string(), "fast");
}

TEST(builders, coordinator_stateful_set_runs_the_coordinator_in_order) {
    auto c = cluster();
    build_context ctx{c, {}};
    auto sts = coordinator_stateful_set(ctx, 1, "h");
    expect_owned(sts, "coordinator");
    EXPECT_EQ(sts.at("metadata").at("annotations").at(coordinator_config_hash_annotation).as_string(), "h");
    EXPECT_FALSE(sts.at("spec").has_field("podManagementPolicy"));
    const auto& ct = sts.at("spec").at("template").at("spec").at("containers").at(0);
    EXPECT_EQ(ct.at("command").at(0).as_string(), "tributary-coordinator");
    EXPECT_EQ(ct.at("command").at(1).as_string(), "/etc/tributary/coordinator.properties");
    EXPECT_EQ(sts.at("spec").at("volumeClaimTemplates").at(0).at("spec").at("resources").at("requests").at("storage")
                  .as_string(),
              "1Gi");
    EXPECT_FALSE(sts.at("spec").at("volumeClaimTemplates").at(0).at("spec").has_field("storageClassName"));
    // Without spec resources, the requests manifests/ gives.
    EXPECT_EQ(ct.at("resources").at("requests").at("cpu").as_string(), "100m");
    EXPECT_EQ(broker_stateful_set(ctx, 1, "h").at("spec").at("template").at("spec").at("containers").at(0)
                  .at("resources").at("requests").at("memory").as_string(),
              "256Mi");
}

TEST(builders, image_comes_from_spec_image_then_version_then_the_setting) {
    auto c = cluster();
    operator_settings s{"registry:5000/team/tributary-broker:0.1.0", "cluster.local"};
    EXPECT_EQ(build_context(c, s).image(), "registry:5000/team/tributary-broker:0.1.0");
    c.spec.version = "0.2.0";
    EXPECT_EQ(build_context(c, s).image(), "registry:5000/team/tributary-broker:0.2.0");
    c.spec.image = "other:1";
    EXPECT_EQ(build_context(c, s).image(), "other:1");
    c.spec.image.reset();
    EXPECT_EQ(build_context(c, {"registry:5000/plain", ""}).image(), "registry:5000/plain:0.2.0");
}

TEST(builders, pdbs_allow_one_pod_down) {
    auto c = cluster();
    build_context ctx{c, {}};
    auto pdb = pod_disruption_budget(ctx, component::broker);
    expect_owned(pdb, "broker");
    EXPECT_EQ(pdb.at("apiVersion").as_string(), "policy/v1");
    EXPECT_EQ(pdb.at("metadata").at("name").as_string(), "k-broker");
    EXPECT_EQ(pdb.at("spec").at("maxUnavailable").as_integer(), 1);
    EXPECT_EQ(pdb.at("spec").at("selector").at("matchLabels"), selector_labels(ctx, component::broker));
    EXPECT_EQ(pod_disruption_budget(ctx, component::coordinator).at("metadata").at("name").as_string(),
              "k-coordinator");
}

TEST(builders, network_policies_keep_replication_and_controller_to_the_cluster_and_the_operator) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "ext", "port": 9094}]})");
    build_context ctx{c, {}};
    auto np = network_policy(ctx, component::broker);
    expect_owned(np, "broker");
    EXPECT_EQ(np.at("apiVersion").as_string(), "networking.k8s.io/v1");
    EXPECT_EQ(np.at("metadata").at("name").as_string(), "k-broker");
    const auto& spec = np.at("spec");
    EXPECT_EQ(spec.at("podSelector").at("matchLabels"), selector_labels(ctx, component::broker));
    EXPECT_EQ(spec.at("policyTypes"), arr({str("Ingress")}));
    // Which ports are open to whom: port -> the pod selectors allowed ("" = anyone).
    auto open_to = [](const json& policy) {
        std::map<int, std::set<std::string>> out;
        for (const auto& rule : policy.at("spec").at("ingress").as_array()) {
            std::set<std::string> from;
            if (rule.has_field("from")) {
                for (const auto& peer : rule.at("from").as_array()) {
                    std::string who = peer.has_field("namespaceSelector") ? "any namespace: " : "";
                    for (const auto& [k, v] : peer.at("podSelector").at("matchLabels").as_object()) {
                        who += k + "=" + v.as_string() + " ";
                    }
                    from.insert(who);
                }
            } else {
                from.insert("");
            }
            for (const auto& port : rule.at("ports").as_array()) {
                EXPECT_EQ(port.at("protocol").as_string(), "TCP");
                out[port.at("port").as_integer()].insert(from.begin(), from.end());
            }
        }
        return out;
    };
    const std::string brokers =
        "app.kubernetes.io/component=broker app.kubernetes.io/instance=k app.kubernetes.io/name=tributary ";
    const std::string coordinators =
        "app.kubernetes.io/component=coordinator app.kubernetes.io/instance=k app.kubernetes.io/name=tributary ";
    const std::string the_operator = "any namespace: app.kubernetes.io/component=operator app.kubernetes.io/name=tributary ";
    EXPECT_EQ(open_to(np), (std::map<int, std::set<std::string>>{
                               {9091, {brokers, the_operator}}, {9092, {""}}, {9094, {""}}, {9644, {""}}}));
    auto cp = network_policy(ctx, component::coordinator);
    EXPECT_EQ(cp.at("metadata").at("name").as_string(), "k-coordinator");
    EXPECT_EQ(open_to(cp),
              (std::map<int, std::set<std::string>>{{9093, {brokers, coordinators, the_operator}}, {9644, {""}}}));
}

TEST(builders, config_hash_follows_the_data) {
    auto a = obj({{"x", str("1")}, {"y", str("2")}});
    auto b = obj({{"y", str("2")}, {"x", str("1")}});
    EXPECT_EQ(data_hash(a), data_hash(b));
    b["y"] = str("3");
    EXPECT_NE(data_hash(a), data_hash(b));
    EXPECT_EQ(data_hash(a).size(), 64u);
}

} // namespace
} // namespace trib::op::controller
