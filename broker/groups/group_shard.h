#pragma once

// The consumer groups of one `__consumer_offsets` partition, as its leader serves them: the
// classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets
// (OffsetCommit, OffsetFetch, OffsetDelete) and the group admin APIs (DescribeGroups,
// ListGroups, DeleteGroups). Kafka 4.x's group coordinator is sharded the same way: one
// shard per offsets partition, living and dying with leadership of that partition.
//
// A shard has no I/O and no threads. It lives on the owner core of its partition and is
// touched only there; the broker (broker/groups/group_coordinator.h) feeds it requests, the
// partition's records when it loads, and the clock, and gives it `shard_host` to write
// records. State kept in the log: a classic group's metadata (members, generation,
// protocol, assignments) is written when a generation's assignment is synced, when a static
// member rejoins under a new member id, when the group becomes empty and when it is deleted
// (a tombstone); a committed offset when it is committed and deleted or expired. Everything
// else (who is joining, heartbeats) is in memory only, as in Kafka.
//
// Answers that wait (a JoinGroup until the rebalance completes, a SyncGroup until the
// leader's assignment is written, a commit until its record is committed) are given through
// callbacks, called on the shard's core, never from inside the call that took them.
#include "broker/groups/consumer_group.h"
#include "broker/groups/offsets_records.h"
#include "common/bytes.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::broker::groups {

// Broker settings that shape groups, with Apache Kafka's names and defaults.
struct group_config {
    int32_t min_session_timeout_ms = 6000;            // group.min.session.timeout.ms
    int32_t max_session_timeout_ms = 1800000;         // group.max.session.timeout.ms
    int32_t initial_rebalance_delay_ms = 3000;        // group.initial.rebalance.delay.ms
    int32_t max_size = std::numeric_limits<int32_t>::max();  // group.max.size
    int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;    // offsets.retention.minutes
    int32_t max_metadata_size = 4096;                 // offset.metadata.max.bytes
    int64_t offsets_retention_check_interval_ms = 600000;  // offsets.retention.check.interval.ms
    // The new consumer protocol (KIP-848).
    int32_t consumer_session_timeout_ms = 45000;      // group.consumer.session.timeout.ms
    int32_t consumer_heartbeat_interval_ms = 5000;    // group.consumer.heartbeat.interval.ms
    int32_t consumer_max_size = std::numeric_limits<int32_t>::max();  // group.consumer.max.size
    std::vector<std::string> consumer_assignors = {"uniform", "range"};  // group.consumer.assignors; first: default
};

// A topic as the cluster's metadata has it now.
struct topic_meta {
    protocol::uuid id;
    int32_t partitions = 0;
    bool internal = false;
};

// What a shard needs from the broker. Called on the shard's core only.
class shard_host {
public:
    virtual ~shard_host() = default;

    // The wall clock (commit timestamps, offset expiry), milliseconds since the epoch.
    virtual int64_t wall_ms() = 0;
    // A steady clock for timeouts (sessions, rebalances, the initial delay), milliseconds.
    virtual int64_t steady_ms() = 0;

    struct record {
        bytes key;
        std::optional<bytes> value;  // nullopt: a tombstone
    };
    // Appends `records` (encoded with offsets_records.h) to this shard's partition as one
    // batch and calls done(none) once they are committed (the high watermark passed them),
    // or done(error) when they are not: NOT_COORDINATOR when leadership was lost,
    // NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, ... Never calls done from inside append().
    virtual void append(std::vector<record> records, std::function<void(protocol::error_code)> done) = 0;
    // Runs `fn` soon on the shard's core, after the current call returns (asio::post). The
    // shard gives every answer through it, so none is given from inside the call that took
    // the request; `fn` holds no reference to the shard and may run after it is destroyed.
    virtual void post(std::function<void()> fn) = 0;

    // The cluster's topics, for the consumer groups' server-side assignment: one by name
    // (nullopt: no such topic), and every name (to match subscriptions by regex).
    virtual std::optional<topic_meta> topic(const std::string& name) = 0;
    virtual std::vector<std::string> topic_names() = 0;
    // Whether a member may DESCRIBE a topic, by the authorizer's bindings as they are when the
    // check was made (one per resolution of a group's subscriptions, not one per topic).
    using describe_check = std::function<bool(const consumer::identity& who, const std::string& topic)>;
    virtual describe_check topic_describe_check() = 0;
};

// Where a request came from, for DescribeGroups, and (ConsumerGroupHeartbeat) who sent it.
struct client_info {
    std::string client_id;
    std::string client_host;  // as Kafka shows it: "/127.0.0.1"
    consumer::identity who = {};  // ConsumerGroupHeartbeat's
};

