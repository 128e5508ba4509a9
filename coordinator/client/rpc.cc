#include "coordinator/client/rpc.h"

#include "common/log.h"
#include "coordinator/client/errc.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace trib::coordinator {

using boost::system::error_code;

rpc_channel::rpc_channel(asio::any_io_executor ex, std::vector<config::host_port> targets, std::string client_id)
  : _ex(ex)
  , _configured(targets)
  , _targets(std::move(targets))
  , _client_id(std::move(client_id))
  , _socket(ex)
  , _deadline(ex) {}

void rpc_channel::set_learned(const std::vector<config::host_port>& learned) {
    std::vector<config::host_port> t = _configured;
    for (const auto& hp : learned) {
        if (std::find(t.begin(), t.end(), hp) == t.end()) {
            t.push_back(hp);
        }
    }
    _targets = std::move(t);
}

void rpc_channel::close() {
    error_code ec;
    _socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    _socket.close(ec);
}

asio::awaitable<std::error_code> rpc_channel::connect_to(const config::host_port& target,
                                                         std::chrono::milliseconds timeout) {
    asio::ip::tcp::resolver resolver(_ex);
    error_code ec;
    auto results = co_await resolver.async_resolve(target.host, std::to_string(target.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        _socket = asio::ip::tcp::socket(_ex);
        arm_deadline(timeout);
        co_await asio::async_connect(_socket, results, asio::redirect_error(asio::use_awaitable, ec));
        _deadline.cancel();
    }
    if (ec) {
        close();
        TLOG_DEBUG("coordinator {}:{}: {}", target.host, target.port, ec.message());
        co_return make_error_code(errc::not_connected);
    }
    _socket.set_option(asio::ip::tcp::no_delay(true), ec);
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

asio::awaitable<void> rpc_channel::pause(std::chrono::milliseconds d) {
    asio::steady_timer t(_ex, d);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Closes the socket when `timeout` passes before _deadline is cancelled: the pending
// operation then fails and _timed_out says why.
void rpc_channel::arm_deadline(std::chrono::milliseconds timeout) {
    _timed_out = false;
    _deadline.expires_after(timeout);
    _deadline.async_wait([this](error_code e) {
        if (!e) {
            _timed_out = true;
            close();
        }
    });
}

// An open connection kept from an earlier call may have been closed by the other end while
// it sat idle (the coordinator restarted, or dropped it: connections.max.idle.ms, a network
// cut): the FIN or reset is already here, unread. A request written into it would be lost and
// the call would fail although the coordinator may be back. Peeking without blocking tells:
// 0 bytes is end of stream, an error other than "nothing yet" a dead socket. Nothing is ever
// unread on a healthy idle channel (one request at a time, every answer read whole), so
// pending bytes mean it is out of step: dropped too.
bool rpc_channel::peer_closed() {
    uint8_t b;
    ssize_t n = ::recv(_socket.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

asio::awaitable<std::error_code> rpc_channel::exchange(const bytes& request, bytes& response,
                                                       std::chrono::milliseconds timeout) {
    if (_socket.is_open() && peer_closed()) {
        TLOG_DEBUG("coordinator connection closed by the other end while idle: reconnecting");
        close();  // never sent on it: the request goes out once, on the new connection
    }
    if (!_socket.is_open()) {
        if (auto ec = co_await connect(timeout); ec) {
            co_return ec;
        }
    }
    arm_deadline(timeout);
    error_code ec;
    co_await asio::async_write(_socket, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
    uint8_t size_buf[4];
    if (!ec) {
        co_await asio::async_read(_socket, asio::buffer(size_buf), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
        auto size = int32_t(load_be32(size_buf));
        if (size < 0 || size > (256 << 20)) {
            ec = asio::error::message_size;
        } else {
            response.resize(size_t(size));
            co_await asio::async_read(_socket, asio::buffer(response), asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    _deadline.cancel();
    if (ec) {
        close();
        co_return make_error_code(_timed_out ? errc::timed_out : errc::rpc_failed);
    }
    co_return std::error_code{};
}

} // namespace trib::coordinator
