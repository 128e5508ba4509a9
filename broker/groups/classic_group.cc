#include "broker/groups/classic_group.h"

#include "protocol/wire.h"

namespace trib::broker::groups::classic {

std::string state_name(group_state s) {
    switch (s) {
    case group_state::empty: return "Empty";
    case group_state::preparing_rebalance: return "PreparingRebalance";
    case group_state::completing_rebalance: return "CompletingRebalance";
    case group_state::stable: return "Stable";
    case group_state::dead: return "Dead";
    }
    return "Unknown";
}

bool group::supports(const std::string& type, const std::vector<join_protocol>& protocols) const {
    if (in(group_state::empty)) {
        return !type.empty() && !protocols.empty();
    }
    if (protocol_type != type) {
        return false;
    }
    return std::any_of(protocols.begin(), protocols.end(), [&](const join_protocol& p) {
        auto it = protocol_support.find(p.name);
        return it != protocol_support.end() && it->second == int32_t(members.size());
    });
}

error_code group::validate_member(const std::string& member_id, const std::optional<std::string>& instance_id) const {
    if (instance_id) {
        auto it = static_members.find(*instance_id);
        if (it == static_members.end()) {
            return error_code::unknown_member_id;
        }
        if (it->second != member_id) {
            return error_code::fenced_instance_id;
        }
    }
    return members.contains(member_id) ? error_code::none : error_code::unknown_member_id;
}

std::string group::select_protocol() const {
    std::map<std::string, int32_t> votes;
    for (const auto& [_, m] : members) {
        for (const join_protocol& p : m.protocols) {
            auto it = protocol_support.find(p.name);
            if (it != protocol_support.end() && it->second == int32_t(members.size())) {
                ++votes[p.name];
                break;
            }
        }
    }
    std::string best;
    int32_t most = 0;
    for (const auto& [name, n] : votes) {
        if (n > most) {
            best = name, most = n;
        }
    }
    return best;
}

std::optional<std::vector<std::string>> subscription_topics(bytes_view metadata) {
    protocol::reader r(metadata);
    const int16_t version = r.read_int16();
    if (!r.ok() || version < 0) {
        return std::nullopt;
    }
    const int32_t n = r.read_array_len(false, 2);
    if (!r.ok() || n < 0) {
        return std::nullopt;
    }
    std::vector<std::string> topics;
    topics.reserve(size_t(n));
    for (int32_t i = 0; i < n && r.ok(); ++i) {
        topics.push_back(r.read_string());
    }
    r.read_nullable_bytes();  // user data
    if (!r.ok()) {
        return std::nullopt;
    }
    return topics;
}

std::optional<consumer_subscription> parse_subscription(bytes_view metadata) {
    protocol::reader r(metadata);
    consumer_subscription out;
    out.version = r.read_int16();
    if (!r.ok() || out.version < 0) {
        return std::nullopt;
    }
    const int32_t n = r.read_array_len(false, 2);
    if (!r.ok() || n < 0) {
        return std::nullopt;
    }
    for (int32_t i = 0; i < n && r.ok(); ++i) {
        out.topics.push_back(r.read_string());
    }
    r.read_nullable_bytes();  // user data
    if (out.version >= 1 && r.ok()) {
        const int32_t topics = r.read_array_len(false, 6);
        for (int32_t i = 0; i < topics && r.ok(); ++i) {
            auto& [topic, partitions] = out.owned.emplace_back();
            topic = r.read_string();
            const int32_t m = r.read_array_len(false, 4);
            for (int32_t j = 0; j < m && r.ok(); ++j) {
                partitions.push_back(r.read_int32());
            }
        }
    }
    if (out.version >= 2 && r.ok()) {
        r.read_int32();  // generation id
    }
    if (out.version >= 3 && r.ok()) {
        out.rack_id = r.read_nullable_string();
    }
    if (!r.ok()) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> parse_assignment(bytes_view assignment) {
    std::vector<std::pair<std::string, std::vector<int32_t>>> out;
    if (assignment.empty()) {
        return out;
    }
    protocol::reader r(assignment);
    if (r.read_int16() < 0 || !r.ok()) {
        return std::nullopt;
    }
    const int32_t topics = r.read_array_len(false, 6);
    for (int32_t i = 0; i < topics && r.ok(); ++i) {
        auto& [topic, partitions] = out.emplace_back();
        topic = r.read_string();
        const int32_t n = r.read_array_len(false, 4);
        for (int32_t j = 0; j < n && r.ok(); ++j) {
            partitions.push_back(r.read_int32());
        }
    }
    if (!r.ok() || topics < 0) {
        return std::nullopt;
    }
    return out;
}

bytes encode_assignment(int16_t version, const std::vector<std::pair<std::string, std::vector<int32_t>>>& partitions) {
    protocol::writer w;
    w.write_int16(std::clamp<int16_t>(version, 0, 3));
    w.write_int32(int32_t(partitions.size()));
    for (const auto& [topic, parts] : partitions) {
        w.write_string(topic);
        w.write_int32(int32_t(parts.size()));
        for (int32_t p : parts) {
            w.write_int32(p);
        }
    }
    w.write_int32(-1);  // user data: null
    return w.take();
}

std::optional<std::set<std::string>> compute_subscribed_topics(const group& g) {
    if (!g.uses_consumer_protocol()) {
        return std::nullopt;
    }
    if (g.members.empty()) {
        return std::set<std::string>{};
    }
    if (!g.protocol_name) {
        return std::nullopt;
    }
    std::set<std::string> all;
    for (const auto& [_, m] : g.members) {
        auto topics = subscription_topics(m.metadata(g.protocol_name));
        if (!topics) {
            return std::nullopt;
        }
        all.insert(topics->begin(), topics->end());
    }
    return all;
}

} // namespace trib::broker::groups::classic
