// libFuzzer target: the KIP-848 server-side assignors (broker/groups/assignors) on a group
// spec chosen by the input: topics (some subscribed to, some not in the spec), members with
// instance ids, subscriptions and current assignments that may name unknown topics,
// partitions out of range or partitions another member holds. Any input must leave no crash,
// an assignment where every partition of a subscribed topic has exactly one subscriber as
// owner, uniform's balance (no member two above one it could pass a partition to, directly
// or through others), and the same answer twice.
#include "broker/groups/assignors.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace trib::broker::groups::assign;

struct input {
    const uint8_t* data;
    size_t size;
    size_t at = 0;
    uint8_t byte() { return at < size ? data[at++] : 0; }
};

uuid topic_id(int n) {
    uuid u;
    u.b[0] = 0x20;
    u.b[15] = uint8_t(n);
    return u;
}

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

std::map<std::string, int> loads(const group_assignment& a) {
    std::map<std::string, int> out;
    for (const auto& [member, topics] : a) {
        for (const auto& [t, parts] : topics) {
            out[member] += int(parts.size());
        }
    }
    return out;
}

void check_valid(const group_spec& spec, const group_assignment& a) {
    check(a.size() == spec.members.size());
    std::map<uuid, std::vector<int>> seen;
    for (const auto& [id, topics] : a) {
        auto m = spec.members.find(id);
        check(m != spec.members.end());
        for (const auto& [t, parts] : topics) {
            check(!parts.empty());
            check(m->second.subscribed.count(t) != 0);
            auto ts = spec.topics.find(t);
            check(ts != spec.topics.end());
            auto& counts = seen[t];
            counts.resize(size_t(std::max(ts->second.partitions, 0)));
            for (int32_t p : parts) {
                check(p >= 0 && p < ts->second.partitions);
                ++counts[size_t(p)];
            }
        }
    }
    for (const auto& [t, ts] : spec.topics) {
        bool subscribed = false;
        for (const auto& [id, m] : spec.members) {
            subscribed = subscribed || m.subscribed.count(t) != 0;
        }
        for (int32_t p = 0; subscribed && p < ts.partitions; ++p) {
            check(seen[t].size() == size_t(ts.partitions) && seen[t][size_t(p)] == 1);
        }
    }
}

// No holder of a topic's partition has two more partitions than a subscriber of that topic.
void check_balanced(const group_spec& spec, const group_assignment& a) {
    const auto load = loads(a);
    auto load_of = [&](const std::string& id) {
        auto it = load.find(id);
        return it == load.end() ? 0 : it->second;
    };
    for (const auto& [t, ts] : spec.topics) {
        int least = -1;
        for (const auto& [id, m] : spec.members) {
            if (m.subscribed.count(t) != 0) {
                least = least < 0 ? load_of(id) : std::min(least, load_of(id));
            }
        }
        for (const auto& [id, m] : spec.members) {
            if (a.at(id).count(t) != 0) {
                check(load_of(id) <= least + 1);
            }
        }
    }
}

// Nor can it pass one on through a chain of members to one holding two fewer.
void check_no_improving_chain(const group_spec& spec, const group_assignment& a) {
    const auto load = loads(a);
    auto load_of = [&](const std::string& id) {
        auto it = load.find(id);
        return it == load.end() ? 0 : it->second;
    };
    for (const auto& [source, unused] : spec.members) {
        std::set<std::string> reached{source};
        std::vector<std::string> queue{source};
        for (size_t i = 0; i < queue.size(); ++i) {
            for (const auto& [t, ps] : a.at(queue[i])) {
                for (const auto& [other, m] : spec.members) {
                    if (m.subscribed.count(t) != 0 && reached.insert(other).second) {
                        queue.push_back(other);
                        check(load_of(other) + 2 > load_of(source));
                    }
                }
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    input in{data, size};
    group_spec spec;
    const int topics = in.byte() % 9;
    for (int t = 0; t < topics; ++t) {
        // A few negative counts; otherwise up to 63 partitions.
        const uint8_t b = in.byte();
        spec.topics[topic_id(t)] = topic_spec{"t" + std::to_string(t), b >= 250 ? -int32_t(b - 249) : b % 64};
    }
    const int members = in.byte() % 33;
    for (int m = 0; m < members; ++m) {
        member_spec ms;
        const uint8_t flags = in.byte();
        if ((flags & 3) == 1) {
            ms.instance_id = "i" + std::to_string(in.byte() % 8);
        }
        // Subscriptions: one bit per topic id 0..9 (8 and 9 are never in the spec).
        const unsigned subs = unsigned(in.byte()) | (unsigned(flags >> 6) << 8);
        for (int t = 0; t < 10; ++t) {
            if (subs & (1U << t)) {
                ms.subscribed.insert(topic_id(t));
            }
        }
        for (int n = in.byte() % 16; n > 0; --n) {
            const uint8_t t = in.byte();
            ms.current[topic_id(t % 10)].insert(int32_t(in.byte()) - 8);
        }
        spec.members["m" + std::to_string(in.byte())] = std::move(ms);
    }
    for (const auto& name : {uniform_name, range_name}) {
        const auto a = assign_with(name, spec);
        check(a.has_value());
        check_valid(spec, *a);
        if (name == uniform_name) {
            check_balanced(spec, *a);
            check_no_improving_chain(spec, *a);
        }
        check(assign_with(name, spec) == a);
    }
    return 0;
}
