#pragma once

// Consumer lag as kafka_exporter (github.com/danielqsj/kafka_exporter) publishes it, with the
// same metric names, labels and meaning, so its dashboards and alerts work unchanged; no I/O:
// the caller reads the offsets and hands them over. The broker publishes the groups it
// coordinates (broker/lag_publisher.h); the operator can publish a whole cluster's with the
// same code, adding its {namespace, kafkacluster} labels.
//
//   kafka_consumergroup_members{consumergroup}                     members of the group (left
//       out when the caller could not learn them)
//   kafka_consumergroup_current_offset{consumergroup,topic,partition}  committed offset; -1 for
//       a partition of a topic the group committed to, without a commit of its own
//   kafka_consumergroup_current_offset_sum{consumergroup,topic}    sum of the committed offsets
//   kafka_consumergroup_lag{consumergroup,topic,partition}         end - committed; -1 without
//       a commit (kafka_exporter's marker, "to be able to alert on that")
//   kafka_consumergroup_lag_sum{consumergroup,topic}               sum of the lags (not the -1s)
//   kafka_consumergroup_lag_seconds{consumergroup,topic,partition} age of the next unconsumed
//       record (now - its timestamp), 0 when caught up; not kafka_exporter's, left out when
//       the record's timestamp is unknown, and altogether when the caller reads no timestamps
//   kafka_topic_partition_current_offset{topic,partition}          high watermark
//   kafka_topic_partition_oldest_offset{topic,partition}           log start offset
//
// Never negative: the caller reads every committed offset FIRST and the end offsets AFTER.
// A commit is of an offset a consumer read, which was below the high watermark then, and the
// high watermark only grows, so end >= committed. kafka_exporter reads the ends first and
// the commits second, so a commit made in between shows as negative lag. A commit above the
// end can still come from a client committing an offset it never read, or a log truncated
// under it: lag is then 0 and the partition is listed in `result::inverted` for the caller to
// log. kafka_exporter sums -1 into current_offset_sum for partitions without a commit; here
// the sum is of real commits only.
#include "common/metric_series.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trib::lag {

using partition_key = std::pair<std::string, int32_t>;  // topic, partition

struct committed_offset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;
    bool operator==(const committed_offset&) const = default;
};

// One group as its coordinator had it when read.
struct group_commits {
    std::string group_id;
    int32_t members = 0;  // -1: not known (no kafka_consumergroup_members series)
    std::vector<committed_offset> offsets;
};

// One partition, read after every group's commits.
struct partition_ends {
    int64_t oldest = -1;  // log start offset; -1: not read
    int64_t end = -1;     // high watermark; -1: not read (no lag is published for it)
    // Timestamp (ms since the epoch) of the record a group committed at `offset` reads next,
    // by offset, where known.
    std::map<int64_t, int64_t> next_timestamp_ms;
};

struct input {
    std::vector<group_commits> groups;              // read first
    std::map<partition_key, partition_ends> ends;   // read after
    // Partitions per topic (from metadata): a group that committed to some partitions of a
    // topic gets the other ones as current_offset -1, lag -1, as kafka_exporter does.
    std::map<std::string, int32_t> topic_partitions;
    // The partitions of `ends` whose kafka_topic_partition_* series this publisher owns (a
    // broker: those it leads, so each is published once in the cluster).
    std::vector<partition_key> publish_partitions;
    int64_t now_ms = 0;
    // False when the caller read no record timestamps (the operator with timestamps off, or
    // a broker without Fetch): no lag_seconds at all, rather than only the caught-up
    // partitions' 0s.
    bool lag_seconds = true;
};

enum class metric : uint8_t {
    members,
    current_offset,
    current_offset_sum,
    lag,
    lag_sum,
    lag_seconds,
    partition_current_offset,
    partition_oldest_offset,
};

struct sample {
    metric name;
    prometheus::Labels labels;
    double value = 0;
};

struct inverted_commit {
    std::string group_id;
    partition_key tp;
    int64_t committed = 0;
    int64_t end = 0;
};

struct result {
    std::vector<sample> samples;
    std::vector<inverted_commit> inverted;  // committed > end: lag shown as 0
};

result compute(const input& in);

// The families, registered once in a registry; publish() writes one pass's samples into a
// series_set (the caller sweeps it afterwards, so series of groups and partitions that are
// gone disappear), each with `base` labels added (the operator's namespace and cluster).
class families {
public:
    explicit families(prometheus::Registry& registry);
    families(const families&) = delete;
    families& operator=(const families&) = delete;

    void publish(series_set& out, const prometheus::Labels& base, const std::vector<sample>& samples);

private:
    prometheus::Family<prometheus::Gauge>& of(metric m);
    std::vector<prometheus::Family<prometheus::Gauge>*> _families;  // by metric
};

} // namespace trib::lag
