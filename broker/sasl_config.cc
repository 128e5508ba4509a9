#include "broker/sasl_config.h"

#include "security/jaas.h"

#include <algorithm>
#include <cctype>

namespace trib::broker {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// How Kafka names the JAAS key of a mechanism: listener.name.<l>.<mechanism lower case>.sasl.jaas.config.
std::string jaas_key(const std::string& listener, std::string_view mechanism) {
    return "listener.name." + lower(listener) + "." + lower(std::string(mechanism)) + ".sasl.jaas.config";
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
    s.add(config::key_spec{"sasl.enabled.mechanisms", config::type::list, "GSSAPI",
                           "SASL mechanisms SASL listeners offer: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 "
                           "(Kafka's default GSSAPI is not served: a SASL listener needs this set)."});
    s.add(config::key_spec{"sasl.mechanism.inter.broker.protocol", config::type::string, "GSSAPI",
                           "SASL mechanism brokers use with each other over a SASL inter-broker listener: "
                           "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's default GSSAPI is not served)."});
    s.add(config::key_spec{"tributary.sasl.scram.users", config::type::password, std::nullopt,
                           "SCRAM users, as JAAS options: user_<name>=\"<password>\" ...; each gets "
                           "SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096 iterations) at start-up."});
    s.add_prefix("listener.name.",
                 "Per-listener settings: listener.name.<listener>.sasl.enabled.mechanisms, "
                 "listener.name.<listener>.plain.sasl.jaas.config.",
                 true);
}

sasl_config load_sasl_config(const config::values& v, const std::vector<std::string>& sasl_listeners,
                             const std::vector<std::string>& all_listeners, const std::string& inter_broker_listener) {
    sasl_config out;
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
            known = rest == "sasl.enabled.mechanisms" || rest == "plain.sasl.jaas.config" ||
                    rest == "scram-sha-256.sasl.jaas.config" || rest == "scram-sha-512.sasl.jaas.config";
        }
        if (!known) {
            throw config::config_error("unknown configuration key '" + key +
                                       "' (listener.name.<listener>. takes sasl.enabled.mechanisms and "
                                       "<mechanism>.sasl.jaas.config, for a listener of `listeners`)");
        }
    }
    for (const auto& l : sasl_listeners) {
        listener_sasl ls;
        const std::string mech_key = "listener.name." + lower(l) + ".sasl.enabled.mechanisms";
        auto own = per_listener.find(mech_key);
        const std::string key = own != per_listener.end() ? mech_key : "sasl.enabled.mechanisms";
        ls.mechanisms = own != per_listener.end() ? config::split_list(own->second) : v.get_list(key);
        if (ls.mechanisms.empty()) {
            throw config::config_error(key + ": listener " + l + " uses SASL and needs at least one mechanism");
        }
        for (const auto& m : ls.mechanisms) {
            if (m == "GSSAPI") {
                throw config::config_error(key + ": GSSAPI (Kerberos) is not supported (listener " + l +
                                           "); set " + key + " to PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512");
            }
            if (!security::is_served_mechanism(m)) {
                throw config::config_error(key + ": unknown SASL mechanism '" + m +
                                           "' (expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)");
            }
        }
        if (std::find(ls.mechanisms.begin(), ls.mechanisms.end(), security::mechanism_plain) != ls.mechanisms.end()) {
            const auto jk = jaas_key(l, security::mechanism_plain);
            auto jaas = per_listener.find(jk);
            if (jaas == per_listener.end()) {
                throw config::config_error(jk + ": listener " + l + " enables PLAIN, which needs its users "
                                           "(PlainLoginModule required user_<name>=\"<password>\";)");
            }
            auto users = security::plain_users_from_jaas(jaas->second);
            if (!users) {
                throw config::config_error(jk + ": " + users.error());
            }
            ls.plain_users = std::move(users.value());
        }
        if (l == inter_broker_listener) {
            const std::string key = "sasl.mechanism.inter.broker.protocol";
            const std::string mechanism = v.get_string(key);
            if (std::find(ls.mechanisms.begin(), ls.mechanisms.end(), mechanism) == ls.mechanisms.end()) {
                throw config::config_error(key + ": " + mechanism + " is not enabled on the inter-broker listener " +
                                           l + (mechanism == "GSSAPI" ? " (GSSAPI is not supported: set PLAIN, "
                                                                        "SCRAM-SHA-256 or SCRAM-SHA-512)"
                                                                      : ""));
            }
            const auto jk = jaas_key(l, mechanism);
            auto jaas = per_listener.find(jk);
            if (jaas == per_listener.end()) {
                throw config::config_error(jk + ": the inter-broker listener " + l + " uses " + mechanism +
                                           ", whose JAAS entry gives this broker's username=\"...\" "
                                           "password=\"...\"");
            }
            auto entry = security::parse_jaas(jaas->second);
            if (!entry) {
                throw config::config_error(jk + ": " + entry.error());
            }
            auto user = entry.value().options.find("username");
            auto password = entry.value().options.find("password");
            if (user == entry.value().options.end() || password == entry.value().options.end() ||
                user->second.empty()) {
                throw config::config_error(jk + ": the inter-broker login needs username=\"...\" and "
                                           "password=\"...\" options");
            }
            out.inter_broker = inter_broker_login{mechanism, user->second, password->second};
        }
        out.listeners.emplace(l, std::move(ls));
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
