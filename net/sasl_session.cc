#include "net/sasl_session.h"

#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <algorithm>

namespace trib::net {

std::optional<int64_t> session_lifetime_ms(int64_t max_reauth_ms, std::optional<int64_t> credential_expires_ms,
                                           int64_t now_ms) noexcept {
    const bool max_set = max_reauth_ms > 0;
    if (!credential_expires_ms && !max_set) {
        return std::nullopt;
    }
    int64_t lifetime = max_set ? max_reauth_ms : INT64_MAX;
    if (credential_expires_ms) {
        // A wall clock before the epoch is taken as the epoch, so the difference cannot overflow.
        const int64_t now = std::max<int64_t>(now_ms, 0);
        lifetime = std::min(lifetime, *credential_expires_ms <= now ? 0 : *credential_expires_ms - now);
    }
    return std::max<int64_t>(0, lifetime);
}

sasl_session::admission sasl_session::admit(int16_t api_key, clock::time_point now) const noexcept {
    if (!sasl) {
        return admission::serve;
    }
    const bool handshake = api_key == protocol::sasl_handshake_request::api_key;
    const bool authenticate = api_key == protocol::sasl_authenticate_request::api_key;
    if (at != stage::done) {
        if (reauthenticating) {
            return authenticate ? admission::serve : admission::reauthenticating;
        }
        return handshake || authenticate || api_key == protocol::api_versions_request::api_key
                   ? admission::serve
                   : admission::unauthenticated;
    }
    if (expired(now) && !(handshake && may_begin_reauth(now))) {
        return admission::expired;
    }
    return admission::serve;
}

std::string sasl_session::refusal(admission a, int16_t api_key, int32_t correlation,
                                  std::string_view listener) const {
    const char* why = a == admission::unauthenticated
                          ? "before SASL authentication: only ApiVersions, SaslHandshake and SaslAuthenticate may "
                            "come first"
                      : a == admission::reauthenticating
                          ? "during SASL re-authentication: only SaslAuthenticate may follow the SaslHandshake"
                          : "after the SASL session's lifetime ended without re-authentication";
    const auto* api = protocol::find_api(api_key);
    std::string out;
    if (a == admission::expired) {
        out = "expired SASL session of " + principal + ": ";
    }
    out += (api ? std::string(api->name) : "API key " + std::to_string(api_key)) + " request (correlation id " +
           std::to_string(correlation) + ") " + why + " (listener " + std::string(listener) + ")";
    if (a == admission::expired && !client_supports_reauth) {
        out += "; the client sent SaslAuthenticate v0, it cannot re-authenticate";
    }
    return out;
}

int64_t sasl_session::authenticated(const std::string& user, int64_t max_reauth_ms,
                               std::optional<int64_t> credential_expires_ms, clock::time_point now, int64_t wall_ms) {
    principal = "User:" + user;
    at = stage::done;
    server.reset();
    const auto lifetime = session_lifetime_ms(max_reauth_ms, credential_expires_ms, wall_ms);
    if (!lifetime) {
        expires_at.reset();
        return 0;
    }
    // A lifetime too long for the clock's range is no end at all.
    const auto left = std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(
        std::min<int64_t>(*lifetime, std::chrono::duration_cast<std::chrono::milliseconds>(
                                         clock::time_point::max() - now).count())));
    expires_at = now + left;
    return *lifetime;
}

sasl_session::handshake_outcome sasl_session::handshake(const std::string& m, clock::time_point now) {
    if (at == stage::done) {
        if (!may_begin_reauth(now)) {
            return handshake_outcome::illegal_state_keep;
        }
        begin_reauth(now);
    } else if (at != stage::handshake) {
        return handshake_outcome::illegal_state_close;
    }
    if (std::find(sasl->mechanisms.begin(), sasl->mechanisms.end(), m) == sasl->mechanisms.end()) {
        return handshake_outcome::unsupported;
    }
    if (reauthenticating && m != mechanism) {
        refused_mechanism = m;
        return handshake_outcome::refused_later;
    }
    mechanism = m;
    at = stage::authenticate;
    return handshake_outcome::start;
}

