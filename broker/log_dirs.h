#pragma once

// The broker's log directories (`log.dirs`, JBOD as Kafka calls it): which directory holds a
// replica, where a new one goes, and the names partition directories have. Pure functions,
// no I/O: partition_manager lists the directories and acts on the answers.

#include "broker/partition.h"

#include <cstddef>
#include <cstdint>
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

// The bound on copying future logs (replica.alter.log.dirs.io.max.bytes.per.second, Kafka's
// AlterLogDirs quota): one for the broker, shared by all its moves. A token bucket: credit
// grows at the rate, at most a tenth of a second's worth kept while no copy takes it (so an
// idle broker saves up no burst). A copy is granted the credit there is, copies, and settles
// what it really copied: a read returns whole batches, so the credit may go below zero by
// one read, which the next grant waits to be paid back. So over any span from the first
// grant, what was copied is at most rate * span + a tenth of a second's worth + one read.
// Not thread-safe: the caller locks.
class move_quota {
public:
    // nullopt: no limit. 0 stops copying (Kafka's quota of 0).
    void set_rate(std::optional<int64_t> bytes_per_second);
    std::optional<int64_t> rate() const noexcept { return _rate; }
    // Bytes a copy may take at `now_s` (seconds, any steady origin), at most `want`: 0 means
    // wait (see wait_s), else taken from the credit until settle().
    uint64_t grant(double now_s, uint64_t want);
    // A copy granted `granted` bytes copied `used` (more when a batch was bigger).
    void settle(uint64_t granted, uint64_t used);
    // Seconds until a grant can be made (after a grant of 0); a guess, polled again.
    double wait_s() const;

private:
    std::optional<int64_t> _rate;
    double _credit = 0;
    double _last = -1;  // when the credit was last grown; < 0: never
};

} // namespace trib::broker
