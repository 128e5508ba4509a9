#include "broker/producer_state.h"

#include "common/crc32c.h"
#include "common/log.h"
#include "storage/file.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>

namespace trib::broker {

int32_t last_sequence(const batch_header& h) noexcept {
    int64_t last = int64_t(h.base_sequence) + h.last_offset_delta;
    return int32_t(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

namespace {
bool follows(int32_t last, int32_t next) noexcept {
    return last == INT32_MAX ? next == 0 : next == last + 1;
}
} // namespace

producer_state::check_result producer_state::check(const batch_header& h) const {
    auto it = _producers.find(h.producer_id);
    if (it == _producers.end()) {
        return {h.base_sequence == 0 ? verdict::append : verdict::unknown_producer};
    }
    const auto& e = it->second;
    if (h.producer_epoch < e.epoch) {
        return {verdict::fenced};
    }
    if (h.producer_epoch > e.epoch) {
        return {h.base_sequence == 0 ? verdict::append : verdict::out_of_order};
    }
    int32_t last = last_sequence(h);
    for (const auto& b : e.recent) {
        if (b.first_seq == h.base_sequence && b.last_seq == last) {
            return {verdict::duplicate, b.base_offset};
        }
    }
    if (e.recent.empty() || follows(e.recent.back().last_seq, h.base_sequence)) {
        return {verdict::append};
    }
    return {verdict::out_of_order};
}

void producer_state::record(const batch_header& h) {
    auto& e = _producers[h.producer_id];
    if (h.producer_epoch != e.epoch) {
        e.epoch = h.producer_epoch;
        e.recent.clear();
    }
    e.last_timestamp = h.max_timestamp;
    e.recent.push_back({h.base_sequence, last_sequence(h), h.base_offset});
    if (e.recent.size() > batches_kept) {
        e.recent.pop_front();
    }
    _saved_at.reset();
}

std::vector<producer_state::active_producer> producer_state::active() const {
    std::vector<active_producer> out;
    out.reserve(_producers.size());
    for (const auto& [id, e] : _producers) {
        // Never empty: record() adds a batch to every entry it makes, decode refuses none.
        out.push_back({id, e.epoch, e.recent.empty() ? -1 : e.recent.back().last_seq, e.last_timestamp});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.producer_id < b.producer_id; });
    return out;
}

// Snapshot file layout (big-endian, as the log's files):
//   0   4  magic "TRPS"
//   4   2  version (2; 1 is still read)
//   6   2  reserved (0)
//   8   8  offset: the state covers the batches below it (the file name's offset)
//  16   4  producer count
//  20      producers, producer id ascending, each:
//            0  8  producer id (>= 0)
//            8  2  producer epoch
//           10  8  last timestamp: max timestamp of the producer's last batch (version 2 only)
//      10 or 18 1  batch count, 1..5
//      11 or 19    per batch, oldest first: first sequence (i32), last sequence (i32), base
//                  offset (i64, ascending, below the snapshot's offset)
// end-4   4  CRC-32C of every byte before it
namespace {

constexpr uint8_t magic[4] = {'T', 'R', 'P', 'S'};
constexpr size_t header_bytes = 20;
// Producer id, epoch, batch count; and the last timestamp from version 2.
constexpr size_t producer_bytes(uint16_t version) { return version >= 2 ? 19 : 11; }
constexpr size_t batch_bytes = 16;
constexpr size_t crc_bytes = 4;
// Far above any real state (a million producers in one partition is about 90 MB); a larger
// file is not one of ours, and the bound keeps a damaged file from driving a huge read.
constexpr size_t max_snapshot_bytes = 256 << 20;
constexpr const char* suffix = ".snapshot";

} // namespace

bytes producer_state::encode_snapshot(offset at, uint16_t version) const {
    // Ascending producer id: one state has one encoding, so equal states give equal files.
    std::map<int64_t, const entry*> sorted;
    size_t size = header_bytes + crc_bytes;
    for (const auto& [id, e] : _producers) {
        sorted.emplace(id, &e);
        size += producer_bytes(version) + batch_bytes * e.recent.size();
    }
    bytes out(size);
    uint8_t* p = out.data();
    std::memcpy(p, magic, 4);
    store_be16(p + 4, version);
    store_be16(p + 6, 0);
    store_be64(p + 8, uint64_t(at.value()));
    store_be32(p + 16, uint32_t(sorted.size()));
    p += header_bytes;
    for (const auto& [id, e] : sorted) {
        store_be64(p, uint64_t(id));
        store_be16(p + 8, uint16_t(e->epoch));
        p += 10;
        if (version >= 2) {
            store_be64(p, uint64_t(e->last_timestamp));
            p += 8;
        }
        *p++ = uint8_t(e->recent.size());
        for (const auto& b : e->recent) {
            store_be32(p, uint32_t(b.first_seq));
            store_be32(p + 4, uint32_t(b.last_seq));
            store_be64(p + 8, uint64_t(b.base_offset));
            p += batch_bytes;
        }
    }
    store_be32(p, crc32c::extend(0, out.data(), size - crc_bytes));
    return out;
}

std::optional<producer_state> producer_state::decode_snapshot(bytes_view data, offset at, std::string& why) {
    if (data.size() < header_bytes + crc_bytes) {
        why = "shorter than a header (" + std::to_string(data.size()) + " bytes)";
        return std::nullopt;
    }
    const uint8_t* p = data.data();
    if (std::memcmp(p, magic, 4) != 0) {
        why = "not a producer snapshot (bad magic)";
        return std::nullopt;
    }
    const uint16_t version = load_be16(p + 4);
    if (version < oldest_snapshot_version || version > snapshot_version) {
        why = "unknown version " + std::to_string(version);
        return std::nullopt;
    }
    const size_t body = data.size() - crc_bytes;
    if (crc32c::extend(0, p, body) != load_be32(p + body)) {
        why = "CRC mismatch";
        return std::nullopt;
    }
    if (load_be16(p + 6) != 0) {
        why = "reserved bytes not zero";
        return std::nullopt;
    }
    if (int64_t(load_be64(p + 8)) != at.value()) {
        why = "header names offset " + std::to_string(int64_t(load_be64(p + 8))) + ", not " +
              std::to_string(at.value());
        return std::nullopt;
    }
    const uint32_t count = load_be32(p + 16);
    producer_state s;
    size_t pos = header_bytes;
    int64_t previous_id = -1;
    for (uint32_t i = 0; i < count; ++i) {
        if (body - pos < producer_bytes(version)) {
            why = "ends inside producer " + std::to_string(i) + " of " + std::to_string(count);
            return std::nullopt;
        }
        const int64_t id = int64_t(load_be64(p + pos));
        entry e;
        e.epoch = int16_t(load_be16(p + pos + 8));
        if (version >= 2) {
            e.last_timestamp = int64_t(load_be64(p + pos + 10));
        }
        const size_t n = p[pos + producer_bytes(version) - 1];
        pos += producer_bytes(version);
        if (id <= previous_id) {
            why = "producer ids not ascending at " + std::to_string(id);
            return std::nullopt;
        }
        if (n == 0 || n > batches_kept) {
            why = "producer " + std::to_string(id) + " has " + std::to_string(n) + " batches";
            return std::nullopt;
        }
        if ((body - pos) / batch_bytes < n) {
            why = "ends inside the batches of producer " + std::to_string(id);
            return std::nullopt;
        }
        for (size_t b = 0; b < n; ++b, pos += batch_bytes) {
            batch_meta m{int32_t(load_be32(p + pos)), int32_t(load_be32(p + pos + 4)),
                         int64_t(load_be64(p + pos + 8))};
            if (m.base_offset < 0 || m.base_offset >= at.value() ||
                (!e.recent.empty() && m.base_offset <= e.recent.back().base_offset)) {
                why = "producer " + std::to_string(id) + " has a batch at offset " + std::to_string(m.base_offset);
                return std::nullopt;
            }
            e.recent.push_back(m);
        }
        s._producers.emplace(id, std::move(e));
        previous_id = id;
    }
    if (pos != body) {
        why = std::to_string(body - pos) + " bytes after the last producer";
        return std::nullopt;
    }
    return s;
}

std::filesystem::path producer_state::snapshot_path(const std::filesystem::path& dir, offset at) {
    return dir / (storage::segment::file_stem(at) + suffix);
}

result<std::vector<offset>> producer_state::list_snapshots(const std::filesystem::path& dir) {
    std::vector<offset> found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() != suffix) {
            continue;
        }
        if (auto o = storage::segment::parse_file_stem(entry.path().stem().string())) {
            found.push_back(*o);
        }
    }
    if (ec) {
        TLOG_ERROR("producer state: cannot list {}: {}", dir.string(), ec.message());
        return storage::errc::io_error;
    }
    std::sort(found.begin(), found.end());
    return found;
}

