// tributary-cluster-probe: reads a cluster the way the operator does for its metrics
// (operator/metrics/kafka_reader.h) and prints what it saw, for cluster_probe_test.py.
//
//   tributary-cluster-probe <bootstrap> [timeout-ms] [connect-timeout-ms]
//
// Prints one JSON object: {"view": {...}, "metrics": "<Prometheus text>"}, the metrics being
// what cluster_metrics publishes for the view under namespace "ns", kafkacluster "probe"
// (the operator's /metrics for that cluster, consumer lag included). The view has the groups
// with their members and committed offsets.
// Exit 0; 1 with "tributary-cluster-probe: <reason>" on stderr when the read fails; 2 on
// bad arguments.
#include "operator/metrics/cluster_metrics.h"
#include "operator/metrics/kafka_reader.h"

#include <cpprest/json.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <iostream>
#include <string>

using namespace trib::op::metrics;
using web::json::value;

namespace {

value ids(const std::vector<int32_t>& v) {
    auto a = value::array(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        a[i] = value::number(v[i]);
    }
    return a;
}

value to_json(const cluster_view& view) {
    value out;
    out["cluster_id"] = value::string(view.cluster_id);
    out["controller_id"] = value::number(view.controller_id);
    auto brokers = value::array(view.brokers.size());
    for (size_t i = 0; i < view.brokers.size(); ++i) {
        const auto& b = view.brokers[i];
        brokers[i]["id"] = value::number(b.id);
        brokers[i]["host"] = value::string(b.host);
        brokers[i]["port"] = value::number(b.port);
        brokers[i]["rack"] = value::string(b.rack);
    }
    out["brokers"] = brokers;
    auto partitions = value::array(view.partitions.size());
    for (size_t i = 0; i < view.partitions.size(); ++i) {
        const auto& p = view.partitions[i];
        partitions[i]["topic"] = value::string(p.topic);
        partitions[i]["partition"] = value::number(p.partition);
        partitions[i]["leader"] = value::number(p.leader);
        partitions[i]["replicas"] = ids(p.replicas);
        partitions[i]["isr"] = ids(p.isr);
        partitions[i]["oldest_offset"] = value::number(p.oldest_offset);
        partitions[i]["current_offset"] = value::number(p.current_offset);
    }
    out["partitions"] = partitions;
    auto groups = value::array(view.groups.size());
    for (size_t i = 0; i < view.groups.size(); ++i) {
        const auto& g = view.groups[i];
        groups[i]["group_id"] = value::string(g.group_id);
        groups[i]["coordinator"] = value::number(g.coordinator);
        groups[i]["protocol_type"] = value::string(g.protocol_type);
        groups[i]["type"] = value::string(g.type);
        groups[i]["state"] = value::string(g.state);
        groups[i]["members"] = value::number(g.members);
        auto offsets = value::array(g.offsets.size());
        for (size_t j = 0; j < g.offsets.size(); ++j) {
            offsets[j]["topic"] = value::string(g.offsets[j].topic);
            offsets[j]["partition"] = value::number(g.offsets[j].partition);
            offsets[j]["offset"] = value::number(g.offsets[j].offset);
        }
        groups[i]["offsets"] = offsets;
    }
    out["groups"] = groups;
    auto problems = value::array(view.problems.size());
    for (size_t i = 0; i < view.problems.size(); ++i) {
        problems[i] = value::string(view.problems[i]);
    }
    out["problems"] = problems;
    return out;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 4) {
        std::cerr << "usage: tributary-cluster-probe <bootstrap> [timeout-ms] [connect-timeout-ms]\n";
        return 2;
    }
    read_options options;
    try {
        if (argc > 2) {
            options.timeout = std::chrono::milliseconds(std::stol(argv[2]));
        }
        if (argc > 3) {
            options.connect_timeout = std::chrono::milliseconds(std::stol(argv[3]));
        }
    } catch (const std::exception&) {
        std::cerr << "tributary-cluster-probe: timeouts are milliseconds\n";
        return 2;
    }
    std::string why;
    auto view = read_cluster(argv[1], options, &why);
    if (!view) {
        std::cerr << "tributary-cluster-probe: " << why << "\n";
        return 1;
    }
    prometheus::Registry registry;
    cluster_metrics metrics(registry);
    metrics.update("ns", "probe", *view);
    value out;
    out["view"] = to_json(*view);
    out["metrics"] = value::string(prometheus::TextSerializer().Serialize(registry.Collect()));
    std::cout << out.serialize() << "\n";
    return 0;
}
