#include "coordinator/raft_log.h"

#include "common/log.h"
#include "coordinator/client/errc.h"
#include "coordinator/single_voter_log.h"
#include "storage/clock.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <random>
#include <stdexcept>
#include <variant>

namespace trib::coordinator {

namespace fs = std::filesystem;

namespace {

// Batch timestamps and when voters were last heard (DescribeQuorum), as the store stamps
// its own batches.
int64_t wall_ms() { return storage::system_clock().now_ms().value(); }

// The log's files are in a state we can no longer vouch for (fsyncgate), or a committed entry
// cannot be applied: going on would acknowledge or decide on what may not be there.
[[noreturn]] void fatal(const std::string& what) {
    TLOG_ERROR("raft metadata log: {}: stopping", what);
    std::abort();
}

} // namespace

raft_log::raft_log(raft_log_options options, state_machine& sm) : _opts(std::move(options)), _sm(sm) {}

raft_log::~raft_log() { close(); }

log_factory raft_log::factory(fs::path dir, std::function<raft_log_options(asio::io_context&)> make_options) {
    return [dir = std::move(dir), make_options = std::move(make_options)](state_machine& sm, asio::io_context& ctx) {
        raft_log_options o = make_options(ctx);
        if (!o.ctx) {
            o.ctx = &ctx;
        }
        return std::unique_ptr<replicated_log>(open(dir, std::move(o), sm));
    };
}

std::unique_ptr<raft_log> raft_log::open(const fs::path& dir, raft_log_options options, state_machine& sm) {
    if (!options.ctx) {
        throw std::invalid_argument("raft metadata log: no io_context");
    }
    if (!options.transport) {
        throw std::invalid_argument("raft metadata log: no transport");
    }
    if (options.self.id.value() < 0) {
        throw std::invalid_argument("raft metadata log: no node id");
    }
    if (options.tick.count() <= 0 || options.election_timeout < 2 * options.tick) {
        throw std::invalid_argument("raft metadata log: the election timeout must be at least two ticks");
    }
    std::unique_ptr<raft_log> self(new raft_log(std::move(options), sm));
    auto& o = self->_opts;

    self->_syncer = std::make_unique<storage::syncer>(o.fsync);
    self->_syncer->start();
    self->_store = raft::log_store::open(dir, {o.log, self->_syncer.get(), o.voters});
    self->_vote = raft::quorum_state::open(dir);

    // The state machine starts from the snapshot (or empty); the node hands the committed
    // entries after it out again once it knows the commit end.
    if (self->_store->has_snapshot()) {
        const auto meta = self->_store->snapshot();
        metadata_image image;
        if (auto a = image.apply_batches(self->_store->snapshot_data()); !a) {
            throw std::runtime_error("raft metadata log in " + dir.string() + ": snapshot at " +
                                     std::to_string(meta.end.value()) + " does not apply: " + a.error().message());
        }
        image.set_next_offset(meta.end);
        sm.restore(image);
    }
    self->_applied = self->_store->first();
    self->_applied_term = self->_store->snapshot().term;

    raft::node_config cfg;
    cfg.id = o.self.id;
    cfg.directory_id = o.self.directory_id;
    cfg.initial_voters = o.voters;
    cfg.election_ticks = int(o.election_timeout / o.tick);
    cfg.seed = o.seed ? o.seed : std::random_device{}();
    self->_node = std::make_unique<raft::node>(cfg, *self->_store, self->_vote->current());
    self->start();
    TLOG_INFO("raft metadata log {}: node {}, term {}, entries [{}, {}), {} voters", dir.string(), o.self.id.value(),
              self->_node->term().value(), self->_store->first().value(), self->_store->end().value(),
              self->_node->voters().size());
    return self;
}

void raft_log::start() {
    _opts.transport->on_reports([this, alive = _alive](raft::observer_report r) {
        if (*alive) {
            received_report(std::move(r));
        }
    });
    _opts.transport->start([this, alive = _alive](raft::message m) {
        if (!*alive) {
            return;
        }
        if (raft::has_voter(_node->voters(), m.from)) {
            _last_heard_ms[m.from] = wall_ms();
        }
        _node->step(m);
        pump();
    });
    for (const auto& v : _opts.voters) {
        _known[v.id] = v;
    }
    refresh_peers();
    _published = leader();
    _timer = std::make_unique<asio::steady_timer>(*_opts.ctx);
    _next_tick = std::chrono::steady_clock::now();
    schedule_tick();
    // A quorum of one elects itself: no reason to wait an election timeout for it.
    const auto& voters = _node->voters();
    if (voters.size() == 1 && voters.front().id == _opts.self.id) {
        _node->campaign_now();
        pump();
    }
}

void raft_log::schedule_tick() {
    // After a stall (a busy thread, a paused process) the node ticks once, not once per tick
    // missed: a burst would time out elections and leader leases at once, and a node ticking
    // faster than its peers breaks the read lease's clock assumption (raft/node.h).
    _next_tick = std::max(_next_tick + _opts.tick, std::chrono::steady_clock::now());
    _timer->expires_at(_next_tick);
    _timer->async_wait([this, alive = _alive](boost::system::error_code ec) {
        if (ec || !*alive) {
            return;
        }
        _node->tick();
        pump();
        if (!_closed) {
            tick_observers();
            schedule_tick();
        }
    });
}

void raft_log::pump() {
    if (_pumping) {
        _pump_again = true;  // the outer call goes round once more
        return;
    }
    _pumping = true;
    do {
        _pump_again = false;
        if (_closed) {
            break;
        }
        if (_out && _out_durable) {
            finish_ready();
        }
        if (!_out && _node->has_ready()) {
            start_ready();
        }
        check_voter_change();
        count_soft_state();
        publish();
    } while (_pump_again && !_closed);
    _pumping = false;
}

void raft_log::start_ready() {
    _out = _node->take_ready();
    _out_durable = false;
    auto& r = *_out;
    if (r.hard) {
        if (auto s = _vote->save(*r.hard); !s) {
            fatal("saving the term and vote: " + s.error().message());
        }
    }
    if (r.snapshot) {
        // The data moves into the store, and the state machine is restored from there at
        // once, before the entries after it are durable: the snapshot is committed and
        // durable now, and the log must not serve a snapshot beyond committed() meanwhile.
        const auto meta = r.snapshot->meta;
        if (auto s = _store->install_snapshot(meta, std::move(r.snapshot->data)); !s) {
            fatal("installing the leader's snapshot at " + std::to_string(meta.end.value()) + ": " +
                  s.error().message());
        }
        ++_snapshots_installed;
        restore(meta);
    }
    if (r.truncate_from) {
        if (auto s = _store->truncate(*r.truncate_from); !s) {
            fatal("truncating at " + std::to_string(r.truncate_from->value()) + ": " + s.error().message());
        }
    }
    if (r.entries.empty()) {
        _out_durable = true;
        _pump_again = true;
        return;
    }
    if (auto s = _store->append(r.entries); !s) {
        fatal("appending at " + std::to_string(r.entries.front().at.value()) + ": " + s.error().message());
    }
    // A leader's append and snapshot requests go now, while its own entries are fsynced: the
    // followers write in parallel with it, and the commit waits for the slower of the two
    // instead of both in turn (Raft thesis 10.2.1). Safe because the leader counts itself
    // only for what is durable (node::advance()), and its term and vote were written above.
    // Everything else (votes, acknowledgements of appends) waits for the fsync it vouches for.
    auto later = std::stable_partition(r.messages.begin(), r.messages.end(), [](const raft::message& m) {
        return std::holds_alternative<raft::append_request>(m.body) ||
               std::holds_alternative<raft::snapshot_request>(m.body);
    });
    if (later != r.messages.begin()) {
        std::vector<raft::message> now(std::make_move_iterator(r.messages.begin()), std::make_move_iterator(later));
        r.messages.erase(r.messages.begin(), later);
        _opts.transport->send(std::move(now));
    }
    // The callback runs on the syncer's thread; the rest of the ready on the owner's.
    _store->sync([this, alive = _alive, ctx = _opts.ctx](std::error_code ec) {
        asio::post(*ctx, [this, alive, ec] {
            if (!*alive) {
                return;
            }
            if (ec) {
                fatal("fsync: " + ec.message());
            }
            _out_durable = true;
            pump();
        });
    });
}

void raft_log::restore(const raft::snapshot_meta& meta) {
    metadata_image image;
    if (auto a = image.apply_batches(_store->snapshot_data()); !a) {
        fatal("the leader's snapshot at " + std::to_string(meta.end.value()) + " does not apply: " +
              a.error().message());
    }
    image.set_next_offset(meta.end);
    _sm.restore(image);
    TLOG_INFO("raft metadata log: restored the leader's snapshot at {} (term {})", meta.end.value(),
              meta.term.value());
    _applied = meta.end;
    _applied_term = meta.term;
    // A node that installs a snapshot does not lead: whatever it had in flight is gone.
    fail_pending();
}

void raft_log::finish_ready() {
    raft::ready r = std::move(*_out);
    _out.reset();
    // A pre-vote round asks every other voter at once, so its requests leave in one ready
    // (two rounds share one only behind an fsync longer than an election timeout).
    if (std::any_of(r.messages.begin(), r.messages.end(), [](const raft::message& m) {
            const auto* v = std::get_if<raft::vote_request>(&m.body);
            return v && v->pre_vote;
        })) {
        ++_pre_votes;
    }
    if (!r.messages.empty()) {
        _opts.transport->send(std::move(r.messages));
    }
    for (const auto& e : r.committed) {
        if (_closed) {
            return;
        }
        apply(e);
    }
    if (_closed) {
        return;
    }
    _node->advance();
    _pump_again = true;
}

void raft_log::apply(const raft::entry& e) {
    if (e.kind == raft::entry_kind::data && !e.payload.empty()) {
        // The payload's own base offset is not the entry's (raft/codec.h): count from e.at.
        offset at = e.at;
        auto applied = for_each_record(e.payload, [&](offset, const metadata_record& rec) {
            _sm.apply(at, rec);
            at = at + 1;
        });
        if (!applied || at != e.end()) {
            fatal("the committed entry at " + std::to_string(e.at.value()) + " does not apply" +
                  (applied ? std::string(": record count") : ": " + applied.error().message()));
        }
    }
    _applied = e.end();
    _applied_term = e.term;
    // The appends this entry ends: ours when it is of the term they were proposed in (a
    // leader never truncates its own term), else another leader's entry took the place.
    while (!_pending.empty() && _pending.front().last < _applied) {
        auto& p = _pending.front();
        if (!p.empty && p.term != e.term && p.last >= e.at) {
            fail_pending();
            return;
        }
        auto a = std::move(_pending.front());
        _pending.pop_front();
        a.done(a.last);
    }
}

void raft_log::fail_pending() {
    while (!_pending.empty()) {
        auto a = std::move(_pending.front());
        _pending.pop_front();
        a.done(errc::not_leader);
    }
}

void raft_log::refresh_peers() {
    // Every node this one has known an address for, not only today's voters: a follower that
    // has appended its leader's removal still answers that leader until the removal commits
    // (the leader needs those answers to commit it), and a learner is not a voter yet.
    for (const auto& v : _node->voters()) {
        _known[v.id] = v;
    }
    for (const auto& l : _learners) {
        _known[l.id] = l;
    }
    raft::voter_set peers;
    for (const auto& [id, v] : _known) {
        peers.push_back(v);  // sorted by id: a map
    }
    if (peers != _peers) {
        _peers = std::move(peers);
        _opts.transport->set_peers(_peers);
    }
}

void raft_log::publish() {
    refresh_peers();
    const leadership now = leader();
    if (now == _published) {
        return;
    }
    const bool lost = !now.is_leader || now.term != _published.term;
    _published = now;
    TLOG_INFO("raft metadata log: node {} term {}: {}, leader {}", _opts.self.id.value(), now.term.value(),
              now.is_leader ? "active controller" : raft::role_name(_node->state()),
              now.leader ? now.leader->id.value() : -1);
    // The listener first, so that a controller failing its appends already knows it may not
    // decide; appends it makes meanwhile queue behind the failures (append()).
    if (_on_leadership) {
        _on_leadership(now);
    }
    if (lost) {
        fail_pending();
    }
}

void raft_log::count_soft_state() {
    const raft::soft_state now{_node->state(), _node->leader(), _node->term()};
    if (now == _seen) {
        return;
    }
    // A node enters a term as candidate only by campaigning for it (a sole voter wins in the
    // same tick: leader at once), and an event (a tick, a message) starts one campaign at most;
    // every event ends in a pump round, so no campaign goes by unseen.
    if (now.term > _seen.term && (now.state == raft::role::candidate || now.state == raft::role::leader)) {
        ++_elections;
    }
    // The same node leading again in a later term counts too: the leadership was lost and
    // won again in between.
    if (now.leader.value() >= 0 && (now.leader != _last_leader || now.term != _last_leader_term)) {
        ++_leader_changes;
        _last_leader = now.leader;
        _last_leader_term = now.term;
    }
    _seen = now;
}

log_stats raft_log::stats() const {
    log_stats s;
    switch (_node->state()) {
    case raft::role::follower: s.role = log_role::follower; break;
    case raft::role::pre_candidate: s.role = log_role::pre_candidate; break;
    case raft::role::candidate: s.role = log_role::candidate; break;
    case raft::role::leader: s.role = log_role::leader; break;
    }
    // A voter whose seat names another directory (its disk was wiped) votes no more than an
    // observer does: reported as one, so that an operator sees it must be added back.
    s.is_voter = _node->is_voter() && !_node->seat_lost();
    if (!s.is_voter) {
        s.role = log_role::observer;
    }
    s.term = _node->term();
    s.leader = _node->leader();
    s.commit_end = _node->commit();
    s.applied_end = _applied;
    s.log_start = _store->first();
    s.log_end = _node->log_end();
    s.voters = _node->voters().size();
    s.elections = _elections;
    s.pre_votes = _pre_votes;
    s.leader_changes = _leader_changes;
    s.snapshots_taken = _snapshots_taken;
    s.snapshots_installed = _snapshots_installed;
    s.dropped_messages = _node->dropped_messages();
    s.fsync_rounds = _syncer ? _syncer->round_count() : 0;
    if (_opts.transport) {
        s.transport = _opts.transport->traffic();
    }
    return s;
}

leadership raft_log::leader() const {
    leadership l;
    l.term = _node->term();
    const bool leads = !_closed && _node->state() == raft::role::leader;
    l.is_leader = leads && _applied_term == _node->term();
    const node_id id = _node->leader();
    // A leader that has not applied an entry of its term yet names nobody: a request sent to
    // it would only come back NOT_CONTROLLER naming it again.
    if (id.value() < 0 || (leads && !l.is_leader)) {
        return l;
    }
    const auto& vs = _node->voters();
    auto it = std::find_if(vs.begin(), vs.end(), [&](const raft::voter& v) { return v.id == id; });
    if (it != vs.end()) {
        l.leader = *it;
    } else if (id == _opts.self.id) {
        l.leader = _opts.self;
    } else {
        l.leader = raft::voter{id, {}, 0};
    }
    return l;
}

std::optional<node_id> raft_log::hand_over_leadership() {
    if (_closed || _node->state() != raft::role::leader) {
        return std::nullopt;
    }
    std::optional<raft::peer_status> best;
    for (const auto& p : _node->peers()) {
        if (p.voter && (!best || p.match > best->match)) {
            best = p;
        }
    }
    if (!best || !_node->transfer_leadership(best->id)) {
        return std::nullopt;
    }
    pump();  // sends the append or TimeoutNow the transfer starts with
    return best->id;
}

std::vector<voter_view> raft_log::voters() const {
    std::vector<voter_view> out;
    const bool leads = _node->state() == raft::role::leader;
    const auto peers = leads ? _node->peers() : std::vector<raft::peer_status>{};
    for (const auto& v : _node->voters()) {
        voter_view vv{v, -1, -1};
        if (v.id == _opts.self.id) {
            vv.log_end_offset = _node->log_end().value();
        } else if (leads) {
            for (const auto& p : peers) {
                if (p.id == v.id) {
                    vv.log_end_offset = p.match.value();
                }
            }
            if (auto it = _last_heard_ms.find(v.id); it != _last_heard_ms.end()) {
                vv.last_fetch_ms = it->second;
            }
        }
        out.push_back(std::move(vv));
    }
    return out;
}

std::vector<observer_view> raft_log::observers() const {
    auto out = _observers.list(_node->voters(), wall_ms());
    if (_node->state() == raft::role::leader) {
        // A learner being caught up: the leader knows its log end better than its last report.
        const auto peers = _node->peers();
        for (auto& o : out) {
            for (const auto& p : peers) {
                if (p.id == o.endpoint.id && !p.voter) {
                    o.log_end_offset = std::max(o.log_end_offset, p.match.value());
                }
            }
        }
    }
    return out;
}

void raft_log::tick_observers() {
    const int64_t now = wall_ms();
    if (!_observers.empty()) {
        _observers.prune(_node->voters(), now);
    }
    // A voter that knows no leader reports too: it may have been removed without hearing of
    // it (the leader stops replicating to a removed node once the change is appended, so its
    // latest set still holds it; it only campaigns, refused). The leader lists only reports of
    // coordinators not seated in its voter set, so a voter in an election is no observer.
    if (_node->is_voter() && !_node->seat_lost() && _node->leader().value() >= 0) {
        _ticks_to_report = 0;  // reports at once should it stop being one
        return;
    }
    if (_ticks_to_report-- > 0) {
        return;
    }
    _ticks_to_report = int(std::max<int64_t>(1, _opts.observer_report_interval / _opts.tick)) - 1;
    for (const auto& v : _node->voters()) {
        if (v.id != _opts.self.id) {
            _opts.transport->send_report({_opts.self.id, v.id, _opts.self.id, _opts.self.directory_id, _opts.self.host,
                                          _opts.self.port, _node->log_end()});
        }
    }
}

void raft_log::received_report(raft::observer_report r) {
    if (_closed || r.observer == _opts.self.id) {
        return;
    }
    _observers.heard(r, _node->commit().value(), wall_ms());
    const node_id leader = _node->leader();
    if (r.from == r.observer && _node->state() != raft::role::leader && leader.value() >= 0 &&
        leader != _opts.self.id && leader != r.observer) {
        r.from = _opts.self.id;
        r.to = leader;
        _opts.transport->send_report(std::move(r));
    }
}

void raft_log::append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) {
    if (!leader().is_leader) {
        // Behind the appends still in flight, which fail too: completions keep their order.
        _pending.push_back({_node->term(), offset(-1), true, std::move(done)});
        fail_pending();
        return;
    }
    if (records.empty()) {
        if (_pending.empty()) {
            done(committed() - 1);
        } else {
            _pending.push_back({_node->term(), _pending.back().last, true, std::move(done)});
        }
        return;
    }
    const auto count = int32_t(records.size());
    auto at = _node->propose(raft::entry_kind::data, make_batch(records, wall_ms()), count);
    if (!at) {
        TLOG_WARN("raft metadata log: proposal refused: {}", at.error().message());
        _pending.push_back({_node->term(), offset(-1), true, std::move(done)});
        fail_pending();
        return;
    }
    _pending.push_back({_node->term(), *at + (count - 1), false, std::move(done)});
    pump();
}

