#include "coordinator/client/rpc.h"

#include "common/log.h"
#include "coordinator/client/errc.h"

#include <boost/asio/redirect_error.hpp>

#include <algorithm>
#include <utility>

namespace trib::coordinator {

using boost::system::error_code;

rpc_channel::rpc_channel(asio::any_io_executor ex, std::vector<config::host_port> targets, std::string client_id,
                         net::client_security security)
  : _ex(ex)
  , _configured(targets)
  , _targets(std::move(targets))
  , _client_id(std::move(client_id))
  , _security(std::move(security)) {}

void rpc_channel::set_learned(const std::vector<config::host_port>& learned) {
    std::vector<config::host_port> t = _configured;
    for (const auto& hp : learned) {
        if (std::find(t.begin(), t.end(), hp) == t.end()) {
            t.push_back(hp);
        }
    }
    _targets = std::move(t);
}

// Fails a call outstanding on the client (stop() closes the channels under their loops); the
// client object stays until the next connect replaces it, so that call can still return.
void rpc_channel::close() {
    if (_client) {
        _client->close();
    }
}

std::error_code rpc_channel::failed(std::error_code client_error) {
    close();
    if (client_error == net::client_errc::timed_out) {
        return make_error_code(errc::timed_out);
    }
    if (client_error == net::client_errc::not_connected) {
        return make_error_code(errc::not_connected);
    }
    if (client_error == net::client_errc::bad_response) {
        return std::make_error_code(std::errc::bad_message);
    }
    return make_error_code(errc::rpc_failed);
}

asio::awaitable<std::error_code> rpc_channel::connect_to(const config::host_port& target,
                                                         std::chrono::milliseconds timeout) {
    net::kafka_client_options o;
    o.client_id = _client_id;
    o.connect_timeout = timeout;
    o.ask_api_versions = false;  // the private RPCs are v0; only SASL needs the versions (apply)
    o.log_connect_failures = false;  // logged below, once per coordinator and reason
    _security.apply(o);
    _client = std::make_unique<net::kafka_client>(_ex, target, o);
    auto connected = co_await _client->connect(timeout);
    const std::string where = target.host + ":" + std::to_string(target.port);
    if (!connected) {
        const std::string reason =
            _client->last_error().empty() ? connected.error().message() : _client->last_error();
        _client->close();
        auto& logged = _logged[where];
        if (logged != reason) {
            // Why this broker can't reach the quorum there: down, refused TLS, a wrong login.
            TLOG_WARN("coordinator {} ({} controller listener {}): {}", where, _security.protocol,
                      _security.listener.empty() ? "-" : _security.listener, reason);
            logged = reason;
        }
        co_return make_error_code(errc::not_connected);
    }
    if (auto it = _logged.find(where); it != _logged.end()) {
        TLOG_INFO("coordinator {} reached again", where);
        _logged.erase(it);
    }
    _connected_to = target;
    ++_connects;
    co_return std::error_code{};
}

asio::awaitable<std::error_code> rpc_channel::connect(std::chrono::milliseconds timeout) {
    // The active controller a coordinator named first, then the voters in turn.
    if (auto hint = std::exchange(_hint, std::nullopt)) {
        TLOG_DEBUG("coordinator: following the active controller to {}:{}", hint->host, hint->port);
        if (!co_await connect_to(*hint, timeout)) {
            co_return std::error_code{};
        }
    }
    for (size_t tries = 0; tries < _targets.size(); ++tries) {
        const auto target = _targets[_next_target % _targets.size()];
        ++_next_target;
        if (!co_await connect_to(target, timeout)) {
            co_return std::error_code{};
        }
    }
    co_return make_error_code(errc::not_connected);
}

// A connection the other end closed while it sat idle (the coordinator restarted, or dropped
// it: connections.max.idle.ms, a network cut) is known dead here: the client's reader saw the
// end of stream, or (its executor not having run since) a peek at the socket finds it. It is replaced, on the next coordinator in turn, before the request
// goes out, so the request is sent once, on a live connection.
asio::awaitable<std::error_code> rpc_channel::ensure_connected(std::chrono::milliseconds timeout) {
    if (_client && _client->connected() && !_client->peer_closed()) {
        co_return std::error_code{};
    }
    if (_client) {
        TLOG_DEBUG("coordinator connection closed: reconnecting");
        _client->close();
    }
    co_return co_await connect(timeout);
}

asio::awaitable<void> rpc_channel::pause(std::chrono::milliseconds d) {
    asio::steady_timer t(_ex, d);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

} // namespace trib::coordinator
