#pragma once

#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "storage/cleaner.h"
#include "storage/clock.h"
#include "storage/errc.h"
#include "storage/leader_epoch_cache.h"
#include "storage/segment.h"
#include "storage/syncer.h"
#include "storage/written_marks.h"

#include <climits>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace trib::storage {

struct log_config {
    uint64_t segment_bytes = 1ull << 30;          // roll when the active segment would pass this
                                                  // (capped at UINT32_MAX: positions are u32)
    int64_t segment_ms = 7 * 24 * 3600 * 1000LL;  // roll when the first batch in the active segment is older than this
    uint32_t index_interval_bytes = 4096;
    uint32_t max_batch_bytes = 1 << 20;           // larger batch → errc::batch_too_large
    int64_t retention_ms = 7 * 24 * 3600 * 1000LL;  // -1 = forever
    int64_t retention_bytes = -1;                 // -1 = unlimited
    // The flush policy (log.flush.interval.*, flush.messages / flush.ms). As in Kafka, the
    // append that reaches flush_messages flushes before it returns (its acknowledgement comes
    // after the fsync); a flush for age goes to the syncer's thread, where Kafka's log flusher
    // thread does it, off the path of every append and fetch of the owner's partitions.
    int64_t flush_messages = INT64_MAX;           // flush every N messages (records)
    int64_t flush_ms = INT64_MAX;                 // flush when the oldest unflushed append is this old
    // Every append must be durable before it is acknowledged: the owner calls sync() after
    // each append and acknowledges in its callback (group commit: concurrent appends share
    // one fsync). The log itself doesn't block on it.
    bool fsync_each_append = false;
    // Append to the active segment with O_DIRECT rather than through the page cache (see
    // direct_appender.h); ignored where the filesystem refuses O_DIRECT.
    bool direct_writes = false;
    // Appends smaller than this go through the page cache even with direct_writes: a direct
    // write of a few KiB costs more than copying them into a page that is already cached, and
    // readers of the tail of a partition fed a trickle of small batches find it in memory.
    size_t direct_min_bytes = 64 << 10;
    // ... and while a reader tails the log (note_reader() within about the last second of
    // appended data, at most this long ago), so that it finds what is appended in memory
    // rather than reading every batch back from disk.
    int64_t direct_pause_for_tail_readers_ms = 1000;
    // Compaction (cleaner.h; cleanup.policy=compact). Retention by time and size (above) still
    // applies: the broker sets retention_ms and retention_bytes to -1 unless the policy also
    // says delete.
    bool compact = false;
    double min_cleanable_dirty_ratio = 0.5;
    int64_t min_compaction_lag_ms = 0;
    int64_t max_compaction_lag_ms = INT64_MAX;
    int64_t delete_retention_ms = 24 * 3600 * 1000LL;
    // Every this many bytes appended to the active segment, its whole pages not yet handed over
    // go to the syncer's start_writeback() (syncer.h), so the page cache's dirty pages reach the
    // disk steadily rather than in bursts. 0, or a log without a syncer: the kernel decides when.
    uint64_t writeback_bytes = 0;
};

// Whose batches append() writes. The leader's get the log's next offsets. A follower copying
// its leader and a copy of the log made in another log directory keep each batch's own base
// offset, which must be at least the log end; a gap (the leader's log was compacted) is
// allowed.
//   - follower: always through the page cache, even with direct_writes. A follower's append
//     is on the path of every acks=all produce it replicates, and it runs on the thread that
//     also serves the produces and fetches of the partitions that core leads. An O_DIRECT
//     write waits for the device; while the kernel writes back other data that is tens to
//     hundreds of milliseconds (bench/results/2026-12-05-latency-quiet-*), where a buffered
//     write is a copy. It is also how Kafka writes, and a follower becoming leader then
//     finds its tail in memory for the consumers.
//   - copy: a bulk copy nobody waits on; direct writes as configured.
enum class append_source { leader, follower, copy };

struct append_result {
    offset base;               // first offset assigned
    offset last;               // last offset assigned
    timestamp_ms max_timestamp;  // largest batch max_timestamp among the appended batches
    uint64_t position;         // file position of the first batch in its segment
};

// A byte range of a segment file, for sendfile/pread by the caller. `owner` keeps the file
// open even if the segment is deleted meanwhile; a later truncate() may still shorten it.
struct file_slice_ref {
    int fd;
    int64_t pos;
    uint32_t len;
    std::shared_ptr<const void> owner;
};

