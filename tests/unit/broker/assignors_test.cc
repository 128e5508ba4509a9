#include "broker/groups/assignors.h"

#include "tests/fakes/assignment_checks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace trib::broker::groups::assign {
namespace {

// Topic ids that sort as their number does.
uuid topic_id(int n) {
    uuid u;
    u.b[0] = 0x10;
    u.b[14] = uint8_t(n >> 8);
    u.b[15] = uint8_t(n);
    return u;
}

const uuid t1 = topic_id(1);
const uuid t2 = topic_id(2);
const uuid t3 = topic_id(3);

// prefix + n (GCC 12 warns, wrongly, about "literal" + std::to_string(n)).
std::string named(const char* prefix, int n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

void add_topic(group_spec& spec, const uuid& id, int32_t partitions) {
    spec.topics[id] = topic_spec{"topic-" + id.to_string(), partitions};
}

member_spec subscriber(std::set<uuid> topics, topic_partitions current = {}) {
    member_spec m;
    m.subscribed = std::move(topics);
    m.current = std::move(current);
    return m;
}

using testing::loads;

void expect_valid(const group_spec& spec, const group_assignment& a) { EXPECT_EQ(testing::invalid(spec, a), ""); }

// Uniform's balance: within one partition when every member subscribes to the same topics
// (expect_within_one); always: no member two above one it could pass a partition to, directly
// or through others.
void expect_balanced(const group_spec& spec, const group_assignment& a) {
    EXPECT_EQ(testing::improvable(spec, a), "");
}

bool homogeneous(const group_spec& spec) {
    for (const auto& [id, m] : spec.members) {
        if (m.subscribed != spec.members.begin()->second.subscribed) {
            return false;
        }
    }
    return true;
}

void expect_within_one(const group_assignment& a) {
    const auto load = loads(a);
    if (load.empty()) {
        return;  // no members: nothing to balance
    }
    auto [lo, hi] = std::minmax_element(load.begin(), load.end(),
                                        [](const auto& x, const auto& y) { return x.second < y.second; });
    EXPECT_LE(hi->second - lo->second, 1);
}

// With the same subscriptions everywhere, as many partitions as possible stay where they are:
// of P partitions over M members each keeps up to P / M, and up to P % M of those holding more
// keep one more.
void expect_fewest_moves(const group_spec& spec, const group_assignment& a) {
    if (spec.members.empty()) {
        return;
    }
    int64_t total = 0;
    for (const auto& [t, topic] : spec.topics) {
        total += spec.members.begin()->second.subscribed.count(t) != 0 ? std::max(topic.partitions, 0) : 0;
    }
    const auto members = int64_t(spec.members.size());
    const int64_t quota = total / members;
    int64_t extra = total % members;
    int64_t best = 0;
    int64_t stayed = 0;
    for (const auto& [id, m] : spec.members) {
        int64_t held = 0;
        for (const auto& [t, ps] : m.current) {
            held += int64_t(ps.size());
            auto it = a.at(id).find(t);
            for (int32_t p : ps) {
                stayed += it != a.at(id).end() && it->second.count(p) != 0 ? 1 : 0;
            }
        }
        best += std::min(held, quota);
        if (held > quota && extra > 0) {
            ++best;
            --extra;
        }
    }
    EXPECT_EQ(stayed, best);
}

// How many partitions changed owner (or were new) between two assignments of the same topics.
int moved(const group_assignment& before, const group_assignment& after) {
    std::map<std::pair<uuid, int32_t>, std::string> owner;
    for (const auto& [member, topics] : before) {
        for (const auto& [t, parts] : topics) {
            for (int32_t p : parts) {
                owner[{t, p}] = member;
            }
        }
    }
    int n = 0;
    for (const auto& [member, topics] : after) {
        for (const auto& [t, parts] : topics) {
            for (int32_t p : parts) {
                auto it = owner.find({t, p});
                n += it == owner.end() || it->second != member ? 1 : 0;
            }
        }
    }
    return n;
}

// The next round's spec: each member's current assignment is its part of `a`.
void carry(group_spec& spec, const group_assignment& a) {
    for (auto& [id, m] : spec.members) {
        auto it = a.find(id);
        m.current = it == a.end() ? topic_partitions{} : it->second;
    }
}

topic_partitions parts(std::initializer_list<std::pair<const uuid, std::set<int32_t>>> l) { return l; }

// --- uniform: exact cases (Kafka's own assignor tests, in this implementation's order) ------

TEST(uniform_assignor, member_without_subscriptions_gets_an_empty_entry) {
    group_spec spec;
    add_topic(spec, t1, 3);
    spec.members["A"] = subscriber({});
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", {}}}));
}

TEST(uniform_assignor, no_members_no_assignment) {
    group_spec spec;
    add_topic(spec, t1, 3);
    EXPECT_TRUE(uniform(spec).empty());
    EXPECT_TRUE(range(spec).empty());
}

TEST(uniform_assignor, more_members_than_partitions_leaves_the_last_empty) {
    group_spec spec;
    add_topic(spec, t3, 2);
    for (const char* m : {"A", "B", "C"}) {
        spec.members[m] = subscriber({t3});
    }
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t3, {0}}})}, {"B", parts({{t3, {1}}})}, {"C", {}}}));
}

