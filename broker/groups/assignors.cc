#include "broker/groups/assignors.h"

#include <algorithm>
#include <utility>
#include <vector>

// How the uniform assignor works, in Kafka 4.x's two cases (UniformHomogeneousAssignmentBuilder
// and UniformHeterogeneousAssignmentBuilder):
//
// Both first keep, for every member in member id order, its current partitions of topics it
// still subscribes to (a partition claimed twice stays with the first member id; partitions
// of unknown topics or past the topic's count are dropped).
//
// Homogeneous (every member subscribes to the same topics): P partitions over M members, so
// each gets P / M and P % M of them one more. Kafka hands the extra ones out in iteration
// order; here they go to the members that keep the most partitions (then by member id), which
// moves the fewest partitions: a joining member takes only its share, a leaving member's
// partitions are the only ones to move. A member over its quota gives up its highest
// partitions (by topic id, then partition); the free partitions, in (topic id, partition)
// order, fill the members below quota in member id order.
//
// Heterogeneous: the free partitions go, topic by topic (most partitions per subscriber first, then
// fewest subscribers, then topic id), each to the subscriber with the fewest partitions overall.
// Then balancing rounds: for each topic with two or more subscribers, while a subscriber holding
// one of its partitions has at least two more partitions than its least loaded subscriber, that
// subscriber's highest partition of the topic moves to the least loaded one (a partition it did not
// keep from its current assignment first: moving that costs its client nothing). Rounds repeat
// until one moves nothing (at most max_balance_rounds). Within a topic's turn a partition moves at
// most once, so a round moves at most P partitions. This is where Kafka stops, and overlapping
// subscriptions can leave members two or more apart when only a chain of moves through other
// members would even them out; here a last phase finds such chains (balance_chains), so no member
// ends two above one it could pass partitions to, directly or through others.
//
// Not done (Kafka 4.4's assignors ignore racks too): rack-aware placement; member_spec::rack_id
// is taken and unused.

namespace trib::broker::groups::assign {

namespace {

// Kafka stops after 16; each round is cheap here and more rounds only improve the balance of
// overlapping subscriptions, so allow more before giving up.
constexpr int max_balance_rounds = 64;

struct topic_state {
    uuid id;
    int32_t partitions = 0;
    std::vector<int> subscribers;  // member indexes, ascending
    std::vector<int> owner;        // per partition: member index, or -1 while unassigned
    std::vector<int> kept_by;      // per partition: the member that kept it from its current
                                   // assignment, or -1 (moving it costs a client nothing)

    // A partition of member m's to move: one it did not keep if it has one (the highest),
    // else its highest. m holds one.
    int32_t cheapest_to_move(int m) const {
        int32_t fallback = -1;
        for (int32_t p = partitions - 1; p >= 0; --p) {
            if (owner[size_t(p)] == m) {
                if (kept_by[size_t(p)] != m) {
                    return p;
                }
                fallback = fallback < 0 ? p : fallback;
            }
        }
        return fallback;
    }
};

// The group as indexes: members in member id order, the subscribed topics that exist in topic
// id order, each with its subscribers and the owner of each partition.
class model {
public:
    explicit model(const group_spec& spec) {
        for (const auto& [id, m] : spec.members) {
            member_ids_.push_back(&id);
            members_.push_back(&m);
        }
        load_.assign(members_.size(), 0);
        std::map<uuid, std::vector<int>> subscribers;
        for (int m = 0; m < int(members_.size()); ++m) {
            for (const uuid& t : members_[m]->subscribed) {
                if (spec.topics.count(t) != 0) {
                    subscribers[t].push_back(m);
                }
            }
        }
        for (auto& [t, subs] : subscribers) {
            topic_state ts;
            ts.id = t;
            ts.partitions = std::max<int32_t>(0, spec.topics.at(t).partitions);
            ts.subscribers = std::move(subs);
            ts.owner.assign(size_t(ts.partitions), -1);
            ts.kept_by.assign(size_t(ts.partitions), -1);
            topic_index_.emplace(t, int(topics_.size()));
            topics_.push_back(std::move(ts));
        }
    }

    size_t member_count() const { return members_.size(); }
    std::vector<topic_state>& topics() { return topics_; }
    std::vector<int>& load() { return load_; }

    // Whether every member subscribes to the same existing topics.
    bool homogeneous() const {
        for (const topic_state& t : topics_) {
            if (t.subscribers.size() != members_.size()) {
                return false;
            }
        }
        return true;
    }

