#pragma once

// What the broker keeps per client connection (net::connection_state): its SASL state and the
// principal a client certificate gives on an SSL listener (net/sasl_connection.h, the same as
// the coordinator's).
#include "net/sasl_connection.h"

namespace trib::broker {

using session = net::sasl_connection;
using net::anonymous_principal;

} // namespace trib::broker
