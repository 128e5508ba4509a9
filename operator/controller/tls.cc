#include "operator/controller/tls.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace trib::op::controller {

std::string cluster_ca_secret_name(const std::string& cluster) {
    return cluster + "-cluster-ca";
}

std::string cluster_ca_cert_secret_name(const std::string& cluster) {
    return cluster + "-cluster-ca-cert";
}

std::string broker_certs_secret_name(const std::string& cluster) {
    return cluster + "-broker-certs";
}

std::string clients_ca_secret_name(const std::string& cluster) {
    return cluster + "-clients-ca";
}

std::string clients_ca_cert_secret_name(const std::string& cluster) {
    return cluster + "-clients-ca-cert";
}

std::string broker_keystore_key(const std::string& pod) {
    return pod + ".pem";
}

bool any_tls_listener(const api::kafka_cluster_spec& spec) {
    return std::any_of(spec.listeners.begin(), spec.listeners.end(), [](const auto& l) { return l.tls; });
}

bool any_tls_authentication(const api::kafka_cluster_spec& spec) {
    return std::any_of(spec.listeners.begin(), spec.listeners.end(),
                       [](const auto& l) { return l.authentication == api::listener_auth::tls; });
}

namespace {

void add_unique(std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) {
        v.push_back(s);
    }
}

template<typename T>
std::vector<T> sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    return v;
}

certs::key_pair must(result<certs::key_pair> r, const char* what) {
    if (!r) {
        throw std::runtime_error(std::string(what) + ": " + r.error().message());
    }
    return std::move(*r);
}

} // namespace

std::string renewal_reason(const std::string& pem, const certs::key_pair& ca, const certs::leaf_request& want,
                           certs::time_point now, const std::string& ca_name) {
    auto f = certs::inspect(pem);
    if (!f) {
        return "no usable certificate";
    }
    if (!certs::matches({pem, pem})) {
        return "key and certificate don't match";
    }
    std::string why;
    if (!certs::verify(pem, ca.cert_pem, now, &why)) {
        return "not valid under " + ca_name + ": " + why;
    }
    if (f->not_after - now < renew_before) {
        return "expires " + fmt::format("{:%Y-%m-%d}", f->not_after);
    }
    if (sorted(f->dns_names) != sorted(want.dns_names) || sorted(f->ip_addresses) != sorted(want.ip_addresses)) {
        return "its names changed";
    }
    return "";
}

certs::leaf_request broker_cert_names(const build_context& ctx, int32_t ordinal,
                                      const std::vector<advertised_endpoint>& endpoints) {
    certs::leaf_request r;
    const std::string pod = pod_name(ctx.name(), component::broker, ordinal);
    r.common_name = pod;
    const std::string headless = headless_service_name(ctx.name(), component::broker);
    const std::string boot = bootstrap_service_name(ctx.name());
    const std::string& ns = ctx.ns();
    add_unique(r.dns_names, pod_dns_name(ctx, component::broker, ordinal));
    add_unique(r.dns_names, pod + "." + headless + "." + ns + ".svc");
    for (const auto& name : {boot, boot + "." + ns, boot + "." + ns + ".svc",
                             boot + "." + ns + ".svc." + ctx.settings.cluster_domain}) {
        add_unique(r.dns_names, name);
    }
    for (const auto& e : endpoints) {
        if (!e.tls) {
            continue;
        }
        const std::string host = host_for_config(e.host, broker_id(ordinal));
        if (host.find("${") != std::string::npos) {
            continue;  // from the pod or node at run time
        }
        add_unique(certs::is_ip_address(host) ? r.ip_addresses : r.dns_names, host);
    }
    return r;
}

std::string certificate_serials(const std::map<std::string, std::string>& brokers) {
    std::string out;
    for (const auto& [key, pem] : brokers) {
        auto f = certs::inspect(pem);
        if (!out.empty()) {
            out.push_back(',');
        }
        out.append(key, 0, key.size() - 4).append("=").append(f ? f->serial_hex : "?");
    }
    return out;
}

namespace {

// Why a CA Secret's key pair can't be used, or "" when it can.
std::string ca_problem(const certs::key_pair& ca, certs::time_point& not_after) {
    auto facts = certs::inspect(ca.cert_pem);
    if (!facts) {
        return "ca.crt: " + facts.error().message();
    }
    if (auto m = certs::matches(ca); !m) {
        return "ca.key: " + m.error().message();
    }
    if (!facts->is_ca) {
        return "ca.crt: " + certs::make_error_code(certs::errc::not_a_ca).message();
    }
    not_after = facts->not_after;
    return "";
}

} // namespace

certificate_plan decide_certificates(const certificate_facts& f) {
    certificate_plan p;
    if (f.ca) {
        if (auto why = ca_problem(*f.ca, p.ca_not_after); !why.empty()) {
            p.invalid = why;
            return p;
        }
        p.ca = *f.ca;
    } else {
        p.ca = must(certs::make_ca("tributary-cluster-ca", f.now, ca_validity), "making the cluster CA");
        p.ca_created = true;
        p.ca_not_after = f.now + ca_validity;
    }
    if (f.want_clients_ca) {
        if (f.clients_ca) {
            certs::time_point not_after;
            if (auto why = ca_problem(*f.clients_ca, not_after); !why.empty()) {
                p.clients_invalid = why;
                return p;
            }
            p.clients_ca = *f.clients_ca;
            p.clients_ca_not_after = not_after;
        } else {
            p.clients_ca = must(certs::make_ca("tributary-clients-ca", f.now, ca_validity), "making the clients CA");
            p.clients_ca_created = true;
            p.clients_ca_not_after = f.now + ca_validity;
        }
    }
    for (const auto& [pod, want] : f.wanted) {
        const std::string key = broker_keystore_key(pod);
        auto have = f.brokers.find(key);
        const std::string why = have == f.brokers.end() ? "new" : renewal_reason(have->second, p.ca, want, f.now);
        if (why.empty()) {
            p.brokers[key] = have->second;
            continue;
        }
        auto kp = must(certs::issue(p.ca, want, f.now, broker_cert_validity), "issuing a broker certificate");
        p.brokers[key] = kp.key_pem + kp.cert_pem + p.ca.cert_pem;
        p.issued.push_back(pod + " (" + why + ")");
    }
    // Certificates of brokers not wanted now are kept: a broker being drained still serves
    // with its own, and an ordinal scaled away and back is checked again like any other.
    for (const auto& [key, pem] : f.brokers) {
        if (!p.brokers.count(key)) {
            p.brokers[key] = pem;
        }
    }
    return p;
}

} // namespace trib::op::controller
