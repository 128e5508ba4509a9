#pragma once

// replicated_log for a quorum of coordinators: the Raft core (raft/node.h) driven over the
// durable log (raft/log_store.h), the durable vote (raft/quorum_state.h) and a transport
// (raft/transport.h). A quorum of one runs it too (it elects itself at start), so that it can
// grow one voter at a time (AddRaftVoter); single_voter_log is left to the broker's
// in-process coordinator and to tests.
//
// Everything runs on the owner's io_context (the service's thread), except fsyncs, which
// run on a syncer thread of the log's own, as single_voter_log's do. The driver follows the
// core's contract one ready at a time:
//
//   take_ready → quorum_state.save(hard) (inline: rare, one small file)
//              → install_snapshot (durable when it returns), then restore the state machine
//                from it at once (committed and durable: committed() never trails the
//                snapshot the log serves)
//              → truncate (durable when it returns)
//              → store.append(entries) → send a leader's append and snapshot requests
//              → store.sync ─(syncer thread)─ post ─┐
//   ┌─────────────────────────────────────────────┘
//   └→ send the other messages → apply committed → advance() → the next ready
//
// A leader's requests leave before its own fsync (raft/node.h allows it: the leader counts
// itself only for what is durable), so followers write while it writes.
//
// While a ready waits for its fsync the node keeps ticking and stepping (has_ready() stays
// false until advance()), so what arrives meanwhile goes out with the next ready: appends
// made during one fsync share the next one (group commit, as with one voter). A ready with
// no entries finishes inline. But nothing leaves the node while a ready is out, heartbeats
// included: a leader whose fsync takes longer than the election timeout loses its
// leadership (the core would have to hand out messages apart from its log writes for a
// leader to keep heartbeating meanwhile). An fsync or store failure stops the process
// (fsyncgate: the file's state is unknown, and answering would acknowledge what may not be
// on disk).
//
// Applying: a data entry's payload is one record batch (client/records.h); each record goes
// to state_machine::apply at entry.at + its index. No-ops and voter sets apply nothing. The
// applied end is committed() (what brokers may read); the term of the last entry applied
// says when this node may decide: leader().is_leader holds once the node leads and has
// applied an entry of its own term (its first one, the voter set every new leader
// restates), when everything of earlier terms is in the image: KRaft's active controller.
//
// Appends: on the active controller, the records become one entry; the append completes
// once that entry is applied, with its last offset, in order. When the leadership is lost
// (or was never there) appends fail with errc::not_leader, every one in flight in order: an
// entry failed this way may still be committed by the next leader (the controller's
// pending image is rebuilt from what is applied; coordinator/README.md, Deviations). A
// failure on a node that does not lead is answered inline, as single_voter_log answers
// inline without an io_context; completions otherwise run from the io_context.
//
// Start-up: the store's snapshot (if any) is restored into the state machine; the node
// starts with applied = the snapshot's end and hands committed entries out again once it
// learns the commit end from a leader, so a restarted voter replays its log only after a
// leader exists (a lone voter of three cannot tell what is committed).
//
// Observers: while this coordinator is not a voter in its latest voter set (never added,
// removed, or seated under a directory id that is not its own: seat_lost()), or is one that
// knows no leader (perhaps removed without having heard of it), it sends every
// voter of that set an observer report (raft/types.h: id, directory id, address, log end)
// every observer_report_interval; a voter that does not lead relays what comes straight from
// an observer to the leader it knows (once), so that an observer whose voters are out of date
// still reaches the leader through any of them that is still a voter. Every voter keeps what
// it hears (coordinator_observers, quorum_status.h); observers() lists it for DescribeQuorum.
//
// On disk: the store's directory (raft/log_store.h): segments, snapshots/, quorum-state.
#include "coordinator/quorum_status.h"
#include "coordinator/raft/log_store.h"
#include "coordinator/raft/node.h"
#include "coordinator/raft/quorum_state.h"
#include "coordinator/raft/transport.h"
#include "coordinator/replicated_log.h"
#include "storage/log.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>

namespace trib::coordinator {

struct raft_log_options {
    storage::log_config log;
    raft::voter self;                    // this coordinator (id, where voters reach it)
    raft::voter_set voters;              // controller.quorum.voters: the set of a new cluster
    asio::io_context* ctx = nullptr;     // the owner's (required): timer, messages, completions
    std::unique_ptr<raft::transport> transport;  // required
    std::chrono::milliseconds tick{100};
    std::chrono::milliseconds election_timeout{1000};  // election_ticks = timeout / tick (>= 2)
    uint64_t seed = 0;                   // the core's randomness; 0: random
    storage::syncer::fsync_fn fsync;     // replaces ::fdatasync (tests)
    // While not a voter: how often it reports itself to the voters (rounded to whole ticks).
    std::chrono::milliseconds observer_report_interval{1000};
};

class raft_log final : public replicated_log {
public:
    // Opens (creating) the log in `dir` and restores its snapshot into `sm`. Throws
    // std::invalid_argument on bad options, std::runtime_error when the log or the vote file
    // cannot be read back (a start-up failure).
    static std::unique_ptr<raft_log> open(const std::filesystem::path& dir, raft_log_options options,
                                          state_machine& sm);
    // What the service opens its log with: `make_options` builds the options for the
    // service's io_context (the transport lives on it); ctx is filled in when left null.
    static log_factory factory(std::filesystem::path dir,
                               std::function<raft_log_options(asio::io_context&)> make_options);
    ~raft_log() override;
    raft_log(const raft_log&) = delete;
    raft_log& operator=(const raft_log&) = delete;

