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

#include <algorithm>
#include <map>
#include <span>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trib::broker {

struct topic_partition {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

enum class replica_role : uint8_t { none, leader, follower };

// A copy of a replica's log being made in another log directory (AlterReplicaLogDirs, a
// "future" log in Kafka's words): partition_manager appends the log's batches to it and
// swaps it in once it has caught up. The partition applies its log's truncations to it too,
// so it never holds what the log cut.
struct future_log {
    size_t dir = 0;    // index into log.dirs
    std::string name;  // its directory's name in there: <topic>-<partition>.<id>-future
    std::unique_ptr<storage::log> log;
    bool failed = false;  // a truncation could not be applied to it: the move is given up
    uint64_t copied = 0;  // bytes appended to it so far
};

class partition {
public:
    partition(topic_partition tp, protocol::uuid topic_id, std::unique_ptr<storage::log> log, node_id self);
    // Fetches that kept this replica's stamps read again, and find it gone.
    ~partition();
    partition(const partition&) = delete;
    partition& operator=(const partition&) = delete;

    const topic_partition& tp() const noexcept { return _tp; }
    // The topic this log belongs to: a topic deleted and created again under the same name
    // has a new id, and must not see the old topic's data.
    const protocol::uuid& topic_id() const noexcept { return _topic_id; }
    storage::log& log() noexcept { return *_log; }

    // The move of this replica's log to another directory under way, or nullptr.
    future_log* future() noexcept { return _future.get(); }
    void set_future(std::unique_ptr<future_log> f) noexcept { _future = std::move(f); }
    std::unique_ptr<future_log> take_future() noexcept { return std::move(_future); }
    // Puts `next` (the future log, caught up, reopened where it now lives) in place of the
    // log and returns the old one; producer snapshots follow the new log's rolls.
    std::unique_ptr<storage::log> replace_log(std::unique_ptr<storage::log> next);

    // A metadata change for this partition. Returns false when it is stale (ignored).
    bool apply(const coordinator::partition_info& p);
    // Stopping (the replica is deleted or moved away, or the broker stops): every waiter
    // looks again and finds the partition gone.
    void stop();

    replica_role role() const noexcept { return _role; }
    bool is_leader() const noexcept { return _role == replica_role::leader; }
    leader_epoch epoch() const noexcept { return _epoch; }
    // Grows with every change of replicas, ISR or leader; AlterPartition names it.
    int32_t partition_epoch() const noexcept { return _partition_epoch; }
    node_id leader() const noexcept { return _leader; }
    const std::vector<int32_t>& isr() const noexcept { return _isr; }
    const std::vector<int32_t>& replicas() const noexcept { return _replicas; }

    // Whether a request meant for the leader may be served here: NOT_LEADER_OR_FOLLOWER when
    // this replica doesn't lead; with the client's idea of the epoch (KIP-320:
    // current_leader_epoch, -1 when unknown), FENCED_LEADER_EPOCH when the client's is older
    // and UNKNOWN_LEADER_EPOCH when it is newer than this replica knows.
    protocol::error_code check_leader(int32_t client_epoch = -1) const noexcept;

    // The topic's effective min.insync.replicas: acks=all is refused below it.
    void set_min_insync_replicas(int32_t n) noexcept { _min_insync = n; }
    int32_t min_insync_replicas() const noexcept { return _min_insync; }
    // acks=all may append here: the ISR the coordinator committed has min.insync.replicas.
    bool enough_replicas() const noexcept { return int32_t(_isr.size()) >= _min_insync; }
    // Whether broker `b` is in the ISR the coordinator committed.
    bool in_isr(node_id b) const noexcept { return std::find(_isr.begin(), _isr.end(), b.value()) != _isr.end(); }

    // The topic's leader.replication.throttled.replicas names this replica: as leader, its
    // data goes to followers outside the ISR only while the leader throttle allows
    // (replication/quota.h).
    void set_leader_throttled(bool on) noexcept { _leader_throttled = on; }
    bool leader_throttled() const noexcept { return _leader_throttled; }

    offset high_watermark() const noexcept { return _high_watermark; }
    // Leader: where its epoch began in the log. Until the high watermark reaches it, the
    // high watermark may be lower than the previous leader's was (followers have not told
    // this leader how far they are yet), and clients are told OFFSET_NOT_AVAILABLE rather
    // than a stale end (Kafka's KIP-207).
    offset epoch_start() const noexcept { return _epoch_start; }
    offset log_end() const noexcept { return _log->next_offset(); }

    // After an append as leader: moves the high watermark and wakes waiting fetches and produces.
    // A follower that had every record before it was caught up until `now_ms`: a fetch
    // session may have left this partition out of its reads while it was idle
    // (fetch_session.h), so its last fetch can be older than that.
    void appended(int64_t now_ms = clock_ms());

    // Whether a fetch from `at`, whose fetcher last got a batch of `last_fetched_epoch` (-1:
    // none, or a consumer), fits this log: OFFSET_OUT_OF_RANGE outside it; `diverging` (this
    // log's last epoch not above the fetcher's, and where it ends here) when the fetcher's log
    // parts from this one before `at`.
    struct position_check {
        protocol::error_code err = protocol::error_code::none;
        std::optional<std::pair<leader_epoch, offset>> diverging;
        explicit operator bool() const noexcept { return err == protocol::error_code::none && !diverging; }
    };
    position_check check_position(offset at, int32_t last_fetched_epoch) const;

