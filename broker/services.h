#pragma once

#include "broker/broker_config.h"
#include "broker/cluster_metadata.h"
#include "broker/cluster_link.h"
#include "broker/fetch_session.h"
#include "broker/log_cleaner.h"
#include "broker/groups/group_coordinator.h"
#include "broker/lag_publisher.h"
#include "broker/metrics.h"
#include "broker/partition_manager.h"
#include "broker/replication/fetcher_manager.h"
#include "broker/replication/quota.h"
#include "common/runtime.h"

namespace trib::broker {

// Everything a handler may use, owned by main and alive until every core has stopped.
class broker_services {
public:
    explicit broker_services(broker_config cfg)
      : config(std::move(cfg))
      , pool(config.io_threads)
      , sessions(pool.size(), size_t(config.fetch_session_cache_slots), fetch_session_eviction_ms,
                 *metrics.registry())
      , metadata(pool)
      , partitions(pool, config.log_dirs, node_id(config.node_id), metrics)
      , quotas(config.replication.quota_window_samples, config.replication.quota_window_seconds,
               *metrics.registry())
      , fetchers(pool, partitions, config, quotas)
      , cleaner(partitions, config.cleaner, *metrics.registry())
      , groups(pool, partitions, metadata, config.groups, config.authorizer)
      , lag(pool, config, metadata, partitions, fetchers, groups, *metrics.registry())
      , cluster(config, pool, metadata, partitions, fetchers, quotas) {
        metrics.replication().attach(pool.size());
        // Until the metadata gives the dynamic configs (cluster_link applies them).
        partitions.set_move_rate(config.log_dir_move_rate > 0 ? std::optional<int64_t>(config.log_dir_move_rate)
                                                              : std::nullopt);
        partitions.set_role_listener([this](const topic_partition& tp, partition* p) { groups.on_role(tp, p); });
        partitions.set_dir_failure_listener(halt_for_failed_log_dir);
    }

    broker_config config;
    io_pool pool;
    broker_metrics metrics;
    fetch_sessions sessions;  // incremental fetch sessions, one cache per core
    metadata_cache metadata;
    partition_manager partitions;
    replication_quotas quotas;  // leader and follower replication throttles
    fetcher_manager fetchers;
    log_cleaner cleaner;  // compaction, on its own thread
    groups::group_coordinator groups;  // the shards of the __consumer_offsets partitions led here
    lag_publisher lag;                 // consumer lag on /metrics
    cluster_link cluster;

    int32_t self() const noexcept { return config.node_id; }
};

} // namespace trib::broker
