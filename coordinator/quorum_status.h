#pragma once

// What DescribeQuorum (Kafka API 55) reports about the metadata log's quorum, and the answer
// built from it: `kafka-metadata-quorum describe --status` prints the leader, its epoch, the
// high watermark and the voters and observers; `--replication` each one's log end offset and
// how long ago it fetched and was caught up.
//
// Voters are the coordinators (the log's replicated_log reports them); observers are the
// brokers, which follow the log through the metadata feed: their progress is the applied
// offset their heartbeats carry (observer_progress); and the coordinators outside the voter
// set, which report themselves to the voters (raft/types.h observer_report; kept by
// coordinator_observers in the Raft log), as KRaft's observer controllers show up by
// fetching: an operator takes their id and directory id for AddRaftVoter.
#include "common/bytes.h"
#include "common/ids.h"
#include "coordinator/replicated_log.h"
#include "protocol/error_code.h"

#include <optional>
#include <string_view>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trib::coordinator {

struct replica_progress {
    node_id id{-1};
    int64_t log_end_offset = -1;        // -1: unknown
    int64_t last_fetch_ms = -1;         // wall clock; -1: unknown (and for the leader)
    int64_t last_caught_up_ms = -1;     // wall clock; the leader reports now
    protocol::uuid directory_id{};      // a voter's (ReplicaDirectoryId); zero: unknown
    bool operator==(const replica_progress&) const = default;
};

struct voter_endpoint {
    node_id id{-1};
    std::string listener;  // its listener name (CONTROLLER)
    std::string host;
    uint16_t port = 0;
};

struct quorum_status {
    node_id leader{-1};                 // -1: unknown
    int32_t leader_epoch = 0;           // the Raft term
    int64_t high_watermark = 0;         // committed end of the metadata log
    bool is_leader = false;             // this coordinator leads (only the leader answers)
    std::vector<replica_progress> voters;
    std::vector<replica_progress> observers;
    // DescribeQuorum v2's Nodes: the voters' listeners, and those of coordinators among the
    // observers whose id is no voter's (a node id appears once).
    std::vector<voter_endpoint> endpoints;
};

// The brokers' progress through the metadata log, from their heartbeats.
class observer_progress {
public:
    // A heartbeat of `broker` at wall time now_ms that had applied the log up to `applied`
    // when the log's committed end was `committed`.
    void heard(node_id broker, int64_t applied, int64_t committed, int64_t now_ms);
    void forget(node_id broker);
    // Those heard from within `expiry_ms` of now_ms (KRaft lists observers that fetched in
    // the last 5 minutes), by id.
    std::vector<replica_progress> list(int64_t now_ms, int64_t expiry_ms = 300'000) const;

private:
    std::map<int32_t, replica_progress> _by_id;
};

// How long an observer not heard from stays listed: KRaft's observer session (5 minutes).
inline constexpr int64_t observer_expiry_ms = 300'000;

// The coordinators outside the voter set, from their reports (one table per Raft log, on
// every voter: a new leader has it at once). Keyed by node id: the latest directory id
// reported for an id replaces an older one (a disk wiped again).
class coordinator_observers {
public:
    // A report on `r.observer` received at wall time now_ms, when this coordinator's commit
    // end (the high watermark) was `commit`. Caught up as KRaft counts it: now when its log
    // end reached the commit end; else at the previous report when it reached the commit end
    // of then.
    void heard(const raft::observer_report& r, int64_t commit, int64_t now_ms);
    // Forgets those not heard from for `expiry_ms` and those seated in `voters`.
    void prune(const raft::voter_set& voters, int64_t now_ms, int64_t expiry_ms = observer_expiry_ms);
    // Those heard from within `expiry_ms`, by id, without the ones seated in `voters`: the
    // same id with the same directory id or a seat without one (a coordinator that became a
    // voter leaves the list at once). A voter whose seat names another directory (its disk
    // was wiped) stays listed, under its new one.
    std::vector<observer_view> list(const raft::voter_set& voters, int64_t now_ms,
                                    int64_t expiry_ms = observer_expiry_ms) const;
    bool empty() const noexcept { return _by_id.empty(); }

private:
    struct state {
        observer_view view;
        int64_t commit_at_last = -1;  // the commit end when its latest report came
    };
    std::map<int32_t, state> _by_id;
};

// Answers a DescribeQuorum request (`body`, encoded at `version` without its header): the
// metadata partition's state from `status`; UNKNOWN_TOPIC_OR_PARTITION for any other
// partition (as KRaft), NOT_LEADER_OR_FOLLOWER on the partition when this coordinator does
// not lead. An undecodable body gives INVALID_REQUEST.
struct describe_quorum_answer {
    protocol::error_code error = protocol::error_code::none;  // the envelope's (undecodable, version)
    std::string message;
    bytes body;  // the encoded response
};
describe_quorum_answer describe_quorum(bytes_view body, int16_t version, const quorum_status& status);

// AddRaftVoter (80) / RemoveRaftVoter (81), for kafka-metadata-quorum add-controller /
// remove-controller: the request `body` (at `version`, without its header) → the change it
// asks for. The new voter's address is its listener named `listener` (the name this
// coordinator's own listener has: voters reach each other on it), or its only listener.
// The voter's directory id goes with the change: an added voter is stored with it, and a
// removal naming one (non-zero) removes only the voter of that id stored with that
// directory or with none (raft_log::change_voters).
// Refusals: `refusal` set, with `in_body` when the error belongs in the response
// (INCONSISTENT_CLUSTER_ID, INVALID_REQUEST for a missing listener or an impossible
// address), else the envelope's (UNSUPPORTED_VERSION, an undecodable body).
struct voter_change_request {
    voter_change change;
    std::optional<describe_quorum_answer> refusal;
    bool in_body = false;
};
voter_change_request decode_voter_change(int16_t api_key, int16_t version, bytes_view body,
                                         std::string_view cluster_id, std::string_view listener);
// The response to a voter change: `error` with `message` (none: done).
bytes encode_voter_change_response(int16_t api_key, int16_t version, protocol::error_code error,
                                   const std::string& message);

// The metadata log's name in DescribeQuorum (KRaft's).
inline constexpr std::string_view metadata_topic = "__cluster_metadata";

} // namespace trib::coordinator
