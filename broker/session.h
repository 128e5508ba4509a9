#pragma once

// What the broker keeps per client connection (net::connection_state): the SASL exchange in
// progress on a SASL listener, and the principal requests run as (for ACLs). The SASL rules
// are net/sasl_session.h's, shared with the coordinator.
#include "broker/sasl_config.h"
#include "net/sasl_session.h"

namespace trib::broker {

using net::anonymous_principal;

struct session final : net::sasl_session {
    explicit session(const listener_sasl* s) : net::sasl_session(s) {}
};

} // namespace trib::broker
