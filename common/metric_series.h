#pragma once

// The gauges one owner publishes across several families (a Kafka cluster's in the operator,
// the consumer lag of a broker's groups), replaced as a whole: a pass set()s every series it
// still has, then sweep() removes those it did not set (a deleted topic, a partition gone, a
// group deleted, a broker state no pod is in), so /metrics never shows stale series. Not
// thread-safe: its owner locks.
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <map>
#include <utility>

namespace trib {

class series_set {
public:
    series_set() = default;
    series_set(const series_set&) = delete;
    series_set& operator=(const series_set&) = delete;
    series_set(series_set&&) = default;
    series_set& operator=(series_set&&) = default;
    ~series_set() = default;  // the series stay: call clear() to remove them

    void set(prometheus::Family<prometheus::Gauge>& family, const prometheus::Labels& labels, double value) {
        auto& e = _series[{&family, labels}];
        if (e.gauge == nullptr) {
            e.gauge = &family.Add(labels);
        }
        e.gauge->Set(value);
        e.touched = true;
    }

    // Removes the series not set since the last sweep.
    void sweep() {
        for (auto it = _series.begin(); it != _series.end();) {
            if (!it->second.touched) {
                it->first.first->Remove(it->second.gauge);
                it = _series.erase(it);
            } else {
                it->second.touched = false;
                ++it;
            }
        }
    }

    // Removes every series.
    void clear() {
        for (auto& [key, e] : _series) {
            key.first->Remove(e.gauge);
        }
        _series.clear();
    }

    size_t size() const { return _series.size(); }

private:
    struct entry {
        prometheus::Gauge* gauge = nullptr;
        bool touched = false;
    };
    std::map<std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Labels>, entry> _series;
};

} // namespace trib
