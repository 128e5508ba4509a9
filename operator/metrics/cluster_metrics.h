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
// Offsets that could not be read (-1 in the view) are left out, as kafka_exporter does.
// Besides them, tributary_operator_cluster_reachable{namespace,kafkacluster} is 1 after
// update() and 0 after unreachable().
#include "operator/metrics/kafka_reader.h"
#include "common/metric_series.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace trib::op::metrics {

class cluster_metrics {
public:
    // Registers the families in `registry`, which must outlive this object.
    explicit cluster_metrics(prometheus::Registry& registry);
    cluster_metrics(const cluster_metrics&) = delete;
    cluster_metrics& operator=(const cluster_metrics&) = delete;

    // Replaces the series of cluster `ns`/`name` with what `view` shows; series of topics,
    // partitions and brokers it no longer has are removed. Thread-safe.
    void update(const std::string& ns, const std::string& name, const cluster_view& view);
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
    std::map<std::pair<std::string, std::string>, series_set> _clusters;
};

} // namespace trib::op::metrics
