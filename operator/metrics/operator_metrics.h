#pragma once

// The operator's own metrics, per KafkaCluster (labels `namespace`, `kafkacluster`):
//
//   tributary_operator_reconcile_total{namespace,kafkacluster,result}   counter; result is
//       success, error or requeue (succeeded but asked to come back soon: a step waits)
//   tributary_operator_reconcile_errors_total{namespace,kafkacluster}   counter
//   tributary_operator_reconcile_duration_seconds{namespace,kafkacluster}  histogram
//   tributary_operator_brokers{namespace,kafkacluster,state}            gauge: brokers per
//       state as status.brokers reports them (Pending, Running, ...)
//   tributary_operator_leader                                           gauge: 1 while this
//       replica holds the leader-election lease, else 0
//
// All calls are thread-safe.
#include "common/metric_series.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace trib::op::metrics {

enum class reconcile_result { success, error, requeue };

class operator_metrics {
public:
    // Registers the families in `registry`, which must outlive this object.
    explicit operator_metrics(prometheus::Registry& registry);
    operator_metrics(const operator_metrics&) = delete;
    operator_metrics& operator=(const operator_metrics&) = delete;

    // One reconcile pass of cluster ns/name ended with `result` after `took`.
    void reconciled(const std::string& ns, const std::string& name, reconcile_result result,
                    std::chrono::duration<double> took);
    // Replaces the cluster's broker counts: {state: brokers in it}. States absent from
    // `by_state` lose their series.
    void set_brokers(const std::string& ns, const std::string& name, const std::map<std::string, int>& by_state);
    // Whether this replica leads (holds the lease).
    void set_leader(bool leading);
    // Removes every series of a deleted cluster.
    void remove(const std::string& ns, const std::string& name);

private:
    struct per_cluster {
        std::map<reconcile_result, prometheus::Counter*> reconciles;
        prometheus::Counter* errors = nullptr;
        prometheus::Histogram* duration = nullptr;
        series_set brokers;
    };
    per_cluster& cluster(const std::string& ns, const std::string& name);

    std::mutex _mutex;
    prometheus::Family<prometheus::Counter>& _reconciles;
    prometheus::Family<prometheus::Counter>& _errors;
    prometheus::Family<prometheus::Histogram>& _duration;
    prometheus::Family<prometheus::Gauge>& _brokers;
    prometheus::Gauge& _leader;
    std::map<std::pair<std::string, std::string>, per_cluster> _clusters;
};

} // namespace trib::op::metrics
