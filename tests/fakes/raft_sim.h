#pragma once

// A deterministic simulation of a Raft quorum built from coordinator/raft/node.h: a network
// that loses, duplicates, delays and reorders messages and can be partitioned (also in one
// direction only), disks (raft_mem_store) that keep only what a node wrote before it crashed
// (a crash in the middle of a ready may tear its entries' tail), crashes and restarts, and an
// invariant checker run after every step:
//   - at most one leader per term;
//   - entries with the same offset and term are the same entry, and two logs that share an
//     entry agree on everything before it (log matching);
//   - a committed entry is never lost or changed: each node applies, in order and without
//     gaps, exactly the entries of one global committed sequence (a hash chain makes the
//     snapshots comparable too), and a new leader holds every entry committed so far;
//   - at most one node holds a valid read lease at any time (all nodes tick at one rate).
// Everything random comes from one seed, so a failing run replays exactly.
#include "coordinator/raft/node.h"
#include "tests/fakes/raft_mem_store.h"

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace trib::fakes {

namespace rf = coordinator::raft;

// prefix + n (g++ 12 warns falsely, -Wrestrict, on "literal" + std::to_string(...)).
inline std::string cat(const char* prefix, uint64_t n) {
    std::string s = prefix;
    s += std::to_string(n);
    return s;
}

struct raft_sim_options {
    int pool = 3;             // nodes 1..pool exist
    int voters = 3;           // initial voters: 1..voters
    int election_ticks = 10;
    int heartbeat_ticks = 1;
    double loss = 0;          // per message
    double dup = 0;           // per message
    int min_delay = 1;        // ticks
    int max_delay = 1;
    size_t max_append_bytes = 64;
    int max_inflight = 4;
    size_t snapshot_chunk_bytes = 7;
    // The driver writes a ready in the background: it finishes it later (at a random later
    // step), and the node keeps taking messages and ticks meanwhile (contract: one ready out).
    bool async = false;
    // As raft_log does: the term and vote are durable as soon as a ready is taken, and a
    // leader's append and snapshot requests leave then, before its own entries are durable
    // (the leader counts itself only once they are: node::advance()).
    bool early_leader_sends = false;
};

// The state machine: a hash chain over the applied entries, so two nodes (and a snapshot)
// agree exactly when they applied the same sequence.
struct raft_sim_sm {
    offset end{0};
    uint64_t hash = 1469598103934665603ull;

    void apply(const rf::entry& e) {
        auto mix = [&](uint64_t v) {
            hash ^= v;
            hash *= 1099511628211ull;
        };
        mix(uint64_t(e.at.value()));
        mix(uint64_t(e.count));
        mix(uint64_t(e.term.value()));
        mix(uint64_t(e.kind));
        for (auto b : e.payload) {
            mix(b);
        }
        end = e.end();
    }
    bytes encode() const {
        bytes b(16);
        store_be64(b.data(), uint64_t(end.value()));
        store_be64(b.data() + 8, hash);
        return b;
    }
    bool restore(const bytes& b) {
        if (b.size() != 16) {
            return false;
        }
        end = offset(int64_t(load_be64(b.data())));
        hash = load_be64(b.data() + 8);
        return true;
    }
};

class raft_cluster {
public:
    struct member {
        node_id id{-1};
        raft_mem_store store;
        std::unique_ptr<rf::node> n;
        raft_sim_sm sm;
        bool up = true;
        int64_t restart_at = 0;
        uint64_t incarnation = 0;
        protocol::uuid directory_id;       // its node_config's (a wiped disk comes back with another)
        std::optional<rf::ready> writing;  // taken, not yet durable (async driver)
    };

    raft_cluster(uint64_t seed, raft_sim_options o, bool trace = false)
        : _o(o), _rng(seed), _seed(seed), _trace(trace) {
        for (int i = 1; i <= o.voters; ++i) {
            _initial.push_back(voter_of(node_id(i)));
        }
        _members.resize(size_t(o.pool));
        for (int i = 0; i < o.pool; ++i) {
            _members[size_t(i)].id = node_id(i + 1);
            start(_members[size_t(i)]);
        }
    }

    static rf::voter voter_of(node_id id) {
        std::string host = "n";
        host += std::to_string(id.value());  // (not "n" + ...: g++ 12 warns falsely, -Wrestrict)
        return rf::voter{id, host, uint16_t(9000 + id.value())};
    }

    // ---- access ----------------------------------------------------------------------------
    member& at(node_id id) { return _members.at(size_t(id.value() - 1)); }
    rf::node& n(node_id id) { return *at(id).n; }
    std::vector<member>& members() { return _members; }
    int64_t now() const { return _now; }
    const std::string& failure() const { return _failure; }
    bool failed() const { return !_failure.empty(); }
    std::mt19937_64& rng() { return _rng; }
    raft_sim_options& options() { return _o; }
    offset committed_end() const { return _committed.empty() ? offset(0) : std::prev(_committed.end())->second.end(); }
    const std::map<offset, rf::entry>& committed() const { return _committed; }

    // The up node that is leader in the highest term, if any.
    std::optional<node_id> leader() const {
        std::optional<node_id> out;
        term_id best{-1};
        for (const auto& m : _members) {
            if (m.up && m.n->state() == rf::role::leader && m.n->term() > best) {
                best = m.n->term();
                out = m.id;
            }
        }
        return out;
    }

    // ---- faults ----------------------------------------------------------------------------
    void block(node_id from, node_id to) { _blocked.insert({from, to}); }
    void unblock(node_id from, node_id to) { _blocked.erase({from, to}); }
    void isolate(node_id id) {
        for (const auto& m : _members) {
            if (m.id != id) {
                block(id, m.id);
                block(m.id, id);
            }
        }
    }
    void heal() { _blocked.clear(); }
    bool blocked(node_id from, node_id to) const { return _blocked.count({from, to}) > 0; }
    // Messages for which this returns true are dropped at delivery (unit tests).
    std::function<bool(const rf::message&)> drop;

    void crash(node_id id, int64_t down_ticks) {
        member& m = at(id);
        if (!m.up) {
            return;
        }
        trace("crash " + std::to_string(id.value()));
        if (m.writing) {
            tear_store(m, *m.writing);  // it crashed while writing
            m.writing.reset();
        }
        m.up = false;
        m.n.reset();
        m.restart_at = _now + down_ticks;
    }
    void restart(node_id id) {
        member& m = at(id);
        if (m.up) {
            return;
        }
        trace("restart " + std::to_string(id.value()));
        start(m);
    }

    // ---- driving ---------------------------------------------------------------------------
    // Processes every ready of `id` (persist, send, apply, advance), checking as it goes.
    // tear_chance: the probability that the node crashes in the middle of a ready.
    void process(member& m, double tear_chance = 0) {
        for (;;) {
            if (!m.up || failed()) {
                return;
            }
            if (m.writing) {
                if (_o.async && !chance(0.5)) {
                    return;  // still writing; finished at a later step
                }
                rf::ready r = std::move(*m.writing);
                m.writing.reset();
                complete(m, r);
                continue;
            }
            if (!m.n->has_ready()) {
                return;
            }
            m.writing = m.n->take_ready();
            if (_o.early_leader_sends) {
                send_early(m, *m.writing);
            }
            if (tear_chance > 0 && chance(tear_chance)) {
                crash(m.id, uniform(1, 3 * _o.election_ticks));  // tears what it was writing
                return;
            }
        }
    }

    // raft_log's start of a ready: the hard state written at once, then the leader's requests
    // sent while its entries are still being written.
    void send_early(member& m, rf::ready& r) {
        if (r.hard) {
            if (r.hard->term < m.store.hard.term) {
                fail("term went backwards on " + std::to_string(m.id.value()));
                return;
            }
            m.store.hard = *r.hard;
        }
        auto later = std::stable_partition(r.messages.begin(), r.messages.end(), [](const rf::message& msg) {
            return std::holds_alternative<rf::append_request>(msg.body) ||
                   std::holds_alternative<rf::snapshot_request>(msg.body);
        });
        for (auto it = r.messages.begin(); it != later; ++it) {
            send(std::move(*it));
        }
        r.messages.erase(r.messages.begin(), later);
    }

    // The driver's side of a ready once written: send, apply, advance.
    void complete(member& m, rf::ready& r) {
        persist(m, r);
        if (failed()) {
            return;
        }
        for (auto& msg : r.messages) {
            send(std::move(msg));
        }
        apply(m, r);
        if (r.soft_changed && _trace) {
            trace("node " + std::to_string(m.id.value()) + ": " + rf::role_name(r.soft.state) + " term " +
                  std::to_string(r.soft.term.value()) + " leader " + std::to_string(r.soft.leader.value()));
        }
        if (r.soft_changed && r.soft.state == rf::role::leader) {
            check_new_leader(m, r.soft.term);
        }
        m.n->advance();
    }

    void process_all(double tear_chance = 0) {
        for (auto& m : _members) {
            if (m.up) {
                guarded([&] { process(m, tear_chance); });
            }
        }
    }

    // Delivers the messages due by now, in a random order among equals.
    void deliver_due(double tear_chance = 0) {
        while (!failed() && !_net.empty() && _net.top().at <= _now) {
            in_flight f = _net.top();
            _net.pop();
            deliver(f.m, tear_chance);
        }
    }

    // Delivers everything in flight at once (ignoring delays), until nothing is left.
    void settle(int max_rounds = 1000) {
        for (int i = 0; i < max_rounds && !failed(); ++i) {
            process_all();
            if (_net.empty()) {
                return;
            }
            std::vector<in_flight> all;
            while (!_net.empty()) {
                all.push_back(_net.top());
                _net.pop();
            }
            for (auto& f : all) {
                deliver(f.m);
            }
        }
    }

    void tick_all(double tear_chance = 0) {
        ++_now;
        for (auto& m : _members) {
            if (!m.up && m.restart_at > 0 && m.restart_at <= _now) {
                restart(m.id);
            }
        }
        deliver_due(tear_chance);
        std::vector<size_t> order(_members.size());
        for (size_t i = 0; i < order.size(); ++i) {
            order[i] = i;
        }
        std::shuffle(order.begin(), order.end(), _rng);
        for (size_t i : order) {
            member& m = _members[i];
            if (m.up && !failed()) {
                guarded([&] {
                    m.n->tick();
                    process(m, tear_chance);
                });
            }
        }
        check_step();
    }

    // Ticks with every message delivered right away (unit tests).
    void tick_settle(int ticks = 1) {
        for (int i = 0; i < ticks && !failed(); ++i) {
            ++_now;
            for (auto& m : _members) {
                if (m.up) {
                    guarded([&] { m.n->tick(); });
                }
            }
            settle();
            check_step();
        }
    }

    // Runs ticks (settling messages) until `done` or `limit` ticks passed.
    bool run_until(const std::function<bool()>& done, int limit) {
        for (int i = 0; i < limit && !failed(); ++i) {
            if (done()) {
                return true;
            }
            tick_settle();
        }
        return done();
    }

    // Compacts `id`'s log at its state machine's end (a local snapshot).
    void compact(node_id id) {
        member& m = at(id);
        if (!m.up || m.writing || m.sm.end <= m.store.first()) {
            return;  // (while a ready is being written the state machine may lag a snapshot install)
        }
        auto meta = m.n->snapshot_meta_at(m.sm.end);
        if (!meta) {
            fail("snapshot_meta_at(" + std::to_string(m.sm.end.value()) + ") refused on " +
                 std::to_string(id.value()) + ": " + meta.error().message());
            return;
        }
        trace("compact " + std::to_string(id.value()) + " at " + std::to_string(m.sm.end.value()));
        m.store.compact(*meta, m.sm.encode());
    }

    // Full log matching between every pair of up nodes.
    void check_log_matching() {
        for (size_t a = 0; a < _members.size(); ++a) {
            for (size_t b = a + 1; b < _members.size(); ++b) {
                if (!_members[a].up || !_members[b].up || failed()) {
                    continue;
                }
                const rf::node& x = *_members[a].n;
                const rf::node& y = *_members[b].n;
                offset lo = std::max(x.log_first(), y.log_first());
                offset hi = std::min(x.log_end(), y.log_end());
                offset last_same{-1};
                for (offset o = lo; o < hi; ++o) {
                    if (x.term_at(o) == y.term_at(o)) {
                        last_same = o;
                    }
                }
                for (offset o = lo; o < last_same; ++o) {
                    if (x.term_at(o) != y.term_at(o)) {
                        fail("log matching: nodes " + std::to_string(a + 1) + " and " + std::to_string(b + 1) +
                             " share offset " + std::to_string(last_same.value()) + " but differ at " +
                             std::to_string(o.value()));
                        return;
                    }
                }
            }
        }
    }

    // The lease invariant and anything else checked once per tick.
    void check_step() {
        if (failed()) {
            return;
        }
        int leases = 0;
        for (const auto& m : _members) {
            if (m.up && m.n->lease_valid()) {
                ++leases;
            }
        }
        if (leases > 1) {
            fail("two nodes hold a read lease at once");
        }
    }

    void fail(const std::string& why) {
        if (_failure.empty()) {
            std::ostringstream s;
            s << "tick " << _now << ": " << why;
            _failure = s.str();
            trace("FAILURE " + _failure);
        }
    }

    void trace(const std::string& s) {
        if (_trace) {
            std::cerr << "[" << _now << "] " << s << "\n";
        }
    }

    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(_rng) < p; }
    int64_t uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(_rng); }
    bool tracing() const { return _trace; }

