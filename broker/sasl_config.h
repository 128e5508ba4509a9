#pragma once

// SASL settings of the broker's SASL_PLAINTEXT and SASL_SSL listeners, with Kafka's keys:
//   sasl.enabled.mechanisms                              default for every SASL listener (Kafka: GSSAPI)
//   listener.name.<l>.sasl.enabled.mechanisms            per listener, wins over the above
//   listener.name.<l>.plain.sasl.jaas.config             PlainLoginModule with user_<name>="<password>"
// When the inter-broker listener is SASL_PLAINTEXT or SASL_SSL, this broker logs in to the
// others with
//   sasl.mechanism.inter.broker.protocol                 PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, enabled on
//                                                        that listener (Kafka's default GSSAPI is refused)
//   listener.name.<l>.<mechanism>.sasl.jaas.config       its username="..." password="..." options (the
//                                                        PLAIN entry also lists the users it serves)
// and one key of this project's, for SCRAM users beside those of the metadata log
// (AlterUserScramCredentials; the broker looks there first):
//   tributary.sasl.scram.users                           user_<name>="<password>" ...: SCRAM-SHA-256
//                                                        and -512 credentials made at start-up
// <l> is the listener name in lower case, as Kafka writes these keys.
#include "common/config.h"
#include "security/plain.h"
#include "security/scram.h"

#include <map>
#include <string>
#include <vector>

namespace trib::broker {

struct listener_sasl {
    std::vector<std::string> mechanisms;   // enabled on this listener, each one served
    security::plain_users plain_users;     // for PLAIN
};

// How this broker authenticates to other brokers over a SASL inter-broker listener.
struct inter_broker_login {
    std::string mechanism;
    std::string username, password;
};

struct sasl_config {
    std::map<std::string, listener_sasl> listeners;  // SASL listeners by name (as in `listeners`)
    std::optional<inter_broker_login> inter_broker;  // set when the inter-broker listener is SASL
    // (mechanism, user) -> credential.
    std::map<std::pair<security::scram_algorithm, std::string>, security::scram_credential> scram;

    const listener_sasl* find(const std::string& listener) const {
        auto it = listeners.find(listener);
        return it == listeners.end() ? nullptr : &it->second;
    }
    std::optional<security::scram_credential> scram_credential(security::scram_algorithm a,
                                                               const std::string& user) const;
};

// Adds sasl.enabled.mechanisms, the listener.name. family and tributary.sasl.scram.users.
void add_sasl_keys(config::schema& s);

// Reads the SASL settings for `sasl_listeners` (names of the SASL_PLAINTEXT and SASL_SSL listeners),
// and the inter-broker login when `inter_broker_listener` is one of them; throws
// config::config_error naming the key on a mechanism not served (GSSAPI: said so), a PLAIN
// listener without users, bad JAAS syntax, an inter-broker mechanism the listener does not
// enable or without username and password, or a listener.name key this broker has no use for.
sasl_config load_sasl_config(const config::values& v, const std::vector<std::string>& sasl_listeners,
                             const std::vector<std::string>& all_listeners,
                             const std::string& inter_broker_listener = {});

} // namespace trib::broker
