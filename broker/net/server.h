#pragma once

#include "broker/net/connection.h"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trib::broker {

struct listen_endpoint {
    std::string name;  // listener name, e.g. PLAINTEXT, INTERNAL
    std::string host;  // empty: all interfaces
    uint16_t port = 0;
};

// Accepts connections on every listener and spreads them over the cores round-robin; each
// connection then lives on its core for good. A connection costs two coroutines, not a thread.
class server {
public:
    server(io_pool& pool, request_dispatcher& dispatcher, connection_limits limits);
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds every listener (throws with the listener named if one can't be bound) and starts
    // accepting. Returns the bound ports, in order (useful with port 0).
    std::vector<uint16_t> start(const std::vector<listen_endpoint>& endpoints);
    void stop();

private:
    asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, std::string name);

    io_pool& _pool;
    request_dispatcher& _dispatcher;
    connection_limits _limits;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> _acceptors;
    size_t _next_core = 0;
};

} // namespace trib::broker
