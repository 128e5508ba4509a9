#include "common/status_server.h"

#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <prometheus/text_serializer.h>

#include <sstream>

namespace trib {

using boost::system::error_code;

status_server::status_server(asio::io_context& ctx, std::shared_ptr<prometheus::Registry> registry,
                             std::function<bool()> ready, std::chrono::milliseconds request_timeout,
                             size_t max_connections, size_t max_per_address,
                             std::chrono::milliseconds refusal_log_interval)
  : _ctx(ctx), _registry(std::move(registry)), _ready(std::move(ready)), _request_timeout(request_timeout),
    _max_connections(max_connections), _max_per_address(max_per_address),
    _refusal_log_interval(refusal_log_interval) {}

uint16_t status_server::start(const std::string& host, uint16_t port) {
    error_code ec;
    auto address = host.empty() ? asio::ip::address(asio::ip::address_v4::any()) : asio::ip::make_address(host, ec);
    if (ec) {
        throw std::runtime_error("status listener: '" + host + "' is not an IP address");
    }
    _acceptor = std::make_unique<asio::ip::tcp::acceptor>(_ctx);
    asio::ip::tcp::endpoint ep(address, port);
    _acceptor->open(ep.protocol(), ec);
    _acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
        _acceptor->bind(ep, ec);
    }
    if (!ec) {
        _acceptor->listen(64, ec);
    }
    if (ec) {
        throw std::runtime_error("status listener: cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 ec.message());
    }
    asio::co_spawn(_ctx, accept_loop(), asio::detached);
    return _acceptor->local_endpoint().port();
}

void status_server::stop() {
    if (_acceptor) {
        asio::post(_ctx, [this] {
            error_code ec;
            _acceptor->close(ec);
            for (auto* sock : _open) {
                sock->close(ec);  // its read or write ends with operation_aborted
            }
        });
    }
}

std::pair<int, std::string> status_server::answer(std::string_view target) const {
    if (target == "/metrics") {
        std::ostringstream out;
        prometheus::TextSerializer().Serialize(out, _registry->Collect());
        return {200, out.str()};
    }
    if (target == "/healthz") {
        return {200, "ok\n"};
    }
    if (target == "/readyz") {
        return _ready() ? std::pair<int, std::string>{200, "ready\n"} : std::pair<int, std::string>{503, "starting\n"};
    }
    return {404, "not found\n"};
}

asio::awaitable<void> status_server::accept_loop() {
    for (;;) {
        error_code ec;
        auto sock = co_await _acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (!_acceptor->is_open()) {
                co_return;
            }
            continue;
        }
        asio::co_spawn(_ctx, serve(std::move(sock)), asio::detached);
    }
}

asio::awaitable<void> status_server::serve(asio::ip::tcp::socket accepted) {
    // Shared with the deadline's handler, which may run after this returns (its expiry
    // queued in the same pass as the last completion here): it then closes a socket that
    // still exists.
    auto shared = std::make_shared<asio::ip::tcp::socket>(std::move(accepted));
    auto& sock = *shared;
    error_code peer_ec;
    const auto peer = sock.remote_endpoint(peer_ec).address();  // unspecified if it already left
    struct registration {
        status_server& server;
        asio::ip::tcp::socket* sock;
        asio::ip::address peer;
        bool counted = false;
        ~registration() {
            if (counted) {
                server._open.erase(sock);
                if (--server._open_from[peer] == 0) {
                    server._open_from.erase(peer);
                }
            }
        }
    } registered{*this, &sock, peer};
    if (!_acceptor->is_open()) {  // accepted just before stop(), which found no socket to close
        co_return;
    }
    const auto counted = _open_from.find(peer);
    const size_t from_peer = counted == _open_from.end() ? 0 : counted->second;
    if (_open.size() >= _max_connections || from_peer >= _max_per_address) {  // closed as this returns
        ++_refused;
        const auto now = std::chrono::steady_clock::now();
        if (!_refusal_logged || now - *_refusal_logged >= _refusal_log_interval) {
            TLOG_WARN("status listener: {} connections open, {} of them from {}: the most it serves at once{}; "
                      "closing new ones until one ends ({} refused since the last such line, logged at most "
                      "every {} ms)",
                      _open.size(), from_peer, peer.to_string(),
                      _open.size() >= _max_connections ? "" : " from one address", _refused,
                      _refusal_log_interval.count());
            _refusal_logged = now;
            _refused = 0;
        }
        co_return;
    }
    _open.insert(&sock);
    ++_open_from[peer];
    registered.counted = true;
    asio::steady_timer deadline(_ctx, _request_timeout);  // cancelled when this returns
    deadline.async_wait([shared](error_code ec) {
        if (!ec) {
            shared->close(ec);  // the pending read or write ends with operation_aborted
        }
    });
    asio::streambuf buf(8192);  // a request line and headers beyond this are refused
    error_code ec;
    co_await asio::async_read_until(sock, buf, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        co_return;
    }
    std::istream in(&buf);
    std::string method, target, version;
    in >> method >> target >> version;
    int status = 405;
    std::string body = "method not allowed\n";
    if (method == "GET") {
        std::tie(status, body) = answer(target.substr(0, target.find('?')));
    }
    const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 503 ? "Service Unavailable"
                                                                                            : "Method Not Allowed";
    auto content_type = target.starts_with("/metrics") ? "text/plain; version=0.0.4" : "text/plain";
    std::string response = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status, reason,
        content_type, body.size(), body);
    co_await asio::async_write(sock, asio::buffer(response), asio::redirect_error(asio::use_awaitable, ec));
    sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
}

} // namespace trib
