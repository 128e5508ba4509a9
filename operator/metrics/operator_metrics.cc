#include "operator/metrics/operator_metrics.h"

namespace trib::op::metrics {

namespace {

const char* result_name(reconcile_result r) {
    switch (r) {
    case reconcile_result::success: return "success";
    case reconcile_result::error: return "error";
    case reconcile_result::requeue: return "requeue";
    }
    return "unknown";
}

prometheus::Labels cluster_labels(const std::string& ns, const std::string& name) {
    return {{"namespace", ns}, {"kafkacluster", name}};
}

// From a quick pass over cached objects (milliseconds) to one that waits on slow API calls.
const prometheus::Histogram::BucketBoundaries duration_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                               1,     2.5,  5,     10,   30,  60};

} // namespace

operator_metrics::operator_metrics(prometheus::Registry& r)
  : _reconciles(prometheus::BuildCounter()
                    .Name("tributary_operator_reconcile_total")
                    .Help("Reconcile passes of a KafkaCluster, by result (success, error, requeue).")
                    .Register(r)),
    _errors(prometheus::BuildCounter()
                .Name("tributary_operator_reconcile_errors_total")
                .Help("Reconcile passes of a KafkaCluster that failed.")
                .Register(r)),
    _duration(prometheus::BuildHistogram()
                  .Name("tributary_operator_reconcile_duration_seconds")
                  .Help("Time a reconcile pass of a KafkaCluster took.")
                  .Register(r)),
    _brokers(prometheus::BuildGauge()
                 .Name("tributary_operator_brokers")
                 .Help("Brokers of a KafkaCluster by state, as its status reports them.")
                 .Register(r)),
    _leader(prometheus::BuildGauge()
                .Name("tributary_operator_leader")
                .Help("1 while this operator replica holds the leader-election lease, else 0.")
                .Register(r)
                .Add({})) {}

operator_metrics::per_cluster& operator_metrics::cluster(const std::string& ns, const std::string& name) {
    auto& c = _clusters[{ns, name}];
    if (c.errors == nullptr) {
        auto labels = cluster_labels(ns, name);
        for (auto r : {reconcile_result::success, reconcile_result::error, reconcile_result::requeue}) {
            auto l = labels;
            l.emplace("result", result_name(r));
            c.reconciles[r] = &_reconciles.Add(l);
        }
        c.errors = &_errors.Add(labels);
        c.duration = &_duration.Add(labels, duration_buckets);
    }
    return c;
}

void operator_metrics::reconciled(const std::string& ns, const std::string& name, reconcile_result result,
                                  std::chrono::duration<double> took) {
    std::lock_guard lock(_mutex);
    auto& c = cluster(ns, name);
    c.reconciles[result]->Increment();
    if (result == reconcile_result::error) {
        c.errors->Increment();
    }
    c.duration->Observe(took.count());
}

void operator_metrics::set_brokers(const std::string& ns, const std::string& name,
                                   const std::map<std::string, int>& by_state) {
    std::lock_guard lock(_mutex);
    auto& c = cluster(ns, name);
    for (const auto& [state, n] : by_state) {
        auto l = cluster_labels(ns, name);
        l.emplace("state", state);
        c.brokers.set(_brokers, l, n);
    }
    c.brokers.sweep();
}

void operator_metrics::set_leader(bool leading) {
    _leader.Set(leading ? 1 : 0);
}

void operator_metrics::remove(const std::string& ns, const std::string& name) {
    std::lock_guard lock(_mutex);
    auto it = _clusters.find({ns, name});
    if (it == _clusters.end()) {
        return;
    }
    auto& c = it->second;
    for (auto& [_, counter] : c.reconciles) {
        _reconciles.Remove(counter);
    }
    _errors.Remove(c.errors);
    _duration.Remove(c.duration);
    c.brokers.clear();
    _clusters.erase(it);
}

} // namespace trib::op::metrics
