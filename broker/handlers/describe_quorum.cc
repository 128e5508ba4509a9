// DescribeQuorum: the state of the metadata log's quorum, answered by the coordinator (as a
// Kafka broker forwards it to the active controller). kafka-metadata-quorum --bootstrap-server
// sends it to a broker.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::describe_quorum_response> describe_quorum_handler::handle(request_context& ctx,
                                                                                    request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    if (f.response) {
        co_return std::move(*f.response);
    }
    response resp;
    resp.error_code = int16_t(f.error);
    resp.error_message = f.message;
    co_return resp;
}

} // namespace trib::broker
