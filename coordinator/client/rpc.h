#pragma once

// A Kafka-framed request/response channel to a coordinator, one request at a time:
// size prefix, request header v1 (private APIs are not flexible at the header level;
// AlterPartition, a flexible Kafka API, gets v2),
// body; the response header v0 (v1 for AlterPartition). Every call has a deadline; a failed call closes the
// channel and the next call reconnects, trying the coordinators in turn. A call on a
// connection the other end closed while it was idle (a coordinator restart, an idle timeout,
// a network cut) reconnects first instead of failing: the request was never sent.
#include "common/bytes.h"
#include "common/listeners.h"
#include "common/runtime.h"
#include "protocol/api.h"
#include "protocol/wire.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <vector>

namespace trib::coordinator {

class rpc_channel {
public:
    rpc_channel(asio::any_io_executor ex, std::vector<config::host_port> targets, std::string client_id);
    rpc_channel(const rpc_channel&) = delete;
    rpc_channel& operator=(const rpc_channel&) = delete;

    // Sends `req` (version 0: the private RPCs; AlterPartition passes its own) and decodes the
    // answer into `resp`. Errors: errc::not_connected when no coordinator accepts a
    // connection, errc::rpc_failed / timed_out otherwise.
    template<typename Req, typename Resp>
    asio::awaitable<std::error_code> call(const Req& req, Resp& resp, std::chrono::milliseconds timeout,
                                          int16_t version = 0);

    void close();
    bool is_open() const { return _socket.is_open(); }

private:
    asio::awaitable<std::error_code> exchange(const bytes& request, bytes& response, std::chrono::milliseconds timeout);
    asio::awaitable<std::error_code> connect(std::chrono::milliseconds timeout);
    void arm_deadline(std::chrono::milliseconds timeout);
    // The open socket's other end has closed it (or it is unusable): see rpc.cc.
    bool peer_closed();

    asio::any_io_executor _ex;
    std::vector<config::host_port> _targets;
    std::string _client_id;
    size_t _next_target = 0;
    asio::ip::tcp::socket _socket;
    asio::steady_timer _deadline;
    int32_t _next_correlation = 1;
    bool _timed_out = false;
};

template<typename Req, typename Resp>
asio::awaitable<std::error_code> rpc_channel::call(const Req& req, Resp& resp, std::chrono::milliseconds timeout,
                                                   int16_t version) {
    protocol::writer w;
    w.write_int32(0);
    protocol::request_header h;
    h.api_key = Req::api_key;
    h.api_version = version;
    h.correlation_id = _next_correlation++;
    h.client_id = _client_id;
    protocol::encode_request_header(w, h);
    req.encode(w, version);
    bytes frame = w.take();
    store_be32(frame.data(), uint32_t(frame.size() - 4));
    bytes reply;
    auto ec = co_await exchange(frame, reply, timeout);
    if (ec) {
        co_return ec;
    }
    protocol::reader r(reply);
    auto corr = protocol::decode_response_header(r, protocol::response_header_version(Req::api_key, version));
    resp = Resp{};
    resp.decode(r, version);
    if (!corr || *corr != h.correlation_id || !r.ok()) {
        close();
        co_return std::make_error_code(std::errc::bad_message);
    }
    co_return std::error_code{};
}

} // namespace trib::coordinator
