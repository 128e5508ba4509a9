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
// OAUTHBEARER (KIP-768: tokens are JWTs checked against the issuer's public keys):
//   sasl.oauthbearer.jwks.endpoint.url                   https://... (or http://) of the issuer's JWKS
//                                                        (broker/jwks_https.h), or file:<path> of one
//   sasl.oauthbearer.jwks.endpoint.refresh.ms            how often it is fetched (the file looked at) again
//   sasl.oauthbearer.jwks.endpoint.retry.backoff.ms, .retry.backoff.max.ms   a failed fetch's attempts
//   sasl.oauthbearer.clock.skew.seconds, .sub.claim.name, .scope.claim.name, .expected.audience,
//   .expected.issuer
//   the JWKS client's TLS: as Kafka, ssl.* options of the OAUTHBEARER listeners' JAAS entries
//   (ssl.truststore.location / .certificates, PEM; ssl.keystore.* for a client certificate;
//   ssl.endpoint.identification.algorithm; none: the system's CAs)
//   listener.name.<l>.oauthbearer.sasl.server.callback.handler.class   only Kafka's
//                                                        OAuthBearerValidatorCallbackHandler
//   listener.name.<l>.oauthbearer.sasl.jaas.config       accepted (OAuthBearerLoginModule), unused
// Re-authentication (KIP-368): a session lasts at most (0: no bound; an OAUTHBEARER token's exp
// bounds it anyway)
//   connections.max.reauth.ms                            every SASL listener and mechanism
//   listener.name.<l>.connections.max.reauth.ms          one listener, every mechanism on it
//   listener.name.<l>.<mechanism>.connections.max.reauth.ms   one mechanism of one listener
// (the most specific wins, as Kafka reads them).
// And one key of this project's, for SCRAM users beside those of the metadata log
// (AlterUserScramCredentials; the broker looks there first):
//   tributary.sasl.scram.users                           user_<name>="<password>" ...: SCRAM-SHA-256
//                                                        and -512 credentials made at start-up
// <l> is the listener name in lower case, as Kafka writes these keys.
#include "broker/jwks_file.h"
#include "common/config.h"
#include "security/listener_sasl.h"
#include "security/oauthbearer.h"
#include "security/plain.h"
#include "security/scram.h"

#include <map>
#include <string>
#include <vector>

namespace trib::broker {

// A SASL listener's mechanisms and PLAIN users (security/listener_sasl.h, shared with the
// coordinator).
using listener_sasl = security::listener_sasl;
// How this broker authenticates to other brokers over a SASL inter-broker listener.
using inter_broker_login = security::sasl_login;

struct sasl_config {
    std::map<std::string, listener_sasl> listeners;  // SASL listeners by name (as in `listeners`)
    std::optional<inter_broker_login> inter_broker;  // set when the inter-broker listener is SASL
    // (mechanism, user) -> credential.
    std::map<std::pair<security::scram_algorithm, std::string>, security::scram_credential> scram;
    // OAUTHBEARER, when a listener enables it: the keys (shared by every connection) and the
    // claim rules.
    std::shared_ptr<security::jwks_source> oauth_keys;  // a jwks_file or a jwks_https
    security::jwt_rules oauth_rules;

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
// enable or without username and password (or OAUTHBEARER, which brokers don't use with each
// other), OAUTHBEARER without a usable JWKS URL (a file that can't be read, an https: URL that
// can't be parsed or a truststore that can't be read), another server callback handler class, or a
// listener.name key this broker has no use for.
sasl_config load_sasl_config(const config::values& v, const std::vector<std::string>& sasl_listeners,
                             const std::vector<std::string>& all_listeners,
                             const std::string& inter_broker_listener = {});

} // namespace trib::broker
