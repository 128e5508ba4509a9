#pragma once

// The server side of SASL on a coordinator connection (SASL_PLAINTEXT and SASL_SSL controller
// listeners, coordinator/service.h), with the broker's rules (broker/sasl_session.h, which adds
// re-authentication, KIP-368; the two are to become one here): which requests may come before authentication, what
// SaslHandshake (v1; v0 answered, its raw-token flow not served) and SaslAuthenticate answer,
// and when the connection closes. A failure answers SASL_AUTHENTICATION_FAILED (or
// ILLEGAL_SASL_STATE, UNSUPPORTED_SASL_MECHANISM) with the reason and closes the connection
// after the response, as Kafka does.
#include "net/dispatcher.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"
#include "security/listener_sasl.h"
#include "security/sasl.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace trib::net {

inline constexpr std::string_view anonymous_principal = "User:ANONYMOUS";

struct sasl_session : connection_state {
    explicit sasl_session(const security::listener_sasl* s) : sasl(s) {}

    enum class stage { handshake, authenticate, done };

    const security::listener_sasl* sasl;            // null: not a SASL listener
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

    // Why a request of `api_key` (correlation id `correlation`) must close the connection
    // before authentication, or nullopt when it may be served.
    std::optional<std::string> refuse_before_authentication(int16_t api_key, int32_t correlation,
                                                            std::string_view listener) const;

    // Makes the exchange for a mechanism the listener enables.
    using server_factory = std::function<std::unique_ptr<security::sasl_server>(const std::string& mechanism)>;

    // SaslHandshake at `version`: fills `resp`; returns the reason to close the connection
    // after the response, or nullopt.
    std::optional<std::string> handshake(int16_t version, const protocol::sasl_handshake_request& req,
                                         protocol::sasl_handshake_response& resp, std::string_view listener,
                                         const server_factory& make);
    // SaslAuthenticate: one client token in, the server's answer out (logs a failure with the
    // peer and its reason, and a success); returns the reason to close, or nullopt.
    std::optional<std::string> authenticate(const protocol::sasl_authenticate_request& req,
                                            protocol::sasl_authenticate_response& resp, const connection_info& conn);
};

// The exchange for the mechanisms every SASL listener can serve from its own settings: PLAIN
// against the listener's users; null for another mechanism (the caller makes SCRAM's and
// OAUTHBEARER's from what it holds).
std::unique_ptr<security::sasl_server> make_listener_sasl_server(const security::listener_sasl& l,
                                                                 const std::string& mechanism);

} // namespace trib::net
