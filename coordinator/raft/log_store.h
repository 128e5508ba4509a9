#pragma once

// A voter's durable Raft log: the metadata log of coordinator/README.md, on storage::log, in
// the same directory as before Raft (`<log.dirs>/__cluster_metadata-0/`), so a single-voter
// cluster's data opens unchanged.
//
// On disk:
//   00000000000000000000.log ...   storage::log segments; one entry = one record batch at its
//                                   offsets, partition leader epoch = term (raft/codec.h); the
//                                   batches of before Raft carry -1 (or 0): term 0
//   leader-epoch-checkpoint         storage::log's epoch cache = where each term starts: term_at()
//   snapshots/<end, 20 digits>.snapshot
//                                   a control batch with the snapshot header (end, term, voter
//                                   set: CoordinatorSnapshotHeaderRecord), then the state
//                                   machine's records as metadata batches. A file without the
//                                   header (written before Raft) is read as term 0 with the
//                                   configured voters. Written through .tmp, fsync, rename,
//                                   directory fsync (coordinator/single_voter_log.h); older
//                                   snapshots are removed once a newer one is in place.
//   quorum-state                    the durable term and vote (raft/quorum_state.h)
//
// Invariants: first() == snapshot().end (0 without a snapshot); every entry in
// [first(), end()) is readable, entries are contiguous and their terms never decrease; a
// snapshot's term is the term of the entry ending at its end. These are the Raft core's
// log_reader's (raft/node.h): the store is the reader the core is built over.
//
// Durability: append() only buffers (one write into the page cache); sync() makes it durable
// (storage::log group commit, on the syncer thread when one is given). truncate(),
// save_snapshot() and install_snapshot() are durable when they return.
//
// Recovery (open): storage::log recovers the segments (a torn tail is cut at the last whole
// batch, storage/README.md). Then the latest readable snapshot is loaded and the log made to
// start at its end, finishing what a crash interrupted: when the log holds the snapshot's
// history (the entry ending at its end has its term), the entries below it are dropped (a
// save_snapshot() interrupted before it compacted); otherwise (the log ends before the
// snapshot's end, or that entry has another term: an install_snapshot() interrupted before
// it reset the log) the log is reset to start, empty, at the snapshot's end. A log that
// starts after 0 without a snapshot, or after its snapshot's end, lost committed entries:
// open() refuses to start.
//
// Not thread-safe: one owner thread calls everything; sync()'s callback runs on the syncer's
// thread (inline without one).
#include "common/bytes.h"
#include "common/result.h"
#include "coordinator/raft/node.h"
#include "coordinator/raft/types.h"
#include "storage/log.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace trib::coordinator::raft {

class log_store final : public log_reader {
public:
    struct options {
        storage::log_config log;
        // Group commit thread for sync(); nullptr: sync() fsyncs inline on the caller's thread.
        storage::syncer* syncer = nullptr;
        // controller.quorum.voters: the voter set of a snapshot written before Raft.
        voter_set configured_voters;
    };

    // Opens (creating) the log in `dir`. Throws std::runtime_error, naming the directory and
    // the reason, when it can't be opened or lost committed entries (a start-up failure).
    static std::unique_ptr<log_store> open(const std::filesystem::path& dir, options opts);
    ~log_store() override;
    log_store(const log_store&) = delete;
    log_store& operator=(const log_store&) = delete;

    // ---- the log ----

    // First offset held (entries below are only in the snapshot).
    offset first() const noexcept override { return _log->log_start_offset(); }
    // One past the last entry.
    offset end() const noexcept override { return _log->next_offset(); }
    // The term of the entry holding `o`, for first() <= o < end(); at first() - 1, the
    // snapshot's term (0 when first() is 0). nullopt elsewhere (compacted away, or beyond the
    // end).
    std::optional<term_id> term_at(offset o) const override;
    // The term of the last entry (the snapshot's when the log is empty after it; 0 when none).
    term_id last_term() const;