TEST(uniform_assignor, first_assignment_fills_members_in_id_order) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t3, 2);
    spec.members["A"] = subscriber({t1, t3});
    spec.members["B"] = subscriber({t1, t3});
    // Five partitions: A gets the extra one; free partitions in (topic id, partition) order.
    EXPECT_EQ(uniform(spec),
              (group_assignment{{"A", parts({{t1, {0, 1, 2}}})}, {"B", parts({{t3, {0, 1}}})}}));
}

TEST(uniform_assignor, unbalanced_previous_assignment_gives_up_its_highest_partition) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t2, 3);
    spec.members["A"] = subscriber({t1, t2}, parts({{t1, {0, 1}}, {t2, {0, 1}}}));
    spec.members["B"] = subscriber({t1, t2}, parts({{t1, {2}}, {t2, {2}}}));
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {0, 1}}, {t2, {0}}})},
                                               {"B", parts({{t1, {2}}, {t2, {1, 2}}})}}));
}

TEST(uniform_assignor, added_partitions_go_to_the_members_below_quota) {
    group_spec spec;
    add_topic(spec, t1, 6);  // was 3
    add_topic(spec, t2, 5);  // was 3
    spec.members["A"] = subscriber({t1, t2}, parts({{t1, {0, 2}}, {t2, {0}}}));
    spec.members["B"] = subscriber({t1, t2}, parts({{t1, {1}}, {t2, {1, 2}}}));
    // Nothing moves; A (first by id) takes the extra partition.
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {0, 2, 3, 4, 5}}, {t2, {0}}})},
                                               {"B", parts({{t1, {1}}, {t2, {1, 2, 3, 4}}})}}));
}

TEST(uniform_assignor, heterogeneous_dropped_subscription_as_kafka) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t2, 5);
    // A no longer subscribes to t2: its t2 partitions go to B, and A takes B's t1 partition.
    spec.members["A"] = subscriber({t1}, parts({{t1, {0, 2}}, {t2, {1, 3}}}));
    spec.members["B"] = subscriber({t1, t2}, parts({{t1, {1}}, {t2, {0, 2, 4}}}));
    EXPECT_EQ(uniform(spec),
              (group_assignment{{"A", parts({{t1, {0, 1, 2}}})}, {"B", parts({{t2, {0, 1, 2, 3, 4}}})}}));
}

TEST(uniform_assignor, heterogeneous_unbalanced_previous_assignment_as_kafka) {
    group_spec spec;
    add_topic(spec, t1, 6);
    add_topic(spec, t2, 4);
    add_topic(spec, t3, 4);
    spec.members["A"] = subscriber({t1}, parts({{t1, {0, 1, 2}}}));
    spec.members["B"] = subscriber({t1, t2}, parts({{t1, {3}}, {t2, {0}}}));
    spec.members["C"] = subscriber({t1, t2, t3}, parts({{t1, {4, 5}}, {t2, {1, 2, 3}}, {t3, {0, 1, 2, 3}}}));
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {0, 1, 2, 5}}})},
                                               {"B", parts({{t1, {3}}, {t2, {0, 1, 2, 3}}})},
                                               {"C", parts({{t1, {4}}, {t3, {0, 1, 2, 3}}})}}));
}