struct read_result {
    std::vector<file_slice_ref> slices;
    offset next_offset;  // first offset after what's returned (== start when nothing is)
    uint64_t bytes = 0;
};

// An append-only log of Kafka record batches in a directory: the storage of one partition
// (and of the coordinator's metadata log).
//
// Directory layout (see storage/README.md for byte layouts):
//   00000000000000000000.log / .index / .timeindex   segment starting at offset 0
//   00000000000000001234.log / .index / .timeindex   next segment: starts at offset 1234
//   log.checkpoint                                   recovery point, log start offset, clean flag
//   leader-epoch-checkpoint                          where each leader epoch starts (leader_epoch_cache.h)
// Segments are named by base offset (20 digits). Their offset ranges are contiguous: each
// segment's base offset is the previous segment's next offset; except that compaction
// (cleaner.h, prepare_cleaning) removes records and whole batches, keeping every other
// record's offset, so below the cleaner checkpoint offsets may skip (a read in a gap returns
// the next batch). Only the last segment (the
// active one) is written to; it rolls to a new one at next_offset() when an append would
// take it past segment_bytes, when its first batch is segment_ms old, or when relative
// offsets would overflow u32. See segment.h for the invariants inside a segment.
//
// Offsets: log_start_offset() <= every readable offset < next_offset(). The log start offset
// can lie inside the first segment (after DeleteRecords); it is persisted in the checkpoint.
//
// Durability: append() writes with one pwrite into the page cache, or with direct_writes
// straight to the device (one O_DIRECT pwrite per MiB; the active segment alone is written so,
// and ends in zero padding until it rolls or the log closes). Data reaches stable storage through
//   - sync(upto, done): group commit through the shared syncer thread (or inline without one);
//   - flush(): synchronous fdatasync of unsynced data + indexes, then a checkpoint;
//   - the policy: flush_messages / flush_ms checked on append and by maybe_flush(), which the
//     owner also calls periodically (flush_ms with no appends needs it); flush_messages
//     flushes inline, flush_ms through the syncer (inline without one), see log_config;
//   - roll: the finished segment (data + indexes) is synced in the background.
// The checkpoint's recovery point only ever covers fsync'ed data.
//
// Recovery (open): after a clean close (checkpoint clean flag) every segment is loaded
// trusting its data (index files validated). Otherwise every segment holding offsets at or
// above the recovery point (at least the last one; all of the last segment when there is no
// checkpoint) is scanned batch by batch verifying framing, CRC and offset contiguity (gaps
// allowed where compaction may have made them: below the recovery point or the cleaner
// checkpoint; `.cleaned` files are deleted and `.swap` files installed first) (but not
// the CRC of what the log's written mark vouches for, see written_marks.h); the file
// is cut at the first bad batch (logged with reason and position) and every later segment is
// deleted. Indexes of scanned segments are rebuilt; other segments' index files are validated
// and rebuilt from a scan when they don't match. A segment that doesn't continue its
// predecessor's offsets ends the log there. Recovered data is not fsync'ed (the recovery
// point stays where it was), then a checkpoint marked unclean is written before anything is appended, so a crash after open is detected.
// Destroying a log without close() is an unclean shutdown.
//
// Leader epochs: the epoch cache names the first offset of each leader epoch in the log. An
// append assigns the epoch of a batch (the one it stamps, or the batch's own) when it is above
// the latest, at that batch's base offset, and writes the cache file *before* the batch, so
// the file is never behind the data: after any crash it can only name epochs starting at or
// beyond the log end, which open() drops. truncate(), advance_log_start_offset() and retention
// cut the cache with the log (file written after the data; open() reconciles a crash in
// between). A missing or damaged file is rebuilt at open() from every batch header.
//
// Not thread-safe: one owner thread calls everything except that sync()'s callback runs on
// the syncer thread. Files are shared_ptrs, so the syncer and readers holding
// file_slice_refs may keep a rolled, truncated or deleted segment's file open.
class log {
public:
    // `sync`: the shared group-commit service; nullptr means sync() fsyncs inline.
    // `marks`: the written marks of the data directory holding `dir` (written_marks.h): after
    // an unclean shutdown in the same boot, recovery trusts what the log's mark vouches for;
    // the log publishes its mark there on every append. nullptr: none (every batch written
    // since the recovery point is checked after a crash).
    static result<std::unique_ptr<log>> open(std::filesystem::path dir, log_config cfg,
                                             clock& clk = system_clock(), syncer* sync = nullptr,
                                             written_marks* marks = nullptr);
    log(const log&) = delete;
    log& operator=(const log&) = delete;
    ~log();