void raft_log::change_voters(const voter_change& c, std::function<void(protocol::error_code, std::string)> done) {
    using protocol::error_code;
    if (!leader().is_leader) {
        done(error_code::not_controller, "this coordinator is not the active controller");
        return;
    }
    if (_voter_change) {
        done(error_code::request_timed_out, fmt::format("a change of voter {} is still in flight",
                                                        _voter_change->change.voter.id.value()));
        return;
    }
    const auto& voters = _node->voters();
    const node_id id = c.voter.id;
    voter_change_op op{c, std::move(done), std::chrono::steady_clock::now() + c.timeout, _node->term(), {}};
    if (c.add) {
        if (raft::has_voter(voters, id)) {
            op.done(error_code::duplicate_voter, fmt::format("{} is already a voter", id.value()));
            return;
        }
        if (auto r = _node->add_learner(id); !r) {
            op.done(error_code::request_timed_out, r.error().message());
            return;
        }
        _learners.push_back(c.voter);
        TLOG_INFO("raft metadata log: catching up coordinator {} at {}:{} before it joins the voters", id.value(),
                  c.voter.host, c.voter.port);
    } else {
        auto it = std::find_if(voters.begin(), voters.end(), [&](const raft::voter& v) { return v.id == id; });
        if (it == voters.end()) {
            op.done(error_code::voter_not_found, fmt::format("{} is not a voter", id.value()));
            return;
        }
        // Voters are (id, directory id) where both are known (KIP-853): removing another
        // directory's voter of that id is removing no voter, as Kafka answers it.
        const auto& dir = c.voter.directory_id;
        if (!dir.is_zero() && !it->directory_id.is_zero() && dir != it->directory_id) {
            op.done(error_code::voter_not_found,
                    fmt::format("{} is a voter with directory id {}, not {}", id.value(),
                                it->directory_id.to_string(), dir.to_string()));
            return;
        }
        if (voters.size() == 1) {
            op.done(error_code::invalid_request, "the last voter cannot be removed");
            return;
        }
        raft::voter_set without;
        std::copy_if(voters.begin(), voters.end(), std::back_inserter(without),
                     [&](const raft::voter& v) { return v.id != id; });
        auto at = _node->propose_voters(std::move(without));
        if (!at) {
            op.done(error_code::request_timed_out, at.error().message());
            return;
        }
        op.proposed_at = *at;
    }
    _voter_change = std::move(op);
    pump();
}

