#pragma once
// The coordinator quorum step: spec.coordinators.replicas as the metadata log's voter set, one
// Raft membership change (AddRaftVoter / RemoveRaftVoter, KIP-853) at a time. The decision is
// pure (`decide_quorum`, from a DescribeQuorum read); `manage_quorum` is the step around it
// (quorum_ops.h asks the cluster). Nothing is kept in the operator: the voter set is in the
// metadata log, so each pass starts again from what the leader says, and an operator killed
// mid-change resumes (a change the coordinators are still making answers REQUEST_TIMED_OUT,
// one already made shows in the next read).
//
// Coordinator ids are 1000 + ordinal (objects.h). Rules, in order:
//   1. no leader or no read: wait, change nothing (the StatefulSet never shrinks blind);
//   2. replacement: a voter that runs again with a wiped disk fetches as an observer under its
//      id with a new directory id, and can't vote: RemoveRaftVoter(id, old directory); the
//      next pass adds it back with its new one (rule 3);
//   3. grow: the lowest ordinal below the spec that is not a voter, once it shows among the
//      observers (its directory id comes from there): AddRaftVoter(id, directory, its pod's
//      DNS name and port 9093);
//   4. shrink: the highest-ordinal voter at or above the spec: RemoveRaftVoter(id, directory)
//      while its pod still runs (a 2-voter set with one stopped could not commit the change);
//   StatefulSet replicas = max(spec, 1 + highest voter ordinal, 1): never below a voter.
#include "operator/api/kafka_cluster.h"
#include "operator/controller/objects.h"
#include "operator/k8s/api.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

class quorum_ops;

// One replica of the metadata log as DescribeQuorum lists it. `directory`: Kafka's text form
// of the directory id, "" when zero (a voter from controller.quorum.voters, a broker).
struct quorum_replica {
    int32_t id = -1;
    std::string directory;
    int64_t log_end = -1;
};

struct quorum_view {
    int32_t leader_id = -1;
    int32_t epoch = -1;
    int64_t high_watermark = -1;
    std::vector<quorum_replica> voters;
    std::vector<quorum_replica> observers;  // coordinators not seated, and brokers
};

struct quorum_decision {
    enum class kind { none, wait, add, remove };
    kind what = kind::none;
    int32_t id = -1;           // add / remove
    std::string directory;     // add: the new voter's; remove: the seat's
    bool replacement = false;  // remove: the voter runs with a new directory
    int32_t replicas = 1;      // the coordinator StatefulSet's
    std::string message;       // what the pass does or waits for ("" when the quorum is as asked)
};

// `spec`: spec.coordinators.replicas; `current`: the StatefulSet's replicas now (0: none);
// `view`: nullopt when the quorum could not be read.
quorum_decision decide_quorum(int32_t spec, int32_t current, const std::optional<quorum_view>& view);

// --- the step (reconciler.cc's "coordinator quorum", before the coordinator config) ---
struct quorum_inputs {
    const build_context& ctx;
    const k8s::reader& cache;
    k8s::event_recorder& events;
    quorum_ops* ops;         // null: one coordinator, as before (tests without a cluster)
    const json& object;      // the KafkaCluster, for Events
    const json& old_status;  // as stored before this pass
    int32_t current = 0;     // the coordinator StatefulSet's replicas (0: none yet)
};

struct quorum_outcome {
    int32_t replicas = 1;          // the coordinator StatefulSet's
    std::vector<int32_t> voters;   // controller.quorum.voters: the voter ids last read (sorted)
    std::optional<api::quorum_status> status;  // status.quorum; nullopt without ops
    bool ready = true;             // the voters are ordinals 0..spec-1 and a leader is known
    std::string reason, message;   // QuorumReady's when not ready
};

quorum_outcome manage_quorum(const quorum_inputs& in);

// The voter ids a status.quorum (as stored) names; empty when absent.
std::vector<int32_t> voters_in_status(const json& status);

} // namespace trib::op::controller
