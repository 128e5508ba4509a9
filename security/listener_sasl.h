#pragma once

// The SASL settings of one listener, and a client's SASL login, read from Kafka's keys. Shared
// by the broker (broker/sasl_config.h: its SASL listeners and its inter-broker login) and the
// coordinator (coordinator/coordinator_config.h: its controller listeners, and the login
// coordinators and brokers use with them), so both read the same keys the same way:
//   sasl.enabled.mechanisms                          default for every SASL listener
//   listener.name.<l>.sasl.enabled.mechanisms        per listener, wins over the above
//   listener.name.<l>.plain.sasl.jaas.config         PlainLoginModule with user_<name>="<password>"
//   listener.name.<l>.<mechanism>.sasl.jaas.config   a client's username="..." password="..."
// and how long a session lasts before the client must re-authenticate (KIP-368; 0: no bound,
// an OAUTHBEARER token's exp bounds it anyway), the most specific key winning, as Kafka reads them:
//   connections.max.reauth.ms                               every SASL listener and mechanism
//   listener.name.<l>.connections.max.reauth.ms             one listener, every mechanism on it
//   listener.name.<l>.<mechanism>.connections.max.reauth.ms one mechanism of one listener
// <l> is the listener name in lower case, as Kafka writes these keys. Errors are
// config::config_error naming the key.
#include "common/config.h"
#include "security/plain.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace trib::security {

struct listener_sasl {
    std::vector<std::string> mechanisms;  // enabled on this listener, each one served
    security::plain_users plain_users;    // for PLAIN
    // connections.max.reauth.ms for each enabled mechanism (0: sessions have no bound of their
    // own).
    std::map<std::string, int64_t> max_reauth_ms;

    int64_t max_reauth_ms_for(const std::string& mechanism) const {
        auto it = max_reauth_ms.find(mechanism);
        return it == max_reauth_ms.end() ? 0 : it->second;
    }
};

// How a program logs in to a SASL listener of others (a broker to brokers, a coordinator or
// broker to coordinators).
struct sasl_login {
    std::string mechanism;
    std::string username, password;
};

// "listener.name.<l lower case>.<mechanism lower case>.sasl.jaas.config".
std::string jaas_key(std::string_view listener, std::string_view mechanism);

// Whether `rest`, a listener.name.<l>. key with that prefix cut off, is one of
// connections.max.reauth.ms's per-listener forms (the listener's, or a served mechanism's).
bool is_listener_reauth_key(std::string_view rest);

// Listener `l`'s mechanisms (its own key, or sasl.enabled.mechanisms), PLAIN users and
// connections.max.reauth.ms per mechanism.
// `per_listener` is values::with_prefix("listener.name."). Refuses an empty list, GSSAPI, a
// mechanism not served, PLAIN without its JAAS users; `allowed`, when not empty, is every
// mechanism this listener may enable (the others are refused with `refusal` as the reason).
listener_sasl load_listener_sasl(const config::values& v, const std::map<std::string, std::string>& per_listener,
                                 const std::string& l, const std::vector<std::string_view>& allowed = {},
                                 std::string_view refusal = {});

// sasl.enabled.mechanisms, sasl.mechanism.controller.protocol, connections.max.reauth.ms and the open listener.name.
// family (what in it a program reads, load_listener_sasl and load_sasl_login check).
void add_listener_sasl_keys(config::schema& s);

// The login for listener `l` with `mechanism` (read from `mechanism_key`, named in errors):
// its JAAS entry's username and password. Refuses a mechanism `ls` does not enable (null:
// the listener is another program's, whose mechanisms this one does not know), one without a
// JAAS entry, or an entry without username and password; GSSAPI and OAUTHBEARER (no token
// source) too. `role` names the listener in messages ("the inter-broker listener").
sasl_login load_sasl_login(const std::map<std::string, std::string>& per_listener, const std::string& l,
                           const listener_sasl* ls, const std::string& mechanism_key, const std::string& mechanism,
                           std::string_view role);

} // namespace trib::security
