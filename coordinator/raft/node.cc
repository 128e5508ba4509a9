#include "coordinator/raft/node.h"

#include "coordinator/raft/codec.h"  // valid_voter_set

#include <algorithm>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace trib::coordinator::raft {

namespace {

template<class... F>
struct overloaded : F... {
    using F::operator()...;
};
template<class... F>
overloaded(F...) -> overloaded<F...>;

term_id term_of_body(const message_body& b) {
    return std::visit([](const auto& m) { return m.term; }, b);
}

} // namespace

bool has_voter(const voter_set& voters, node_id id) {
    return std::any_of(voters.begin(), voters.end(), [&](const voter& v) { return v.id == id; });
}

const char* role_name(role r) {
    switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre-candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
    }
    return "?";
}

node::node(node_config cfg, const log_reader& store, hard_state durable)
    : _cfg(std::move(cfg)), _store(store), _rng(_cfg.seed), _hard(durable), _persisted_hard(durable) {
    if (_cfg.id.value() < 0 || _cfg.election_ticks < 2 || _cfg.heartbeat_ticks < 1 ||
        _cfg.heartbeat_ticks >= _cfg.election_ticks || _cfg.max_inflight < 1 || _cfg.snapshot_chunk_bytes == 0 ||
        _cfg.lease_ticks > _cfg.election_ticks || !valid_voter_set(_cfg.initial_voters)) {
        throw std::invalid_argument("raft node: invalid configuration");
    }
    if (_cfg.lease_ticks <= 0) {
        _cfg.lease_ticks = std::max(1, _cfg.election_ticks * 3 / 4);
    }
    _unstable_from = _store.end();
    snapshot_meta snap = _store.snapshot();
    _base_voters = snap.voters.empty() ? _cfg.initial_voters : snap.voters;
    _commit = _store.first();
    _applied = _cfg.applied.value() < 0 ? _store.first() : _cfg.applied;
    if (_applied < _store.first() || _applied > _store.end()) {
        throw std::invalid_argument("raft node: applied offset outside the log");
    }
    _commit = std::max(_commit, _applied);
    for (offset o = _store.first(); o < _store.end();) {
        auto es = _store.entries(o, 1 << 20);
        if (!es || es->empty()) {
            throw std::runtime_error("raft node: cannot read the log back at " + std::to_string(o.value()));
        }
        for (const auto& e : *es) {
            note_config(e);
        }
        o = es->back().end();
    }
    _last_soft = soft_state{_role, _leader, _hard.term};
    reset_randomized_timeout();
}

// ---- the log ---------------------------------------------------------------------------------

offset node::first() const { return _installed ? _installed->end : _store.first(); }

offset node::end() const { return _unstable.empty() ? _unstable_from : _unstable.back().end(); }

offset node::log_end() const { return end(); }
offset node::log_first() const { return first(); }
std::optional<term_id> node::term_at(offset at) const { return term_of(at); }

std::optional<term_id> node::term_of(offset at) const {
    offset f = first();
    if (at == f - 1) {
        if (f.value() == 0) {
            return term_id(0);
        }
        return _installed ? _installed->term : _store.snapshot().term;
    }
    if (at < f - 1 || at >= end()) {
        return std::nullopt;
    }
    if (at >= _unstable_from) {
        auto it = std::upper_bound(_unstable.begin(), _unstable.end(), at,
                                   [](offset o, const entry& e) { return o < e.at; });
        return std::prev(it)->term;
    }
    return _store.term_at(at);
}

term_id node::last_term() const { return term_of(end() - 1).value_or(term_id(0)); }

result<std::vector<entry>> node::read(offset from, size_t max_bytes) const {
    std::vector<entry> out;
    size_t bytes = 0;
    if (from < first() || from >= end()) {
        return errc::invalid_argument;
    }
    if (from < _unstable_from) {
        auto stored = _store.entries(from, max_bytes);
        if (!stored) {
            return stored.error();
        }
        for (auto& e : *stored) {
            if (e.at >= _unstable_from || (!out.empty() && bytes + e.payload.size() > max_bytes)) {
                break;
            }
            bytes += e.payload.size();
            out.push_back(std::move(e));
        }
        if (out.empty()) {
            return errc::store_failed;
        }
        if (out.back().end() < _unstable_from || bytes >= max_bytes || _unstable.empty()) {
            return out;
        }
        from = _unstable_from;
    }
    auto it = std::upper_bound(_unstable.begin(), _unstable.end(), from,
                               [](offset o, const entry& e) { return o < e.at; });
    for (it = std::prev(it); it != _unstable.end(); ++it) {
        if (!out.empty() && bytes + it->payload.size() > max_bytes) {
            break;
        }
        bytes += it->payload.size();
        out.push_back(*it);
    }
    return out;
}

