#pragma once

#include "common/batch_header.h"
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "storage/direct_appender.h"
#include "storage/file.h"
#include "storage/index.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace trib::storage {

// What the log learned about one batch while validating an append.
struct batch_meta {
    offset base;
    offset last;
    int64_t max_timestamp = -1;
    uint32_t size = 0;
};

// A batch found in a segment: where it starts and its (framing-checked) header.
struct batch_location {
    uint64_t pos = 0;
    batch_header header;
};

// One segment of a log: the batches with offsets [base, next_offset) in three files named by
// the base offset, zero-padded to 20 digits:
//
//   <base>.log        record batches (Kafka magic 2 framing, see common/batch_header.h) back
//                     to back from position 0, nothing else: no file header, no padding.
//   <base>.index      sparse offset index, offset_index_entry (8 bytes) per entry.
//   <base>.timeindex  time index, time_index_entry (12 bytes) per entry.
//
// Invariants (checked by recover()/load(), asserted on append):
//   - the first batch's base offset is `base`; each next batch's base offset is the previous
//     batch's last offset + 1 (offsets are contiguous, a batch covers last_offset_delta + 1);
//     except in a segment compaction rewrote (cleaner.h): there offsets only increase, the
//     first batch may start above `base` and whole batches may be missing (gaps);
//   - every batch's CRC is valid (verified on append and by recover(); load() trusts it);
//   - size() <= UINT32_MAX and next_offset() - base <= UINT32_MAX (relative values are u32);
//   - .index entries point at batch starts: entry (rel, pos) means the batch at `pos` has base
//     offset base + rel. An entry is added for a batch when at least `index_interval_bytes`
//     were appended since the previous entry (the batch at position 0 is implicit);
//   - .timeindex entry (ts, rel): ts is the largest max_timestamp of the batches up to the
//     batch whose last offset is base + rel. Entries are added beside .index entries when
//     that maximum grew, and once more when the segment stops being active.
// The index files are caches: in memory they are exact; on disk they may lag (persist()
// writes them at roll, flush and close) and are rebuilt from the .log when they don't match.
//
// Not thread-safe: the owning log's thread uses it; other threads only hold its files.
class segment {
public:
    static std::string file_stem(offset base);  // "00000000000000000042"
    // "00000000000000000042" → 42; nullopt for any other name (also used for the broker's
    // producer-state snapshots, named the same way).
    static std::optional<offset> parse_file_stem(const std::string& stem);
    // Opens (creating if missing) the three files of the segment starting at `base`. The
    // in-memory state is empty until recover() or load().
    // `fresh`: truncate whatever files by that name exist (a new segment at roll).
    static result<std::unique_ptr<segment>> open(const std::filesystem::path& dir, offset base,
                                                 uint32_t index_interval_bytes, bool fresh = false);

    segment(const segment&) = delete;
    segment& operator=(const segment&) = delete;

    offset base() const noexcept { return _base; }
    offset next_offset() const noexcept { return _next; }
    uint64_t size() const noexcept { return _size; }
    bool empty() const noexcept { return _size == 0; }
    // Largest batch max_timestamp in the segment (-1: none) and the last offset of its batch.
    int64_t max_timestamp() const noexcept { return _max_ts; }
    offset offset_of_max_timestamp() const noexcept { return _offset_of_max_ts; }
    // Time the segment counts its age from, for roll by segment_ms: the clock when its first
    // batch was appended, or after a reopen that batch's max_timestamp.
    std::optional<int64_t> roll_base_ms() const noexcept { return _roll_base_ms; }
    // Time retention compares: the max timestamp, or the file's mtime when no batch has one.
    int64_t retention_time_ms() const;
    const std::shared_ptr<file>& data() const noexcept { return _data; }
    std::vector<std::shared_ptr<file>> index_files() const;
    void set_index_interval(uint32_t bytes) noexcept { _index_interval = bytes; }

