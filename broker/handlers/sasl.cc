// SaslHandshake (v1; v0 answered, its raw-token flow not served) and SaslAuthenticate (v0-2): SASL PLAIN, SCRAM and OAUTHBEARER on SASL_PLAINTEXT
// and SASL_SSL listeners. The exchange lives in the connection's session and follows
// net/sasl_session.h (shared with the coordinator): SaslHandshake picks the mechanism, each
// SaslAuthenticate carries one client token and answers the server's; a failure closes the
// connection after the response, as Kafka does. This file makes the broker's exchanges:
// PLAIN, SCRAM against the metadata log's and the static credentials, OAUTHBEARER.
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
    if (auto plain = net::make_listener_sasl_server(l, mechanism)) {
        return plain;
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
    ctx.close_after_response = s->handshake(ctx.version(), req, resp, ctx.conn.listener,
                                            [&](const std::string& m) { return make_server(ctx.services, *s->sasl, m); });
    co_return resp;
}

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
    ctx.close_after_response = s->authenticate(req, resp, ctx.conn);
    co_return resp;
}

} // namespace trib::broker
