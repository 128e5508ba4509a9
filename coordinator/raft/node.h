#pragma once

// The Raft protocol core of the coordinator quorum: pure and deterministic (no I/O, no
// threads, no clock), in the style of etcd's RawNode + Ready. Logical time comes in through
// tick(), randomness from a generator seeded in node_config, messages through step(), and
// everything the node wants done comes out of take_ready().
//
// ---- The driver contract -------------------------------------------------------------------
//
//   loop:
//     on timer:            node.tick()
//     on a message:        node.step(m)
//     on a client request: node.propose(...) / propose_voters / transfer_leadership / add_learner
//     while node.has_ready():
//       ready r = node.take_ready();
//       1. durably, in this order (fsync before step 2):
//          r.hard_state          (term, vote) when set;
//          r.snapshot            when set: write the snapshot (meta + data), drop EVERY log
//                                entry; the log now starts (empty) at meta.end;
//          r.truncate_from       when set: drop the entries at or above it;
//          r.entries             append (contiguous, starting at the log end after the above).
//       2. send r.messages (they may depend on step 1: a vote, an acknowledged append).
//          Exception: append_request and snapshot_request (a leader's) may be sent once
//          r.hard_state is durable, before r.entries are: the leader counts its own log
//          for commit only up to what advance() has confirmed durable (Raft thesis 10.2.1);
//       3. when r.snapshot is set, restore the state machine from it; then apply
//          r.committed in order (all of them are durable locally after step 1);
//       4. node.advance().
//   A node hands out one ready at a time: has_ready() is false until advance().
//   A crash anywhere in 1 is allowed to lose any suffix of r.entries (a torn tail), never
//   the hard state once written, nor anything an earlier advance() covered.
//   r.soft says who leads (role, leader, term) for routing requests; it is current, and
//   r.soft_changed says it differs from the previous ready's.
//
// Restart: construct a node over the durable log (log_reader) and the durable hard state,
// with the state machine restored from the store's snapshot (or empty): committed entries
// are handed out again from the snapshot's end (node_config::applied).
//
// Snapshots: when the state machine has a snapshot of every entry below E (E <= applied(),
// an entry end), snapshot_meta_at(E) gives its meta; once the driver has that snapshot
// durable it may drop the log below E. The store's first() then says E, and a follower whose
// next entry is below it gets the snapshot in chunks (snapshot_request / snapshot_response).
//
// ---- Reads: the leader lease ---------------------------------------------------------------
//
// lease_valid() is true on a leader that has committed an entry of its own term and whose
// latest append a majority of voters (itself included) acknowledged was built no more than
// lease_ticks ago. A voter that heard from a leader (or started) less than election_ticks
// ago refuses every vote and pre-vote not marked `transfer`, and a leader that sent
// timeout_now gives up its lease for the rest of its term; so no other leader can be elected
// before every such voter has ticked election_ticks times. Clock-drift assumption: between
// any two nodes, the faster one ticks at most election_ticks / lease_ticks times as often as
// the slower one (default lease_ticks = 3/4 of election_ticks: up to 33% drift), and
// messages do not travel back in time. A read served under a valid lease at applied() >=
// commit() (as of the read) is linearizable.
#include "common/result.h"
#include "coordinator/raft/types.h"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace trib::coordinator::raft {

enum class errc {
    not_leader = 1,      // only the leader takes proposals, changes and transfers
    change_pending,      // an earlier voter change is not committed yet, or the leader has
                         // not committed an entry of its own term
    transfer_pending,    // a leadership transfer is in flight
    invalid_change,      // not a single-server change of the current voter set
    invalid_argument,    // bad count, kind, target, or a snapshot end that is not applied
    store_failed,        // the log_reader could not read what the node needed
};

inline std::string errc_message(errc e) {
    switch (e) {
    case errc::not_leader: return "not the Raft leader";
    case errc::change_pending: return "a voter change is pending";
    case errc::transfer_pending: return "a leadership transfer is in flight";
    case errc::invalid_change: return "not a single-voter change of the current voter set";
    case errc::invalid_argument: return "invalid argument";
    case errc::store_failed: return "the Raft log could not be read";
    }
    return "unknown raft error";
}

TRIB_ERROR_CATEGORY(raft, errc, errc_message)

// Read access to the durable log, given to the node. Offsets follow types.h: an entry spans
// [at, at + count). Invariant: first() == snapshot().end (0 without a snapshot), and the log
// holds contiguous entries [first(), end()).
class log_reader {
public:
    virtual ~log_reader() = default;
    virtual offset first() const = 0;
    virtual offset end() const = 0;
    // The term of the entry holding `at`; for at == first() - 1 the snapshot's term (0 when
    // first() is 0); nullopt outside [first() - 1, end()).
    virtual std::optional<term_id> term_at(offset at) const = 0;
    // Entries from the one holding `from` (first() <= from < end()), whole, up to about
    // max_bytes of payload; at least one.
    virtual result<std::vector<entry>> entries(offset from, size_t max_bytes) const = 0;
    virtual snapshot_meta snapshot() const = 0;
    // Up to max_bytes of the snapshot's content from byte `at` (empty at the end).
    virtual result<bytes> snapshot_chunk(uint64_t at, size_t max_bytes) const = 0;
    virtual uint64_t snapshot_size() const = 0;
};

