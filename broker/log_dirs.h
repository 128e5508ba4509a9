#pragma once

// The broker's log directories (`log.dirs`, JBOD as Kafka calls it): which directory holds a
// replica, where a new one goes, and the names partition directories have. Pure functions,
// no I/O: partition_manager lists the directories and acts on the answers.

#include "broker/partition.h"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::broker {

// A directory inside a log directory that holds a partition's log: `<topic>-<partition>`
// (the replica in use) or `<topic>-<partition>.<id>-future` (the copy AlterReplicaLogDirs is
// making in another directory, as Kafka names it).
struct partition_dir_name {
    topic_partition tp;
    bool future = false;
};

// nullopt for any other name: the embedded coordinator's `__cluster_metadata-0`, files, a
// name without a partition number, Kafka's `-delete` and `-stray` directories.
std::optional<partition_dir_name> parse_partition_dir(const std::string& name);
std::string partition_dir(const topic_partition& tp);
std::string future_partition_dir(const topic_partition& tp, const std::string& id);

// Kafka's rule for a new replica: the usable directory holding the fewest partitions (current
// replicas and future copies both count), ties to the one listed first in log.dirs. nullopt
// when none is usable.
std::optional<size_t> choose_log_dir(const std::vector<size_t>& partitions_in, const std::vector<bool>& usable);

// What start-up found in the log directories (listing[d]: the entry names of directory d).
struct log_dirs_scan {
    std::map<topic_partition, size_t> current;  // the directory of each replica in use
    // Future copies of a move in progress: the directory and the entry name of each.
    std::map<topic_partition, std::pair<size_t, std::string>> future;
    // Set when a partition is held by two directories (its replica in use twice, or two
    // future copies): start-up refuses, naming both.
    std::optional<std::string> conflict;
};
log_dirs_scan scan_log_dirs(const std::vector<std::string>& dirs, const std::vector<std::vector<std::string>>& listing);

} // namespace trib::broker
