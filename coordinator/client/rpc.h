#pragma once

// A Kafka-framed request/response channel to a coordinator, one request at a time, over a
// net::kafka_client (net/kafka_client.h: framing, deadlines, TLS and SASL): request header v1
// (private APIs are not flexible at the header level; AlterPartition, a flexible Kafka API,
// gets v2), the response header v0 (v1 for AlterPartition). Every call has a deadline; a
// failed call closes the channel and the next call reconnects, trying the coordinators in
// turn. A call on a connection the other end closed while it was idle (a coordinator restart,
// an idle timeout, a network cut) reconnects first instead of failing: the client's reader
// sees the end of stream as it comes, so the request is never written into the dead
// connection (only a close that arrives in the instant the request is written fails it).
// A NOT_CONTROLLER answer (the coordinator is not the active controller: it decided nothing)
// is sent again, within the call's deadline: to the active controller the answer names
// (ControllerId/Host/Port, tagged fields of the private responses), or, without a name (an
// election under way, or AlterPartition, Kafka's message, which has no such field), to the
// next coordinator in turn after a short pause. When the deadline or the tries run out, the
// caller gets the last NOT_CONTROLLER answer.
//
// Security: the controller listener's (net/client_security.h: TLS with its truststore and
// keystore, a SASL login); plaintext by default. A coordinator that can't be reached, or
// refuses the TLS handshake or the login, is logged as a warning with the reason (once per
// coordinator and reason, again when the reason changes or it was reached in between).
#include "common/bytes.h"
#include "common/listeners.h"
#include "common/runtime.h"
#include "net/client_security.h"
#include "net/kafka_client.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/wire.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace trib::coordinator {

class rpc_channel {
public:
    rpc_channel(asio::any_io_executor ex, std::vector<config::host_port> targets, std::string client_id,
                net::client_security security = {});
    rpc_channel(const rpc_channel&) = delete;
    rpc_channel& operator=(const rpc_channel&) = delete;

    // Sends `req` (version 0: the private RPCs; AlterPartition passes its own) and decodes the
    // answer into `resp`. Errors: errc::not_connected when no coordinator accepts a
    // connection, errc::rpc_failed / timed_out otherwise.
    template<typename Req, typename Resp>
    asio::awaitable<std::error_code> call(const Req& req, Resp& resp, std::chrono::milliseconds timeout,
                                          int16_t version = 0);

    void close();
    bool is_open() const { return _client && _client->connected(); }
    // The coordinators the quorum names (its voter set, from metadata fetches): tried after
    // the configured ones, replacing those learned before. A broker given some of the voters
    // thus still finds a quorum that grew past them and lost them.
    void set_learned(const std::vector<config::host_port>& learned);
    const std::vector<config::host_port>& targets() const noexcept { return _targets; }
    // Where the channel is (or last was) connected, and how many connections it opened.
    const std::optional<config::host_port>& connected_to() const noexcept { return _connected_to; }
    uint64_t connects() const noexcept { return _connects; }

    // The pause before trying the next coordinator after a NOT_CONTROLLER without a name.
    static constexpr std::chrono::milliseconds not_controller_backoff{100};

private:
    // The active controller a NOT_CONTROLLER answer names, if it does.
    template<typename Resp>
    static std::optional<config::host_port> controller_hint(const Resp& resp);
    // Connected, or connects (the configured and learned coordinators in turn).
    asio::awaitable<std::error_code> ensure_connected(std::chrono::milliseconds timeout);
    asio::awaitable<std::error_code> connect(std::chrono::milliseconds timeout);
    asio::awaitable<std::error_code> connect_to(const config::host_port& target, std::chrono::milliseconds timeout);
    asio::awaitable<void> pause(std::chrono::milliseconds d);
    // A failed call's error as the channel's (errc), closing the connection.
    std::error_code failed(std::error_code client_error);

    asio::any_io_executor _ex;
    std::vector<config::host_port> _configured;
    std::vector<config::host_port> _targets;         // _configured, then the learned ones
    std::string _client_id;
    net::client_security _security;
    size_t _next_target = 0;
    std::optional<config::host_port> _hint;          // tried first by the next connect()
    std::optional<config::host_port> _connected_to;
    uint64_t _connects = 0;
    // The connection: replaced at each connect (a closed kafka_client stays closed). Calls are
    // one at a time, so none is outstanding on a client being replaced.
    std::unique_ptr<net::kafka_client> _client;
    // host:port -> the last reason logged for it, so a coordinator that stays unreachable
    // for the same reason is logged once.
    std::map<std::string, std::string> _logged;
};

template<typename Resp>
std::optional<config::host_port> rpc_channel::controller_hint(const Resp& resp) {
    if constexpr (requires { resp.controller_id; resp.controller_host; resp.controller_port; }) {
        if (resp.controller_id >= 0 && resp.controller_host && !resp.controller_host->empty() &&
            resp.controller_port > 0 && resp.controller_port <= 65535) {
            return config::host_port{*resp.controller_host, uint16_t(resp.controller_port)};
        }
    }
    return std::nullopt;
}

template<typename Req, typename Resp>
asio::awaitable<std::error_code> rpc_channel::call(const Req& req, Resp& resp, std::chrono::milliseconds timeout,
                                                   int16_t version) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    const size_t max_tries = 2 * _targets.size() + 2;
    for (size_t tries = 1;; ++tries) {
        const auto left = std::max(std::chrono::milliseconds(1),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
        if (auto ec = co_await ensure_connected(left); ec) {
            co_return ec;
        }
        auto answer = co_await _client->template call<Resp>(req, version, left);
        if (!answer) {
            co_return failed(answer.error());
        }
        resp = std::move(*answer);
        if (resp.error_code != int16_t(protocol::error_code::not_controller) || tries >= max_tries ||
            clock::now() >= deadline) {
            co_return std::error_code{};
        }
        // Not the active controller (nothing was decided): go to the one it names, or on.
        close();
        _hint = controller_hint(resp);
        if (!_hint) {
            co_await pause(std::min(not_controller_backoff, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                deadline - clock::now())));
        }
    }
}

} // namespace trib::coordinator
