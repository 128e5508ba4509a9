// The Raft core (coordinator/raft/node.h), one feature per test, on the simulated cluster of
// tests/fakes/raft_sim.h with every message delivered at once unless a test cuts links.
#include "coordinator/raft/node.h"
#include "tests/fakes/raft_sim.h"

#include <gtest/gtest.h>

namespace trib::coordinator::raft {
namespace {

using fakes::cat;
using fakes::raft_cluster;
using fakes::raft_sim_options;

constexpr int T = 10;  // election ticks

raft_sim_options opts(int pool, int voters) {
    raft_sim_options o;
    o.pool = pool;
    o.voters = voters;
    o.election_ticks = T;
    return o;
}

bytes payload(const std::string& s) { return bytes(s.begin(), s.end()); }

node_id elect(raft_cluster& c) {
    EXPECT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 10 * T));
    // and let its first entry commit
    node_id l = c.leader().value_or(node_id(-1));
    EXPECT_TRUE(c.run_until([&] { return l.value() > 0 && c.n(l).commit() == c.n(l).log_end(); }, 5 * T));
    return l;
}

std::vector<node_id> followers(raft_cluster& c, node_id leader) {
    std::vector<node_id> out;
    for (auto& m : c.members()) {
        if (m.id != leader && m.up && has_voter(c.n(leader).voters(), m.id)) {
            out.push_back(m.id);
        }
    }
    return out;
}

TEST(raft_node, elects_one_leader_that_commits_its_first_entry) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        raft_cluster c(seed, opts(3, 3));
        node_id l = elect(c);
        ASSERT_FALSE(c.failed()) << c.failure();
        int leaders = 0;
        for (auto& m : c.members()) {
            leaders += m.n->state() == role::leader;
            EXPECT_EQ(m.n->term(), c.n(l).term());
        }
        EXPECT_EQ(leaders, 1);
        EXPECT_GE(c.n(l).term().value(), 1);
        // followers learn the leader and its commit on the next heartbeat
        ASSERT_TRUE(c.run_until([&] {
            for (auto f : followers(c, l)) {
                if (c.n(f).leader() != l || c.n(f).commit() != c.n(l).commit()) {
                    return false;
                }
            }
            return true;
        }, 3));
        EXPECT_TRUE(c.run_until([&] { return c.n(l).lease_valid(); }, 3));
        for (auto f : followers(c, l)) {
            EXPECT_FALSE(c.n(f).lease_valid());
        }
    }
}

TEST(raft_node, single_voter_commits_alone) {
    raft_cluster c(7, opts(1, 1));
    node_id l = elect(c);
    ASSERT_EQ(l, node_id(1));
    auto at = c.n(l).propose(entry_kind::data, payload("a"), 3);
    ASSERT_TRUE(at.has_value());
    c.settle();
    EXPECT_EQ(c.n(l).commit(), *at + 3);
    EXPECT_EQ(c.at(l).sm.end, *at + 3);
    EXPECT_TRUE(c.n(l).lease_valid());
}

TEST(raft_node, proposals_replicate_in_batches_and_apply_everywhere) {
    auto o = opts(3, 3);
    o.max_append_bytes = 1 << 20;
    raft_cluster c(3, o);
    node_id l = elect(c);
    size_t appends = 0;
    c.drop = [&](const message& m) {
        appends += std::holds_alternative<append_request>(m.body) &&
                   !std::get<append_request>(m.body).entries.empty();
        return false;
    };
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(c.n(l).propose(entry_kind::data, payload(cat("p", i))).has_value());
    }
    c.settle();
    EXPECT_LE(appends, 4u) << "50 proposals between two readies go out in one append per follower";
    ASSERT_TRUE(c.run_until([&] {
        for (auto& m : c.members()) {
            if (m.sm.end != c.n(l).log_end()) {
                return false;
            }
        }
        return true;
    }, 3));
    EXPECT_EQ(c.at(node_id(1)).sm.hash, c.at(node_id(2)).sm.hash);
    EXPECT_EQ(c.at(node_id(1)).sm.hash, c.at(node_id(3)).sm.hash);
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, followers_refuse_proposals) {
    raft_cluster c(4, opts(3, 3));
    node_id l = elect(c);
    auto f = followers(c, l).front();
    auto r = c.n(f).propose(entry_kind::data, payload("x"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), make_error_code(errc::not_leader));
    auto bad = c.n(l).propose(entry_kind::data, payload("x"), 0);
    EXPECT_EQ(bad.error(), make_error_code(errc::invalid_argument));
    auto voters_kind = c.n(l).propose(entry_kind::voters, payload("x"));
    EXPECT_EQ(voters_kind.error(), make_error_code(errc::invalid_argument));
}