    // Appends one or more whole, already-validated batches laid out back to back in `batches`
    // (mutable: base offsets are rewritten in place to the next offsets; partition leader
    // epoch too when `stamp_epoch` is given, else each batch keeps its own). A batch whose
    // epoch is above the epoch cache's latest starts that epoch in the cache. Verifies each batch's CRC and framing first; on any bad batch nothing is
    // appended. `crc_verified`: the caller has just verified every batch's CRC itself (the
    // broker's Produce path does, on the connection's core), so only the framing is checked
    // here; the CRC is the larger part of an append's CPU cost.
    // `source` other than leader: each batch keeps its base offset (append_source). The
    // cleaner checkpoint is moved past a gap before the batches are written, so that
    // recovery knows the gap is no loss.
    result<append_result> append(std::span<uint8_t> batches, std::optional<int32_t> stamp_epoch = {},
                                 bool crc_verified = false, append_source source = append_source::leader);
    // Whole batches starting with the batch that contains `start`, up to max_bytes (always at
    // least one batch if any exists at/after start, even if larger than max_bytes — Kafka
    // semantics), only batches whose last offset is below `upto` (exclusive; a batch straddling
    // it is not returned). start == next_offset() gives an empty result; start outside
    // [log_start_offset, next_offset] is offset_out_of_range.
    result<read_result> read(offset start, size_t max_bytes, std::optional<offset> upto = {});
    // Same, copied into memory (tests, replication).
    result<bytes> read_bytes(offset start, size_t max_bytes, std::optional<offset> upto = {});
    // A reader is about to read from `start` (a Fetch, also one waiting at the end): one within
    // about the last second of appended data is tailing the log (see log_config::direct_*).
    void note_reader(offset start);
    // Base offset (at least the log start offset) of the first batch whose max_timestamp >= ts;
    // nullopt if none.
    result<std::optional<offset>> offset_for_timestamp(timestamp_ms ts);

    offset log_start_offset() const noexcept { return _log_start; }
    offset next_offset() const noexcept { return _next; }
    uint64_t size_bytes() const noexcept { return _size_bytes; }
    // For ListOffsets MAX_TIMESTAMP: the largest batch max_timestamp and the last offset of that
    // batch (records aren't decoded here); nullopt when no batch carries a timestamp.
    std::optional<std::pair<offset, timestamp_ms>> max_timestamp() const;

    // Removes all offsets >= to (replication), and the leader epochs starting there (also
    // when `to` is the log end: an epoch that wrote nothing). When `to` falls inside a batch
    // the whole batch goes, so next_offset() may end up below `to`. `to` below the log start offset (or the
    // first segment) empties the log and restarts it at `to`. Durable on return.
    result<void> truncate(offset to);
    // Empties the log and restarts it at `to`, which may lie beyond next_offset(): a follower
    // whose whole log is below the leader's log start offset (retention or DeleteRecords ran
    // while it was away) starts again where the leader's log starts. Durable on return.
    result<void> truncate_fully_and_start_at(offset to);
    // DeleteRecords: o <= next_offset; deletes whole segments below it. Durable on return.
    result<void> advance_log_start_offset(offset o);
    // By time and size; never deletes the active segment; returns segments deleted.
    result<size_t> apply_retention();
    // fsync data + indexes, advance recovery point, write checkpoint.
    result<void> flush();
    // Flushes if the flush_messages policy says so, hands a sync to the syncer if the flush_ms
    // policy does (flushes inline without a syncer), and checkpoints the recovery point when
    // background syncs moved it into a later segment. Call periodically.
    result<void> maybe_flush();
    // Group commit: call after append when the append must be durable before it is
    // acknowledged. `done` runs on the syncer's thread (inline without a syncer) once an
    // fsync covering `upto` completed (or with an error).
    void sync(offset upto, std::function<void(std::error_code)> done);
    // Flush and clean-shutdown marker; later calls fail with errc::closed.
    void close();

