#include "broker/handlers/handlers.h"

namespace trib::broker {

// Consumer groups and transactions have no coordinator in this broker yet, and FindCoordinator
// says so with COORDINATOR_NOT_AVAILABLE for every key, the answer a Kafka broker gives while
// its coordinator is loading: clients retry later instead of dropping the connection.
//
// Serving it matters before groups exist: librdkafka takes FindCoordinator in ApiVersions as
// the sign of a broker new enough for LZ4 (0.8.2+) and otherwise sends lz4-configured
// batches uncompressed.
handler_result<protocol::find_coordinator_response> find_coordinator_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    constexpr auto unavailable = protocol::error_code::coordinator_not_available;
    constexpr const char* why = "Consumer groups and transactions are not served by this broker yet.";
    response resp;
    if (ctx.version() >= 4) {
        for (const auto& key : req.coordinator_keys) {
            auto& c = resp.coordinators.emplace_back();
            c.key = key;
            c.node_id = -1;
            c.port = -1;
            c.error_code = code(unavailable);
            c.error_message = why;
        }
    } else {
        resp.error_code = code(unavailable);
        resp.error_message = why;
        resp.node_id = -1;
        resp.port = -1;
    }
    co_return resp;
}

} // namespace trib::broker