TEST(raft_node, pre_vote_keeps_a_partitioned_follower_from_disrupting) {
    raft_cluster c(5, opts(3, 3));
    node_id l = elect(c);
    term_id t = c.n(l).term();
    node_id f = followers(c, l).front();
    c.isolate(f);
    c.run_until([] { return false; }, 8 * T);
    // it campaigned (pre-votes only) without raising its term
    EXPECT_EQ(c.n(f).term(), t);
    c.heal();
    c.run_until([] { return false; }, 3 * T);
    EXPECT_EQ(c.n(l).state(), role::leader);
    EXPECT_EQ(c.n(l).term(), t);
    EXPECT_EQ(c.n(f).leader(), l);
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, a_follower_that_missed_heartbeats_does_not_depose_a_live_leader) {
    raft_cluster c(6, opts(3, 3));
    node_id l = elect(c);
    term_id t = c.n(l).term();
    node_id f = followers(c, l).front();
    // the follower misses T ticks of heartbeats, then campaigns: the others still hear the
    // leader, so they refuse its pre-votes (leader stickiness)
    c.block(l, f);
    c.run_until([&] { return c.n(f).state() == role::pre_candidate; }, 3 * T);
    c.heal();
    c.run_until([] { return false; }, 3 * T);
    EXPECT_EQ(c.n(l).state(), role::leader);
    EXPECT_EQ(c.n(l).term(), t);
}

TEST(raft_node, check_quorum_steps_down_a_cut_off_leader) {
    raft_cluster c(8, opts(3, 3));
    node_id l = elect(c);
    term_id t = c.n(l).term();
    ASSERT_TRUE(c.run_until([&] { return c.n(l).lease_valid(); }, 3));
    c.isolate(l);
    c.tick_settle(T);  // lease_ticks < T: gone by now
    EXPECT_FALSE(c.n(l).lease_valid());
    ASSERT_TRUE(c.run_until([&] { return c.n(l).state() != role::leader; }, 2 * T));
    ASSERT_TRUE(c.run_until([&] { return c.leader() && *c.leader() != l; }, 6 * T));
    node_id l2 = *c.leader();
    EXPECT_GT(c.n(l2).term(), t);
    c.heal();
    ASSERT_TRUE(c.run_until([&] { return c.n(l).leader() == l2; }, 3 * T));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, a_divergent_tail_is_truncated) {
    raft_cluster c(9, opts(3, 3));
    node_id l = elect(c);
    c.isolate(l);
    std::vector<offset> lost;
    for (int i = 0; i < 3; ++i) {
        lost.push_back(c.n(l).propose(entry_kind::data, payload(cat("lost", i))).value());
    }
    c.settle();
    offset old_commit = c.n(l).commit();
    EXPECT_LE(old_commit, lost.front());
    ASSERT_TRUE(c.run_until([&] { return c.leader() && *c.leader() != l; }, 8 * T));
    node_id l2 = *c.leader();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(c.n(l2).propose(entry_kind::data, payload(cat("kept", i))).has_value());
    }
    c.settle();
    c.heal();
    ASSERT_TRUE(c.run_until([&] { return c.n(l).commit() == c.n(l2).commit() && c.n(l).log_end() == c.n(l2).log_end(); },
                            5 * T));
    for (offset o = c.n(l).log_first(); o < c.n(l).log_end(); ++o) {
        EXPECT_EQ(c.n(l).term_at(o), c.n(l2).term_at(o)) << o;
    }
    for (const auto& [at, e] : c.committed()) {
        std::string s(e.payload.begin(), e.payload.end());
        EXPECT_EQ(s.find("lost"), std::string::npos) << "an uncommitted entry of the old leader was applied";
    }
    c.check_log_matching();
    EXPECT_FALSE(c.failed()) << c.failure();
}

