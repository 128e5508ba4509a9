#include "broker/metadata_changes.h"

#include <algorithm>
#include <set>

namespace trib::broker {

std::vector<partition_change> partition_changes(const cluster_snapshot* prev, const cluster_snapshot& next,
                                               const coordinator::metadata_delta& delta, node_id self_id,
                                               const std::function<replica_config(const topic_info&)>& config_for) {
    int32_t self = self_id.value();
    // Cluster- and broker-level configs reach every topic's effective config: walk them all.
    bool all = !prev || delta.everything || delta.broker_configs;
    std::set<std::string, std::less<>> names;
    if (all) {
        for (const auto* s : {prev, &next}) {
            if (!s) {
                continue;
            }
            for (const auto& [name, t] : s->topics) {
                names.insert(name);
            }
        }
    }
    const auto& walk = all ? names : delta.topics;

    std::vector<partition_change> out;
    for (const auto& name : walk) {
        const topic_info* now = next.topic(name);
        const topic_info* before = prev ? prev->topic(name) : nullptr;
        std::optional<replica_config> cfg;
        if (now) {
            cfg = config_for(*now);
        }
        size_t n = std::max(now ? now->partitions.size() : 0, before ? before->partitions.size() : 0);
        for (size_t i = 0; i < n; ++i) {
            const partition_info* p = now && i < now->partitions.size() ? &now->partitions[i] : nullptr;
            const partition_info* q = before && i < before->partitions.size() ? &before->partitions[i] : nullptr;
            bool here = p && p->has_replica(self);
            bool was_here = q && q->has_replica(self);
            if (!here && !was_here) {
                continue;
            }
            if (!all && here && was_here && *p == *q && now->id == before->id && now->configs == before->configs) {
                continue;  // another partition of the topic changed
            }
            partition_change c{{name, int32_t(i)}, now ? now->id : before->id, std::nullopt, std::nullopt};
            if (here) {
                c.state = *p;
                c.config = cfg->log;
                c.min_insync_replicas = cfg->min_insync_replicas;
                c.leader_throttled = cfg->leader_throttled.names(int32_t(i), self);
                c.follower_throttled = cfg->follower_throttled.names(int32_t(i), self);
            }
            out.push_back(std::move(c));
        }
    }
    return out;
}

} // namespace trib::broker