sasl_session::handshake_answer sasl_session::answer_handshake(int16_t version, const std::string& m,
                                                              std::string_view listener, clock::time_point now) {
    using protocol::error_code;
    handshake_answer out;
    if (!sasl) {
        out.error_code = int16_t(error_code::illegal_sasl_state);  // a PLAINTEXT listener, as Kafka answers
        return out;
    }
    out.mechanisms = sasl->mechanisms;
    if (version == 0) {
        out.error_code = int16_t(error_code::unsupported_version);
        out.close = "SaslHandshake v0 (raw SASL tokens) is not served; clients send v1";
        return out;
    }
    out.outcome = handshake(m, now);
    switch (*out.outcome) {
    case handshake_outcome::start:
        break;
    case handshake_outcome::refused_later:
        // As Kafka: the handshake succeeds and the SaslAuthenticate that follows is refused,
        // so the refusal counts as a failed re-authentication.
        break;
    case handshake_outcome::illegal_state_keep:
        // Re-authentication is off for this session (no end) or began less than a second
        // ago: Kafka answers ILLEGAL_SASL_STATE and keeps the connection.
        out.mechanisms.clear();
        out.error_code = int16_t(error_code::illegal_sasl_state);
        break;
    case handshake_outcome::illegal_state_close:
        out.mechanisms.clear();
        out.error_code = int16_t(error_code::illegal_sasl_state);
        out.close = "SaslHandshake after the SASL mechanism was chosen";
        break;
    case handshake_outcome::unsupported:
        out.error_code = int16_t(error_code::unsupported_sasl_mechanism);
        out.close = "SASL mechanism '" + m + "' is not enabled on listener " + std::string(listener);
        break;
    }
    return out;
}

sasl_session::step sasl_session::authenticate(std::string_view token, int16_t version, int64_t max_reauth_ms,
                                              clock::time_point now, int64_t wall_ms) {
    step out;
    out.reauthentication = reauthenticating;
    if (at == stage::done) {
        out.k = step::illegal_state;
        out.text = "already authenticated (a re-authentication begins with SaslHandshake)";
        return out;
    }
    if (at == stage::handshake || (!server && refused_mechanism.empty())) {
        out.k = step::before_handshake;
        out.text = "SaslAuthenticate before SaslHandshake";
        return out;
    }
    // A client that sends v1+ once reads session lifetimes (Kafka decides the same way).
    client_supports_reauth = client_supports_reauth || version >= 1;
    auto fail = [&](std::string why) {
        server.reset();
        at = stage::handshake;  // nothing more is served: the connection closes after the answer
        out.k = step::failed;
        out.text = std::move(why);
        return out;
    };
    if (!refused_mechanism.empty()) {
        return fail("re-authentication must use the session's SASL mechanism " + mechanism + ", not " +
                    refused_mechanism);
    }
    auto answer = server->step(token);
    if (!answer) {
        return fail(std::move(answer.error()));
    }
    if (!server->complete()) {
        out.k = step::more;
        out.text = std::move(answer.value());
        return out;
    }
    const std::string user = server->username();
    if (reauthenticating && principal != "User:" + user) {
        return fail("re-authentication as User:" + user + " refused: the connection is authenticated as " +
                    principal + " and its principal cannot change");
    }
    out.k = step::authenticated;
    out.text = std::move(answer.value());
    out.lifetime_ms = authenticated(user, max_reauth_ms, server->credential_expires_ms(), now, wall_ms);
    return out;
}

sasl_session::authenticate_answer sasl_session::answer_authenticate(std::string_view token, int16_t version,
                                                                    clock::time_point now, int64_t wall_ms) {
    using protocol::error_code;
    authenticate_answer out;
    if (!sasl) {
        out.k = step::illegal_state;
        out.error_code = int16_t(error_code::illegal_sasl_state);
        out.error_message = "this listener does not use SASL";
        return out;
    }
    auto st = authenticate(token, version, sasl->max_reauth_ms_for(mechanism), now, wall_ms);
    out.k = st.k;
    out.reauthentication = st.reauthentication;
    switch (st.k) {
    case step::illegal_state:
        out.error_code = int16_t(error_code::illegal_sasl_state);
        out.error_message = std::move(st.text);
        break;
    case step::before_handshake:
        out.error_code = int16_t(error_code::illegal_sasl_state);
        out.error_message = st.text;
        out.close = std::move(st.text);
        break;
    case step::failed:
        out.error_code = int16_t(error_code::sasl_authentication_failed);
        out.error_message = std::move(st.text);
        out.close = st.reauthentication ? "SASL re-authentication failed" : "SASL authentication failed";
        break;
    case step::more:
        out.auth_bytes = std::move(st.text);
        break;
    case step::authenticated:
        out.auth_bytes = std::move(st.text);
        out.lifetime_ms = st.lifetime_ms;
        break;
    }
    return out;
}

} // namespace trib::net
