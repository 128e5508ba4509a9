#include "coordinator/client/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace trib::coordinator::balancer {
namespace {

std::vector<node_id> nodes(std::initializer_list<int32_t> ids) {
    std::vector<node_id> v;
    for (auto i : ids) {
        v.push_back(node_id(i));
    }
    return v;
}

// A partition in sync: ISR = replicas, led by the first.
partition in_sync(std::string topic, int32_t index, std::vector<node_id> replicas, int64_t size = 0) {
    partition p{.topic = std::move(topic), .index = partition_id(index), .replicas = replicas,
                .leader = replicas.empty() ? node_id(-1) : replicas[0], .isr = replicas, .size_bytes = size};
    return p;
}

// `count` partitions of `topic`, RF `rf`, placed round-robin over `brokers` (Kafka's layout
// without racks: each partition starts one broker further on).
std::vector<partition> round_robin(const std::string& topic, int count, int rf, const std::vector<int32_t>& brokers,
                                   int64_t size = 0) {
    std::vector<partition> out;
    for (int i = 0; i < count; ++i) {
        std::vector<node_id> r;
        for (int k = 0; k < rf; ++k) {
            r.push_back(node_id(brokers[size_t(i + k) % brokers.size()]));
        }
        out.push_back(in_sync(topic, i, r, size));
    }
    return out;
}

// The replica lists after applying a plan, by topic-partition.
std::map<std::pair<std::string, int32_t>, std::vector<node_id>> after(const input& in, const plan& p) {
    std::map<std::pair<std::string, int32_t>, std::vector<node_id>> out;
    for (const auto& x : in.partitions) {
        out[{x.topic, x.index.value()}] = x.replicas;
    }
    for (const auto& c : p.changes) {
        out[{c.topic, c.index.value()}] = c.new_replicas;
    }
    return out;
}

struct counts {
    std::map<int32_t, int> replicas, leaders;
    std::map<int32_t, int64_t> bytes;
};

counts count_after(const input& in, const plan& p) {
    counts c;
    for (const auto& b : in.brokers) {
        c.replicas[b.id.value()] = 0;
        c.leaders[b.id.value()] = 0;
        c.bytes[b.id.value()] = 0;
    }
    std::map<std::pair<std::string, int32_t>, int64_t> sizes;
    for (const auto& x : in.partitions) {
        sizes[{x.topic, x.index.value()}] = x.size_bytes;
    }
    for (const auto& [tp, replicas] : after(in, p)) {
        for (size_t k = 0; k < replicas.size(); ++k) {
            c.replicas[replicas[k].value()] += 1;
            c.leaders[replicas[k].value()] += k == 0 ? 1 : 0;
            c.bytes[replicas[k].value()] += sizes[tp];
        }
    }
    return c;
}

// max - min of `m` over the brokers that are not leaving.
template<typename V>
int64_t spread(const input& in, const std::map<int32_t, V>& m) {
    V lo = std::numeric_limits<V>::max(), hi = std::numeric_limits<V>::min();
    for (const auto& b : in.brokers) {
        if (!b.leaving) {
            lo = std::min(lo, m.at(b.id.value()));
            hi = std::max(hi, m.at(b.id.value()));
        }
    }
    return int64_t(hi - lo);
}

input cluster(std::vector<int32_t> ids, std::vector<partition> parts) {
    input in;
    for (auto id : ids) {
        in.brokers.push_back({.id = node_id(id)});
    }
    in.partitions = std::move(parts);
    return in;
}

TEST(balancer, two_brokers_join_three_replica_and_leader_counts_even_within_one) {
    std::vector<partition> parts;
    for (std::string t : {"orders", "payments", "clicks", "audit"}) {
        auto v = round_robin(t, 6, 3, {1, 2, 3});
        parts.insert(parts.end(), v.begin(), v.end());
    }
    auto in = cluster({1, 2, 3, 4, 5}, parts);
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_TRUE(p) << why;
    auto c = count_after(in, *p);
    EXPECT_LE(spread(in, c.replicas), 1);
    EXPECT_LE(spread(in, c.leaders), 1);
    EXPECT_TRUE(p->summary.replicas_balanced);
    EXPECT_TRUE(p->summary.leaders_balanced);
    // 72 replicas over 5 brokers: the new ones need 14 each, and only what they receive moves.
    EXPECT_EQ(c.replicas[4] + c.replicas[5], 28);
    EXPECT_EQ(p->summary.replica_moves, 28);
    for (const auto& ch : p->changes) {
        EXPECT_LT(ch.moves, 3) << ch.topic << "-" << ch.index << ": an old replica stays";
    }
}

TEST(balancer, leaving_brokers_lose_everything_and_the_rest_even_out) {
    std::vector<partition> parts = round_robin("orders", 20, 3, {1, 2, 3, 4, 5});
    auto rest = round_robin("logs", 7, 2, {1, 2, 3, 4, 5});
    parts.insert(parts.end(), rest.begin(), rest.end());
    auto in = cluster({1, 2, 3, 4, 5}, parts);
    in.brokers[3].leaving = true;
    in.brokers[4].leaving = true;
    int on_leaving = 0;
    for (const auto& x : in.partitions) {
        on_leaving += int(std::count_if(x.replicas.begin(), x.replicas.end(),
                                        [](node_id b) { return b.value() >= 4; }));
    }
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_TRUE(p) << why;
    auto c = count_after(in, *p);
    EXPECT_EQ(c.replicas[4], 0);
    EXPECT_EQ(c.replicas[5], 0);
    EXPECT_EQ(p->summary.left_on_leaving, 0);
    EXPECT_LE(spread(in, c.replicas), 1);
    EXPECT_LE(spread(in, c.leaders), 1);
    // 74 replicas over 3 brokers is 24/25 each, which the evacuation alone reaches.
    EXPECT_EQ(p->summary.replica_moves, on_leaving);
}

TEST(balancer, racks_keep_each_partition_on_three_racks) {
    // Three brokers, one per rack, hold everything; three more join, one per rack.
    std::vector<partition> parts = round_robin("orders", 12, 3, {1, 2, 3});
    input in;
    const std::map<int32_t, std::string> rack{{1, "a"}, {2, "b"}, {3, "c"}, {4, "a"}, {5, "b"}, {6, "c"}};
    for (auto [id, r] : rack) {
        in.brokers.push_back({.id = node_id(id), .rack = r});
    }
    in.partitions = parts;
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_TRUE(p) << why;
    for (const auto& [tp, replicas] : after(in, *p)) {
        std::set<std::string> racks;
        for (auto b : replicas) {
            racks.insert(rack.at(b.value()));
        }
        EXPECT_EQ(racks.size(), 3u) << tp.first << "-" << tp.second;
    }
    auto c = count_after(in, *p);
    EXPECT_LE(spread(in, c.replicas), 1);
    EXPECT_LE(spread(in, c.leaders), 1);
    EXPECT_EQ(p->summary.replica_moves, 18) << "36 replicas over 6 brokers: the new ones get 6 each";
}

TEST(balancer, racks_limit_the_balance_and_the_summary_says_so) {
    // RF 2 over racks a (broker 1 alone) and b (2, 3, 4): every partition keeps a replica on 1.
    input in;
    in.brokers = {{.id = node_id(1), .rack = "a"}, {.id = node_id(2), .rack = "b"},
                  {.id = node_id(3), .rack = "b"}, {.id = node_id(4), .rack = "b"}};
    for (int i = 0; i < 6; ++i) {
        in.partitions.push_back(in_sync("t", i, nodes({1, 2})));
    }
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_TRUE(p) << why;
    auto c = count_after(in, *p);
    EXPECT_EQ(c.replicas[1], 6) << "broker 1 is the only one in rack a";
    EXPECT_FALSE(p->summary.replicas_balanced);
    EXPECT_EQ(c.replicas[2] + c.replicas[3] + c.replicas[4], 6);
    EXPECT_LE(std::max({c.replicas[2], c.replicas[3], c.replicas[4]}) -
                  std::min({c.replicas[2], c.replicas[3], c.replicas[4]}), 1);
}

TEST(balancer, racks_on_some_brokers_only_are_refused) {
    input in;
    in.brokers = {{.id = node_id(1), .rack = "a"}, {.id = node_id(2)}};
    in.partitions = {in_sync("t", 0, nodes({1, 2}))};
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error(), errc::invalid_input);
    EXPECT_NE(why.find("rack"), std::string::npos) << why;
}

