#pragma once

// Which fetcher copies which partition: after each metadata change the link hands over the
// partition changes it applied; a replica that now follows broker B at epoch E is given to
// B's fetcher (made on first need, on B's address for the inter-broker listener), and one
// that leads, is offline or is gone leaves its fetcher. Fetchers left with nothing keep
// their (idle) loop until the broker stops; there are at most as many as brokers. Each
// follow also says whether the follower throttle applies to the replica (the topic's
// follower.replication.throttled.replicas names it) and whether it is in the ISR, both as of
// the latest change of the partition or its configs.
#include "broker/replication/fetcher.h"
#include "broker/replication/quota.h"

#include <map>
#include <memory>
#include <optional>

namespace trib::broker {

class fetcher_manager {
public:
    fetcher_manager(io_pool& pool, partition_manager& partitions, const broker_config& cfg,
                    replication_quotas& quotas);
    fetcher_manager(const fetcher_manager&) = delete;
    fetcher_manager& operator=(const fetcher_manager&) = delete;

    // On the metadata apply thread, after `changes` were applied to the partitions.
    void update(const std::vector<partition_change>& changes, const cluster_snapshot& s);
    // Ends every fetcher and returns once they have (before the partitions close).
    void stop();

    // Where this broker reaches `broker` (its inter-broker listener's advertised address);
    // nullopt when the snapshot has no address for it. Also used by lag_publisher.
    std::optional<config::host_port> address_of(const cluster_snapshot& s, int32_t broker) const;

private:

    io_pool& _pool;
    partition_manager& _partitions;
    const broker_config& _cfg;
    replication_quotas& _quotas;
    struct source {
        std::shared_ptr<replica_fetcher> fetcher;
        config::host_port target;
    };
    std::map<int32_t, source> _fetchers;
    struct followed {
        int32_t source = -1;  // the broker it copies from
        follower_throttle throttle;
    };
    std::map<topic_partition, followed> _following;
    bool _stopped = false;
};

} // namespace trib::broker
