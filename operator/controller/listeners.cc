#include "operator/controller/listeners.h"

namespace trib::op::controller {

namespace {

// Replaces every token of `tmpl` through `value`; nullopt when `value` has none for one.
template<typename F>
std::optional<std::string> expand(const std::string& tmpl, F&& value) {
    std::string out;
    size_t pos = 0;
    while (pos < tmpl.size()) {
        size_t open = tmpl.find('{', pos);
        size_t close = open == std::string::npos ? std::string::npos : tmpl.find('}', open);
        if (close == std::string::npos) {
            out += tmpl.substr(pos);
            break;
        }
        out += tmpl.substr(pos, open - pos);
        auto v = value(tmpl.substr(open, close - open + 1));
        if (!v) {
            return std::nullopt;
        }
        out += *v;
        pos = close + 1;
    }
    return out;
}

std::string ingress_address(const json& service) {
    const json* ingress = field_at(service, {"status", "loadBalancer", "ingress"});
    if (ingress == nullptr || !ingress->is_array()) {
        return "";
    }
    for (const auto& i : ingress->as_array()) {
        if (auto ip = string_at(i, {"ip"}); !ip.empty()) {
            return ip;
        }
        if (auto host = string_at(i, {"hostname"}); !host.empty()) {
            return host;
        }
    }
    return "";
}

int32_t node_port(const json& service, int32_t port) {
    const json* ports = field_at(service, {"spec", "ports"});
    if (ports == nullptr || !ports->is_array()) {
        return 0;
    }
    for (const auto& p : ports->as_array()) {
        if (int_at(p, {"port"}) == port) {
            return int32_t(int_at(p, {"nodePort"}));
        }
    }
    return 0;
}

} // namespace

const api::listener_spec* oauth_listener(const api::kafka_cluster_spec& spec) {
    for (const auto& l : spec.listeners) {
        if (l.authentication == api::listener_auth::oauth) {
            return &l;
        }
    }
    return nullptr;
}

std::string oauth_trusted_certificate_path(const api::trusted_certificate& t) {
    return std::string(oauth_trusted_mount) + "/" + t.secret_name + "/" + t.certificate;
}

std::string security_protocol(const api::listener_spec& l) {
    const bool sasl = l.authentication == api::listener_auth::scram_sha_512 || l.authentication == api::listener_auth::oauth;
    return std::string(sasl ? "SASL_" : "") + (l.tls ? "SSL" : "PLAINTEXT");
}

std::string default_host_template(const build_context& ctx, const api::listener_spec& l) {
    switch (l.type) {
    case api::listener_type::internal:
        return "{podName}." + headless_service_name(ctx.name(), component::broker) + "." + ctx.ns() + ".svc." +
               ctx.settings.cluster_domain;
    case api::listener_type::nodeport:
        return "{nodeIP}";
    case api::listener_type::loadbalancer:
        return "";
    }
    return "";
}

broker_endpoints resolve_endpoints(const build_context& ctx, int32_t id, const service_lookup& services) {
    broker_endpoints out;
    for (const auto& l : ctx.spec().listeners) {
        advertised_endpoint e{l.name, l.kafka_name(), l.advertised_host.value_or(default_host_template(ctx, l)),
                              l.port, l.tls};
        if (l.type != api::listener_type::internal) {
            const std::string svc_name = per_broker_service_name(ctx.name(), id, l.name);
            auto svc = services(svc_name);
            if (l.type == api::listener_type::nodeport) {
                e.port = svc ? node_port(*svc, l.port) : 0;
                if (e.port == 0 && out.waiting_for.empty()) {
                    out.waiting_for = "the node port of Service " + svc_name;
                }
            } else if (!l.advertised_host) {
                e.host = svc ? ingress_address(*svc) : "";
                if (e.host.empty() && out.waiting_for.empty()) {
                    out.waiting_for = "the load balancer address of Service " + svc_name;
                }
            }
        }
        out.listeners.push_back(std::move(e));
    }
    return out;
}

std::string host_for_config(const std::string& host_template, int32_t id) {
    auto out = expand(host_template, [&](const std::string& token) -> std::optional<std::string> {
        if (token == "{podIP}") {
            return "${env:POD_IP}";
        }
        if (token == "{podName}") {
            return "${env:POD_NAME}";
        }
        if (token == "{nodeIP}") {
            return "${env:HOST_IP}";
        }
        if (token == "{id}") {
            return std::to_string(id);
        }
        return token;  // validate() refuses unknown tokens; keep the text if one gets here
    });
    return out.value_or(host_template);
}

std::optional<std::string> host_for_status(const std::string& host_template, int32_t id, const pod_facts& pod) {
    return expand(host_template, [&](const std::string& token) -> std::optional<std::string> {
        const std::string* v = token == "{podIP}"     ? &pod.pod_ip
                               : token == "{podName}" ? &pod.pod_name
                               : token == "{nodeIP}"  ? &pod.node_ip
                                                      : nullptr;
        if (token == "{id}") {
            return std::to_string(id);
        }
        if (v == nullptr) {
            return token;
        }
        return v->empty() ? std::nullopt : std::optional<std::string>(*v);
    });
}

std::vector<json> per_broker_services(const build_context& ctx, int32_t id) {
    std::vector<json> out;
    for (const auto& l : ctx.spec().listeners) {
        if (l.type == api::listener_type::internal) {
            continue;
        }
        const std::string name = per_broker_service_name(ctx.name(), id, l.name);
        json meta = object_meta(ctx, component::broker, name);
        meta["labels"][broker_id_label] = str(std::to_string(id));
        meta["labels"][listener_label] = str(l.name);
        json selector = selector_labels(ctx, component::broker);
        selector["statefulset.kubernetes.io/pod-name"] = str(pod_name(ctx.name(), component::broker, id));
        json port = obj({{"name", str(l.name)}, {"port", num(l.port)}, {"targetPort", num(l.port)},
                         {"protocol", str("TCP")}});
        json spec = obj({{"type", str(l.type == api::listener_type::nodeport ? "NodePort" : "LoadBalancer")},
                         {"externalTrafficPolicy", str("Local")},
                         {"publishNotReadyAddresses", json::boolean(true)},
                         {"selector", selector},
                         {"ports", arr({port})}});
        out.push_back(obj({{"apiVersion", str("v1")}, {"kind", str("Service")}, {"metadata", meta}, {"spec", spec}}));
    }
    return out;
}

} // namespace trib::op::controller