private:
    struct in_flight {
        int64_t at;
        uint64_t seq;
        rf::message m;
        bool operator>(const in_flight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };

    template<class F>
    void guarded(F f) {
        try {
            f();
        } catch (const std::exception& e) {
            fail(std::string("exception: ") + e.what());
        }
    }

    void start(member& m) {
        m.up = true;
        m.restart_at = 0;
        ++m.incarnation;
        m.sm = raft_sim_sm{};
        if (m.store.first().value() > 0 && !m.sm.restore(m.store.snap_data)) {
            fail("unreadable snapshot on " + std::to_string(m.id.value()));
        }
        rf::node_config cfg;
        cfg.id = m.id;
        cfg.directory_id = m.directory_id;
        cfg.initial_voters = _initial;
        cfg.election_ticks = _o.election_ticks;
        cfg.heartbeat_ticks = _o.heartbeat_ticks;
        cfg.seed = _seed * 1000003 + uint64_t(m.id.value()) * 101 + m.incarnation;
        cfg.max_append_bytes = _o.max_append_bytes;
        cfg.max_inflight = _o.max_inflight;
        cfg.snapshot_chunk_bytes = _o.snapshot_chunk_bytes;
        cfg.max_apply_bytes = 256;
        m.n = std::make_unique<rf::node>(cfg, m.store, m.store.hard);
    }

    void send(rf::message msg) {
        if (chance(_o.loss)) {
            return;
        }
        int copies = chance(_o.dup) ? 2 : 1;
        for (int i = 0; i < copies; ++i) {
            _net.push(in_flight{_now + uniform(_o.min_delay, _o.max_delay), _seq++, msg});
        }
    }

    void deliver(const rf::message& msg, double tear_chance = 0) {
        if (msg.to.value() < 1 || msg.to.value() > int(_members.size()) || blocked(msg.from, msg.to) ||
            (drop && drop(msg))) {
            return;
        }
        member& m = at(msg.to);
        if (!m.up) {
            return;
        }
        if (_trace) {
            trace(describe(msg));
        }
        guarded([&] {
            m.n->step(msg);
            process(m, tear_chance);
        });
    }

    static std::string describe(const rf::message& msg) {
        std::ostringstream s;
        s << msg.from << "->" << msg.to << " ";
        std::visit(
            [&](const auto& b) {
                using B = std::decay_t<decltype(b)>;
                s << "t" << b.term << " ";
                if constexpr (std::is_same_v<B, rf::vote_request>) {
                    s << (b.pre_vote ? "pre-vote" : "vote") << " last " << b.last_end << "/" << b.last_term
                      << (b.transfer ? " transfer" : "");
                } else if constexpr (std::is_same_v<B, rf::vote_response>) {
                    s << (b.pre_vote ? "pre-vote" : "vote") << (b.granted ? " granted" : " refused");
                } else if constexpr (std::is_same_v<B, rf::append_request>) {
                    s << "append prev " << b.prev_end << "/" << b.prev_term << " n " << b.entries.size() << " commit "
                      << b.commit;
                } else if constexpr (std::is_same_v<B, rf::append_response>) {
                    s << "append " << (b.success ? "ok " : "reject ") << b.end << "/" << b.hint_term;
                } else if constexpr (std::is_same_v<B, rf::snapshot_request>) {
                    s << "snapshot " << b.meta.end << " at " << b.chunk_at << (b.last ? " last" : "");
                } else if constexpr (std::is_same_v<B, rf::snapshot_response>) {
                    s << "snapshot " << b.end << " next " << b.next_chunk << (b.done ? " done" : "");
                } else {
                    s << "timeout_now";
                }
            },
            msg.body);
        return s.str();
    }

    // A crash in the middle of writing a ready: the hard state may be written, then the
    // snapshot, the truncation and a prefix of the entries; nothing was sent or applied.
    void tear_store(member& m, const rf::ready& r) {
        int64_t stage = uniform(0, 2);
        if (stage >= 1 && r.hard) {
            m.store.hard = *r.hard;
        }
        if (stage >= 2) {
            if (r.snapshot) {
                m.store.install(*r.snapshot);
            }
            if (r.truncate_from) {
                m.store.truncate(*r.truncate_from);
            }
            size_t keep = size_t(uniform(0, int64_t(r.entries.size())));
            for (size_t i = 0; i < keep; ++i) {
                m.store.append(r.entries[i]);
            }
        }
        trace("torn write on " + std::to_string(m.id.value()) + " at stage " + std::to_string(stage));
    }

    void persist(member& m, const rf::ready& r) {
        if (r.hard) {
            if (r.hard->term < m.store.hard.term) {
                fail("term went backwards on " + std::to_string(m.id.value()));
            }
            m.store.hard = *r.hard;
        }
        if (r.snapshot) {
            m.store.install(*r.snapshot);
        }
        if (r.truncate_from) {
            if (*r.truncate_from < m.sm.end) {
                fail("node " + std::to_string(m.id.value()) + " truncates applied entries at " +
                     std::to_string(r.truncate_from->value()));
                return;
            }
            m.store.truncate(*r.truncate_from);
        }
        for (const auto& e : r.entries) {
            m.store.append(e);
            auto key = std::make_pair(e.at, e.term);
            auto [it, added] = _by_position.try_emplace(key, e);
            if (!added && !(it->second == e)) {
                fail("two different entries at offset " + std::to_string(e.at.value()) + " term " +
                     std::to_string(e.term.value()));
                return;
            }
        }
    }

    void apply(member& m, const rf::ready& r) {
        if (r.snapshot) {
            if (!m.sm.restore(r.snapshot->data)) {
                fail("installed snapshot does not decode on " + std::to_string(m.id.value()));
                return;
            }
            check_hash(m);
        }
        for (const auto& e : r.committed) {
            if (e.at != m.sm.end) {
                fail("node " + std::to_string(m.id.value()) + " applies " + std::to_string(e.at.value()) +
                     " after " + std::to_string(m.sm.end.value()));
                return;
            }
            auto [it, added] = _committed.try_emplace(e.at, e);
            if (!added && !(it->second == e)) {
                fail("committed entry at " + std::to_string(e.at.value()) + " changed (term " +
                     std::to_string(it->second.term.value()) + " -> " + std::to_string(e.term.value()) + ")");
                return;
            }
            // An upper bound of the term the entry was committed in: the term of a node that
            // knows it is committed (a leader that counted it, or a follower told by one).
            auto [b, fresh] = _commit_term_bound.try_emplace(e.at, r.soft.term);
            if (!fresh) {
                b->second = std::min(b->second, r.soft.term);
            }
            m.sm.apply(e);
            check_hash(m);
        }
        if (_trace && !r.committed.empty()) {
            trace("node " + std::to_string(m.id.value()) + " applied to " + std::to_string(m.sm.end.value()));
        }
    }

    void check_hash(member& m) {
        auto [it, added] = _hash_at.try_emplace(m.sm.end, m.sm.hash);
        if (!added && it->second != m.sm.hash) {
            fail("state machine of " + std::to_string(m.id.value()) + " differs at " + std::to_string(m.sm.end.value()));
        }
    }

    // Election safety and leader completeness.
    void check_new_leader(member& m, term_id t) {
        auto [it, added] = _leader_of_term.try_emplace(t, m.id);
        if (!added && it->second != m.id) {
            fail("two leaders in term " + std::to_string(t.value()) + ": " + std::to_string(it->second.value()) +
                 " and " + std::to_string(m.id.value()));
            return;
        }
        trace("leader " + std::to_string(m.id.value()) + " term " + std::to_string(t.value()));
        // Leader completeness: every entry committed in an earlier term is in its log. (A
        // vote answer can arrive late: a leader of term t may be elected after entries were
        // committed in a later term; those it need not hold.)
        const rf::node& n = *m.n;
        for (const auto& [at, e] : _committed) {
            if (at < n.log_first() || _commit_term_bound.at(at) >= t) {
                continue;
            }
            if (n.term_at(at) != e.term) {
                fail("leader " + std::to_string(m.id.value()) + " of term " + std::to_string(t.value()) +
                     " lacks committed entry " + std::to_string(at.value()));
                return;
            }
        }
    }

    raft_sim_options _o;
    std::mt19937_64 _rng;
    uint64_t _seed;
    bool _trace;
    rf::voter_set _initial;
    std::vector<member> _members;
    int64_t _now = 0;
    uint64_t _seq = 0;
    std::priority_queue<in_flight, std::vector<in_flight>, std::greater<>> _net;
    std::set<std::pair<node_id, node_id>> _blocked;
    std::map<std::pair<offset, term_id>, rf::entry> _by_position;
    std::map<offset, rf::entry> _committed;
    std::map<offset, uint64_t> _hash_at;
    std::map<offset, term_id> _commit_term_bound;
    std::map<term_id, node_id> _leader_of_term;
    std::string _failure;
};

} // namespace trib::fakes