    // Appends entries (contiguous from end(), terms not decreasing) as record batches, into
    // the page cache: durable once sync() says so. Nothing is appended on an error:
    // store_errc::not_contiguous, term_regressed, bad_entry, or storage's.
    result<void> append(std::span<const entry> entries);
    // Makes every entry appended so far durable; `done` runs once it is (with an error when
    // fsync failed: the log's state on disk is then unknown, stop rather than answer).
    void sync(std::function<void(std::error_code)> done);
    // The same, waiting.
    result<void> sync();
    // Drops every entry from the one holding `from` on (a divergent tail), durably, with the
    // epoch cache and the voter history. store_errc::below_log_start below first(); nothing
    // to do at or past end().
    result<void> truncate(offset from);
    // Entries from the one holding `from` (first() <= from <= end()), up to about max_bytes of
    // batches (at least one entry when there is one).
    result<std::vector<entry>> entries(offset from, size_t max_bytes) const override;
    // The same entries as the raw record batches, only those ending at or below `upto` (the
    // commit end): the brokers' metadata feed (CoordinatorFetchMetadata), as
    // single_voter_log::read. Control batches are among them; brokers skip them.
    result<bytes> read_batches(offset from, size_t max_bytes, offset upto) const;

    // ---- voters ----

    // The voter set in force at the log end: the last voters entry, else the snapshot's, else
    // the configured one.
    const voter_set& voters() const;
    // The voters entries in the log, oldest first (a truncation drops those it cuts, a
    // snapshot those below its end).
    const std::vector<std::pair<offset, voter_set>>& voter_changes() const noexcept { return _voter_changes; }

    // ---- snapshots ----

    // The latest snapshot: what it stands for ({0, 0, no voters} without one), and the state
    // machine's records as metadata record batches (what brokers get in
    // CoordinatorFetchMetadata, and leaders send in chunks).
    bool has_snapshot() const noexcept { return _snapshot.has_value(); }
    snapshot_meta snapshot() const override { return _snapshot ? *_snapshot : snapshot_meta{}; }
    const bytes& snapshot_data() const noexcept { return _snapshot_data; }
    uint64_t snapshot_size() const noexcept override { return _snapshot_data.size(); }
    // Up to max_bytes of the snapshot data from byte `at` (a chunk for a follower); empty at
    // the end. store_errc::beyond_log_end past the end.
    result<bytes> snapshot_chunk(uint64_t at, size_t max_bytes) const override;
    // A snapshot of the local state machine: every entry below meta.end, whose term must be
    // term_at(meta.end - 1). Written durably, then the entries below meta.end are dropped
    // (whole segments below are deleted; the log starts there). store_errc::snapshot_mismatch
    // when meta doesn't match the log; stale_snapshot when not after the latest snapshot's
    // end; bad_entry when `data` is not whole record batches with valid CRCs.
    result<void> save_snapshot(const snapshot_meta& meta, bytes data);
    // A snapshot received from the leader: written durably, then the log is reset to start
    // at meta.end, dropping every entry (also those above it). store_errc::stale_snapshot when
    // meta.end is not past the latest snapshot's end; bad_entry as above.
    result<void> install_snapshot(const snapshot_meta& meta, bytes data);

    // Bytes of entries in the log since the latest snapshot (about: the snapshot policy).
    uint64_t bytes_since_snapshot() const noexcept { return _since_snapshot; }
    const std::filesystem::path& dir() const noexcept { return _dir; }
    // Flushes and marks a clean shutdown; later calls fail.
    void close();

private:
    log_store(std::filesystem::path dir, std::unique_ptr<storage::log> log, voter_set configured);
    void load_snapshot();
    void scan_voters();
    result<void> write_snapshot_file(const snapshot_meta& meta, const bytes& data);

    std::filesystem::path _dir;
    std::unique_ptr<storage::log> _log;
    voter_set _configured;
    std::optional<snapshot_meta> _snapshot;
    bytes _snapshot_data;
    std::vector<std::pair<offset, voter_set>> _voter_changes;
    uint64_t _since_snapshot = 0;
};

} // namespace trib::coordinator::raft
