#pragma once

// What the broker keeps per client connection (net::connection_state): the SASL exchange in
// progress on a SASL listener, and the principal requests run as (for ACLs).
#include "broker/sasl_config.h"
#include "net/dispatcher.h"
#include "security/sasl.h"

#include <memory>
#include <string>

namespace trib::broker {

inline constexpr std::string_view anonymous_principal = "User:ANONYMOUS";

struct session final : net::connection_state {
    explicit session(const listener_sasl* s) : sasl(s) {}

    enum class stage { handshake, authenticate, done };

    const listener_sasl* sasl;                      // null: not a SASL listener
    stage at = stage::handshake;
    std::string mechanism;                          // chosen by SaslHandshake
    std::unique_ptr<security::sasl_server> server;  // the exchange, from SaslHandshake on
    std::string principal{anonymous_principal};     // "User:<name>" once authenticated

    // An SSL listener's client with a certificate is User:<its subject DN> (Kafka's DEFAULT
    // ssl.principal.mapping.rules); without one it stays User:ANONYMOUS. A SASL listener's
    // principal comes from SASL (SaslAuthenticate sets it after this).
    void tls_established(const std::optional<std::string>& peer_subject) override {
        if (peer_subject && !sasl) {
            principal = "User:" + *peer_subject;
        }
    }

    // Whether requests other than ApiVersions, SaslHandshake and SaslAuthenticate must wait.
    bool needs_authentication() const noexcept { return sasl && at != stage::done; }
};

} // namespace trib::broker
