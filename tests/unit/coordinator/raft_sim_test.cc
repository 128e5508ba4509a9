// Seeded random runs of a simulated Raft quorum (tests/fakes/raft_sim.h): 3 to 5 nodes, lossy,
// duplicating, reordering network with partitions (also one-way), crashes with torn writes,
// restarts, local snapshots, random proposals, voter changes and leadership transfers; the
// safety invariants are checked after every step. Then every fault heals and the quorum must
// elect a leader and commit a proposal within a bound, and every voter must apply it.
//
//   TRIB_RAFT_SEED=n         run seed n alone, with a trace on stderr
//   TRIB_RAFT_SIM_RUNS=k     number of seeds (default 10000)
#include "coordinator/raft/node.h"
#include "tests/fakes/raft_sim.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace trib::coordinator::raft {
namespace {

using fakes::cat;
using fakes::raft_cluster;
using fakes::raft_sim_options;

constexpr int T = 10;
constexpr int chaos_ticks = 300;
constexpr int heal_bound = 40 * T;  // ticks from healing to a committed proposal applied everywhere

template<class V>
const auto& pick(std::mt19937_64& r, const V& v) {
    return v[size_t(std::uniform_int_distribution<size_t>(0, v.size() - 1)(r))];
}

struct fault_rates {
    double crash = 0.01;      // per tick
    double partition = 0.02;  // per tick
};

fault_rates faults_for(uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x5851f42d4c957f2dull);
    // a third of the runs are storms: leaders come and go often, logs diverge more
    return pick(r, std::vector<fault_rates>{{0.01, 0.02}, {0.01, 0.02}, {0.05, 0.08}});
}

raft_sim_options options_for(uint64_t seed) {
    std::mt19937_64 r(seed ^ 0x9e3779b97f4a7c15ull);
    raft_sim_options o;
    o.pool = pick(r, std::vector<int>{3, 3, 4, 5, 5});
    o.voters = o.pool == 5 ? pick(r, std::vector<int>{3, 5}) : 3;
    o.election_ticks = T;
    o.loss = pick(r, std::vector<double>{0, 0.02, 0.1, 0.25});
    o.dup = pick(r, std::vector<double>{0, 0.05, 0.2});
    o.max_delay = pick(r, std::vector<int>{1, 2, 3, 5});
    o.heartbeat_ticks = pick(r, std::vector<int>{1, 2, 3});
    o.max_append_bytes = pick(r, std::vector<size_t>{1, 24, 4096});
    o.max_inflight = pick(r, std::vector<int>{1, 2, 8});
    if (o.max_append_bytes == 1) {
        // one entry per request: enough in flight that a follower hundreds of entries behind
        // catches up within the liveness bound
        o.max_inflight = 8;
    }
    o.snapshot_chunk_bytes = pick(r, std::vector<size_t>{3, 7, 64});
    o.async = pick(r, std::vector<int>{0, 1}) == 1;
    o.early_leader_sends = pick(r, std::vector<int>{0, 1}) == 1;
    return o;
}

std::string describe(const raft_sim_options& o) {
    std::ostringstream s;
    s << "heartbeat " << o.heartbeat_ticks << ", pool " << o.pool << ", voters " << o.voters << ", loss " << o.loss << ", dup " << o.dup << ", delay 1.."
      << o.max_delay << ", append bytes " << o.max_append_bytes << ", inflight " << o.max_inflight << ", chunk "
      << o.snapshot_chunk_bytes << (o.async ? ", async writes" : "")
      << (o.early_leader_sends ? ", leader sends before its fsync" : "");
    return s.str();
}

bytes payload(const std::string& s) { return bytes(s.begin(), s.end()); }

void random_faults(raft_cluster& c, fault_rates f) {
    auto& m = c.members();
    auto any = [&] { return m[size_t(c.uniform(0, int64_t(m.size()) - 1))].id; };
    if (c.chance(f.crash)) {
        c.crash(any(), c.uniform(1, 4 * T));
    }
    if (c.chance(f.partition)) {
        switch (c.uniform(0, 3)) {
        case 0:
            c.isolate(any());
            break;
        case 1: {  // two sides
            std::vector<node_id> side;
            for (auto& x : m) {
                if (c.chance(0.5)) {
                    side.push_back(x.id);
                }
            }
            for (auto& x : m) {
                for (auto& y : m) {
                    bool xs = std::find(side.begin(), side.end(), x.id) != side.end();
                    bool ys = std::find(side.begin(), side.end(), y.id) != side.end();
                    if (xs != ys) {
                        c.block(x.id, y.id);
                    }
                }
            }
            break;
        }
        case 2: {  // one way only
            node_id a = any();
            node_id b = any();
            if (a != b) {
                c.block(a, b);
            }
            break;
        }
        default:
            c.heal();
        }
    }
    if (c.chance(0.03)) {
        c.heal();
    }
}

