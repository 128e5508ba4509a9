#pragma once

// What the broker keeps per client connection (net::connection_state): its SASL state
// (sasl_session.h: the exchange, the principal, the session clock of KIP-368) and, on an SSL
// listener, the principal a client certificate gives.
#include "broker/sasl_session.h"
#include "net/dispatcher.h"

#include <optional>
#include <string>

namespace trib::broker {

struct session final : net::connection_state, sasl_session {
    explicit session(const listener_sasl* s) : sasl_session(s) {}

    // An SSL listener's client with a certificate is User:<its subject DN> (Kafka's DEFAULT
    // ssl.principal.mapping.rules); without one it stays User:ANONYMOUS. A SASL listener's
    // principal comes from SASL (SaslAuthenticate sets it after this).
    void tls_established(const std::optional<std::string>& peer_subject) override {
        if (peer_subject && !sasl) {
            principal = "User:" + *peer_subject;
        }
    }
};

} // namespace trib::broker