TEST(balancer, a_partition_that_cannot_be_placed_is_refused_by_name) {
    auto in = cluster({1, 2, 3}, round_robin("orders", 3, 3, {1, 2, 3}));
    in.brokers[2].leaving = true;
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error(), errc::cannot_place);
    EXPECT_NE(why.find("orders-0"), std::string::npos) << why;
    EXPECT_NE(why.find("3 replicas"), std::string::npos) << why;
}

TEST(balancer, bad_lists_are_refused) {
    auto in = cluster({1, 2, 3}, {in_sync("t", 0, nodes({1, 1}))});
    std::string why;
    auto p = plan_moves(in, &why);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error(), errc::invalid_input);
    EXPECT_NE(why.find("twice"), std::string::npos) << why;

    auto dup = cluster({1, 1}, {});
    EXPECT_EQ(plan_moves(dup).error(), errc::invalid_input);
}

TEST(balancer, a_balanced_cluster_gets_no_changes) {
    auto in = cluster({1, 2, 3}, round_robin("orders", 9, 3, {1, 2, 3}, 1000));
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->changes.empty());
    EXPECT_EQ(p->summary.replica_moves, 0);
    EXPECT_TRUE(p->summary.replicas_balanced);
    EXPECT_TRUE(p->summary.leaders_balanced);
    EXPECT_TRUE(p->summary.bytes_balanced);

    auto empty = cluster({1, 2}, {});
    auto q = plan_moves(empty);
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->changes.empty());
}