// One group's answer to OffsetFetch, for either shape of the response (v0-7, v8+).
struct fetched_offset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;  // -1: nothing committed
    int32_t leader_epoch = -1;
    std::optional<std::string> metadata;  // "" when nothing committed, as Kafka answers
    protocol::error_code error = protocol::error_code::none;
};
struct fetched_group {
    protocol::error_code error = protocol::error_code::none;
    std::vector<fetched_offset> offsets;
};
// The partitions asked for, per topic; nullopt in fetch_offsets: every committed one.
struct wanted_topic {
    std::string topic;
    std::vector<int32_t> partitions;
};

// Who asks OffsetFetch v9: a consumer group member (its epoch must be current), or nobody.
struct fetching_member {
    std::optional<std::string> member_id;
    int32_t member_epoch = -1;
};

class group_shard {
public:
    group_shard(int32_t partition, shard_host& host, group_config cfg);
    ~group_shard();
    group_shard(const group_shard&) = delete;
    group_shard& operator=(const group_shard&) = delete;

    int32_t partition() const noexcept { return _partition; }

    // Loading: every record of the partition in log order (other_record and bad_record are
    // skipped), then loaded(), after which requests are served. Groups loaded with members
    // give each member a full session timeout from loaded() to heartbeat (Kafka does the
    // same when a coordinator moves).
    void replay(const offsets_record& r);
    void loaded();

    // JoinGroup for a group of this partition. `version` is the request's: MEMBER_ID_REQUIRED
    // from v4, static membership from v5, SkipAssignment from v9 ... as Kafka's classic group
    // coordinator does.
    void join(const protocol::join_group_request& req, int16_t version, const client_info& client,
              std::function<void(protocol::join_group_response)> done);
    void sync(const protocol::sync_group_request& req, int16_t version,
              std::function<void(protocol::sync_group_response)> done);
    protocol::heartbeat_response heartbeat(const protocol::heartbeat_request& req, int16_t version);
    void leave(const protocol::leave_group_request& req, int16_t version,
               std::function<void(protocol::leave_group_response)> done);

    // ConsumerGroupHeartbeat (KIP-848): joins, leaves, heartbeats and reconciles a member of
    // a consumer group; answered once what it changed is written.
    void consumer_heartbeat(const protocol::consumer_group_heartbeat_request& req, int16_t version,
                            const client_info& client,
                            std::function<void(protocol::consumer_group_heartbeat_response)> done);
    protocol::consumer_group_describe_response::described_group consumer_describe(const std::string& group_id) const;

    void commit_offsets(const protocol::offset_commit_request& req, int16_t version,
                        std::function<void(protocol::offset_commit_response)> done);
    // OffsetFetch; v9 names the member of a consumer group asking (its epoch must be current).
    fetched_group fetch_offsets(const std::string& group_id, const std::optional<std::vector<wanted_topic>>& wanted,
                                bool require_stable, const fetching_member& who = {}) const;
    void delete_offsets(const protocol::offset_delete_request& req,
                        std::function<void(protocol::offset_delete_response)> done);

    protocol::describe_groups_response::described_group describe(const std::string& group_id) const;
    // The groups of this shard that pass ListGroups v4+'s filters (empty: all); type filter
    // (v5) as Kafka: "classic" / "consumer".
    void list(const std::vector<std::string>& states_filter, const std::vector<std::string>& types_filter,
              std::vector<protocol::list_groups_response::listed_group>& out) const;
    // DeleteGroups for the groups of this shard: each must be empty (NON_EMPTY_GROUP) or
    // dead; its offsets and metadata are deleted with tombstones.
    void delete_groups(const std::vector<std::string>& group_ids,
                       std::function<void(std::vector<protocol::delete_groups_response::deletable_group_result>)> done);

    // Timers: expires members whose session ran out, completes rebalances whose timeout or
    // initial delay passed, expires offsets past offsets.retention of empty groups. The broker
    // calls it at next_deadline_ms() (steady clock) and at least once a second.
    void poll();
    int64_t next_deadline_ms() const;

    // Leadership of the partition is gone: every waiting answer is given NOT_COORDINATOR and
    // the shard may be destroyed.
    void unload();

    // For metrics and lag (broker/groups/lag): each group's committed offsets, and members.
    struct group_view {
        std::string group_id;
        std::string state;  // Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead;
                            // for consumer groups Empty, Assigning, Reconciling, Stable
        int32_t members = 0;
        std::vector<fetched_offset> offsets;
    };
    std::vector<group_view> groups() const;

private:
    struct impl;
    int32_t _partition;
    std::unique_ptr<impl> _impl;
};

} // namespace trib::broker::groups
