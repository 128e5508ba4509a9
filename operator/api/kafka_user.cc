#include "operator/api/kafka_user.h"

#include <algorithm>
#include <map>
#include <regex>

namespace trib::op::api {

using json = web::json::value;

namespace {

using security::acl_operation;
using security::acl_resource;

const std::map<std::string, acl_resource>& resource_types() {
    static const std::map<std::string, acl_resource> m = {{"topic", acl_resource::topic},
                                                          {"group", acl_resource::group},
                                                          {"cluster", acl_resource::cluster},
                                                          {"transactionalId", acl_resource::transactional_id}};
    return m;
}

const std::map<std::string, acl_operation>& operations() {
    static const std::map<std::string, acl_operation> m = {
        {"All", acl_operation::all},
        {"Read", acl_operation::read},
        {"Write", acl_operation::write},
        {"Create", acl_operation::create},
        {"Delete", acl_operation::remove},
        {"Alter", acl_operation::alter},
        {"Describe", acl_operation::describe},
        {"ClusterAction", acl_operation::cluster_action},
        {"DescribeConfigs", acl_operation::describe_configs},
        {"AlterConfigs", acl_operation::alter_configs},
        {"IdempotentWrite", acl_operation::idempotent_write}};
    return m;
}

template<typename Map>
std::string known(const Map& m) {
    std::string out;
    for (const auto& [k, v] : m) {
        out += (out.empty() ? "" : ", ") + k;
    }
    return out;
}

// Reads of one object's optional fields: absent or null leaves the target alone; another JSON
// type leaves it too and is reported with its path.
struct reads {
    std::vector<std::string>& errors;

