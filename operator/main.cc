// tributary-operator: reconciles KafkaCluster resources (tributary.io/v1alpha1) into running
// Tributary clusters (operator/README.md). Of several replicas, the one holding the leader
// Lease runs the controller; the others wait. Every replica serves /healthz, /readyz and
// /metrics; SIGINT / SIGTERM stop the workers, release the lease and exit 0.
//
//   tributary-operator [operator.properties | operator.yaml]... [--override key=value]...
//
// Settings come from those files, TRIBUTARY_OPERATOR_* environment variables
// (TRIBUTARY_OPERATOR_HTTP_LISTENER is http.listener) and --override, in that order.
#include "common/config.h"
#include "common/listeners.h"
#include "common/log.h"
#include "common/status_server.h"
#include "operator/controller/manager.h"
#include "operator/k8s/client.h"
#include "operator/k8s/events.h"
#include "operator/k8s/kubeconfig.h"
#include "operator/k8s/leader_election.h"
#include "operator/metrics/cluster_metrics.h"
#include "operator/metrics/cluster_poller.h"
#include "operator/metrics/operator_metrics.h"

#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <prometheus/gauge.h>

#include <atomic>
#include <random>
#include <iostream>

using namespace trib;
using namespace trib::op;

namespace {

const config::schema& operator_schema() {
    static const config::schema s = [] {
        config::schema s;
        s.add({.name = "http.listener", .default_value = ":8080",
               .doc = "host:port serving /metrics, /healthz and /readyz over HTTP (empty host: all interfaces)."});
        s.add({.name = "log.level", .default_value = "info", .doc = "trace, debug, info, warn, error.",
               .validate = config::one_of({"trace", "debug", "info", "warn", "error"})});
        s.add({.name = "kubeconfig", .default_value = "",
               .doc = "kubeconfig file of the API server; empty: in-cluster (service account) when "
                      "KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG, else ~/.kube/config."});
        s.add({.name = "watch.namespace", .default_value = "",
               .doc = "Namespace whose KafkaClusters are managed; empty: all namespaces."});
        s.add({.name = "broker.image", .default_value = "localhost/tributary-broker:0.1.0",
               .doc = "Image of brokers and coordinators when a KafkaCluster names no image (spec.version picks "
                      "a tag of its repository)."});
        s.add({.name = "cluster.domain", .default_value = "cluster.local",
               .doc = "The cluster's DNS domain, in the pod DNS names brokers advertise."});
        s.add({.name = "network.policies.enabled", .t = config::type::boolean, .default_value = "true",
               .doc = "Make a NetworkPolicy per KafkaCluster component that lets only the cluster's pods and the "
                      "operator's (labels app.kubernetes.io/name=tributary, app.kubernetes.io/component=operator) "
                      "reach the brokers' REPLICATION port and the coordinators'; false removes them."});
        s.add({.name = "internal.tls.enabled", .t = config::type::boolean, .default_value = "true",
               .doc = "KafkaClusters made from now on run REPLICATION and CONTROLLER with mutual TLS from the "
                      "cluster CA (clusters that run them PLAINTEXT keep them so); false: PLAINTEXT for new ones."});
        s.add({.name = "resync.period.ms", .t = config::type::int64, .default_value = "300000",
               .doc = "Every KafkaCluster is reconciled at least this often, events or not.",
               .validate = config::at_least(1000)});
        s.add({.name = "leader.election.enabled", .t = config::type::boolean, .default_value = "true",
               .doc = "Take a Lease before reconciling, so that of several replicas one is active."});
        s.add({.name = "leader.election.namespace", .default_value = "",
               .doc = "Namespace of the Lease; empty: the pod's own (from its service account)."});
        s.add({.name = "leader.election.lease.name", .default_value = "tributary-operator", .doc = "Name of the Lease."});
        s.add({.name = "leader.election.identity", .default_value = "",
               .doc = "This replica's name in the Lease, before a per-process suffix _<8 hex digits>; empty: the host name "
                      "(the pod's name)."});
        s.add({.name = "leader.election.lease.duration.ms", .t = config::type::int64, .default_value = "15000",
               .doc = "How long a Lease not renewed keeps others from taking it.", .validate = config::at_least(1000)});
        s.add({.name = "leader.election.renew.deadline.ms", .t = config::type::int64, .default_value = "10000",
               .doc = "The leader stops leading when it could not renew for this long (less than the duration).",
               .validate = config::at_least(500)});
        s.add({.name = "leader.election.retry.period.ms", .t = config::type::int64, .default_value = "2000",
               .doc = "How often the Lease is renewed or tried.", .validate = config::at_least(100)});
        return s;
    }();
    return s;
}

std::string process_suffix() {
    std::random_device rd;
    return fmt::format("{:08x}", rd());
}

std::string host_name() {
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

} // namespace

int main(int argc, char** argv) {
    auto args = config::parse_command_line(argc, argv, operator_schema(), "tributary-operator");
    if (auto* code = std::get_if<int>(&args)) {
        return *code;
    }
    auto opts = std::get<config::load_options>(std::move(args));
    opts.env_prefix = "TRIBUTARY_OPERATOR_";
    config::values cfg;
    config::host_port http;
    try {
        cfg = config::load(operator_schema(), opts);
        http = config::parse_host_port(cfg.get_string("http.listener"), true);
    } catch (const std::exception& e) {
        std::cerr << "tributary-operator: configuration: " << e.what() << "\n";
        return 2;
    }
    log::set_process_name("operator");
    log::set_level(cfg.get_string("log.level"));

    std::optional<k8s::connection_config> kube_config;
    try {
        kube_config = k8s::load_connection_config(cfg.get_string("kubeconfig"));
    } catch (const std::exception& e) {
        std::cerr << "tributary-operator: Kubernetes API: " << e.what() << "\n";
        return 2;
    }
    const bool elect = cfg.get_bool("leader.election.enabled");
    k8s::leader_election_settings lease{
        .ns = cfg.get_string("leader.election.namespace"),
        .name = cfg.get_string("leader.election.lease.name"),
        .identity = cfg.get_string("leader.election.identity"),
        .lease_duration = std::chrono::milliseconds(cfg.get_int64("leader.election.lease.duration.ms")),
        .renew_deadline = std::chrono::milliseconds(cfg.get_int64("leader.election.renew.deadline.ms")),
        .retry_period = std::chrono::milliseconds(cfg.get_int64("leader.election.retry.period.ms")),
    };
    if (lease.identity.empty()) {
        lease.identity = host_name();
    }
    // A per-process suffix, as controller-runtime adds: a replica whose container restarts in
    // the same pod (same name) is a new candidate, not the old holder renewing a lease it
    // stopped renewing; otherwise it would take its own lease back at once, and the standby
    // that has been waiting would never lead.
    lease.identity += "_" + process_suffix();
    if (lease.ns.empty()) {
        lease.ns = kube_config->pod_namespace;
    }
    if (elect && lease.ns.empty()) {
        std::cerr << "tributary-operator: configuration: leader.election.namespace is empty and there is no "
                     "service account namespace file to take it from; set it, or leader.election.enabled=false\n";
        return 2;
    }
    TLOG_INFO("tributary-operator {}: API server {} ({}), watching {}", config::version, kube_config->server,
              kube_config->origin, cfg.get_string("watch.namespace").empty() ? "all namespaces"
                                                                            : cfg.get_string("watch.namespace"));

    auto registry = std::make_shared<prometheus::Registry>();
    // One gauge, so /metrics says which build runs: tributary_operator_build_info{version}=1.
    prometheus::BuildGauge()
        .Name("tributary_operator_build_info")
        .Help("Always 1; the version label names the running build.")
        .Register(*registry)
        .Add({{"version", config::version}})
        .Set(1);
    metrics::operator_metrics op_metrics(*registry);
    metrics::cluster_metrics cluster_metrics(*registry);
    metrics::cluster_poller poller(cluster_metrics, std::chrono::seconds(30));

    k8s::client kube(*kube_config, "tributary-operator");
    k8s::api_event_recorder events(kube, "tributary-operator", lease.identity);
    controller::manager mgr(kube, events, op_metrics, poller,
                            controller::manager_options{
                                .settings = {.broker_image = cfg.get_string("broker.image"),
                                             .cluster_domain = cfg.get_string("cluster.domain"),
                                             .network_policies = cfg.get_bool("network.policies.enabled"),
                                             .internal_tls = cfg.get_bool("internal.tls.enabled")},
                                .watch_namespace = cfg.get_string("watch.namespace"),
                                .resync_period = std::chrono::milliseconds(cfg.get_int64("resync.period.ms")),
                            });

    asio::io_context ctx(1);
    std::atomic<bool> stopping{false};
    std::atomic<bool> leading{false};
    int exit_code = 0;
    // Ready: a standby replica is (it has nothing to do until it leads); the leader once its
    // caches are filled.
    status_server status(ctx, registry, [&] { return !stopping.load() && (!leading.load() || mgr.synced()); });
    auto shut_down = [&](int code) {
        if (!stopping.exchange(true)) {
            exit_code = code;
            status.stop();
        }
    };
    // Before anything starts or is announced: a SIGTERM that came before the handler would be
    // lost where the operator is PID 1 in its container (PID 1 ignores signals it has no
    // handler for), and it would never stop.
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (!ec) {
            TLOG_INFO("signal {}: shutting down", sig);
            shut_down(0);
        }
    });
    auto lead = [&] {
        TLOG_INFO("leading: starting the controller");
        leading = true;
        op_metrics.set_leader(true);
        poller.start();
        mgr.start();
    };
    lease.started_leading = lead;
    lease.stopped_leading = [&] {
        if (!stopping.load()) {
            // As client-go programs do: stop writing at once and exit; the Deployment restarts
            // this replica as a candidate.
            TLOG_ERROR("lost the leader lease {}/{}: exiting", lease.ns, lease.name);
            asio::post(ctx, [&] { shut_down(1); });
        }
    };
    std::unique_ptr<k8s::leader_elector> elector;
    try {
        auto port = status.start(http.host, http.port);
        TLOG_INFO("metrics and health on {}:{} (/metrics, /healthz, /readyz)", http.host.empty() ? "*" : http.host,
                  port);
        if (elect) {
            TLOG_INFO("waiting for the leader lease {}/{} as {}", lease.ns, lease.name, lease.identity);
            elector = std::make_unique<k8s::leader_elector>(kube, lease);
            elector->start();
        } else {
            lead();
        }
    } catch (const std::exception& e) {
        TLOG_ERROR("start-up failed: {}", e.what());
        return 1;
    }
    ctx.run();
    // Workers first, the lease last: nothing is written after the other replica may lead.
    mgr.stop();
    poller.stop();
    if (elector) {
        elector->stop();
    }
    TLOG_INFO("operator stopped");
    return exit_code;
}
