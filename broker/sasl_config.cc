#include "broker/sasl_config.h"

#include "broker/jwks_https.h"
#include "security/jaas.h"

#include <algorithm>
#include <cctype>

namespace trib::broker {

namespace {

constexpr std::string_view oauth_handler_key = "oauthbearer.sasl.server.callback.handler.class";
constexpr std::string_view oauth_validator_class =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// Whom the JWKS client trusts: as Kafka, the ssl.* options of the OAUTHBEARER listeners' JAAS
// entries (listener.name.<l>.oauthbearer.sasl.jaas.config ... ssl.truststore.location="...";),
// PEM only; none given: the system's CAs. One fetcher serves every listener, so listeners that
// give these options must give the same.
std::shared_ptr<net::tls_source> jwks_tls(const std::map<std::string, std::string>& per_listener,
                                          const std::vector<std::string>& oauth_listeners, bool& verify_host) {
    static constexpr std::string_view read[] = {
        "ssl.truststore.location", "ssl.truststore.certificates", "ssl.keystore.location",
        "ssl.keystore.key",        "ssl.keystore.certificate.chain", "ssl.key.password",
        "ssl.endpoint.identification.algorithm", "ssl.enabled.protocols", "ssl.cipher.suites"};
    std::map<std::string, std::string, std::less<>> chosen;
    std::string from;  // the key the options came from
    for (const auto& l : oauth_listeners) {
        const std::string key = "listener.name." + lower(l) + ".oauthbearer.sasl.jaas.config";
        auto it = per_listener.find(key);
        if (it == per_listener.end()) {
            continue;
        }
        auto e = security::parse_jaas(it->second);
        if (!e) {
            throw config::config_error(key + ": " + e.error());
        }
        std::map<std::string, std::string, std::less<>> ssl;
        for (const auto& [k, value] : e.value().options) {
            if (!k.starts_with("ssl.")) {
                continue;
            }
            if ((k == "ssl.truststore.type" || k == "ssl.keystore.type") && value != "PEM") {
                throw config::config_error(key + ": " + k + "=" + value +
                                           " is not served: only PEM stores (ssl.truststore.location of a PEM "
                                           "file, or ssl.truststore.certificates)");
            }
            if (std::find(std::begin(read), std::end(read), k) != std::end(read)) {
                ssl[k] = value;
            }
        }
        if (!from.empty() && ssl != chosen) {
            throw config::config_error(key + ": its ssl.* options for the JWKS endpoint differ from those of " + from +
                                       " (one JWKS client serves every listener)");
        }
        chosen = std::move(ssl);
        from = key;
    }
    net::tls_settings t;
    t.listener = "the JWKS endpoint";
    auto opt = [&](std::string_view k) -> std::optional<std::string> {
        t.key_names[std::string(k)] = (from.empty() ? "listener.name.<l>.oauthbearer.sasl.jaas.config" : from) +
                                      " option " + std::string(k);
        auto it = chosen.find(k);
        return it == chosen.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    using store = std::optional<std::string> net::tls_settings::*;
    static constexpr std::pair<std::string_view, store> stores[] = {
        {"ssl.truststore.location", &net::tls_settings::truststore_location},
        {"ssl.truststore.certificates", &net::tls_settings::truststore_certificates},
        {"ssl.keystore.location", &net::tls_settings::keystore_location},
        {"ssl.keystore.key", &net::tls_settings::keystore_key},
        {"ssl.keystore.certificate.chain", &net::tls_settings::keystore_chain},
        {"ssl.key.password", &net::tls_settings::key_password}};
    for (const auto& [k, member] : stores) {
        t.*member = opt(k);
    }
    if (auto p = opt("ssl.enabled.protocols")) {
        t.protocols = config::split_list(*p);
    }
    if (auto c = opt("ssl.cipher.suites")) {
        t.cipher_suites = config::split_list(*c);
    }
    verify_host = t.verify_peer_host = opt("ssl.endpoint.identification.algorithm").value_or("https") == "https";
    if (t.truststore_location && t.truststore_certificates) {
        throw config::config_error(t.name_of("ssl.truststore.location") +
                                   ": give either the truststore file or ssl.truststore.certificates, not both");
    }
    return std::make_shared<net::tls_source>(std::move(t), net::tls_role::client);
}

// The issuer's keys (a JWKS file, or its https: or http: endpoint) and the claim rules.
void load_oauth(const config::values& v, const std::map<std::string, std::string>& per_listener,
                const std::vector<std::string>& oauth_listeners, sasl_config& out) {
    const std::string key = "sasl.oauthbearer.jwks.endpoint.url";
    if (!v.has(key)) {
        throw config::config_error(key + ": OAUTHBEARER is enabled and needs the issuer's keys: "
                                   "https://<the issuer's JWKS endpoint> or file:<path of a JWKS file>");
    }
    // The claim rules first: a mistake there is reported before any fetch.
    out.oauth_rules.clock_skew = std::chrono::seconds(v.get_int32("sasl.oauthbearer.clock.skew.seconds"));
    out.oauth_rules.sub_claim = v.get_string("sasl.oauthbearer.sub.claim.name");
    if (out.oauth_rules.sub_claim.empty()) {
        throw config::config_error("sasl.oauthbearer.sub.claim.name: must name a claim");
    }
    out.oauth_rules.scope_claim = v.get_string("sasl.oauthbearer.scope.claim.name");
    if (out.oauth_rules.scope_claim.empty()) {
        throw config::config_error("sasl.oauthbearer.scope.claim.name: must name a claim");
    }
    if (v.has("sasl.oauthbearer.expected.audience")) {
        out.oauth_rules.audience = v.get_list("sasl.oauthbearer.expected.audience");
    }
    if (v.has("sasl.oauthbearer.expected.issuer")) {
        out.oauth_rules.issuer = v.get_string("sasl.oauthbearer.expected.issuer");
    }
    const std::string url = v.get_string(key);
    const auto refresh = std::chrono::milliseconds(v.get_int64("sasl.oauthbearer.jwks.endpoint.refresh.ms"));
    const std::string scheme = lower(url.substr(0, url.find(':')));
    if (scheme == "https" || scheme == "http") {
        jwks_https::options o;
        o.url = url;
        o.refresh = refresh;
        o.retry_backoff = std::chrono::milliseconds(v.get_int64("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms"));
        o.retry_backoff_max =
            std::chrono::milliseconds(v.get_int64("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms"));
        if (scheme == "https") {
            o.tls = jwks_tls(per_listener, oauth_listeners, o.verify_host);
        }
        out.oauth_keys = std::make_shared<jwks_https>(std::move(o), key);
    } else if (scheme == "file") {
        // file:/p, file:///p and file://localhost/p all name /p.
        std::string path = url.substr(5);
        if (path.starts_with("//")) {
            path = path.substr(2);
            if (path.starts_with("localhost/")) {
                path = path.substr(9);
            } else if (!path.starts_with("/")) {
                throw config::config_error(key + ": a file: URL names a file on this machine (file:///path), not '" +
                                           url + "'");
            }
        }
        if (path.empty()) {
            throw config::config_error(key + ": '" + url + "' names no file");
        }
        out.oauth_keys = std::make_shared<jwks_file>(path, key, refresh);
    } else {
        throw config::config_error(key + ": expected an https:, http: or file: URL, not '" + url + "'");
    }
}

} // namespace

std::optional<security::scram_credential> sasl_config::scram_credential(security::scram_algorithm a,
                                                                         const std::string& user) const {
    auto it = scram.find({a, user});
    if (it == scram.end()) {
        return std::nullopt;
    }
    return it->second;
}

void add_sasl_keys(config::schema& s) {
    security::add_listener_sasl_keys(s);
    s.add(config::key_spec{"sasl.mechanism.inter.broker.protocol", config::type::string, "GSSAPI",
                           "SASL mechanism brokers use with each other over a SASL inter-broker listener: "
                           "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's default GSSAPI is not served)."});
    s.add(config::key_spec{"tributary.sasl.scram.users", config::type::password, std::nullopt,
                           "SCRAM users, as JAAS options: user_<name>=\"<password>\" ...; each gets "
                           "SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096 iterations) at start-up."});
    s.add({.name = "sasl.oauthbearer.jwks.endpoint.url",
           .doc = "OAUTHBEARER: where the issuer's public keys (a JWKS) are: its https: (or http:) endpoint, "
                  "fetched at start-up and refreshed, or a file:<path> (read again when it changes)."});
    s.add({.name = "sasl.oauthbearer.jwks.endpoint.refresh.ms", .t = config::type::int64, .default_value = "3600000",
           .doc = "OAUTHBEARER: how often the JWKS is fetched (or its file looked at) for new keys (a token "
                  "with an unknown kid also makes it be fetched again, at most once a second).",
           .validate = config::at_least(1)});
    s.add({.name = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", .t = config::type::int64,
           .default_value = "100",
           .doc = "OAUTHBEARER: the wait before the second attempt of a JWKS fetch that failed; it doubles "
                  "at each attempt.",
           .validate = config::at_least(0)});
    s.add({.name = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", .t = config::type::int64,
           .default_value = "10000",
           .doc = "OAUTHBEARER: how long the attempts of one JWKS fetch go on before it is given up (the keys "
                  "in use are kept); without keys yet, also the wait before the next fetch.",
           .validate = config::at_least(0)});
    s.add({.name = "sasl.oauthbearer.scope.claim.name", .default_value = "scope",
           .doc = "OAUTHBEARER: the token claim that holds its scopes (a space-separated string or an array "
                  "of strings; another type makes the token invalid)."});
    s.add({.name = "sasl.oauthbearer.clock.skew.seconds", .t = config::type::int32, .default_value = "30",
           .doc = "OAUTHBEARER: seconds of clock difference allowed when checking a token's exp, nbf and iat.",
           .validate = config::at_least(0)});
    s.add({.name = "sasl.oauthbearer.sub.claim.name", .default_value = "sub",
           .doc = "OAUTHBEARER: the token claim that names the principal (User:<value>)."});
    s.add({.name = "sasl.oauthbearer.expected.audience", .t = config::type::list,
           .doc = "OAUTHBEARER: a token's aud must contain one of these (unset: aud not checked)."});
    s.add({.name = "sasl.oauthbearer.expected.issuer",
           .doc = "OAUTHBEARER: a token's iss must be this (unset: iss not checked)."});
}

sasl_config load_sasl_config(const config::values& v, const std::vector<std::string>& sasl_listeners,
                             const std::vector<std::string>& all_listeners, const std::string& inter_broker_listener) {
    sasl_config out;
    std::vector<std::string> oauth_listeners;  // the listeners that enable OAUTHBEARER
    const auto per_listener = v.with_prefix("listener.name.");
    // Every listener.name key must name a listener and a setting this broker reads.
    for (const auto& [key, value] : per_listener) {
        bool known = false;
        for (const auto& l : all_listeners) {
            const std::string prefix = "listener.name." + lower(l) + ".";
            if (!key.starts_with(prefix)) {
                continue;
            }
            const auto rest = key.substr(prefix.size());
            // The SCRAM modules' JAAS entries hold the broker's own client login (inter-broker
            // SASL); on other listeners they are accepted and unused, so a Kafka configuration
            // loads.
            known = rest == "sasl.enabled.mechanisms" || security::is_listener_reauth_key(rest) ||
                    rest == "plain.sasl.jaas.config" ||
                    rest == "scram-sha-256.sasl.jaas.config" || rest == "scram-sha-512.sasl.jaas.config" ||
                    rest == "oauthbearer.sasl.jaas.config" || rest == oauth_handler_key;
            if (rest == oauth_handler_key && config::trim_view(value) != oauth_validator_class) {
                throw config::config_error(key + ": only " + std::string(oauth_validator_class) +
                                           " is supported (tokens are JWTs checked against "
                                           "sasl.oauthbearer.jwks.endpoint.url)");
            }
        }
        if (!known) {
            throw config::config_error("unknown configuration key '" + key +
                                       "' (listener.name.<listener>. takes sasl.enabled.mechanisms and "
                                       "<mechanism>.sasl.jaas.config, for a listener of `listeners`)");
        }
    }
    for (const auto& l : sasl_listeners) {
        listener_sasl ls = security::load_listener_sasl(v, per_listener, l);
        if (std::find(ls.mechanisms.begin(), ls.mechanisms.end(), security::mechanism_oauthbearer) !=
            ls.mechanisms.end()) {
            oauth_listeners.push_back(l);
        }
        if (l == inter_broker_listener) {
            const std::string key = "sasl.mechanism.inter.broker.protocol";
            const std::string mechanism = v.get_string(key);
            if (mechanism == security::mechanism_oauthbearer) {
                throw config::config_error(key + ": OAUTHBEARER is not served between brokers (no token "
                                           "source); use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
            }
            out.inter_broker = security::load_sasl_login(per_listener, l, &ls, key, mechanism, "the inter-broker listener");
        }
        out.listeners.emplace(l, std::move(ls));
    }
    if (!oauth_listeners.empty()) {
        load_oauth(v, per_listener, oauth_listeners, out);
    }
    if (v.has("tributary.sasl.scram.users")) {
        // The same option syntax as a JAAS entry, without the class and flag.
        auto e = security::parse_jaas("scram required " + v.get_string("tributary.sasl.scram.users") + ";");
        if (!e) {
            throw config::config_error("tributary.sasl.scram.users: " + e.error());
        }
        for (const auto& [k, password] : e.value().options) {
            if (!k.starts_with("user_") || k.size() == 5) {
                throw config::config_error("tributary.sasl.scram.users: expected user_<name>=\"<password>\", got " + k);
            }
            for (auto a : {security::scram_algorithm::sha256, security::scram_algorithm::sha512}) {
                out.scram[{a, k.substr(5)}] =
                    security::make_scram_credential(a, password, security::scram_min_iterations);
            }
        }
    }
    return out;
}

} // namespace trib::broker
