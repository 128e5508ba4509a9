#include "coordinator/net/server.h"

#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <stdexcept>

namespace trib::coordinator::net {

using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;


// One client connection: requests are handled concurrently (a long poll does not hold up a
// heartbeat), responses go out in request order.
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(asio::ip::tcp::socket sock, server& srv)
      : _socket(std::move(sock)), _server(srv), _writer_wake(_socket.get_executor()) {
        error_code ec;
        auto ep = _socket.remote_endpoint(ec);
        _peer = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
        _socket.set_option(asio::ip::tcp::no_delay(true), ec);
    }

    void start() {
        auto self = shared_from_this();
        auto ex = _socket.get_executor();
        asio::co_spawn(ex, [self]() { return self->read_loop(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator connection reader"); });
        asio::co_spawn(ex, [self]() { return self->write_loop(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator connection writer"); });
    }

    void close(const std::string& reason) {
        if (_closed) {
            return;
        }
        _closed = true;
        if (!reason.empty()) {
            TLOG_WARN("closing coordinator connection from {}: {}", _peer, reason);
        }
        error_code ec;
        _socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        _socket.close(ec);
        _writer_wake.cancel();
        _server._connections.erase(shared_from_this());
    }

private:
    asio::awaitable<void> read_loop() {
        auto self = shared_from_this();
        while (!_closed) {
            uint8_t size_buf[4];
            error_code ec;
            co_await asio::async_read(_socket, asio::buffer(size_buf), redirect_error(use_awaitable, ec));
            if (ec) {
                close(ec == asio::error::eof || ec == asio::error::operation_aborted ? "" : ec.message());
                break;
            }
            auto size = int32_t(load_be32(size_buf));
            if (size < 0 || size > _server._max_request_bytes) {
                close(fmt::format("request size {} outside 0..{}", size, _server._max_request_bytes));
                break;
            }
            auto frame = std::make_shared<bytes>(size_t(size));
            co_await asio::async_read(_socket, asio::buffer(*frame), redirect_error(use_awaitable, ec));
            if (ec) {
                close(ec == asio::error::eof ? "connection closed in the middle of a request" : ec.message());
                break;
            }
            uint64_t seq = _next_seq++;
            asio::co_spawn(_socket.get_executor(), [self, seq, frame]() { return self->handle(seq, frame); },
                           [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator request"); });
        }
    }

    asio::awaitable<void> handle(uint64_t seq, std::shared_ptr<bytes> frame) {
        auto self = shared_from_this();
        std::optional<bytes> response;
        try {
            response = co_await _server._handler.handle(*frame, _peer);
        } catch (const std::exception& e) {
            TLOG_ERROR("coordinator request from {} failed: {}", _peer, e.what());
        }
        if (!response) {
            close("bad request");
            co_return;
        }
        _ready.emplace(seq, std::move(*response));
        if (seq == _next_to_send) {
            _writer_wake.cancel();
        }
    }

    asio::awaitable<void> write_loop() {
        auto self = shared_from_this();
        while (!_closed) {
            auto it = _ready.find(_next_to_send);
            if (it == _ready.end()) {
                error_code ec;
                _writer_wake.expires_at(std::chrono::steady_clock::time_point::max());
                co_await _writer_wake.async_wait(redirect_error(use_awaitable, ec));
                continue;
            }
            bytes body = std::move(it->second);
            _ready.erase(it);
            ++_next_to_send;
            uint8_t size_buf[4];
            store_be32(size_buf, uint32_t(body.size()));
            std::array<asio::const_buffer, 2> bufs{asio::buffer(size_buf), asio::buffer(body)};
            error_code ec;
            co_await asio::async_write(_socket, bufs, redirect_error(use_awaitable, ec));
            if (ec) {
                close("write failed: " + ec.message());
                break;
            }
        }
    }

    asio::ip::tcp::socket _socket;
    server& _server;
    std::string _peer;
    uint64_t _next_seq = 0;
    uint64_t _next_to_send = 0;
    std::map<uint64_t, bytes> _ready;
    asio::steady_timer _writer_wake;
    bool _closed = false;

    friend class server;
};

server::server(asio::io_context& ctx, frame_handler& handler, int32_t max_request_bytes)
  : _ctx(ctx), _handler(handler), _max_request_bytes(max_request_bytes) {}

server::~server() = default;

std::vector<uint16_t> server::start(const std::vector<listen_endpoint>& endpoints) {
    std::vector<uint16_t> ports;
    for (const auto& ep : endpoints) {
        error_code ec;
        auto address = ep.host.empty() ? asio::ip::address(asio::ip::address_v6::any())
                                       : asio::ip::make_address(ep.host, ec);
        if (ec) {
            asio::ip::tcp::resolver resolver(_ctx);
            auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
            if (ec || results.empty()) {
                throw std::runtime_error("listener " + ep.name + ": cannot resolve host '" + ep.host + "'");
            }
            address = results.begin()->endpoint().address();
        }
        auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(_ctx);
        asio::ip::tcp::endpoint endpoint(address, ep.port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec && address.is_v6()) {
            acceptor->set_option(asio::ip::v6_only(false), ec);
        }
        acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
        if (!ec) {
            acceptor->bind(endpoint, ec);
        }
        if (!ec) {
            acceptor->listen(asio::socket_base::max_listen_connections, ec);
        }
        if (ec) {
            throw std::runtime_error("listener " + ep.name + ": cannot listen on " +
                                     (ep.host.empty() ? "*" : ep.host) + ":" + std::to_string(ep.port) + ": " +
                                     ec.message());
        }
        ports.push_back(acceptor->local_endpoint().port());
        TLOG_INFO("listener {} on {}:{}", ep.name, ep.host.empty() ? "*" : ep.host, ports.back());
        _acceptors.push_back(std::move(acceptor));
        _names.push_back(ep.name);
        asio::co_spawn(_ctx, accept_loop(_acceptors.size() - 1),
                       [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator accept loop"); });
    }
    return ports;
}

void server::stop() {
    _stopped = true;
    for (auto& a : _acceptors) {
        error_code ec;
        a->close(ec);
    }
    auto conns = _connections;
    for (const auto& c : conns) {
        c->close("");
    }
}

asio::awaitable<void> server::accept_loop(size_t index) {
    auto& acceptor = *_acceptors[index];
    const std::string name = _names[index];
    for (;;) {
        error_code ec;
        auto sock = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open() || _stopped) {
            co_return;
        }
        if (ec) {
            TLOG_WARN("accept on {}: {}", name, ec.message());
            asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        auto conn = std::make_shared<connection>(std::move(sock), *this);
        _connections.insert(conn);
        conn->start();
    }
}

} // namespace trib::coordinator::net