TEST(uniform_assignor, heterogeneous_member_removed_as_kafka) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t2, 8);
    add_topic(spec, t3, 3);
    // C, which held the rest, left.
    spec.members["A"] = subscriber({t1, t3}, parts({{t1, {0, 1, 2}}, {t3, {0, 1}}}));
    spec.members["B"] = subscriber({t2}, parts({{t2, {3, 4, 5, 6}}}));
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {0, 1, 2}}, {t3, {0, 1, 2}}})},
                                               {"B", parts({{t2, {0, 1, 2, 3, 4, 5, 6, 7}}})}}));
}

TEST(uniform_assignor, heterogeneous_member_without_subscriptions) {
    group_spec spec;
    add_topic(spec, t1, 3);
    spec.members["A"] = subscriber({t1});
    spec.members["B"] = subscriber({});
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {0, 1, 2}}})}, {"B", {}}}));
}

// --- uniform: stickiness ---------------------------------------------------------------------

group_spec homogeneous_group(int members, std::initializer_list<std::pair<uuid, int32_t>> topics) {
    group_spec spec;
    std::set<uuid> ids;
    for (const auto& [t, n] : topics) {
        add_topic(spec, t, n);
        ids.insert(t);
    }
    for (int i = 0; i < members; ++i) {
        spec.members[named("member-", i)] = subscriber(ids);
    }
    return spec;
}

TEST(uniform_assignor, joining_member_takes_only_its_share) {
    group_spec spec = homogeneous_group(3, {{t1, 6}, {t2, 6}});
    const group_assignment before = uniform(spec);
    carry(spec, before);
    spec.members["member-3"] = subscriber({t1, t2});
    const group_assignment after = uniform(spec);
    expect_valid(spec, after);
    expect_within_one(after);
    EXPECT_EQ(loads(after).at("member-3"), 3);
    EXPECT_EQ(moved(before, after), 3);  // only what the new member gets
    for (const auto& [member, topics] : after) {
        if (member != "member-3") {
            for (const auto& [t, ps] : topics) {
                for (int32_t p : ps) {
                    EXPECT_EQ(before.at(member).at(t).count(p), 1U) << member << " gained a partition";
                }
            }
        }
    }
}

TEST(uniform_assignor, joining_member_first_by_id_leaves_the_extras_where_they_are) {
    // B holds one more than C and D; A joins. Seven partitions over four: 2, 2, 2, 1. The
    // extra ones stay with the members holding more, so only one partition moves (Kafka hands
    // the extras out in member order, and would move two here).
    group_spec spec;
    add_topic(spec, t1, 7);
    spec.members["B"] = subscriber({t1}, parts({{t1, {0, 1, 2}}}));
    spec.members["C"] = subscriber({t1}, parts({{t1, {3, 4}}}));
    spec.members["D"] = subscriber({t1}, parts({{t1, {5, 6}}}));
    spec.members["A"] = subscriber({t1});
    EXPECT_EQ(uniform(spec), (group_assignment{{"A", parts({{t1, {2}}})},
                                               {"B", parts({{t1, {0, 1}}})},
                                               {"C", parts({{t1, {3, 4}}})},
                                               {"D", parts({{t1, {5, 6}}})}}));
}

TEST(uniform_assignor, leaving_member_moves_only_its_partitions) {
    group_spec spec = homogeneous_group(4, {{t1, 7}, {t2, 6}});
    const group_assignment before = uniform(spec);
    carry(spec, before);
    const int left = loads(before).at("member-1");
    spec.members.erase("member-1");
    const group_assignment after = uniform(spec);
    expect_valid(spec, after);
    expect_within_one(after);
    EXPECT_EQ(moved(before, after), left);
    for (const auto& [member, topics] : before) {
        if (member != "member-1") {
            for (const auto& [t, ps] : topics) {
                for (int32_t p : ps) {
                    EXPECT_EQ(after.at(member).at(t).count(p), 1U) << member << " lost a partition";
                }
            }
        }
    }
}

TEST(uniform_assignor, leaving_members_keep_others_sticky_over_many_rounds) {
    // Members leave one by one (the extra partitions of the next round must go to the members
    // already holding one more, or partitions would move between stayers).
    group_spec spec = homogeneous_group(9, {{t1, 10}, {t2, 7}, {t3, 3}});
    group_assignment before = uniform(spec);
    while (spec.members.size() > 1) {
        carry(spec, before);
        const std::string gone = spec.members.begin()->first;
        const int left = loads(before).at(gone);
        spec.members.erase(spec.members.begin());
        const group_assignment after = uniform(spec);
        expect_valid(spec, after);
        expect_within_one(after);
        EXPECT_EQ(moved(before, after), left) << "after " << gone << " left";
        before = after;
    }
}

