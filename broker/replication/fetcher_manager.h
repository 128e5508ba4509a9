#pragma once

// Which fetcher copies which partition: after each metadata change the link hands over the
// partition changes it applied; a replica that now follows broker B at epoch E is given to
// B's fetcher (made on first need, on B's address for the inter-broker listener), and one
// that leads, is offline or is gone leaves its fetcher. Fetchers left with nothing keep
// their (idle) loop until the broker stops; there are at most as many as brokers.
#include "broker/replication/fetcher.h"

#include <map>
#include <memory>
#include <optional>

namespace trib::broker {

class fetcher_manager {
public:
    fetcher_manager(io_pool& pool, partition_manager& partitions, const broker_config& cfg);
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
    struct source {
        std::shared_ptr<replica_fetcher> fetcher;
        config::host_port target;
    };
    std::map<int32_t, source> _fetchers;
    std::map<topic_partition, int32_t> _following;  // partition -> the broker it copies from
    bool _stopped = false;
};

} // namespace trib::broker