    // The clock of the follower times below (steady, milliseconds).
    static int64_t clock_ms();
    // Leader: a follower fetched from `fetch_offset` at `now_ms`, its last batch of
    // `last_fetched_epoch`. NOT_LEADER_OR_FOLLOWER when `follower` holds no replica here;
    // else check_position's answer. Only a fetch that fits this log says where the follower's
    // log ends (as Kafka: a diverging follower's offset may name records this log does not
    // have, and counting it could put that follower in the ISR and the high watermark past
    // what it holds). Then it moves the high watermark when the follower is in the ISR.
    // Kafka's rule for "caught up": the fetch reached the log end, or reached the log end as
    // of the follower's previous fetch (then it was caught up at that fetch's time).
    position_check follower_fetched(node_id follower, offset fetch_offset, int32_t last_fetched_epoch,
                                    int64_t now_ms);
    // Leader: the ISR it should ask the coordinator for, if different from the current one:
    // members that have not caught up for `lag_max_ms` and lack records of this log leave
    // (the leader stays), replicas that
    // reached the high watermark and this epoch's start join. nullopt while a change is in
    // flight or nothing should change.
    std::optional<std::vector<int32_t>> wanted_isr(int64_t now_ms, int64_t lag_max_ms) const;
    // Leader: an ISR change was sent; until the metadata answers (or it fails: nullopt), the
    // high watermark counts the joining members too (Kafka's "maximal ISR"), and nothing
    // else is sent.
    void set_pending_isr(std::optional<std::vector<int32_t>> isr);
    // The coordinator refused the change in flight (or never answered): it is forgotten, and
    // no change is asked again before `retry_at_ms` (Kafka backs off the same way).
    void isr_change_refused(int64_t retry_at_ms);
    const std::optional<std::vector<int32_t>>& pending_isr() const noexcept { return _pending_isr; }
    // Leader: a follower's log end as its last fetch said (-1: unknown).
    offset follower_end(node_id follower) const;

    // ISR changes this replica asked for as leader that took effect, since the last call
    // (broker/replication_metrics.h: Kafka's IsrShrinksPerSec and IsrExpandsPerSec).
    struct isr_change_counts {
        uint32_t shrinks = 0;
        uint32_t expands = 0;
    };
    isr_change_counts take_isr_changes() noexcept { return std::exchange(_isr_changes, {}); }

    // Follower: appends batches copied from the leader (they keep their offsets and epochs;
    // the first must start at the log end), then takes the leader's high watermark, capped
    // by the log end.
    result<void> append_from_leader(std::span<uint8_t> batches, offset leader_high_watermark);
    // Follower: cuts a divergent tail (OffsetForLeaderEpoch said where the leader's history
    // parts from this log), and forgets producer state built from it.
    result<void> truncate_to(offset end);
    // Follower whose log lies wholly below the leader's log start offset: drops it all and
    // starts again at `start` (Kafka's truncateFullyAndStartAt).
    result<void> truncate_fully_and_start_at(offset start);

    // Fetches wait here for data past their offset; acks=all produces for the high watermark.
    watch_list& fetch_watches() noexcept { return _fetch_watches; }
    // The change stamps fetch sessions keep (delayed.h). The partition bumps them on its own
    // changes; whoever moves the log's start (retention, DeleteRecords) calls changed().
    const std::shared_ptr<partition_news>& news() const noexcept { return _news; }
    void changed() { _news->bump(); }
    watch_list& produce_watches() noexcept { return _produce_watches; }

    producer_state& producers() noexcept { return _producers; }
    // Rebuilds the idempotent-producer state from the batch headers in the log.
    void rebuild_producer_state();

private:
    void become_leader(const coordinator::partition_info& p);
    void become_follower(const coordinator::partition_info& p);
    void count_isr_change(const coordinator::partition_info& p);
    // Leader: moves the high watermark to the smallest log end in the ISR if that is above
    // it, waking the watches; returns whether it moved.
    bool update_high_watermark();

    topic_partition _tp;
    protocol::uuid _topic_id;
    std::unique_ptr<storage::log> _log;
    std::unique_ptr<future_log> _future;
    node_id _self;
    replica_role _role = replica_role::none;
    leader_epoch _epoch{-1};
    int32_t _partition_epoch = -1;
    int32_t _min_insync = 1;
    bool _leader_throttled = false;
    node_id _leader{-1};
    std::vector<int32_t> _replicas;
    std::vector<int32_t> _isr;
    offset _high_watermark{0};
    // Leader: what each follower's fetches said.
    struct follower_state {
        offset end{-1};                 // its log end: the offset it last fetched from
        int64_t last_caught_up_ms = 0;  // when it last had everything this log had
        int64_t last_fetch_ms = 0;
        offset leader_end_at_last_fetch{-1};
    };
    std::map<int32_t, follower_state> _followers;
    std::optional<std::vector<int32_t>> _pending_isr;
    int64_t _isr_retry_at_ms = 0;
    isr_change_counts _isr_changes;
    offset _epoch_start{0};  // where this leader's epoch began in the log
    offset _end_seen{0};     // leader: the log end as of the last appended()
    watch_list _fetch_watches;
    watch_list _produce_watches;
    std::shared_ptr<partition_news> _news = std::make_shared<partition_news>();
    producer_state _producers;
};

} // namespace trib::broker
