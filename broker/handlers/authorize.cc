// request_context's authorization: the one place handlers ask whether a request may go on.
#include "broker/handlers/handler.h"
#include "broker/services.h"
#include "security/authorizer.h"

namespace trib::broker {

namespace {

bool trusted(const request_context& ctx) { return ctx.conn.listener == ctx.services.config.inter_broker_listener; }

security::request_identity identity(const request_context& ctx) { return {ctx.principal(), ctx.client_host()}; }

} // namespace

std::string_view request_context::client_host() const noexcept { return conn.host(); }

bool request_context::authorizer_applies() const { return services.config.authorizer.enabled && !trusted(*this); }

bool request_context::authorized(security::acl_operation op, security::acl_resource type,
                                 std::string_view name) const {
    if (!authorizer_applies()) {
        return true;
    }
    auto snap = services.metadata.get();
    return security::authorize(services.config.authorizer, snap->acls.get(), identity(*this), op, type, name);
}

int32_t request_context::authorized_operations(security::acl_resource type, std::string_view name) const {
    uint32_t bits = 0;
    for (auto op : security::supported_operations(type)) {
        if (authorized(op, type, name)) {
            bits |= uint32_t{1} << static_cast<int>(op);
        }
    }
    return static_cast<int32_t>(bits);
}

bool request_context::authorized_any(security::acl_operation op, security::acl_resource type) const {
    const auto& cfg = services.config.authorizer;
    if (!cfg.enabled || trusted(*this)) {
        return true;
    }
    auto snap = services.metadata.get();
    return security::authorize_any(cfg, snap->acls.get(), identity(*this), op, type);
}

} // namespace trib::broker
