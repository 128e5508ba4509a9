#pragma once

// A consumer group of the new protocol (KIP-848) as Apache Kafka 4.x's ConsumerGroup and
// ConsumerGroupMember keep it, and the rules that need no I/O: how a member moves towards
// its target assignment (Kafka's CurrentAssignmentBuilder), the group's state, and the
// records that persist it. The heartbeat itself (what a request does to a group, its writes
// and timers) is in group_shard.cc.
//
// The model: the coordinator, not a client, assigns. Every change of membership, of a
// subscription or of the subscribed topics' partitions bumps the group epoch; the server
// assignor (assignors.h) then computes a target assignment at that epoch. Each member
// reconciles towards its target one heartbeat at a time: it first gives up (revokes) the
// partitions it holds that its target no longer has, and only then moves to the new epoch
// and receives the partitions its target adds, once their previous owners have released
// them. So no partition is ever owned by two members at once.
#include "broker/groups/assignors.h"
#include "common/bytes.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace trib::broker::groups::consumer {

using assign::topic_partitions;
using protocol::uuid;

inline constexpr int64_t no_deadline = std::numeric_limits<int64_t>::max();
// Member epochs with a meaning in ConsumerGroupHeartbeat.
inline constexpr int32_t join_epoch = 0;
inline constexpr int32_t leave_epoch = -1;
inline constexpr int32_t static_leave_epoch = -2;

// Kafka's MemberState, with its values as written in ConsumerGroupCurrentMemberAssignmentValue.
enum class member_state : int8_t { stable = 0, unrevoked_partitions = 1, unreleased_partitions = 2, unknown = 127 };

// A member that joined with the classic protocol (JoinGroup, SyncGroup, Heartbeat) into a
// consumer group, as Kafka 4.x lets it: its session and the protocols it offered.
struct classic_protocol {
    std::string name;
    bytes metadata;
    bool operator==(const classic_protocol&) const = default;
};
struct classic_meta {
    int32_t session_timeout_ms = 0;
    std::vector<classic_protocol> protocols;  // in the member's order of preference
    bool operator==(const classic_meta&) const = default;
};

// Who a member's heartbeats come as: its regex subscription resolves over the topics this
// principal may DESCRIBE from this address (the broker's authorizer). all_topics: no
// authorizer applies (none configured, or the inter-broker listener).
struct identity {
    std::string principal;  // "User:alice"
    std::string host;       // the client's address, as ACL hosts are compared with it
    bool all_topics = false;
    bool operator==(const identity&) const = default;
};

struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    std::string client_id;
    std::string client_host;
    std::vector<std::string> subscribed_names;  // sorted, unique
    std::optional<std::string> subscribed_regex;
    int32_t rebalance_timeout_ms = -1;
    std::optional<std::string> server_assignor;
    std::optional<classic_meta> classic;  // set for a member of the classic protocol

    int32_t epoch = 0;
    int32_t previous_epoch = -1;
    member_state state = member_state::stable;
    topic_partitions assigned;            // the member may use these now
    topic_partitions pending_revocation;  // it must give these up before it moves on

    // In memory only (steady clock).
    int64_t session_deadline = no_deadline;
    int64_t revocation_deadline = no_deadline;
    int64_t rejoin_deadline = no_deadline;  // a classic member must JoinGroup or SyncGroup by then
    // Unknown for a member loaded from the log until it heartbeats here: its regex keeps the
    // topics the group last resolved (the records do not say who it was).
    std::optional<identity> who;
    // The topics its regex gave the last target assignment (unset: none computed here yet),
    // to tell when its rights changed what the regex resolves to.
    std::optional<std::set<uuid>> regex_topics;

    // What the member metadata record holds, compared to tell whether to write it again.
    bool same_metadata(const member& o) const {
        return instance_id == o.instance_id && rack_id == o.rack_id && client_id == o.client_id &&
               client_host == o.client_host && subscribed_names == o.subscribed_names &&
               subscribed_regex == o.subscribed_regex && rebalance_timeout_ms == o.rebalance_timeout_ms &&
               server_assignor == o.server_assignor && classic == o.classic;
    }
    bool same_assignment(const member& o) const {
        return epoch == o.epoch && previous_epoch == o.previous_epoch && state == o.state &&
               assigned == o.assigned && pending_revocation == o.pending_revocation;
    }
};

// The partitions of a subscribed topic, as the group last saw them (its assignment's input).
struct topic_meta {
    std::string name;
    int32_t partitions = 0;
    bool operator==(const topic_meta&) const = default;
};

struct group {
    int32_t epoch = 0;             // the group epoch
    int32_t assignment_epoch = 0;  // the target assignment's epoch
    std::map<std::string, member> members;
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::map<std::string, topic_partitions> target;     // member id -> its target partitions
    std::map<uuid, topic_meta> subscribed_topics;       // the metadata the target was computed from
    // Owner epoch of every partition a member holds (assigned or pending revocation): a
    // partition absent here is free to give to its next owner.
    std::map<std::pair<uuid, int32_t>, int32_t> owner_epochs;

    bool empty() const { return members.empty(); }
    // Kafka's names: Empty, Assigning, Reconciling, Stable.
    std::string state_name() const;
    // Keeps owner_epochs right when member `before` becomes `after` (either may be null).
    void update_owners(const member* before, const member* after);
    // Kafka's supportsClassicProtocols: a classic member may join if it offers a protocol
    // every classic member already in the group offers.
    bool supports_classic(const std::vector<classic_protocol>& offered) const;
    // The assignor the members prefer (the one most of them name; ties to the first in name
    // order), or `fallback` when none names one.
    std::string preferred_assignor(const std::string& fallback) const;
};

// Kafka's CurrentAssignmentBuilder: the member's next state towards `target` at
// `target_epoch`. `owned` is what the member reported owning in this heartbeat (nullopt: it
// did not say). A partition the target gives it is granted only when free (`owner_epochs`
// has no other holder).
member reconcile(const member& m, int32_t target_epoch, const topic_partitions& target,
                 const std::optional<topic_partitions>& owned,
                 const std::map<std::pair<uuid, int32_t>, int32_t>& owner_epochs);

// Whether `owned` (nullopt: not reported) lies within `assigned`: Kafka accepts a heartbeat at
// the previous epoch from a member whose answer with the new one was lost, if so.
bool owned_within(const std::optional<topic_partitions>& owned, const topic_partitions& assigned);

// Wire forms of topic partitions, both ways.
template<typename TP>
topic_partitions from_wire(const std::vector<TP>& v) {
    topic_partitions out;
    for (const auto& tp : v) {
        auto& s = out[tp.topic_id];
        s.insert(tp.partitions.begin(), tp.partitions.end());
    }
    return out;
}
template<typename TP>
std::vector<TP> to_wire(const topic_partitions& m) {
    std::vector<TP> out;
    for (const auto& [id, parts] : m) {
        if (parts.empty()) {
            continue;
        }
        TP tp{};
        tp.topic_id = id;
        tp.partitions.assign(parts.begin(), parts.end());
        out.push_back(std::move(tp));
    }
    return out;
}

} // namespace trib::broker::groups::consumer