enum class role : int8_t { follower, pre_candidate, candidate, leader };
const char* role_name(role r);

struct soft_state {
    role state = role::follower;
    node_id leader{-1};
    term_id term{0};
    bool operator==(const soft_state&) const = default;
};

struct snapshot_install {
    snapshot_meta meta;
    bytes data;
};

struct ready {
    std::optional<hard_state> hard;
    std::optional<snapshot_install> snapshot;
    std::optional<offset> truncate_from;
    std::vector<entry> entries;
    std::vector<message> messages;
    std::vector<entry> committed;
    offset commit{0};
    soft_state soft;
    bool soft_changed = false;
};

struct node_config {
    node_id id{-1};
    // The directory id of this node's metadata directory (meta.properties); zero: unknown. A
    // node whose entry in a voter set names another one does not vote (seat_lost()).
    protocol::uuid directory_id;
    // The voter set when neither the snapshot nor the log holds one (a new cluster:
    // controller.quorum.voters).
    voter_set initial_voters;
    int election_ticks = 10;   // T: election timeouts are random in [T, 2T)
    int heartbeat_ticks = 1;
    int lease_ticks = 0;       // 0: 3/4 of election_ticks
    uint64_t seed = 1;
    size_t max_append_bytes = 1 << 20;   // payload bytes per append request (at least one entry)
    int max_inflight = 8;                // append requests in flight per follower when replicating
    size_t snapshot_chunk_bytes = 1 << 20;
    size_t max_apply_bytes = 4 << 20;    // committed payload bytes per ready (at least one entry)
    // One past the last entry the state machine holds after restart; -1: the snapshot's end.
    offset applied{-1};
};

// What the leader knows of another node (DescribeQuorum; tests).
struct peer_status {
    node_id id{-1};
    bool voter = false;
    offset match{0};
    bool operator==(const peer_status&) const = default;
};

class node {
public:
    // Throws std::invalid_argument on a bad config, std::runtime_error when the store cannot
    // be read back.
    node(node_config cfg, const log_reader& store, hard_state durable);

    void tick();
    // A message from another node. Messages for another node, from itself, or malformed
    // (non-contiguous entries, a term out of order) are dropped.
    void step(const message& m);

    // Leader only: appends an entry of kind data; returns its offset.
    result<offset> propose(entry_kind kind, bytes payload, int32_t count = 1);
    // Leader only: a voter set differing from the current one by exactly one voter (by id).
    result<offset> propose_voters(voter_set voters);
    // Leader only: replicate to `id` without counting it (it catches up before it is added).
    result<void> add_learner(node_id id);
    void remove_learner(node_id id);
    // Leader only: hands leadership to voter `id` once its log is complete.
    result<void> transfer_leadership(node_id id);
    // Campaigns now instead of at the election timeout (pre-vote first), when this node may
    // campaign and does not lead. A sole voter is its own majority, so this elects it on the
    // spot: a quorum of one leads as soon as it starts. Others grant nothing they would not
    // grant at a timeout.
    void campaign_now();

    bool has_ready() const;
    ready take_ready();
    void advance();

    // The meta of a snapshot of every entry below `end` (an entry end, first() <= end <=
    // applied()).
    result<snapshot_meta> snapshot_meta_at(offset end) const;

    node_id id() const noexcept { return _cfg.id; }
    role state() const noexcept { return _role; }
    node_id leader() const noexcept { return _leader; }
    term_id term() const noexcept { return _hard.term; }
    offset commit() const noexcept { return _commit; }
    offset applied() const noexcept { return _applied; }
    offset log_end() const;
    offset log_first() const;
    std::optional<term_id> term_at(offset at) const;
    const voter_set& voters() const;
    bool is_voter() const;
    // Its entry in a voter set it may be counted in (the latest, or any from the one in force
    // at the commit end) names a directory id (non-zero) other than its own:
    // the disk it voted from was wiped or swapped, and with it the record of its votes. It
    // neither campaigns nor grants a vote or pre-vote, so it can't vote twice in a term; it
    // still follows, acknowledges what it holds durably and installs snapshots (an observer)
    // until it is removed and added back under its new directory id.
    bool seat_lost() const;
    bool lease_valid() const;
    bool transfer_in_flight() const noexcept { return _transfer_to.value() >= 0; }
    std::vector<peer_status> peers() const;
    // Messages dropped as malformed (counter for /metrics).
    uint64_t dropped_messages() const noexcept { return _dropped; }

private:
    struct progress {
        enum class mode : int8_t { probe, replicate, snapshot };
        mode state = mode::probe;
        offset match{0};
        offset next{0};
        bool paused = false;              // probe: one request out, wait for its answer
        std::deque<offset> inflight;      // replicate: ends of requests in flight
        int stall_ticks = 0;              // ticks without progress while something is out
        bool recent_active = false;       // answered since the last check-quorum
        int64_t acked_lease_tick = 0;     // latest lease_tick echoed
        int64_t match_tick = 0;           // lease_tick of the answer that last raised match
        offset snap_end{0};               // snapshot: the one being sent
        uint64_t snap_pos = 0;            // snapshot: bytes the follower has
        bool learner = false;
    };
    struct config_change {
        offset at;
        voter_set voters;
    };