    // A write or sync of this log's files failed with an I/O error (EIO, ENOSPC, a refused
    // fdatasync, also on the syncer's thread): what the files hold can no longer be vouched
    // for (after a failed fdatasync Linux may drop the pages it could not write and report the
    // next one clean), so every later append, flush, truncation, retention pass and epoch
    // change fails with errc::log_failed; reads go on. The operation that met the error
    // returns it, an append whose flush.messages flush failed included: its batches are in
    // the page cache, not known to be on disk, and are not acknowledged. This is Kafka's
    // KafkaStorageException, whose owner takes the log directory offline
    // (LogDirFailureChannel); the listener is where the owner hears of it. It runs once, at
    // the first failure, on the thread that met it: the owner's, or the syncer's for a
    // background sync. One listener; a new one replaces it.
    void set_failure_listener(std::function<void(const std::string& what)> fn);
    bool failed() const noexcept { return _progress->failed(); }
    // Dynamic topic configs; takes effect from the next append / retention pass.
    void update_config(log_config cfg);

    const log_config& config() const noexcept { return _cfg; }
    const std::filesystem::path& dir() const noexcept { return _dir; }
    bool is_closed() const noexcept { return _closed; }
    // Base offsets of the segments, oldest first.
    std::vector<offset> segment_bases() const;
    // Calls fn with the header of every batch, oldest first, until fn returns false. Reads
    // headers only (the broker rebuilds producer state from them).
    result<void> for_each_batch_header(const std::function<bool(const batch_header&)>& fn) const;
    // The same from the batch holding `from` on (every batch whose last offset is >= from),
    // found through the offset index: a walk over the tail of a log after a producer-state
    // snapshot. `from` at or past the log end: no call.
    result<void> for_each_batch_header(offset from, const std::function<bool(const batch_header&)>& fn) const;
    // `fn(base)` runs on the owner thread each time the active segment rolls, with the new
    // segment's base offset: the log end at that moment, before the batches of the append that
    // caused the roll are written. The broker snapshots producer state there. `fn` must not
    // call back into the log. One listener; a new one replaces it.
    void set_roll_listener(std::function<void(offset)> fn) { _on_roll = std::move(fn); }
    // The recovery point in the last checkpoint written.
    offset checkpointed_recovery_point() const noexcept { return _checkpoint_rp; }
    // What open() found: whether the last close was clean, and the segments it had to scan
    // batch by batch (after an unclean one, or where an index did not match).
    struct open_stats {
        bool clean = false;
        size_t segments_scanned = 0;
        uint64_t bytes_scanned = 0;   // whose CRC was checked
        uint64_t bytes_trusted = 0;   // in scanned segments, accepted on a written mark (headers only)
    };
    const open_stats& opened_with() const noexcept { return _opened_with; }
    // Where each leader epoch starts in this log (OffsetForLeaderEpoch, follower truncation).
    const leader_epoch_cache& epochs() const noexcept { return _epochs; }
    // A new leader starts `epoch` at the log end now, not at its first append, so that an
    // OffsetForLeaderEpoch for it answers the log end from the start (as Kafka assigns it on
    // becoming leader). An epoch not above the latest changes nothing. Durable on return.
    result<void> begin_epoch(leader_epoch epoch);

    // Compaction in three steps (cleaner.h): on the owner thread, what to clean now below
    // `upto` (the high watermark; nullopt: not compacted, nothing cleanable or the dirty ratio
    // too low); clean(task) anywhere; install_cleaned(result) on the owner thread again: false
    // when the log changed under the task (its output is then deleted).
    std::optional<cleaning_task> prepare_cleaning(offset upto);
    // Dirty bytes / cleanable bytes below `upto` now (nullopt: nothing dirty to clean).
    std::optional<double> dirty_ratio(offset upto);
    result<bool> install_cleaned(const cleaning_result& r);
    // The three at once, on the owner thread (tests; small logs). nullopt: nothing cleaned.
    result<std::optional<cleaning_result>> compact(offset upto, const record_codec* codec,
                                                   size_t dedupe_buffer_bytes);
    // The cleaner checkpoint: offsets below were cleaned at least once.
    offset first_dirty_offset();

private:
    log(std::filesystem::path dir, log_config cfg, clock& clk, syncer* sync);

    // open(): installs the `.swap` files a crashed compaction left (cleaner.h); adds their
    // segments to `bases`.
    result<void> finish_swaps(const std::vector<std::filesystem::path>& swaps, std::vector<int64_t>& bases);
    result<void> write_cleaner_checkpoint(offset o);
    // prepare_cleaning() without the dirty ratio test.
    std::optional<cleaning_task> plan_cleaning(offset upto);

