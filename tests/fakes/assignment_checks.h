#pragma once

// What the assignors' answers must satisfy (broker/groups/assignors), checked the plain way,
// for the unit tests and the fuzz target. Each returns the first violation it finds, in words,
// or an empty string.
#include "broker/groups/assignors.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace trib::broker::groups::assign::testing {

// Partitions each member holds, in total.
inline std::map<std::string, int> loads(const group_assignment& a) {
    std::map<std::string, int> out;
    for (const auto& [member, topics] : a) {
        int n = 0;
        for (const auto& [t, parts] : topics) {
            n += int(parts.size());
        }
        out[member] = n;
    }
    return out;
}

// An entry per member and no other; each partition of a subscribed topic assigned exactly
// once, to one of its subscribers; nothing else assigned; no empty partition set.
inline std::string invalid(const group_spec& spec, const group_assignment& a) {
    if (a.size() != spec.members.size()) {
        return "entries for " + std::to_string(a.size()) + " members, not " +
               std::to_string(spec.members.size());
    }
    std::map<uuid, std::vector<int>> seen;  // per topic: times each partition is assigned
    for (const auto& [id, topics] : a) {
        auto m = spec.members.find(id);
        if (m == spec.members.end()) {
            return "an entry for " + id + ", not a member";
        }
        for (const auto& [t, parts] : topics) {
            auto topic = spec.topics.find(t);
            if (parts.empty() || m->second.subscribed.count(t) == 0 || topic == spec.topics.end()) {
                return id + " got an empty set, or a topic it does not subscribe to or unknown";
            }
            auto& counts = seen[t];
            counts.resize(size_t(std::max(topic->second.partitions, 0)));
            for (int32_t p : parts) {
                if (p < 0 || p >= topic->second.partitions) {
                    return id + " got partition " + std::to_string(p) + " of " + topic->second.name;
                }
                ++counts[size_t(p)];
            }
        }
    }
    for (const auto& [t, topic] : spec.topics) {
        bool subscribed = false;
        for (const auto& [id, m] : spec.members) {
            subscribed = subscribed || m.subscribed.count(t) != 0;
        }
        auto& counts = seen[t];
        counts.resize(size_t(std::max(topic.partitions, 0)));
        for (int32_t p = 0; subscribed && p < topic.partitions; ++p) {
            if (counts[size_t(p)] != 1) {
                return "partition " + std::to_string(p) + " of " + topic.name + " assigned " +
                       std::to_string(counts[size_t(p)]) + " times";
            }
        }
    }
    return "";
}

// Uniform's balance: no member reaches, through a chain of moves (a partition of a topic it
// holds to another subscriber of that topic, and on from there), one holding two fewer. A
// chain of one move: no holder of a topic's partition has two more than a subscriber of it.
inline std::string improvable(const group_spec& spec, const group_assignment& a) {
    std::vector<std::string> ids;
    std::vector<int> load;
    std::map<uuid, int> topic_index;
    std::vector<std::vector<int>> subscribers;  // per topic index
    std::vector<std::vector<int>> held;         // per member: topic indexes it holds partitions of
    auto index_of = [&](const uuid& t) {
        auto [it, added] = topic_index.emplace(t, int(subscribers.size()));
        if (added) {
            subscribers.emplace_back();
        }
        return it->second;
    };
    for (const auto& [id, m] : spec.members) {
        const int index = int(ids.size());
        ids.push_back(id);
        for (const uuid& t : m.subscribed) {
            subscribers[size_t(index_of(t))].push_back(index);
        }
        int n = 0;
        held.emplace_back();
        auto it = a.find(id);
        for (const auto& [t, parts] : it == a.end() ? topic_partitions{} : it->second) {
            held.back().push_back(index_of(t));
            n += int(parts.size());
        }
        load.push_back(n);
    }
    for (int source = 0; source < int(ids.size()); ++source) {
        std::vector<bool> reached(ids.size());
        std::vector<bool> expanded(subscribers.size());
        std::vector<int> queue{source};
        reached[size_t(source)] = true;
        for (size_t i = 0; i < queue.size(); ++i) {
            for (int t : held[size_t(queue[i])]) {
                if (expanded[size_t(t)]) {
                    continue;
                }
                expanded[size_t(t)] = true;
                for (int other : subscribers[size_t(t)]) {
                    if (reached[size_t(other)]) {
                        continue;
                    }
                    reached[size_t(other)] = true;
                    queue.push_back(other);
                    if (load[size_t(other)] + 2 <= load[size_t(source)]) {
                        return ids[size_t(source)] + " (" + std::to_string(load[size_t(source)]) +
                               ") could pass a partition to " + ids[size_t(other)] + " (" +
                               std::to_string(load[size_t(other)]) + ")";
                    }
                }
            }
        }
    }
    return "";
}

} // namespace trib::broker::groups::assign::testing
