#pragma once

// Whether this broker may act as a partition leader right now: answer Produce, Fetch,
// ListOffsets, DeleteRecords and OffsetForLeaderEpoch for the partitions it leads.
//
// Leadership comes from the coordinator, and the coordinator takes it away from a broker it
// stops hearing from (after broker.session.timeout.ms: fenced, its leaderships given to other
// in-sync replicas). A broker cut off from the coordinator learns of that only when its
// metadata reaches it again; until then its partitions still say "leader at epoch E". So a
// partition's own state is not enough: the broker must also hold the coordinator client's
// lease (coordinator/client/client.h, "Leadership lease"), and, after a lease that ran out,
// have applied the metadata up to the offset the renewed lease names, which holds any move of
// its leaderships made meanwhile. Without both, the leader requests are answered
// NOT_LEADER_OR_FOLLOWER, so clients go back to Metadata instead of reading a stale high
// watermark or log end from a leader that was replaced.
//
// Written by the coordinator client's core (the lease) and the metadata apply thread (the
// applied offset); read on every core. No lock: three atomics.
#include "coordinator/client/client.h"

#include <atomic>
#include <cstdint>

namespace trib::broker {

class leader_lease {
public:
    void set(const coordinator::lease& l) noexcept {
        _from_offset.store(l.from_offset, std::memory_order_relaxed);
        _until_ms.store(l.until_ms, std::memory_order_release);
    }
    // Every partition change of the metadata below `version` (a snapshot's version: the
    // offset after its last record) is applied on the partitions' cores.
    void applied(int64_t version) noexcept { _applied.store(version, std::memory_order_release); }

    // `now_ms` on partition::clock_ms()'s clock (steady, milliseconds).
    bool held(int64_t now_ms) const noexcept {
        int64_t until = _until_ms.load(std::memory_order_acquire);
        return now_ms < until && _applied.load(std::memory_order_acquire) >= _from_offset.load(std::memory_order_relaxed);
    }

private:
    std::atomic<int64_t> _until_ms{0};
    std::atomic<int64_t> _from_offset{0};
    std::atomic<int64_t> _applied{0};
};

} // namespace trib::broker
