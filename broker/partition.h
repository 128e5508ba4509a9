#pragma once

// One partition replica hosted on this broker, and the small state machine metadata drives
// it through (DESIGN.md, How a partition changes state). It lives on its owner core and is
// touched only from there.
//
// States: a replica is the leader at an epoch, a follower of another broker at an epoch, or
// neither (no leader: the partition is offline). A metadata change names the partition's
// leader, leader epoch, replicas and ISR; apply() takes it unless its leader epoch is older
// than the one held (a late, stale change). Becoming leader at a new epoch starts that epoch
// in the log's leader-epoch cache at the log end.
//
// The high watermark is kept apart from the log end: records below it are committed (on
// every ISR member) and visible to consumers. A leader computes it as the smallest log end
// among the ISR (its own, and what followers' fetches report) and never moves it back; a
// follower takes the leader's, capped by its own log end.
#include "broker/delayed.h"
#include "broker/producer_state.h"
#include "coordinator/client/cluster_snapshot.h"
#include "protocol/error_code.h"
#include "protocol/wire.h"
#include "storage/log.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::broker {

struct topic_partition {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

enum class replica_role : uint8_t { none, leader, follower };

class partition {
public:
    partition(topic_partition tp, protocol::uuid topic_id, std::unique_ptr<storage::log> log, node_id self);

    const topic_partition& tp() const noexcept { return _tp; }
    // The topic this log belongs to: a topic deleted and created again under the same name
    // has a new id, and must not see the old topic's data.
    const protocol::uuid& topic_id() const noexcept { return _topic_id; }
    storage::log& log() noexcept { return *_log; }

    // A metadata change for this partition. Returns false when it is stale (ignored).
    bool apply(const coordinator::partition_info& p);
    // Stopping (the replica is deleted or moved away, or the broker stops): every waiter
    // looks again and finds the partition gone.
    void stop();

    replica_role role() const noexcept { return _role; }
    bool is_leader() const noexcept { return _role == replica_role::leader; }
    leader_epoch epoch() const noexcept { return _epoch; }
    node_id leader() const noexcept { return _leader; }
    const std::vector<int32_t>& isr() const noexcept { return _isr; }
    const std::vector<int32_t>& replicas() const noexcept { return _replicas; }

    // Whether a request meant for the leader may be served here: NOT_LEADER_OR_FOLLOWER when
    // this replica doesn't lead; with the client's idea of the epoch (KIP-320:
    // current_leader_epoch, -1 when unknown), FENCED_LEADER_EPOCH when the client's is older
    // and UNKNOWN_LEADER_EPOCH when it is newer than this replica knows.
    protocol::error_code check_leader(int32_t client_epoch = -1) const noexcept;

    offset high_watermark() const noexcept { return _high_watermark; }
    offset log_end() const noexcept { return _log->next_offset(); }

    // After an append as leader: moves the high watermark and wakes waiting fetches and produces.
    void appended();

    // Fetches wait here for data past their offset; acks=all produces for the high watermark.
    watch_list& fetch_watches() noexcept { return _fetch_watches; }
    watch_list& produce_watches() noexcept { return _produce_watches; }

    producer_state& producers() noexcept { return _producers; }
    // Rebuilds the idempotent-producer state from the batch headers in the log.
    void rebuild_producer_state();

private:
    void become_leader(const coordinator::partition_info& p);
    void become_follower(const coordinator::partition_info& p);
    // Leader: moves the high watermark to the smallest log end in the ISR if that is above
    // it, waking the watches; returns whether it moved.
    bool update_high_watermark();

    topic_partition _tp;
    protocol::uuid _topic_id;
    std::unique_ptr<storage::log> _log;
    node_id _self;
    replica_role _role = replica_role::none;
    leader_epoch _epoch{-1};
    node_id _leader{-1};
    std::vector<int32_t> _replicas;
    std::vector<int32_t> _isr;
    offset _high_watermark{0};
    // Leader: each follower's log end as its last fetch reported it.
    std::map<int32_t, offset> _follower_end;
    watch_list _fetch_watches;
    watch_list _produce_watches;
    producer_state _producers;
};

} // namespace trib::broker