TEST(balancer, leaders_even_out_by_reordering_without_moving_data) {
    // Every partition prefers broker 1.
    auto in = cluster({1, 2, 3}, {});
    for (int i = 0; i < 9; ++i) {
        in.partitions.push_back(in_sync("t", i, nodes({1, 2, 3})));
    }
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->summary.replica_moves, 0);
    auto c = count_after(in, *p);
    EXPECT_EQ(c.leaders[1], 3);
    EXPECT_EQ(c.leaders[2], 3);
    EXPECT_EQ(c.leaders[3], 3);
    EXPECT_EQ(p->changes.size(), 6u) << "only the partitions that change leader are listed";
    for (const auto& ch : p->changes) {
        std::vector<node_id> a = ch.old_replicas, b = ch.new_replicas;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        EXPECT_EQ(a, b);
        // A swap of the first replica with another, not a reshuffle.
        int differ = 0;
        for (size_t k = 0; k < a.size(); ++k) {
            differ += ch.old_replicas[k] != ch.new_replicas[k] ? 1 : 0;
        }
        EXPECT_EQ(differ, 2);
    }
}

TEST(balancer, leaders_move_along_a_chain_when_no_single_swap_helps) {
    // Broker 1 prefers three partitions whose follower is 2; 2 prefers one whose follower is
    // 3. Once 1 and 2 lead two each, 3 (none) can only gain through 2: 1 -> 2 -> 3.
    auto in = cluster({1, 2, 3}, {in_sync("t", 0, nodes({1, 2})), in_sync("t", 1, nodes({1, 2})),
                                  in_sync("t", 2, nodes({1, 2})), in_sync("t", 3, nodes({2, 3}))});
    in.opts.replica_tolerance = 10;  // leaders only
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->summary.replica_moves, 0);
    auto c = count_after(in, *p);
    EXPECT_EQ(c.leaders[1], 1);
    EXPECT_EQ(c.leaders[2], 2);
    EXPECT_EQ(c.leaders[3], 1);
    EXPECT_TRUE(p->summary.leaders_balanced);
}