// Raft's figure 8: an entry of an earlier term on a majority is not committed by counting;
// it commits once an entry of the leader's own term does.
TEST(raft_node, an_older_term_entry_on_a_majority_is_not_committed_by_counting) {
    auto o = opts(3, 3);
    o.max_append_bytes = 1;  // one entry per append request
    raft_cluster c(10, o);
    node_id a = elect(c);
    auto fs = followers(c, a);
    node_id b = fs[0];
    c.crash(fs[1], 1000000);
    // X reaches only the leader, which then steps down (check-quorum)
    c.block(a, b);
    offset x = c.n(a).propose(entry_kind::data, payload("x")).value();
    term_id t1 = c.n(a).term();
    ASSERT_TRUE(c.run_until([&] { return c.n(a).state() != role::leader; }, 2 * T));
    c.heal();
    // a's log is longer: only a can win; it then replicates X to b, but not its own entry
    c.drop = [&](const message& m) {
        const auto* r = std::get_if<append_request>(&m.body);
        return r && m.from == a && !r->entries.empty() && r->entries.back().term > t1 && c.n(b).log_end() > x;
    };
    ASSERT_TRUE(c.run_until([&] { return c.n(a).state() == role::leader; }, 10 * T));
    ASSERT_GT(c.n(a).term(), t1);
    ASSERT_TRUE(c.run_until([&] { return c.n(b).log_end() > x; }, 3 * T));
    c.run_until([] { return false; }, 3);
    EXPECT_EQ(c.n(b).term_at(x), t1);
    EXPECT_LE(c.n(a).commit(), x) << "an entry of term " << t1 << " committed by counting in term " << c.n(a).term();
    c.drop = nullptr;
    ASSERT_TRUE(c.run_until([&] { return c.n(a).commit() > x + 1; }, 3 * T));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, a_follower_behind_the_log_start_installs_a_snapshot_in_chunks) {
    auto o = opts(3, 3);
    o.snapshot_chunk_bytes = 5;  // the sim's 16-byte snapshot takes 4 chunks
    raft_cluster c(11, o);
    node_id l = elect(c);
    node_id f = followers(c, l).front();
    c.crash(f, 1000000);
    size_t chunks = 0;
    c.drop = [&](const message& m) {
        chunks += std::holds_alternative<snapshot_request>(m.body);
        return false;
    };
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(c.n(l).propose(entry_kind::data, payload(cat("e", i))).has_value());
        c.settle();
    }
    for (auto& m : c.members()) {
        if (m.up) {
            c.compact(m.id);
        }
    }
    offset snap_end = c.n(l).log_first();
    ASSERT_GT(snap_end.value(), 20);
    c.restart(f);
    ASSERT_TRUE(c.run_until([&] { return c.at(f).sm.end == c.at(l).sm.end; }, 5 * T));
    EXPECT_EQ(c.n(f).log_first(), snap_end);
    EXPECT_EQ(c.at(f).sm.hash, c.at(l).sm.hash);
    EXPECT_GE(chunks, 4u);
    // and it keeps following from there
    ASSERT_TRUE(c.n(l).propose(entry_kind::data, payload("after")).has_value());
    ASSERT_TRUE(c.run_until([&] { return c.at(f).sm.end == c.n(l).log_end(); }, 3));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, a_learner_catches_up_then_becomes_a_voter) {
    raft_cluster c(12, opts(4, 3));
    node_id l = elect(c);
    for (int i = 0; i < 10; ++i) {
        (void)c.n(l).propose(entry_kind::data, payload(cat("e", i)));
    }
    c.settle();
    node_id n4(4);
    EXPECT_FALSE(c.n(n4).is_voter());
    // a non-voter never campaigns
    EXPECT_EQ(c.n(n4).state(), role::follower);
    ASSERT_TRUE(c.n(l).add_learner(n4).has_value());
    ASSERT_TRUE(c.run_until([&] { return c.at(n4).sm.end == c.n(l).log_end(); }, 3));
    // a learner does not count: the commit waits for voters only
    auto vs = c.n(l).voters();
    vs.push_back(raft_cluster::voter_of(n4));
    auto at = c.n(l).propose_voters(vs);
    ASSERT_TRUE(at.has_value()) << at.error().message();
    // one change at a time
    auto again = c.n(l).propose_voters(vs);
    EXPECT_EQ(again.error(), make_error_code(errc::change_pending));
    ASSERT_TRUE(c.run_until([&] {
        for (auto& m : c.members()) {
            if (m.n->voters().size() != 4 || m.n->commit() <= *at) {
                return false;
            }
        }
        return true;
    }, 3 * T));
    EXPECT_TRUE(c.n(n4).is_voter());
    // four voters: two down stops commits, one down does not
    c.crash(followers(c, l).front(), 1000000);
    auto p = c.n(l).propose(entry_kind::data, payload("three of four"));
    ASSERT_TRUE(c.run_until([&] { return c.n(l).commit() > *p; }, 3));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, voter_changes_are_single_server_only) {
    raft_cluster c(13, opts(5, 3));
    node_id l = elect(c);
    auto vs = c.n(l).voters();
    auto two = vs;
    two.push_back(raft_cluster::voter_of(node_id(4)));
    two.push_back(raft_cluster::voter_of(node_id(5)));
    EXPECT_EQ(c.n(l).propose_voters(two).error(), make_error_code(errc::invalid_change));
    auto moved = vs;
    moved[0].port = 1;
    EXPECT_EQ(c.n(l).propose_voters(moved).error(), make_error_code(errc::invalid_change));
    EXPECT_EQ(c.n(l).propose_voters(vs).error(), make_error_code(errc::invalid_change));
    auto unsorted = vs;
    std::swap(unsorted[0], unsorted[1]);
    EXPECT_EQ(c.n(l).propose_voters(unsorted).error(), make_error_code(errc::invalid_argument));
    node_id f = followers(c, l).front();
    EXPECT_EQ(c.n(f).propose_voters(vs).error(), make_error_code(errc::not_leader));
}

