#pragma once

// tributary-coordinator's settings, with Apache Kafka's names (KRaft controller settings).
#include "common/config.h"
#include "coordinator/service.h"

namespace trib::coordinator {

const config::schema& coordinator_schema();
// Keys Kafka's controller.properties carries that the coordinator accepts and ignores.
const std::set<std::string>& ignored_keys();
// Loads and checks; throws config::config_error naming the key. controller.quorum.voters
// naming only this node (or unset) gives a single-voter log; anything else a Raft log
// (raft_log) talking to the other voters over net_transport.
service_config load_coordinator_config(const config::load_options& opts, config::values* raw = nullptr);

} // namespace trib::coordinator