TEST(balancer, leaders_trade_by_two_data_moves_when_no_reordering_helps) {
    // Brokers 1 and 2 hold single-replica partitions (they lead all they hold); 3 and 4 share
    // theirs with each other only. Counts are even (3 each), leaders 3/3/2/1, and no list can
    // be reordered toward 4: one of 1's partitions goes to 4 and 4 hands a follower to 1.
    auto in = cluster({1, 2, 3, 4}, {in_sync("a", 0, nodes({1})), in_sync("a", 1, nodes({1})),
                                     in_sync("a", 2, nodes({1})), in_sync("b", 0, nodes({2})),
                                     in_sync("b", 1, nodes({2})), in_sync("b", 2, nodes({2})),
                                     in_sync("c", 0, nodes({3, 4})), in_sync("c", 1, nodes({4, 3})),
                                     in_sync("c", 2, nodes({3, 4}))});
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    auto c = count_after(in, *p);
    EXPECT_LE(spread(in, c.leaders), 1);
    EXPECT_LE(spread(in, c.replicas), 0);
    EXPECT_EQ(p->summary.replica_moves, 2);
    EXPECT_TRUE(p->summary.leaders_balanced);
}

TEST(balancer, under_replicated_partitions_are_skipped_and_reported) {
    auto in = cluster({1, 2, 3, 4}, round_robin("orders", 6, 2, {1, 2, 3}));
    in.partitions[0].isr = nodes({1});  // orders-0 on 1, 2: ISR 1 of 2
    in.brokers[0].leaving = true;       // broker 1 leaves
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->skipped.size(), 1u);
    EXPECT_EQ(p->skipped[0].topic, "orders");
    EXPECT_EQ(p->skipped[0].index, partition_id(0));
    EXPECT_NE(p->skipped[0].reason.find("under-replicated"), std::string::npos);
    for (const auto& ch : p->changes) {
        EXPECT_FALSE(ch.topic == "orders" && ch.index == partition_id(0)) << "never touched";
    }
    EXPECT_EQ(p->summary.left_on_leaving, 1) << "its replica on broker 1 stays";
    auto c = count_after(in, *p);
    EXPECT_EQ(c.replicas[1], 1);
}

TEST(balancer, small_partitions_move_first_for_counts) {
    // Broker 1 holds four partitions (sizes 400, 10, 300, 20), broker 2 none: the two small ones go.
    auto in = cluster({1, 2}, {in_sync("t", 0, nodes({1}), 400), in_sync("t", 1, nodes({1}), 10),
                               in_sync("t", 2, nodes({1}), 300), in_sync("t", 3, nodes({1}), 20)});
    in.opts.bytes_tolerance = 100;  // counts only
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->changes.size(), 2u);
    EXPECT_EQ(p->changes[0].index, partition_id(1));
    EXPECT_EQ(p->changes[1].index, partition_id(3));
    EXPECT_EQ(p->summary.bytes_moved, 30);
}

TEST(balancer, bytes_even_out_by_swapping_when_counts_are_even) {
    auto in = cluster({1, 2}, {in_sync("t", 0, nodes({1}), 100), in_sync("t", 1, nodes({1}), 100),
                               in_sync("t", 2, nodes({2}), 1), in_sync("t", 3, nodes({2}), 1)});
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    auto c = count_after(in, *p);
    EXPECT_EQ(c.bytes[1], 101);
    EXPECT_EQ(c.bytes[2], 101);
    EXPECT_EQ(p->summary.replica_moves, 2);
    EXPECT_TRUE(p->summary.bytes_balanced);
    EXPECT_EQ(c.replicas[1], 2);
}

TEST(balancer, max_moves_stops_the_plan_and_says_so) {
    auto in = cluster({1, 2, 3, 4, 5}, round_robin("orders", 24, 3, {1, 2, 3}));
    in.opts.max_moves = 5;
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->summary.replica_moves, 5);
    EXPECT_TRUE(p->summary.move_limit_reached);
    EXPECT_FALSE(p->summary.replicas_balanced);
}

