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