void raft_log::finish_voter_change(protocol::error_code e, std::string message) {
    auto op = std::move(*_voter_change);
    _voter_change.reset();
    if (op.change.add) {
        std::erase_if(_learners, [&](const raft::voter& v) { return v.id == op.change.voter.id; });
        if (e != protocol::error_code::none && _node->state() == raft::role::leader) {
            _node->remove_learner(op.change.voter.id);
        }
    }
    op.done(e, std::move(message));
}

void raft_log::check_voter_change() {
    using protocol::error_code;
    if (!_voter_change) {
        return;
    }
    auto& op = *_voter_change;
    const node_id id = op.change.voter.id;
    // Committed: the core counts the entry on a majority of the set it proposed (a leader that
    // removed itself steps down right then, so this comes before the leadership check).
    if (op.proposed_at && _node->commit() > *op.proposed_at && _node->term_at(*op.proposed_at) == op.term) {
        finish_voter_change(error_code::none, {});
        return;
    }
    if (_closed || _node->state() != raft::role::leader || _node->term() != op.term) {
        finish_voter_change(error_code::not_controller,
                            fmt::format("the leadership moved while voter {} was being {}; ask the new active "
                                        "controller (the change may have been made)",
                                        id.value(), op.change.add ? "added" : "removed"));
        return;
    }
    if (op.proposed_at) {
        return;  // waits for its commit
    }
    if (std::chrono::steady_clock::now() > op.deadline) {
        finish_voter_change(error_code::request_timed_out,
                            fmt::format("coordinator {} did not catch up within {} ms", id.value(),
                                        op.change.timeout.count()));
        return;
    }
    // An added voter joins once it holds everything committed: its vote can't then hold a
    // decision back behind its catching up.
    for (const auto& p : _node->peers()) {
        if (p.id == id && p.match >= _node->commit() && _node->commit() > offset(0)) {
            raft::voter_set with = _node->voters();
            with.push_back(op.change.voter);
            std::sort(with.begin(), with.end(), [](const raft::voter& a, const raft::voter& b) { return a.id < b.id; });
            if (auto at = _node->propose_voters(std::move(with)); at) {
                op.proposed_at = *at;
                _pump_again = true;
            }
            return;  // refused (an earlier change not committed yet): tried again on the next round
        }
    }
}