TEST(uniform_assignor, grown_topic_moves_nothing_already_assigned) {
    group_spec spec = homogeneous_group(3, {{t1, 6}});
    const group_assignment before = uniform(spec);
    carry(spec, before);
    spec.topics[t1].partitions = 9;
    const group_assignment after = uniform(spec);
    expect_valid(spec, after);
    expect_within_one(after);
    EXPECT_EQ(moved(before, after), 3);  // the three new partitions, nothing else
    for (const auto& [member, n] : loads(after)) {
        EXPECT_EQ(n, 3) << member;
    }
}

TEST(uniform_assignor, dropped_subscription_moves_what_balance_needs) {
    group_spec spec = homogeneous_group(3, {{t1, 6}, {t2, 6}});
    const group_assignment before = uniform(spec);
    ASSERT_EQ(before.at("member-1"), parts({{t1, {4, 5}}, {t2, {0, 1}}}));
    carry(spec, before);
    spec.members["member-1"].subscribed = {t1};
    const group_assignment after = uniform(spec);
    expect_valid(spec, after);
    expect_balanced(spec, after);
    // member-1's t2 partitions go to the others and it keeps its t1 partitions. Kafka's
    // heterogeneous builder stops at 4, 3, 5 here (member-2 holds only t2, and member-1 does
    // not subscribe to it); the chain member-2 -> member-0 (a t2 partition) -> member-1 (a t1
    // partition) makes it 4, 4, 4. The partition member-2 passes on is the t2 partition it was
    // just given (free, so moving it costs nothing), so only the 4 partitions that must move do.
    expect_within_one(after);
    EXPECT_EQ(after, (group_assignment{{"member-0", parts({{t1, {0, 1}}, {t2, {0, 1}}})},
                                       {"member-1", parts({{t1, {2, 3, 4, 5}}})},
                                       {"member-2", parts({{t2, {2, 3, 4, 5}}})}}));
    EXPECT_EQ(moved(before, after), 4);
}

TEST(uniform_assignor, added_subscription_takes_a_share) {
    group_spec spec;
    add_topic(spec, t1, 6);
    add_topic(spec, t2, 6);
    spec.members["A"] = subscriber({t1});
    spec.members["B"] = subscriber({t1, t2});
    spec.members["C"] = subscriber({t2});
    const group_assignment before = uniform(spec);
    expect_valid(spec, before);
    expect_balanced(spec, before);
    expect_within_one(before);
    carry(spec, before);
    spec.members["A"].subscribed = {t1, t2};
    const group_assignment after = uniform(spec);
    expect_valid(spec, after);
    expect_balanced(spec, after);
    EXPECT_EQ(moved(before, after), 0);  // already 4 each: nothing to gain by moving
}

// --- uniform and range: input the coordinator should not send --------------------------------

TEST(assignors, tolerate_inconsistent_input) {
    group_spec spec;
    add_topic(spec, t1, 4);
    add_topic(spec, t2, -3);  // read as no partitions
    spec.members["A"] = subscriber({t1, t2, t3},  // t3: not in topics
                                   parts({{t1, {0, 1, -1, 7}}, {t3, {0}}}));
    spec.members["B"] = subscriber({t1}, parts({{t1, {1, 2, 3}}, {t2, {0}}}));  // 1 also held by A
    for (const auto& a : {uniform(spec), range(spec)}) {
        expect_valid(spec, a);
    }
    const group_assignment u = uniform(spec);
    expect_within_one(u);
    EXPECT_EQ(u.at("A").at(t1), (std::set<int32_t>{0, 1}));  // A, first by id, keeps 1
    EXPECT_EQ(u.at("B").at(t1), (std::set<int32_t>{2, 3}));
}

TEST(assignors, by_name) {
    group_spec spec = homogeneous_group(2, {{t1, 4}});
    EXPECT_TRUE(known_assignor("uniform"));
    EXPECT_TRUE(known_assignor("range"));
    EXPECT_FALSE(known_assignor("sticky"));
    EXPECT_FALSE(known_assignor(""));
    EXPECT_EQ(assign_with("uniform", spec), uniform(spec));
    EXPECT_EQ(assign_with("range", spec), range(spec));
    EXPECT_EQ(assign_with("Range", spec), std::nullopt);
}

