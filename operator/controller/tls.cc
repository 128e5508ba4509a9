#include "operator/controller/tls.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
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

std::string coordinator_certs_secret_name(const std::string& cluster) {
    return cluster + "-coordinator-certs";
}

std::string operator_certs_secret_name(const std::string& cluster) {
    return cluster + "-operator-certs";
}

std::string operator_keystore_key(const std::string& cluster) {
    return broker_keystore_key(operator_common_name(cluster));
}

std::string internal_common_name(const std::string& cluster, component c) {
    return cluster + (c == component::broker ? "-broker" : "-coordinator");
}

std::string operator_common_name(const std::string& cluster) {
    return cluster + "-operator";
}

std::string internal_principal(const std::string& common_name) {
    // certs::issue makes the subject O=tributary, CN=<cn>; RFC 2253 writes it last RDN first.
    return "User:CN=" + common_name + ",O=tributary";
}

std::string internal_super_users(const std::string& cluster) {
    return internal_principal(internal_common_name(cluster, component::broker)) + ";" +
           internal_principal(internal_common_name(cluster, component::coordinator)) + ";" +
           internal_principal(operator_common_name(cluster));
}

certs::leaf_request operator_cert_request(const std::string& cluster) {
    certs::leaf_request r;
    r.common_name = operator_common_name(cluster);
    r.client_only = true;
    return r;
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

bool names_match(const certs::facts& f, const certs::leaf_request& want) {
    return sorted(f.dns_names) == sorted(want.dns_names) && sorted(f.ip_addresses) == sorted(want.ip_addresses);
}

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
    if (!names_match(*f, want)) {
        return "its names changed";
    }
    return "";
}