    struct recovery {
        bool truncated = false;   // bytes were cut off the end of the .log
        uint64_t valid_bytes = 0;
        uint64_t trusted_bytes = 0;  // of which accepted on the written mark, without CRC
        std::string reason;       // why, when truncated
    };
    // Scans the whole .log verifying framing, CRC and offset contiguity, truncates the file
    // at the first bad batch, and rebuilds both indexes (written, not fsynced).
    // `trusted`: a written mark (written_marks.h) vouches that completed appends wrote the
    // bytes before it: batches wholly below it get framing and offsets checked but no CRC
    // (UINT64_MAX: the whole file). A mark past the end of the file, inside a batch or over a
    // batch whose header doesn't check is ignored (logged) and every batch verified.
    // `gaps`: offsets may skip between batches (a segment compaction rewrote, cleaner.h);
    // otherwise each batch must continue the previous one and start at the base.
    result<recovery> recover(int64_t now_ms, uint64_t trusted = 0, bool gaps = false);
    // Opens a segment trusted to be intact (below the recovery point, or after a clean
    // shutdown): loads the index files and validates them (monotonic, within the file, last
    // .index entry pointing at a batch with the right base offset), and walks the batch headers
    // after the last index entry to find the end. Returns false when something doesn't match:
    // the caller then runs recover().
    result<bool> load(int64_t now_ms, bool gaps = false);

    // Appends whole, already-verified batches (`data` is their bytes, `metas` one entry each,
    // contiguous from next_offset()). One pwrite (direct: one per MiB); indexes are updated in
    // memory.
    // `direct_ok` false: through the page cache even when direct writes are on.
    result<void> append(bytes_view data, std::span<const batch_meta> metas, int64_t now_ms,
                        bool direct_ok = true);
    // Direct writes on (the segment is the active one, see direct_appender.h) or off: off cuts
    // the zero padding direct writes leave after the last batch, so a segment that is no longer
    // appended to ends exactly at its last batch. Where the filesystem refuses O_DIRECT the
    // segment keeps writing through the page cache.
    // Appends of fewer than `min_bytes` are written buffered all the same.
    result<void> set_direct(bool on, size_t min_bytes = 0);
    bool direct() const noexcept { return _direct != nullptr; }
    // Removes the batch holding `to` and every later one. next_offset() becomes the base offset
    // of the first removed batch (<= to).
    result<void> truncate(offset to);
    // Writes index entries the files lack; `final` first adds the closing time index entry
    // (segment no longer active).
    result<void> persist_indexes(bool final);
    // Unlinks the three files; open handles stay valid.
    result<void> remove();

    // The batch holding `target`, or the first batch after it; nullopt if none in this segment.
    result<std::optional<batch_location>> find(offset target) const;
    // Header of the batch at `pos` (framing checked against the segment size, CRC not).
    result<batch_header> header_at(uint64_t pos) const;
    // Base offset of the first batch whose max_timestamp >= ts and last offset >= min_offset.
    result<std::optional<offset>> find_timestamp(int64_t ts, offset min_offset) const;
    // Calls fn(pos, header) for each batch from position `from` (a batch start) until fn
    // returns false or the segment ends. Headers are framing-checked.
    result<void> walk(uint64_t from, const std::function<bool(uint64_t, const batch_header&)>& fn) const;

private:
    segment(std::filesystem::path dir, offset base, uint32_t index_interval,
            std::shared_ptr<file> data, std::shared_ptr<file> index, std::shared_ptr<file> timeindex);

    void reset();
    // Reads both index files into memory, unvalidated; false (nothing read) when a file has
    // more entries than a .log of `log_size` bytes has batches.
    result<bool> load_index_files(uint64_t log_size);
    // recover() with a written mark at `trusted`: takes the index files' entries below it
    // (persist() wrote them from the exact in-memory index, after the last cut; the mark's
    // nonce says no cut came since), checks the last one against the batch it names, and sets
    // the state as if every batch up to the end of that batch had been walked. Returns that
    // position (0: the files didn't help).
    result<uint64_t> seed_from_index_files(bytes_view all, uint64_t trusted, int64_t now_ms);
    void account(const batch_meta& m, uint64_t pos);
    void maybe_add_time_entry();
    uint32_t rel(offset o) const noexcept { return uint32_t(o - _base); }

    std::filesystem::path _dir;
    offset _base;
    uint32_t _index_interval;
    std::shared_ptr<file> _data;
    std::unique_ptr<direct_appender> _direct;
    size_t _direct_min = 0;
    index_file<offset_index_entry> _index;
    index_file<time_index_entry> _timeindex;

    offset _next;
    uint64_t _size = 0;
    int64_t _max_ts = -1;
    offset _offset_of_max_ts;
    uint64_t _bytes_since_index = 0;
    std::optional<int64_t> _roll_base_ms;
};

} // namespace trib::storage
