#pragma once

// The broker's view of the cluster: brokers, topics, partitions and their leaders. Immutable
// snapshots: whoever changes metadata builds a new snapshot and publishes it, and readers
// (handlers on any core) hold a shared_ptr to the one they started with, so a request sees
// one consistent view without locks.
//
// The snapshot types are coordinator/client's (the coordinator client builds them from its
// metadata image); they are re-exported here under their broker names.
#include "coordinator/client/cluster_snapshot.h"

#include <memory>
#include <mutex>

namespace trib::broker {

using coordinator::broker_info;
using coordinator::cluster_snapshot;
using coordinator::endpoint;
using coordinator::partition_info;
using coordinator::topic_info;

// The current snapshot, readable from any thread.
class metadata_cache {
public:
    std::shared_ptr<const cluster_snapshot> get() const {
        std::lock_guard lk(_mu);
        return _current;
    }
    void publish(std::shared_ptr<const cluster_snapshot> s) {
        std::lock_guard lk(_mu);
        _current = std::move(s);
    }

private:
    mutable std::mutex _mu;
    std::shared_ptr<const cluster_snapshot> _current = std::make_shared<cluster_snapshot>();
};

} // namespace trib::broker
