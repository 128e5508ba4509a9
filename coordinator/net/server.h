#pragma once

// Kafka framing over TCP for the coordinator's listener: 4-byte size prefix, then a request
// header and body; responses in request order. The same design as broker/net (a reader
// coroutine that starts each request's handler at once, a writer that sends responses by
// sequence number), reduced to what the coordinator needs: no sendfile, one core.
// broker/net and this should become one shared module (see coordinator/README.md).
#include "common/bytes.h"
#include "common/runtime.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::coordinator::net {

// Turns one request frame (header and body, no size prefix) into its response frame (header
// and body, no size prefix); nullopt closes the connection (undecodable request).
class frame_handler {
public:
    virtual ~frame_handler() = default;
    virtual asio::awaitable<std::optional<bytes>> handle(const bytes& frame, const std::string& peer) = 0;
};

struct listen_endpoint {
    std::string name;
    std::string host;  // empty: all interfaces
    uint16_t port = 0;
};

class connection;

// Accepts on every listener; connections live on the server's one io_context.
class server {
public:
    server(asio::io_context& ctx, frame_handler& handler, int32_t max_request_bytes = 100 << 20);
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server();

    // Binds (throws naming the listener on failure) and starts accepting; the bound ports.
    std::vector<uint16_t> start(const std::vector<listen_endpoint>& endpoints);
    // Closes the acceptors and every connection. Call on the io_context's thread.
    void stop();

private:
    friend class connection;
    asio::awaitable<void> accept_loop(size_t index);  // an index: no strings as coroutine arguments

    asio::io_context& _ctx;
    frame_handler& _handler;
    int32_t _max_request_bytes;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> _acceptors;
    std::vector<std::string> _names;  // listener name of each acceptor
    std::set<std::shared_ptr<connection>> _connections;
    bool _stopped = false;
};

} // namespace trib::coordinator::net
