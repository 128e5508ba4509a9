#include "broker/handlers/dispatch.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::api_versions_response> api_versions_handler::handle(request_context& ctx,
                                                                             request&& req) {
    response resp;
    for (const auto& a : served_apis()) {
        auto& k = resp.api_keys.emplace_back();
        k.api_key = a.key;
        k.min_version = a.min_version;
        k.max_version = a.max_version;
    }
    co_return resp;
}

} // namespace trib::broker