    void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) override;
    offset committed() const override { return _applied; }
    offset end() const override { return _node->log_end(); }
    offset log_start() const override { return _store->first(); }
    result<bytes> read(offset from, size_t max_bytes) override;
    std::optional<snapshot_view> latest_snapshot() const override;
    result<void> snapshot(const metadata_image& image) override;
    uint64_t bytes_since_snapshot() const override { return _store->bytes_since_snapshot(); }

    leadership leader() const override;
    std::vector<voter_view> voters() const override;
    std::vector<observer_view> observers() const override;
    void on_leadership(std::function<void(const leadership&)> f) override { _on_leadership = std::move(f); }
    std::optional<node_id> hand_over_leadership() override;
    std::optional<bytes> peer_request(int16_t api_key, int16_t api_version, bytes_view body) override;
    // One voter at a time (raft/node.h's single-server changes): an added coordinator is a
    // learner (replicated to, not counted) until its match reaches the commit end, then the
    // set with it is proposed; a removal proposes the set without it. Done when the core
    // knows the new set committed. One change at a time; leadership lost meanwhile fails it
    // with NOT_CONTROLLER (the change may still commit under the next leader: ask again).
    void change_voters(const voter_change& c, std::function<void(protocol::error_code, std::string)> done) override;
    // Stops the timer, fails the appends in flight, closes the transport, waits for the
    // fsync in flight (its completion is then dropped), closes the files. Idempotent.
    void close() override;
    log_stats stats() const override;

    // For tests and /metrics.
    const raft::node& node() const noexcept { return *_node; }
    term_id applied_term() const noexcept { return _applied_term; }
    size_t pending_appends() const noexcept { return _pending.size(); }

private:
    struct pending_append {
        term_id term;
        offset last;   // the entry's last offset (empty appends: the one they wait behind)
        bool empty;
        std::function<void(result<offset>)> done;
    };

    raft_log(raft_log_options options, state_machine& sm);
    void start();
    void schedule_tick();
    // Drives the node: takes readies while none is out, publishes leadership changes.
    void pump();
    void start_ready();
    void finish_ready();
    void restore(const raft::snapshot_meta& meta);
    void apply(const raft::entry& e);
    void complete_applied();
    // Gives the transport every address known (configured voters, voter sets seen, learners)
    // when that changed.
    void refresh_peers();
    void publish();
    // Counts elections and leader changes from the core's role, term and leader, after every
    // event that may move them (pump()).
    void count_soft_state();
    void fail_pending();
    // Every tick: forgets observers expired or seated; while this node is no voter (or one
    // that knows no leader), reports itself to the voters every observer_report_interval.
    void tick_observers();
    // A report received: kept, and relayed to the leader when it came straight from the
    // observer to a voter that does not lead.
    void received_report(raft::observer_report r);
    // Moves the voter change in flight on: proposes an added voter once caught up, answers
    // once committed, fails it on timeout or lost leadership.
    void check_voter_change();
    void finish_voter_change(protocol::error_code e, std::string message);

    raft_log_options _opts;
    state_machine& _sm;
    std::unique_ptr<storage::syncer> _syncer;
    std::unique_ptr<raft::log_store> _store;
    std::optional<raft::quorum_state> _vote;
    std::unique_ptr<raft::node> _node;
    std::unique_ptr<asio::steady_timer> _timer;
    std::chrono::steady_clock::time_point _next_tick;
    // Shared with the closures posted to the io_context (sync completions, timer, messages):
    // false once closed, so none of them touches a closed log.
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);

    std::optional<raft::ready> _out;     // the ready taken and not finished
    bool _out_durable = false;           // its step 1 is done (fsync included)
    bool _pumping = false;
    bool _pump_again = false;
    bool _closed = false;

    offset _applied{0};
    term_id _applied_term{0};
    std::deque<pending_append> _pending;
    leadership _published;
    std::function<void(const leadership&)> _on_leadership;
    struct voter_change_op {
        voter_change change;
        std::function<void(protocol::error_code, std::string)> done;
        std::chrono::steady_clock::time_point deadline;
        term_id term;
        std::optional<offset> proposed_at;  // the voters entry, once proposed
    };
    std::optional<voter_change_op> _voter_change;
    raft::voter_set _learners;                    // coordinators being added (addresses)
    std::map<node_id, raft::voter> _known;        // every voter and learner seen, by id (latest address)
    raft::voter_set _peers;                       // _known, as last given to the transport
    std::map<node_id, int64_t> _last_heard_ms;    // wall clock of each voter's latest message
    coordinator_observers _observers;             // coordinators outside the voter set, from their reports
    int _ticks_to_report = 0;                     // ticks until this node reports itself again

    // stats(): the core keeps no history of its roles, so these are counted here.
    raft::soft_state _seen;                       // at the end of the last pump round
    node_id _last_leader{-1};                     // the latest leader known (any term) and its term
    term_id _last_leader_term{0};
    uint64_t _elections = 0;
    uint64_t _pre_votes = 0;
    uint64_t _leader_changes = 0;
    uint64_t _snapshots_taken = 0;
    uint64_t _snapshots_installed = 0;
};

} // namespace trib::coordinator
