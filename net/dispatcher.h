#pragma once

#include "net/frame.h"
#include "common/runtime.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace trib::net {

// What a dispatcher keeps per connection (the broker: SASL state and the principal). The
// connection owns it; a dispatcher makes it when the connection opens.
struct connection_state {
    virtual ~connection_state() = default;
    // On a TLS listener, once the handshake is done: the subject of the client's certificate
    // (net/tls.h, peer_subject), or nullopt without one.
    virtual void tls_established(const std::optional<std::string>& peer_subject) {}
};

struct connection_info {
    std::string listener;             // name of the listener the client connected to
    std::string peer;                 // "ip:port", for logs
    connection_state* state = nullptr;  // the dispatcher's, from open_connection(); may be null

    // The client's address without the port (v6 without its brackets): the host ACLs name.
    std::string_view host() const noexcept {
        std::string_view p = peer;
        if (p.starts_with('[')) {  // "[v6]:port"
            auto close = p.find(']');
            return close == std::string_view::npos ? p.substr(1) : p.substr(1, close - 1);
        }
        auto colon = p.rfind(':');
        return colon == std::string_view::npos ? p : p.substr(0, colon);
    }
};

// What to do with one request.
struct respond { outgoing_frame frame; };
struct no_response {};                     // Produce with acks=0
struct close_connection { std::string reason; };
// Send the response, then close (a failed SASL authentication: the client reads why first).
struct respond_then_close { outgoing_frame frame; std::string reason; };
using dispatch_result = std::variant<respond, no_response, close_connection, respond_then_close>;

// Turns a request frame (header and body, without the size prefix) into its response.
class request_dispatcher {
public:
    virtual ~request_dispatcher() = default;
    virtual asio::awaitable<dispatch_result> dispatch(bytes frame, const connection_info& conn) = 0;
    // Called once when a connection on `listener` opens; what it returns lives as long as the
    // connection and is passed with each of its requests (connection_info::state).
    virtual std::unique_ptr<connection_state> open_connection(const std::string& listener) { return nullptr; }
};

} // namespace trib::net