TEST(balancer, partitions_not_movable_count_but_stay) {
    auto in = cluster({1, 2, 3}, round_robin("big", 6, 1, {1}));
    auto other = round_robin("small", 6, 1, {1});
    for (auto& x : other) {
        x.movable = false;
    }
    in.partitions.insert(in.partitions.end(), other.begin(), other.end());
    auto p = plan_moves(in);
    ASSERT_TRUE(p);
    for (const auto& ch : p->changes) {
        EXPECT_EQ(ch.topic, "big");
    }
    auto c = count_after(in, *p);
    EXPECT_EQ(c.replicas[1], 6) << "its own six stay, the movable six leave";
    EXPECT_EQ(c.replicas[2], 3);
    EXPECT_EQ(c.replicas[3], 3);
}

TEST(balancer, the_same_input_gives_the_same_plan) {
    auto in = cluster({1, 2, 3, 4, 5}, round_robin("orders", 30, 3, {1, 2, 3}, 77));
    auto a = plan_moves(in);
    auto b = plan_moves(in);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->changes.size(), b->changes.size());
    for (size_t i = 0; i < a->changes.size(); ++i) {
        EXPECT_EQ(a->changes[i].new_replicas, b->changes[i].new_replicas);
    }
}

// Random clusters: brokers (maybe racks, maybe leaving), partitions of RF 1-3 placed at random,
// some under-replicated, random sizes. Every plan keeps every invariant of balancer.h.
TEST(balancer, random_clusters_keep_every_invariant) {
    int planned = 0, refused = 0;
    for (uint32_t seed = 1; seed <= 400; ++seed) {
        std::mt19937 rng(seed);
        auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
        input in;
        const int n = pick(1, 8);
        const bool racks = pick(0, 2) == 0;
        const int rack_count = pick(1, 3);
        for (int i = 0; i < n; ++i) {
            broker b{.id = node_id(10 + 3 * i), .leaving = pick(0, 4) == 0};
            if (racks) {
                b.rack = std::string(1, char('a' + pick(0, rack_count - 1)));
            }
            in.brokers.push_back(b);
        }
        const bool some_under_replicated = pick(0, 3) == 0;
        const int parts = pick(0, 60);
        for (int i = 0; i < parts; ++i) {
            const int rf = std::min(n, pick(1, 3));
            std::vector<node_id> r;
            for (const auto& b : in.brokers) {
                r.push_back(b.id);
            }
            std::shuffle(r.begin(), r.end(), rng);
            r.resize(size_t(rf));
            const std::string topics[] = {"t0", "t1", "t2", "t3"};
            const auto& topic = topics[pick(0, 3)];
            const int64_t size = pick(0, 3) == 0 ? 0 : pick(1, 1 << 20);
            auto p = in_sync(topic, i, r, size);
            if (some_under_replicated && pick(0, 5) == 0) {
                p.isr.resize(p.isr.size() - 1);
            }
            in.partitions.push_back(p);
        }
        in.opts.bytes_tolerance = pick(0, 1) == 0 ? 0.1 : 0.5;

        SCOPED_TRACE(testing::Message() << "seed " << seed);
        std::map<int32_t, const broker*> by_id;
        int staying = 0;
        std::set<std::string> staying_racks;
        for (const auto& b : in.brokers) {
            by_id[b.id.value()] = &b;
            if (!b.leaving) {
                ++staying;
                staying_racks.insert(b.rack.value_or(""));
            }
        }
        size_t max_rf = 0;
        for (const auto& x : in.partitions) {
            max_rf = std::max(max_rf, x.replicas.size());
        }
        std::string why;
        auto p = plan_moves(in, &why);
        if (max_rf > size_t(staying)) {
            ASSERT_FALSE(p);
            EXPECT_EQ(p.error(), errc::cannot_place);
            ++refused;
            continue;
        }
        ASSERT_TRUE(p) << why;
        ++planned;

        std::map<std::pair<std::string, int32_t>, const partition*> original;
        for (const auto& x : in.partitions) {
            original[{x.topic, x.index.value()}] = &x;
        }
        std::set<std::pair<std::string, int32_t>> skipped;
        for (const auto& s : p->skipped) {
            skipped.insert({s.topic, s.index.value()});
        }
        int32_t moves = 0;
        for (const auto& ch : p->changes) {
            const auto* o = original.at({ch.topic, ch.index.value()});
            EXPECT_EQ(ch.old_replicas, o->replicas);
            EXPECT_NE(ch.new_replicas, ch.old_replicas) << "a change changes something";
            EXPECT_EQ(ch.new_replicas.size(), o->replicas.size()) << "replication factor kept";
            std::set<node_id> distinct(ch.new_replicas.begin(), ch.new_replicas.end());
            EXPECT_EQ(distinct.size(), ch.new_replicas.size()) << "no broker twice";
            EXPECT_GE(o->isr.size(), o->replicas.size()) << "an under-replicated partition changed";
            EXPECT_FALSE(skipped.count({ch.topic, ch.index.value()}));
            int m = 0;
            for (auto b : ch.new_replicas) {
                ASSERT_TRUE(by_id.count(b.value()));
                if (std::find(o->replicas.begin(), o->replicas.end(), b) == o->replicas.end()) {
                    ++m;
                    EXPECT_FALSE(by_id[b.value()]->leaving) << "a leaving broker received a replica";
                }
            }
            EXPECT_EQ(ch.moves, m);
            moves += m;
            if (racks) {
                std::set<std::string> before, after_racks;
                for (auto b : o->replicas) {
                    before.insert(*by_id[b.value()]->rack);
                }
                for (auto b : ch.new_replicas) {
                    after_racks.insert(*by_id[b.value()]->rack);
                }
                const size_t goal = std::min(o->replicas.size(), staying_racks.size());
                EXPECT_GE(after_racks.size(), std::min(goal, before.size())) << "rack spread made worse";
            }
        }
        EXPECT_EQ(p->summary.replica_moves, moves);

        // The summary matches the lists, and leaving brokers keep only what may not move.
        auto c = count_after(in, *p);
        int32_t left = 0;
        for (const auto& l : p->summary.brokers) {
            EXPECT_EQ(l.replicas_after, c.replicas[l.id.value()]);
            EXPECT_EQ(l.leaders_after, c.leaders[l.id.value()]);
            EXPECT_EQ(l.bytes_after, c.bytes[l.id.value()]);
            left += l.leaving ? l.replicas_after : 0;
        }
        EXPECT_EQ(p->summary.left_on_leaving, left);
        int32_t pinned_on_leaving = 0;
        for (const auto& x : in.partitions) {
            if (skipped.count({x.topic, x.index.value()})) {
                for (auto b : x.replicas) {
                    pinned_on_leaving += by_id[b.value()]->leaving ? 1 : 0;
                }
            }
        }
        EXPECT_EQ(left, pinned_on_leaving);

        // Without racks or pinned partitions the counts always even out.
        if (!racks && p->skipped.empty()) {
            EXPECT_LE(spread(in, c.replicas), 1);
            EXPECT_TRUE(p->summary.replicas_balanced);
        }
        if (!racks && p->skipped.empty()) {
            EXPECT_LE(spread(in, c.leaders), 1);
            EXPECT_TRUE(p->summary.leaders_balanced);
        }
        // Planning the result again changes no data: it is balanced already.
        input again = in;
        for (auto& x : again.partitions) {
            if (!skipped.count({x.topic, x.index.value()})) {
                x.replicas = after(in, *p)[{x.topic, x.index.value()}];
                x.isr = x.replicas;
            }
        }
        for (auto& b : again.brokers) {
            b.leaving = false;
        }
        again.brokers.erase(std::remove_if(again.brokers.begin(), again.brokers.end(),
                                           [&](const broker& b) { return by_id[b.id.value()]->leaving && c.replicas[b.id.value()] == 0; }),
                            again.brokers.end());
        if (!racks && p->skipped.empty() && p->summary.bytes_balanced) {
            auto q = plan_moves(again);
            ASSERT_TRUE(q);
            EXPECT_EQ(q->summary.replica_moves, 0);
        }
    }
    EXPECT_GT(planned, 250);
    EXPECT_GT(refused, 10);
}

} // namespace
} // namespace trib::coordinator::balancer
