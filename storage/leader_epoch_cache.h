#pragma once

#include "common/ids.h"
#include "common/result.h"

#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

namespace trib::storage {

// The first offset a leader epoch wrote in a partition's log.
struct epoch_entry {
    leader_epoch epoch;
    offset start_offset;
    friend bool operator==(const epoch_entry&, const epoch_entry&) = default;
};

// A partition log's leader-epoch cache (Kafka's LeaderEpochFileCache, KIP-101/KIP-279): which
// epoch wrote which offsets, so a follower can find where its log diverges from the leader's
// (OffsetForLeaderEpoch) and truncate there instead of at the high watermark.
//
// Invariant: entries are in strictly increasing epoch and strictly increasing start offset.
// Entry i covers [start_i, start_{i+1}); the last one covers up to the log end.
//
// On disk, `leader-epoch-checkpoint` in the log's directory, Kafka's text layout:
//   0                    version
//   2                    number of entries
//   0 0                  "epoch start_offset", one line per entry, oldest first
//   3 1500
// Replaced atomically (replace_file). A file that doesn't parse, or breaks the invariant,
// reads as absent with a warning naming the file and the reason; the log then rebuilds the
// cache from its batches.
//
// In memory only; the owner (storage::log) decides when to write().
class leader_epoch_cache {
public:
    static constexpr const char* file_name = "leader-epoch-checkpoint";
    static constexpr int32_t undefined = -1;  // UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET

    // nullopt when the file is missing or damaged (damage is logged); errc::io_error when it
    // can't be read.
    static result<std::optional<leader_epoch_cache>> read(const std::filesystem::path& dir);
    result<void> write(const std::filesystem::path& dir) const;

    // Records that `epoch` starts at `start` (where its first batch is). Returns whether the
    // cache changed. Rules (Kafka 1.x's, refusing rather than rewriting history; Kafka 2.1+
    // instead drops whatever conflicts with the newcomer):
    //   - a negative epoch or offset is ignored (batches without an epoch carry -1);
    //   - an epoch not above the latest is ignored (the latest one already started earlier);
    //   - a start below the latest entry's is ignored with a warning: the log keeps the cache
    //     in step with truncation, so this is a caller's bug, and history isn't rewritten;
    //   - a start equal to the latest entry's replaces that entry: the epoch it named wrote
    //     nothing (as Kafka 2.1+ does, without a warning).
    bool assign(leader_epoch epoch, offset start);
    std::optional<leader_epoch> latest_epoch() const;
    // OffsetForLeaderEpoch: the largest known epoch <= `requested` and the offset where the
    // next larger epoch starts, or `log_end` when `requested` is the latest epoch. Kafka's
    // edge cases: (undefined, undefined) for an undefined (negative) request, an empty cache
    // or a request above the latest epoch; for a request below the first epoch (its offsets
    // were deleted) (`requested`, first entry's start), so a follower truncates to where the
    // leader's history begins.
    std::pair<leader_epoch, offset> end_offset_for(leader_epoch requested, offset log_end) const;
    // The log was cut at `end`: entries starting at or after it go. Returns whether any did.
    bool truncate_from_end(offset end);
    // The log now starts at `start`: entries wholly below it go, and the one covering it is
    // moved up to start there. Returns whether anything changed.
    bool truncate_from_start(offset start);
    void clear() { _entries.clear(); }

    const std::vector<epoch_entry>& entries() const noexcept { return _entries; }
    bool empty() const noexcept { return _entries.empty(); }

private:
    std::vector<epoch_entry> _entries;
};

} // namespace trib::storage