TEST(raft_node, a_removed_leader_steps_down_once_its_removal_commits) {
    raft_cluster c(14, opts(3, 3));
    node_id l = elect(c);
    voter_set vs;
    for (const auto& v : c.n(l).voters()) {
        if (v.id != l) {
            vs.push_back(v);
        }
    }
    auto at = c.n(l).propose_voters(vs);
    ASSERT_TRUE(at.has_value());
    ASSERT_TRUE(c.run_until([&] { return c.n(l).state() != role::leader; }, 3 * T));
    EXPECT_GT(c.n(l).commit(), *at);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 8 * T));
    node_id l2 = *c.leader();
    EXPECT_NE(l2, l);
    auto p = c.n(l2).propose(entry_kind::data, payload("two voters"));
    ASSERT_TRUE(c.run_until([&] { return c.n(l2).commit() > *p; }, 3));
    // the removed node no longer campaigns, nor disturbs the others
    term_id t = c.n(l2).term();
    c.run_until([] { return false; }, 5 * T);
    EXPECT_EQ(c.n(l2).term(), t);
    EXPECT_NE(c.n(l).state(), role::candidate);
    EXPECT_FALSE(c.failed()) << c.failure();
}

protocol::uuid disk(uint8_t n) {
    protocol::uuid u;
    u.b[15] = n;
    return u;
}

