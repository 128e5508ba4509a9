// libFuzzer target: the KIP-848 server-side assignors (broker/groups/assignors) on a group
// spec chosen by the input: topics (some subscribed to, some not in the spec), members with
// instance ids, subscriptions and current assignments that may name unknown topics,
// partitions out of range or partitions another member holds. Any input must leave no crash,
// an assignment where every partition of a subscribed topic has exactly one subscriber as
// owner, uniform's balance (no member two above one it could pass a partition to, directly
// or through others), and the same answer twice.
#include "broker/groups/assignors.h"
#include "tests/fakes/assignment_checks.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

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
        check(testing::invalid(spec, *a).empty());
        if (name == uniform_name) {
            check(testing::improvable(spec, *a).empty());
        }
        check(assign_with(name, spec) == a);
    }
    return 0;
}