result<bytes> raft_log::read(offset from, size_t max_bytes) {
    return _store->read_batches(from, max_bytes, committed());
}

std::optional<snapshot_view> raft_log::latest_snapshot() const {
    if (!_store->has_snapshot()) {
        return std::nullopt;
    }
    return snapshot_view{_store->snapshot().end, &_store->snapshot_data()};
}

result<void> raft_log::snapshot(const metadata_image& image) {
    // The image's next offset may lag the applied end by the control entries (no-ops, voter
    // sets) applied after its last record; the snapshot stands for the applied end.
    const offset at = committed();
    if (image.next_offset() > at) {
        return errc::inconsistent_record;
    }
    if (at <= _store->first()) {
        return success();
    }
    auto meta = _node->snapshot_meta_at(at);
    if (!meta) {
        return meta.error();
    }
    bytes data = encode_snapshot(image);
    const size_t size = data.size();
    if (auto s = _store->save_snapshot(*meta, std::move(data)); !s) {
        TLOG_WARN("raft metadata log: snapshot at {} failed: {}", at.value(), s.error().message());
        return s;
    }
    ++_snapshots_taken;
    TLOG_INFO("raft metadata snapshot at offset {} (term {}, {} bytes)", at.value(), meta->term.value(), size);
    return success();
}

std::optional<bytes> raft_log::peer_request(int16_t api_key, int16_t api_version, bytes_view body) {
    if (_closed) {
        return std::nullopt;
    }
    return _opts.transport->handle(api_key, api_version, body);
}

void raft_log::close() {
    if (_closed) {
        return;
    }
    _closed = true;
    *_alive = false;  // a sync completion, tick or message still queued finds the log closed
    if (_timer) {
        _timer->cancel();
    }
    fail_pending();
    if (_voter_change) {
        finish_voter_change(protocol::error_code::not_controller, "the coordinator is stopping");
    }
    if (_opts.transport) {
        _opts.transport->close();
    }
    if (_syncer) {
        _syncer->stop();  // the fsync in flight finishes; its completion is dropped
    }
    if (_store) {
        _store->close();
    }
}

} // namespace trib::coordinator
