#include "common/consumer_lag.h"

#include <algorithm>

namespace trib::lag {

namespace {

struct metric_desc {
    metric m;
    const char* name;
    const char* help;
};

// kafka_exporter's help texts where the metric is kafka_exporter's.
constexpr metric_desc descs[] = {
    {metric::members, "kafka_consumergroup_members", "Amount of members in a consumer group"},
    {metric::current_offset, "kafka_consumergroup_current_offset",
     "Current Offset of a ConsumerGroup at Topic/Partition"},
    {metric::current_offset_sum, "kafka_consumergroup_current_offset_sum",
     "Current Offset of a ConsumerGroup at Topic for all partitions"},
    {metric::lag, "kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition"},
    {metric::lag_sum, "kafka_consumergroup_lag_sum",
     "Current Approximate Lag of a ConsumerGroup at Topic for all partitions"},
    {metric::lag_seconds, "kafka_consumergroup_lag_seconds",
     "Age in seconds of the next record the ConsumerGroup will read at Topic/Partition; 0 when caught up"},
    {metric::partition_current_offset, "kafka_topic_partition_current_offset",
     "Current Offset of a Broker at Topic/Partition"},
    {metric::partition_oldest_offset, "kafka_topic_partition_oldest_offset",
     "Oldest Offset of a Broker at Topic/Partition"},
};

} // namespace

result compute(const input& in) {
    result out;
    auto add = [&out](metric m, prometheus::Labels labels, double v) {
        out.samples.push_back(sample{m, std::move(labels), v});
    };
    for (const auto& g : in.groups) {
        if (g.members >= 0) {
            add(metric::members, {{"consumergroup", g.group_id}}, g.members);
        }
        // By topic, then partition; a commit of -1 is no commit.
        std::map<std::string, std::map<int32_t, int64_t>> by_topic;
        for (const auto& c : g.offsets) {
            if (c.offset >= 0) {
                by_topic[c.topic][c.partition] = c.offset;
            }
        }
        for (auto& [topic, parts] : by_topic) {
            auto n = in.topic_partitions.find(topic);
            if (n != in.topic_partitions.end()) {
                for (int32_t p = 0; p < n->second; ++p) {
                    parts.try_emplace(p, -1);
                }
            }
            int64_t offset_sum = 0;
            int64_t lag_sum = 0;
            for (const auto& [p, committed] : parts) {
                prometheus::Labels l{{"consumergroup", g.group_id}, {"topic", topic}, {"partition", std::to_string(p)}};
                add(metric::current_offset, l, double(committed));
                if (committed < 0) {
                    add(metric::lag, l, -1);
                    continue;
                }
                offset_sum += committed;
                auto e = in.ends.find({topic, p});
                if (e == in.ends.end() || e->second.end < 0) {
                    continue;  // the end could not be read: no lag rather than a wrong one
                }
                int64_t end = e->second.end;
                if (committed > end) {
                    out.inverted.push_back(inverted_commit{g.group_id, {topic, p}, committed, end});
                }
                int64_t lag = std::max<int64_t>(0, end - committed);
                lag_sum += lag;
                add(metric::lag, l, double(lag));
                if (!in.lag_seconds) {
                    continue;
                }
                if (lag == 0) {
                    add(metric::lag_seconds, l, 0);
                } else if (auto ts = e->second.next_timestamp_ms.find(committed);
                           ts != e->second.next_timestamp_ms.end()) {
                    add(metric::lag_seconds, l, double(std::max<int64_t>(0, in.now_ms - ts->second)) / 1000.0);
                }
            }
            prometheus::Labels t{{"consumergroup", g.group_id}, {"topic", topic}};
            add(metric::current_offset_sum, t, double(offset_sum));
            add(metric::lag_sum, t, double(lag_sum));
        }
    }
    for (const auto& key : in.publish_partitions) {
        auto e = in.ends.find(key);
        if (e == in.ends.end()) {
            continue;
        }
        prometheus::Labels l{{"topic", key.first}, {"partition", std::to_string(key.second)}};
        // Offsets that could not be read are left out, as kafka_exporter does.
        if (e->second.end >= 0) {
            add(metric::partition_current_offset, l, double(e->second.end));
        }
        if (e->second.oldest >= 0) {
            add(metric::partition_oldest_offset, l, double(e->second.oldest));
        }
    }
    return out;
}

families::families(prometheus::Registry& registry) {
    _families.resize(std::size(descs));
    for (const auto& d : descs) {
        _families[size_t(d.m)] = &prometheus::BuildGauge().Name(d.name).Help(d.help).Register(registry);
    }
}

prometheus::Family<prometheus::Gauge>& families::of(metric m) { return *_families[size_t(m)]; }

void families::publish(series_set& out, const prometheus::Labels& base, const std::vector<sample>& samples) {
    for (const auto& s : samples) {
        if (base.empty()) {
            out.set(of(s.name), s.labels, s.value);
        } else {
            auto l = base;
            l.insert(s.labels.begin(), s.labels.end());
            out.set(of(s.name), l, s.value);
        }
    }
}

} // namespace trib::lag
