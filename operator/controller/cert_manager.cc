#include "operator/controller/cert_manager.h"

#include "operator/controller/tls.h"
#include "operator/controller/users.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <regex>

namespace trib::op::controller {

namespace {

json strings(const std::vector<std::string>& v) {
    std::vector<json> out;
    out.reserve(v.size());
    for (const auto& s : v) {
        out.push_back(str(s));
    }
    return arr(std::move(out));
}

// The Ready condition of a Certificate: true with this generation observed, or why not.
std::string not_ready(const json& certificate) {
    const json* conds = field_at(certificate, {"status", "conditions"});
    if (conds == nullptr || !conds->is_array()) {
        return "cert-manager has not issued it yet";
    }
    for (const auto& c : conds->as_array()) {
        if (string_at(c, {"type"}) != "Ready") {
            continue;
        }
        const int64_t observed = int_at(c, {"observedGeneration"}, -1);
        const int64_t generation = int_at(certificate, {"metadata", "generation"}, 0);
        if (observed >= 0 && generation > 0 && observed < generation) {
            return "cert-manager has not seen its latest spec yet";
        }
        if (string_at(c, {"status"}) == "True") {
            return "";
        }
        const std::string reason = string_at(c, {"reason"}), message = string_at(c, {"message"});
        return "not Ready" + (reason.empty() ? std::string() : " (" + reason + ")") +
               (message.empty() ? std::string() : ": " + message);
    }
    return "cert-manager has not issued it yet";
}

// The PEM certificates of a bundle, each as its own string.
std::vector<std::string> split_pem(const std::string& bundle) {
    static const std::regex one("-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(bundle.begin(), bundle.end(), one); it != std::sregex_iterator(); ++it) {
        out.push_back(it->str() + "\n");
    }
    return out;
}

} // namespace

std::string cert_manager_secret_name(const std::string& pod) {
    return pod + "-tls";
}

json cert_manager_certificate(const build_context& ctx, component c, const std::string& pod,
                              const certs::leaf_request& names, const api::issuer_ref& issuer) {
    json meta = object_meta(ctx, c, pod);
    json spec = obj({
        {"secretName", str(cert_manager_secret_name(pod))},
        // The labels let the operator find the Secret as one of the cluster's own.
        {"secretTemplate", obj({{"labels", labels(ctx, c)}})},
        {"commonName", str(names.common_name)},
        {"dnsNames", strings(names.dns_names)},  // none for the operator's: it serves nothing
        {"ipAddresses", strings(names.ip_addresses)},
        {"duration", str(cert_manager_duration)},
        {"renewBefore", str(cert_manager_renew_before)},
        // The keys the brokers read (certs/certificates.h): PKCS#8 EC P-256, a new one each time.
        {"privateKey", obj({{"algorithm", str("ECDSA")},
                            {"size", num(256)},
                            {"encoding", str("PKCS8")},
                            {"rotationPolicy", str("Always")}})},
        // A broker or coordinator is a TLS server to its peers and a client of them; the operator
        // a client alone.
        {"usages", names.client_only
                       ? strings({"digital signature", "key encipherment", "client auth"})
                       : strings({"digital signature", "key encipherment", "server auth", "client auth"})},
        {"issuerRef", obj({{"name", str(issuer.name)}, {"kind", str(issuer.kind)}, {"group", str(issuer.group)}})},
    });
    if (names.ip_addresses.empty()) {
        spec.erase("ipAddresses");
    }
    if (names.dns_names.empty()) {
        spec.erase("dnsNames");
    }
    if (!names.organization.empty()) {
        spec["subject"] = obj({{"organizations", strings({names.organization})}});
    }
    return obj({{"apiVersion", str("cert-manager.io/v1")}, {"kind", str("Certificate")}, {"metadata", meta},
                {"spec", spec}});
}

cert_manager_issued read_cert_manager_secret(const json* certificate, const json* secret,
                                             const certs::leaf_request& want, certs::time_point now) {
    cert_manager_issued out;
    if (certificate == nullptr) {
        out.waiting = "its Certificate is not made yet";
        return out;
    }
    if (auto why = not_ready(*certificate); !why.empty()) {
        out.waiting = why;
        return out;
    }
    auto crt = secret ? secret_value(*secret, "tls.crt") : std::nullopt;
    auto key = secret ? secret_value(*secret, "tls.key") : std::nullopt;
    if (!crt || !key) {
        out.waiting = "its Secret holds no tls.crt and tls.key yet";
        return out;
    }
    auto f = certs::inspect(*crt);
    if (!f) {
        out.waiting = "tls.crt of its Secret is not a PEM certificate";
        return out;
    }
    if (!certs::matches({*key, *crt})) {
        out.waiting = "tls.key of its Secret is not the key of tls.crt";
        return out;
    }
    if (f->not_after <= now) {
        out.waiting = "its certificate expired " + fmt::format("{:%Y-%m-%d %H:%M}", f->not_after);
        return out;
    }
    if (!names_match(*f, want)) {
        out.waiting = "its certificate does not carry the names asked for yet";
        return out;
    }
    std::string pem = *key;
    if (!pem.empty() && pem.back() != '\n') {
        pem += '\n';
    }
    out.keystore = pem + *crt;
    out.ca = secret_value(*secret, "ca.crt").value_or("");
    return out;
}

cert_manager_keystores take_cert_manager_keystores(const std::map<std::string, cert_manager_issued>& got,
                                                   const std::map<std::string, std::string>& held,
                                                   const std::function<bool(const std::string& ca)>& trusted) {
    cert_manager_keystores out;
    out.keystores = held;
    for (const auto& [pod, issued] : got) {
        const std::string key = broker_keystore_key(pod);
        if (!issued.keystore) {
            out.waiting.push_back("Certificate " + pod + ": " + issued.waiting);
            out.missing = out.missing || !held.count(key);
            continue;
        }
        out.cas.push_back(issued.ca);  // into ca.crt in any case: the pods load it
        if (out.keystores[key] != *issued.keystore && held.count(key) && !trusted(issued.ca)) {
            out.waiting.push_back("Certificate " + pod +
                                  ": its CA is new to ca.crt; the pods restart to trust it before it is used");
            continue;
        }
        if (out.keystores[key] != *issued.keystore) {
            out.taken.push_back(pod);
            out.keystores[key] = *issued.keystore;
        }
    }
    return out;
}

std::string trust_annotation(const std::string& bundle) {
    std::vector<std::string> ids;
    for (const auto& pem : split_pem(bundle)) {
        auto f = certs::inspect(pem);
        ids.push_back(f ? f->serial_hex : "?");
    }
    std::sort(ids.begin(), ids.end());
    std::string out = ";trust=";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) {
            out.push_back(',');
        }
        out.append(ids[i]);
    }
    return out;
}

