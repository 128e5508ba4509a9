#include "operator/kafka/admin_session.h"

#include "operator/kafka/security.h"
#include "protocol/error_code.h"

#include <fmt/format.h>

namespace trib::op::kafka {

admin_session::admin_session(session_options options) : _options(std::move(options)) {}

admin_session::~admin_session() {
    close_all();
}

void admin_session::close_all() {
    for (auto& [_, c] : _clients) {
        c->close();
    }
    // close() fails what is outstanding; let those completions run before the clients go.
    _ctx.restart();
    while (_ctx.poll() > 0) {
    }
    _clients.clear();
}

net::kafka_client& admin_session::client_for(const config::host_port& to, bool negotiate) {
    const auto& tls = tls_scope::current();
    auto key = std::make_tuple(config::format_host_port(to.host, to.port), negotiate, tls);
    auto it = _clients.find(key);
    if (it == _clients.end()) {
        net::kafka_client_options o;
        o.client_id = _options.client_id;
        o.connect_timeout = _options.timeout;
        o.ask_api_versions = negotiate;
        o.tls = tls;
        o.tls_verify_host = false;  // by chain: peers are dialled at pod IPs (kafka/security.h)
        it = _clients.emplace(key, std::make_unique<net::kafka_client>(_ctx.get_executor(), to, o)).first;
    }
    return *it->second;
}

std::string error_text(int16_t code, const std::optional<std::string>& message) {
    std::string out(protocol::error_code_name(protocol::error_code(code)));
    if (message && !message->empty()) {
        out += ": " + *message;
    }
    return out;
}

std::string admin_session::describe_failure(const config::host_port& to, int16_t api_key, const std::error_code& ec,
                                            const std::string& last_error) {
    const auto* api = protocol::find_api(api_key);
    std::string what = ec.message();
    if (!last_error.empty()) {
        what += " (" + last_error + ")";
    }
    return fmt::format("{}: {}: {}", config::format_host_port(to.host, to.port),
                       api ? std::string(api->name) : fmt::format("api {}", api_key), what);
}

} // namespace trib::op::kafka
