#pragma once

// From a metadata change to the partition changes a broker applies: only the partitions of
// the topics the delta names are compared (every topic when the delta can't say which, or
// when configs above topics changed, since those reach every topic's effective config).
// A partition whose state, topic id and configs are unchanged is left out.
#include "broker/cluster_metadata.h"
#include "broker/partition_manager.h"
#include "coordinator/client/metadata_delta.h"

#include <functional>
#include <vector>

namespace trib::broker {

// `prev`: the snapshot applied before (nullptr: none, everything is new). `config_for` gives
// what a topic's effective configs in `next` say to its replicas.
std::vector<partition_change> partition_changes(const cluster_snapshot* prev, const cluster_snapshot& next,
                                               const coordinator::metadata_delta& delta, node_id self,
                                               const std::function<replica_config(const topic_info&)>& config_for);

} // namespace trib::broker
