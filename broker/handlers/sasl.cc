// SaslHandshake (v1; v0 answered, its raw-token flow not served) and SaslAuthenticate (v0-2): SASL PLAIN, SCRAM and OAUTHBEARER on SASL_PLAINTEXT
// listeners. The exchange lives in the connection's session: SaslHandshake picks the
// mechanism, each SaslAuthenticate carries one client token and answers the server's. A
// failure answers SASL_AUTHENTICATION_FAILED with the reason and closes the connection after
// the response, as Kafka does. The last SaslAuthenticate tells v1+ clients the session's
// lifetime; a SaslHandshake on an authenticated connection whose session has an end begins a
// re-authentication (KIP-368; broker/session.h has the rules, dispatch.cc closes a connection
// whose session ended).
#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"
#include "coordinator/client/records.h"
#include "security/oauthbearer.h"
#include "security/plain.h"
#include "security/scram.h"

#include <algorithm>

namespace trib::broker {

using protocol::error_code;

namespace {

std::unique_ptr<security::sasl_server> make_server(const broker_services& services, const listener_sasl& l,
                                                   const std::string& mechanism) {
    if (mechanism == security::mechanism_plain) {
        return security::make_plain_server(l.plain_users);
    }
    if (mechanism == security::mechanism_oauthbearer) {
        // sasl_config loaded the keys since a listener enables OAUTHBEARER.
        return security::make_oauthbearer_server(services.config.sasl.oauth_keys, services.config.sasl.oauth_rules);
    }
    auto alg = security::scram_algorithm_for(mechanism);
    // The metadata log's credentials first (AlterUserScramCredentials; the snapshot of the
    // moment the client names itself, so a user added a moment ago is known), then the static
    // tributary.sasl.scram.users.
    return security::make_scram_server(*alg, [&services, a = *alg](const std::string& user) {
        const auto snap = services.metadata.get();
        const int8_t m = int8_t(a == security::scram_algorithm::sha256 ? coordinator::scram_mechanism::sha256
                                                                        : coordinator::scram_mechanism::sha512);
        if (auto u = snap->scram.find(user); u != snap->scram.end()) {
            if (auto c = u->second.find(m); c != u->second.end()) {
                return std::optional<security::scram_credential>(security::scram_credential{
                    c->second.salt, c->second.stored_key, c->second.server_key, c->second.iterations});
            }
        }
        return services.config.sasl.scram_credential(a, user);
    });
}

} // namespace

handler_result<protocol::sasl_handshake_response> sasl_handshake_handler::handle(request_context& ctx,
                                                                                   request&& req) {
    response resp;
    auto* s = ctx.session();
    if (!s || !s->sasl) {
        resp.error_code = code(error_code::illegal_sasl_state);  // a PLAINTEXT listener, as Kafka answers
        co_return resp;
    }
    if (ctx.version() == 0) {
        // v0 is answered (librdkafka enables SASL only where v0 is advertised, then sends v1),
        // but the raw-token exchange that follows a v0 handshake in Kafka is not served.
        resp.error_code = code(error_code::unsupported_version);
        resp.mechanisms = s->sasl->mechanisms;
        ctx.close_after_response = "SaslHandshake v0 (raw SASL tokens) is not served; clients send v1";
        co_return resp;
    }
    const auto now = session::clock::now();
    if (s->at == session::stage::done) {
        if (!s->may_begin_reauth(now)) {
            // Re-authentication is off for this session (no end) or began less than a second
            // ago: Kafka answers ILLEGAL_SASL_STATE and keeps the connection.
            resp.error_code = code(error_code::illegal_sasl_state);
            co_return resp;
        }
        s->begin_reauth(now);
    } else if (s->at != session::stage::handshake) {
        resp.error_code = code(error_code::illegal_sasl_state);
        ctx.close_after_response = "SaslHandshake after the SASL mechanism was chosen";
        co_return resp;
    }
    resp.mechanisms = s->sasl->mechanisms;
    const auto& enabled = s->sasl->mechanisms;
    if (std::find(enabled.begin(), enabled.end(), req.mechanism) == enabled.end()) {
        resp.error_code = code(error_code::unsupported_sasl_mechanism);
        ctx.close_after_response = fmt::format("SASL mechanism '{}' is not enabled on listener {}",
                                               req.mechanism, ctx.conn.listener);
        if (s->reauthenticating) {
            ctx.services.metrics.sasl(ctx.conn.listener, broker_metrics::sasl_event::reauthentication_failed);
        }
        co_return resp;
    }
    if (s->reauthenticating && req.mechanism != s->mechanism) {
        // As Kafka: the handshake succeeds and the SaslAuthenticate that follows is refused,
        // so the refusal counts as a failed re-authentication.
        s->refused_mechanism = req.mechanism;
        co_return resp;
    }
    s->mechanism = req.mechanism;
    s->server = make_server(ctx.services, *s->sasl, req.mechanism);
    s->at = session::stage::authenticate;
    co_return resp;
}

namespace {

// Ends the exchange with a failure: SASL_AUTHENTICATION_FAILED with `why`, then the connection closes.
void refuse(request_context& ctx, session& s, protocol::sasl_authenticate_response& resp, std::string why) {
    TLOG_WARN("SASL/{} {} of {} on listener {} failed: {}", s.mechanism,
              s.reauthenticating ? "re-authentication" : "authentication", ctx.conn.peer, ctx.conn.listener, why);
    ctx.services.metrics.sasl(ctx.conn.listener, s.reauthenticating
                                                     ? broker_metrics::sasl_event::reauthentication_failed
                                                     : broker_metrics::sasl_event::authentication_failed);
    resp.error_code = code(error_code::sasl_authentication_failed);
    resp.error_message = std::move(why);
    ctx.close_after_response = s.reauthenticating ? "SASL re-authentication failed" : "SASL authentication failed";
    s.server.reset();
}

int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

handler_result<protocol::sasl_authenticate_response> sasl_authenticate_handler::handle(request_context& ctx,
                                                                                         request&& req) {
    response resp;
    resp.error_message = std::nullopt;
    auto* s = ctx.session();
    if (!s || !s->sasl || s->at == session::stage::done) {
        resp.error_code = code(error_code::illegal_sasl_state);
        resp.error_message = !s || !s->sasl ? "this listener does not use SASL"
                                            : "already authenticated (a re-authentication begins with SaslHandshake)";
        co_return resp;
    }
    if (s->at == session::stage::handshake) {
        resp.error_code = code(error_code::illegal_sasl_state);
        resp.error_message = "SaslAuthenticate before SaslHandshake";
        ctx.close_after_response = "SaslAuthenticate before SaslHandshake";
        co_return resp;
    }
    // A client that sends v1+ once reads session lifetimes (Kafka decides the same way).
    s->client_supports_reauth = s->client_supports_reauth || ctx.version() >= 1;
    if (!s->refused_mechanism.empty()) {
        refuse(ctx, *s, resp,
               fmt::format("re-authentication must use the session's SASL mechanism {}, not {}", s->mechanism,
                           s->refused_mechanism));
        co_return resp;
    }
    auto answer = s->server->step(as_string_view(req.auth_bytes));
    if (!answer) {
        refuse(ctx, *s, resp, std::move(answer.error()));
        co_return resp;
    }
    resp.auth_bytes.assign(answer.value().begin(), answer.value().end());
    if (!s->server->complete()) {
        co_return resp;
    }
    const std::string& user = s->server->username();
    if (s->reauthenticating && s->principal != "User:" + user) {
        resp.auth_bytes.clear();
        refuse(ctx, *s, resp,
               fmt::format("re-authentication as User:{} refused: the connection is authenticated as {} and its "
                           "principal cannot change",
                           user, s->principal));
        co_return resp;
    }
    const bool reauth = s->reauthenticating;
    const auto expires = s->server->credential_expires_ms();
    resp.session_lifetime_ms = s->authenticated(user, s->sasl->max_reauth_ms_for(s->mechanism), expires,
                                                session::clock::now(), wall_clock_ms());
    if (reauth) {
        ctx.services.metrics.sasl(ctx.conn.listener, broker_metrics::sasl_event::reauthenticated);
        TLOG_DEBUG("{} re-authenticated as {} with SASL/{} on listener {}; session lifetime {} ms", ctx.conn.peer,
                   s->principal, s->mechanism, ctx.conn.listener, resp.session_lifetime_ms);
    } else {
        ctx.services.metrics.sasl(ctx.conn.listener, broker_metrics::sasl_event::authenticated);
        if (!s->client_supports_reauth) {
            ctx.services.metrics.sasl(ctx.conn.listener, broker_metrics::sasl_event::authenticated_no_reauth);
        }
        TLOG_INFO("{} authenticated as {} with SASL/{} on listener {}{}", ctx.conn.peer, s->principal, s->mechanism,
                  ctx.conn.listener,
                  s->expires_at ? fmt::format("; session lifetime {} ms", resp.session_lifetime_ms) : "");
    }
    co_return resp;
}

} // namespace trib::broker
