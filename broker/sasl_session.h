#pragma once

// A connection's SASL state without the connection (session.h adds it): the exchange in
// progress, the principal requests run as (for ACLs), and the session's clock for
// re-authentication (KIP-368). Socket-free, so the fuzzers link it.
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
#include "security/sasl.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace trib::broker {

inline constexpr std::string_view anonymous_principal = "User:ANONYMOUS";

// KIP-368's session lifetime: `max_reauth_ms` is connections.max.reauth.ms for the listener
// and mechanism (0 or less: not set), `credential_expires_ms` the credential's own end (ms
// since the epoch), `now_ms` the wall clock. nullopt: the session never ends (and the client
// is told 0); otherwise the smaller bound, never negative (an already expired credential: 0).
std::optional<int64_t> session_lifetime_ms(int64_t max_reauth_ms, std::optional<int64_t> credential_expires_ms,
                                           int64_t now_ms) noexcept;

struct sasl_session {
    using clock = std::chrono::steady_clock;
    // Kafka refuses a re-authentication that begins less than a second after the last one.
    static constexpr std::chrono::seconds min_reauth_interval{1};

    explicit sasl_session(const listener_sasl* s) : sasl(s) {}

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

    // A SaslHandshake (v1) for `m` arriving at `now`. `start`: make the mechanism's server
    // (set `server`) and answer NONE.
    enum class handshake_outcome {
        start,
        refused_later,        // NONE, but the re-authentication asked for another mechanism: the
                              // SaslAuthenticate after it is refused (Kafka's order)
        illegal_state_keep,   // ILLEGAL_SASL_STATE, connection kept: authenticated and no
                              // re-authentication may begin now
        illegal_state_close,  // ILLEGAL_SASL_STATE, then close: the mechanism was chosen already
        unsupported,          // UNSUPPORTED_SASL_MECHANISM, then close
    };
    handshake_outcome handshake(const std::string& m, clock::time_point now);

    // One SaslAuthenticate of `version`: the client's token through `server`.
    struct step {
        enum kind {
            illegal_state,         // ILLEGAL_SASL_STATE, connection kept (authenticated already)
            before_handshake,      // ILLEGAL_SASL_STATE, then close
            failed,                // SASL_AUTHENTICATION_FAILED with `text` (the reason), then close
            more,                  // `text` is the server's answer; the exchange goes on
            authenticated,         // `text` is the last answer; `lifetime_ms` for the client
        } k = failed;
        std::string text;
        int64_t lifetime_ms = 0;
        bool reauthentication = false;  // the exchange was a re-authentication
    };
    // `max_reauth_ms` is connections.max.reauth.ms for the session's mechanism; `now` and
    // `wall_ms` the steady and wall clocks.
    step authenticate(std::string_view token, int16_t version, int64_t max_reauth_ms, clock::time_point now,
                      int64_t wall_ms);

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
