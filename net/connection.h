#pragma once

#include "net/dispatcher.h"
#include "net/frame.h"
#include "common/runtime.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::net {

struct connection_limits {
    int32_t max_request_bytes = 100 * 1024 * 1024;  // socket.request.max.bytes
    std::chrono::milliseconds idle_timeout{600000};   // connections.max.idle.ms
    size_t max_in_flight = 128;                       // requests read but not yet answered
    std::chrono::milliseconds tls_handshake_timeout{10000};  // SSL listeners: handshake deadline
};

// One client connection, living on one core. A reader coroutine takes size-prefixed
// requests off the socket and starts each one's handler at once (pipelining); the writer
// sends responses strictly in request order (Kafka clients match responses by order as well
// as by correlation id). Sequence numbers give the order: a response that is ready early
// waits in _ready until every earlier one has gone.
//
// Bad framing (negative or oversized size prefix, undecodable header, unknown API) is logged
// with the reason and closes this connection only.
//
// On an SSL listener (a TLS context given), the TLS handshake comes first, within
// tls_handshake_timeout; a failed one is logged with the peer and OpenSSL's reason and closes
// the connection. Bytes then go through OpenSSL, and file slices are read into the response
// buffer instead of being sent with sendfile (user-space TLS cannot splice).
class connection : public std::enable_shared_from_this<connection> {
public:
    // `tls`: the listener's TLS context; null for a plaintext listener.
    connection(asio::ip::tcp::socket sock, std::string listener, request_dispatcher& dispatcher,
               connection_limits limits, std::shared_ptr<asio::ssl::context> tls = nullptr);
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void start();
    void close(std::string_view reason);

    const std::string& listener() const noexcept { return _listener; }
    const std::string& peer() const noexcept { return _peer; }

    bool tls() const noexcept { return _tls != nullptr; }

private:
    void start_loops();
    asio::awaitable<void> handshake();
    asio::awaitable<void> read_loop();
    asio::awaitable<void> write_loop();
    asio::awaitable<void> idle_watch();
    asio::awaitable<void> handle(uint64_t seq, bytes frame);
    void start_request(bytes frame);
    void release_pending();
    void complete(uint64_t seq, std::optional<outgoing_frame> response);
    asio::awaitable<bool> send(const outgoing_frame& f);
    // Whether f goes out from one buffer (its file slices, if any, read into it): always
    // through TLS, else when the slices are small (connection.cc).
    bool inlined(const outgoing_frame& f) const noexcept;
    // Such frames, in order, in one write.
    asio::awaitable<bool> send_inlined(std::span<const outgoing_frame> frames);
    asio::awaitable<bool> write_all(asio::const_buffer b);  // through TLS or not

    asio::ip::tcp::socket _socket;
    std::shared_ptr<asio::ssl::context> _tls_context;                // null: plaintext
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> _tls;  // over _socket
    std::string _listener;
    std::string _peer;
    request_dispatcher& _dispatcher;
    connection_limits _limits;
    std::unique_ptr<connection_state> _state;  // the dispatcher's per-connection state

    std::vector<uint8_t> _tls_in;   // TLS only: what the reader decrypts into (made on first read)
    std::vector<uint8_t> _in;       // plaintext only: what the reader reads into (made on first read)
    bytes _pending;                 // read but not yet started: [_pending_pos, end)
    size_t _pending_pos = 0;
    uint64_t _next_seq = 0;         // assigned to the next request read
    uint64_t _next_to_send = 0;     // sequence of the response the writer sends next
    std::map<uint64_t, std::optional<outgoing_frame>> _ready;  // nullopt: no response (acks=0)
    asio::steady_timer _writer_wake;   // cancelled to wake the writer
    asio::steady_timer _reader_wake;   // cancelled to wake a reader held back by max_in_flight
    asio::steady_timer _idle;
    std::chrono::steady_clock::time_point _last_activity;
    // A response after which the connection closes (respond_then_close): its sequence and reason.
    std::optional<std::pair<uint64_t, std::string>> _close_after;
    bool _closed = false;
};

} // namespace trib::net
