#include "operator/metrics/cluster_metrics.h"

#include "common/listeners.h"

namespace trib::op::metrics {

namespace {

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& r, const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

} // namespace

cluster_metrics::cluster_metrics(prometheus::Registry& r)
  : _brokers(gauge(r, "kafka_brokers", "Number of brokers the cluster's Metadata lists.")),
    _broker_info(gauge(r, "kafka_broker_info", "Always 1; address and id name a broker of the cluster.")),
    _topic_partitions(gauge(r, "kafka_topic_partitions", "Number of partitions of the topic.")),
    _current_offset(gauge(r, "kafka_topic_partition_current_offset",
                          "High watermark of the partition: the offset the next record gets.")),
    _oldest_offset(gauge(r, "kafka_topic_partition_oldest_offset",
                         "Log start offset of the partition: the oldest offset still readable.")),
    _leader(gauge(r, "kafka_topic_partition_leader", "Broker id of the partition's leader (-1: none).")),
    _leader_is_preferred(gauge(r, "kafka_topic_partition_leader_is_preferred",
                               "1 if the partition's leader is its preferred (first) replica.")),
    _replicas(gauge(r, "kafka_topic_partition_replicas", "Number of replicas of the partition.")),
    _in_sync_replicas(gauge(r, "kafka_topic_partition_in_sync_replica",
                            "Number of in-sync replicas of the partition.")),
    _under_replicated(gauge(r, "kafka_topic_partition_under_replicated_partition",
                            "1 if the partition has fewer in-sync replicas than replicas.")),
    _reachable(gauge(r, "tributary_operator_cluster_reachable",
                     "1 if the operator's last read of the cluster through the Kafka protocol succeeded, else 0.")),
    _lag(r) {}

std::vector<lag::inverted_commit> cluster_metrics::update(const std::string& ns, const std::string& name,
                                                         const cluster_view& view) {
    const prometheus::Labels cluster{{"namespace", ns}, {"kafkacluster", name}};
    auto with = [&](std::initializer_list<std::pair<const std::string, std::string>> extra) {
        auto l = cluster;
        l.insert(extra);
        return l;
    };
    std::lock_guard lock(_mutex);
    auto& s = _clusters[{ns, name}];
    s.set(_reachable, cluster, 1);
    s.set(_brokers, cluster, double(view.brokers.size()));
    for (const auto& b : view.brokers) {
        s.set(_broker_info, with({{"address", config::format_host_port(b.host, uint16_t(b.port))},
                                  {"id", std::to_string(b.id)}}), 1);
    }
    std::map<std::string, int> partitions_per_topic;
    for (const auto& p : view.partitions) {
        ++partitions_per_topic[p.topic];
        auto l = with({{"topic", p.topic}, {"partition", std::to_string(p.partition)}});
        if (p.current_offset >= 0) {
            s.set(_current_offset, l, double(p.current_offset));
        }
        if (p.oldest_offset >= 0) {
            s.set(_oldest_offset, l, double(p.oldest_offset));
        }
        s.set(_leader, l, p.leader);
        s.set(_leader_is_preferred, l, !p.replicas.empty() && p.replicas.front() == p.leader ? 1 : 0);
        s.set(_replicas, l, double(p.replicas.size()));
        s.set(_in_sync_replicas, l, double(p.isr.size()));
        s.set(_under_replicated, l, p.isr.size() < p.replicas.size() ? 1 : 0);
    }
    for (const auto& [topic, n] : partitions_per_topic) {
        s.set(_topic_partitions, with({{"topic", topic}}), n);
    }
    // The groups' commits were read before the ends (kafka_reader.h), so lag >= 0. No
    // publish_partitions: this class publishes the partitions' offsets itself, above.
    lag::input in;
    for (const auto& g : view.groups) {
        in.groups.push_back(lag::group_commits{g.group_id, g.members, g.offsets});
    }
    for (const auto& p : view.partitions) {
        in.ends[{p.topic, p.partition}] = lag::partition_ends{p.oldest_offset, p.current_offset, p.next_timestamp_ms};
    }
    in.topic_partitions.insert(partitions_per_topic.begin(), partitions_per_topic.end());
    in.lag_seconds = view.timestamps_read;
    in.now_ms = view.read_at_ms;
    auto lag = lag::compute(in);
    _lag.publish(s, cluster, lag.samples);
    s.sweep();
    return std::move(lag.inverted);
}

void cluster_metrics::unreachable(const std::string& ns, const std::string& name) {
    std::lock_guard lock(_mutex);
    auto& s = _clusters[{ns, name}];
    s.set(_reachable, {{"namespace", ns}, {"kafkacluster", name}}, 0);
    s.sweep();
}

void cluster_metrics::remove(const std::string& ns, const std::string& name) {
    std::lock_guard lock(_mutex);
    auto it = _clusters.find({ns, name});
    if (it != _clusters.end()) {
        it->second.clear();
        _clusters.erase(it);
    }
}

} // namespace trib::op::metrics
