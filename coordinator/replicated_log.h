#pragma once

// The seams between the controller and consensus (NuRaft's log_store / state_machine,
// logcabin's Storage/Log and Server/StateMachine):
//
//   controller --append(records)--> replicated_log --apply(offset, record)--> state_machine
//
// A replicated_log orders and commits batches of metadata records; once a batch is committed
// it applies every record to the state machine, in offset order, then completes the append.
// Implementations: single_voter_log (commit = local append + fsync) and, for a quorum, a Raft
// log (coordinator/raft/) that replicates to a majority first. Nothing above this interface
// may assume one voter: an append completes later, and may fail (not the leader any more);
// leadership comes and goes (leader(), on_leadership()).
//
// Invariants: log_start() <= committed() <= end(); offsets of committed records never change;
// apply() is called once per committed record per process lifetime, in order, with no gaps
// (a snapshot restore() stands for every record below its offset). Appends complete in the
// order they were made, and a failed append fails every later one still in flight: a log
// never commits a batch whose predecessor failed (the controller's pending image relies on it).
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "common/runtime.h"
#include "coordinator/client/metadata_image.h"
#include "coordinator/client/records.h"
#include "coordinator/raft/transport.h"
#include "coordinator/raft/types.h"
#include "protocol/error_code.h"

#include <chrono>

#include <functional>
#include <memory>
#include <optional>
#include <span>

namespace trib::coordinator {

class state_machine {
public:
    virtual ~state_machine() = default;
    // A committed record.
    virtual void apply(offset at, const metadata_record& r) = 0;
    // Replaces the whole state with a snapshot's (start-up; a follower far behind).
    virtual void restore(const metadata_image& image) = 0;
};

struct snapshot_view {
    offset at;              // the snapshot holds every record below this offset
    const bytes* batches;   // its records as record batches
};

// Who leads the log, as this node knows it.
struct leadership {
    // This node may decide now: it leads, and every entry of earlier terms is committed and
    // applied (KRaft's active controller: the leader once its epoch's start is replayed), so
    // the state machine's image is everything a decision must see. A single voter always is.
    bool is_leader = false;
    term_id term{0};
    // The active controller when known (this node's own entry while it leads, when it knows
    // its address): where requests this node may not decide should go.
    std::optional<raft::voter> leader;
    bool operator==(const leadership&) const = default;
};

// One coordinator joining or leaving the voters (KIP-853's AddRaftVoter / RemoveRaftVoter).
struct voter_change {
    bool add = true;
    raft::voter voter;                      // add: its id and address; remove: its id
    std::chrono::milliseconds timeout{30000};  // add: how long it may take to catch up
};

struct voter_view {
    raft::voter endpoint;           // port 0: address unknown
    int64_t log_end_offset = -1;    // -1: unknown
    int64_t last_fetch_ms = -1;     // wall clock of its latest answer to the leader; -1: unknown or itself
    bool operator==(const voter_view&) const = default;
};

// A coordinator outside the voter set that made itself known to this one (raft/types.h's
// observer_report): DescribeQuorum lists it among the observers, beside the brokers.
struct observer_view {
    raft::voter endpoint;             // its id, where it listens (port 0: unknown), its directory id
    int64_t log_end_offset = -1;      // as it last reported (a learner's: what the leader knows, if more)
    int64_t last_fetch_ms = -1;       // wall clock of its latest report here
    int64_t last_caught_up_ms = -1;   // wall clock when its log end last reached the commit end; -1: never
    bool operator==(const observer_view&) const = default;
};

// This node's place in the quorum as /metrics shows it (tributary_coordinator_raft_role).
enum class log_role : int8_t { follower, pre_candidate, candidate, leader, observer };

inline const char* log_role_name(log_role r) {
    switch (r) {
    case log_role::follower: return "follower";
    case log_role::pre_candidate: return "pre_candidate";
    case log_role::candidate: return "candidate";
    case log_role::leader: return "leader";
    case log_role::observer: return "observer";
    }
    return "unknown";
}
inline constexpr log_role all_log_roles[] = {log_role::follower, log_role::pre_candidate, log_role::candidate,
                                             log_role::leader, log_role::observer};

// What a log says of itself for /metrics (coordinator/README.md names the metric of each
// field). Offsets are ends (one past the last entry), as committed() and end() are. Counters
// count from when the log was opened: they only grow over a process's life.
struct log_stats {
    // Raft's role; observer: not in the voter set (a learner being caught up, or a removed
    // voter still running) or in it under another directory id (wiped: raft/node.h
    // seat_lost), whatever the core's role.
    log_role role = log_role::leader;
    term_id term{0};
    node_id leader{-1};         // as this node knows it; -1: none
    offset commit_end{0};       // what a majority holds (the core's commit end)
    offset applied_end{0};      // what the state machine holds: committed()
    offset log_start{0};
    offset log_end{0};
    size_t voters = 1;
    bool is_voter = true;
    uint64_t elections = 0;            // campaigns this node started (each takes a new term)
    uint64_t pre_votes = 0;            // pre-vote rounds that asked other voters
    uint64_t leader_changes = 0;       // times this node learned of a leader for a new term
    uint64_t snapshots_taken = 0;      // snapshot() of the local state
    uint64_t snapshots_installed = 0;  // snapshots received from a leader
    uint64_t dropped_messages = 0;     // malformed Raft messages the core dropped
    uint64_t fsync_rounds = 0;         // rounds of fsyncs (each covers every write asked before)
    std::optional<raft::transport_stats> transport;  // nullopt: no transport, or one that keeps no counts
    bool operator==(const log_stats&) const = default;
};

class replicated_log {
public:
    virtual ~replicated_log() = default;

