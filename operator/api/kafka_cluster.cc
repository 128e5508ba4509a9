#include "operator/api/kafka_cluster.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <tuple>

namespace trib::op::api {

using json = web::json::value;

std::string to_string(listener_type t) {
    switch (t) {
    case listener_type::internal:
        return "internal";
    case listener_type::nodeport:
        return "nodeport";
    case listener_type::loadbalancer:
        return "loadbalancer";
    }
    return "internal";
}

std::string to_string(listener_auth a) {
    switch (a) {
    case listener_auth::none:
        return "";
    case listener_auth::scram_sha_512:
        return "scram-sha-512";
    case listener_auth::tls:
        return "tls";
    case listener_auth::oauth:
        return "oauth";
    }
    return "";
}

std::string listener_spec::kafka_name() const {
    std::string out = name;
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
    return out;
}

namespace {

// Typed reads of optional fields: absent or null keeps the default; a value of another JSON
// type keeps it too and says so in `errors` with the field's path.
class field_reader {
public:
    explicit field_reader(std::vector<std::string>& errors) : _errors(errors) {}

    const json* object(const json& parent, const std::string& key, const std::string& path) {
        const json* v = find(parent, key);
        if (v == nullptr) {
            return nullptr;
        }
        if (!v->is_object()) {
            wrong(path, "an object");
            return nullptr;
        }
        return v;
    }
    void string(const json& parent, const std::string& key, const std::string& path, std::string& out) {
        if (const json* v = find(parent, key)) {
            v->is_string() ? void(out = v->as_string()) : wrong(path, "a string");
        }
    }
    void string(const json& parent, const std::string& key, const std::string& path, std::optional<std::string>& out) {
        if (const json* v = find(parent, key)) {
            v->is_string() ? void(out = v->as_string()) : wrong(path, "a string");
        }
    }
    void integer(const json& parent, const std::string& key, const std::string& path, int32_t& out) {
        if (const json* v = find(parent, key)) {
            v->is_integer() ? void(out = v->as_number().to_int32()) : wrong(path, "an integer");
        }
    }
    void integer(const json& parent, const std::string& key, const std::string& path, std::optional<int32_t>& out) {
        if (const json* v = find(parent, key)) {
            v->is_integer() ? void(out = v->as_number().to_int32()) : wrong(path, "an integer");
        }
    }
    void boolean(const json& parent, const std::string& key, const std::string& path, bool& out) {
        if (const json* v = find(parent, key)) {
            v->is_boolean() ? void(out = v->as_bool()) : wrong(path, "true or false");
        }
    }
    void wrong(const std::string& path, const std::string& what) { _errors.push_back(path + " must be " + what); }

private:
    static const json* find(const json& parent, const std::string& key) {
        if (!parent.is_object() || !parent.has_field(key) || parent.at(key).is_null()) {
            return nullptr;
        }
        return &parent.at(key);
    }
    std::vector<std::string>& _errors;
};

void read_storage(field_reader& f, const json* parent, const std::string& path, storage_spec& out) {
    const json* s = parent ? f.object(*parent, "storage", path) : nullptr;
    if (s == nullptr) {
        return;
    }
    f.string(*s, "size", path + ".size", out.size);
    f.string(*s, "class", path + ".class", out.storage_class);
    f.boolean(*s, "deleteClaim", path + ".deleteClaim", out.delete_claim);
}

void read_resources(field_reader& f, const json* parent, const std::string& path, json& out) {
    if (const json* r = parent ? f.object(*parent, "resources", path + ".resources") : nullptr) {
        out = *r;
    }
}

listener_spec read_listener(field_reader& f, const json& l, const std::string& path) {
    listener_spec out;
    f.string(l, "name", path + ".name", out.name);
    f.integer(l, "port", path + ".port", out.port);
    std::string type = "internal";
    f.string(l, "type", path + ".type", type);
    if (type == "nodeport") {
        out.type = listener_type::nodeport;
    } else if (type == "loadbalancer") {
        out.type = listener_type::loadbalancer;
    } else if (type != "internal") {
        f.wrong(path + ".type", "one of internal, nodeport, loadbalancer (not '" + type + "')");
    }
    f.boolean(l, "tls", path + ".tls", out.tls);
    f.string(l, "advertisedHost", path + ".advertisedHost", out.advertised_host);
    if (const json* a = f.object(l, "authentication", path + ".authentication")) {
        std::string t;
        f.string(*a, "type", path + ".authentication.type", t);
        if (t == "scram-sha-512") {
            out.authentication = listener_auth::scram_sha_512;
        } else if (t == "tls") {
            out.authentication = listener_auth::tls;
        } else if (t == "oauth") {
            out.authentication = listener_auth::oauth;
            const std::string p = path + ".authentication";
            f.string(*a, "jwksEndpointUri", p + ".jwksEndpointUri", out.oauth.jwks_endpoint_uri);
            if (const json* cm = f.object(*a, "jwksConfigMap", p + ".jwksConfigMap")) {
                out.oauth.jwks_config_map.emplace();
                f.string(*cm, "name", p + ".jwksConfigMap.name", *out.oauth.jwks_config_map);
                f.string(*cm, "key", p + ".jwksConfigMap.key", out.oauth.jwks_key);
            }
            f.integer(*a, "jwksRefreshSeconds", p + ".jwksRefreshSeconds", out.oauth.jwks_refresh_seconds);
            f.integer(*a, "jwksMinRefreshPauseSeconds", p + ".jwksMinRefreshPauseSeconds",
                      out.oauth.jwks_min_refresh_pause_seconds);
            f.integer(*a, "jwksRetryBackoffMaxSeconds", p + ".jwksRetryBackoffMaxSeconds",
                      out.oauth.jwks_retry_backoff_max_seconds);
            if (a->has_field("tlsTrustedCertificates") && !a->at("tlsTrustedCertificates").is_null()) {
                const json& certs = a->at("tlsTrustedCertificates");
                if (!certs.is_array()) {
                    f.wrong(p + ".tlsTrustedCertificates", "a list");
                }
                for (size_t i = 0; certs.is_array() && i < certs.size(); ++i) {
                    const std::string cp = p + ".tlsTrustedCertificates[" + std::to_string(i) + "]";
                    if (!certs.at(i).is_object()) {
                        f.wrong(cp, "an object");
                        continue;
                    }
                    trusted_certificate t;
                    f.string(certs.at(i), "secretName", cp + ".secretName", t.secret_name);
                    f.string(certs.at(i), "certificate", cp + ".certificate", t.certificate);
                    out.oauth.tls_trusted_certificates.push_back(std::move(t));
                }
            }
            f.string(*a, "validIssuer", p + ".validIssuer", out.oauth.valid_issuer);
            f.string(*a, "userNameClaim", p + ".userNameClaim", out.oauth.user_name_claim);
            if (a->has_field("audience") && !a->at("audience").is_null()) {
                const json& aud = a->at("audience");
                if (!aud.is_array()) {
                    f.wrong(p + ".audience", "a list");
                } else {
                    for (size_t i = 0; i < aud.size(); ++i) {
                        aud.at(i).is_string() ? out.oauth.audience.push_back(aud.at(i).as_string())
                                              : f.wrong(p + ".audience[" + std::to_string(i) + "]", "a string");
                    }
                }
            }
        } else {
            f.wrong(path + ".authentication.type", "scram-sha-512, tls or oauth (not '" + t + "')");
        }
    }
    return out;
}

} // namespace

kafka_cluster parse_kafka_cluster(const json& obj, std::vector<std::string>& errors) {
    field_reader f(errors);
    kafka_cluster c;
    if (const json* m = f.object(obj, "metadata", "metadata")) {
        f.string(*m, "name", "metadata.name", c.name);
        f.string(*m, "namespace", "metadata.namespace", c.ns);
        f.string(*m, "uid", "metadata.uid", c.uid);
        if (m->has_field("generation") && m->at("generation").is_integer()) {
            c.generation = m->at("generation").as_number().to_int64();
        }
        c.deleting = m->has_field("deletionTimestamp") && !m->at("deletionTimestamp").is_null();
        if (m->has_array_field("finalizers")) {
            for (const auto& x : m->at("finalizers").as_array()) {
                if (x.is_string()) {
                    c.finalizers.push_back(x.as_string());
                }
            }
        }
    }
    auto& s = c.spec;
    const json empty = json::object();
    const json* spec = f.object(obj, "spec", "spec");
    if (spec == nullptr) {
        spec = &empty;
    }
    f.string(*spec, "image", "spec.image", s.image);
    f.string(*spec, "version", "spec.version", s.version);

    const json* co = f.object(*spec, "coordinators", "spec.coordinators");
    if (co != nullptr) {
        f.integer(*co, "replicas", "spec.coordinators.replicas", s.coordinators.replicas);
    }
    read_storage(f, co, "spec.coordinators.storage", s.coordinators.storage);
    read_resources(f, co, "spec.coordinators", s.coordinators.resources);

    const json* br = f.object(*spec, "brokers", "spec.brokers");
    if (br != nullptr) {
        f.integer(*br, "replicas", "spec.brokers.replicas", s.brokers.replicas);
        if (const json* rack = f.object(*br, "rack", "spec.brokers.rack")) {
            std::string key;
            f.string(*rack, "topologyKey", "spec.brokers.rack.topologyKey", key);
            s.brokers.rack_topology_key = key;
        }
        if (br->has_field("drainedIds") && !br->at("drainedIds").is_null()) {
            const json& ids = br->at("drainedIds");
            for (size_t i = 0; ids.is_array() && i < ids.size(); ++i) {
                if (ids.at(i).is_integer()) {
                    s.brokers.drained_ids.push_back(ids.at(i).as_number().to_int32());
                } else {
                    f.wrong("spec.brokers.drainedIds[" + std::to_string(i) + "]", "an integer");
                }
            }
            if (!ids.is_array()) {
                f.wrong("spec.brokers.drainedIds", "a list of broker ids");
            }
        }
        if (const json* cfg = f.object(*br, "config", "spec.brokers.config")) {
            for (const auto& [k, v] : cfg->as_object()) {
                if (v.is_string()) {
                    s.brokers.config[k] = v.as_string();
                } else if (v.is_number() || v.is_boolean()) {
                    // A YAML author's `num.partitions: 3` arrives as a number; the meaning is plain.
                    s.brokers.config[k] = v.serialize();
                } else {
                    f.wrong("spec.brokers.config." + k, "a string");
                }
            }
        }
    }
    read_storage(f, br, "spec.brokers.storage", s.brokers.storage);
    read_resources(f, br, "spec.brokers", s.brokers.resources);

    if (spec->has_field("listeners") && !spec->at("listeners").is_null()) {
        const json& ls = spec->at("listeners");
        if (!ls.is_array()) {
            f.wrong("spec.listeners", "a list");
        } else {
            for (size_t i = 0; i < ls.size(); ++i) {
                const std::string path = "spec.listeners[" + std::to_string(i) + "]";
                if (!ls.at(i).is_object()) {
                    f.wrong(path, "an object");
                    continue;
                }
                s.listeners.push_back(read_listener(f, ls.at(i), path));
            }
        }
    } else {
        listener_spec plain;  // the CRD's default: [{plain, 9092, internal}]
        plain.name = "plain";
        plain.port = 9092;
        s.listeners.push_back(std::move(plain));
    }
    if (const json* m = f.object(*spec, "metrics", "spec.metrics")) {
        f.boolean(*m, "enabled", "spec.metrics.enabled", s.metrics_enabled);
    }
    if (const json* b = f.object(*spec, "balancing", "spec.balancing")) {
        f.boolean(*b, "onScaleUp", "spec.balancing.onScaleUp", s.balancing.on_scale_up);
        f.integer(*b, "maxMovesInFlight", "spec.balancing.maxMovesInFlight", s.balancing.max_moves_in_flight);
    }
    if (const json* c = f.object(*spec, "certificateAuthority", "spec.certificateAuthority")) {
        f.integer(*c, "validityDays", "spec.certificateAuthority.validityDays", s.certificate_authority.validity_days);
        f.integer(*c, "renewalDays", "spec.certificateAuthority.renewalDays", s.certificate_authority.renewal_days);
        if (const json* m = f.object(*c, "certManager", "spec.certificateAuthority.certManager")) {
            issuer_ref ref;
            if (const json* r = f.object(*m, "issuerRef", "spec.certificateAuthority.certManager.issuerRef")) {
                f.string(*r, "name", "spec.certificateAuthority.certManager.issuerRef.name", ref.name);
                f.string(*r, "kind", "spec.certificateAuthority.certManager.issuerRef.kind", ref.kind);
                f.string(*r, "group", "spec.certificateAuthority.certManager.issuerRef.group", ref.group);
            }
            s.certificate_authority.cert_manager = std::move(ref);
        }
    }
    if (const json* a = f.object(*spec, "authorization", "spec.authorization")) {
        std::string type = "simple";
        f.string(*a, "type", "spec.authorization.type", type);
        if (type != "simple") {
            f.wrong("spec.authorization.type", "simple (not '" + type + "')");
        }
        authorization_spec az;
        if (a->has_field("superUsers") && !a->at("superUsers").is_null()) {
            const json& su = a->at("superUsers");
            if (!su.is_array()) {
                f.wrong("spec.authorization.superUsers", "a list");
            } else {
                for (size_t i = 0; i < su.size(); ++i) {
                    su.at(i).is_string()
                        ? az.super_users.push_back(su.at(i).as_string())
                        : f.wrong("spec.authorization.superUsers[" + std::to_string(i) + "]", "a string");
                }
            }
        }
        s.authorization = std::move(az);
    }
    return c;
}

namespace {

bool operator_owned_key(const std::string& k) {
    static const std::set<std::string> keys = {"node.id",
                                               "broker.id",
                                               "listeners",
                                               "advertised.listeners",
                                               "listener.security.protocol.map",
                                               "inter.broker.listener.name",
                                               "log.dirs",
                                               "log.dir",
                                               "process.roles",
                                               "authorizer.class.name",
                                               "super.users",
                                               "sasl.oauthbearer.jwks.endpoint.url",
                                               "sasl.oauthbearer.expected.issuer",
                                               "sasl.oauthbearer.expected.audience",
                                               "sasl.oauthbearer.sub.claim.name"};
    if (keys.count(k) > 0 || k.rfind("controller.", 0) == 0) {
        return true;
    }
    // listener.name.<l>.: the keystores, truststores, client authentication and SASL
    // mechanisms follow spec.listeners (other per-listener keys, cipher suites for instance,
    // are the user's).
    static const std::regex listener_owned(
        R"(^listener\.name\.[^.]+\.(ssl\.keystore\..*|ssl\.truststore\..*|ssl\.client\.auth|sasl\.enabled\.mechanisms|oauthbearer\..*)$)");
    return std::regex_match(k, listener_owned);
}

// The API server's quantity grammar, the forms people write: 10Gi, 500M, 1.5Ti, 1e9.
bool is_quantity(const std::string& q) {
    static const std::regex re(R"(^[0-9]+(\.[0-9]+)?([KMGTPE]i|[kMGTPE]|[eE][0-9]+)?$)");
    return std::regex_match(q, re);
}

void validate_storage(const storage_spec& s, const std::string& path, std::vector<std::string>& out) {
    if (!is_quantity(s.size)) {
        out.push_back(path + ".size '" + s.size + "' is not a quantity such as 10Gi");
    }
    if (s.storage_class && s.storage_class->empty()) {
        out.push_back(path + ".class must not be empty (leave it out for the default StorageClass)");
    }
}

void validate_host_template(const std::string& t, const std::string& path, std::vector<std::string>& out) {
    static const std::set<std::string> tokens = {"{podIP}", "{podName}", "{nodeIP}", "{id}"};
    if (t.empty()) {
        out.push_back(path + " must not be empty");
        return;
    }
    for (size_t open = t.find('{'); open != std::string::npos; open = t.find('{', open + 1)) {
        size_t close = t.find('}', open);
        std::string token = close == std::string::npos ? t.substr(open) : t.substr(open, close - open + 1);
        if (!tokens.count(token)) {
            out.push_back(path + ": unknown token " + token + " (known: {podIP}, {podName}, {nodeIP}, {id})");
        }
    }
}

// authentication: {type: oauth}: where the keys come from (one place), how often they are
// fetched, whom the fetch trusts.
void validate_oauth(const oauth_spec& o, const std::map<std::string, std::string>& config, const std::string& path,
                    std::vector<std::string>& out) {
    // Object names (DNS subdomains) and ConfigMap/Secret keys.
    static const std::regex object_name("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$");
    static const std::regex data_key("^[-._a-zA-Z0-9]{1,253}$");
    if (o.jwks_endpoint_uri.has_value() == o.jwks_config_map.has_value()) {
        out.push_back(path + " needs exactly one of jwksEndpointUri (the identity provider's JWKS endpoint) and "
                             "jwksConfigMap (a ConfigMap holding its JWKS)");
    }
    if (o.jwks_endpoint_uri) {
        // The broker's URL grammar (broker/http_url.h) checks the rest; no spaces, so the
        // value stays one property.
        static const std::regex uri("^https?://[^/\\s?#]+[^\\s]*$");
        if (!std::regex_match(*o.jwks_endpoint_uri, uri)) {
            out.push_back(path + ".jwksEndpointUri '" + *o.jwks_endpoint_uri +
                          "' must be an https:// or http:// URL (no spaces)");
        }
    }
    if (o.jwks_config_map) {
        if (!std::regex_match(*o.jwks_config_map, object_name)) {
            out.push_back(path + ".jwksConfigMap.name '" + *o.jwks_config_map +
                          "' must name a ConfigMap holding the identity provider's JWKS");
        }
        if (!std::regex_match(o.jwks_key, data_key)) {
            out.push_back(path + ".jwksConfigMap.key '" + o.jwks_key + "' is not a ConfigMap key");
        }
    }
    // Each field, its least value, its broker key, and whether it needs the endpoint (a file has
    // no fetch to back off). A pause of 0 would make the broker retry a failing fetch at once,
    // again and again, for the whole backoff.
    const std::tuple<const char*, const std::optional<int32_t>&, int32_t, const char*, bool> timings[] = {
        {"jwksRefreshSeconds", o.jwks_refresh_seconds, 1, "sasl.oauthbearer.jwks.endpoint.refresh.ms", false},
        {"jwksMinRefreshPauseSeconds", o.jwks_min_refresh_pause_seconds, 1,
         "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", true},
        {"jwksRetryBackoffMaxSeconds", o.jwks_retry_backoff_max_seconds, 0,
         "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", true}};
    for (const auto& [field, value, least, key, endpoint_only] : timings) {
        if (!value) {
            continue;
        }
        if (*value < least) {
            out.push_back(path + "." + field + " must be at least " + std::to_string(least) + ", not " +
                          std::to_string(*value));
        }
        if (endpoint_only && o.jwks_config_map) {
            out.push_back(path + "." + field + " applies to jwksEndpointUri (a JWKS file is not fetched)");
        }
        if (config.count(key) > 0) {
            out.push_back(std::string("spec.brokers.config.") + key + " and " + path + "." + field +
                          " set the same thing: keep one");
        }
    }
    if (!o.tls_trusted_certificates.empty() &&
        !(o.jwks_endpoint_uri && o.jwks_endpoint_uri->rfind("https://", 0) == 0)) {
        out.push_back(path + ".tlsTrustedCertificates applies to an https:// jwksEndpointUri");
    }
    if (o.tls_trusted_certificates.size() > 1) {
        out.push_back(path + ".tlsTrustedCertificates takes one entry (the broker reads one truststore file): put "
                             "several CA certificates in one PEM bundle");
    }
    for (size_t i = 0; i < o.tls_trusted_certificates.size(); ++i) {
        const auto& t = o.tls_trusted_certificates[i];
        const std::string tp = path + ".tlsTrustedCertificates[" + std::to_string(i) + "]";
        if (!std::regex_match(t.secret_name, object_name)) {
            out.push_back(tp + ".secretName '" + t.secret_name + "' must name a Secret holding the CA certificate");
        }
        if (!std::regex_match(t.certificate, data_key)) {
            out.push_back(tp + ".certificate '" + t.certificate + "' is not a Secret key");
        }
    }
    if (o.user_name_claim.empty()) {
        out.push_back(path + ".userNameClaim must name a claim");
    }
}

} // namespace

std::vector<std::string> validate(const kafka_cluster_spec& s) {
    std::vector<std::string> out;
    if (s.image && s.image->empty()) {
        out.push_back("spec.image must not be empty");
    }
    if (s.version && s.version->empty()) {
        out.push_back("spec.version must not be empty");
    }
    const int32_t cr = s.coordinators.replicas;
    if (cr != 1 && cr != 3 && cr != 5) {
        out.push_back("spec.coordinators.replicas must be 1, 3 or 5, not " + std::to_string(cr));
    }
    validate_storage(s.coordinators.storage, "spec.coordinators.storage", out);
    if (s.brokers.replicas < 1) {
        out.push_back("spec.brokers.replicas must be at least 1, not " + std::to_string(s.brokers.replicas));
    }
    validate_storage(s.brokers.storage, "spec.brokers.storage", out);
    std::set<int32_t> drained;
    for (int32_t id : s.brokers.drained_ids) {
        if (id < 0) {
            out.push_back("spec.brokers.drainedIds: " + std::to_string(id) + " is not a broker id");
        } else if (!drained.insert(id).second) {
            out.push_back("spec.brokers.drainedIds names broker " + std::to_string(id) + " twice");
        }
    }
    if (s.brokers.replicas >= 1 &&
        int32_t(std::count_if(drained.begin(), drained.end(), [&](int32_t id) { return id < s.brokers.replicas; })) >=
            s.brokers.replicas) {
        out.push_back("spec.brokers.drainedIds drains every broker: at least one must hold the data");
    }
    if (s.brokers.rack_topology_key && s.brokers.rack_topology_key->empty()) {
        out.push_back("spec.brokers.rack.topologyKey must name a node label, e.g. topology.kubernetes.io/zone");
    }
    for (const auto& [k, v] : s.brokers.config) {
        if (operator_owned_key(k)) {
            out.push_back("spec.brokers.config." + k +
                          ": node.id, broker.id, listeners, advertised.listeners, listener.security.protocol.map, "
                          "inter.broker.listener.name, listeners' keystores, truststores, ssl.client.auth and "
                          "sasl.enabled.mechanisms, sasl.oauthbearer.* of an oauth listener, log.dir(s), process.roles and "
                          "controller.* are set by the operator; authorizer.class.name and super.users by spec.authorization");
        }
        if (k.empty() || k.find_first_of("=:\n\r ") != std::string::npos || v.find_first_of("\n\r") != std::string::npos) {
            out.push_back("spec.brokers.config: '" + k + "' is not a property name with a one-line value");
        }
    }

    if (s.balancing.max_moves_in_flight < 1 || s.balancing.max_moves_in_flight > 1000) {
        out.push_back("spec.balancing.maxMovesInFlight must be within 1..1000, not " +
                      std::to_string(s.balancing.max_moves_in_flight));
    }

    const auto& ca = s.certificate_authority;
    if (ca.validity_days < 1 || ca.validity_days > 36500) {
        out.push_back("spec.certificateAuthority.validityDays must be within 1..36500, not " +
                      std::to_string(ca.validity_days));
    }
    if (ca.renewal_days < 1 || ca.renewal_days >= ca.validity_days) {
        out.push_back("spec.certificateAuthority.renewalDays must be at least 1 and less than validityDays (" +
                      std::to_string(ca.validity_days) + "), not " + std::to_string(ca.renewal_days));
    }

    if (const auto& cm = ca.cert_manager) {
        if (cm->name.empty()) {
            out.push_back("spec.certificateAuthority.certManager.issuerRef.name must name a cert-manager issuer");
        }
        if (cm->kind != "Issuer" && cm->kind != "ClusterIssuer") {
            out.push_back("spec.certificateAuthority.certManager.issuerRef.kind must be Issuer or ClusterIssuer, not '" +
                          cm->kind + "'");
        }
        if (cm->group != "cert-manager.io") {
            out.push_back("spec.certificateAuthority.certManager.issuerRef.group must be cert-manager.io, not '" +
                          cm->group + "'");
        }
    }

    if (s.listeners.empty()) {
        out.push_back("spec.listeners needs at least one listener");
    }
    if (s.listeners.size() > 8) {
        out.push_back("spec.listeners has " + std::to_string(s.listeners.size()) + " listeners; at most 8");
    }
    static const std::regex name_re("^[a-z][a-z0-9]{0,24}$");
    std::set<std::string> names;
    std::set<int32_t> ports;
    int oauth_listeners = 0;
    for (size_t i = 0; i < s.listeners.size(); ++i) {
        const auto& l = s.listeners[i];
        const std::string path = "spec.listeners[" + std::to_string(i) + "]";
        if (!std::regex_match(l.name, name_re)) {
            out.push_back(path + ".name '" + l.name +
                          "' must start with a lower-case letter and have only lower-case letters and digits "
                          "(at most 25)");
        } else if (l.name == "replication" || l.name == "http") {
            out.push_back(path + ".name '" + l.name + "' is taken by the operator's own port of that name");
        } else if (!names.insert(l.name).second) {
            out.push_back(path + ".name '" + l.name + "' is used twice");
        }
        if (l.port < 1024 || l.port > 65535) {
            out.push_back(path + ".port " + std::to_string(l.port) + " is outside 1024..65535");
        } else if (l.port == replication_port || l.port == coordinator_port || l.port == http_port) {
            out.push_back(path + ".port " + std::to_string(l.port) +
                          " is reserved (9091 replication, 9093 coordinator, 9644 http)");
        } else if (!ports.insert(l.port).second) {
            out.push_back(path + ".port " + std::to_string(l.port) + " is used by another listener");
        }
        if (l.advertised_host) {
            validate_host_template(*l.advertised_host, path + ".advertisedHost", out);
        }
        if (l.authentication == listener_auth::tls && !l.tls) {
            out.push_back(path + ".authentication.type tls needs tls: true (client certificates are checked in the "
                                 "TLS handshake)");
        }
        if (l.authentication == listener_auth::oauth) {
            validate_oauth(l.oauth, s.brokers.config, path + ".authentication", out);
            if (++oauth_listeners == 2) {
                out.push_back(path + ".authentication: one listener may use oauth (the brokers check tokens one way)");
            }
        }
    }
    if (s.authorization) {
        static const std::regex principal_re("^User:.+$");
        for (size_t i = 0; i < s.authorization->super_users.size(); ++i) {
            const auto& u = s.authorization->super_users[i];
            if (!std::regex_match(u, principal_re) || u.find(';') != std::string::npos) {
                out.push_back("spec.authorization.superUsers[" + std::to_string(i) + "] '" + u +
                              "' must be a principal such as User:admin (no ';')");
            }
        }
    }
    return out;
}

// --- status ---

namespace {

json str(const std::string& s) { return json::string(s); }

} // namespace

json to_json(const kafka_cluster_status& s) {
    json out = json::object();
    out["observedGeneration"] = json::number(s.observed_generation);
    out["replicas"] = json::number(s.replicas);
    out["selector"] = str(s.selector);
    if (!s.cluster_id.empty()) {
        out["clusterId"] = str(s.cluster_id);
    }
    std::vector<json> brokers;
    for (const auto& b : s.brokers) {
        json j = json::object();
        j["id"] = json::number(b.id);
        j["pod"] = str(b.pod);
        j["state"] = str(b.state);
        if (!b.rack.empty()) {
            j["rack"] = str(b.rack);
        }
        std::vector<json> addrs;
        for (const auto& a : b.addresses) {
            json x = json::object();
            x["listener"] = str(a.listener);
            x["host"] = str(a.host);
            x["port"] = json::number(a.port);
            addrs.push_back(x);
        }
        j["addresses"] = json::array(addrs);
        if (b.restarts > 0) {
            j["restarts"] = json::number(b.restarts);
        }
        if (!b.last_termination.empty()) {
            j["lastTermination"] = str(b.last_termination);
        }
        brokers.push_back(j);
    }
    out["brokers"] = json::array(brokers);
    std::vector<json> listeners;
    for (const auto& l : s.listeners) {
        json j = json::object();
        j["name"] = str(l.name);
        j["type"] = str(l.type);
        j["bootstrapServers"] = str(l.bootstrap_servers);
        listeners.push_back(j);
    }
    out["listeners"] = json::array(listeners);
    json co = json::object();
    co["replicas"] = json::number(s.coordinator_replicas);
    co["ready"] = json::number(s.coordinators_ready);
    out["coordinators"] = co;
    if (s.quorum) {
        const auto& q = *s.quorum;
        json j = json::object();
        j["leaderId"] = json::number(q.leader);
        j["leaderEpoch"] = json::number(q.epoch);
        std::vector<json> ids;
        for (auto id : q.voters) {
            ids.push_back(json::number(id));
        }
        j["voters"] = json::array(ids);
        if (!q.change.empty()) {
            j["change"] = str(q.change);
        }
        if (!q.message.empty()) {
            j["message"] = str(q.message);
        }
        out["quorum"] = j;
    }
    if (s.balance) {
        const auto& b = *s.balance;
        json j = json::object();
        j["state"] = str(b.state);
        j["movesPlanned"] = json::number(b.moves_planned);
        j["movesInFlight"] = json::number(b.moves_in_flight);
        j["movesDone"] = json::number(b.moves_done);
        if (!b.last_balanced_time.empty()) {
            j["lastBalancedTime"] = str(b.last_balanced_time);
        }
        std::vector<json> ids;
        for (auto id : b.brokers) {
            ids.push_back(json::number(id));
        }
        j["brokers"] = json::array(ids);
        if (!b.in_flight.empty()) {
            std::vector<json> names;
            for (const auto& n : b.in_flight) {
                names.push_back(str(n));
            }
            j["inFlight"] = json::array(names);
        }
        if (!b.message.empty()) {
            j["message"] = str(b.message);
        }
        out["balance"] = j;
    }
    if (const auto& r = s.rolling_update) {
        json j = json::object();
        j["component"] = str(r->component);
        std::vector<json> pending;
        for (const auto& pod : r->pending) {
            pending.push_back(str(pod));
        }
        j["pending"] = json::array(pending);
        if (!r->restarting.empty()) {
            j["restarting"] = str(r->restarting);
            j["reason"] = str(r->reason);
        }
        if (!r->message.empty()) {
            j["message"] = str(r->message);
        }
        j["blocked"] = json::boolean(r->blocked);
        if (!r->partitions_below_min_isr.empty()) {
            std::vector<json> below;
            for (const auto& p : r->partitions_below_min_isr) {
                below.push_back(str(p));
            }
            j["partitionsBelowMinIsr"] = json::array(below);
        }
        out["rollingUpdate"] = j;
    }
    if (!s.dynamic_broker_config.empty()) {
        json d = json::object();
        for (const auto& [k, v] : s.dynamic_broker_config) {
            d[k] = str(v);
        }
        out["dynamicBrokerConfig"] = d;
    }
    if (!s.drains.empty()) {
        std::vector<json> drains;
        for (const auto& d : s.drains) {
            json j = json::object();
            j["id"] = json::number(d.id);
            j["state"] = str(d.state);
            j["replicas"] = json::number(d.replicas);
            j["leaders"] = json::number(d.leaders);
            j["movesInFlight"] = json::number(d.moves_in_flight);
            if (!d.stuck.empty()) {
                std::vector<json> stuck;
                for (const auto& why : d.stuck) {
                    stuck.push_back(str(why));
                }
                j["stuck"] = json::array(stuck);
            }
            drains.push_back(j);
        }
        out["drains"] = json::array(drains);
    }
    if (s.cluster_ca || s.clients_ca) {
        json cas = json::object();
        for (const auto& [key, c] : {std::pair{"cluster", &s.cluster_ca}, std::pair{"clients", &s.clients_ca}}) {
            if (*c) {
                json j = json::object();
                j["phase"] = str((*c)->phase);
                j["notAfter"] = str((*c)->not_after);
                if (!(*c)->previous_not_after.empty()) {
                    j["previousNotAfter"] = str((*c)->previous_not_after);
                }
                cas[key] = j;
            }
        }
        out["certificateAuthority"] = cas;
    }
    return out;
}

std::optional<balance_status> parse_balance_status(const json& status) {
    if (!status.is_object() || !status.has_object_field("balance")) {
        return std::nullopt;
    }
    const json& j = status.at("balance");
    balance_status b;
    auto text = [&](const char* k) { return j.has_string_field(k) ? j.at(k).as_string() : std::string(); };
    auto count = [&](const char* k) { return j.has_number_field(k) ? j.at(k).as_number().to_int32() : 0; };
    b.state = text("state");
    b.moves_planned = count("movesPlanned");
    b.moves_in_flight = count("movesInFlight");
    b.moves_done = count("movesDone");
    b.last_balanced_time = text("lastBalancedTime");
    b.message = text("message");
    if (j.has_array_field("brokers")) {
        for (const auto& id : j.at("brokers").as_array()) {
            if (id.is_integer()) {
                b.brokers.push_back(id.as_number().to_int32());
            }
        }
    }
    if (j.has_array_field("inFlight")) {
        for (const auto& n : j.at("inFlight").as_array()) {
            if (n.is_string()) {
                b.in_flight.push_back(n.as_string());
            }
        }
    }
    return b;
}

std::vector<drain_status> parse_drains(const json& status) {
    std::vector<drain_status> out;
    if (!status.is_object() || !status.has_array_field("drains")) {
        return out;
    }
    for (const auto& j : status.at("drains").as_array()) {
        if (!j.is_object() || !j.has_number_field("id") || !j.has_string_field("state")) {
            continue;
        }
        auto count = [&](const char* k) { return j.has_number_field(k) ? j.at(k).as_number().to_int32() : 0; };
        drain_status d;
        d.id = count("id");
        d.state = j.at("state").as_string();
        d.replicas = count("replicas");
        d.leaders = count("leaders");
        d.moves_in_flight = count("movesInFlight");
        if (j.has_array_field("stuck")) {
            for (const auto& why : j.at("stuck").as_array()) {
                if (why.is_string()) {
                    d.stuck.push_back(why.as_string());
                }
            }
        }
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace trib::op::api
