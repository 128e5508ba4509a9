#pragma once

// The HTTP endpoints every process serves (DESIGN.md, Runtime):
//   GET /metrics  Prometheus text format, from a prometheus-cpp registry
//   GET /healthz  200 while the process runs its event loop
//   GET /readyz   200 once ready() says so, 503 before
// A deliberately small HTTP/1.1 server on Asio (one request per connection, bounded request
// size, a deadline and a cap on open connections); prometheus-cpp's own exposer can't answer
// 503 for readiness.
#include "common/runtime.h"

#include <boost/asio/ip/tcp.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

namespace trib {

class status_server {
public:
    // A connection not answered within request_timeout of its accept (a client that sends
    // nothing, or too slowly, or doesn't read its answer) is closed, so idle connections
    // don't hold file descriptors. 10 s is Prometheus's default scrape timeout.
    // At most max_connections are served at once: one accepted beyond them is closed at once
    // (and logged), so a flood of connections takes at most that many of the process's file
    // descriptors, which its Kafka clients need too. And at most max_per_address from one
    // source address, so a flood from one client leaves room for the others: a scraper makes
    // one connection at a time, the kubelet one per probe (startup, liveness, readiness).
    // Refusals are logged at most once per refusal_log_interval, each line with how many
    // there were since the last: under a flood that keeps a cap full, connections are served
    // between refusals whenever one ends, and a line per refusal would flood the log too.
    status_server(asio::io_context& ctx, std::shared_ptr<prometheus::Registry> registry,
                  std::function<bool()> ready,
                  std::chrono::milliseconds request_timeout = std::chrono::seconds(10),
                  size_t max_connections = 64, size_t max_per_address = 8,
                  std::chrono::milliseconds refusal_log_interval = std::chrono::seconds(10));
    status_server(const status_server&) = delete;
    status_server& operator=(const status_server&) = delete;

    // Listens on host:port ("" host = all interfaces; port 0 = any); returns the bound port.
    // Throws std::runtime_error naming the address if it can't listen.
    uint16_t start(const std::string& host, uint16_t port);
    // Closes the listener and every open connection, so the io_context runs out of work
    // (a client that connected and sent nothing would otherwise keep it running).
    void stop();

    // The response for a request line's target, e.g. "/metrics": status code and body.
    std::pair<int, std::string> answer(std::string_view target) const;

private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(asio::ip::tcp::socket sock);

    asio::io_context& _ctx;
    std::shared_ptr<prometheus::Registry> _registry;
    std::function<bool()> _ready;
    std::chrono::milliseconds _request_timeout;
    size_t _max_connections, _max_per_address;
    std::chrono::milliseconds _refusal_log_interval;
    std::optional<std::chrono::steady_clock::time_point> _refusal_logged;  // the last refusal line
    uint64_t _refused = 0;                                                  // refusals since it
    std::unique_ptr<asio::ip::tcp::acceptor> _acceptor;
    std::unordered_set<asio::ip::tcp::socket*> _open;  // connections being served
    std::map<asio::ip::address, size_t> _open_from;    // how many of them from each address
};

} // namespace trib