void node::note_config(const entry& e) {
    if (e.kind != entry_kind::voters) {
        return;
    }
    auto vs = decode_voters(e.payload);
    if (!vs) {
        ++_dropped;  // a voters entry that does not decode changes nothing
        return;
    }
    _changes.push_back(config_change{e.at, std::move(*vs)});
}

void node::append_local(std::vector<entry> es) {
    for (auto& e : es) {
        note_config(e);
        _unstable.push_back(std::move(e));
    }
    if (_role == role::leader) {
        sync_progress();
    }
}

void node::truncate_local(offset from) {
    if (from < _commit) {
        throw std::logic_error("raft node: truncating committed entries");
    }
    while (!_changes.empty() && _changes.back().at >= from) {
        _changes.pop_back();
    }
    if (from >= _unstable_from) {
        size_t i = 0;
        while (i < _unstable.size() && _unstable[i].at < from) {
            ++i;
        }
        if (i < _handed) {
            _handed = i;
            _pending_truncate = std::min(_pending_truncate.value_or(from), from);
        }
        _unstable.resize(i);
    } else {
        _pending_truncate = std::min(_pending_truncate.value_or(from), from);
        _unstable.clear();
        _handed = 0;
        _unstable_from = from;
    }
}

// Largest o in [lo, hi] with term_of(o - 1) <= t (terms only grow along a log), or lo - 1
// when there is none.
offset node::boundary_with_term_le(offset hi, term_id t) const {
    offset lo = std::max(first(), _commit);
    if (_role == role::leader) {
        lo = first();
    }
    if (hi < lo) {
        return lo - 1;
    }
    auto le = [&](offset o) {
        auto x = term_of(o - 1);
        return x && *x <= t;
    };
    if (le(hi)) {
        return hi;
    }
    if (!le(lo)) {
        return lo - 1;
    }
    // le(lo) holds, le(hi) does not
    while (hi - lo > 1) {
        offset mid = lo + (hi - lo) / 2;
        if (le(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// ---- roles -----------------------------------------------------------------------------------

void node::reset_randomized_timeout() {
    std::uniform_int_distribution<int> d(_cfg.election_ticks, 2 * _cfg.election_ticks - 1);
    _randomized_timeout = d(_rng);
}

void node::reset(term_id t) {
    if (t != _hard.term) {
        _hard.term = t;
        _hard.voted_for = node_id(-1);
    }
    _leader = node_id(-1);
    _election_elapsed = 0;
    _heartbeat_elapsed = 0;
    reset_randomized_timeout();
    _votes.clear();
    _progress.clear();
    _learners.clear();
    _transfer_to = node_id(-1);
    _transfer_elapsed = 0;
    _lease_given_up = false;
    _need_broadcast = false;
}

void node::become_follower(term_id t, node_id leader) {
    reset(t);
    _role = role::follower;
    _leader = leader;
    if (leader.value() >= 0) {
        _since_leader = 0;
    }
}

void node::become_pre_candidate() {
    _role = role::pre_candidate;
    _leader = node_id(-1);
    _votes.clear();
    _election_elapsed = 0;
    reset_randomized_timeout();
}

void node::become_candidate(bool) {
    reset(_hard.term + 1);
    _hard.voted_for = _cfg.id;
    _role = role::candidate;
}

void node::become_leader() {
    _role = role::leader;
    _leader = _cfg.id;
    _since_leader = 0;
    _election_elapsed = 0;
    _heartbeat_elapsed = 0;
    _progress.clear();
    _term_start = end();
    sync_progress();
    // The leader's first entry restates the voter set: it commits the entries of earlier
    // terms (a leader commits only its own term's entries by counting) and is the "entry of
    // its own term" a voter change waits for.
    (void)append_as_leader(entry_kind::voters, encode_voters(voters()), 1);
}

int node::quorum() const { return int(voters().size() / 2 + 1); }

const voter_set& node::voters() const { return _changes.empty() ? _base_voters : _changes.back().voters; }

bool node::is_voter() const { return has_voter(voters(), _cfg.id); }

// The sets from the one in force at the commit end to the latest: a candidate may count this
// node's vote against any of them (its own latest set may be one this node has not yet
// truncated or committed), so the seat is lost when any of them names another directory.
bool node::seat_lost() const {
    auto lost_in = [&](const voter_set& vs) {
        auto it = std::find_if(vs.begin(), vs.end(), [&](const voter& v) { return v.id == _cfg.id; });
        return it != vs.end() && !it->directory_id.is_zero() && it->directory_id != _cfg.directory_id;
    };
    if (lost_in(voters_in_force())) {
        return true;
    }
    return std::any_of(_changes.begin(), _changes.end(),
                       [&](const config_change& c) { return c.at >= _commit && lost_in(c.voters); });
}

const voter_set& node::voters_in_force() const {
    const voter_set* in_force = &_base_voters;
    for (const auto& c : _changes) {
        if (c.at < _commit) {
            in_force = &c.voters;
        }
    }
    return *in_force;
}

bool node::in_lease() const { return _role == role::leader || _since_leader < _cfg.election_ticks; }

// A node campaigns while it is a voter in its latest voter set, or in the set in force at its
// commit end: a node whose removal is appended but not committed may still be needed to elect
// the leader that commits it (votes always count against the candidate's latest set, so
// this never lets it decide alone).
bool node::may_campaign() const {
    if (seat_lost()) {
        return false;
    }
    if (is_voter()) {
        return true;
    }
    if (!voter_change_pending()) {
        return false;
    }
    return has_voter(voters_in_force(), _cfg.id);
}

// Counts the answers of the current voters: 1 when a majority granted, -1 when a majority
// refused, else 0.
int node::tally() const {
    int yes = 0;
    int no = 0;
    for (const auto& [id, g] : _votes) {
        if (has_voter(voters(), id)) {
            (g ? yes : no)++;
        }
    }
    return yes >= quorum() ? 1 : no >= quorum() ? -1 : 0;
}

void node::campaign(bool pre_vote, bool transfer) {
    if (!may_campaign()) {
        return;
    }
    if (pre_vote) {
        become_pre_candidate();
    } else {
        become_candidate(transfer);
    }
    _votes[_cfg.id] = true;
    if (tally() > 0) {
        if (pre_vote) {
            campaign(false, false);
        } else {
            become_leader();
        }
        return;
    }
    vote_request req{pre_vote ? _hard.term + 1 : _hard.term, end(), last_term(), pre_vote, transfer};
    for (const auto& v : voters()) {
        if (v.id != _cfg.id) {
            send(v.id, req);
        }
    }
}

void node::campaign_now() {
    if (_role == role::leader) {
        return;
    }
    _election_elapsed = 0;
    campaign(true, false);
}

void node::tick() {
    ++_now;
    if (_since_leader < _cfg.election_ticks) {
        ++_since_leader;
    }
    if (_role != role::leader) {
        ++_election_elapsed;
        if (_election_elapsed >= _randomized_timeout) {
            _election_elapsed = 0;
            campaign(true, false);
        }
        return;
    }
    _since_leader = 0;
    ++_heartbeat_elapsed;
    ++_election_elapsed;
    if (transfer_in_flight() && ++_transfer_elapsed >= _cfg.election_ticks) {
        _transfer_to = node_id(-1);  // the target did not take over in time
    }
    if (_election_elapsed >= _cfg.election_ticks) {
        _election_elapsed = 0;
        int active = 0;
        for (const auto& v : voters()) {
            if (v.id == _cfg.id) {
                ++active;
                continue;
            }
            auto it = _progress.find(v.id);
            if (it != _progress.end() && it->second.recent_active) {
                ++active;
            }
        }
        for (auto& [id, pr] : _progress) {
            pr.recent_active = false;
        }
        if (active < quorum()) {
            become_follower(_hard.term, node_id(-1));  // check-quorum: cut off from a majority
            return;
        }
    }
    for (auto& [id, pr] : _progress) {
        bool waiting = (pr.state == progress::mode::replicate && !pr.inflight.empty()) ||
                       (pr.state == progress::mode::probe && pr.paused) || pr.state == progress::mode::snapshot;
        pr.stall_ticks = waiting ? pr.stall_ticks + 1 : 0;
    }
    if (_heartbeat_elapsed >= _cfg.heartbeat_ticks) {
        _heartbeat_elapsed = 0;
        broadcast(true);
    }
}

// ---- messages --------------------------------------------------------------------------------

void node::send(node_id to, message_body body) { _msgs.push_back(message{_cfg.id, to, std::move(body)}); }

bool node::well_formed(const append_request& r) {
    if (r.prev_end.value() < 0 || r.prev_term.value() < 0 || r.prev_term > r.term || r.commit.value() < 0 ||
        (r.prev_end.value() == 0 && r.prev_term.value() != 0)) {
        return false;
    }
    offset at = r.prev_end;
    term_id t = r.prev_term;
    for (const auto& e : r.entries) {
        if (e.at != at || e.count < 1 || e.term < t || e.term > r.term ||
            (e.kind != entry_kind::data && e.kind != entry_kind::voters) ||
            at.value() > std::numeric_limits<int64_t>::max() - e.count) {
            return false;
        }
        at = e.end();
        t = e.term;
    }
    return true;
}

void node::step(const message& m) {
    if (m.to != _cfg.id || m.from == _cfg.id || m.from.value() < 0) {
        ++_dropped;
        return;
    }
    term_id mt = term_of_body(m.body);
    if (mt.value() < 0) {
        ++_dropped;
        return;
    }
    if (mt > _hard.term) {
        if (const auto* vr = std::get_if<vote_request>(&m.body)) {
            if (!vr->transfer && in_lease()) {
                // Leader stickiness: a live leader was heard lately; the candidate is cut off
                // from it or out of date. Neither the term nor the vote changes.
                send(m.from, vote_response{_hard.term, false, vr->pre_vote});
                return;
            }
            if (!vr->pre_vote) {
                become_follower(mt, node_id(-1));
            }
        } else if (const auto* vs = std::get_if<vote_response>(&m.body); vs && vs->pre_vote && vs->granted) {
            // a pre-vote granted for the term we would take: no term change
        } else if (std::holds_alternative<append_request>(m.body) || std::holds_alternative<snapshot_request>(m.body) ||
                   std::holds_alternative<timeout_now>(m.body)) {
            become_follower(mt, m.from);
        } else {
            become_follower(mt, node_id(-1));
        }
    } else if (mt < _hard.term) {
        // A stale leader learns the term from the answer and steps down; a stale pre-candidate
        // learns it from the refusal.
        if (std::holds_alternative<append_request>(m.body)) {
            send(m.from, append_response{_hard.term, false, offset(0), term_id(0), 0});
        } else if (std::holds_alternative<snapshot_request>(m.body)) {
            send(m.from, snapshot_response{_hard.term, offset(0), 0, false});
        } else if (const auto* vr = std::get_if<vote_request>(&m.body); vr && vr->pre_vote) {
            send(m.from, vote_response{_hard.term, false, true});
        }
        return;
    }
    std::visit(overloaded{
                   [&](const vote_request& r) { on_vote_request(m.from, r); },
                   [&](const vote_response& r) { on_vote_response(m.from, r); },
                   [&](const append_request& r) { on_append_request(m.from, r); },
                   [&](const append_response& r) { on_append_response(m.from, r); },
                   [&](const snapshot_request& r) { on_snapshot_request(m.from, r); },
                   [&](const snapshot_response& r) { on_snapshot_response(m.from, r); },
                   [&](const timeout_now&) {
                       if (_role == role::leader) {
                           return;
                       }
                       _leader = m.from;
                       _since_leader = 0;
                       campaign(false, true);
                   },
               },
               m.body);
}

void node::on_vote_request(node_id from, const vote_request& r) {
    if (seat_lost()) {
        send(from, vote_response{_hard.term, false, r.pre_vote});
        return;
    }
    bool up_to_date = r.last_term > last_term() || (r.last_term == last_term() && r.last_end >= end());
    if (r.pre_vote) {
        bool grant = r.term > _hard.term && up_to_date;
        send(from, vote_response{grant ? r.term : _hard.term, grant, true});
        return;
    }
    // r.term == current term here
    bool can = _hard.voted_for == from || (_hard.voted_for.value() < 0 && _leader.value() < 0);
    bool grant = can && up_to_date && _role != role::leader;
    if (grant) {
        _hard.voted_for = from;
        _election_elapsed = 0;
    }
    send(from, vote_response{_hard.term, grant, false});
}

void node::on_vote_response(node_id from, const vote_response& r) {
    bool pre = _role == role::pre_candidate;
    if (!(pre || _role == role::candidate) || r.pre_vote != pre) {
        return;
    }
    if (pre && r.granted && r.term != _hard.term + 1) {
        return;  // an answer to an earlier pre-vote
    }
    if (!has_voter(voters(), from)) {
        return;
    }
    _votes[from] = r.granted;
    int outcome = tally();
    if (outcome > 0) {
        if (pre) {
            campaign(false, false);
        } else {
            become_leader();
        }
    } else if (outcome < 0) {
        become_follower(_hard.term, node_id(-1));
    }
}

// A request from the leader of our term: follow it (and hear it: no election for a while).
bool node::follow(node_id from) {
    if (_role == role::leader) {
        ++_dropped;  // two leaders in one term cannot happen; a forged message
        return false;
    }
    if (_role != role::follower || _leader != from) {
        become_follower(_hard.term, from);
    }
    _election_elapsed = 0;
    _since_leader = 0;
    return true;
}

// The progress of `from` when we lead and track it, marked as heard from (check-quorum).
node::progress* node::heard_from(node_id from) {
    if (_role != role::leader) {
        return nullptr;
    }
    auto it = _progress.find(from);
    if (it == _progress.end()) {
        return nullptr;
    }
    it->second.recent_active = true;
    return &it->second;
}

void node::on_append_request(node_id from, const append_request& r) {
    if (!follow(from)) {
        return;
    }
    if (!well_formed(r)) {
        ++_dropped;
        return;
    }
    append_response resp{_hard.term, false, offset(0), term_id(0), r.lease_tick};
    offset last_new = r.entries.empty() ? r.prev_end : r.entries.back().end();
    offset prev = r.prev_end;
    term_id prev_term = r.prev_term;
    size_t i = 0;
    // Entries below the commit end are known to match (every leader holds them).
    if (prev < _commit) {
        while (i < r.entries.size() && r.entries[i].end() <= _commit) {
            prev = r.entries[i].end();
            prev_term = r.entries[i].term;
            ++i;
        }
        if (i == r.entries.size()) {
            resp.success = true;
            resp.end = last_new;
            send(from, resp);
            return;
        }
        if (r.entries[i].at < _commit) {
            ++_dropped;  // an entry straddling our commit end: not from a real leader
            return;
        }
    }
    auto t = prev <= end() ? term_of(prev - 1) : std::nullopt;
    if (!t || *t != prev_term) {
        offset hint = prev > end() ? end() : boundary_with_term_le(prev, prev_term);
        hint = std::max(hint, _commit);
        resp.end = hint;
        resp.hint_term = term_of(hint - 1).value_or(term_id(0));
        send(from, resp);
        return;
    }
    for (; i < r.entries.size(); ++i) {
        const entry& e = r.entries[i];
        if (e.at < end()) {
            auto et = term_of(e.at);
            if (et && *et == e.term) {
                continue;  // already here
            }
            truncate_local(e.at);  // a divergent tail
        }
        append_local(std::vector<entry>(r.entries.begin() + long(i), r.entries.end()));
        break;
    }
    if (r.commit > _commit) {
        _commit = std::max(_commit, std::min(r.commit, last_new));
    }
    resp.success = true;
    resp.end = last_new;
    send(from, resp);
}

void node::on_append_response(node_id from, const append_response& r) {
    progress* p = heard_from(from);
    if (!p) {
        return;
    }
    progress& pr = *p;
    if (r.lease_tick > pr.acked_lease_tick && r.lease_tick <= _now) {
        pr.acked_lease_tick = r.lease_tick;
    }
    if (r.success) {
        if (r.end > end()) {
            ++_dropped;
            return;
        }
        if (r.end > pr.match) {
            pr.match = r.end;
            pr.match_tick = r.lease_tick;
            pr.stall_ticks = 0;
        }
        while (!pr.inflight.empty() && pr.inflight.front() <= r.end) {
            pr.inflight.pop_front();
        }
        if (pr.state == progress::mode::probe) {
            pr.state = progress::mode::replicate;
            pr.next = pr.match;
            pr.inflight.clear();
            pr.paused = false;
        } else if (pr.state == progress::mode::replicate) {
            pr.next = std::max(pr.next, pr.match);
        }
        maybe_commit();
        if (_role != role::leader) {
            return;
        }
        if (_transfer_to == from && pr.match == end()) {
            send(from, timeout_now{_hard.term});
            _lease_given_up = true;
        }
        send_append(from, pr, false);
        return;
    }
    if (r.end < pr.match && r.lease_tick > pr.match_tick && pr.state != progress::mode::snapshot) {
        // Refused, with a shorter log, a request built after the one that acknowledged
        // `match`: the follower lost its log (its disk was wiped; it came back under its old
        // id). What it held no longer counts, and it is caught up again from where it stands.
        // (A late answer overtaken by the acknowledgement only costs a resend.)
        pr.match = offset(0);
    }
    if (r.end < pr.match || pr.state == progress::mode::snapshot) {
        return;  // stale
    }
    offset o = boundary_with_term_le(std::min(r.end, end()), r.hint_term);
    offset next = o;
    if (o >= first() && o < end()) {
        auto es = read(o, 0);
        if (!es) {
            return;
        }
        next = es->front().at;
    }
    next = std::max(next, pr.match);
    to_probe(pr, next);
    send_append(from, pr, false);
}

void node::on_snapshot_request(node_id from, const snapshot_request& r) {
    if (!follow(from)) {
        return;
    }
    snapshot_response resp{_hard.term, r.meta.end, 0, false};
    if (r.meta.end <= _commit || (r.meta.end <= end() && term_of(r.meta.end - 1) == r.meta.term)) {
        // We hold every entry it stands for already (a follower whose acknowledgements crossed
        // the leader's compaction): keep the log, and what follows it, rather than install.
        _commit = std::max(_commit, r.meta.end);
        resp.done = true;
        send(from, resp);
        return;
    }
    if (r.meta.term > r.term || r.meta.term.value() < 0 || !valid_voter_set(r.meta.voters)) {
        ++_dropped;
        return;
    }
    if (!_receiving || *_receiving != r.meta) {
        if (r.chunk_at != 0) {
            send(from, resp);  // next_chunk 0: start over
            return;
        }
        _receiving = r.meta;
        _received.clear();
    }
    if (r.chunk_at != _received.size()) {
        resp.next_chunk = _received.size();
        send(from, resp);
        return;
    }
    _received.insert(_received.end(), r.data.begin(), r.data.end());
    resp.next_chunk = _received.size();
    if (r.last) {
        // Install: the log restarts empty at meta.end; the state machine restores from the
        // snapshot (the driver does both from the ready, before this answer goes out).
        _installed = r.meta;
        _pending_snapshot = snapshot_install{r.meta, std::move(_received)};
        _received = {};
        _receiving.reset();
        _unstable.clear();
        _handed = 0;
        _pending_truncate.reset();
        _unstable_from = r.meta.end;
        _base_voters = r.meta.voters;
        _changes.clear();
        _commit = r.meta.end;
        _applied = r.meta.end;
        resp.done = true;
    }
    send(from, resp);
}

void node::on_snapshot_response(node_id from, const snapshot_response& r) {
    progress* p = heard_from(from);
    if (!p) {
        return;
    }
    progress& pr = *p;
    if (pr.state != progress::mode::snapshot || r.end != pr.snap_end) {
        return;
    }
    pr.stall_ticks = 0;
    if (r.done) {
        pr.match = std::max(pr.match, std::min(r.end, end()));
        to_probe(pr, pr.match);
        maybe_commit();
        if (_role == role::leader) {
            send_append(from, pr, false);
        }
        return;
    }
    pr.snap_pos = r.next_chunk <= _store.snapshot_size() ? r.next_chunk : 0;
    send_snapshot_chunk(from, pr);
}

// ---- leader ----------------------------------------------------------------------------------

void node::sync_progress() {
    if (_role != role::leader) {
        return;
    }
    std::map<node_id, bool> want;  // id -> learner
    for (const auto& v : voters()) {
        want[v.id] = false;
    }
    for (auto id : _learners) {
        want.emplace(id, true);
    }
    want.erase(_cfg.id);
    for (auto it = _progress.begin(); it != _progress.end();) {
        it = want.count(it->first) ? std::next(it) : _progress.erase(it);
    }
    for (const auto& [id, learner] : want) {
        auto [it, added] = _progress.try_emplace(id);
        if (added) {
            it->second.next = end();
            _need_broadcast = true;
        }
        it->second.learner = learner;
    }
    if (transfer_in_flight() && !has_voter(voters(), _transfer_to)) {
        _transfer_to = node_id(-1);
    }
}

void node::to_probe(progress& pr, offset next) {
    pr.state = progress::mode::probe;
    pr.next = next;
    pr.paused = false;
    pr.inflight.clear();
    pr.stall_ticks = 0;
}

void node::send_snapshot_chunk(node_id to, progress& pr) {
    snapshot_meta meta = _store.snapshot();
    if (meta.end != pr.snap_end) {
        pr.snap_end = meta.end;  // compacted again meanwhile: send the newer one
        pr.snap_pos = 0;
    }
    auto chunk = _store.snapshot_chunk(pr.snap_pos, _cfg.snapshot_chunk_bytes);
    if (!chunk) {
        return;  // retried on a later heartbeat
    }
    bool last = pr.snap_pos + chunk->size() >= _store.snapshot_size();
    send(to, snapshot_request{_hard.term, std::move(meta), pr.snap_pos, std::move(*chunk), last});
}

bool node::send_append(node_id to, progress& pr, bool) {
    if (pr.state == progress::mode::snapshot) {
        return false;
    }
    if (pr.next < first()) {
        if (_installed) {
            return false;  // our own snapshot is not in the store yet
        }
        pr.state = progress::mode::snapshot;
        pr.inflight.clear();
        pr.snap_end = _store.snapshot().end;
        pr.snap_pos = 0;
        pr.stall_ticks = 0;
        send_snapshot_chunk(to, pr);
        return true;
    }
    if ((pr.state == progress::mode::probe && pr.paused) ||
        (pr.state == progress::mode::replicate && int(pr.inflight.size()) >= _cfg.max_inflight)) {
        return false;
    }
    bool sent = false;
    for (;;) {
        auto prev_term = term_of(pr.next - 1);
        if (!prev_term) {
            return sent;
        }
        std::vector<entry> es;
        if (pr.next < end()) {
            auto r = read(pr.next, _cfg.max_append_bytes);
            if (!r) {
                return sent;
            }
            es = std::move(*r);
        }
        if (es.empty() && pr.state == progress::mode::replicate) {
            return sent;
        }
        offset last = es.empty() ? pr.next : es.back().end();
        send(to, append_request{_hard.term, pr.next, *prev_term, std::move(es), _commit, _now});
        sent = true;
        if (pr.state == progress::mode::probe) {
            pr.paused = true;
            return sent;
        }
        pr.next = last;
        pr.inflight.push_back(last);
        if (int(pr.inflight.size()) >= _cfg.max_inflight || pr.next >= end()) {
            return sent;
        }
    }
}

void node::send_empty_append(node_id to, progress& pr) {
    auto prev_term = term_of(pr.match - 1);
    if (!prev_term) {
        to_probe(pr, pr.match);
        send_append(to, pr, false);
        return;
    }
    send(to, append_request{_hard.term, pr.match, *prev_term, {}, _commit, _now});
}

void node::broadcast(bool heartbeat) {
    int stall_limit = std::max(2, _cfg.election_ticks / 2);
    for (auto& [id, pr] : _progress) {
        switch (pr.state) {
        case progress::mode::probe:
            if (heartbeat) {
                pr.paused = false;  // the probe or its answer may be lost: send it again
            }
            send_append(id, pr, false);
            break;
        case progress::mode::replicate:
            if (heartbeat && !pr.inflight.empty() && pr.stall_ticks >= stall_limit) {
                to_probe(pr, pr.match);  // appends lost: fall back to probing
                send_append(id, pr, false);
                break;
            }
            if (!send_append(id, pr, false) && (heartbeat || pr.inflight.empty())) {
                send_empty_append(id, pr);  // heartbeat, carries the commit end
            }
            break;
        case progress::mode::snapshot:
            if (heartbeat && pr.stall_ticks >= stall_limit) {
                pr.stall_ticks = 0;
                send_snapshot_chunk(id, pr);
            }
            break;
        }
    }
}

void node::maybe_commit() {
    if (_role != role::leader) {
        return;
    }
    std::vector<offset> matches;
    for (const auto& v : voters()) {
        if (v.id == _cfg.id) {
            matches.push_back(_unstable_from);  // our own durable end
        } else {
            auto it = _progress.find(v.id);
            matches.push_back(it == _progress.end() ? offset(0) : it->second.match);
        }
    }
    if (matches.empty()) {
        return;
    }
    std::sort(matches.begin(), matches.end(), std::greater<>());
    offset q = matches[size_t(quorum() - 1)];
    // Only an entry of the current term commits by counting (Raft figure 8); earlier ones
    // commit with it.
    if (q > _commit && term_of(q - 1) == _hard.term) {
        _commit = q;
        after_commit();
    }
}

void node::after_commit() {
    _need_broadcast = true;
    if (!is_voter() && !voter_change_pending()) {
        // A leader removed from the voters leads until its removal commits, then steps down.
        become_follower(_hard.term, node_id(-1));
    }
}

bool node::own_term_committed() const { return _role == role::leader && _commit > _term_start; }

bool node::voter_change_pending() const { return !_changes.empty() && _changes.back().at >= _commit; }

result<offset> node::append_as_leader(entry_kind kind, bytes payload, int32_t count) {
    entry e{end(), count, _hard.term, kind, std::move(payload)};
    offset at = e.at;
    std::vector<entry> es;
    es.push_back(std::move(e));
    append_local(std::move(es));
    _need_broadcast = true;
    return at;
}

result<offset> node::propose(entry_kind kind, bytes payload, int32_t count) {
    if (_role != role::leader) {
        return errc::not_leader;
    }
    if (transfer_in_flight()) {
        return errc::transfer_pending;
    }
    if (kind != entry_kind::data || count < 1) {
        return errc::invalid_argument;
    }
    return append_as_leader(kind, std::move(payload), count);
}

result<offset> node::propose_voters(voter_set vs) {
    if (_role != role::leader) {
        return errc::not_leader;
    }
    if (transfer_in_flight()) {
        return errc::transfer_pending;
    }
    if (!valid_voter_set(vs) || vs.empty()) {
        return errc::invalid_argument;
    }
    if (voter_change_pending() || !own_term_committed()) {
        return errc::change_pending;
    }
    const voter_set& cur = voters();
    int differ = 0;
    for (const auto& v : vs) {
        auto it = std::find_if(cur.begin(), cur.end(), [&](const voter& c) { return c.id == v.id; });
        if (it == cur.end()) {
            ++differ;
        } else if (!(*it == v)) {
            return errc::invalid_change;
        }
    }
    for (const auto& c : cur) {
        if (!has_voter(vs, c.id)) {
            ++differ;
        }
    }
    if (differ != 1) {
        return errc::invalid_change;
    }
    for (const auto& v : vs) {
        std::erase(_learners, v.id);
    }
    return append_as_leader(entry_kind::voters, encode_voters(vs), 1);
}

result<void> node::add_learner(node_id id) {
    if (_role != role::leader) {
        return errc::not_leader;
    }
    if (id.value() < 0 || id == _cfg.id || has_voter(voters(), id)) {
        return errc::invalid_argument;
    }
    if (std::find(_learners.begin(), _learners.end(), id) == _learners.end()) {
        _learners.push_back(id);
        sync_progress();
    }
    return success();
}

void node::remove_learner(node_id id) {
    std::erase(_learners, id);
    sync_progress();
}

result<void> node::transfer_leadership(node_id id) {
    if (_role != role::leader) {
        return errc::not_leader;
    }
    if (id == _cfg.id || !has_voter(voters(), id)) {
        return errc::invalid_argument;
    }
    if (transfer_in_flight()) {
        return _transfer_to == id ? success() : result<void>(errc::transfer_pending);
    }
    _transfer_to = id;
    _transfer_elapsed = 0;
    progress& pr = _progress[id];
    if (pr.match == end()) {
        send(id, timeout_now{_hard.term});
        _lease_given_up = true;
    } else {
        send_append(id, pr, false);
    }
    return success();
}

bool node::lease_valid() const {
    if (_role != role::leader || _lease_given_up || transfer_in_flight() || !own_term_committed()) {
        return false;
    }
    std::vector<int64_t> acked;
    for (const auto& v : voters()) {
        if (v.id == _cfg.id) {
            acked.push_back(_now);
        } else {
            auto it = _progress.find(v.id);
            acked.push_back(it == _progress.end() ? 0 : it->second.acked_lease_tick);
        }
    }
    if (acked.empty()) {
        return false;
    }
    std::sort(acked.begin(), acked.end(), std::greater<>());
    int64_t t = acked[size_t(quorum() - 1)];
    return t > 0 && _now - t < _cfg.lease_ticks;
}

std::vector<peer_status> node::peers() const {
    std::vector<peer_status> out;
    for (const auto& [id, pr] : _progress) {
        out.push_back(peer_status{id, !pr.learner, pr.match});
    }
    return out;
}

// ---- ready -----------------------------------------------------------------------------------

bool node::has_ready() const {
    if (_ready_out) {
        return false;
    }
    return _hard != _persisted_hard || _pending_snapshot || _pending_truncate || _handed < _unstable.size() ||
           !_msgs.empty() || _applied < _commit || soft_state{_role, _leader, _hard.term} != _last_soft ||
           (_role == role::leader && _need_broadcast);
}

ready node::take_ready() {
    if (_role == role::leader && _need_broadcast) {
        _need_broadcast = false;
        broadcast(false);
    }
    ready r;
    if (_hard != _persisted_hard) {
        r.hard = _hard;
        _persisted_hard = _hard;
    }
    if (_pending_snapshot) {
        r.snapshot = std::move(*_pending_snapshot);
        _pending_snapshot.reset();
        _snapshot_handed = true;
    }
    r.truncate_from = _pending_truncate;
    _pending_truncate.reset();
    r.entries.assign(_unstable.begin() + long(_handed), _unstable.end());
    _handed = _unstable.size();
    r.messages = std::move(_msgs);
    _msgs.clear();
    if (_applied < _commit) {
        auto es = read(_applied, _cfg.max_apply_bytes);
        if (!es) {
            throw std::runtime_error("raft node: cannot read committed entries: " + es.error().message());
        }
        for (auto& e : *es) {
            if (e.end() > _commit) {
                break;
            }
            _applied = e.end();
            r.committed.push_back(std::move(e));
        }
    }
    r.commit = _commit;
    r.soft = soft_state{_role, _leader, _hard.term};
    r.soft_changed = r.soft != _last_soft;
    _last_soft = r.soft;
    _ready_out = true;
    return r;
}

void node::advance() {
    if (!_ready_out) {
        throw std::logic_error("raft node: advance() without take_ready()");
    }
    _ready_out = false;
    if (_handed > 0) {
        _unstable_from = _unstable[_handed - 1].end();
        _unstable.erase(_unstable.begin(), _unstable.begin() + long(_handed));
        _handed = 0;
    }
    if (_snapshot_handed) {
        _snapshot_handed = false;
        if (!_pending_snapshot) {
            _installed.reset();
        }
    }
    maybe_commit();  // our own append is durable now
}

result<snapshot_meta> node::snapshot_meta_at(offset e) const {
    if (e < first() || e > _applied) {
        return errc::invalid_argument;
    }
    auto t = term_of(e - 1);
    if (!t) {
        return errc::invalid_argument;
    }
    if (e > first()) {
        auto es = read(e - 1, 0);
        if (!es || es->front().end() != e) {
            return errc::invalid_argument;  // not an entry end
        }
    }
    snapshot_meta meta{e, *t, _base_voters};
    for (const auto& c : _changes) {
        if (c.at < e) {
            meta.voters = c.voters;
        }
    }
    return meta;
}

} // namespace trib::coordinator::raft
