#include "net/server.h"

#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <mutex>
#include <stdexcept>

namespace trib::net {

using boost::system::error_code;

namespace {
std::vector<asio::io_context*> contexts_of(io_pool& pool) {
    std::vector<asio::io_context*> out;
    for (size_t i = 0; i < pool.size(); ++i) {
        out.push_back(&pool.context(i));
    }
    return out;
}
} // namespace

server::server(io_pool& pool, request_dispatcher& dispatcher, connection_limits limits)
  : server(contexts_of(pool), dispatcher, limits) {}

server::server(std::vector<asio::io_context*> contexts, request_dispatcher& dispatcher, connection_limits limits)
  : _contexts(std::move(contexts)), _dispatcher(dispatcher), _limits(limits) {
    // sendfile(2) has no MSG_NOSIGNAL: without this, a client that closes its connection
    // while a zero-copy Fetch response is being sent kills the whole process with SIGPIPE.
    // Every send then fails with EPIPE instead, which ends that one connection.
    static std::once_flag once;
    std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

std::vector<uint16_t> server::start(const std::vector<listen_endpoint>& endpoints, const tls_contexts& tls) {
    std::vector<uint16_t> ports;
    for (const auto& ep : endpoints) {
        auto tls_it = tls.find(ep.name);
        std::shared_ptr<tls_source> context = tls_it == tls.end() ? nullptr : tls_it->second;
        error_code ec;
        auto address = ep.host.empty() ? asio::ip::address(asio::ip::address_v6::any())
                                       : asio::ip::make_address(ep.host, ec);
        if (ec) {
            // A host name rather than an address: resolve it once.
            asio::ip::tcp::resolver resolver(*_contexts[0]);
            auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
            if (ec || results.empty()) {
                throw std::runtime_error("listener " + ep.name + ": cannot resolve host '" + ep.host + "'");
            }
            address = results.begin()->endpoint().address();
        }
        auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(*_contexts[0]);
        asio::ip::tcp::endpoint endpoint(address, ep.port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec && address.is_v6()) {
            acceptor->set_option(asio::ip::v6_only(false), ec);  // "all interfaces" means v4 too
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
                                     (ep.host.empty() ? "*" : ep.host) + ":" + std::to_string(ep.port) +
                                     ": " + ec.message());
        }
        ports.push_back(acceptor->local_endpoint().port());
        TLOG_INFO("listener {} on {}:{}{}", ep.name, ep.host.empty() ? "*" : ep.host, ports.back(),
                  context ? " (SSL)" : "");
        _acceptors.push_back(std::move(acceptor));
        asio::co_spawn(*_contexts[0], accept_loop(*_acceptors.back(), ep.name, context),
                       [](std::exception_ptr e) { log_failed_coroutine(e, "accept loop"); });
        if (context && context->settings().reload_interval.count() > 0) {
            _reload_timers.push_back(std::make_unique<asio::steady_timer>(*_contexts[0]));
            asio::co_spawn(*_contexts[0], reload_loop(*_reload_timers.back(), context),
                           [](std::exception_ptr e) { log_failed_coroutine(e, "TLS reload loop"); });
        }
    }
    return ports;
}

void server::stop() {
    for (auto& a : _acceptors) {
        asio::post(a->get_executor(), [a = a.get()] {
            error_code ec;
            a->close(ec);
        });
    }
    if (!_contexts.empty()) {
        asio::post(*_contexts[0], [this] {
            _stopped = true;
            for (auto& t : _reload_timers) {
                t->cancel();
            }
        });
    }
}

asio::awaitable<void> server::reload_loop(asio::steady_timer& timer, std::shared_ptr<tls_source> tls) {
    while (!_stopped) {
        timer.expires_after(tls->settings().reload_interval);
        error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (_stopped) {
            co_return;
        }
        tls->reload_if_changed();
    }
}

asio::awaitable<void> server::accept_loop(asio::ip::tcp::acceptor& acceptor, std::string name,
                                          std::shared_ptr<tls_source> tls) {
    for (;;) {
        auto& ctx = *_contexts[_next_core++ % _contexts.size()];
        error_code ec;
        auto sock = co_await acceptor.async_accept(ctx, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            co_return;
        }
        if (ec) {
            // Out of file descriptors and the like: log, back off briefly, keep accepting.
            TLOG_WARN("accept on {}: {}", name, ec.message());
            asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        auto conn = std::make_shared<connection>(std::move(sock), name, _dispatcher, _limits,
                                                 tls ? tls->current() : nullptr);
        asio::post(ctx, [conn] { conn->start(); });
    }
}

} // namespace trib::net
