#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

using protocol::error_code;

// Idempotent producers get a fresh producer id with epoch 0. A producer that sends back its
// id and epoch (v3+, KIP-360: after UNKNOWN_PRODUCER_ID or a timeout) gets the next epoch of
// the same id, so its sequences restart at 0. Transactional ids need the transaction
// coordinator, which doesn't exist yet.
handler_result<protocol::init_producer_id_response> init_producer_id_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    response resp;
    // ACLs, as Kafka: WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the
    // cluster or WRITE on some topic (Kafka 3.0+).
    using security::acl_operation;
    error_code refused = error_code::none;
    if (req.transactional_id) {
        if (!ctx.authorized(acl_operation::write, security::acl_resource::transactional_id, *req.transactional_id)) {
            refused = error_code::transactional_id_authorization_failed;
        }
    } else if (!ctx.authorized_cluster(acl_operation::idempotent_write) &&
               !ctx.authorized_any(acl_operation::write, security::acl_resource::topic)) {
        refused = error_code::cluster_authorization_failed;
    }
    if (refused != error_code::none) {
        resp.error_code = code(refused);
        resp.producer_id = -1;
        resp.producer_epoch = -1;
        co_return resp;
    }
    if (req.transactional_id && !req.transactional_id->empty()) {
        resp.error_code = code(error_code::invalid_request);
        resp.producer_id = -1;
        resp.producer_epoch = -1;
        co_return resp;
    }
    if (req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < INT16_MAX - 1) {
        resp.producer_id = req.producer_id;
        resp.producer_epoch = int16_t(req.producer_epoch + 1);
        co_return resp;
    }
    resp.producer_id = ctx.services.cluster.allocate_producer_id();
    resp.producer_epoch = 0;
    co_return resp;
}

} // namespace trib::broker