// --- uniform and range: random groups ---------------------------------------------------------

// A random group: up to 40 members, up to 12 topics, either every member subscribed to the
// same topics or each to a random subset; current assignments from a previous round with some
// members gone, some new, and some noise.
group_spec random_group(std::mt19937& rng, bool same_subscriptions) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    group_spec spec;
    const int topics = pick(1, 12);
    for (int t = 0; t < topics; ++t) {
        add_topic(spec, topic_id(t), pick(0, 40));
    }
    std::set<uuid> all;
    for (const auto& [t, ts] : spec.topics) {
        all.insert(t);
    }
    const int members = pick(1, 40);
    for (int m = 0; m < members; ++m) {
        std::set<uuid> subs;
        if (same_subscriptions) {
            subs = all;
        } else {
            for (const uuid& t : all) {
                if (pick(0, 2) == 0) {
                    subs.insert(t);
                }
            }
        }
        spec.members[named("m", pick(0, 999))] = subscriber(subs);
    }
    return spec;
}

void shake(std::mt19937& rng, group_spec& spec, const group_assignment& previous) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    carry(spec, previous);
    // Some members leave, some join with the first member's subscriptions.
    for (int i = pick(0, 3); i > 0 && !spec.members.empty(); --i) {
        auto it = spec.members.begin();
        std::advance(it, pick(0, int(spec.members.size()) - 1));
        spec.members.erase(it);
    }
    const std::set<uuid> subs = spec.members.empty() ? std::set<uuid>{} : spec.members.begin()->second.subscribed;
    for (int i = pick(0, 3); i > 0; --i) {
        spec.members[named("n", pick(0, 999))] = subscriber(subs);
    }
    // Topics grow.
    for (auto& [t, ts] : spec.topics) {
        if (pick(0, 3) == 0) {
            ts.partitions += pick(1, 5);
        }
    }
}

TEST(uniform_assignor, random_groups_valid_balanced_deterministic) {
    std::mt19937 rng(20261202);
    for (int round = 0; round < 400; ++round) {
        const bool same = round % 2 == 0;
        group_spec spec = random_group(rng, same);
        const group_assignment first = uniform(spec);
        expect_valid(spec, first);
        expect_balanced(spec, first);
        shake(rng, spec, first);
        const group_assignment second = uniform(spec);
        expect_valid(spec, second);
        expect_balanced(spec, second);
        if (homogeneous(spec)) {
            expect_within_one(second);
            expect_fewest_moves(spec, second);
        }
        EXPECT_EQ(uniform(spec), second);
        if (::testing::Test::HasFailure()) {
            FAIL() << "round " << round;
        }
    }
}

TEST(uniform_assignor, large_group) {
    // 500 members, 200 topics, 10000 partitions, overlapping subscriptions, then 50 leave and
    // 50 join: still valid and balanced (bench/ has the time it takes).
    group_spec spec;
    for (int t = 0; t < 200; ++t) {
        add_topic(spec, topic_id(t), 50);
    }
    for (int m = 0; m < 500; ++m) {
        std::set<uuid> subs;
        for (int t = 0; t < 200; ++t) {
            if ((t + m) % 3 != 0) {
                subs.insert(topic_id(t));
            }
        }
        spec.members[named("member-", 1000 + m)] = subscriber(subs);
    }
    const group_assignment first = uniform(spec);
    expect_valid(spec, first);
    expect_balanced(spec, first);
    carry(spec, first);
    for (int m = 0; m < 50; ++m) {
        spec.members.erase(named("member-", 1000 + m * 7));
        spec.members[named("joined-", m)] = subscriber(spec.members.begin()->second.subscribed);
    }
    const group_assignment second = uniform(spec);
    expect_valid(spec, second);
    expect_balanced(spec, second);
}

// --- range ------------------------------------------------------------------------------------

TEST(range_assignor, co_partitioned_topics_give_each_member_the_same_partitions) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t3, 3);
    spec.members["A"] = subscriber({t1, t3});
    spec.members["B"] = subscriber({t1, t3});
    EXPECT_EQ(range(spec), (group_assignment{{"A", parts({{t1, {0, 1}}, {t3, {0, 1}}})},
                                             {"B", parts({{t1, {2}}, {t3, {2}}})}}));
}

