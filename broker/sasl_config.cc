#include "broker/sasl_config.h"

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

// The JWKS file and the claim rules.
void load_oauth(const config::values& v, sasl_config& out) {
    const std::string key = "sasl.oauthbearer.jwks.endpoint.url";
    if (!v.has(key)) {
        throw config::config_error(key + ": OAUTHBEARER is enabled and needs the issuer's keys: "
                                   "file:<path of a JWKS file>");
    }
    const std::string url = v.get_string(key);
    if (!url.starts_with("file:")) {
        throw config::config_error(key + ": only file: URLs are supported (file:/path/to/jwks.json), not '" +
                                   url + "'; fetch the issuer's JWKS into a file");
    }
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
    out.oauth_keys = std::make_shared<jwks_file>(
        path, key, std::chrono::milliseconds(v.get_int64("sasl.oauthbearer.jwks.endpoint.refresh.ms")));
    out.oauth_rules.clock_skew = std::chrono::seconds(v.get_int32("sasl.oauthbearer.clock.skew.seconds"));
    out.oauth_rules.sub_claim = v.get_string("sasl.oauthbearer.sub.claim.name");
    if (out.oauth_rules.sub_claim.empty()) {
        throw config::config_error("sasl.oauthbearer.sub.claim.name: must name a claim");
    }
    if (v.has("sasl.oauthbearer.expected.audience")) {
        out.oauth_rules.audience = v.get_list("sasl.oauthbearer.expected.audience");
    }
    if (v.has("sasl.oauthbearer.expected.issuer")) {
        out.oauth_rules.issuer = v.get_string("sasl.oauthbearer.expected.issuer");
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
           .doc = "OAUTHBEARER: where the issuer's public keys (a JWKS) are; only file:<path> URLs are "
                  "served (the file is read again when it changes)."});
    s.add({.name = "sasl.oauthbearer.jwks.endpoint.refresh.ms", .t = config::type::int64, .default_value = "3600000",
           .doc = "OAUTHBEARER: how often the JWKS file is looked at for new keys (a token with an unknown "
                  "kid also makes it be read again, at most once a second).",
           .validate = config::at_least(1)});
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
    bool oauth = false;  // a listener enables OAUTHBEARER
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
            oauth = true;
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
    if (oauth) {
        load_oauth(v, out);
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