bool trusted_by_all(const std::string& ca, const std::map<std::string, std::string>& running) {
    for (const auto& pem : split_pem(ca)) {
        auto f = certs::inspect(pem);
        if (!f) {
            return false;
        }
        for (const auto& [pod, annotation] : running) {
            const auto at = annotation.find(";trust=");
            if (at == std::string::npos) {
                return false;
            }
            std::string list(1, ',');
            list.append(annotation, at + 7).push_back(',');
            std::string id(1, ',');
            id.append(f->serial_hex).push_back(',');
            if (list.find(id) == std::string::npos) {
                return false;
            }
        }
    }
    return true;
}

std::string ca_bundle_of(const std::vector<std::string>& cas) {
    std::vector<std::string> seen;
    std::string out;
    for (const auto& bundle : cas) {
        for (auto& pem : split_pem(bundle)) {
            if (std::find(seen.begin(), seen.end(), pem) == seen.end()) {
                out += pem;
                seen.push_back(std::move(pem));
            }
        }
    }
    return out;
}

std::string cert_manager_bundle(const std::vector<std::string>& issued_cas, const std::string& previous,
                                const std::map<std::string, std::string>& keystores, certs::time_point now) {
    std::vector<std::string> issued;
    for (const auto& bundle : issued_cas) {
        for (auto& pem : split_pem(bundle)) {
            issued.push_back(std::move(pem));
        }
    }
    auto in = [](const std::vector<std::string>& v, const std::string& pem) {
        return std::find(v.begin(), v.end(), pem) != v.end();
    };
    // Those of `previous` that stay, in its order, then the new ones: the same CAs give the same
    // text, whichever Secrets this pass read first.
    const std::vector<std::string> before = split_pem(previous);
    std::vector<std::string> cas;
    for (const auto& ca : before) {
        const bool in_use = in(issued, ca) || std::any_of(keystores.begin(), keystores.end(), [&](const auto& k) {
                                return bool(certs::verify(k.second, ca, now));
                            });
        if (in_use) {
            cas.push_back(ca);
        }
    }
    for (auto& ca : issued) {
        if (!in(before, ca)) {
            cas.push_back(std::move(ca));
        }
    }
    return ca_bundle_of(cas);
}

std::map<std::string, std::string> serving_keystores(const std::map<std::string, std::string>& keystores,
                                                     const std::set<std::string>& pods,
                                                     const std::map<std::string, certs::leaf_request>& wanted) {
    std::map<std::string, std::string> out;
    auto of_pod = [&](const std::string& pod) {
        if (auto it = keystores.find(broker_keystore_key(pod)); it != keystores.end()) {
            out.insert(*it);
        }
    };
    for (const auto& pod : pods) {
        of_pod(pod);
    }
    for (const auto& [pod, _] : wanted) {
        of_pod(pod);
    }
    return out;
}

} // namespace trib::op::controller
