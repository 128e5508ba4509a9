#pragma once

// The server-side assignors of KIP-848 consumer groups, as Apache Kafka 4.x's UniformAssignor
// and RangeAssignor compute a group's target assignment: from the members (their subscribed
// topics and their partitions in the current target assignment) and the subscribed topics'
// partition counts, which partitions each member gets next. Pure functions: no I/O, no state,
// deterministic for the same input (ties go to the member id first in std::string order).
//
// - uniform: every partition of a subscribed topic to exactly one of its subscribers, as few
//   per member as the subscriptions allow (all members subscribed to the same topics: counts
//   differ by at most one), keeping partitions with their current owner where that balance
//   allows (with the same subscriptions: as many as it allows).
// - range: per topic, consecutive ranges of partitions to the topic's subscribers in order
//   (static members by instance id first, then the others by member id), the first
//   `partitions % subscribers` one partition longer; not sticky, as in Kafka 4.x. Topics with
//   the same subscribers and partition count (co-partitioned) give each member the same
//   partition numbers.
//
// Input the coordinator should not send is tolerated, never trusted: subscriptions to topics
// missing from `topics`, current partitions of unsubscribed or unknown topics, partitions past
// a topic's count, and a partition currently held by two members (the first member id keeps
// it). Work is O(partitions * log members) plus O(topics * members) per balancing round, and
// the last balancing phase of different subscriptions has a fixed budget.
#include "protocol/wire.h"  // protocol::uuid

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace trib::broker::groups::assign {

using protocol::uuid;
using topic_partitions = std::map<uuid, std::set<int32_t>>;

struct member_spec {
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    std::set<uuid> subscribed;  // ids of subscribed topics that exist (all in group_spec::topics)
    topic_partitions current;   // the member's assignment in the current target (for stickiness)
};

struct topic_spec {
    std::string name;
    int32_t partitions = 0;
};

struct group_spec {
    std::map<std::string, member_spec> members;  // by member id
    std::map<uuid, topic_spec> topics;           // every topic some member subscribes to
};

// Every member of the spec has an entry (possibly empty); every partition of a subscribed
// topic is assigned to exactly one member subscribed to that topic.
using group_assignment = std::map<std::string, topic_partitions>;

inline constexpr std::string_view uniform_name = "uniform";
inline constexpr std::string_view range_name = "range";

group_assignment uniform(const group_spec& spec);
group_assignment range(const group_spec& spec);

// By name ("uniform", "range"); nullopt for a name this broker does not have.
std::optional<group_assignment> assign_with(std::string_view name, const group_spec& spec);
bool known_assignor(std::string_view name);

}  // namespace trib::broker::groups::assign
