// DescribeQuorum: the state of the metadata log's quorum, answered by the coordinator (as a
// Kafka broker forwards it to the active controller). kafka-metadata-quorum --bootstrap-server
// sends it to a broker.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::describe_quorum_response> describe_quorum_handler::handle(request_context& ctx,
                                                                                    request&& req) {
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::describe);
}

} // namespace trib::broker
