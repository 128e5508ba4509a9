// ElectLeaders: decided by the coordinator (forward.h), like the topic admin requests. Kafka's
// kafka-leader-election.sh sends it (preferred or unclean, some or all partitions).
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::elect_leaders_response> elect_leaders_handler::handle(request_context& ctx, request&& req) {
    forwarded<response> f;
    if (ctx.authorized_cluster(security::acl_operation::alter)) {  // ACLs, as Kafka
        f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    } else {
        f.error = protocol::error_code::cluster_authorization_failed;
        f.message = std::string(authorization_failed);
    }
    if (f.response) {
        co_return std::move(*f.response);
    }
    // The coordinator could not be asked: the whole request fails (top-level error from v1,
    // and on every partition named, as v0 has no top-level error).
    response resp;
    resp.error_code = int16_t(f.error);
    if (req.topic_partitions) {
        for (const auto& tp : *req.topic_partitions) {
            auto& r = resp.replica_election_results.emplace_back();
            r.topic = tp.topic;
            for (int32_t p : tp.partitions) {
                r.partition_result.push_back({p, int16_t(f.error), f.message, {}});
            }
        }
    }
    co_return resp;
}

} // namespace trib::broker