    result<void> recover_all(written_marks* marks);
    // The written mark open() may use: the marks file's entry for this log, when it carries
    // the checkpoint's nonce and names a segment that exists and a position inside it.
    std::optional<written_mark> usable_mark(written_marks* marks, uint64_t nonce,
                                            const std::vector<int64_t>& bases) const;
    // Tells the written marks how far appends have completed.
    void publish_mark();
    // Hands the active segment's whole pages appended since the last time to the syncer's
    // writeback, once there are writeback_bytes of them.
    void start_writeback(const segment& act);
    segment& active() { return *_segments.rbegin()->second; }
    result<void> roll(int64_t now);
    result<void> delete_front();
    result<void> write_checkpoint(bool clean);
    result<void> load_epochs();
    result<void> save_epochs(bool changed);
    result<void> flush_impl(bool clean);
    result<void> truncate_impl(offset to, bool fully);
    result<void> maybe_flush(int64_t now);
    // The public writes are these, each behind writable() and watch_writes().
    result<append_result> append_batches(std::span<uint8_t> batches, std::optional<int32_t> stamp_epoch,
                                         bool crc_verified, append_source source);
    result<size_t> retain();
    result<void> advance_start(offset o);
    // errc::closed or errc::log_failed when no write may start; none otherwise.
    std::error_code writable() const;
    // On the way out of a write: an I/O error fails the log (failed()). Other errors (a bad
    // batch, an offset out of range) are the caller's and leave the log usable.
    template <class T>
    result<T> watch_writes(result<T> r, const char* what);
    int fsync_fd(int fd);
    // Files whose fsync makes offsets [from, to) durable (data, and indexes of non-active segments).
    std::vector<std::shared_ptr<file>> files_for(int64_t from, int64_t to) const;
    void submit(sync_request r);
    uint64_t max_segment_bytes() const noexcept;
    using segment_iterator = std::map<offset, std::unique_ptr<segment>>::const_iterator;
    // The segment holding `o` (log start <= o < next offset) and the position there of the batch
    // holding it, or the segment's size when none does.
    result<std::pair<segment_iterator, uint64_t>> locate(offset o) const;

    std::filesystem::path _dir;
    log_config _cfg;
    clock& _clock;
    syncer* _syncer;
    // start_writeback: the segment (base offset) whose bytes below _writeback_from were handed over.
    offset _writeback_segment{-1};
    uint64_t _writeback_from = 0;
    std::map<offset, std::unique_ptr<segment>> _segments;  // never empty once open
    offset _log_start;
    offset _next;
    uint64_t _size_bytes = 0;
    std::shared_ptr<sync_progress> _progress;
    open_stats _opened_with;
    offset _checkpoint_rp;
    uint64_t _nonce = 0;  // in the checkpoint; a new one whenever data is cut (checkpoint.h)
    std::shared_ptr<written_marks::cell> _mark_cell;
    int64_t _indexes_persisted_ms = INT64_MIN / 2;  // the active segment's, by append
    int64_t _unflushed_messages = 0;
    std::optional<int64_t> _oldest_unflushed_ms;
    std::vector<batch_meta> _metas;  // scratch for append
    leader_epoch_cache _epochs;
    std::vector<epoch_entry> _new_epochs;  // scratch for append
    // The last batches appended to the active segment (at most tail_batches_max), so that a
    // read at the tail of the log, a consumer keeping up, finds its batches without reading
    // their headers back from the file. Emptied when the active segment changes other than by
    // append (roll, truncate).
    struct tail_batch {
        offset base;
        offset last;
        uint64_t pos;
        uint32_t size;
    };
    static constexpr size_t tail_batches_max = 128;
    std::deque<tail_batch> _tail;
    // Tail readers: _recent is the end of the log as of at most about a second ago (_mark one
    // second-old step behind the end, moved on append); a reader at or after it is tailing.
    offset _mark;
    offset _recent;
    int64_t _mark_ms = INT64_MIN / 2;
    int64_t _tail_read_ms = INT64_MIN / 2;
    bool _closed = false;
    std::function<void(offset)> _on_roll;
    std::optional<offset> _first_dirty;  // the cleaner checkpoint, read on first use
};

} // namespace trib::storage
