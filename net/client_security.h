#pragma once

// The security of this program's connections to a listener of other programs, with Kafka's
// keys: TLS when the listener's protocol (listener.security.protocol.map) is SSL or SASL_SSL,
// from listener.name.<l>.ssl.* (or the plain ssl.* keys): its truststore, and its keystore
// when the other end asks for a certificate (mTLS; none needed otherwise); a SASL login when
// it is SASL_PLAINTEXT or SASL_SSL, with the mechanism of `mechanism_key` and the username and
// password of listener.name.<l>.<mechanism>.sasl.jaas.config. Used for the controller listener
// (`controller.listener.names`): by brokers calling coordinators (coordinator/client/rpc.h)
// and by coordinators calling each other (coordinator/raft/net_transport.h).
#include "common/config.h"
#include "net/kafka_client.h"
#include "net/tls.h"
#include "security/listener_sasl.h"

#include <memory>
#include <optional>
#include <string>

namespace trib::net {

struct client_security {
    std::string listener;             // the listener reached (upper case, as in `listeners`)
    std::string protocol = "PLAINTEXT";
    std::shared_ptr<tls_source> tls;  // SSL, SASL_SSL; null otherwise
    bool verify_host = true;          // ssl.endpoint.identification.algorithm=https
    std::optional<security::sasl_login> login;  // SASL_PLAINTEXT, SASL_SSL

    bool plaintext() const noexcept { return !tls && !login; }
    // Sets TLS and SASL of a connection's options; asks ApiVersions when SASL needs it.
    void apply(kafka_client_options& o) const;
};

// Reads `listener`'s security as described above (protocols: the parsed map). `served`: the
// SASL settings of this program's own listener of that name, when it serves one (its login
// mechanism must be one it enables); null otherwise. Throws config_error naming the key.
client_security load_client_security(const config::values& v, const std::map<std::string, std::string>& protocols,
                                     const std::string& listener, const std::string& mechanism_key,
                                     const security::listener_sasl* served, std::string_view role);

} // namespace trib::net
