#pragma once

// The shape every API handler has. A handler is a struct in its own file
// (broker/handlers/<api>.cc, declared in handlers.h) naming its request and response types
// and the versions it serves; handlers.h lists them once, and that one list builds both the
// dispatch table and the ApiVersions answer.
//
//   struct produce_handler {
//       using request = protocol::produce_request;
//       using response = protocol::produce_response;
//       static constexpr int16_t min_version = 3, max_version = 9;
//       static asio::awaitable<std::optional<response>> handle(request_context&, request&&);
//   };
//
// A handler returns nullopt only when the protocol says there is no response (acks=0).
#include "broker/cluster_metadata.h"
#include "broker/session.h"
#include "net/dispatcher.h"
#include "common/runtime.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <optional>

namespace trib::broker {

using net::close_connection;
using net::connection_info;
using net::dispatch_result;
using net::no_response;
using net::outgoing_frame;
using net::respond;
using net::respond_then_close;

class broker_services;

struct request_context {
    broker_services& services;
    const protocol::request_header& header;
    const connection_info& conn;
    // Set by a handler whose client must hear of a failure it gets no response for (acks=0
    // Produce): the connection is closed after the request, as Kafka does, so the client
    // refreshes its metadata.
    std::optional<std::string> close_reason;
    // Set by a handler whose response must be the connection's last (a failed SASL
    // authentication): the response is sent, then the connection closes with this reason.
    std::optional<std::string> close_after_response;

    int16_t version() const noexcept { return header.api_version; }
    // This connection's state; null only for a connection without one (tests).
    broker::session* session() const noexcept { return static_cast<broker::session*>(conn.state); }
    // Who the client is: User:<name> after SASL, User:ANONYMOUS on a PLAINTEXT listener.
    std::string_view principal() const noexcept {
        return conn.state ? std::string_view(session()->principal) : anonymous_principal;
    }
};

template<typename R>
using handler_result = asio::awaitable<std::optional<R>>;

inline int16_t code(protocol::error_code e) noexcept { return static_cast<int16_t>(e); }

} // namespace trib::broker
