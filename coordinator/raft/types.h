#pragma once

// The vocabulary of the coordinators' Raft (issue 14), shared by the protocol core
// (raft/node.h: pure and deterministic, no I/O), its durable storage (raft/log_store.h on
// storage::log) and its transport (Kafka-framed RPCs between coordinators).
//
// Positions are metadata-log offsets, as today: an entry is one record batch of the metadata
// log, spanning [offset, offset + count), so brokers, snapshots and admin replies keep the
// offsets they use now. Log matching is on (end offset, term of the entry before it). The
// term is stored as the batch's partition leader epoch (KRaft's "epoch"); a voter-set change
// is an entry of kind `voters` (a control batch on disk).
#include "common/bytes.h"
#include "common/ids.h"
#include "protocol/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace trib::coordinator::raft {

enum class entry_kind : int8_t {
    data = 0,    // metadata records for the state machine (the controller's batch)
    voters = 1,  // a voter set (payload: encode_voters); takes effect when appended
};

struct entry {
    offset at{0};         // first offset
    int32_t count = 1;    // offsets it spans (records in the batch), >= 1
    term_id term{0};
    entry_kind kind = entry_kind::data;
    bytes payload;        // data: the records, as the state machine applies them; voters: encode_voters
    offset end() const noexcept { return offset{at.value() + count}; }
    bool operator==(const entry&) const = default;
};

// A coordinator's place in the quorum: its id, where voters reach it, and the directory id
// of the metadata directory it joined with (KIP-853's (id, directory id) voter key). Zero:
// unknown, as for the voters of controller.quorum.voters. A voter whose own directory id is
// not the one its entry names lost the disk it voted from: it does not vote (raft/node.h).
struct voter {
    node_id id{-1};
    std::string host;
    uint16_t port = 0;
    protocol::uuid directory_id{};
    bool operator==(const voter&) const = default;
};
using voter_set = std::vector<voter>;  // sorted by id, ids unique

// The payload of an entry of kind `voters` (also declared in raft/codec.h, defined in
// raft/codec.cc: a CoordinatorVotersRecord value); decode_voters refuses a payload
// that is not one, or a set not sorted by unique ids.
bytes encode_voters(const voter_set& voters);
std::optional<voter_set> decode_voters(bytes_view payload);
// True when `voters` holds `id` (raft/node.cc).
bool has_voter(const voter_set& voters, node_id id);

// Written durably before any message that depends on it leaves the node.
struct hard_state {
    term_id term{0};
    node_id voted_for{-1};  // -1: no vote in `term`
    bool operator==(const hard_state&) const = default;
};

// What a snapshot stands for: every entry below `end`, the last of them of term `term`, and
// the voter set in force at `end`.
struct snapshot_meta {
    offset end{0};
    term_id term{0};
    voter_set voters;
    bool operator==(const snapshot_meta&) const = default;
};

// ---- messages between voters --------------------------------------------------------------

struct vote_request {
    term_id term{0};          // pre-vote: the term the candidate would take (current + 1)
    offset last_end{0};       // end of the candidate's log
    term_id last_term{0};     // term of its last entry (0: empty)
    bool pre_vote = false;
    bool transfer = false;    // sent on timeout_now: ignores the leader stickiness check
    bool operator==(const vote_request&) const = default;
};

struct vote_response {
    term_id term{0};          // pre-vote: the requested term when granted, else the voter's
    bool granted = false;
    bool pre_vote = false;
    bool operator==(const vote_response&) const = default;
};

struct append_request {
    term_id term{0};
    offset prev_end{0};       // entries follow the one ending here
    term_id prev_term{0};     // term of the entry ending at prev_end (0 when prev_end is 0)
    std::vector<entry> entries;
    offset commit{0};         // the leader's commit end
    // Added by the core (raft/node.h): the leader's tick count when it built the request,
    // echoed in the response, so the leader knows how recently a majority heard from it
    // (its read lease). 0: none (a leader never extends its lease on an answer with 0).
    int64_t lease_tick = 0;
    bool operator==(const append_request&) const = default;
};

struct append_response {
    term_id term{0};
    bool success = false;
    offset end{0};            // success: the follower's log matches up to here; reject: a hint
    term_id hint_term{0};     // reject: the follower's term at `end` - 1 (0: none), to skip a term
    int64_t lease_tick = 0;   // added by the core: the request's lease_tick, echoed
    bool operator==(const append_response&) const = default;
};

struct snapshot_request {
    term_id term{0};
    snapshot_meta meta;
    uint64_t chunk_at = 0;    // byte position of `data` in the snapshot
    bytes data;
    bool last = false;
    bool operator==(const snapshot_request&) const = default;
};

struct snapshot_response {
    term_id term{0};
    offset end{0};            // meta.end of the snapshot this answers
    uint64_t next_chunk = 0;  // bytes received so far (the next chunk_at wanted)
    bool done = false;        // installed: the follower's log now starts at end
    bool operator==(const snapshot_response&) const = default;
};

// Leadership transfer: the target starts an election at once.
struct timeout_now {
    term_id term{0};
    bool operator==(const timeout_now&) const = default;
};

using message_body = std::variant<vote_request, vote_response, append_request, append_response,
                                  snapshot_request, snapshot_response, timeout_now>;

struct message {
    node_id from{-1};
    node_id to{-1};
    message_body body;
    bool operator==(const message&) const = default;
};

// ---- not a Raft message ---------------------------------------------------------------------

// A coordinator outside its latest voter set (never added, removed, or seated under another
// directory id: seat_lost(); or a voter that knows no leader, which may have been removed
// without hearing of it) telling a voter it exists, as KRaft's observer controllers show
// themselves by fetching: its id and directory id (what AddRaftVoter needs), where it listens
// and its log end. The core never sees one: the transport carries it beside the messages
// (raft/transport.h), the driver keeps what arrives for DescribeQuorum (coordinator/raft_log.h).
// `from`/`to` are the hop (a voter that does not lead relays a report to its leader once);
// `observer` is the coordinator reported on.
struct observer_report {
    node_id from{-1};
    node_id to{-1};
    node_id observer{-1};
    protocol::uuid directory_id{};
    std::string host;
    uint16_t port = 0;
    offset log_end{0};
    bool operator==(const observer_report&) const = default;
};

} // namespace trib::coordinator::raft
