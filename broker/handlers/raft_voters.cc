// AddRaftVoter and RemoveRaftVoter (KIP-853): a change of the coordinators' voter set, decided
// by the active controller (a broker forwards them, as Kafka's brokers forward to the active
// controller). kafka-metadata-quorum add-controller / remove-controller send them to a broker.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

namespace {

// The coordinator's answer, or the reason it could not be had, in the response's own fields.
template<typename Resp, typename Req>
asio::awaitable<Resp> forward_voter_change(request_context& ctx, const Req& req) {
    auto f = co_await forward_to_coordinator<Resp>(ctx, req, ctx.version());
    if (f.response) {
        co_return std::move(*f.response);
    }
    Resp resp;
    resp.error_code = int16_t(f.error);
    resp.error_message = f.message;
    co_return resp;
}

} // namespace

handler_result<protocol::add_raft_voter_response> add_raft_voter_handler::handle(request_context& ctx, request&& req) {
    co_return co_await forward_voter_change<response>(ctx, req);
}

handler_result<protocol::remove_raft_voter_response> remove_raft_voter_handler::handle(request_context& ctx,
                                                                                      request&& req) {
    co_return co_await forward_voter_change<response>(ctx, req);
}

} // namespace trib::broker
