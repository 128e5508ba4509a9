#include "security/listener_sasl.h"

#include "security/jaas.h"
#include "security/sasl.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace trib::security {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

constexpr std::string_view reauth_key = "connections.max.reauth.ms";

// A per-listener connections.max.reauth.ms value (the prefix family is read as text).
int64_t parse_reauth_ms(const std::string& key, const std::string& value) {
    const auto t = config::trim_view(value);
    int64_t ms = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec != std::errc() || end != t.data() + t.size() || t.empty()) {
        throw config::config_error(key + ": expected a number of milliseconds, got '" + std::string(t) + "'");
    }
    return ms;
}

} // namespace

bool is_listener_reauth_key(std::string_view rest) {
    if (rest == reauth_key) {
        return true;
    }
    for (auto m : served_mechanisms) {
        if (rest == lower(m) + "." + std::string(reauth_key)) {
            return true;
        }
    }
    return false;
}

void add_listener_sasl_keys(config::schema& s) {
    s.add(config::key_spec{"sasl.enabled.mechanisms", config::type::list, "GSSAPI",
                           "SASL mechanisms SASL listeners offer: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER "
                           "(Kafka's default GSSAPI is not served: a SASL listener needs this set)."});
    s.add(config::key_spec{"sasl.mechanism.controller.protocol", config::type::string, "GSSAPI",
                           "SASL mechanism used to log in to a SASL controller listener (coordinators): PLAIN "
                           "(Kafka's default GSSAPI is not served), with the username and password of "
                           "listener.name.<controller listener>.<mechanism>.sasl.jaas.config."});
    s.add_prefix("listener.name.",
                 "Per-listener settings: listener.name.<listener>.sasl.enabled.mechanisms, "
                 "listener.name.<listener>.<mechanism>.sasl.jaas.config.",
                 true);
    s.add({.name = std::string(reauth_key), .t = config::type::int64, .default_value = "0",
           .doc = "The longest a SASL session lasts before the client must re-authenticate (KIP-368); "
                  "0: no bound (an OAUTHBEARER token's exp still bounds it). Per listener: "
                  "listener.name.<listener>.connections.max.reauth.ms, and "
                  "listener.name.<listener>.<mechanism>.connections.max.reauth.ms."});
}

std::string jaas_key(std::string_view listener, std::string_view mechanism) {
    return "listener.name." + lower(listener) + "." + lower(mechanism) + ".sasl.jaas.config";
}

listener_sasl load_listener_sasl(const config::values& v, const std::map<std::string, std::string>& per_listener,
                                 const std::string& l, const std::vector<std::string_view>& allowed,
                                 std::string_view refusal) {
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
            throw config::config_error(key + ": GSSAPI (Kerberos) is not supported (listener " + l + "); set " + key +
                                       " to PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512");
        }
        if (!is_served_mechanism(m)) {
            throw config::config_error(key + ": unknown SASL mechanism '" + m +
                                       "' (expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)");
        }
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), m) == allowed.end()) {
            throw config::config_error(key + ": " + m + " can't be enabled on listener " + l + ": " +
                                       std::string(refusal));
        }
    }
    if (std::find(ls.mechanisms.begin(), ls.mechanisms.end(), mechanism_plain) != ls.mechanisms.end()) {
        const auto jk = jaas_key(l, mechanism_plain);
        auto jaas = per_listener.find(jk);
        if (jaas == per_listener.end()) {
            throw config::config_error(jk + ": listener " + l +
                                       " enables PLAIN, which needs its users "
                                       "(PlainLoginModule required user_<name>=\"<password>\";)");
        }
        auto users = plain_users_from_jaas(jaas->second);
        if (!users) {
            throw config::config_error(jk + ": " + users.error());
        }
        ls.plain_users = std::move(users.value());
    }
    // connections.max.reauth.ms: the mechanism's own key, else the listener's, else the program's.
    const std::string listener_reauth = "listener.name." + lower(l) + "." + std::string(reauth_key);
    for (const auto& m : ls.mechanisms) {
        const std::string mech_reauth = "listener.name." + lower(l) + "." + lower(m) + "." + std::string(reauth_key);
        int64_t ms = v.get_int64(std::string(reauth_key));
        for (const auto& k : {listener_reauth, mech_reauth}) {
            if (auto it = per_listener.find(k); it != per_listener.end()) {
                ms = parse_reauth_ms(k, it->second);
            }
        }
        ls.max_reauth_ms[m] = ms;
    }
    return ls;
}

sasl_login load_sasl_login(const std::map<std::string, std::string>& per_listener, const std::string& l,
                           const listener_sasl* ls, const std::string& mechanism_key, const std::string& mechanism,
                           std::string_view role) {
    if (!ls && (mechanism == "GSSAPI" || !is_served_mechanism(mechanism) || mechanism == mechanism_oauthbearer)) {
        throw config::config_error(mechanism_key + ": " + mechanism + " can't be used to log in to " +
                                   std::string(role) + " " + l + " (expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)");
    }
    if (ls && std::find(ls->mechanisms.begin(), ls->mechanisms.end(), mechanism) == ls->mechanisms.end()) {
        throw config::config_error(mechanism_key + ": " + mechanism + " is not enabled on " + std::string(role) + " " + l +
                                   (mechanism == "GSSAPI" ? " (GSSAPI is not supported: set PLAIN, "
                                                            "SCRAM-SHA-256 or SCRAM-SHA-512)"
                                                          : ""));
    }
    const auto jk = jaas_key(l, mechanism);
    auto jaas = per_listener.find(jk);
    if (jaas == per_listener.end()) {
        throw config::config_error(jk + ": " + std::string(role) + " " + l + " uses " + mechanism + " (" +
                                   mechanism_key + "), whose JAAS entry gives the username=\"...\" "
                                   "password=\"...\" to log in with");
    }
    auto entry = parse_jaas(jaas->second);
    if (!entry) {
        throw config::config_error(jk + ": " + entry.error());
    }
    auto user = entry.value().options.find("username");
    auto password = entry.value().options.find("password");
    if (user == entry.value().options.end() || password == entry.value().options.end() || user->second.empty()) {
        throw config::config_error(jk + ": the login to " + std::string(role) + " needs username=\"...\" and password=\"...\" options");
    }
    return sasl_login{mechanism, user->second, password->second};
}

} // namespace trib::security
