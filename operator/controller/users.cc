#include "operator/controller/users.h"

#include "operator/controller/tls.h"
#include "security/scram.h"

#include <openssl/rand.h>

#include <algorithm>
#include <map>
#include <stdexcept>

namespace trib::op::controller {

using json = web::json::value;

namespace {

std::string csprng(size_t n) {
    std::string out(n, '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]), int(n)) != 1) {
        throw std::runtime_error("no random bytes from OpenSSL");
    }
    return out;
}

json user_secret(const api::kafka_user& u, const std::map<std::string, std::string>& data) {
    json labels = json::object();
    labels["app.kubernetes.io/name"] = json::string("tributary");
    labels["app.kubernetes.io/instance"] = json::string(u.cluster);
    labels["app.kubernetes.io/component"] = json::string("kafka-user");
    labels["app.kubernetes.io/managed-by"] = json::string("tributary-operator");
    labels[api::cluster_label] = json::string(u.cluster);
    json owner = json::object();
    owner["apiVersion"] = json::string("tributary.io/v1alpha1");
    owner["kind"] = json::string("KafkaUser");
    owner["name"] = json::string(u.name);
    owner["uid"] = json::string(u.uid);
    owner["controller"] = json::boolean(true);
    owner["blockOwnerDeletion"] = json::boolean(true);
    json meta = json::object();
    meta["name"] = json::string(u.name);
    meta["namespace"] = json::string(u.ns);
    meta["labels"] = labels;
    meta["ownerReferences"] = json::array({owner});
    json d = json::object();
    for (const auto& [k, v] : data) {
        d[k] = json::string(security::base64_encode(v));
    }
    json s = json::object();
    s["apiVersion"] = json::string("v1");
    s["kind"] = json::string("Secret");
    s["metadata"] = meta;
    s["type"] = json::string("Opaque");
    s["data"] = d;
    return s;
}

// Whether the KafkaUser `uid` is the Secret's controller owner.
bool owned_by(const json& secret, const std::string& uid) {
    if (!secret.has_object_field("metadata") || !secret.at("metadata").has_array_field("ownerReferences")) {
        return false;
    }
    for (const auto& o : secret.at("metadata").at("ownerReferences").as_array()) {
        if (o.has_string_field("uid") && o.at("uid").as_string() == uid) {
            return true;
        }
    }
    return false;
}

void decide_acls(const user_facts& f, user_plan& p) {
    const auto want = f.user.spec.authorization ? api::acl_bindings(f.user) : std::vector<security::acl_binding>{};
    auto have = f.acls;
    std::sort(have.begin(), have.end());
    have.erase(std::unique(have.begin(), have.end()), have.end());
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(p.create_acls));
    std::vector<security::acl_binding> gone;
    std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(gone));
    for (const auto& b : gone) {
        p.delete_acls.push_back(exact_filter(b));
    }
}

void decide_scram(const user_facts& f, user_plan& p) {
    const auto& u = f.user;
    std::optional<std::string> kept = f.secret ? secret_value(*f.secret, "password") : std::nullopt;
    p.password = kept && !kept->empty() ? *kept : random_password();
    p.secret = user_secret(u, {{"password", p.password}, {"sasl.jaas.config", scram_jaas_config(u.name, p.password)}});
    // A new password, or the Secret is not the one the credential came from.
    p.set_scram = !f.scram_credential || !kept || kept->empty() || secret_uid(*f.secret) != u.credential_secret_uid;
}

