#pragma once

// The balancer's view of a running cluster as the Kafka protocol gives it, shared by the
// clients that plan with balancer.h (tributary-admin rebalance, the operator's balancing):
// brokers with racks, partitions with replicas, leader and ISR (a Metadata answer), and
// partition sizes (DescribeLogDirs answers of every broker; a partition's size is its largest
// replica's). Pure: the callers send the requests over their own connections.
#include "coordinator/client/balancer.h"
#include "protocol/messages/alter_partition_reassignments.h"
#include "protocol/messages/describe_log_dirs.h"
#include "protocol/messages/metadata.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trib::coordinator::balancer {

struct cluster_view {
    protocol::metadata_response metadata;
    // topic, partition -> bytes of the largest replica, for the partitions some broker reported
    std::map<std::pair<std::string, int32_t>, int64_t> sizes;
    std::vector<std::string> warnings;  // brokers whose sizes could not be read, topics in error
};

// The Metadata request for the view: all topics, no auto-creation (v1+: racks, null = all).
protocol::metadata_request all_topics_metadata_request();

// Takes a Metadata answer into `view` (topics in error become warnings).
void set_metadata(cluster_view& view, protocol::metadata_response md);

// The DescribeLogDirs request for every partition a broker holds.
protocol::describe_log_dirs_request all_log_dirs_request();

// Adds one broker's DescribeLogDirs answer to view.sizes (the largest replica wins; offline
// directories and future replicas are not counted). False, with the reason in `why`, when the
// answer is an error as a whole.
bool add_sizes(cluster_view& view, const protocol::describe_log_dirs_response& resp, std::string& why);

struct selection {
    std::vector<int32_t> leaving;     // broker ids to empty
    std::vector<std::string> topics;  // empty: all topics may move
};

// The balancer's input: every broker of the metadata (leaving as selected), every partition
// (those of topics not selected counted but not movable). Errors (invalid_input, with `why`):
// a leaving id or a topic the cluster does not have.
result<input> balancer_input(const cluster_view& c, const selection& s, std::string& why);

// AlterPartitionReassignments for `changes` (their new replica lists), grouped by topic in
// the order given.
protocol::alter_partition_reassignments_request reassignment_request(const std::vector<change>& changes,
                                                                    std::chrono::milliseconds timeout);

} // namespace trib::coordinator::balancer
