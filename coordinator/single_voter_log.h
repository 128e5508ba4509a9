#pragma once

// replicated_log for a quorum of one: commit = local append + fsync.
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

#include <filesystem>
#include <memory>

namespace trib::coordinator {

class single_voter_log final : public replicated_log {
public:
    // Opens (creating) the log in `dir`, restores the latest snapshot into `sm` and replays
    // the log's records after it. Throws std::runtime_error when the log cannot be read
    // back (a start-up failure).
    static std::unique_ptr<single_voter_log> open(const std::filesystem::path& dir, storage::log_config cfg,
                                                  state_machine& sm);
    ~single_voter_log() override;

    void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) override;
    offset committed() const override { return _log->next_offset(); }
    offset log_start() const override { return _log->log_start_offset(); }
    result<bytes> read(offset from, size_t max_bytes) override;
    std::optional<snapshot_view> latest_snapshot() const override;
    result<void> snapshot(const metadata_image& image) override;

    // Bytes appended since the last snapshot (the snapshot policy reads it).
    uint64_t bytes_since_snapshot() const noexcept { return _since_snapshot; }
    void close();

private:
    single_voter_log(std::filesystem::path dir, std::unique_ptr<storage::log> log, state_machine& sm);

    std::filesystem::path _dir;
    std::unique_ptr<storage::log> _log;
    state_machine& _sm;
    std::optional<offset> _snapshot_at;
    bytes _snapshot;
    uint64_t _since_snapshot = 0;
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
