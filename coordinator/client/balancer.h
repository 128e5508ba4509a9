#pragma once

// The partition balancer: given the brokers (with racks) and every partition's replicas, plans
// the replica changes that even out replica counts, preferred-leader counts and bytes per
// broker, and empties brokers that are leaving. Pure: no I/O, no threads, no clock, no
// randomness; the same input always gives the same plan. `tributary-admin rebalance` prints
// and executes its plans; the operator will run it for brokers joining and leaving.
//
//   balancer::input in{.brokers = {...}, .partitions = {...}};
//   std::string why;
//   auto p = balancer::plan_moves(in, &why);    // p->changes: new replica lists
//
// What a plan guarantees (tests/unit/coordinator/balancer_test.cc checks each over random
// clusters):
// - A changed partition keeps its replication factor and never has two replicas on a broker.
// - Leaving brokers receive nothing and end with no replica (unless a partition holding one
//   may not move: below).
// - Racks, when the brokers have them: a change never lowers a partition's number of
//   distinct racks below min(RF, racks of the remaining brokers, racks it had before).
//   Brokers must all have a rack or none (as Kafka requires).
// - Replica counts of the remaining brokers end within `replica_tolerance` of each other,
//   preferred-leader counts (the first replica of each list) within `leader_tolerance`, as
//   far as racks and the partitions that may not move allow; bytes come closer, within
//   `bytes_tolerance` where single moves or swaps get there. `summary` tells which held.
// - Few moves: a data move replaces one replica of one partition by another broker, in the
//   same position of the list (the others keep theirs); a partition moves only when the move
//   lowers an imbalance, and for counts the smallest partitions move first. Leaders are
//   evened by reordering replica lists (which moves no data); only where no reordering can
//   (a broker shares its partitions with brokers leading as much) two data moves trade one
//   leadership, keeping replica counts.
//
// A plan is meant to be carried out whole (or its rest after changes that no longer apply are
// dropped): planning again over a cluster where only a prefix of the last plan was applied
// gives another plan, not that plan's rest, and doing that batch after batch need not end
// (the operator's balancing step keeps its run's plan for this reason).
//
// Never below the ISR during a move: the plan says where replicas end, not how they get
// there. Reassignment (AlterPartitionReassignments, KIP-455) first adds the new replicas,
// which catch up and join the ISR, and only then drops the old ones, so the ISR never shrinks
// because of a move. A partition whose ISR is already smaller than its replica list
// (under-replicated) is not changed at all, not even reordered; it is listed in `skipped` with
// the reason, and its replicas still count in the loads.
#include "common/ids.h"
#include "common/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trib::coordinator::balancer {

enum class errc {
    invalid_input = 1,  // duplicate broker, duplicate replica in a list, racks on some brokers only
    cannot_place,       // fewer remaining brokers than some partition's replication factor
};

inline std::string errc_message(errc e) {
    switch (e) {
    case errc::invalid_input: return "invalid balancer input";
    case errc::cannot_place: return "the remaining brokers cannot hold every partition";
    }
    return "unknown balancer error";
}

TRIB_ERROR_CATEGORY(balancer, errc, errc_message)

struct broker {
    node_id id;
    std::optional<std::string> rack{};
    bool leaving = false;  // must end with no replicas and receives none
};

struct partition {
    std::string topic;
    partition_id index;
    std::vector<node_id> replicas{};  // in order: the first is the preferred leader
    node_id leader{-1};             // current leader, -1 for none (only reported)
    std::vector<node_id> isr{};
    int64_t size_bytes = 0;         // the largest replica's size
    bool movable = true;            // false: counts in the loads but is never changed
};

struct options {
    int32_t replica_tolerance = 1;   // max - min replica count over the remaining brokers
    int32_t leader_tolerance = 1;    // max - min preferred-leader count
    double bytes_tolerance = 0.1;    // max - min bytes, as a fraction of the mean
    std::optional<int32_t> max_moves;  // data moves (replicas placed on a new broker) at most
};

struct input {
    std::vector<broker> brokers;
    std::vector<partition> partitions;
    options opts;
};

// One partition whose replica list changes.
struct change {
    std::string topic;
    partition_id index;
    std::vector<node_id> old_replicas{};
    std::vector<node_id> new_replicas{};  // the first is the new preferred leader
    int32_t moves = 0;                  // brokers in new_replicas that were not in old_replicas
    int64_t size_bytes = 0;
};

struct broker_load {
    node_id id;
    bool leaving = false;
    int32_t replicas_before = 0, replicas_after = 0;
    int32_t leaders_before = 0, leaders_after = 0;  // preferred leaders (first replica)
    int64_t bytes_before = 0, bytes_after = 0;
};

struct skipped_partition {
    std::string topic;
    partition_id index;
    std::string reason;
};

struct summary {
    std::vector<broker_load> brokers;  // by id, leaving ones included
    int32_t replica_moves = 0;         // sum of change::moves
    int64_t bytes_moved = 0;           // sum of size_bytes * moves
    bool replicas_balanced = false;    // within replica_tolerance after the plan
    bool leaders_balanced = false;
    bool bytes_balanced = false;
    int32_t left_on_leaving = 0;       // replicas still on leaving brokers after the plan
    bool move_limit_reached = false;   // max_moves stopped the plan early
};

struct plan {
    std::vector<change> changes;  // by topic, then partition index
    std::vector<skipped_partition> skipped;
    struct summary summary;
};

// Plans the changes. Errors (with a sentence naming the broker or partition in *why when
// given): invalid_input, cannot_place.
result<plan> plan_moves(const input& in, std::string* why = nullptr);

} // namespace trib::coordinator::balancer

TRIB_REGISTER_ERRC(trib::coordinator::balancer::errc)