result<void> producer_state::drop_snapshots(const std::filesystem::path& dir, const std::vector<offset>& doomed,
                                            bool durable) const {
    for (offset o : doomed) {
        if (auto r = storage::remove_file(snapshot_path(dir, o)); !r) {
            return r;
        }
    }
    return durable && !doomed.empty() ? storage::sync_directory(dir) : success();
}

result<producer_state::load_stats> producer_state::load(const storage::log& log) {
    const auto& dir = log.dir();
    clear();
    _complete = false;
    load_stats stats;
    // A crash while writing leaves the temp file of replace_file.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().filename().string().ends_with(std::string(suffix) + ".tmp")) {
            (void)storage::remove_file(entry.path());
        }
    }
    auto snaps = list_snapshots(dir);
    if (!snaps) {
        return snaps.error();
    }
    const offset start = log.log_start_offset();
    const offset end = log.next_offset();
    std::vector<offset> doomed;
    for (auto it = snaps->rbegin(); it != snaps->rend(); ++it) {
        const offset at = *it;
        auto path = snapshot_path(dir, at);
        if (at > end || at < start) {
            TLOG_INFO("producer state: deleting {}: {} the log's offsets [{}, {})", path.string(),
                      at > end ? "above" : "below", start.value(), end.value());
            doomed.push_back(at);
            continue;
        }
        if (stats.snapshot) {
            continue;  // an older fallback, kept
        }
        auto got = storage::read_small_file(path, max_snapshot_bytes);
        if (!got) {
            return got.error();
        }
        if (!*got) {
            continue;  // deleted meanwhile (not by us: nothing else should touch the directory)
        }
        std::string why = "larger than " + std::to_string(max_snapshot_bytes) + " bytes";
        std::optional<producer_state> decoded;
        if ((*got)->size() <= max_snapshot_bytes) {
            decoded = decode_snapshot(**got, at, why);
        }
        if (!decoded) {
            TLOG_WARN("producer state: {} is damaged ({}); deleting it and trying an older one", path.string(), why);
            doomed.push_back(at);
            continue;
        }
        _producers = std::move(decoded->_producers);  // not the flags: the walk is still to come
        stats.snapshot = at;
        stats.snapshot_version = load_be16((*got)->data() + 4);
    }
    stats.snapshots_dropped = doomed.size();
    // Durable before anything is appended past them: one above the end that came back after a
    // machine crash would describe batches the log no longer has.
    if (auto r = drop_snapshots(dir, doomed, true); !r) {
        return r.error();
    }
    auto take = [&](const batch_header& h) {
        ++stats.batches_walked;
        if (h.producer_id >= 0) {
            record(h);
        }
        return true;
    };
    auto walked = stats.snapshot ? log.for_each_batch_header(*stats.snapshot, take) : log.for_each_batch_header(take);
    if (!walked) {
        return walked.error();
    }
    _complete = true;
    // An older version's file stands for this state only until the next write_snapshot, which
    // writes the current version (with the timestamps it has by then).
    if (stats.snapshot && stats.batches_walked == 0 && stats.snapshot_version == snapshot_version) {
        _saved_at = stats.snapshot;
    }
    if (!stats.snapshot && stats.batches_walked > 0) {
        // A log from before snapshots, or every snapshot damaged: spare the next open the walk.
        if (auto r = write_snapshot(dir, end); !r) {
            TLOG_WARN("producer state: no snapshot written for {}: {}", dir.string(), r.error().message());
        }
    }
    return stats;
}

