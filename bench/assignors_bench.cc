// The KIP-848 server-side assignors (broker/groups/assignors) on large groups: time for one
// target assignment of 10,000 partitions (200 topics of 50) over 500 members, as the group
// coordinator computes it when a member joins. Subscriptions either the same for every member
// (Kafka's homogeneous case) or each member on two thirds of the topics, overlapping
// (heterogeneous); the first assignment (nothing current) and the next one after a member
// joined (every other member's current assignment given, the stickiness path).
#include "broker/groups/assignors.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using namespace trib::broker::groups::assign;

constexpr int topics = 200;
constexpr int partitions_per_topic = 50;
constexpr int members = 500;

uuid topic_id(int n) {
    uuid u;
    u.b[14] = uint8_t(n >> 8);
    u.b[15] = uint8_t(n);
    return u;
}

std::string member_name(int m) {
    std::string s("member-");
    s += std::to_string(1000 + m);
    return s;
}

group_spec make_group(bool same_subscriptions) {
    group_spec spec;
    for (int t = 0; t < topics; ++t) {
        spec.topics[topic_id(t)] = topic_spec{"topic", partitions_per_topic};
    }
    for (int m = 0; m < members; ++m) {
        member_spec ms;
        for (int t = 0; t < topics; ++t) {
            if (same_subscriptions || (t + m) % 3 != 0) {
                ms.subscribed.insert(topic_id(t));
            }
        }
        spec.members[member_name(m)] = std::move(ms);
    }
    return spec;
}

// The group after one more member joined: everyone else holds the previous assignment.
group_spec after_join(group_spec spec, const group_assignment& previous) {
    for (auto& [id, m] : spec.members) {
        m.current = previous.at(id);
    }
    member_spec joined;
    joined.subscribed = spec.members.begin()->second.subscribed;
    spec.members["member-joined"] = std::move(joined);
    return spec;
}

void run(benchmark::State& state, group_assignment (*assignor)(const group_spec&), bool same, bool join) {
    group_spec spec = make_group(same);
    if (join) {
        spec = after_join(spec, assignor(spec));
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(assignor(spec));
    }
    state.counters["partitions"] = topics * partitions_per_topic;
    state.counters["members"] = double(spec.members.size());
}

void uniform_homogeneous_first(benchmark::State& s) { run(s, uniform, true, false); }
void uniform_homogeneous_join(benchmark::State& s) { run(s, uniform, true, true); }
void uniform_heterogeneous_first(benchmark::State& s) { run(s, uniform, false, false); }
void uniform_heterogeneous_join(benchmark::State& s) { run(s, uniform, false, true); }
void range_homogeneous(benchmark::State& s) { run(s, range, true, false); }
void range_heterogeneous(benchmark::State& s) { run(s, range, false, false); }

BENCHMARK(uniform_homogeneous_first)->Unit(benchmark::kMillisecond);
BENCHMARK(uniform_homogeneous_join)->Unit(benchmark::kMillisecond);
BENCHMARK(uniform_heterogeneous_first)->Unit(benchmark::kMillisecond);
BENCHMARK(uniform_heterogeneous_join)->Unit(benchmark::kMillisecond);
BENCHMARK(range_homogeneous)->Unit(benchmark::kMillisecond);
BENCHMARK(range_heterogeneous)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
