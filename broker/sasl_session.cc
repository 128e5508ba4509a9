#include "broker/sasl_session.h"

#include "protocol/messages.h"

#include <algorithm>

namespace trib::broker {

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

} // namespace trib::broker
