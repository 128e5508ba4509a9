#pragma once

// A partition's state as the coordinator's metadata gives it, for tests of broker/partition.
#include "coordinator/client/cluster_snapshot.h"

#include <vector>

namespace trib::fakes {

inline coordinator::partition_info partition_state(int32_t leader, int32_t epoch, std::vector<int32_t> isr,
                                                   std::vector<int32_t> replicas = {1, 2, 3}) {
    coordinator::partition_info p;
    p.id = partition_id(0);
    p.leader = node_id(leader);
    p.epoch = leader_epoch(epoch);
    p.replicas = std::move(replicas);
    p.isr = std::move(isr);
    return p;
}

} // namespace trib::fakes
