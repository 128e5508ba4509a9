#pragma once

// The texts `tributary-admin rebalance` prints, built without I/O so they are unit-tested:
// - a plan as kafka-reassign-partitions reads it (--reassignment-json-file):
//     {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}
//   one partition per line, so a diff of two plans reads well;
// - the same format for the current lists of the partitions a plan changes (to roll back);
// - the human summary: per broker, replicas / preferred leaders / bytes before and after.
#include "coordinator/client/balancer.h"

#include <string>

namespace trib::admin {

// The plan's new replica lists.
std::string reassignment_json(const coordinator::balancer::plan& p);
// The lists the plan replaces: executing it puts the partitions back.
std::string rollback_json(const coordinator::balancer::plan& p);
// Several lines for people: what moves, the loads before and after, what was skipped and
// which balance the plan could not reach.
std::string summary_text(const coordinator::balancer::plan& p);
// A JSON string literal (quotes and escapes).
std::string json_string(std::string_view s);

} // namespace trib::admin
