// Moving replicas between brokers, decided and answered by the active controller
// (coordinator/controller.cc), which keeps each move in the partition's records:
//   - AlterPartitionReassignments and ListPartitionReassignments (KIP-455), which
//     kafka-reassign-partitions --execute, --verify and --cancel and the Java AdminClient send;
//   - DrainBrokers, Tributary's own (tributary-admin drain): every replica and leadership off
//     some brokers, which then take no new ones;
//   - UnregisterBroker (Kafka's, KIP-500): a decommissioned broker's registration removed,
//     refused while it holds any replica.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::alter_partition_reassignments_response> alter_partition_reassignments_handler::handle(
    request_context& ctx, request&& req) {
    if (!ctx.authorized_cluster(security::acl_operation::alter)) {
        // As Kafka: the refusal also on each partition asked for.
        response resp;
        resp.error_code = code(protocol::error_code::cluster_authorization_failed);
        resp.error_message = std::string(authorization_failed);
        for (const auto& t : req.topics) {
            auto& rt = resp.responses.emplace_back();
            rt.name = t.name;
            for (const auto& p : t.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = p.partition_index;
                rp.error_code = resp.error_code;
                rp.error_message = resp.error_message;
            }
        }
        co_return resp;
    }
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::alter);
}

handler_result<protocol::list_partition_reassignments_response> list_partition_reassignments_handler::handle(
    request_context& ctx, request&& req) {
    if (!ctx.authorized_cluster(security::acl_operation::describe)) {
        // As Kafka: the partitions asked for are named back (with no replicas) beside the refusal.
        response resp;
        resp.error_code = code(protocol::error_code::cluster_authorization_failed);
        resp.error_message = std::string(authorization_failed);
        for (const auto& t : req.topics.value_or(std::vector<request::list_partition_reassignments_topics>{})) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            for (int32_t p : t.partition_indexes) {
                rt.partitions.emplace_back().partition_index = p;
            }
        }
        co_return resp;
    }
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::describe);
}

handler_result<protocol::drain_brokers_response> drain_brokers_handler::handle(request_context& ctx, request&& req) {
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::alter);
}

handler_result<protocol::unregister_broker_response> unregister_broker_handler::handle(request_context& ctx,
                                                                                      request&& req) {
    co_return co_await answered_by_coordinator<response>(ctx, req, security::acl_operation::alter);
}

} // namespace trib::broker
