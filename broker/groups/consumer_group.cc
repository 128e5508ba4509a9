#include "broker/groups/consumer_group.h"

#include <algorithm>

namespace trib::broker::groups::consumer {

std::string group::state_name() const {
    if (members.empty()) {
        return "Empty";
    }
    if (epoch > assignment_epoch) {
        return "Assigning";
    }
    for (const auto& [_, m] : members) {
        if (m.epoch != assignment_epoch || m.state != member_state::stable) {
            return "Reconciling";
        }
    }
    return "Stable";
}

void group::update_owners(const member* before, const member* after) {
    auto each = [](const member& m, auto&& fn) {
        for (const topic_partitions* tps : {&m.assigned, &m.pending_revocation}) {
            for (const auto& [id, parts] : *tps) {
                for (int32_t p : parts) {
                    fn(std::pair(id, p));
                }
            }
        }
    };
    if (before) {
        each(*before, [&](const auto& key) { owner_epochs.erase(key); });
    }
    if (after) {
        each(*after, [&](const auto& key) { owner_epochs[key] = after->epoch; });
    }
}

bool group::supports_classic(const std::vector<classic_protocol>& offered) const {
    int32_t classic_members = 0;
    std::map<std::string, int32_t> support;
    for (const auto& [_, m] : members) {
        if (!m.classic) {
            continue;
        }
        ++classic_members;
        std::set<std::string> names;
        for (const auto& p : m.classic->protocols) {
            names.insert(p.name);
        }
        for (const auto& n : names) {
            ++support[n];
        }
    }
    if (offered.empty()) {
        return false;
    }
    return classic_members == 0 || std::any_of(offered.begin(), offered.end(), [&](const classic_protocol& p) {
               auto it = support.find(p.name);
               return it != support.end() && it->second == classic_members;
           });
}

std::string group::preferred_assignor(const std::string& fallback) const {
    std::map<std::string, int> votes;
    for (const auto& [_, m] : members) {
        if (m.server_assignor) {
            ++votes[*m.server_assignor];
        }
    }
    std::string best = fallback;
    int most = 0;
    for (const auto& [name, n] : votes) {
        if (n > most) {
            best = name, most = n;
        }
    }
    return best;
}

namespace {

bool holds(const topic_partitions& tps, const uuid& id, int32_t p) {
    auto it = tps.find(id);
    return it != tps.end() && it->second.contains(p);
}

// Kafka's computeNextAssignment, from `epoch` and the partitions `assigned` now.
member next_assignment(const member& m, int32_t epoch, const topic_partitions& assigned, int32_t target_epoch,
                       const topic_partitions& target, const std::map<std::pair<uuid, int32_t>, int32_t>& owners) {
    topic_partitions keep, revoke, grant;
    bool unreleased = false;
    std::set<uuid> topics;
    for (const auto& [id, _] : assigned) {
        topics.insert(id);
    }
    for (const auto& [id, _] : target) {
        topics.insert(id);
    }
    for (const uuid& id : topics) {
        static const std::set<int32_t> none;
        auto t = target.find(id);
        auto a = assigned.find(id);
        const std::set<int32_t>& want = t == target.end() ? none : t->second;
        const std::set<int32_t>& have = a == assigned.end() ? none : a->second;
        for (int32_t p : have) {
            (want.contains(p) ? keep : revoke)[id].insert(p);
        }
        for (int32_t p : want) {
            if (have.contains(p)) {
                continue;
            }
            if (owners.contains({id, p})) {
                unreleased = true;  // another member still holds it
            } else {
                grant[id].insert(p);
            }
        }
    }
    member out = m;
    if (!revoke.empty()) {
        // Revoke first; the member stays at its epoch until it says it let them go.
        out.state = member_state::unrevoked_partitions;
        out.previous_epoch = m.epoch;
        out.epoch = epoch;
        out.assigned = std::move(keep);
        out.pending_revocation = std::move(revoke);
        return out;
    }
    for (auto& [id, parts] : grant) {
        keep[id].insert(parts.begin(), parts.end());
    }
    out.state = unreleased ? member_state::unreleased_partitions : member_state::stable;
    out.previous_epoch = m.epoch;
    out.epoch = target_epoch;
    out.assigned = std::move(keep);
    out.pending_revocation.clear();
    return out;
}

} // namespace

member reconcile(const member& m, int32_t target_epoch, const topic_partitions& target,
                 const std::optional<topic_partitions>& owned,
                 const std::map<std::pair<uuid, int32_t>, int32_t>& owner_epochs) {
    switch (m.state) {
    case member_state::stable:
        if (m.epoch == target_epoch) {
            return m;
        }
        return next_assignment(m, m.epoch, m.assigned, target_epoch, target, owner_epochs);
    case member_state::unrevoked_partitions: {
        // Revoked once the member no longer reports owning any of them.
        bool still_owns = !owned.has_value();
        if (owned) {
            for (const auto& [id, parts] : *owned) {
                for (int32_t p : parts) {
                    still_owns = still_owns || holds(m.pending_revocation, id, p);
                }
            }
        }
        if (still_owns) {
            return m;
        }
        return next_assignment(m, m.epoch + 1, m.assigned, target_epoch, target, owner_epochs);
    }
    case member_state::unreleased_partitions:
    case member_state::unknown:
        return next_assignment(m, m.epoch, m.assigned, target_epoch, target, owner_epochs);
    }
    return m;
}

bool owned_within(const std::optional<topic_partitions>& owned, const topic_partitions& assigned) {
    if (!owned) {
        return false;
    }
    for (const auto& [id, parts] : *owned) {
        for (int32_t p : parts) {
            if (!holds(assigned, id, p)) {
                return false;
            }
        }
    }
    return true;
}

} // namespace trib::broker::groups::consumer
