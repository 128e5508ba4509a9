#pragma once

#include "net/connection.h"
#include "net/tls.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trib::net {

struct listen_endpoint {
    std::string name;  // listener name, e.g. PLAINTEXT, INTERNAL
    std::string host;  // empty: all interfaces
    uint16_t port = 0;
};

// SSL listeners' TLS, by listener name; a listener not named here is PLAINTEXT.
using tls_contexts = std::map<std::string, std::shared_ptr<tls_source>>;

// Accepts connections on every listener and spreads them over the given io_contexts (one
// per core) round-robin; each connection then lives on its context for good. A connection
// costs a few coroutines, not a thread. The broker serves on every core of its io_pool; the
// coordinator on its one service thread.
class server {
public:
    server(io_pool& pool, request_dispatcher& dispatcher, connection_limits limits);
    server(std::vector<asio::io_context*> contexts, request_dispatcher& dispatcher, connection_limits limits);
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds every listener (throws with the listener named if one can't be bound) and starts
    // accepting; connections to a listener named in `tls` speak TLS with its source's context
    // in force when they are accepted. Each source with a reload interval is looked at that
    // often (tls_source::reload_if_changed), on the accepting core.
    // Returns the bound ports, in order (useful with port 0).
    std::vector<uint16_t> start(const std::vector<listen_endpoint>& endpoints, const tls_contexts& tls = {});
    void stop();

private:
    // Takes an index, not the name: see broker/README.md on g++ 12 and coroutine arguments.
    // Takes the acceptor and the listener's name, not an index: it runs on a pool thread while
    // start() may still be adding listeners (and so moving the vectors).
    asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, std::string name,
                                      std::shared_ptr<tls_source> tls);
    asio::awaitable<void> reload_loop(asio::steady_timer& timer, std::shared_ptr<tls_source> tls);

    std::vector<asio::io_context*> _contexts;
    request_dispatcher& _dispatcher;
    connection_limits _limits;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> _acceptors;
    std::vector<std::unique_ptr<asio::steady_timer>> _reload_timers;
    bool _stopped = false;  // read and written on the accepting core only
    size_t _next_core = 0;
};

} // namespace trib::net