    // Keeps each member's current partitions of the topics it subscribes to, first member id
    // first. Returns, per member, what it kept as (topic index, partition), ascending.
    std::vector<std::vector<std::pair<int, int32_t>>> keep_current() {
        std::vector<std::vector<std::pair<int, int32_t>>> kept(members_.size());
        for (int m = 0; m < int(members_.size()); ++m) {
            for (const auto& [t, parts] : members_[m]->current) {
                auto it = topic_index_.find(t);
                if (it == topic_index_.end() || members_[m]->subscribed.count(t) == 0) {
                    continue;
                }
                topic_state& ts = topics_[size_t(it->second)];
                for (int32_t p : parts) {
                    if (p >= 0 && p < ts.partitions && ts.owner[size_t(p)] == -1) {
                        ts.owner[size_t(p)] = m;
                        ts.kept_by[size_t(p)] = m;
                        ++load_[size_t(m)];
                        kept[size_t(m)].emplace_back(it->second, p);
                    }
                }
            }
        }
        return kept;
    }

    void give(topic_state& t, int32_t p, int m) {
        int& owner = t.owner[size_t(p)];
        if (owner >= 0) {
            --load_[size_t(owner)];
        }
        owner = m;
        if (m >= 0) {
            ++load_[size_t(m)];
        }
    }

    group_assignment result() const {
        group_assignment out;
        std::vector<topic_partitions*> by_index;
        for (const std::string* id : member_ids_) {
            by_index.push_back(&out[*id]);
        }
        for (const topic_state& t : topics_) {
            for (int32_t p = 0; p < t.partitions; ++p) {
                const int m = t.owner[size_t(p)];
                if (m >= 0) {
                    auto& parts = (*by_index[size_t(m)])[t.id];
                    parts.emplace_hint(parts.end(), p);
                }
            }
        }
        return out;
    }

private:
    std::vector<const std::string*> member_ids_;
    std::vector<const member_spec*> members_;
    std::vector<topic_state> topics_;
    std::map<uuid, int> topic_index_;
    std::vector<int> load_;  // partitions owned, per member
};

void uniform_homogeneous(model& g) {
    auto kept = g.keep_current();
    std::vector<int>& load = g.load();
    const auto members = int(g.member_count());
    int64_t total = 0;
    for (const topic_state& t : g.topics()) {
        total += t.partitions;
    }
    const auto min_quota = int(total / members);
    const auto extra = int(total % members);

    // The extra partitions to the members keeping the most, so the fewest move.
    std::vector<int> order(size_t(members), 0);
    for (int m = 0; m < members; ++m) {
        order[size_t(m)] = m;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return load[size_t(a)] > load[size_t(b)]; });
    std::vector<int> quota(size_t(members), min_quota);
    for (int i = 0; i < extra; ++i) {
        ++quota[size_t(order[size_t(i)])];
    }

    for (int m = 0; m < members; ++m) {
        auto& mine = kept[size_t(m)];
        while (load[size_t(m)] > quota[size_t(m)]) {
            const auto [t, p] = mine.back();
            mine.pop_back();
            g.give(g.topics()[size_t(t)], p, -1);
        }
    }

    int m = 0;
    for (topic_state& t : g.topics()) {
        for (int32_t p = 0; p < t.partitions; ++p) {
            if (t.owner[size_t(p)] != -1) {
                continue;
            }
            while (load[size_t(m)] >= quota[size_t(m)]) {
                ++m;  // the quotas add up to the partitions, so some member below follows
            }
            g.give(t, p, m);
        }
    }
}

// Topics in the order Kafka fills and balances them: most partitions per subscriber first,
// then fewest subscribers, then topic id.
std::vector<int> heterogeneous_topic_order(const std::vector<topic_state>& topics) {
    std::vector<int> order;
    for (int i = 0; i < int(topics.size()); ++i) {
        order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        const topic_state& x = topics[size_t(a)];
        const topic_state& y = topics[size_t(b)];
        const auto xs = int64_t(x.subscribers.size());
        const auto ys = int64_t(y.subscribers.size());
        const int64_t lhs = int64_t(x.partitions) * ys;
        const int64_t rhs = int64_t(y.partitions) * xs;
        if (lhs != rhs) {
            return lhs > rhs;
        }
        if (xs != ys) {
            return xs < ys;
        }
        return x.id < y.id;
    });
    return order;
}

