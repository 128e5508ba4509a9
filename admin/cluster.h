#pragma once

// What the admin commands read of a running cluster, through the Kafka protocol only:
// brokers with racks, partitions with replicas, leader and ISR (Metadata, from the bootstrap
// broker), and partition sizes (DescribeLogDirs, asked of every broker; a partition's size is
// its largest replica's).
#include "admin/errc.h"
#include "coordinator/client/balancer_view.h"
#include "net/kafka_client.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trib::admin {

// The view, the selection and the balancer's input are shared with the operator
// (coordinator/client/balancer_view.h); this file sends the requests.
using coordinator::balancer::balancer_input;
using coordinator::balancer::cluster_view;
using coordinator::balancer::selection;

// Metadata (all topics) from `bootstrap`, then DescribeLogDirs from each broker it names.
// A broker that does not answer DescribeLogDirs is a warning (its replicas count as empty);
// Metadata failing is an error, with the reason in `why`.
asio::awaitable<result<cluster_view>> read_cluster(asio::any_io_executor ex, net::kafka_client& bootstrap,
                                                   std::chrono::milliseconds timeout, std::string& why);

} // namespace trib::admin