TEST(range_assignor, different_subscriptions_as_kafka) {
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t2, 3);
    add_topic(spec, t3, 2);
    spec.members["A"] = subscriber({t1, t2});
    spec.members["B"] = subscriber({t3});
    spec.members["C"] = subscriber({t2, t3});
    EXPECT_EQ(range(spec), (group_assignment{{"A", parts({{t1, {0, 1, 2}}, {t2, {0, 1}}})},
                                             {"B", parts({{t3, {0}}})},
                                             {"C", parts({{t2, {2}}, {t3, {1}}})}}));
}

TEST(range_assignor, more_members_than_partitions) {
    group_spec spec;
    add_topic(spec, t1, 2);
    add_topic(spec, t3, 2);
    for (const char* m : {"A", "B", "C"}) {
        spec.members[m] = subscriber({t1, t3});
    }
    EXPECT_EQ(range(spec), (group_assignment{{"A", parts({{t1, {0}}, {t3, {0}}})},
                                             {"B", parts({{t1, {1}}, {t3, {1}}})},
                                             {"C", {}}}));
}

TEST(range_assignor, not_sticky_as_kafka_4) {
    // Kafka 4.x's range assignor ignores the current assignment: after changed subscriptions
    // the ranges are recomputed from scratch.
    group_spec spec;
    add_topic(spec, t1, 3);
    add_topic(spec, t2, 3);
    add_topic(spec, t3, 2);
    spec.members["A"] = subscriber({t1}, parts({{t1, {0, 1, 2}}, {t2, {0}}}));
    spec.members["B"] = subscriber({t1, t2, t3}, parts({{t2, {1}}}));
    spec.members["C"] = subscriber({t2}, parts({{t2, {2}}, {t3, {0, 1}}}));
    EXPECT_EQ(range(spec), (group_assignment{{"A", parts({{t1, {0, 1}}})},
                                             {"B", parts({{t1, {2}}, {t2, {0, 1}}, {t3, {0, 1}}})},
                                             {"C", parts({{t2, {2}}})}}));
}

TEST(range_assignor, static_members_first_by_instance_id) {
    group_spec spec;
    add_topic(spec, t1, 5);
    spec.members["A"] = subscriber({t1});
    spec.members["A"].instance_id = "instance-a";
    spec.members["B"] = subscriber({t1});  // dynamic: after the static ones
    spec.members["C"] = subscriber({t1});
    spec.members["C"].instance_id = "instance-c";
    const group_assignment first = range(spec);
    EXPECT_EQ(first, (group_assignment{{"A", parts({{t1, {0, 1}}})},
                                       {"B", parts({{t1, {4}}})},
                                       {"C", parts({{t1, {2, 3}}})}}));
    // A comes back with another member id and the same instance id: same partitions.
    spec.members["Z"] = spec.members["A"];
    spec.members.erase("A");
    const group_assignment again = range(spec);
    EXPECT_EQ(again.at("Z"), first.at("A"));
    EXPECT_EQ(again.at("B"), first.at("B"));
    EXPECT_EQ(again.at("C"), first.at("C"));
}

TEST(range_assignor, random_groups_valid_and_ranged) {
    std::mt19937 rng(1302);
    for (int round = 0; round < 300; ++round) {
        group_spec spec = random_group(rng, round % 2 == 0);
        const group_assignment a = range(spec);
        expect_valid(spec, a);
        for (const auto& [t, topic] : spec.topics) {
            // Each subscriber's partitions are one run; runs differ in length by at most one,
            // longer ones first, in member id order (no static members here).
            int32_t next = 0;
            int32_t last_len = -1;
            for (const auto& [id, m] : spec.members) {
                if (m.subscribed.count(t) == 0) {
                    continue;
                }
                auto it = a.at(id).find(t);
                const int32_t len = it == a.at(id).end() ? 0 : int32_t(it->second.size());
                if (len > 0) {
                    EXPECT_EQ(*it->second.begin(), next);
                    EXPECT_EQ(*it->second.rbegin(), next + len - 1);
                }
                if (last_len >= 0) {
                    EXPECT_TRUE(len == last_len || len + 1 == last_len) << topic.name;
                }
                last_len = len;
                next += len;
            }
        }
        if (::testing::Test::HasFailure()) {
            FAIL() << "round " << round;
        }
    }
}

} // namespace
} // namespace trib::broker::groups::assign
