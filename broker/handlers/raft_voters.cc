// AddRaftVoter and RemoveRaftVoter (KIP-853): a change of the coordinators' voter set, decided
// by the active controller (a broker forwards them, as Kafka's brokers forward to the active
// controller). kafka-metadata-quorum add-controller / remove-controller send them to a broker.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::add_raft_voter_response> add_raft_voter_handler::handle(request_context& ctx, request&& req) {
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::alter);
}

handler_result<protocol::remove_raft_voter_response> remove_raft_voter_handler::handle(request_context& ctx,
                                                                                      request&& req) {
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::alter);
}

} // namespace trib::broker