// Moves partitions of one topic from its most loaded holders to its least loaded subscribers
// until no holder has two more than the least loaded subscriber. Returns how many moved.
int balance_topic(model& g, topic_state& t) {
    std::vector<int>& load = g.load();
    int lo = load[size_t(t.subscribers.front())];
    int hi = lo;
    for (int m : t.subscribers) {
        lo = std::min(lo, load[size_t(m)]);
        hi = std::max(hi, load[size_t(m)]);
    }
    if (hi - lo <= 1) {
        return 0;
    }
    // member -> its partitions of t, the ones it kept first, each part ascending: the last is
    // the one to move first (a partition it did not keep moves at no cost to its client).
    std::map<int, std::vector<int32_t>> held;
    for (bool kept : {true, false}) {
        for (int32_t p = 0; p < t.partitions; ++p) {
            const int m = t.owner[size_t(p)];
            if (m >= 0 && (t.kept_by[size_t(p)] == m) == kept) {
                held[m].push_back(p);
            }
        }
    }
    // Receivers: every subscriber, least loaded first. Donors: holders, most loaded first.
    std::set<std::pair<int, int>> receivers;
    std::set<std::pair<int, int>> donors;
    for (int m : t.subscribers) {
        receivers.emplace(load[size_t(m)], m);
        if (held.count(m) != 0) {
            donors.emplace(-load[size_t(m)], m);
        }
    }
    int moved = 0;
    while (!donors.empty()) {
        const int from = donors.begin()->second;
        const int to = receivers.begin()->second;
        if (load[size_t(from)] < load[size_t(to)] + 2) {
            break;
        }
        for (int m : {from, to}) {
            receivers.erase({load[size_t(m)], m});
            donors.erase({-load[size_t(m)], m});
        }
        std::vector<int32_t>& given = held[from];
        const int32_t p = given.back();
        given.pop_back();
        held[to].push_back(p);
        g.give(t, p, to);
        ++moved;
        for (int m : {from, to}) {
            receivers.emplace(load[size_t(m)], m);
            if (!held[m].empty()) {
                donors.emplace(-load[size_t(m)], m);
            }
        }
    }
    return moved;
}

// After the per-topic rounds a member can still hold two more partitions than one it reaches
// only through others: x holds a partition of topic U, to which y subscribes, and y holds one
// of W, to which z subscribes. Moving along such a chain (x gives a U partition to y, y a W
// partition to z) changes only the counts at its ends. Searched breadth first (shortest chain,
// fewest moves) from each member holding two more than the least loaded one, most loaded
// first, until a whole pass finds no chain, or the work budget is spent. With no chain left,
// no partition move or sequence of moves can lower a member's count without raising another's
// to the same count or more: as balanced as the subscriptions allow.
constexpr int64_t chain_search_budget = 20'000'000;  // subscriber visits over all searches

void balance_chains(model& g) {
    std::vector<topic_state>& topics = g.topics();
    std::vector<int>& load = g.load();
    const auto members = g.member_count();
    std::vector<std::map<int, int>> holds(members);  // member -> topic index -> partitions held
    for (size_t i = 0; i < topics.size(); ++i) {
        for (int m : topics[i].owner) {
            if (m >= 0) {
                ++holds[size_t(m)][int(i)];
            }
        }
    }
    std::vector<int> reached_by(members, -1);  // the search that reached a member
    std::vector<int> expanded_by(topics.size(), -1);
    std::vector<std::pair<int, int>> parent(members);  // (member, topic) a member was reached from
    std::vector<int> queue;
    std::vector<int> sources;
    int search = 0;
    int64_t budget = chain_search_budget;
    bool improved = true;
    while (improved && budget > 0) {
        improved = false;
        sources.clear();
        for (int m = 0; m < int(members); ++m) {
            sources.push_back(m);
        }
        std::stable_sort(sources.begin(), sources.end(),
                         [&](int a, int b) { return load[size_t(a)] > load[size_t(b)]; });
        budget -= int64_t(members);
        int least = *std::min_element(load.begin(), load.end());
        for (int u : sources) {
            if (load[size_t(u)] < least + 2 || budget <= 0) {
                continue;
            }
            ++search;
            queue.assign(1, u);
            reached_by[size_t(u)] = search;
            int found = -1;
            for (size_t next = 0; next < queue.size() && found < 0; ++next) {
                const int x = queue[next];
                for (const auto& [ti, count] : holds[size_t(x)]) {
                    --budget;
                    if (expanded_by[size_t(ti)] == search) {
                        continue;  // its subscribers are reached already
                    }
                    expanded_by[size_t(ti)] = search;
                    for (int y : topics[size_t(ti)].subscribers) {
                        --budget;
                        if (reached_by[size_t(y)] == search) {
                            continue;
                        }
                        reached_by[size_t(y)] = search;
                        parent[size_t(y)] = {x, ti};
                        if (load[size_t(y)] + 2 <= load[size_t(u)]) {
                            found = y;
                            break;
                        }
                        queue.push_back(y);
                    }
                    if (found >= 0) {
                        break;
                    }
                }
            }
            if (found < 0) {
                continue;
            }
            for (int y = found; y != u;) {
                const auto [x, ti] = parent[size_t(y)];
                topic_state& t = topics[size_t(ti)];
                g.give(t, t.cheapest_to_move(x), y);  // x holds one: the topic was expanded from x
                if (--holds[size_t(x)][ti] == 0) {
                    holds[size_t(x)].erase(ti);
                }
                ++holds[size_t(y)][ti];
                y = x;
            }
            improved = true;
            least = *std::min_element(load.begin(), load.end());
            budget -= int64_t(members) + int64_t(queue.size());
        }
    }
}

