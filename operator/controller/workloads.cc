#include "operator/controller/workloads.h"

#include "operator/controller/config_maps.h"
#include "operator/controller/roller.h"
#include "operator/controller/tls.h"

namespace trib::op::controller {

namespace {

json service_port(const std::string& name, int32_t port) {
    return obj({{"name", str(name)}, {"port", num(port)}, {"targetPort", num(port)}, {"protocol", str("TCP")}});
}

json service(const build_context& ctx, component c, const std::string& name, json spec) {
    return obj({{"apiVersion", str("v1")},
                {"kind", str("Service")},
                {"metadata", object_meta(ctx, c, name)},
                {"spec", std::move(spec)}});
}

json env_field(const std::string& name, const std::string& path) {
    return obj({{"name", str(name)}, {"valueFrom", obj({{"fieldRef", obj({{"fieldPath", str(path)}})}})}});
}

// A container port's name is an IANA service name: at most 15 characters. Listener names may
// be longer (25); those ports go unnamed, nothing refers to them by name.
json container_port(const std::string& name, int32_t port) {
    json p = obj({{"containerPort", num(port)}, {"protocol", str("TCP")}});
    if (name.size() <= 15) {
        p["name"] = str(name);
    }
    return p;
}

json http_probe(const std::string& path, int initial_delay, int period, int failure_threshold) {
    json p = obj({{"httpGet", obj({{"path", str(path)}, {"port", str("http")}})}, {"periodSeconds", num(period)}});
    if (initial_delay > 0) {
        p["initialDelaySeconds"] = num(initial_delay);
    }
    if (failure_threshold > 0) {
        p["failureThreshold"] = num(failure_threshold);
    }
    return p;
}

// spec resources, or the requests manifests/ gives (a pod without requests is BestEffort:
// the first evicted under memory pressure, which a broker holding partitions should not be).
json resources_or(const json& spec, const char* cpu, const char* memory) {
    if (spec.is_object() && spec.size() > 0) {
        return spec;
    }
    return obj({{"requests", obj({{"cpu", str(cpu)}, {"memory", str(memory)}})}});
}

struct workload {
    component c;
    int32_t replicas;
    std::string config_hash;
    std::string program;      // tributary-broker / tributary-coordinator
    std::string shared_file;  // broker.properties / coordinator.properties
    std::vector<json> ports;
    json resources;
    const api::storage_spec& storage;
    int termination_grace;
    bool parallel;
    std::string restart_config;
    std::string certificates{};
};

json stateful_set(const build_context& ctx, const workload& w) {
    const std::string name = stateful_set_name(ctx.name(), w.c);
    const std::string cfg = config_mount;
    // The pod's own file: $(POD_NAME) is expanded by the kubelet from the env below.
    json command = arr({str(w.program), str(cfg + "/" + w.shared_file), str(cfg + "/$(POD_NAME).properties")});
    json env = arr({env_field("POD_NAME", "metadata.name"), env_field("POD_NAMESPACE", "metadata.namespace"),
                    env_field("POD_IP", "status.podIP"), env_field("HOST_IP", "status.hostIP")});
    const auto& rack_key = ctx.spec().brokers.rack_topology_key;
    if (w.c == component::broker && rack_key && rack_key_copied_to_pods(*rack_key)) {
        env.as_array()[env.size()] = env_field(rack_env, "metadata.labels['" + *rack_key + "']");
    }
    json container = obj({{"name", str(to_string(w.c))},
                          {"image", str(ctx.image())},
                          {"imagePullPolicy", str("IfNotPresent")},
                          {"command", command},
                          // The program's own termination message when it wrote one (a broker's failed
                          // log directory, common/fatal.h), else the end of its log: the operator shows
                          // it in the status (controller/broker_status.h).
                          {"terminationMessagePolicy", str("FallbackToLogsOnError")},
                          {"env", env},
                          {"ports", arr(w.ports)},
                          // /readyz: registered with the coordinator and serving.
                          {"readinessProbe", http_probe("/readyz", 0, 2, 0)},
                          {"livenessProbe", http_probe("/healthz", 10, 10, 3)},
                          {"volumeMounts", arr({obj({{"name", str("config")}, {"mountPath", str(cfg)}}),
                                                obj({{"name", str("data")}, {"mountPath", str(data_mount)}})})}});
    container["resources"] = w.resources;
    json volumes = arr({obj({{"name", str("config")}, {"configMap", obj({{"name", str(config_map_name(ctx.name(), w.c))}})}})});
    const bool broker = w.c == component::broker;
    if (ctx.internal_tls || (broker && any_tls_listener(ctx.spec()))) {
        // controller/tls.h: every pod's keystore (each reads its own) and the cluster CA.
        const char* certs = broker ? "broker-certs" : "coordinator-certs";
        auto& mounts = container["volumeMounts"].as_array();
        mounts[mounts.size()] = obj({{"name", str(certs)},
                                     {"mountPath", str(broker ? broker_certs_mount : coordinator_certs_mount)},
                                     {"readOnly", json::boolean(true)}});
        mounts[mounts.size()] = obj({{"name", str("cluster-ca")}, {"mountPath", str(cluster_ca_mount)},
                                     {"readOnly", json::boolean(true)}});
        auto& vs = volumes.as_array();
        vs[vs.size()] = obj({{"name", str(certs)},
                             {"secret", obj({{"secretName", str(broker ? broker_certs_secret_name(ctx.name())
                                                                       : coordinator_certs_secret_name(ctx.name()))},
                                             {"defaultMode", num(0440)}})}});
        vs[vs.size()] = obj({{"name", str("cluster-ca")},
                             {"secret", obj({{"secretName", str(cluster_ca_cert_secret_name(ctx.name()))},
                                             {"defaultMode", num(0444)}})}});
        if (broker && any_tls_authentication(ctx.spec())) {
            // The clients CA: the truststore of listeners with tls authentication.
            mounts[mounts.size()] = obj({{"name", str("clients-ca")}, {"mountPath", str(clients_ca_mount)},
                                         {"readOnly", json::boolean(true)}});
            vs[vs.size()] = obj({{"name", str("clients-ca")},
                                 {"secret", obj({{"secretName", str(clients_ca_cert_secret_name(ctx.name()))},
                                                 {"defaultMode", num(0444)}})}});
        }
    }
    if (w.c == component::broker) {
        const auto* l = oauth_listener(ctx.spec());
        // A read-only volume of the identity provider's (listeners.h) at `path`.
        auto mount_oauth = [&](const char* name, const char* path, const char* kind, json source) {
            auto& mounts = container["volumeMounts"].as_array();
            mounts[mounts.size()] = obj({{"name", str(name)}, {"mountPath", str(path)}, {"readOnly", json::boolean(true)}});
            auto& vs = volumes.as_array();
            vs[vs.size()] = obj({{"name", str(name)}, {kind, std::move(source)}});
        };
        if (l != nullptr && l->oauth.jwks_config_map) {
            // Its keys. A ConfigMap volume follows changes of the ConfigMap: the broker re-reads
            // the file, at once for a key id it lacks.
            mount_oauth("oauth-jwks", oauth_jwks_mount, "configMap",
                        obj({{"name", str(*l->oauth.jwks_config_map)},
                             {"items", arr({obj({{"key", str(l->oauth.jwks_key)}, {"path", str(oauth_jwks_file)}})})}}));
        }
        if (l != nullptr && !l->oauth.tls_trusted_certificates.empty()) {
            // The CA the brokers trust for its JWKS endpoint, from the user's Secret; a renewed
            // CA in it reaches the broker's truststore without a restart.
            const auto& t = l->oauth.tls_trusted_certificates.front();
            mount_oauth("oauth-trusted", oauth_trusted_mount, "secret",
                        obj({{"secretName", str(t.secret_name)},
                             {"items", arr({obj({{"key", str(t.certificate)},
                                                 {"path", str(t.secret_name + "/" + t.certificate)}})})},
                             {"defaultMode", num(0444)}}));
        }
    }
    json pod_spec = obj(
        {{"terminationGracePeriodSeconds", num(w.termination_grace)},
         {"securityContext", obj({{"runAsNonRoot", json::boolean(true)},
                                  {"runAsUser", num(10001)},
                                  {"runAsGroup", num(10001)},
                                  {"fsGroup", num(10001)}})},
         {"containers", arr({container})},
         {"volumes", volumes}});

    json claim_spec = obj({{"accessModes", arr({str("ReadWriteOnce")})},
                           {"resources", obj({{"requests", obj({{"storage", str(w.storage.size)}})}})}});
    if (w.storage.storage_class) {
        claim_spec["storageClassName"] = str(*w.storage.storage_class);
    }
    // The claims carry the cluster's labels: clean-up on delete (deleteClaim) finds them by
    // app.kubernetes.io/instance and component. No owner reference: claims outlive the
    // StatefulSet unless deleteClaim says otherwise.
    json claim = obj({{"metadata", obj({{"name", str("data")}, {"labels", labels(ctx, w.c)}})}, {"spec", claim_spec}});

    json meta = object_meta(ctx, w.c, name);
    meta["annotations"] = obj({{w.c == component::broker ? broker_config_hash_annotation
                                                         : coordinator_config_hash_annotation,
                                str(w.config_hash)}});
    json template_meta = obj({{"labels", labels(ctx, w.c)}});
    if (!w.restart_config.empty() || !w.certificates.empty()) {
        // A change restarts the pods, one at a time, through the roller (controller/roller.h).
        template_meta["annotations"] = json::object();
        if (!w.restart_config.empty()) {
            template_meta["annotations"][restart_config_annotation] = str(w.restart_config);
        }
        if (!w.certificates.empty()) {
            template_meta["annotations"][certificates_annotation] = str(w.certificates);
        }
    }
    json spec = obj({{"serviceName", str(headless_service_name(ctx.name(), w.c))},
                     {"replicas", num(w.replicas)},
                     {"selector", obj({{"matchLabels", selector_labels(ctx, w.c)}})},
                     {"template", obj({{"metadata", template_meta}, {"spec", pod_spec}})},
                     {"volumeClaimTemplates", arr({claim})},
                     // A changed pod template (a new image, resources) restarts no pod by
                     // itself: the StatefulSet controller's rolling update knows nothing of
                     // in-sync replicas. Pods take the new template when they are deleted: by
                     // the roll step (controller/roller.h), one pod at a time, or by whatever
                     // replaces a pod that went away.
                     {"updateStrategy", obj({{"type", str("OnDelete")}})}});
    // Brokers don't need each other to start: all at once. Coordinators keep OrderedReady.
    if (w.parallel) {
        spec["podManagementPolicy"] = str("Parallel");
    }
    return obj({{"apiVersion", str("apps/v1")}, {"kind", str("StatefulSet")}, {"metadata", meta}, {"spec", spec}});
}

} // namespace

json headless_service(const build_context& ctx, component c) {
    std::vector<json> ports;
    if (c == component::broker) {
        for (const auto& l : ctx.spec().listeners) {
            ports.push_back(service_port(l.name, l.port));
        }
        ports.push_back(service_port("replication", api::replication_port));
    } else {
        ports.push_back(service_port("controller", api::coordinator_port));
    }
    ports.push_back(service_port("http", api::http_port));
    return service(ctx, c, headless_service_name(ctx.name(), c),
                   obj({{"clusterIP", str("None")},
                        {"publishNotReadyAddresses", json::boolean(true)},
                        {"selector", selector_labels(ctx, c)},
                        {"ports", arr(ports)}}));
}

std::optional<json> bootstrap_service(const build_context& ctx) {
    std::vector<json> ports;
    for (const auto& l : ctx.spec().listeners) {
        if (l.type == api::listener_type::internal) {
            ports.push_back(service_port(l.name, l.port));
        }
    }
    if (ports.empty()) {
        return std::nullopt;
    }
    return service(ctx, component::broker, bootstrap_service_name(ctx.name()),
                   obj({{"type", str("ClusterIP")},
                        {"selector", selector_labels(ctx, component::broker)},
                        {"ports", arr(ports)}}));
}

json coordinator_stateful_set(const build_context& ctx, int32_t replicas, const std::string& config_hash,
                              const std::string& restart_config, const std::string& certificates) {
    const auto& co = ctx.spec().coordinators;
    return stateful_set(ctx, workload{component::coordinator,
                                      replicas,
                                      config_hash,
                                      "tributary-coordinator",
                                      coordinator_shared_file,
                                      {container_port("controller", api::coordinator_port),
                                       container_port("http", api::http_port)},
                                      resources_or(co.resources, "100m", "128Mi"),
                                      co.storage,
                                      30,
                                      false,
                                      restart_config,
                                      certificates});
}

json broker_stateful_set(const build_context& ctx, int32_t replicas, const std::string& config_hash,
                         const std::string& restart_config, const std::string& certificates) {
    const auto& br = ctx.spec().brokers;
    std::vector<json> ports;
    for (const auto& l : ctx.spec().listeners) {
        ports.push_back(container_port(l.name, l.port));
    }
    ports.push_back(container_port("replication", api::replication_port));
    ports.push_back(container_port("http", api::http_port));
    return stateful_set(ctx, workload{component::broker, replicas, config_hash, "tributary-broker",
                                      broker_shared_file, ports, resources_or(br.resources, "250m", "256Mi"), br.storage,
                                      60, true, restart_config, certificates});
}

json pod_disruption_budget(const build_context& ctx, component c) {
    return obj({{"apiVersion", str("policy/v1")},
                {"kind", str("PodDisruptionBudget")},
                {"metadata", object_meta(ctx, c, stateful_set_name(ctx.name(), c))},
                {"spec", obj({{"maxUnavailable", num(1)}, {"selector", obj({{"matchLabels", selector_labels(ctx, c)}})}})}});
}

json network_policy(const build_context& ctx, component c) {
    auto port = [](int32_t p) { return obj({{"protocol", str("TCP")}, {"port", num(p)}}); };
    auto pods_of = [&](component of) { return obj({{"podSelector", obj({{"matchLabels", selector_labels(ctx, of)}})}}); };
    json the_operator = obj({{"namespaceSelector", json::object()},
                             {"podSelector", obj({{"matchLabels", obj({{"app.kubernetes.io/name", str("tributary")},
                                                                       {"app.kubernetes.io/component",
                                                                        str("operator")}})}})}});
    std::vector<json> rules;
    if (c == component::broker) {
        rules.push_back(obj({{"ports", arr({port(api::replication_port)})},
                             {"from", arr({pods_of(component::broker), the_operator})}}));
        std::vector<json> open{port(api::http_port)};
        for (const auto& l : ctx.spec().listeners) {
            open.push_back(port(l.port));
        }
        rules.push_back(obj({{"ports", arr(open)}}));
    } else {
        rules.push_back(obj({{"ports", arr({port(api::coordinator_port)})},
                             {"from", arr({pods_of(component::broker), pods_of(component::coordinator), the_operator})}}));
        rules.push_back(obj({{"ports", arr({port(api::http_port)})}}));
    }
    return obj({{"apiVersion", str("networking.k8s.io/v1")},
                {"kind", str("NetworkPolicy")},
                {"metadata", object_meta(ctx, c, stateful_set_name(ctx.name(), c))},
                {"spec", obj({{"podSelector", obj({{"matchLabels", selector_labels(ctx, c)}})},
                              {"policyTypes", arr({str("Ingress")})},
                              {"ingress", arr(rules)}})}});
}

} // namespace trib::op::controller
