#pragma once

// The topic metrics kafka_exporter (github.com/danielqsj/kafka_exporter) publishes, with the
// same names, labels and meaning, for every KafkaCluster the operator manages: dashboards
// and alerts written for kafka_exporter work unchanged. Each series also carries
// `namespace` and `kafkacluster`, since one operator serves many clusters.
//
//   kafka_brokers{namespace,kafkacluster}                          brokers in Metadata
//   kafka_broker_info{namespace,kafkacluster,address,id}           1 per broker
//   kafka_topic_partitions{namespace,kafkacluster,topic}           partitions of the topic
//   kafka_topic_partition_current_offset{...,topic,partition}      high watermark
//   kafka_topic_partition_oldest_offset{...,topic,partition}       log start offset
//   kafka_topic_partition_leader{...,topic,partition}              leader's broker id
//   kafka_topic_partition_leader_is_preferred{...,topic,partition} 1 if the leader is replicas[0]
//   kafka_topic_partition_replicas{...,topic,partition}            replica count
//   kafka_topic_partition_in_sync_replica{...,topic,partition}     in-sync replica count
//   kafka_topic_partition_under_replicated_partition{...}          1 if isr < replicas
//
// and, for each consumer group of the view, common/consumer_lag.h's series (the same
// component the brokers publish their groups' lag with), also with {namespace,kafkacluster}:
//
//   kafka_consumergroup_members{...,consumergroup}                 (left out when unknown)
//   kafka_consumergroup_current_offset{...,consumergroup,topic,partition}
//   kafka_consumergroup_current_offset_sum{...,consumergroup,topic}
//   kafka_consumergroup_lag{...,consumergroup,topic,partition}     end - committed, >= 0; -1
//                                                                   for a partition without a commit
//   kafka_consumergroup_lag_sum{...,consumergroup,topic}
//   kafka_consumergroup_lag_seconds{...,consumergroup,topic,partition}  age of the next
//       record at the read's time (view.read_at_ms), 0 when caught up; only when the view
//       has timestamps (view.timestamps_read), and for the partitions whose record was read
//
// and no second copy of kafka_topic_partition_current_offset / _oldest_offset from the lag
// component.
// Offsets that could not be read (-1 in the view) are left out, as kafka_exporter does.
// Besides them, tributary_operator_cluster_reachable{namespace,kafkacluster} is 1 after
// update() and 0 after unreachable().
#include "operator/metrics/kafka_reader.h"
#include "common/consumer_lag.h"
#include "common/metric_series.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace trib::op::metrics {

class cluster_metrics {
public:
    // Registers the families in `registry`, which must outlive this object.
    explicit cluster_metrics(prometheus::Registry& registry);
    cluster_metrics(const cluster_metrics&) = delete;
    cluster_metrics& operator=(const cluster_metrics&) = delete;

    // Replaces the series of cluster `ns`/`name` with what `view` shows; series of topics,
    // partitions, brokers and groups it no longer has are removed. Thread-safe. Returns the
    // commits above their partition's end (shown with lag 0), for the caller to log.
    std::vector<lag::inverted_commit> update(const std::string& ns, const std::string& name, const cluster_view& view);
    // The cluster could not be read: its kafka_* series go (they would be stale) and
    // tributary_operator_cluster_reachable becomes 0.
    void unreachable(const std::string& ns, const std::string& name);
    // Removes every series of the cluster (deleted, or metrics.enabled turned off).
    void remove(const std::string& ns, const std::string& name);

private:
    using family = prometheus::Family<prometheus::Gauge>;
    std::mutex _mutex;
    family& _brokers;
    family& _broker_info;
    family& _topic_partitions;
    family& _current_offset;
    family& _oldest_offset;
    family& _leader;
    family& _leader_is_preferred;
    family& _replicas;
    family& _in_sync_replicas;
    family& _under_replicated;
    family& _reachable;
    lag::families _lag;  // after the families above: kafka_topic_partition_* are theirs
    std::map<std::pair<std::string, std::string>, series_set> _clusters;
};

} // namespace trib::op::metrics