    // -- the log: durable store + entries not yet durable ------------------------------------
    offset first() const;
    offset end() const;
    std::optional<term_id> term_of(offset at) const;
    term_id last_term() const;
    result<std::vector<entry>> read(offset from, size_t max_bytes) const;
    void append_local(std::vector<entry> es);
    void truncate_local(offset from);
    offset boundary_with_term_le(offset hi, term_id t) const;

    // -- roles -------------------------------------------------------------------------------
    void become_follower(term_id t, node_id leader);
    void become_pre_candidate();
    void become_candidate(bool transfer);
    void become_leader();
    void reset(term_id t);
    void campaign(bool pre_vote, bool transfer);
    bool may_campaign() const;
    const voter_set& voters_in_force() const;  // the set in force at the commit end
    int tally() const;
    int quorum() const;
    bool in_lease() const;
    void reset_randomized_timeout();

    // -- messages ----------------------------------------------------------------------------
    void send(node_id to, message_body body);
    void on_vote_request(node_id from, const vote_request& r);
    void on_vote_response(node_id from, const vote_response& r);
    void on_append_request(node_id from, const append_request& r);
    void on_append_response(node_id from, const append_response& r);
    void on_snapshot_request(node_id from, const snapshot_request& r);
    void on_snapshot_response(node_id from, const snapshot_response& r);
    static bool well_formed(const append_request& r);
    bool follow(node_id from);

    // -- leader ------------------------------------------------------------------------------
    progress* heard_from(node_id from);
    void sync_progress();
    bool send_append(node_id to, progress& pr, bool heartbeat);
    void send_empty_append(node_id to, progress& pr);
    void send_snapshot_chunk(node_id to, progress& pr);
    void to_probe(progress& pr, offset next);
    void broadcast(bool heartbeat);
    void maybe_commit();
    void after_commit();
    result<offset> append_as_leader(entry_kind kind, bytes payload, int32_t count);
    bool own_term_committed() const;
    bool voter_change_pending() const;

    // -- config ------------------------------------------------------------------------------
    void note_config(const entry& e);

    node_config _cfg;
    const log_reader& _store;
    std::mt19937_64 _rng;

    hard_state _hard;
    hard_state _persisted_hard;
    role _role = role::follower;
    node_id _leader{-1};
    offset _commit{0};
    offset _applied{0};
    soft_state _last_soft;

    // log: [first, _unstable_from) is read from the store, [_unstable_from, end) from _unstable
    offset _unstable_from{0};
    std::vector<entry> _unstable;
    size_t _handed = 0;                      // _unstable[0, _handed) went out in the ready in flight
    std::optional<offset> _pending_truncate; // for the next ready
    std::optional<snapshot_install> _pending_snapshot;  // received, not yet handed out
    std::optional<snapshot_meta> _installed; // handed out or pending, not yet in the store
    bool _snapshot_handed = false;

    // voter sets: base (snapshot's or initial) and the voters entries above it
    voter_set _base_voters;
    std::vector<config_change> _changes;

    // timers
    int64_t _now = 1;
    int _election_elapsed = 0;
    int _heartbeat_elapsed = 0;
    int _since_leader = 0;          // ticks since a leader was heard (or start)
    int _randomized_timeout = 0;

    // elections
    std::map<node_id, bool> _votes;

    // leader
    std::map<node_id, progress> _progress;
    std::vector<node_id> _learners;
    node_id _transfer_to{-1};
    int _transfer_elapsed = 0;
    bool _lease_given_up = false;
    bool _need_broadcast = false;
    offset _term_start{0};          // offset of the leader's first entry in its term

    // follower: snapshot being received
    std::optional<snapshot_meta> _receiving;
    bytes _received;

    std::vector<message> _msgs;
    bool _ready_out = false;
    uint64_t _dropped = 0;
};

} // namespace trib::coordinator::raft

TRIB_REGISTER_ERRC(trib::coordinator::raft::errc)