result<void> producer_state::write_snapshot(const std::filesystem::path& dir, offset at) {
    if (!_complete) {
        // A snapshot of a partial state would make its gaps outlive the next open.
        TLOG_WARN("producer state: no snapshot at {} in {}: the state was not loaded whole", at.value(), dir.string());
        return storage::errc::corrupt;
    }
    if (_saved_at == at) {
        return success();
    }
    auto data = encode_snapshot(at);
    if (auto r = storage::replace_file(dir, snapshot_path(dir, at).filename().string(), data); !r) {
        return r;
    }
    _saved_at = at;
    auto snaps = list_snapshots(dir);
    if (!snaps) {
        return snaps.error();
    }
    // Older than the newest kept ones; and any above `at` (there should be none), which can't
    // describe this log. Only the latter must be gone for good: an older one that a machine
    // crash brings back still describes a prefix of the log. So a roll costs one file sync and
    // one directory sync.
    std::vector<offset> doomed;
    size_t kept = 0;
    bool above = false;
    for (auto it = snaps->rbegin(); it != snaps->rend(); ++it) {
        if (*it > at || ++kept > snapshots_kept) {
            doomed.push_back(*it);
            above |= *it > at;
        }
    }
    return drop_snapshots(dir, doomed, above);
}

void producer_state::snapshot_on_roll(storage::log& log) {
    log.set_roll_listener([this, dir = log.dir()](offset base) {
        if (auto r = write_snapshot(dir, base); !r) {
            TLOG_WARN("producer state: snapshot at {} in {} failed: {}", base.value(), dir.string(), r.error().message());
        }
    });
}