certs::leaf_request broker_cert_names(const build_context& ctx, int32_t ordinal,
                                      const std::vector<advertised_endpoint>& endpoints) {
    certs::leaf_request r;
    const std::string pod = pod_name(ctx.name(), component::broker, ordinal);
    r.common_name = internal_common_name(ctx.name(), component::broker);
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

certs::leaf_request coordinator_cert_names(const build_context& ctx, int32_t ordinal) {
    certs::leaf_request r;
    r.common_name = internal_common_name(ctx.name(), component::coordinator);
    const std::string pod = pod_name(ctx.name(), component::coordinator, ordinal);
    const std::string headless = pod + "." + headless_service_name(ctx.name(), component::coordinator);
    add_unique(r.dns_names, pod_dns_name(ctx, component::coordinator, ordinal));  // controller.quorum.voters
    add_unique(r.dns_names, headless + "." + ctx.ns() + ".svc");
    add_unique(r.dns_names, headless + "." + ctx.ns());
    add_unique(r.dns_names, headless);
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

std::string broker_serials(const std::optional<std::string>& template_now, const std::map<std::string, std::string>& held,
                           const std::map<std::string, std::string>& keystores, const std::set<std::string>& pods) {
    if (!template_now) {
        return certificate_serials(keystores);
    }
    std::set<std::string> named;  // the pods the annotation names now
    const std::string serials = template_now->substr(0, template_now->find(";trust="));
    for (size_t at = 0; at < serials.size();) {
        size_t end = serials.find(',', at);
        end = end == std::string::npos ? serials.size() : end;
        const std::string entry = serials.substr(at, end - at);
        named.insert(entry.substr(0, entry.find('=')));
        at = end + 1;
    }
    std::map<std::string, std::string> in;
    for (const auto& [key, pem] : keystores) {
        const std::string pod = key.size() > 4 ? key.substr(0, key.size() - 4) : key;  // "<pod>.pem"
        auto h = held.find(key);
        const bool added = h == held.end();
        const bool changed = added || h->second != pem;
        if (named.count(pod) || (changed && !added) || (changed && pods.count(pod))) {
            in[key] = pem;
        }
    }
    return certificate_serials(in);
}

ca_settings ca_settings_of(const api::kafka_cluster_spec& spec) {
    ca_settings s;
    s.validity = std::chrono::hours(24 * int64_t(spec.certificate_authority.validity_days));
    s.renewal = std::chrono::hours(24 * int64_t(spec.certificate_authority.renewal_days));
    return s;
}

std::string ca_bundle(const certs::key_pair& ca, const ca_renewal& r) {
    return r.renewing() ? ca.cert_pem + r.old_cert : ca.cert_pem;
}

std::string ca_chain(const certs::key_pair& ca, const ca_renewal& r) {
    // Not the new CA's own certificate beside the rollover one: both name the same subject and
    // key, and a peer trusting only the previous CA could pick the self-signed one and stop.
    return r.renewing() ? r.rollover : ca.cert_pem;
}

std::map<std::string, std::string> ca_secret_data(const certs::key_pair& ca, const ca_renewal& r) {
    std::map<std::string, std::string> d{{"ca.key", ca.key_pem}, {"ca.crt", ca.cert_pem}};
    if (r.renewing()) {
        d[ca_old_cert_key] = r.old_cert;
        d[ca_rollover_key] = r.rollover;
    }
    return d;
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

// One CA: made when its Secret is missing, renewed when due or asked for, carried on while
// renewing. Returns why the Secret can't be used ("" when it can).
std::string decide_ca(const std::optional<certs::key_pair>& have, const ca_held& more, const char* common_name,
                      const ca_settings& s, certs::time_point now, certs::key_pair& ca, bool& created,
                      certs::time_point& not_after, ca_renewal& r) {
    if (!have) {
        ca = must(certs::make_ca(common_name, now, s.validity), "making a CA");
        created = true;
        not_after = now + s.validity;
        return "";
    }
    if (auto why = ca_problem(*have, not_after); !why.empty()) {
        return why;
    }
    ca = *have;
    r.clear_force_renew = more.force_renew;
    if (!more.old_cert.empty()) {
        auto old = certs::inspect(more.old_cert);
        if (!old) {
            return std::string(ca_old_cert_key) + ": " + old.error().message();
        }
        if (!certs::inspect(more.rollover)) {
            return std::string(ca_rollover_key) + ": " + certs::errc_message(certs::errc::bad_certificate);
        }
        r.old_cert = more.old_cert;
        r.rollover = more.rollover;
        r.old_not_after = old->not_after;
        return "";  // renewing: a renewal asked for now waits for this one to end
    }
    if (!more.force_renew && not_after - now >= s.renewal) {
        return "";
    }
    r.started = more.force_renew ? std::string("asked for with the annotation ") + force_renew_annotation
                                 : "it expires " + fmt::format("{:%Y-%m-%d %H:%M} UTC", not_after);
    const auto subject = certs::inspect(have->cert_pem)->subject_cn;
    certs::key_pair next = must(certs::make_ca(subject.empty() ? common_name : subject, now, s.validity),
                                "making the renewed CA");
    auto rollover = certs::rollover(*have, next, now);
    if (!rollover) {
        throw std::runtime_error("certifying the renewed CA under the previous one: " + rollover.error().message());
    }
    r.old_cert = have->cert_pem;
    r.rollover = std::move(*rollover);
    r.old_not_after = not_after;
    ca = std::move(next);
    not_after = now + s.validity;
    return "";
}

} // namespace

certificate_plan decide_certificates(const certificate_facts& f) {
    certificate_plan p;
    // With cert-manager there is no cluster CA of the operator's; the clients CA is still its own.
    if (!f.by_cert_manager) {
        if (auto why = decide_ca(f.ca, f.ca_more, "tributary-cluster-ca", f.settings, f.now, p.ca, p.ca_created,
                                 p.ca_not_after, p.renewal);
            !why.empty()) {
            p.invalid = why;
            return p;
        }
    }
    if (f.want_clients_ca) {
        certs::key_pair ca;
        if (auto why = decide_ca(f.clients_ca, f.clients_ca_more, "tributary-clients-ca", f.settings, f.now, ca,
                                 p.clients_ca_created, p.clients_ca_not_after, p.clients_renewal);
            !why.empty()) {
            p.clients_invalid = why;
            return p;
        }
        p.clients_ca = std::move(ca);
    }
    // The clients CA's renewal ends when every KafkaUser's certificate is under the new CA.
    if (p.clients_ca && p.clients_renewal.renewing() && p.clients_renewal.started.empty() && f.user_certs &&
        std::all_of(f.user_certs->begin(), f.user_certs->end(),
                    [&](const auto& crt) { return bool(certs::verify(crt, p.clients_ca->cert_pem, f.now)); })) {
        p.clients_renewal.old_cert.clear();
        p.clients_renewal.rollover.clear();
        p.clients_renewal.finished = true;
    }
    if (f.by_cert_manager) {
        return p;
    }
    const std::string chain = ca_chain(p.ca, p.renewal);
    // One Secret's keystores: issued where missing or due, kept otherwise. Those of pods not
    // wanted now are kept: a broker being drained still serves with its own, and an ordinal
    // scaled away and back is checked again like any other.
    auto keystores = [&](const std::map<std::string, certs::leaf_request>& wanted,
                         const std::map<std::string, std::string>& held, std::map<std::string, std::string>& out) {
        for (const auto& [pod, want] : wanted) {
            const std::string key = broker_keystore_key(pod);
            auto have = held.find(key);
            const std::string why = have == held.end() ? "new" : renewal_reason(have->second, p.ca, want, f.now);
            if (why.empty()) {
                out[key] = have->second;
                continue;
            }
            auto kp = must(certs::issue(p.ca, want, f.now, broker_cert_validity), "issuing a certificate");
            out[key] = kp.key_pem + kp.cert_pem + chain;
            p.issued.push_back(pod + " (" + why + ")");
        }
        for (const auto& [key, pem] : held) {
            if (!out.count(key)) {
                out[key] = pem;
            }
        }
    };
    keystores(f.wanted, f.brokers, p.brokers);
    keystores(f.wanted_coordinators, f.coordinators, p.coordinators);
    keystores(f.wanted_operator, f.operator_held, p.operator_keystores);
    p.broker_serials = broker_serials(f.broker_template, f.brokers, p.brokers, f.broker_pods);
    // The cluster CA's renewal ends when nothing was issued (every wanted certificate is under
    // the new CA), and every broker and coordinator pod has a certificate under the new CA (one
    // not wanted now, its address unknown, is not issued again: it waits) and runs the
    // certificates as they are now (its template's annotation).
    auto moved_all = [&](const std::optional<std::map<std::string, std::string>>& running,
                         const std::map<std::string, std::string>& held, const std::string& serials) {
        if (!running) {
            return false;
        }
        return std::all_of(running->begin(), running->end(), [&](const auto& pod) {
            auto h = held.find(broker_keystore_key(pod.first));
            return pod.second == serials && (h == held.end() || bool(certs::verify(h->second, p.ca.cert_pem, f.now)));
        });
    };
    // Coordinators count only where they hold certificates (internal TLS): otherwise none runs any.
    const bool coordinators_moved =
        f.wanted_coordinators.empty() && f.coordinators.empty()
            ? true
            : moved_all(f.running_coordinators, p.coordinators, certificate_serials(p.coordinators));
    if (p.renewal.renewing() && p.renewal.started.empty() && p.issued.empty() &&
        moved_all(f.running, p.brokers, p.broker_serials) && coordinators_moved) {
        p.renewal.old_cert.clear();
        p.renewal.rollover.clear();
        p.renewal.finished = true;
    }
    return p;
}

} // namespace trib::op::controller
