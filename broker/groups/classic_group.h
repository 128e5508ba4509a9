#pragma once

// A classic group's state as Apache Kafka 4.x's ClassicGroup and ClassicGroupMember keep it:
// members, static members, the protocols they support, who is waiting for a JoinGroup or
// SyncGroup answer, the rebalance timers, and the group's committed offsets. Plain data with
// the small rules that read it; the protocol itself (what a request does to a group) is in
// group_shard.cc. Touched only on the owner core of its group shard.
#include "broker/groups/consumer_group.h"
#include "common/bytes.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace trib::broker::groups::classic {

using protocol::error_code;

inline constexpr int64_t no_deadline = std::numeric_limits<int64_t>::max();
inline constexpr std::string_view consumer_protocol_type = "consumer";

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };

std::string state_name(group_state s);

// Kafka 4.x keeps classic and consumer (KIP-848) groups in one map with a type. A consumer
// group's own state is in `group::consumer` (consumer_group.h); the committed offsets and the
// fields the offset rules read (state Empty or Stable, protocol type, subscribed topics) are
// shared.
enum class group_type { classic, consumer };

struct join_protocol {
    std::string name;
    bytes metadata;
    bool operator==(const join_protocol&) const = default;
};

using join_callback = std::function<void(protocol::join_group_response)>;
using sync_callback = std::function<void(protocol::sync_group_response)>;

struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t rebalance_timeout_ms = 0;
    int32_t session_timeout_ms = 0;
    std::string protocol_type;
    std::vector<join_protocol> protocols;  // in the member's order of preference
    bytes assignment;
    join_callback awaiting_join;
    sync_callback awaiting_sync;
    bool is_new = false;
    int64_t heartbeat_deadline = no_deadline;  // steady clock

    const bytes& metadata(const std::optional<std::string>& protocol) const {
        static const bytes none;
        for (const join_protocol& p : protocols) {
            if (protocol && p.name == *protocol) {
                return p.metadata;
            }
        }
        return none;
    }
    // Kafka's hasSatisfiedHeartbeat: a member parked in a rebalance needs no heartbeat.
    bool satisfied_heartbeat() const { return !is_new && (awaiting_join || awaiting_sync); }
};

struct committed_offset {
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
    int64_t commit_timestamp = 0;
    int64_t expire_timestamp = -1;
};

using topic_offsets = std::map<std::string, std::map<int32_t, committed_offset>>;

enum class join_timer { none, initial_delay, rebalance };

struct group {
    std::string id;
    group_type type = group_type::classic;
    group_state state = group_state::empty;
    group_state previous_state = group_state::empty;
    int32_t generation = 0;
    std::optional<std::string> protocol_type;
    std::optional<std::string> protocol_name;
    std::optional<std::string> leader;
    int64_t state_timestamp = -1;  // wall clock of the last transition; -1 unknown

    std::map<std::string, member> members;
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::map<std::string, int64_t> pending_members;    // MEMBER_ID_REQUIRED answered; deadline
    std::set<std::string> pending_sync;
    std::map<std::string, int32_t> protocol_support;  // protocol name -> members supporting it
    int32_t awaiting_join = 0;
    bool new_member_added = false;
    std::optional<std::set<std::string>> subscribed_topics;

    join_timer join_kind = join_timer::none;
    int64_t join_deadline = no_deadline;
    int32_t initial_delay_ms = 0;
    int32_t initial_remaining_ms = 0;
    int64_t sync_deadline = no_deadline;
    int32_t sync_generation = 0;

    topic_offsets offsets;
    std::optional<consumer::group> consumer;  // set for a group of type consumer

    bool in(group_state s) const { return state == s; }
    bool is_consumer() const { return type == group_type::consumer; }
    bool uses_consumer_protocol() const { return protocol_type == consumer_protocol_type; }
    bool all_joined() const { return int32_t(members.size()) == awaiting_join && pending_members.empty(); }
    int32_t rebalance_timeout_ms() const {
        int32_t t = 0;
        for (const auto& [_, m] : members) {
            t = std::max(t, m.rebalance_timeout_ms);
        }
        return t;
    }
    bool is_leader(const std::string& member_id) const { return leader && *leader == member_id; }
    bool is_subscribed(const std::string& topic) const {
        return subscribed_topics ? subscribed_topics->contains(topic) : uses_consumer_protocol();
    }
    // Kafka's supportsProtocols: whether a member of this protocol type and these protocols
    // may join.
    bool supports(const std::string& type, const std::vector<join_protocol>& protocols) const;
    // Kafka's validateMember: the instance id, when given, must map to this member id.
    error_code validate_member(const std::string& member_id, const std::optional<std::string>& instance_id) const;
    void count_protocols(const member& m, int32_t delta) {
        for (const join_protocol& p : m.protocols) {
            protocol_support[p.name] += delta;
        }
    }
    // The protocol every member supports that most members prefer; ties go to the first name.
    std::string select_protocol() const;
    bool has_offsets() const {
        return std::any_of(offsets.begin(), offsets.end(), [](const auto& t) { return !t.second.empty(); });
    }
};

// The topics of a consumer protocol subscription (ConsumerProtocolSubscription, read with
// version 0's fields, which prefix every later version, as Kafka reads it); nullopt when the
// bytes are not one.
std::optional<std::vector<std::string>> subscription_topics(bytes_view metadata);

// A whole ConsumerProtocolSubscription (v0-3): what a classic member of a KIP-848 consumer
// group subscribes to and owns. nullopt when the bytes are not one.
struct consumer_subscription {
    int16_t version = 0;
    std::vector<std::string> topics;
    std::vector<std::pair<std::string, std::vector<int32_t>>> owned;  // v1+
    std::optional<std::string> rack_id;                                // v3+
};
std::optional<consumer_subscription> parse_subscription(bytes_view metadata);
// The partitions of a ConsumerProtocolAssignment (any version: v0's fields prefix the others);
// nullopt when the bytes are not one. Empty bytes (a member given nothing) is no partitions.
std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> parse_assignment(bytes_view assignment);
// A ConsumerProtocolAssignment of `version` (at most 3) with no user data.
bytes encode_assignment(int16_t version, const std::vector<std::pair<std::string, std::vector<int32_t>>>& partitions);

// Kafka's computeSubscribedTopics: the topics the members of a consumer-protocol group
// subscribe to; nullopt when unknown (another protocol type, no protocol chosen, or a
// subscription that cannot be read).
std::optional<std::set<std::string>> compute_subscribed_topics(const group& g);

} // namespace trib::broker::groups::classic
