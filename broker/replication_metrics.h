#pragma once

// Replication metrics on the broker's /metrics, named as Apache Kafka's JMX beans come out of
// the JMX-to-Prometheus rules Strimzi ships (kafka-metrics.yaml, lowercased), so Strimzi's
// Kafka dashboards and the usual alerts read them unchanged:
//
//   kafka_server_replicamanager_partitioncount            replicas hosted here
//   kafka_server_replicamanager_leadercount               of those, led here
//   kafka_server_replicamanager_underreplicatedpartitions led here, ISR smaller than the replicas
//   kafka_server_replicamanager_underminisrpartitioncount led here, ISR below min.insync.replicas
//   kafka_server_replicamanager_atminisrpartitioncount    led here, ISR exactly min.insync.replicas
//   kafka_controller_kafkacontroller_offlinepartitionscount  hosted here with no leader (Kafka
//                                       reports it on the active controller only; here every
//                                       broker counts its own, so sum() over brokers counts a
//                                       partition once per hosting broker)
//   kafka_server_replicamanager_isrshrinks_total          ISR changes this broker asked for as
//   kafka_server_replicamanager_isrexpands_total          leader that took effect
//   kafka_cluster_partition_{underreplicated,underminisr,atminisr,insyncreplicascount,
//                            replicascount}{topic,partition}   per hosted replica, 0 unless led here
//   tributary_partition_replica_lag_offsets{topic,partition,replica}
//                                       leader only: its log end minus where each follower's
//                                       last fetch started (Kafka has no leader-side lag bean;
//                                       its FetcherLagMetrics ConsumerLag is the follower's view)
//   kafka_server_replicafetchermanager_maxlag{clientId="Replica"}
//                                       the largest of those lags among partitions led here
//
// Refreshed once a second by partition_manager::periodic() on every core, from the replicas
// that core owns: per replica a map lookup and a few atomic stores; series are created when a
// replica (or follower) first shows up and removed when it is gone.
#include "broker/partition.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trib::broker {

// What one replica adds to the broker's counts.
struct replica_health {
    bool leader = false;
    bool offline = false;           // no leader at all
    bool under_replicated = false;  // leader, ISR smaller than the replica set
    bool under_min_isr = false;     // leader, ISR smaller than min.insync.replicas
    bool at_min_isr = false;        // leader, ISR exactly min.insync.replicas
};
replica_health assess(replica_role role, size_t replicas, size_t isr, int32_t min_isr);

// How an ISR changed: members left (shrink), members joined (expand), or both.
struct isr_diff {
    bool shrank = false;
    bool expanded = false;
};
isr_diff compare_isr(const std::vector<int32_t>& before, const std::vector<int32_t>& after);

class replication_metrics {
public:
    explicit replication_metrics(prometheus::Registry& registry);

    // Sets up `cores` cores; until then refresh() does nothing. Called once at start-up,
    // before the first refresh().
    void attach(size_t cores);

    using shard = std::map<topic_partition, std::unique_ptr<partition>>;
    // On `core`: recounts the replicas that core owns (its shard, all of them) and publishes
    // the broker totals. Takes each replica's ISR change counts. min.insync.replicas is each
    // replica's own (the topic's effective setting, given with every config change).
    void refresh(size_t core, shard& replicas);

private:
    // Broker totals, one series each; and the per-replica gauges, one series per replica.
    enum total : size_t { partitions, leaders, under_replicated, under_min_isr, at_min_isr, offline, max_lag, n_totals };
    enum per_replica : size_t { r_under_replicated, r_under_min_isr, r_at_min_isr, r_isr, r_replicas, n_per_replica };
    struct replica_series {
        std::array<prometheus::Gauge*, n_per_replica> gauges{};
        std::vector<std::pair<int32_t, prometheus::Gauge*>> lag;  // per follower, by id
        uint64_t pass = 0;                                        // the last refresh that saw it
    };
    struct alignas(64) core_state {
        std::map<topic_partition, replica_series> series;
        uint64_t pass = 0;
        std::array<std::atomic<int64_t>, n_totals> totals{};  // read by the other cores
    };

    replica_series& series_of(core_state& st, const topic_partition& tp);
    void update_lag(replica_series& s, const topic_partition& tp, partition& p, int64_t& max_lag);
    void remove(replica_series& s);
    void publish();

    std::array<prometheus::Gauge*, n_totals> _totals{};
    std::array<prometheus::Family<prometheus::Gauge>*, n_per_replica> _per_replica{};
    prometheus::Family<prometheus::Gauge>* _lag = nullptr;
    prometheus::Counter* _shrinks = nullptr;
    prometheus::Counter* _expands = nullptr;

    std::vector<std::unique_ptr<core_state>> _cores;
};

} // namespace trib::broker
