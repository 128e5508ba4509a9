#pragma once

// What the admin commands read of a running cluster, through the Kafka protocol only:
// brokers with racks, partitions with replicas, leader and ISR (Metadata, from the bootstrap
// broker), and partition sizes (DescribeLogDirs, asked of every broker; a partition's size is
// its largest replica's). Then the balancer's input built from it, which is pure.
#include "admin/errc.h"
#include "coordinator/client/balancer.h"
#include "net/kafka_client.h"
#include "protocol/messages/metadata.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trib::admin {

struct cluster_view {
    protocol::metadata_response metadata;
    // topic, partition -> bytes of the largest replica, for the partitions some broker reported
    std::map<std::pair<std::string, int32_t>, int64_t> sizes;
    std::vector<std::string> warnings;  // brokers whose sizes could not be read, topics in error
};

// Metadata (all topics) from `bootstrap`, then DescribeLogDirs from each broker it names.
// A broker that does not answer DescribeLogDirs is a warning (its replicas count as empty);
// Metadata failing is an error, with the reason in `why`.
asio::awaitable<result<cluster_view>> read_cluster(asio::any_io_executor ex, net::kafka_client& bootstrap,
                                                   std::chrono::milliseconds timeout, std::string& why);

struct selection {
    std::vector<int32_t> leaving;   // broker ids to empty
    std::vector<std::string> topics;  // empty: all topics may move
};

// The balancer's input: every broker of the metadata (leaving as selected), every partition
// (those of topics not selected counted but not movable). Errors (bad_arguments, with `why`):
// a leaving id or a topic the cluster does not have.
result<coordinator::balancer::input> balancer_input(const cluster_view& c, const selection& s, std::string& why);

} // namespace trib::admin
