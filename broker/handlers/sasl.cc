// SaslHandshake (v1; v0 answered, its raw-token flow not served) and SaslAuthenticate (v0-2): SASL PLAIN, SCRAM and OAUTHBEARER on SASL_PLAINTEXT
// listeners. The exchange lives in the connection's session: SaslHandshake picks the
// mechanism, each SaslAuthenticate carries one client token and answers the server's. A
// failure answers SASL_AUTHENTICATION_FAILED with the reason and closes the connection after
// the response, as Kafka does. The last SaslAuthenticate tells v1+ clients the session's
// lifetime; a SaslHandshake on an authenticated connection whose session has an end begins a
// re-authentication (KIP-368; net/sasl_session.h has the rules, dispatch.cc closes a connection
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
    if (!s) {
        resp.error_code = code(error_code::illegal_sasl_state);
        co_return resp;
    }
    auto a = s->answer_handshake(ctx.version(), req.mechanism, ctx.conn.listener, session::clock::now());
    resp.error_code = a.error_code;
    resp.mechanisms = std::move(a.mechanisms);
    if (a.close) {
        ctx.close_after_response = std::move(*a.close);
    }
    if (a.outcome == session::handshake_outcome::start) {
        s->server = make_server(ctx.services, *s->sasl, req.mechanism);
    } else if (a.outcome == session::handshake_outcome::unsupported && s->reauthenticating) {
        ctx.services.metrics.sasl(ctx.conn.listener, broker_metrics::sasl_event::reauthentication_failed);
    }
    co_return resp;
}

namespace {

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
    if (!s) {
        resp.error_code = code(error_code::illegal_sasl_state);
        resp.error_message = "this listener does not use SASL";
        co_return resp;
    }
    const std::string mechanism = s->mechanism;
    auto a = s->answer_authenticate(as_string_view(req.auth_bytes), ctx.version(), session::clock::now(),
                                    wall_clock_ms());
    resp.error_code = a.error_code;
    resp.error_message = a.error_message;
    resp.auth_bytes.assign(a.auth_bytes.begin(), a.auth_bytes.end());
    if (a.close) {
        ctx.close_after_response = std::move(*a.close);
    }
    using event = broker_metrics::sasl_event;
    switch (a.k) {
    case session::step::illegal_state:
    case session::step::before_handshake:
    case session::step::more:
        break;
    case session::step::failed:
        TLOG_WARN("SASL/{} {} of {} on listener {} failed: {}", mechanism,
                  a.reauthentication ? "re-authentication" : "authentication", ctx.conn.peer, ctx.conn.listener,
                  *a.error_message);
        ctx.services.metrics.sasl(ctx.conn.listener,
                                  a.reauthentication ? event::reauthentication_failed : event::authentication_failed);
        break;
    case session::step::authenticated:
        resp.session_lifetime_ms = a.lifetime_ms;
        if (a.reauthentication) {
            ctx.services.metrics.sasl(ctx.conn.listener, event::reauthenticated);
            TLOG_DEBUG("{} re-authenticated as {} with SASL/{} on listener {}; session lifetime {} ms", ctx.conn.peer,
                       s->principal, mechanism, ctx.conn.listener, a.lifetime_ms);
            break;
        }
        ctx.services.metrics.sasl(ctx.conn.listener, event::authenticated);
        if (!s->client_supports_reauth) {
            ctx.services.metrics.sasl(ctx.conn.listener, event::authenticated_no_reauth);
        }
        TLOG_INFO("{} authenticated as {} with SASL/{} on listener {}{}", ctx.conn.peer, s->principal, mechanism,
                  ctx.conn.listener, s->expires_at ? fmt::format("; session lifetime {} ms", a.lifetime_ms) : "");
        break;
    }
    co_return resp;
}

} // namespace trib::broker
