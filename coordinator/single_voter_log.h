#pragma once

// replicated_log for a quorum of one: commit = local append + fsync.
//
// Opened with an io_context (the service's), fsyncs leave the owner's thread: append() writes
// the batch (page cache) and asks a syncer thread of the log's own for an fsync covering it;
// the completion comes back to the io_context, which applies the batch and completes the
// append. Appends keep their order, and appends made while an fsync runs share the next one
// (storage::syncer's group commit). Without an io_context (the controller's unit tests),
// append() fsyncs, applies and completes before it returns. Either way nothing is
// acknowledged before it is on disk, and an fsync error stops the process (fsyncgate: the
// file's state is unknown) rather than acknowledge.
//
// On disk, in <log.dirs>/__cluster_metadata-0/:
//   00000000000000000000.log ...         storage::log segments of metadata record batches
//   snapshots/00000000000000001234.snapshot
//                                        the image as of offset 1234 (every record below it),
//                                        as record batches (coordinator/client/records.h);
//                                        written to .tmp, fsynced, renamed, dir fsynced.
// After a snapshot at N the log start moves to N (whole segments below N are deleted), so
// start-up replays the latest snapshot and then the log from N.
#include "coordinator/replicated_log.h"
#include "storage/log.h"

#include <deque>
#include <filesystem>
#include <memory>

namespace trib::coordinator {

struct single_voter_options {
    std::optional<raft::voter> self;   // this coordinator, named as the leader by leader()
    asio::io_context* ctx = nullptr;   // where appends complete, fsyncs then on a syncer thread; null: inline
    storage::syncer::fsync_fn fsync;   // replaces ::fdatasync (tests hold an fsync back)
};

class single_voter_log final : public replicated_log {
public:
    // Opens (creating) the log in `dir`, restores the latest snapshot into `sm` and replays
    // the log's records after it. Throws std::runtime_error when the log cannot be read
    // back (a start-up failure).
    static std::unique_ptr<single_voter_log> open(const std::filesystem::path& dir, storage::log_config cfg,
                                                  state_machine& sm, single_voter_options options = {});
    // What the service opens its log with (fsyncs off the service's thread).
    static log_factory factory(std::filesystem::path dir, storage::log_config cfg,
                               std::optional<raft::voter> self = std::nullopt);
    ~single_voter_log() override;

    void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) override;
    offset committed() const override { return _committed; }
    offset end() const override { return _log->next_offset(); }
    offset log_start() const override { return _log->log_start_offset(); }
    result<bytes> read(offset from, size_t max_bytes) override;
    std::optional<snapshot_view> latest_snapshot() const override;
    result<void> snapshot(const metadata_image& image) override;

    uint64_t bytes_since_snapshot() const override { return _since_snapshot; }
    // Always the leader: it alone decides, and nothing ever takes that away.
    leadership leader() const override { return {true, term_id(0), _self}; }
    void on_leadership(std::function<void(const leadership&)>) override {}
    std::vector<voter_view> voters() const override {
        return {{_self.value_or(raft::voter{}), _log->next_offset().value(), -1}};
    }
    // Waits for the fsyncs in flight (their completions, posted to the io_context, run only
    // if it still runs), then closes the files.
    void close() override;
    // Appends written and waiting for their fsync.
    size_t unsynced() const noexcept { return _unsynced.size(); }
    // Rounds of fsyncs the syncer thread ran (each covers every append asked for before it).
    uint64_t fsync_rounds() const noexcept { return _syncer ? _syncer->round_count() : 0; }

private:
    // An append whose batch is written, waiting for an fsync covering `last`.
    struct unsynced_append {
        offset base;
        offset last;
        std::vector<metadata_record> records;  // empty: waits for the appends before it only
        std::function<void(result<offset>)> done;
    };
    single_voter_log(std::filesystem::path dir, std::unique_ptr<storage::syncer> syncer,
                     std::unique_ptr<storage::log> log, state_machine& sm, std::optional<raft::voter> self,
                     asio::io_context* ctx);
    // On the owner's thread: offsets up to `upto` are durable (or the fsync failed): applies
    // and completes the appends it covers, in order.
    void synced(offset upto, std::error_code ec);

    std::filesystem::path _dir;
    std::unique_ptr<storage::syncer> _syncer;  // null: inline fsyncs
    std::unique_ptr<storage::log> _log;
    asio::io_context* _ctx;
    std::deque<unsynced_append> _unsynced;
    offset _committed{0};
    state_machine& _sm;
    std::optional<offset> _snapshot_at;
    bytes _snapshot;
    uint64_t _since_snapshot = 0;
    std::optional<raft::voter> _self;
};

// Snapshot files (public for tests and tools).
std::filesystem::path snapshot_path(const std::filesystem::path& log_dir, offset at);
// The newest readable snapshot in log_dir/snapshots: its offset and content.
std::optional<std::pair<offset, bytes>> read_latest_snapshot(const std::filesystem::path& log_dir);
// Writes atomically (tmp, fsync, rename, dir fsync); removes older snapshots afterwards.
result<void> write_snapshot(const std::filesystem::path& log_dir, offset at, const bytes& batches);
// The image's records as batches of at most 1000 records.
bytes encode_snapshot(const metadata_image& image);

} // namespace trib::coordinator