void decide_certificate(const user_facts& f, user_plan& p) {
    const auto& u = f.user;
    if (!f.clients_ca) {
        p.problem_reason = "ClientsCaMissing";
        p.problem_message = "the cluster has no clients CA yet (Secret " + clients_ca_secret_name(u.cluster) +
                            ", made for listeners with tls authentication)";
        return;
    }
    const auto& ca = *f.clients_ca;
    auto ca_facts = certs::inspect(ca.cert_pem);
    if (!ca_facts || !ca_facts->is_ca || !certs::matches(ca)) {
        p.problem_reason = "ClientsCaInvalid";
        p.problem_message = "Secret " + clients_ca_secret_name(u.cluster) + " does not hold a usable CA";
        return;
    }
    certs::leaf_request want;
    want.common_name = u.name;
    want.organization = "";  // subject CN=<name> alone: the principal is User:CN=<name>
    const auto key = f.secret ? secret_value(*f.secret, "user.key") : std::nullopt;
    const auto crt = f.secret ? secret_value(*f.secret, "user.crt") : std::nullopt;
    std::string why = key && crt ? renewal_reason(*key + *crt, ca, want, f.now, "the clients CA") : "new";
    certs::key_pair kp{key.value_or(""), crt.value_or("")};
    if (!why.empty()) {
        auto issued = certs::issue(ca, want, f.now, user_cert_validity);
        if (!issued) {
            throw std::runtime_error("issuing a user certificate: " + issued.error().message());
        }
        kp = std::move(*issued);
        if (!f.clients_ca_rollover.empty() && !f.clients_ca_old.empty()) {
            kp.cert_pem += f.clients_ca_rollover;
        }
        p.issued = why;
    }
    ca_renewal r;
    if (!f.clients_ca_rollover.empty() && !f.clients_ca_old.empty()) {
        r.old_cert = f.clients_ca_old;
        r.rollover = f.clients_ca_rollover;
    }
    p.secret =
        user_secret(u, {{"ca.crt", ca_bundle(ca, r)}, {"user.crt", kp.cert_pem}, {"user.key", kp.key_pem}});
    p.delete_scram = f.scram_credential;
}

} // namespace

std::string secret_uid(const json& secret) {
    const json* m = secret.has_object_field("metadata") ? &secret.at("metadata") : nullptr;
    return m != nullptr && m->has_string_field("uid") ? m->at("uid").as_string() : "";
}

std::optional<std::string> secret_value(const json& secret, const std::string& key) {
    if (!secret.has_object_field("data") || !secret.at("data").has_string_field(key)) {
        return std::nullopt;
    }
    return security::base64_decode(secret.at("data").at(key).as_string());
}

std::string random_password(size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    constexpr unsigned symbols = sizeof(alphabet) - 1;  // 62
    std::string out;
    while (out.size() < n) {
        for (unsigned char c : csprng(n)) {
            // 248 = 4 * 62: bytes above it would favour the first letters.
            if (c < 248 && out.size() < n) {
                out.push_back(alphabet[c % symbols]);
            }
        }
    }
    return out;
}

scram_upsert make_scram_upsert(const std::string& user, const std::string& password) {
    scram_upsert u;
    u.user = user;
    u.salt = csprng(32);
    u.salted_password =
        security::scram_salted_password(security::scram_algorithm::sha512, password, u.salt, u.iterations);
    return u;
}

std::string scram_jaas_config(const std::string& user, const std::string& password) {
    return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user +
           "\" password=\"" + password + "\";";
}

security::acl_filter exact_filter(const security::acl_binding& b) {
    security::acl_filter f;
    f.resource_type = b.resource_type;
    f.resource_name = b.resource_name;
    f.pattern = b.pattern;
    f.principal = b.principal;
    f.host = b.host;
    f.operation = b.operation;
    f.permission = b.permission;
    return f;
}

user_plan decide_user(const user_facts& f) {
    user_plan p;
    if (f.user.spec.authentication == api::no_authentication) {
        // Its credentials are the identity provider's: the operator's only part is the ACLs.
        p.delete_scram = f.scram_credential;
        decide_acls(f, p);
        return p;
    }
    if (f.secret && !owned_by(*f.secret, f.user.uid)) {
        p.problem_reason = "SecretConflict";
        p.problem_message = "Secret " + f.user.name + " exists and is not this KafkaUser's: delete or rename it";
        return p;
    }
    if (f.user.spec.authentication == api::tls_authentication) {
        decide_certificate(f, p);
    } else {
        decide_scram(f, p);
    }
    if (!p.problem_reason.empty()) {
        return p;
    }
    decide_acls(f, p);
    return p;
}

} // namespace trib::op::controller
