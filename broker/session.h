#pragma once

// What the broker keeps per client connection (net::connection_state): the SASL exchange in
// progress on a SASL listener, the principal requests run as (for ACLs), and the session's
// clock for re-authentication (KIP-368).
//
// A SASL session's life, with `at`:
//   handshake --SaslHandshake--> authenticate --last SaslAuthenticate--> done
//   done --SaslHandshake, when the session has an end and the last re-authentication began
//          a second or more ago--> authenticate (reauthenticating) --> done (a new end)
// A session has an end (expires_at) when connections.max.reauth.ms applies to its listener and
// mechanism or its credential expires (an OAUTHBEARER token's exp): the smaller of the two.
// Once it has passed, any request but a SaslHandshake that begins a re-authentication closes
// the connection. A re-authentication must keep the mechanism and the principal; a failed one
// closes the connection. Requests already in flight when it begins run on as the principal.
#include "broker/sasl_config.h"
#include "net/dispatcher.h"
#include "security/sasl.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace trib::broker {

inline constexpr std::string_view anonymous_principal = "User:ANONYMOUS";

// KIP-368's session lifetime: `max_reauth_ms` is connections.max.reauth.ms for the listener
// and mechanism (0 or less: not set), `credential_expires_ms` the credential's own end (ms
// since the epoch), `now_ms` the wall clock. nullopt: the session never ends (and the client
// is told 0); otherwise the smaller bound, never negative (an already expired credential: 0).
std::optional<int64_t> session_lifetime_ms(int64_t max_reauth_ms, std::optional<int64_t> credential_expires_ms,
                                           int64_t now_ms) noexcept;

struct session final : net::connection_state {
    using clock = std::chrono::steady_clock;
    // Kafka refuses a re-authentication that begins less than a second after the last one.
    static constexpr std::chrono::seconds min_reauth_interval{1};

    explicit session(const listener_sasl* s) : sasl(s) {}

    enum class stage { handshake, authenticate, done };

    const listener_sasl* sasl;                      // null: not a SASL listener
    stage at = stage::handshake;
    std::string mechanism;                          // chosen by SaslHandshake (kept across re-authentications)
    std::unique_ptr<security::sasl_server> server;  // the exchange, from SaslHandshake on
    std::string principal{anonymous_principal};     // "User:<name>" once authenticated

    // Re-authentication (KIP-368).
    std::optional<clock::time_point> expires_at;    // the session's end; nullopt: none
    bool reauthenticating = false;                  // an exchange after the first authentication
    std::optional<clock::time_point> reauth_began;  // the last re-authentication's SaslHandshake
    std::string refused_mechanism;                  // set: the re-authentication asked for another mechanism
    bool client_supports_reauth = false;            // a SaslAuthenticate of v1+ was seen (v0 has no lifetime)

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

    bool expired(clock::time_point now) const noexcept {
        return at == stage::done && expires_at && now >= *expires_at;
    }
    // Whether a SaslHandshake arriving now begins a re-authentication: the session is
    // authenticated, has an end (Kafka serves re-authentication only then), and the last
    // re-authentication began at least min_reauth_interval ago.
    bool may_begin_reauth(clock::time_point now) const noexcept {
        return sasl && at == stage::done && expires_at &&
               (!reauth_began || now - *reauth_began >= min_reauth_interval);
    }
    // What to do with a request of `api_key` arriving at `now`, before its handler runs.
    enum class admission {
        serve,
        unauthenticated,  // before the first authentication ends: only ApiVersions and SASL
        reauthenticating, // between a re-authentication's SaslHandshake and its end: only SaslAuthenticate
        expired,          // the session has ended and this is not a re-authentication
    };
    admission admit(int16_t api_key, clock::time_point now) const noexcept;

    // The SaslHandshake that begins a re-authentication (may_begin_reauth(now) was true).
    void begin_reauth(clock::time_point now) {
        at = stage::authenticate;
        reauthenticating = true;
        reauth_began = now;
        refused_mechanism.clear();
    }
    // The exchange ended with `user` authenticated, at `now` (and `wall_ms` on the wall clock)
    // with connections.max.reauth.ms `max_reauth_ms`; returns the lifetime to tell the client
    // (0: none). The caller has checked that a re-authentication keeps the principal.
    int64_t authenticated(const std::string& user, int64_t max_reauth_ms,
                          std::optional<int64_t> credential_expires_ms, clock::time_point now, int64_t wall_ms);
};

} // namespace trib::broker