// KIP-853: a voter is (id, directory id). A voter whose disk is wiped comes back with an empty
// log, no vote record and a new directory id: were it to vote, it could vote twice in a term.
// It catches up as an observer, and votes again only once removed and added back under its
// new directory id.
TEST(raft_node, a_voter_whose_disk_was_wiped_does_not_vote_until_added_back) {
    raft_cluster c(15, opts(4, 3));
    node_id l = elect(c);
    node_id n4(4);
    auto seat = [&](uint8_t d) {
        auto v = raft_cluster::voter_of(n4);
        v.directory_id = disk(d);
        return v;
    };
    auto add = [&](node_id leader, uint8_t d) {
        ASSERT_TRUE(c.n(leader).add_learner(n4).has_value());
        ASSERT_TRUE(c.run_until([&] { return c.at(n4).sm.end == c.n(leader).log_end(); }, 3 * T));
        auto with = c.n(leader).voters();
        with.push_back(seat(d));
        auto at = c.n(leader).propose_voters(with);
        ASSERT_TRUE(at.has_value()) << at.error().message();
        ASSERT_TRUE(c.run_until([&] { return c.n(leader).commit() > *at && c.n(n4).commit() > *at; }, 3 * T));
    };
    c.crash(n4, 1000000);
    c.at(n4).directory_id = disk(1);
    c.restart(n4);
    add(l, 1);
    EXPECT_TRUE(c.n(n4).is_voter());
    EXPECT_FALSE(c.n(n4).seat_lost());

    // Wiped: it restarts empty under another directory id, and learns from the log that its
    // seat names the old one.
    c.crash(n4, 1000000);
    c.at(n4).store = fakes::raft_mem_store{};
    c.at(n4).directory_id = disk(2);
    c.restart(n4);
    auto p = c.n(l).propose(entry_kind::data, payload("after the wipe"));
    ASSERT_TRUE(p.has_value());
    // (The leader had it acknowledged further: its refusals of later appends, from an empty
    // log, tell the leader to send everything again.)
    ASSERT_TRUE(c.run_until([&] { return c.n(n4).seat_lost() && c.at(n4).sm.end == c.n(l).log_end(); }, 3 * T));
    // Cut off from the leader, it never campaigns (not even a pre-vote).
    c.isolate(n4);
    bool campaigned = false;
    c.run_until([&] { return campaigned |= c.n(n4).state() != role::follower; }, 5 * T);
    EXPECT_FALSE(campaigned);
    c.heal();
    // The leader down, the two other voters of four can't win without it: it grants nothing.
    int granted = 0;
    int refused = 0;
    c.drop = [&](const message& m) {
        if (const auto* r = std::get_if<vote_response>(&m.body); r && m.from == n4) {
            (r->granted ? granted : refused)++;
        }
        return false;
    };
    c.crash(l, 1000000);
    c.run_until([] { return false; }, 10 * T);
    EXPECT_FALSE(c.leader().has_value());
    EXPECT_EQ(granted, 0);
    EXPECT_GT(refused, 0);
    c.drop = nullptr;

    // Removed, then added back under its new directory id: a voter again, whose vote elects.
    c.restart(l);
    node_id l2 = elect(c);
    ASSERT_NE(l2, n4);
    voter_set without;
    for (const auto& v : c.n(l2).voters()) {
        if (v.id != n4) {
            without.push_back(v);
        }
    }
    auto removed = c.n(l2).propose_voters(without);
    ASSERT_TRUE(removed.has_value()) << removed.error().message();
    ASSERT_TRUE(c.run_until([&] { return c.n(l2).commit() > *removed; }, 3 * T));
    add(l2, 2);
    EXPECT_FALSE(c.n(n4).seat_lost());
    c.crash(l2, 1000000);
    ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 10 * T));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, leadership_transfer) {
    raft_cluster c(15, opts(3, 3));
    node_id l = elect(c);
    node_id f = followers(c, l).front();
    term_id t = c.n(l).term();
    // the target lags: it catches up first, proposals wait meanwhile
    c.block(l, f);
    (void)c.n(l).propose(entry_kind::data, payload("before"));
    c.settle();
    ASSERT_TRUE(c.n(l).transfer_leadership(f).has_value());
    EXPECT_EQ(c.n(l).propose(entry_kind::data, payload("during")).error(), make_error_code(errc::transfer_pending));
    EXPECT_FALSE(c.n(l).lease_valid());
    c.heal();
    ASSERT_TRUE(c.run_until([&] { return c.n(f).state() == role::leader; }, 2 * T));
    EXPECT_EQ(c.n(f).term(), t + 1);
    ASSERT_TRUE(c.run_until([&] { return c.n(l).leader() == f; }, 3));
    EXPECT_EQ(c.n(l).transfer_leadership(l).error(), make_error_code(errc::not_leader));
    EXPECT_EQ(c.n(f).transfer_leadership(node_id(42)).error(), make_error_code(errc::invalid_argument));
    EXPECT_FALSE(c.failed()) << c.failure();
}

