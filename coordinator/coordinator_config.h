#pragma once

// tributary-coordinator's settings, with Apache Kafka's names (KRaft controller settings).
#include "common/config.h"
#include "coordinator/service.h"
#include "net/client_security.h"

namespace trib::coordinator {

const config::schema& coordinator_schema();
// Keys Kafka's controller.properties carries that the coordinator accepts and ignores.
const std::set<std::string>& ignored_keys();
// Loads and checks; throws config::config_error naming the key. controller.quorum.voters
// naming only this node (or unset) gives a single-voter log; anything else a Raft log
// (raft_log) talking to the other voters over net_transport.
// The security of a coordinator's listeners and of its connections to the other voters
// (Kafka's keys, as the broker takes them):
//   listener.security.protocol.map     CONTROLLER:SSL, ...; unset: PLAINTEXT (or the protocol a
//                                      listener is named after); set: every listener needs one
//   listener.name.<l>.ssl.*, ssl.*     SSL and SASL_SSL listeners (net/tls.h): keystore,
//                                      truststore, ssl.client.auth (mTLS), reloaded as they change
//   sasl.enabled.mechanisms, listener.name.<l>.sasl.enabled.mechanisms   PLAIN only
//   listener.name.<l>.plain.sasl.jaas.config   PlainLoginModule with user_<name>="..." (served)
//                                      and username="..." password="..." (this coordinator's
//                                      login to the others)
//   connections.max.reauth.ms, listener.name.<l>.[<mechanism>.]connections.max.reauth.ms
//                                      how long a SASL session lasts before the client must
//                                      re-authenticate (KIP-368; 0, the default: no bound)
//   controller.listener.names          the listener the voters reach each other on (first name;
//                                      default: the first of listeners)
//   sasl.mechanism.controller.protocol PLAIN, when that listener is SASL_*
//   authorizer.class.name, super.users, allow.everyone.if.no.acl.found, ssl.principal.mapping.rules
//                                      who may send what (authorization.h), as on the broker
struct coordinator_security {
    std::map<std::string, std::string> protocols;  // listener -> protocol (and the controller listener)
    net::tls_contexts tls;
    std::map<std::string, security::listener_sasl> sasl;
    std::string controller_listener;
    net::client_security client;
};
// Throws config::config_error naming the key: SCRAM or OAUTHBEARER enabled, PLAIN without its
// users, an SSL listener without a keystore, a listener.name key of no listener, a missing
// login for a SASL controller listener.
coordinator_security load_coordinator_security(const config::values& v, const std::vector<std::string>& listeners);

service_config load_coordinator_config(const config::load_options& opts, config::values* raw = nullptr);

} // namespace trib::coordinator