    const json* get(const json& o, const char* key) const {
        return o.is_object() && o.has_field(key) && !o.at(key).is_null() ? &o.at(key) : nullptr;
    }
    const json* object(const json& o, const char* key, const std::string& path) const {
        const json* v = get(o, key);
        if (v != nullptr && !v->is_object()) {
            errors.push_back(path + " must be an object");
            return nullptr;
        }
        return v;
    }
    void text(const json& o, const char* key, const std::string& path, std::string& out) const {
        if (const json* v = get(o, key)) {
            if (v->is_string()) {
                out = v->as_string();
            } else {
                errors.push_back(path + " must be a string");
            }
        }
    }
    const json* list(const json& o, const char* key, const std::string& path) const {
        const json* v = get(o, key);
        if (v != nullptr && !v->is_array()) {
            errors.push_back(path + " must be a list");
            return nullptr;
        }
        return v;
    }
};

user_acl read_acl(const reads& r, const json& a, const std::string& path) {
    user_acl out;
    if (const json* res = r.object(a, "resource", path + ".resource")) {
        r.text(*res, "type", path + ".resource.type", out.resource_type);
        r.text(*res, "name", path + ".resource.name", out.resource_name);
        r.text(*res, "patternType", path + ".resource.patternType", out.pattern_type);
    }
    if (out.resource_type == "cluster" && out.resource_name.empty()) {
        out.resource_name = std::string(security::cluster_resource_name);
    }
    if (const json* ops = r.list(a, "operations", path + ".operations")) {
        for (size_t i = 0; i < ops->size(); ++i) {
            if (ops->at(i).is_string()) {
                out.operations.push_back(ops->at(i).as_string());
            } else {
                r.errors.push_back(path + ".operations[" + std::to_string(i) + "] must be a string");
            }
        }
    }
    r.text(a, "host", path + ".host", out.host);
    r.text(a, "type", path + ".type", out.type);
    return out;
}

} // namespace

kafka_user parse_kafka_user(const json& obj, std::vector<std::string>& errors) {
    const reads r{errors};
    kafka_user u;
    if (const json* m = r.object(obj, "metadata", "metadata")) {
        r.text(*m, "name", "metadata.name", u.name);
        r.text(*m, "namespace", "metadata.namespace", u.ns);
        r.text(*m, "uid", "metadata.uid", u.uid);
        if (const json* g = r.get(*m, "generation"); g && g->is_integer()) {
            u.generation = g->as_number().to_int64();
        }
        u.deleting = r.get(*m, "deletionTimestamp") != nullptr;
        if (const json* f = r.get(*m, "finalizers"); f && f->is_array()) {
            for (const auto& x : f->as_array()) {
                if (x.is_string()) {
                    u.finalizers.push_back(x.as_string());
                }
            }
        }
        if (const json* l = r.object(*m, "labels", "metadata.labels")) {
            r.text(*l, cluster_label, std::string("metadata.labels.") + cluster_label, u.cluster);
        }
    }
    if (const json* st = r.get(obj, "status"); st && st->is_object()) {
        if (const json* uid = r.get(*st, "credentialSecretUid"); uid && uid->is_string()) {
            u.credential_secret_uid = uid->as_string();
        }
    }
    const json* spec = r.object(obj, "spec", "spec");
    if (spec == nullptr) {
        return u;
    }
    if (const json* a = r.object(*spec, "authentication", "spec.authentication")) {
        // {} is what the CRD's earlier default stored for SCRAM users.
        u.spec.authentication = scram_sha_512;
        r.text(*a, "type", "spec.authentication.type", u.spec.authentication);
    }
    if (const json* z = r.object(*spec, "authorization", "spec.authorization")) {
        u.spec.authorization = true;
        r.text(*z, "type", "spec.authorization.type", u.spec.authorization_type);
        if (const json* acls = r.list(*z, "acls", "spec.authorization.acls")) {
            for (size_t i = 0; i < acls->size(); ++i) {
                const std::string path = "spec.authorization.acls[" + std::to_string(i) + "]";
                if (!acls->at(i).is_object()) {
                    errors.push_back(path + " must be an object");
                    continue;
                }
                u.spec.acls.push_back(read_acl(r, acls->at(i), path));
            }
        }
    }
    return u;
}

std::vector<std::string> validate(const kafka_user& u) {
    std::vector<std::string> out;
    // A Kubernetes name is already a DNS subdomain; SCRAM's user names and certificate CNs
    // take every such name, but a CN is at most 64 characters (RFC 5280's ub-common-name).
    static const std::regex name_re(R"(^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$)");
    if (!std::regex_match(u.name, name_re)) {
        out.push_back("metadata.name '" + u.name +
                      "' must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit");
    }
    if (u.cluster.empty()) {
        out.push_back(std::string("metadata.labels must name the KafkaCluster: ") + cluster_label + ": <cluster>");
    }
    const auto& s = u.spec;
    if (s.authentication == tls_authentication) {
        if (u.name.size() > 64) {
            out.push_back("metadata.name is longer than 64 characters, the limit of a certificate's common name");
        }
    } else if (s.authentication != scram_sha_512 && s.authentication != no_authentication) {
        out.push_back("spec.authentication.type must be scram-sha-512 or tls (not '" + s.authentication +
                      "'); omit spec.authentication for a user that authenticates elsewhere (OAuth)");
    }
    if (s.authorization && s.authorization_type != "simple") {
        out.push_back("spec.authorization.type must be simple (not '" + s.authorization_type + "')");
    }
    for (size_t i = 0; i < s.acls.size(); ++i) {
        const auto& a = s.acls[i];
        const std::string path = "spec.authorization.acls[" + std::to_string(i) + "]";
        if (!resource_types().count(a.resource_type)) {
            out.push_back(path + ".resource.type must be one of " + known(resource_types()) + " (not '" +
                          a.resource_type + "')");
        } else if (a.resource_type == "cluster" && a.resource_name != security::cluster_resource_name) {
            out.push_back(path + ".resource.name of a cluster resource must be kafka-cluster (not '" +
                          a.resource_name + "')");
        } else if (a.resource_name.empty()) {
            out.push_back(path + ".resource.name must not be empty");
        }
        if (a.pattern_type != "literal" && a.pattern_type != "prefix") {
            out.push_back(path + ".resource.patternType must be literal or prefix (not '" + a.pattern_type + "')");
        }
        if (a.operations.empty()) {
            out.push_back(path + ".operations must name at least one operation");
        }
        for (const auto& op : a.operations) {
            if (!operations().count(op)) {
                out.push_back(path + ".operations: unknown operation '" + op + "' (known: " + known(operations()) +
                              ")");
            }
        }
        if (a.host.empty()) {
            out.push_back(path + ".host must not be empty (\"*\" for any host)");
        }
        if (a.type != "allow" && a.type != "deny") {
            out.push_back(path + ".type must be allow or deny (not '" + a.type + "')");
        }
    }
    return out;
}

std::string username(const kafka_user& u) {
    return u.spec.authentication == tls_authentication ? "CN=" + u.name : u.name;
}

std::string principal(const kafka_user& u) { return "User:" + username(u); }

std::vector<security::acl_binding> acl_bindings(const kafka_user& u) {
    std::vector<security::acl_binding> out;
    for (const auto& a : u.spec.acls) {
        for (const auto& op : a.operations) {
            security::acl_binding b;
            b.resource_type = resource_types().at(a.resource_type);
            b.resource_name = a.resource_name;
            b.pattern = a.pattern_type == "prefix" ? security::acl_pattern::prefixed : security::acl_pattern::literal;
            b.principal = principal(u);
            b.host = a.host;
            b.operation = operations().at(op);
            b.permission = a.type == "deny" ? security::acl_permission::deny : security::acl_permission::allow;
            out.push_back(std::move(b));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

json to_json(const kafka_user_status& s) {
    json out = json::object();
    out["observedGeneration"] = json::number(s.observed_generation);
    if (!s.username.empty()) {
        out["username"] = json::string(s.username);
    }
    if (!s.secret.empty()) {
        out["secret"] = json::string(s.secret);
    }
    if (!s.credential_secret_uid.empty()) {
        out["credentialSecretUid"] = json::string(s.credential_secret_uid);
    }
    return out;
}

} // namespace trib::op::api