TEST(raft_node, an_unfinished_transfer_gives_proposals_back) {
    raft_cluster c(16, opts(3, 3));
    node_id l = elect(c);
    node_id f = followers(c, l).front();
    c.isolate(f);
    ASSERT_TRUE(c.n(l).transfer_leadership(f).has_value());
    ASSERT_TRUE(c.run_until([&] { return !c.n(l).transfer_in_flight(); }, 2 * T));
    EXPECT_EQ(c.n(l).state(), role::leader);
    EXPECT_TRUE(c.n(l).propose(entry_kind::data, payload("after")).has_value());
}

TEST(raft_node, restart_keeps_term_vote_and_log) {
    raft_cluster c(17, opts(3, 3));
    node_id l = elect(c);
    for (int i = 0; i < 5; ++i) {
        (void)c.n(l).propose(entry_kind::data, payload(cat("e", i)));
    }
    c.settle();
    term_id t = c.n(l).term();
    offset end = c.n(l).log_end();
    for (auto& m : c.members()) {
        c.crash(m.id, 1000000);
    }
    for (auto& m : c.members()) {
        c.restart(m.id);
        EXPECT_EQ(m.n->term(), t);
        EXPECT_EQ(m.n->log_end(), end);
        EXPECT_EQ(m.store.hard.term, t);
    }
    node_id l2 = elect(c);
    EXPECT_GT(c.n(l2).term(), t);
    // every entry is applied again from the start, the same way
    EXPECT_EQ(c.at(l2).sm.end, c.n(l2).log_end());
    EXPECT_FALSE(c.failed()) << c.failure();
}

// A vote given in a term the node already had (its term came earlier, alone) is in the ready
// that carries the answer, and survives a restart: the node never votes twice in a term.
TEST(raft_node, a_vote_is_durable_before_it_is_answered) {
    fakes::raft_mem_store store;
    node_config cfg;
    cfg.id = node_id(1);
    cfg.initial_voters = {raft_cluster::voter_of(node_id(1)), raft_cluster::voter_of(node_id(2)),
                          raft_cluster::voter_of(node_id(3))};
    cfg.election_ticks = T;
    std::vector<message> sent;
    auto drive = [&](node& n) {
        while (n.has_ready()) {
            ready r = n.take_ready();
            if (r.hard) {
                store.hard = *r.hard;
            }
            for (const auto& e : r.entries) {
                store.append(e);
            }
            sent.insert(sent.end(), r.messages.begin(), r.messages.end());
            n.advance();
        }
    };
    auto granted_to = [&](node_id to) {
        for (const auto& m : sent) {
            const auto* v = std::get_if<vote_response>(&m.body);
            if (m.to == to && v && !v->pre_vote && v->granted) {
                return true;
            }
        }
        return false;
    };
    {
        node n(cfg, store, store.hard);
        for (int i = 0; i < T; ++i) {  // past its start-up stickiness
            n.tick();
            drive(n);
        }
        // it learns term 1 alone (a higher term in an answer)...
        n.step(message{node_id(3), node_id(1), append_response{term_id(1), false, offset(0), term_id(0), 0}});
        drive(n);
        EXPECT_EQ(store.hard, (hard_state{term_id(1), node_id(-1)}));
        // ...then votes in it: the vote is written before the answer goes out
        n.step(message{node_id(2), node_id(1), vote_request{term_id(1), offset(0), term_id(0), false, false}});
        ready r = n.take_ready();
        ASSERT_TRUE(r.hard.has_value());
        EXPECT_EQ(*r.hard, (hard_state{term_id(1), node_id(2)}));
        store.hard = *r.hard;
        sent.insert(sent.end(), r.messages.begin(), r.messages.end());
        n.advance();
        EXPECT_TRUE(granted_to(node_id(2)));
    }
    node again(cfg, store, store.hard);
    for (int i = 0; i < T; ++i) {
        again.tick();
        drive(again);
    }
    sent.clear();
    again.step(message{node_id(3), node_id(1), vote_request{term_id(1), offset(0), term_id(0), false, false}});
    drive(again);
    EXPECT_FALSE(granted_to(node_id(3)));
}

