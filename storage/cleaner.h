#pragma once

#include "common/batch_header.h"
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "storage/file.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

namespace trib::storage {

// Log compaction (cleanup.policy=compact), Kafka's LogCleaner: keep the newest record of each
// key, drop tombstones (null values) some time after they were first cleaned. See
// storage/README.md, Compaction, for the rules; in short:
//
//   1. log::prepare_cleaning(upto), on the log's owner thread, picks the cleanable range:
//      whole non-active segments below `upto` (the high watermark) and below the checkpointed
//      recovery point, whose newest timestamp is older than min_compaction_lag_ms, when the
//      dirty part (from the cleaner checkpoint on) is at least min_cleanable_dirty_ratio of the
//      range (or max_compaction_lag_ms forces it). It returns a task: the segments' files
//      (shared, so retention or truncation meanwhile can't pull them away) and sizes.
//   2. clean(task) on any thread reads only those files (immutable: nothing appends below the
//      active segment) and writes `<base>.log.cleaned` beside each segment it rewrites,
//      fsync'ed.
//   3. log::install_cleaned(result), on the owner thread again, renames each `.cleaned` to
//      `.swap` (oldest first, the directory fsync'ed after each), then each `.swap` over its
//      `.log`, rebuilds the segments' indexes and moves the cleaner checkpoint. If the log
//      changed under the task (a segment deleted, truncated or replaced) it drops the output.
//
// Records keep their offsets: a batch keeps its base offset, last offset delta, base
// timestamp, attributes (codec), producer id, epoch and base sequence; only the records
// inside change (re-compressed with the batch's codec). A batch left without records is
// dropped, unless it is its producer's last batch in the log: then it stays, empty (so an
// idempotent producer's state survives, as in Kafka). Control batches, transactional batches
// and records without a key are kept as they are.

// Compression is the protocol module's: the broker passes its codecs in.
class record_codec {
public:
    virtual ~record_codec() = default;
    virtual result<bytes> decompress(compression_codec c, bytes_view in, size_t max_output) const = 0;
    virtual result<bytes> compress(compression_codec c, bytes_view in) const = 0;
};

struct cleaning_input {
    offset base;
    std::shared_ptr<file> data;
    uint64_t size = 0;        // bytes of batches (the file may be longer: direct-write padding)
    int64_t modified_ms = 0;  // file mtime: when it was written (or last cleaned)
};

struct cleaning_task {
    std::filesystem::path dir;
    // Every segment below `end`, oldest first: the ones a pass may rewrite.
    std::vector<cleaning_input> segments;
    // Later segments up to the log end (the active one at its size then): read for the last
    // batch of each producer only.
    std::vector<cleaning_input> later;
    offset first_dirty;  // the cleaner checkpoint: records below were seen by an earlier pass
    offset end;          // first offset not cleaned: a segment boundary
    int64_t now_ms = 0;
    int64_t delete_retention_ms = 0;
    uint64_t dirty_bytes = 0;
    uint64_t total_bytes = 0;
    bool forced = false;  // max_compaction_lag_ms passed for the oldest dirty segment
};

struct cleaned_segment {
    offset base;
    std::shared_ptr<file> replaces;  // the original's data file, to check it's still in place
    uint64_t replaces_size = 0;
    uint64_t size = 0;               // of the cleaned file
};

struct cleaning_result {
    std::filesystem::path dir;
    std::vector<cleaned_segment> segments;  // oldest first
    offset cleaned_to;                      // the new cleaner checkpoint
    uint64_t bytes_read = 0;     // of the segments rewritten (read again by the rewrite)
    uint64_t bytes_written = 0;  // of the cleaned segments swapped in
    uint64_t records_removed = 0;
    uint64_t map_bytes = 0;        // dedupe map use...
    uint64_t map_capacity = 0;     // ... of this bound
};

// Step 2 above. `dedupe_buffer_bytes` bounds the key map (each key counts its bytes plus
// `map_entry_overhead`); when the dirty range doesn't fit, the pass stops at the last batch
// that did and the next pass goes on from there. `codec` may be null: a compressed batch then
// fails the pass (errc::unsupported_codec). Never throws; bad data is errc::corrupt.
inline constexpr size_t map_entry_overhead = 48;
// `stop`, when given and set, ends the pass early with errc::closed (shutdown).
result<cleaning_result> clean(const cleaning_task& task, const record_codec* codec,
                              size_t dedupe_buffer_bytes, const std::atomic<bool>* stop = nullptr);

// Names of the cleaner's files in a log directory.
std::filesystem::path cleaned_path(const std::filesystem::path& dir, offset base);  // <base>.log.cleaned
std::filesystem::path swap_path(const std::filesystem::path& dir, offset base);     // <base>.log.swap
inline constexpr const char* cleaner_checkpoint_name = "cleaner-offset-checkpoint";

} // namespace trib::storage
