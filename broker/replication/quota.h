#pragma once

// Replication throttles (Kafka's ReplicationQuotaManager, KIP-73): a partition reassignment
// copies whole logs to new replicas, and without a bound that copy takes the disks and network
// clients need. Two broker-wide bounds, in bytes per second, dynamic broker configs:
//
//   leader.replication.throttled.rate    what a leader sends to followers of its throttled
//                                        partitions (topic config leader.replication.throttled.replicas
//                                        names (partition, this broker), or is "*")
//   follower.replication.throttled.rate  what a follower copies into its throttled partitions
//                                        (follower.replication.throttled.replicas, the same way)
//
// Every byte of a throttled partition is counted (Kafka counts them whoever the follower is);
// while the rate counted is above the bound, the leader sends no data of a throttled
// partition to a follower outside its ISR (handlers/fetch.cc), and the follower asks for no
// data of a throttled partition it holds outside the ISR (replication/fetcher.cc). Replicas in
// the ISR are never held back: throttles slow down catching up, never what acks=all waits for.
//
// The rate is Kafka's sampled Rate: `samples` windows of `sample_ms` each
// (replication.quota.window.num = 11, replication.quota.window.size.seconds = 1); the rate is
// the bytes in the live windows over the time they span, that time counted as at least
// samples - 1 windows (so a first burst is measured against ten seconds, not against the
// moment it took). Windows older than samples * sample_ms count no more. Unlike Kafka, the
// window being filled also counts as exceeded once it holds a window's share of the bound,
// so a copy faster than the bound goes at the bound steadily, not in bursts.
//
// Thread-safe: leaders record on the partitions' owner cores, followers on their fetchers'
// executors, the metrics read once a second. Only throttled partitions take the lock (a
// bound left unlimited is one atomic load).
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

namespace trib::broker {

class replication_quota {
public:
    static constexpr int64_t unlimited = std::numeric_limits<int64_t>::max();

    replication_quota(int32_t samples, int64_t sample_ms);
    replication_quota(const replication_quota&) = delete;
    replication_quota& operator=(const replication_quota&) = delete;

    // Bytes per second; `unlimited` (the default) never holds anything back.
    void set_bound(int64_t bytes_per_second) noexcept { _bound.store(bytes_per_second, std::memory_order_relaxed); }
    int64_t bound() const noexcept { return _bound.load(std::memory_order_relaxed); }

    // `bytes` of throttled partitions were sent (leader) or copied (follower) at `now_ms`
    // (a steady clock's milliseconds).
    void record(int64_t bytes, int64_t now_ms);
    // The measured rate at `now_ms`, bytes per second.
    double rate(int64_t now_ms);
    // Whether the measured rate is above the bound: throttled replicas out of the ISR wait.
    bool exceeded(int64_t now_ms);
    // Bytes recorded since start.
    int64_t total() const noexcept { return _total.load(std::memory_order_relaxed); }

private:
    struct sample {
        int64_t start_ms = 0;
        int64_t bytes = 0;
        bool live = false;
    };
    // Under _mu: forgets the windows that ended more than samples * sample_ms ago.
    void expire(int64_t now_ms);
    double rate_locked(int64_t now_ms);

    const int64_t _sample_ms;
    std::atomic<int64_t> _bound{unlimited};
    std::atomic<int64_t> _total{0};
    std::mutex _mu;
    std::vector<sample> _samples;  // a ring; _current is the window being filled
    size_t _current = 0;
};

// The broker's two throttles and their metrics on /metrics (names from Kafka's quota sensors
// through the JMX-to-Prometheus rules, lowercased, '-' as '_'):
//   kafka_server_leaderreplication_byte_rate             the leader throttle's measured rate
//   kafka_server_followerreplication_byte_rate           the follower throttle's
//   tributary_replication_throttled_bytes_total{side}    bytes of throttled partitions counted
//   tributary_replication_throttled_rate_bytes{side}     the bound in force; -1 when unlimited
// side is "leader" or "follower"; the rates are refreshed by publish(), once a second.
class replication_quotas {
public:
    replication_quotas(int32_t samples, int32_t sample_seconds, prometheus::Registry& registry);

    replication_quota leader;
    replication_quota follower;

    // The bounds in force (from the metadata's dynamic broker configs, at each change).
    void set_bounds(int64_t leader_rate, int64_t follower_rate);
    void record_leader(int64_t bytes, int64_t now_ms);
    void record_follower(int64_t bytes, int64_t now_ms);
    void publish(int64_t now_ms);

private:
    prometheus::Gauge* _leader_rate;
    prometheus::Gauge* _follower_rate;
    prometheus::Counter* _leader_bytes;
    prometheus::Counter* _follower_bytes;
    prometheus::Gauge* _leader_bound;
    prometheus::Gauge* _follower_bound;
};

} // namespace trib::broker