TEST(raft_node, malformed_messages_are_dropped) {
    raft_cluster c(18, opts(3, 3));
    node_id l = elect(c);
    node_id f = followers(c, l).front();
    node& n = c.n(f);
    uint64_t before = n.dropped_messages();
    append_request bad{n.term(), n.log_end(), term_id(0), {}, offset(0)};
    bad.prev_term = n.term_at(n.log_end() - 1).value();
    bad.entries.push_back(entry{n.log_end() + 5, 1, n.term(), entry_kind::data, {}});  // a gap
    n.step(message{l, f, bad});
    bad.entries[0].at = n.log_end();
    bad.entries[0].count = 0;
    n.step(message{l, f, bad});
    bad.entries[0].count = 1;
    bad.entries[0].term = n.term() + 1;  // above the message's term
    n.step(message{l, f, bad});
    n.step(message{l, node_id(99), bad});  // not for it
    n.step(message{f, f, bad});            // from itself
    EXPECT_EQ(n.dropped_messages(), before + 5);
    EXPECT_FALSE(c.failed()) << c.failure();
    c.settle();
    EXPECT_EQ(c.n(l).state(), role::leader);
}

TEST(raft_node, voter_sets_round_trip_and_bad_payloads_are_refused) {
    voter_set vs{voter{node_id(1), "a", 1}, voter{node_id(7), "coord-7.example", 9093}};
    auto b = encode_voters(vs);
    auto back = decode_voters(b);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, vs);
    for (size_t n = 0; n < b.size(); ++n) {
        EXPECT_FALSE(decode_voters(bytes_view(b.data(), n)).has_value()) << n;
    }
    auto longer = b;
    longer.push_back(0);
    EXPECT_FALSE(decode_voters(longer).has_value());
    voter_set dup{voter{node_id(2), "a", 1}, voter{node_id(2), "b", 2}};
    EXPECT_FALSE(decode_voters(encode_voters(dup)).has_value());
    bytes huge{0xff, 0xff, 0xff, 0xff};
    EXPECT_FALSE(decode_voters(huge).has_value());
}

TEST(raft_node, snapshot_meta_names_the_voters_in_force) {
    raft_cluster c(19, opts(4, 3));
    node_id l = elect(c);
    offset before = c.n(l).log_end();
    auto vs = c.n(l).voters();
    vs.push_back(raft_cluster::voter_of(node_id(4)));
    ASSERT_TRUE(c.n(l).propose_voters(vs).has_value());
    c.settle();
    auto m1 = c.n(l).snapshot_meta_at(before);
    ASSERT_TRUE(m1.has_value());
    EXPECT_EQ(m1->voters.size(), 3u);
    auto m2 = c.n(l).snapshot_meta_at(c.n(l).applied());
    ASSERT_TRUE(m2.has_value());
    EXPECT_EQ(m2->voters.size(), 4u);
    EXPECT_EQ(m2->term, c.n(l).term());
    EXPECT_FALSE(c.n(l).snapshot_meta_at(c.n(l).applied() + 1).has_value());
}

} // namespace
} // namespace trib::coordinator::raft
