#pragma once

// The seams between the controller and consensus (NuRaft's log_store / state_machine,
// logcabin's Storage/Log and Server/StateMachine):
//
//   controller --append(records)--> replicated_log --apply(offset, record)--> state_machine
//
// A replicated_log orders and commits batches of metadata records; once a batch is committed
// it applies every record to the state machine, in offset order, then completes the append.
// Today the only implementation is single_voter_log (commit = local append + fsync); a Raft
// implementation (later issue) replicates to a quorum first. Nothing above this interface
// may assume one voter: an append completes later, and may fail (not the leader any more).
//
// Invariants: log_start() <= committed(); offsets of committed records never change;
// apply() is called once per committed record per process lifetime, in order, with no gaps
// (a snapshot restore() stands for every record below its offset).
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "coordinator/client/metadata_image.h"
#include "coordinator/client/records.h"

#include <functional>
#include <optional>
#include <span>

namespace trib::coordinator {

class state_machine {
public:
    virtual ~state_machine() = default;
    // A committed record.
    virtual void apply(offset at, const metadata_record& r) = 0;
    // Replaces the whole state with a snapshot's (start-up; a follower far behind).
    virtual void restore(const metadata_image& image) = 0;
};

struct snapshot_view {
    offset at;              // the snapshot holds every record below this offset
    const bytes* batches;   // its records as record batches
};

class replicated_log {
public:
    virtual ~replicated_log() = default;

    // Proposes `records` as one batch (committed all together or not at all). `done` runs on
    // the owner's thread with the last record's offset once it is committed and applied,
    // or with an error.
    virtual void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) = 0;
    // One past the last committed record.
    virtual offset committed() const = 0;
    // The first offset still in the log (records below are only in the snapshot).
    virtual offset log_start() const = 0;
    // Committed batches from the one holding `from`, up to about max_bytes (at least one).
    virtual result<bytes> read(offset from, size_t max_bytes) = 0;
    virtual std::optional<snapshot_view> latest_snapshot() const = 0;
    // Takes a snapshot of `image` (which must reflect every record below committed()) and
    // drops what it makes redundant from the log.
    virtual result<void> snapshot(const metadata_image& image) = 0;
};

} // namespace trib::coordinator
