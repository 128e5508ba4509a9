#include "net/client_security.h"

namespace trib::net {

void client_security::apply(kafka_client_options& o) const {
    o.tls = tls;
    o.tls_verify_host = verify_host;
    if (login) {
        o.sasl_mechanism = login->mechanism;
        o.sasl_username = login->username;
        o.sasl_password = login->password;
        // SaslHandshake and SaslAuthenticate versions come from the ApiVersions answer.
        o.ask_api_versions = true;
    }
}

client_security load_client_security(const config::values& v, const std::map<std::string, std::string>& protocols,
                                     const std::string& listener, const std::string& mechanism_key,
                                     const security::listener_sasl* served, std::string_view role) {
    client_security c;
    c.listener = listener;
    auto it = protocols.find(listener);
    if (it == protocols.end()) {
        throw config::config_error("listener.security.protocol.map: no security protocol for " + std::string(role) +
                                   " " + listener);
    }
    c.protocol = it->second;
    if (c.protocol == "SSL" || c.protocol == "SASL_SSL") {
        auto settings = tls_settings_for(v, listener, tls_role::client);
        c.verify_host = settings.verify_peer_host;
        c.tls = std::make_shared<tls_source>(std::move(settings), tls_role::client);
    }
    if (c.protocol == "SASL_PLAINTEXT" || c.protocol == "SASL_SSL") {
        c.login = security::load_sasl_login(v.with_prefix("listener.name."), listener, served, mechanism_key,
                                            v.get_string(mechanism_key), role);
    }
    return c;
}

} // namespace trib::net
