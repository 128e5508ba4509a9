#pragma once

#include "net/dispatcher.h"

#include <cstdint>
#include <vector>

namespace trib::broker {

using net::connection_info;
using net::dispatch_result;
using net::request_dispatcher;

class broker_services;

struct served_api {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
};

// The APIs and versions this broker serves, from handlers.h (for ApiVersions).
const std::vector<served_api>& served_apis();

// Decodes a request, runs its handler, encodes the response.
class handler_dispatcher final : public request_dispatcher {
public:
    explicit handler_dispatcher(broker_services& services) : _services(services) {}
    asio::awaitable<dispatch_result> dispatch(bytes frame, const connection_info& conn) override;
    // A broker::session: SASL state and principal.
    std::unique_ptr<net::connection_state> open_connection(const std::string& listener) override;

private:
    broker_services& _services;
};

} // namespace trib::broker
