#pragma once

// Consumer lag on this broker's /metrics (common/consumer_lag.h: kafka_exporter's names), for
// the groups it coordinates, so that Prometheus sums a cluster's brokers without counting a
// group twice; and kafka_topic_partition_current_offset / _oldest_offset for the partitions
// it leads, so each partition is published once.
//
// Every `tributary.lag.interval.ms` (0: off) one pass, a coroutine on core 0:
//   1. every served group shard's groups, their members and committed offsets
//      (group_coordinator::each_shard), FIRST;
//   2. AFTER that, for each partition a group committed to and each partition led here: the
//      high watermark, the log start and the timestamp of the record at each committed offset
//      behind the end, read on the partition's owner core when this broker leads it, else
//      from its leader with ListOffsets (latest, earliest) and a Fetch of one batch at the
//      committed offset (net/kafka_client.h, one client per leader kept between passes,
//      each call with a deadline);
//   3. the series replaced as a whole: those of groups and partitions gone are removed.
// Commits read before ends make lag >= 0 (consumer_lag.h says why); a commit above the end
// anyway is logged.
#include "broker/broker_config.h"
#include "broker/cluster_metadata.h"
#include "broker/groups/group_coordinator.h"
#include "broker/partition_manager.h"
#include "broker/replication/fetcher_manager.h"
#include "common/consumer_lag.h"
#include "common/metric_series.h"
#include "common/runtime.h"
#include "net/kafka_client.h"

#include <prometheus/registry.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace trib::broker {

class lag_publisher {
public:
    lag_publisher(io_pool& pool, const broker_config& cfg, metadata_cache& metadata, partition_manager& partitions,
                  const fetcher_manager& fetchers, groups::group_coordinator& groups, prometheus::Registry& registry);
    ~lag_publisher();
    lag_publisher(const lag_publisher&) = delete;
    lag_publisher& operator=(const lag_publisher&) = delete;

    // Starts the periodic pass (nothing when the interval is 0); stop() ends it and waits.
    void start();
    void stop();

    // One pass, from a coroutine on core 0.
    asio::awaitable<void> pass();

    // Timestamps of the records at the offsets groups read next, by partition and offset
    // (the committed offset, or the log start when that is above it), kept from one pass to
    // the next: a group that has not committed since costs no read. A record's timestamp at
    // an offset does not change while the offset stays in the log.
    using timestamp_cache = std::map<lag::partition_key, std::map<int64_t, int64_t>>;

private:
    asio::awaitable<void> loop();
    // Step 2 for the partitions led elsewhere.
    asio::awaitable<void> read_remote(const cluster_snapshot& s, lag::input& in,
                                      const std::map<lag::partition_key, std::set<int64_t>>& wanted);
    asio::awaitable<void> read_remote_timestamps(net::kafka_client& client, int32_t leader,
                                                 const std::map<lag::partition_key, std::set<int64_t>>& wanted,
                                                 std::map<lag::partition_key, lag::partition_ends>& got);

    io_pool& _pool;
    const broker_config& _cfg;
    metadata_cache& _metadata;
    partition_manager& _partitions;
    const fetcher_manager& _fetchers;  // address_of: a broker's inter-broker address
    groups::group_coordinator& _groups;
    lag::families _families;
    series_set _series;  // core 0 only
    int64_t _interval_ms;
    std::atomic<bool> _stopping{false};
    bool _started = false;
    asio::steady_timer* _timer = nullptr;  // core 0 only
    std::promise<void> _done;
    std::map<int32_t, std::unique_ptr<net::kafka_client>> _remotes;  // core 0 only: by leader id
    timestamp_cache _timestamps;  // core 0's, read on owner cores only while a pass waits for them
    size_t _last_inverted = 0;  // core 0 only: logs when the count of commits above the end changes
};

} // namespace trib::broker
