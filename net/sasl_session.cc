#include "net/sasl_session.h"

#include "common/log.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages/api_versions.h"
#include "security/plain.h"

#include <algorithm>

namespace trib::net {

using protocol::error_code;

namespace {
int16_t code(error_code e) { return int16_t(e); }
} // namespace

std::optional<std::string> sasl_session::refuse_before_authentication(int16_t api_key, int32_t correlation,
                                                                      std::string_view listener) const {
    if (!needs_authentication() || api_key == protocol::api_versions_request::api_key ||
        api_key == protocol::sasl_handshake_request::api_key ||
        api_key == protocol::sasl_authenticate_request::api_key) {
        return std::nullopt;
    }
    const auto* api = protocol::find_api(api_key);
    return fmt::format("{} request (correlation id {}) before SASL authentication on listener {}: only ApiVersions, "
                       "SaslHandshake and SaslAuthenticate may come first",
                       api ? std::string(api->name) : "API key " + std::to_string(api_key), correlation, listener);
}

std::optional<std::string> sasl_session::handshake(int16_t version, const protocol::sasl_handshake_request& req,
                                                   protocol::sasl_handshake_response& resp, std::string_view listener,
                                                   const server_factory& make) {
    if (!sasl) {
        resp.error_code = code(error_code::illegal_sasl_state);  // a PLAINTEXT listener, as Kafka answers
        return std::nullopt;
    }
    if (version == 0) {
        // v0 is answered (librdkafka enables SASL only where v0 is advertised, then sends v1),
        // but the raw-token exchange that follows a v0 handshake in Kafka is not served.
        resp.error_code = code(error_code::unsupported_version);
        resp.mechanisms = sasl->mechanisms;
        return "SaslHandshake v0 (raw SASL tokens) is not served; clients send v1";
    }
    if (at != stage::handshake) {
        resp.error_code = code(error_code::illegal_sasl_state);
        return "SaslHandshake after the SASL mechanism was chosen";
    }
    resp.mechanisms = sasl->mechanisms;
    const auto& enabled = sasl->mechanisms;
    if (std::find(enabled.begin(), enabled.end(), req.mechanism) == enabled.end()) {
        resp.error_code = code(error_code::unsupported_sasl_mechanism);
        return fmt::format("SASL mechanism '{}' is not enabled on listener {}", req.mechanism, listener);
    }
    mechanism = req.mechanism;
    server = make(req.mechanism);
    at = stage::authenticate;
    return std::nullopt;
}

std::optional<std::string> sasl_session::authenticate(const protocol::sasl_authenticate_request& req,
                                                      protocol::sasl_authenticate_response& resp,
                                                      const connection_info& conn) {
    resp.error_message = std::nullopt;
    if (!sasl || at == stage::done) {
        resp.error_code = code(error_code::illegal_sasl_state);
        resp.error_message = !sasl ? "this listener does not use SASL"
                                   : "already authenticated (re-authentication is not supported)";
        return std::nullopt;
    }
    if (at == stage::handshake || !server) {
        resp.error_code = code(error_code::illegal_sasl_state);
        resp.error_message = "SaslAuthenticate before SaslHandshake";
        return "SaslAuthenticate before SaslHandshake";
    }
    auto answer = server->step(as_string_view(req.auth_bytes));
    if (!answer) {
        resp.error_code = code(error_code::sasl_authentication_failed);
        resp.error_message = answer.error();
        TLOG_WARN("SASL/{} authentication of {} on listener {} failed: {}", mechanism, conn.peer, conn.listener,
                  answer.error());
        return "SASL authentication failed";
    }
    resp.auth_bytes.assign(answer.value().begin(), answer.value().end());
    if (server->complete()) {
        principal = "User:" + server->username();
        at = stage::done;
        server.reset();
        TLOG_INFO("{} authenticated as {} with SASL/{} on listener {}", conn.peer, principal, mechanism,
                  conn.listener);
    }
    return std::nullopt;
}

std::unique_ptr<security::sasl_server> make_listener_sasl_server(const security::listener_sasl& l,
                                                                 const std::string& mechanism) {
    if (mechanism == security::mechanism_plain) {
        return security::make_plain_server(l.plain_users);
    }
    return nullptr;
}

} // namespace trib::net
