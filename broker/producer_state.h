#pragma once

// Idempotent producers: per partition, the last few batches of every producer id, so a
// retried batch is recognised and answered with its original offset instead of being
// appended again, and a gap or reordering in sequence numbers is refused.
//
// Rules (Kafka's): sequences are per (producer id, partition) and count records; a batch
// carries base_sequence and last_offset_delta, so it covers [base, base + delta] (wrapping
// after INT32_MAX to 0). With the same epoch, a batch must start right after the last one;
// a newer epoch must start at 0; an older epoch is fenced. The last 5 batches are kept
// (the most a client has in flight per connection).
//
// The state survives a restart or a SIGKILL along with the data it describes: it is rebuilt
// on open from the newest usable snapshot file beside the log plus the batch headers after
// it, or from every batch header when there is no usable snapshot.
//
// Each producer also keeps the max timestamp of its last batch (DescribeProducers'
// LastTimestamp, as Kafka's producer state keeps it).
//
// Snapshots (`<offset>.snapshot`, Kafka's naming; the format is in broker/README.md) hold the
// state as of `offset`: every producer batch below it and none above. Version 2 is written;
// version 1 (no timestamps) is still read, its producers' last timestamps -1 until they
// write again. They are written
//   - when the log rolls to a new segment (snapshot_on_roll), at the new segment's base;
//   - at a clean close (write_snapshot(log)), at the log end;
//   - at load, at the log end, when no snapshot was usable and batches were walked, and by
//     retain() when retention left none;
// and the newest two are kept (the older one is the fallback when the newer is damaged or a
// truncation passes it). Loading ignores and deletes snapshots above the log end (an unclean
// stop lost the tail they describe), below the log start (producers' later batches may be
// gone with the deleted segments) and damaged ones (logged). Truncation deletes those above
// the cut before cutting the log.
//
// Why at roll and not every N bytes: after a crash the log itself rescans (with CRCs) every
// segment above its recovery point, at least the active one, so a snapshot at the active
// segment's base leaves the producer-state walk no more to read than recovery just read.
//
// Everything runs on the partition's owner thread. The roll snapshot is right only if every
// producer batch appended is record()ed before the next append (the Produce path does both in
// one step).
#include "common/batch_header.h"
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "storage/log.h"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace trib::broker {

class producer_state {
public:
    static constexpr size_t batches_kept = 5;
    static constexpr size_t snapshots_kept = 2;

    enum class verdict {
        append,           // new and in sequence
        duplicate,        // seen before: answer with `duplicate_of`
        out_of_order,     // OUT_OF_ORDER_SEQUENCE_NUMBER
        fenced,           // epoch older than the producer's current one: INVALID_PRODUCER_EPOCH
        unknown_producer, // no state and the sequence doesn't start at 0: UNKNOWN_PRODUCER_ID
    };
    struct check_result {
        verdict v = verdict::append;
        int64_t duplicate_of = -1;  // base offset of the original batch
    };

    // Judges a producer batch (producer_id >= 0) before it is appended.
    check_result check(const batch_header& h) const;
    // Records a batch once appended (h.base_offset is the assigned offset).
    void record(const batch_header& h);
    void clear() {
        _producers.clear();
        _saved_at.reset();
    }
    size_t producers() const noexcept { return _producers.size(); }
    // What DescribeProducers tells of a producer: its epoch, the last sequence and the max
    // timestamp of its last batch (-1 when it came from a version 1 snapshot).
    struct active_producer {
        int64_t producer_id = -1;
        int16_t epoch = -1;
        int32_t last_sequence = -1;
        int64_t last_timestamp = -1;
        bool operator==(const active_producer&) const = default;
    };
    // Every producer known, producer id ascending.
    std::vector<active_producer> active() const;
    // Same producers with the same epochs, last timestamps and remembered batches.
    bool operator==(const producer_state& o) const { return _producers == o._producers; }

    // What load() did, for its log line and for tests.
    struct load_stats {
        std::optional<offset> snapshot;  // the snapshot loaded; nullopt: walked the whole log
        uint16_t snapshot_version = 0;   // its version
        uint64_t batches_walked = 0;     // batch headers read after it
        size_t snapshots_dropped = 0;    // above the log end, below its start, or damaged
    };
    // Replaces the state with that of `log`'s batches: the newest usable snapshot in its
    // directory, then the batch headers from there to the log end. On an error (an unreadable
    // log file) the state is partial and write_snapshot refuses to save it until a load
    // succeeds.
    result<load_stats> load(const storage::log& log);
    // Writes the state as a snapshot at `at` (the state must cover exactly the batches below
    // it) and deletes all but the newest `snapshots_kept`. Atomic (temp file, fsync, rename,
    // directory fsync). Skipped when the state was loaded from or saved at `at` and nothing was
    // recorded since.
    result<void> write_snapshot(const std::filesystem::path& dir, offset at);
    // At the log end (clean close).
    result<void> write_snapshot(const storage::log& log) { return write_snapshot(log.dir(), log.next_offset()); }
    // Makes `log` snapshot this state each time it rolls (failures are logged: a snapshot only
    // saves work at the next open). This object must outlive the listener's use: the log's
    // owner keeps both and the log doesn't roll while it is destroyed.
    void snapshot_on_roll(storage::log& log);
    // Truncates `log` at `to` (storage::log::truncate) with the snapshots and this state kept
    // in step: snapshots above the cut (all of them when the log restarts empty) are deleted
    // first, so no crash can leave one describing removed batches; then the state is reloaded.
    result<void> truncate(storage::log& log, offset to);
    // storage::log::truncate_fully_and_start_at with every snapshot dropped and this state
    // emptied: nothing of the old history stays.
    result<void> truncate_fully_and_start_at(storage::log& log, offset to);
    // After retention or DeleteRecords moved the log start: deletes snapshots below it, and
    // writes one at the log end when that removed the last one, so the producers of deleted
    // segments are still known after a restart (as they are in memory).
    result<void> retain(const storage::log& log);

    // The snapshot versions: what encode_snapshot writes, and the oldest decode_snapshot reads.
    static constexpr uint16_t snapshot_version = 2;
    static constexpr uint16_t oldest_snapshot_version = 1;
    // The snapshot file's bytes for this state at `at`, in `version` (1 drops the timestamps:
    // for tests of reading old files).
    bytes encode_snapshot(offset at, uint16_t version = snapshot_version) const;
    // Decodes a snapshot that says it is at `at` (its file name); nullopt with the reason in
    // `why` when it is damaged, of an unknown version or not at `at`. Never trusts a length.
    static std::optional<producer_state> decode_snapshot(bytes_view data, offset at, std::string& why);
    // "<dir>/00000000000000012345.snapshot"
    static std::filesystem::path snapshot_path(const std::filesystem::path& dir, offset at);
    // Offsets of the snapshot files in `dir`, ascending.
    static result<std::vector<offset>> list_snapshots(const std::filesystem::path& dir);

private:
    struct batch_meta {
        int32_t first_seq;
        int32_t last_seq;
        int64_t base_offset;
        bool operator==(const batch_meta&) const = default;
    };
    struct entry {
        int16_t epoch = -1;
        int64_t last_timestamp = -1;    // max timestamp of the last batch recorded
        std::deque<batch_meta> recent;  // oldest first
        bool operator==(const entry&) const = default;
    };
    // Deletes the snapshots at `doomed`; `durable`: and syncs the directory.
    result<void> drop_snapshots(const std::filesystem::path& dir, const std::vector<offset>& doomed,
                                bool durable) const;

    std::unordered_map<int64_t, entry> _producers;
    // The offset of a snapshot file holding exactly this state, if any.
    std::optional<offset> _saved_at;
    // False after a load() that failed part way: such a state is never written to a snapshot.
    bool _complete = true;
};

int32_t last_sequence(const batch_header& h) noexcept;

} // namespace trib::broker
