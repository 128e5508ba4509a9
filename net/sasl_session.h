#pragma once

// A connection's SASL state without the connection (sasl_connection.h adds it), the server
// side for the broker's and the coordinator's SASL listeners alike: the exchange in progress,
// the principal requests run as (for ACLs), and the session's clock for re-authentication
// (KIP-368). Socket-free, so the fuzzers link it. Which mechanisms a listener serves and how
// the answers are written stay with each program (broker/handlers/sasl.cc, coordinator/service.cc).
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
#include "security/listener_sasl.h"
#include "security/sasl.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trib::net {

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

    explicit sasl_session(const security::listener_sasl* s) : sasl(s) {}

    enum class stage { handshake, authenticate, done };

    const security::listener_sasl* sasl;            // null: not a SASL listener
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
    // Why a request of `api_key` (correlation id `correlation`) refused with `a` (not serve)
    // closes the connection on `listener`: the message to log.
    std::string refusal(admission a, int16_t api_key, int32_t correlation, std::string_view listener) const;

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

    // SaslHandshake at `version` on `listener`, answered as Kafka does, the same for the broker
    // and the coordinator: a PLAINTEXT listener (no `sasl`) gets ILLEGAL_SASL_STATE; v0 is
    // answered (librdkafka enables SASL only where v0 is advertised, then sends v1) with
    // UNSUPPORTED_VERSION and the mechanisms, but its raw-token exchange is not served; v1 goes
    // through handshake(). `outcome` is unset when handshake() was not reached; on `start` the
    // caller makes `server` for `mechanism`. `close`: the reason to close after the answer.
    struct handshake_answer {
        int16_t error_code = 0;
        std::vector<std::string> mechanisms;
        std::optional<std::string> close;
        std::optional<handshake_outcome> outcome;
    };
    handshake_answer answer_handshake(int16_t version, const std::string& m, std::string_view listener,
                                      clock::time_point now);

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

    // SaslAuthenticate at `version` with the client's `token`, answered as Kafka does (the same
    // for both programs): authenticate() with the listener's connections.max.reauth.ms for the
    // session's mechanism, its step kind mapped to the error code and message, the server's
    // answer, the session lifetime for the client, and the reason to close after the answer.
    // A PLAINTEXT listener (no `sasl`) gets ILLEGAL_SASL_STATE (`k` illegal_state).
    struct authenticate_answer {
        int16_t error_code = 0;
        std::optional<std::string> error_message;
        std::string auth_bytes;
        int64_t lifetime_ms = 0;
        std::optional<std::string> close;
        step::kind k = step::failed;
        bool reauthentication = false;
    };
    authenticate_answer answer_authenticate(std::string_view token, int16_t version, clock::time_point now,
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

} // namespace trib::net
