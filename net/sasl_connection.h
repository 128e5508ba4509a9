#pragma once

// The per-connection state (connection_state) of a listener that may use SASL, for the broker
// and the coordinator: the connection's SASL session (sasl_session.h: the exchange, the
// principal, the session clock of KIP-368) and, on an SSL listener, the principal a client
// certificate gives.
#include "net/dispatcher.h"
#include "net/sasl_session.h"

#include <optional>
#include <string>

namespace trib::net {

struct sasl_connection : connection_state, sasl_session {
    explicit sasl_connection(const security::listener_sasl* s) : sasl_session(s) {}

    // An SSL listener's client with a certificate is User:<its subject DN> (Kafka's DEFAULT
    // ssl.principal.mapping.rules); without one it stays User:ANONYMOUS. A SASL listener's
    // principal comes from SASL (SaslAuthenticate sets it after this).
    void tls_established(const std::optional<std::string>& peer_subject) override {
        if (peer_subject && !sasl) {
            principal = "User:" + *peer_subject;
        }
    }
};

} // namespace trib::net
