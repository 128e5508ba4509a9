#pragma once

#include "net/frame.h"
#include "common/runtime.h"

#include <string>
#include <variant>

namespace trib::net {

struct connection_info {
    std::string listener;  // name of the listener the client connected to
    std::string peer;      // "ip:port", for logs
};

// What to do with one request.
struct respond { outgoing_frame frame; };
struct no_response {};                     // Produce with acks=0
struct close_connection { std::string reason; };
using dispatch_result = std::variant<respond, no_response, close_connection>;

// Turns a request frame (header and body, without the size prefix) into its response.
class request_dispatcher {
public:
    virtual ~request_dispatcher() = default;
    virtual asio::awaitable<dispatch_result> dispatch(bytes frame, const connection_info& conn) = 0;
};

} // namespace trib::net
