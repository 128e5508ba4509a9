#include "broker/session.h"

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

session::admission session::admit(int16_t api_key, clock::time_point now) const noexcept {
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

int64_t session::authenticated(const std::string& user, int64_t max_reauth_ms,
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

} // namespace trib::broker
