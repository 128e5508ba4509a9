// Issue 14's "a new leader within 2x the election timeout", in logical time: the leader of a
// quorum under a stream of proposals crashes, and we count the ticks until a survivor leads
// and has committed an entry of its own term (what a client feels: its next write succeeds).
// The simulation (tests/fakes/raft_sim.h) is seeded, so the figures are exact and the test
// cannot flake; it fails when the core needs longer to elect than the timeouts allow.
//
//   TRIB_RAFT_FAILOVER_SEED=n   run seed n alone (3 and 5 voters), with a trace on stderr
//
// Deliberate bugs tried (not committed), each red in both tests: timeouts drawn in [2T, 4T)
// instead of [T, 2T) (seeds over the bound, e.g. seed 3: 44 ticks); stickiness for 2T instead
// of T, so the first pre-vote is always refused (seed 2: 41 ticks); timeouts drawn in
// [T, T + 2] (first rounds split in 59% of the seeds).
#include "coordinator/raft/node.h"
#include "tests/fakes/raft_sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace trib::coordinator::raft {
namespace {

using fakes::cat;
using fakes::raft_cluster;
using fakes::raft_sim_options;

constexpr int T = 10;  // election ticks; the coordinator's default: ten 100 ms ticks
constexpr int heartbeat = 1;
constexpr int max_delay = 2;  // ticks a message travels: 1 or 2
constexpr uint64_t seeds = 1000;

// The bound, derived from the core's timers (coordinator/raft/node.cc):
//   - the crashed leader's last append or heartbeat reaches a follower at most max_delay
//     ticks after the crash (it left at the crash tick at the latest);
//   - a follower's randomized timeout is drawn in [T, 2T) and counts from that message: it
//     fires at most 2T - 1 ticks after it;
//   - then, if the first to fire is up to date and the others no longer hear the dead leader
//     (stickiness: T ticks since the last heartbeat), a pre-vote round trip, a vote round
//     trip, and the new leader's first append: one round trip, or two when a follower's log
//     is shorter (it refuses the probe with its end as hint, the leader resends from there).
//     A survivor that fires while the others still hear the dead leader, or whose log is
//     behind, is refused; the others' own timeouts are under the same bound;
//   total: 2T - 1 ticks and 1 + 2 + 2 + 4 = 9 message delays, at most 2T + 18 ticks.
// (The tick order makes it a tick or two shorter still; the allowance keeps the round
// figure.) On real coordinators a message takes well under a millisecond against a 1,000 ms
// timeout; here it takes 10-20% of T, which is why the allowance is large.
constexpr int delay_allowance = 9 * max_delay;
constexpr int bound = 2 * T + delay_allowance;

bytes payload(const std::string& s) { return bytes(s.begin(), s.end()); }

struct failover {
    std::string failure;  // "" or what went wrong
    int64_t ticks = -1;   // crash -> the new leader's first commit of its own term
    bool split = false;   // the first candidacy after the crash did not win: term > old + 1
};

// One run: warm up under a stream of proposals, crash the leader at a seeded moment, and
// measure until a survivor commits an entry of its term.
failover run_one(uint64_t seed, int voters, bool trace) {
    raft_sim_options o;
    o.pool = voters;
    o.voters = voters;
    o.election_ticks = T;
    o.heartbeat_ticks = heartbeat;
    o.min_delay = 1;
    o.max_delay = max_delay;
    raft_cluster c(seed, o, trace);
    uint64_t n = 0;
    // The client: one write per tick to whoever leads now.
    auto client = [&] {
        if (auto l = c.leader()) {
            (void)c.n(*l).propose(entry_kind::data, payload(cat("w", n++)));
        }
    };
    failover out;

    // Warm-up: a leader, and some of the stream committed.
    constexpr int warm_limit = 20 * T;
    while (c.now() < warm_limit && !c.failed() && !(c.leader() && c.committed_end() >= offset(20))) {
        client();
        c.tick_all();
    }
    if (c.failed()) {
        out.failure = c.failure();
        return out;
    }
    if (!c.leader() || c.committed_end() < offset(20)) {
        out.failure = "no leader committing before the crash within " + std::to_string(warm_limit) + " ticks";
        return out;
    }
    // Crash at a seeded moment: anywhere between two heartbeats, with appends in flight.
    for (int64_t k = c.uniform(0, 2 * T); k > 0 && !c.failed(); --k) {
        client();
        c.tick_all();
    }
    auto old_leader = c.leader();
    if (c.failed() || !old_leader) {
        out.failure = c.failed() ? c.failure() : "the leader stepped down under a fault-free stream";
        return out;
    }
    term_id old_term = c.n(*old_leader).term();
    const std::map<offset, entry> before = c.committed();
    int64_t crashed_at = c.now();
    c.crash(*old_leader, std::numeric_limits<int32_t>::max());  // it stays down
    c.trace("the leader crashed");

    // Failover: the first entry of a later term that commits.
    constexpr int limit = 20 * T;
    std::optional<entry> first;
    offset scanned = c.committed_end();
    while (!first && c.now() - crashed_at < limit && !c.failed()) {
        client();
        c.tick_all();
        for (auto it = c.committed().lower_bound(scanned); it != c.committed().end() && !first; ++it) {
            if (it->second.term > old_term) {
                first = it->second;
            }
            scanned = it->second.end();
        }
    }
    if (c.failed()) {
        out.failure = c.failure();
        return out;
    }
    if (!first) {
        out.failure = "no survivor committed an entry of a new term within " + std::to_string(limit) + " ticks";
        return out;
    }
    out.ticks = c.now() - crashed_at;
    out.split = first->term > old_term + 1;
    // Nothing acknowledged before the crash is lost: the new leader holds all of it. (The
    // simulation checks this on every new leader too; here it is the claim under test.)
    auto l = c.leader();
    if (!l || c.n(*l).term() != first->term) {
        out.failure = "the leader of term " + std::to_string(first->term.value()) + " is gone at its first commit";
        return out;
    }
    for (const auto& [at, e] : before) {
        if (at >= c.n(*l).log_first() && c.n(*l).term_at(at) != e.term) {
            out.failure = "entry " + std::to_string(at.value()) + ", committed before the crash, is lost";
            return out;
        }
    }
    return out;
}

// Split votes. The first round splits when two survivors' timeouts fire so close together
// that their pre-votes cross: each grants the other's pre-vote before its own answers arrive,
// both stand for the same term, and each keeps its vote for itself (with five voters, when
// the remaining votes also divide). A split costs another randomized timeout, so those runs
// may exceed the bound; they are counted, not bounded.
//
// How often they happen follows from ticks being discrete. The simulation ticks every node in
// lockstep and delivers messages in whole ticks, so timeouts drawn from T whole values land
// on the same tick, or one apart, and in this simulation almost every split comes from such a
// pair (at two ticks apart the pre-votes cross only when the delays fall one way). For two
// survivors with independent uniform timeouts that is P(|a - b| <= 1) = (3T - 2) / T^2, 28%
// with T = 10; for four survivors, P(the two earliest are at most a tick apart) (48%) times
// the chance that the two other survivors divide their votes between them (1/2): 24%. These
// are the asserted ceilings; the measured rates sit below them (about 20% and 12%).
// In a real quorum ticks are not aligned between processes and a message takes microseconds
// against a 100 ms tick, so the window is a round trip, not a tick: far rarer splits.
double two_earliest_within_a_tick(int survivors) {
    // every draw of `survivors` timeouts in [0, T), counted
    int64_t draws = 1;
    for (int i = 0; i < survivors; ++i) {
        draws *= T;
    }
    int64_t close = 0;
    std::vector<int> v(static_cast<size_t>(survivors));
    for (int64_t d = 0; d < draws; ++d) {
        int64_t x = d;
        for (auto& t : v) {
            t = int(x % T);
            x /= T;
        }
        std::sort(v.begin(), v.end());
        close += v[1] - v[0] <= 1;
    }
    return double(close) / double(draws);
}

int64_t percentile(std::vector<int64_t> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

void check_failovers(int voters, double max_split_fraction) {
    if (const char* one = std::getenv("TRIB_RAFT_FAILOVER_SEED")) {
        uint64_t seed = std::strtoull(one, nullptr, 10);
        failover f = run_one(seed, voters, true);
        EXPECT_EQ(f.failure, "") << "seed " << seed;
        std::cout << voters << " voters, seed " << seed << ": " << f.ticks << " ticks"
                  << (f.split ? " (split)" : "") << "\n";
        return;
    }
    std::vector<int64_t> all;
    std::vector<int64_t> clean;
    int splits = 0;
    int over = 0;
    for (uint64_t seed = 1; seed <= seeds; ++seed) {
        failover f = run_one(seed, voters, false);
        if (!f.failure.empty()) {
            ADD_FAILURE() << voters << " voters, seed " << seed << ": " << f.failure
                          << "\n  replay: TRIB_RAFT_FAILOVER_SEED=" << seed
                          << " build/tests/coordinator_raft_tests --gtest_filter=raft_failover_sim.*";
            continue;
        }
        all.push_back(f.ticks);
        if (f.split) {
            ++splits;
            continue;
        }
        clean.push_back(f.ticks);
        if (f.ticks > bound && ++over <= 5) {
            ADD_FAILURE() << voters << " voters, seed " << seed << ": a new leader committed " << f.ticks
                          << " ticks after the crash, over 2 x " << T << " + " << delay_allowance
                          << " without a split vote\n  replay: TRIB_RAFT_FAILOVER_SEED=" << seed
                          << " build/tests/coordinator_raft_tests --gtest_filter=raft_failover_sim.*";
        }
    }
    ASSERT_FALSE(all.empty());
    ASSERT_FALSE(clean.empty());
    std::ostringstream s;
    s << voters << " voters, " << all.size() << " seeds, T = " << T << " ticks: crash -> first commit median "
      << percentile(all, 0.5) << ", p99 " << percentile(all, 0.99) << ", max " << percentile(all, 1.0)
      << " ticks; without a split: median " << percentile(clean, 0.5) << ", max " << percentile(clean, 1.0)
      << " (bound " << bound << "); first round split in " << splits << " (ceiling "
      << int(max_split_fraction * 1000 + 0.5) / 10.0 << "%)";
    std::cout << s.str() << "\n";
    ::testing::Test::RecordProperty("failover", s.str());
    EXPECT_EQ(over, 0) << "seeds over the bound without a split";
    EXPECT_LE(double(splits), max_split_fraction * double(all.size())) << s.str();
}

TEST(raft_failover_sim, three_voters_elect_and_commit_within_twice_the_election_timeout) {
    check_failovers(3, two_earliest_within_a_tick(2));
}

TEST(raft_failover_sim, five_voters_elect_and_commit_within_twice_the_election_timeout) {
    check_failovers(5, two_earliest_within_a_tick(4) / 2);
}

} // namespace
} // namespace trib::coordinator::raft