result<void> producer_state::truncate_fully_and_start_at(storage::log& log, offset to) {
    auto snaps = list_snapshots(log.dir());
    if (!snaps) {
        return snaps.error();
    }
    if (auto r = drop_snapshots(log.dir(), *snaps, true); !r) {
        return r;
    }
    clear();
    return log.truncate_fully_and_start_at(to);
}

result<void> producer_state::truncate(storage::log& log, offset to) {
    if (to >= log.next_offset()) {
        return success();
    }
    // storage::log::truncate's test for "nothing stays": the log restarts empty at `to`, and a
    // snapshot at or below `to` would describe the history it replaces.
    const auto bases = log.segment_bases();
    const bool restarts = to < log.log_start_offset() || to <= bases.front();
    auto snaps = list_snapshots(log.dir());
    if (!snaps) {
        return snaps.error();
    }
    std::vector<offset> doomed;
    for (offset s : *snaps) {
        if (restarts || s > to) {
            doomed.push_back(s);
        }
    }
    if (auto r = drop_snapshots(log.dir(), doomed, true); !r) {
        return r;
    }
    auto cut = log.truncate(to);
    // Reloaded even when the cut failed part way: the log may already be shorter.
    auto loaded = load(log);
    if (!cut) {
        return cut;
    }
    if (!loaded) {
        return loaded.error();
    }
    return success();
}

result<void> producer_state::retain(const storage::log& log) {
    auto snaps = list_snapshots(log.dir());
    if (!snaps) {
        return snaps.error();
    }
    std::vector<offset> doomed;
    for (offset s : *snaps) {
        if (s < log.log_start_offset()) {
            doomed.push_back(s);
        }
    }
    // Not synced: one below the log start that comes back is dropped again by load().
    if (auto r = drop_snapshots(log.dir(), doomed, false); !r) {
        return r;
    }
    if (_saved_at && *_saved_at < log.log_start_offset()) {
        _saved_at.reset();  // its file is gone
    }
    if (!doomed.empty() && doomed.size() == snaps->size()) {
        return write_snapshot(log);
    }
    return success();
}

} // namespace trib::broker