void uniform_heterogeneous(model& g) {
    g.keep_current();
    std::vector<int>& load = g.load();
    const std::vector<int> order = heterogeneous_topic_order(g.topics());
    for (int i : order) {
        topic_state& t = g.topics()[size_t(i)];
        std::set<std::pair<int, int>> least;  // (load, member) of the topic's subscribers
        for (int m : t.subscribers) {
            least.emplace(load[size_t(m)], m);
        }
        for (int32_t p = 0; p < t.partitions; ++p) {
            if (t.owner[size_t(p)] != -1) {
                continue;
            }
            const int m = least.begin()->second;
            least.erase(least.begin());
            g.give(t, p, m);
            least.emplace(load[size_t(m)], m);
        }
    }
    for (int round = 0; round < max_balance_rounds; ++round) {
        int moved = 0;
        for (int i : order) {
            topic_state& t = g.topics()[size_t(i)];
            if (t.subscribers.size() >= 2) {
                moved += balance_topic(g, t);
            }
        }
        if (moved == 0) {
            break;
        }
    }
    balance_chains(g);
}

} // namespace

group_assignment uniform(const group_spec& spec) {
    if (spec.members.empty()) {
        return {};
    }
    model g(spec);
    if (g.homogeneous()) {
        uniform_homogeneous(g);
    } else {
        uniform_heterogeneous(g);
    }
    return g.result();
}

group_assignment range(const group_spec& spec) {
    // Static members first, by instance id, then the others by member id (Kafka 4.x's order,
    // with equal instance ids told apart by member id so the result never depends on input
    // order).
    std::vector<const std::pair<const std::string, member_spec>*> order;
    group_assignment out;
    for (const auto& entry : spec.members) {
        order.push_back(&entry);
        out[entry.first];
    }
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        const auto& ia = a->second.instance_id;
        const auto& ib = b->second.instance_id;
        if (ia.has_value() != ib.has_value()) {
            return ia.has_value();
        }
        return ia.has_value() && *ia < *ib;
    });
    for (const auto& [topic, ts] : spec.topics) {
        std::vector<std::string_view> subscribers;
        for (const auto* m : order) {
            if (m->second.subscribed.count(topic) != 0) {
                subscribers.push_back(m->first);
            }
        }
        if (subscribers.empty() || ts.partitions <= 0) {
            continue;
        }
        const auto n = int32_t(subscribers.size());
        const int32_t quota = ts.partitions / n;
        const int32_t extra = ts.partitions % n;
        int32_t next = 0;
        for (int32_t i = 0; i < n && next < ts.partitions; ++i) {
            const int32_t end = next + quota + (i < extra ? 1 : 0);
            auto& parts = out[std::string(subscribers[size_t(i)])][topic];
            for (int32_t p = next; p < end; ++p) {
                parts.emplace_hint(parts.end(), p);
            }
            next = end;
        }
    }
    return out;
}

std::optional<group_assignment> assign_with(std::string_view name, const group_spec& spec) {
    if (name == uniform_name) {
        return uniform(spec);
    }
    if (name == range_name) {
        return range(spec);
    }
    return std::nullopt;
}

bool known_assignor(std::string_view name) { return name == uniform_name || name == range_name; }

} // namespace trib::broker::groups::assign