    // Proposes `records` as one batch (committed all together or not at all). `done` runs on
    // the owner's thread with the last record's offset once it is committed and applied,
    // or with an error (errc::not_leader: this node may not decide, or lost the leadership
    // before the batch committed). An empty batch completes with committed() - 1.
    virtual void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) = 0;
    // One past the last committed record.
    virtual offset committed() const = 0;
    // One past the last record appended, committed or not: where the next append lands.
    virtual offset end() const = 0;
    // The first offset still in the log (records below are only in the snapshot).
    virtual offset log_start() const = 0;
    // Committed batches from the one holding `from`, up to about max_bytes (at least one).
    virtual result<bytes> read(offset from, size_t max_bytes) = 0;
    virtual std::optional<snapshot_view> latest_snapshot() const = 0;
    // Takes a snapshot of `image` (which must reflect every record below committed()) and
    // drops what it makes redundant from the log.
    virtual result<void> snapshot(const metadata_image& image) = 0;
    // Bytes appended since the last snapshot (the snapshot policy reads it).
    virtual uint64_t bytes_since_snapshot() const = 0;

    virtual leadership leader() const = 0;
    // Each voter as this node knows it (DescribeQuorum): its id, address when known, and its
    // log end (a leader knows every voter's; -1 where unknown). A single voter: itself.
    virtual std::vector<voter_view> voters() const = 0;
    // The coordinators outside the voter set heard from lately (observer_view), not those
    // seated as voters. A log without observers (a single voter): none.
    virtual std::vector<observer_view> observers() const { return {}; }
    // `f` runs on the owner's thread after every change of leader() (one listener; a single
    // voter never calls it). Appends in flight when the leadership is lost fail.
    virtual void on_leadership(std::function<void(const leadership&)> f) = 0;
    // A clean shutdown of the leader: asks the most caught-up other voter to take over now
    // (Raft's leadership transfer), so the quorum does not wait an election timeout for a
    // new leader after this one stops. The voter asked, or nullopt when this node does not
    // lead, has no other voter, or a transfer cannot start.
    virtual std::optional<node_id> hand_over_leadership() { return std::nullopt; }

    // Changes the voter set by one voter (only the active controller may). Add: the new
    // coordinator is replicated to without a vote until it has caught up, then the set with
    // it is proposed; remove: the set without it. `done` runs on the owner's thread once the
    // new set is committed (error_code::none) or with the reason it is not: NOT_CONTROLLER,
    // DUPLICATE_VOTER, VOTER_NOT_FOUND, REQUEST_TIMED_OUT (another change in flight, or the
    // new voter did not catch up in time), UNSUPPORTED_VERSION (a log whose voters can't
    // change: the single voter's).
    virtual void change_voters(const voter_change& /*c*/, std::function<void(protocol::error_code, std::string)> done) {
        done(protocol::error_code::unsupported_version,
             "this coordinator runs a single-voter metadata log: its voter set is fixed by controller.quorum.voters");
    }

    // A request another coordinator sent this one for the log itself (the Raft transport's
    // messages, raft/transport.h): the response body (without the response header), or
    // nullopt when the log serves no such API (a single voter serves none).
    virtual std::optional<bytes> peer_request(int16_t /*api_key*/, int16_t /*api_version*/, bytes_view /*body*/) {
        return std::nullopt;
    }

    // For /metrics, on the owner's thread. The default is a log without Raft's moving parts:
    // always the leader at term 0, alone, counting nothing.
    virtual log_stats stats() const {
        log_stats s;
        const auto l = leader();
        s.leader = l.leader ? l.leader->id : node_id(-1);
        s.commit_end = committed();
        s.applied_end = committed();
        s.log_start = log_start();
        s.log_end = end();
        s.voters = voters().size();
        return s;
    }

    // Completes or fails what is in flight (on the owner's thread, before it stops), then
    // closes the files. Idempotent.
    virtual void close() = 0;
};

// Opens a metadata log, restoring its snapshot and replaying its records into `sm`;
// completions run on `ctx` (the owner's thread). Throws std::runtime_error when the log
// cannot be read back (a start-up failure).
using log_factory = std::function<std::unique_ptr<replicated_log>(state_machine& sm, asio::io_context& ctx)>;

} // namespace trib::coordinator
