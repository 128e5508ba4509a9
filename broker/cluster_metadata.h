#pragma once

// The broker's view of the cluster: brokers, topics, partitions and their leaders. Immutable
// snapshots: whoever changes metadata builds a new snapshot and installs it on every core,
// and readers (handlers on any core) hold a shared_ptr to the one they started with, so a
// request sees one consistent view without locks. Leadership itself is decided by each
// partition's state on its owner core (partition.h), not by the snapshot.
//
// The snapshot types are coordinator/client's (the coordinator client builds them from its
// metadata image); they are re-exported here under their broker names.
#include "common/runtime.h"
#include "coordinator/client/cluster_snapshot.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace trib::broker {

using coordinator::broker_info;
using coordinator::cluster_snapshot;
using coordinator::endpoint;
using coordinator::partition_info;
using coordinator::topic_info;

// The current snapshot, one copy per core: a request reads its own core's copy, which only
// that core writes (install(), posted there by the metadata apply), so the read path takes
// no lock. Threads outside the pool read the latest one under a mutex (start-up, tests).
//
// Reads are monotonic for the whole broker: once any core has installed a snapshot, a core
// still holding an older one answers from the newest instead (under the mutex, only in the
// moment the cores differ). Without that, two connections of one client on different cores
// could be told leader 2 after leader 1, and a client that ignores leader epochs (librdkafka
// before 2.1) may then stay with the old leader.
class metadata_cache {
public:
    explicit metadata_cache(io_pool& pool) : _pool(pool), _per_core(pool.size()) {
        for (auto& slot : _per_core) {
            slot.snapshot = _latest;
        }
    }

    std::shared_ptr<const cluster_snapshot> get() const {
        size_t core = _pool.current_core();
        if (core < _per_core.size()) {
            const auto& mine = _per_core[core].snapshot;
            if (mine->version >= _newest_version.load(std::memory_order_acquire)) {
                return mine;
            }
        }
        std::lock_guard lk(_mu);
        return _latest;
    }
    // On `core`'s own thread: that core's requests see `s` from now on.
    void install(size_t core, const std::shared_ptr<const cluster_snapshot>& s) {
        _per_core[core].snapshot = s;
        std::lock_guard lk(_mu);
        if (!_latest || _latest->version <= s->version) {
            _latest = s;
            _newest_version.store(s->version, std::memory_order_release);
        }
    }

private:
    struct alignas(64) slot {  // a cache line each: cores don't share what they write
        std::shared_ptr<const cluster_snapshot> snapshot;
    };
    io_pool& _pool;
    mutable std::mutex _mu;
    std::shared_ptr<const cluster_snapshot> _latest = std::make_shared<cluster_snapshot>();
    std::atomic<int64_t> _newest_version{0};  // _latest->version, read without the mutex
    std::vector<slot> _per_core;
};

} // namespace trib::broker