void random_client(raft_cluster& c, uint64_t& n) {
    std::vector<node_id> leaders;
    for (auto& m : c.members()) {
        if (m.up && m.n->state() == role::leader) {
            leaders.push_back(m.id);
        }
    }
    if (leaders.empty()) {
        return;
    }
    node_id l = leaders[size_t(c.uniform(0, int64_t(leaders.size()) - 1))];
    node& ln = c.n(l);
    if (c.chance(0.3)) {
        int k = int(c.uniform(1, 3));
        for (int i = 0; i < k; ++i) {
            (void)ln.propose(entry_kind::data, payload(cat("e", n++)), int32_t(c.uniform(1, 3)));
        }
    }
    if (c.chance(0.03)) {
        voter_set vs = ln.voters();
        std::vector<node_id> outside;
        for (auto& m : c.members()) {
            if (!has_voter(vs, m.id)) {
                outside.push_back(m.id);
            }
        }
        int64_t what = c.uniform(0, 2);
        if (what == 0 && !outside.empty()) {
            (void)ln.add_learner(outside[size_t(c.uniform(0, int64_t(outside.size()) - 1))]);
        } else if (what == 1 && !outside.empty()) {
            vs.push_back(raft_cluster::voter_of(outside[size_t(c.uniform(0, int64_t(outside.size()) - 1))]));
            std::sort(vs.begin(), vs.end(), [](const voter& a, const voter& b) { return a.id < b.id; });
            (void)ln.propose_voters(vs);
        } else if (what == 2 && vs.size() > 1) {
            vs.erase(vs.begin() + c.uniform(0, int64_t(vs.size()) - 1));
            (void)ln.propose_voters(vs);
        }
    }
    if (c.chance(0.01)) {
        const voter_set& vs = ln.voters();
        (void)ln.transfer_leadership(vs[size_t(c.uniform(0, int64_t(vs.size()) - 1))].id);
    }
}

// One run; returns "" or what went wrong.
std::string run_one(uint64_t seed, bool trace) {
    raft_sim_options o = options_for(seed);
    raft_cluster c(seed, o, trace);
    fault_rates f = faults_for(seed);
    c.trace(describe(o) + ", crash rate " + std::to_string(f.crash) + ", partition rate " + std::to_string(f.partition));
    uint64_t n = 0;
    for (int t = 0; t < chaos_ticks && !c.failed(); ++t) {
        random_faults(c, f);
        random_client(c, n);
        if (c.chance(0.02)) {
            c.compact(c.members()[size_t(c.uniform(0, int64_t(c.members().size()) - 1))].id);
        }
        c.tick_all(0.003);
        if (t % 25 == 0) {
            c.check_log_matching();
        }
    }
    if (c.failed()) {
        return c.failure();
    }
    // Heal: no more faults; the quorum must recover on its own.
    c.trace("heal");
    if (c.tracing()) {
        for (auto& m : c.members()) {
            if (!m.up) {
                continue;
            }
            std::string vs;
            for (const auto& v : m.n->voters()) {
                vs += std::to_string(v.id.value()) + " ";
            }
            c.trace(cat("node ", uint64_t(m.id.value())) + ": " + role_name(m.n->state()) + ", term " +
                    std::to_string(m.n->term().value()) + ", log [" + std::to_string(m.n->log_first().value()) + ", " +
                    std::to_string(m.n->log_end().value()) + "), commit " + std::to_string(m.n->commit().value()) +
                    ", voters " + vs);
        }
    }
    c.heal();
    c.options().loss = 0;
    c.options().dup = 0;
    c.options().max_delay = std::min(c.options().max_delay, 3);
    for (auto& m : c.members()) {
        c.restart(m.id);
    }
    bytes live_payload = payload(cat("live-", seed));
    offset scanned{0};
    std::optional<offset> committed_live;
    std::optional<std::pair<node_id, term_id>> proposed_by;
    int64_t healed = c.now();
    while (c.now() - healed < heal_bound && !c.failed()) {
        c.tick_all();
        auto l = c.leader();
        if (!committed_live) {
            for (auto it = c.committed().lower_bound(scanned); it != c.committed().end(); ++it) {
                if (it->second.payload == live_payload) {
                    committed_live = it->second.end();
                }
                scanned = it->second.end();
            }
        }
        if (!committed_live && l && (!proposed_by || *proposed_by != std::pair{*l, c.n(*l).term()})) {
            if (c.n(*l).propose(entry_kind::data, live_payload).has_value()) {
                proposed_by = std::pair{*l, c.n(*l).term()};
            }
        }
        if (committed_live && l) {
            bool everywhere = true;
            for (const auto& v : c.n(*l).voters()) {
                if (c.at(v.id).sm.end < *committed_live) {
                    everywhere = false;
                }
            }
            if (everywhere) {
                break;
            }
        }
    }
    c.check_log_matching();
    if (c.failed()) {
        return c.failure();
    }
    if (!committed_live) {
        return "liveness: nothing committed within " + std::to_string(heal_bound) + " ticks after healing";
    }
    if (c.now() - healed >= heal_bound) {
        return "liveness: a voter did not apply the committed proposal within " + std::to_string(heal_bound) +
               " ticks after healing";
    }
    return "";
}

TEST(raft_sim, random_runs_keep_every_invariant) {
    if (const char* one = std::getenv("TRIB_RAFT_SEED")) {
        uint64_t seed = std::strtoull(one, nullptr, 10);
        std::string f = run_one(seed, true);
        EXPECT_EQ(f, "") << "seed " << seed << " (" << describe(options_for(seed)) << ")";
        return;
    }
    uint64_t runs = 10000;
    if (const char* k = std::getenv("TRIB_RAFT_SIM_RUNS")) {
        runs = std::strtoull(k, nullptr, 10);
    }
    int failures = 0;
    for (uint64_t seed = 1; seed <= runs && failures < 5; ++seed) {
        std::string f = run_one(seed, false);
        if (!f.empty()) {
            ++failures;
            ADD_FAILURE() << "seed " << seed << ": " << f << "\n  (" << describe(options_for(seed))
                          << ")\n  replay: TRIB_RAFT_SEED=" << seed
                          << " build/tests/coordinator_raft_tests --gtest_filter=raft_sim.*";
        }
    }
}

} // namespace
} // namespace trib::coordinator::raft
