#include "storage/log.h"

#include "common/batch_header.h"
#include "common/log.h"
#include "storage/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <cerrno>
#include <cstring>
#include <random>
#include <unistd.h>

namespace trib::storage {

log::log(std::filesystem::path dir, log_config cfg, clock& clk, syncer* sync)
    : _dir(std::move(dir)), _cfg(cfg), _clock(clk), _syncer(sync) {}

log::~log() = default;

uint64_t log::max_segment_bytes() const noexcept {
    return std::min<uint64_t>(_cfg.segment_bytes, UINT32_MAX);
}

int log::fsync_fd(int fd) { return _syncer ? _syncer->fdatasync(fd) : ::fdatasync(fd); }

namespace {
uint64_t new_nonce() {
    std::random_device rd;
    uint64_t n = 0;
    while (n == 0) {
        n = (uint64_t(rd()) << 32) ^ rd();
    }
    return n;
}

std::string dir_name(const std::filesystem::path& dir) {
    auto p = dir.lexically_normal();
    return p.has_filename() ? p.filename().string() : p.parent_path().filename().string();
}
} // namespace

result<std::unique_ptr<log>> log::open(std::filesystem::path dir, log_config cfg, clock& clk, syncer* sync,
                                       written_marks* marks) {
    std::error_code ec;
    const bool created = std::filesystem::create_directories(dir, ec);
    if (ec) {
        return io_failure("create", dir, ec.message());
    }
    if (created && dir.has_parent_path()) {
        if (auto r = sync_directory(dir.parent_path()); !r) {
            return r.error();
        }
    }
    std::unique_ptr<log> l(new log(std::move(dir), cfg, clk, sync));
    if (auto r = l->recover_all(marks); !r) {
        return r.error();
    }
    return l;
}

std::optional<written_mark> log::usable_mark(written_marks* marks, uint64_t nonce,
                                             const std::vector<int64_t>& bases) const {
    if (!marks || nonce == 0) {
        return std::nullopt;
    }
    auto m = marks->found(dir_name(_dir));
    if (!m) {
        return std::nullopt;
    }
    auto why = [&]() -> std::string {
        if (m->nonce != nonce) {
            return "the log cut data since";
        }
        if (!std::binary_search(bases.begin(), bases.end(), m->segment.value())) {
            return "its segment is gone";
        }
        std::error_code ec;
        auto size = std::filesystem::file_size(_dir / (segment::file_stem(m->segment) + ".log"), ec);
        if (ec || size < m->position) {
            return "it is past the end of its segment";
        }
        return {};
    }();
    if (!why.empty()) {
        TLOG_INFO("storage: {}: not using its written mark ({}): checking every batch since the recovery point",
                  _dir.string(), why);
        return std::nullopt;
    }
    return m;
}

void log::publish_mark() {
    if (_mark_cell) {
        _mark_cell->set({_nonce, active().base(), active().size()});
    }
}

namespace {
std::optional<offset> read_cleaner_checkpoint(const std::filesystem::path& dir);
} // namespace

result<void> log::recover_all(written_marks* marks) {
    auto cp = checkpoint::read(_dir);
    if (!cp) {
        return cp.error();
    }
    // Segment files present; strays (indexes without a .log, a half-written checkpoint) go.
    std::vector<int64_t> bases;
    std::vector<std::filesystem::path> strays;
    std::vector<std::filesystem::path> swaps;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(_dir, ec)) {
        auto name = entry.path().filename().string();
        auto ext = entry.path().extension().string();
        auto base = segment::parse_file_stem(entry.path().stem().string());
        if (ext == ".log" && base) {
            bases.push_back(base->value());
        } else if ((ext == ".index" || ext == ".timeindex") && base) {
            strays.push_back(entry.path());  // kept below if its .log exists
        } else if (ext == ".cleaned") {
            // A compaction pass that hadn't committed this segment: the original stays.
            TLOG_INFO("storage: {}: deleting {}, left by an unfinished compaction", _dir.string(), name);
            (void)remove_file(entry.path());
        } else if (ext == ".swap") {
            swaps.push_back(entry.path());
        } else if (name == std::string(checkpoint::file_name) + ".tmp" ||
                   name == std::string(leader_epoch_cache::file_name) + ".tmp") {
            (void)remove_file(entry.path());
        }
    }
    if (ec) {
        return io_failure("list", _dir, ec.message());
    }
    // A `.swap` is a cleaned segment that was complete and fsync'ed when the compaction pass
    // committed it: finish installing it (cleaner.h).
    if (auto r = finish_swaps(swaps, bases); !r) {
        return r;
    }
    std::sort(bases.begin(), bases.end());
    for (const auto& p : strays) {
        if (!std::binary_search(bases.begin(), bases.end(), segment::parse_file_stem(p.stem().string())->value())) {
            (void)remove_file(p);
        }
    }

    const bool clean = *cp && (*cp)->clean;
    _opened_with.clean = clean || bases.empty();  // a new log has nothing to recover
    _nonce = *cp ? (*cp)->nonce : 0;
    if (marks) {
        std::error_code ec;
        if (!std::filesystem::equivalent(marks->dir(), _dir.lexically_normal().parent_path(), ec)) {
            TLOG_ERROR("storage: {}: written marks of another directory ({}) not used", _dir.string(),
                       marks->dir().string());
            marks = nullptr;
        }
    }
    // What the last process's appends completed, when it died in this boot (written_marks.h).
    const auto mark = clean ? std::nullopt : usable_mark(marks, _nonce, bases);
    // Without a checkpoint, scan the last segment.
    const int64_t rp = *cp ? (*cp)->recovery_point.value() : (bases.empty() ? 0 : bases.back());
    _log_start = *cp ? (*cp)->log_start_offset : offset(bases.empty() ? 0 : bases.front());
    if (!*cp && !bases.empty()) {
        TLOG_WARN("storage: {}: no valid checkpoint; recovering the last segment", _dir.string());
    }
    const int64_t now = _clock.now_ms().value();

    const int64_t cleaned_below = read_cleaner_checkpoint(_dir).value_or(offset(0)).value();
    std::vector<segment*> recovered;
    bool dropped = false;
    bool cut = false;  // recovery cut a bad tail
    for (size_t i = 0; i < bases.size(); ++i) {
        auto seg = segment::open(_dir, offset(bases[i]), _cfg.index_interval_bytes);
        if (!seg) {
            return seg.error();
        }
        const int64_t next_base = i + 1 < bases.size() ? bases[i + 1] : INT64_MAX;
        bool scan = !clean && next_base > rp;
        // Compaction leaves gaps; it cleans below the recovery point only, but a truncation
        // may have made a cleaned segment the active one since.
        const bool gaps = next_base <= rp || bases[i] < cleaned_below;
        if (!scan) {
            auto ok = (*seg)->load(now, gaps);
            if (!ok) {
                return ok.error();
            }
            if (!*ok) {
                TLOG_WARN("storage: {}: index of segment {} doesn't match its data; rebuilding",
                          _dir.string(), bases[i]);
                scan = true;
            }
        }
        segment::recovery rec;
        if (scan) {
            // Every segment before the mark's was complete when it was taken.
            const uint64_t trusted = !mark || bases[i] > mark->segment.value() ? 0
                                     : bases[i] < mark->segment.value()       ? UINT64_MAX
                                                                              : mark->position;
            auto r = (*seg)->recover(now, trusted, gaps);
            if (!r) {
                return r.error();
            }
            rec = *r;
            cut |= rec.truncated;
        }
        // A gap between segments is normal below the recovery point (compaction removed the
        // last batches of the one before: cleaned segments are fsync'ed and the cleaner works
        // below the recovery point only); above it, it means lost data.
        const offset prev_end = _segments.empty() ? (*seg)->base() : _segments.rbegin()->second->next_offset();
        if ((*seg)->base() < prev_end ||
            ((*seg)->base() > prev_end && (*seg)->base().value() > rp && (*seg)->base().value() > cleaned_below)) {
            TLOG_WARN("storage: {}: segment {} doesn't continue the previous one (which ends at {}); "
                      "deleting it and every later segment",
                      _dir.string(), bases[i], _segments.rbegin()->second->next_offset().value());
            for (size_t j = i; j < bases.size(); ++j) {
                auto doomed = segment::open(_dir, offset(bases[j]), _cfg.index_interval_bytes);
                if (doomed) {
                    (void)(*doomed)->remove();
                }
            }
            dropped = true;
            break;
        }
        if (scan) {
            recovered.push_back(seg->get());
            ++_opened_with.segments_scanned;
            _opened_with.bytes_trusted += rec.trusted_bytes;
            _opened_with.bytes_scanned += (*seg)->size() - std::min(rec.trusted_bytes, (*seg)->size());
        }
        _segments.emplace((*seg)->base(), std::move(*seg));
        if (rec.truncated && i + 1 < bases.size()) {
            TLOG_WARN("storage: {}: deleting {} segment(s) after the corrupt point", _dir.string(),
                      bases.size() - i - 1);
            for (size_t j = i + 1; j < bases.size(); ++j) {
                auto doomed = segment::open(_dir, offset(bases[j]), _cfg.index_interval_bytes);
                if (doomed) {
                    (void)(*doomed)->remove();
                }
            }
            dropped = true;
            break;
        }
    }
    if (_segments.empty()) {
        auto seg = segment::open(_dir, _log_start, _cfg.index_interval_bytes, true);
        if (!seg) {
            return seg.error();
        }
        (void)(*seg)->recover(now);
        _segments.emplace(_log_start, std::move(*seg));
        dropped = true;
    }
    _next = active().next_offset();
    _log_start = std::clamp(_log_start, _segments.begin()->first, _next);
    _size_bytes = 0;
    for (auto& [b, s] : _segments) {
        _size_bytes += s->size();
    }

    // What was scanned may only be in the page cache (the process died, not the machine). It
    // is not fsync'ed here: that made a restart after SIGKILL wait for the disk to write back
    // everything since the recovery point (7 s for 2.8 GB, bench/restart_bench.py). The
    // recovery point stays where the last checkpoint put it instead, so if the machine fails
    // before the data reaches the disk (roll, flush policy, clean close), the next open scans
    // it again. Rebuilt indexes of finished segments are written for the next clean open.
    for (auto* s : recovered) {
        if (s != &active()) {
            if (auto r = s->persist_indexes(true); !r) {  // closing time index entry
                return r;
            }
        }
    }
    if (dropped || !recovered.empty()) {
        if (auto r = sync_directory(_dir); !r) {
            return r;
        }
    }
    if (auto r = load_epochs(); !r) {
        return r;
    }
    if (auto r = active().set_direct(_cfg.direct_writes, _cfg.direct_min_bytes); !r) {
        return r;
    }
    _progress = std::make_shared<sync_progress>(clean ? _next.value() : std::min(rp, _next.value()));
    _mark = _recent = _next;
    if (_nonce == 0 || dropped || cut) {
        // A written mark taken before a cut must not vouch for what is written after it.
        _nonce = new_nonce();
    }
    // Mark unclean before anything is appended.
    if (auto r = write_checkpoint(false); !r) {
        return r;
    }
    if (marks) {
        _mark_cell = marks->attach(dir_name(_dir));
        publish_mark();  // what was recovered is intact and in the page cache
    }
    return success();
}

// The cache file, reconciled with the recovered log. Rebuilt from every batch header when
// missing (a log written before the cache existed) or damaged: rare, and the walk reads headers
// only, as the broker's producer-state rebuild does on every open. A good file needs no scan,
// even after a crash: append writes it before the data, so it is never behind the log.
result<void> log::load_epochs() {
    auto cached = leader_epoch_cache::read(_dir);
    if (!cached) {
        return cached.error();
    }
    bool changed = false;
    if (*cached) {
        _epochs = std::move(**cached);
    } else {
        if (_next > _segments.begin()->first) {
            TLOG_INFO("storage: {}: rebuilding {} from the batches", _dir.string(), leader_epoch_cache::file_name);
        }
        auto walked = for_each_batch_header([this](const batch_header& h) {
            _epochs.assign(leader_epoch(h.partition_leader_epoch), offset(h.base_offset));
            return true;
        });
        if (!walked) {
            // Refused rather than opened with a partial cache, which could truncate a follower
            // at the wrong offset.
            TLOG_ERROR("storage: {}: cannot rebuild {}: {}", _dir.string(), leader_epoch_cache::file_name,
                       walked.error().message());
            return walked;
        }
        changed = true;  // written even when empty, so the next open finds it
    }
    // A crash between an epoch's file write and its first batch, or between a cut of the log
    // and the cache's, leaves entries for offsets the log doesn't have. Start first: an entry
    // it moves up to the log start of an emptied log then starts at the end and goes too.
    changed |= _epochs.truncate_from_start(_log_start);
    changed |= _epochs.truncate_from_end(_next);
    return save_epochs(changed);
}

result<void> log::begin_epoch(leader_epoch epoch) {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(save_epochs(_epochs.assign(epoch, _next)), "leader epoch change");
}

result<void> log::save_epochs(bool changed) {
    return changed ? _epochs.write(_dir) : success();
}

result<void> log::write_checkpoint(bool clean) {
    checkpoint cp;
    cp.clean = clean;
    cp.nonce = _nonce;
    cp.recovery_point = offset(std::min(_progress->durable(), _next.value()));
    cp.log_start_offset = _log_start;
    if (auto r = cp.write(_dir); !r) {
        return r;
    }
    _checkpoint_rp = cp.recovery_point;
    return success();
}

std::vector<std::shared_ptr<file>> log::files_for(int64_t from, int64_t to) const {
    std::vector<std::shared_ptr<file>> files;
    if (from >= to) {
        return files;
    }
    auto it = _segments.upper_bound(offset(from));
    if (it != _segments.begin()) {
        --it;
    }
    const segment* last = _segments.rbegin()->second.get();
    for (; it != _segments.end() && it->first.value() < to; ++it) {
        files.push_back(it->second->data());
        if (it->second.get() != last) {
            for (auto& f : it->second->index_files()) {
                files.push_back(std::move(f));
            }
        }
    }
    return files;
}

void log::start_writeback(const segment& act) {
    if (!_syncer || _cfg.writeback_bytes == 0) {
        return;
    }
    if (act.base() != _writeback_segment || _writeback_from > act.size()) {
        // Another segment (a roll, a truncation that started one) or a shorter one: from its
        // start again. Pages already clean cost the kernel a lookup, nothing more.
        _writeback_segment = act.base();
        _writeback_from = 0;
    }
    constexpr uint64_t page = 4096;
    const uint64_t end = act.size() / page * page;  // the last, partial page fills on
    if (end >= _writeback_from + _cfg.writeback_bytes) {
        _syncer->start_writeback(act.data(), _writeback_from, end - _writeback_from);
        _writeback_from = end;
    }
}

void log::submit(sync_request r) {
    if (_syncer) {
        _syncer->submit(std::move(r));
    } else {
        std::vector<sync_request> round;
        round.push_back(std::move(r));
        syncer::complete(round, {});
    }
}

std::error_code log::writable() const {
    if (_closed) {
        return errc::closed;
    }
    if (_progress->failed()) {
        return errc::log_failed;
    }
    return {};
}

template <class T>
result<T> log::watch_writes(result<T> r, const char* what) {
    if (!r && r.error() == errc::io_error) {
        // The system call's own error is logged where it failed (file.cc).
        _progress->fail(std::string(what) + ": " + last_io_failure());
    }
    return r;
}

void log::set_failure_listener(std::function<void(const std::string& what)> fn) {
    _progress->set_failure_listener(std::move(fn));
}

result<append_result> log::append(std::span<uint8_t> batches, std::optional<int32_t> stamp_epoch,
                                  bool crc_verified, append_source source) {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(append_batches(batches, stamp_epoch, crc_verified, source), "append");
}

result<append_result> log::append_batches(std::span<uint8_t> batches, std::optional<int32_t> stamp_epoch,
                                          bool crc_verified, append_source source) {
    if (batches.empty()) {
        return errc::invalid_batch;
    }
    // Validate everything before touching anything.
    _metas.clear();
    _new_epochs.clear();
    std::optional<leader_epoch> latest = _epochs.latest_epoch();
    offset next = _next;
    int64_t records = 0;
    int64_t max_ts = -1;
    const bool keep_offsets = source != append_source::leader;
    std::optional<offset> gap_end;  // keep_offsets: after the last batch that follows a gap
    for (size_t pos = 0; pos < batches.size();) {
        bytes_view rest = bytes_view(batches).subspan(pos);
        if (rest.size() >= batch_header::length_field_end) {
            int64_t len = int32_t(load_be32(rest.data() + 8));
            if (len + int64_t(batch_header::length_field_end) > int64_t(_cfg.max_batch_bytes)) {
                return errc::batch_too_large;
            }
        }
        auto h = crc_verified ? read_batch_header(rest, _cfg.max_batch_bytes)
                              : read_and_verify_batch(rest, _cfg.max_batch_bytes);
        if (!h) {
            TLOG_DEBUG("storage: {}: rejecting batch at {}: {}", _dir.string(), pos, h.error().message());
            return errc::invalid_batch;
        }
        if (keep_offsets) {
            if (h->base_offset < next.value()) {
                return errc::offset_out_of_range;
            }
            if (h->base_offset > next.value()) {
                gap_end = offset(h->last_offset() + 1);
            }
            next = offset(h->base_offset);
        }
        _metas.push_back({next, next + h->last_offset_delta, h->max_timestamp, uint32_t(h->total_size())});
        const leader_epoch epoch(stamp_epoch.value_or(h->partition_leader_epoch));
        if (epoch.value() >= 0 && (!latest || epoch > *latest)) {
            _new_epochs.push_back({epoch, next});
            latest = epoch;
        }
        next = next + (int64_t(h->last_offset_delta) + 1);
        records += h->record_count;
        max_ts = std::max(max_ts, h->max_timestamp);
        pos += h->total_size();
    }
    if (batches.size() > UINT32_MAX || (next - 1) - _next > int64_t(UINT32_MAX)) {
        return errc::batch_too_large;  // can't fit one segment's u32 positions / relative offsets
    }

    const int64_t now = _clock.now_ms().value();
    {
        segment& act = active();
        bool roll_needed =
            !act.empty() &&
            (act.size() + batches.size() > max_segment_bytes() ||
             (act.roll_base_ms() && now - *act.roll_base_ms() >= _cfg.segment_ms) ||
             (next - 1) - act.base() > int64_t(UINT32_MAX));
        if (roll_needed) {
            if (auto r = roll(now); !r) {
                return r.error();
            }
        }
    }
    if (gap_end && first_dirty_offset() < *gap_end) {
        // Offsets compaction removed at the leader: recovery accepts gaps below the cleaner
        // checkpoint, so it goes past them before they are on disk.
        if (auto r = write_cleaner_checkpoint(*gap_end); !r) {
            return r.error();
        }
    }
    if (!_new_epochs.empty()) {
        // The file before the data, so it never lacks an epoch the log holds; the cache in
        // memory changes only once the file did.
        leader_epoch_cache epochs = _epochs;
        for (const auto& e : _new_epochs) {
            epochs.assign(e.epoch, e.start_offset);
        }
        if (auto r = epochs.write(_dir); !r) {
            return r.error();
        }
        _epochs = std::move(epochs);
    }
    segment& act = active();
    size_t pos = 0;
    for (const auto& m : _metas) {
        set_base_offset(batches.data() + pos, m.base.value());
        if (stamp_epoch) {
            set_partition_leader_epoch(batches.data() + pos, *stamp_epoch);
        }
        pos += m.size;
    }
    if (now - _mark_ms >= 1000) {
        _recent = _mark;
        _mark = _next;
        _mark_ms = now;
    }
    const bool direct_ok =
        source != append_source::follower && now - _tail_read_ms > _cfg.direct_pause_for_tail_readers_ms;
    const uint64_t position = act.size();
    if (auto r = act.append(bytes_view(batches), _metas, now, direct_ok); !r) {
        return r.error();
    }
    publish_mark();
    start_writeback(act);
    append_result out{_metas.front().base, _metas.back().last, timestamp_ms(max_ts), position};
    uint64_t at = position;
    for (const auto& m : _metas) {
        _tail.push_back({m.base, m.last, at, m.size});
        at += m.size;
    }
    while (_tail.size() > tail_batches_max) {
        _tail.pop_front();
    }
    _next = next;
    _size_bytes += batches.size();
    _unflushed_messages += records;
    if (!_oldest_unflushed_ms) {
        _oldest_unflushed_ms = now;
    }
    // The batches are in the log from here: an error below fails it (append's watch_writes),
    // and the caller does not acknowledge them.
    if (_mark_cell && now - _indexes_persisted_ms >= 1000) {
        // Recovery with a written mark starts from the active segment's index files: keep
        // them about a second behind at most (a pwrite of the new entries, no fsync).
        _indexes_persisted_ms = now;
        if (auto r = act.persist_indexes(false); !r) {
            return r.error();
        }
    }
    if (auto r = maybe_flush(now); !r) {
        // As Kafka answers an append whose flush failed: with a storage error.
        return r.error();
    }
    return out;
}

result<void> log::roll(int64_t now) {
    _tail.clear();
    segment& old = active();
    if (auto r = old.set_direct(false); !r) {  // ends at its last batch from now on
        return r;
    }
    if (auto r = old.persist_indexes(true); !r) {
        return r;
    }
    auto seg = segment::open(_dir, _next, _cfg.index_interval_bytes, true);
    if (!seg) {
        return seg.error();
    }
    if (auto r = (*seg)->set_direct(_cfg.direct_writes, _cfg.direct_min_bytes); !r) {
        return r;
    }
    // The new file's directory entry must be durable before anything in it is acknowledged.
    if (auto r = sync_directory(_dir); !r) {
        return r;
    }
    // Sync the finished segment in the background: data from the durable point, and its
    // final indexes whatever the durable point.
    sync_request req;
    req.files = files_for(_progress->durable(), old.next_offset().value());
    req.files.push_back(old.data());
    for (auto& f : old.index_files()) {
        req.files.push_back(std::move(f));
    }
    req.progress = _progress;
    req.durable_to = old.next_offset().value();
    req.epoch = _progress->epoch();
    _segments.emplace(_next, std::move(*seg));
    submit(std::move(req));
    TLOG_DEBUG("storage: {}: rolled to segment {}", _dir.string(), _next.value());
    if (_on_roll) {
        _on_roll(_next);
    }
    return success();
}

void log::sync(offset upto, std::function<void(std::error_code)> done) {
    if (_closed) {
        if (done) {
            done(errc::closed);
        }
        return;
    }
    const int64_t to = std::min(upto.value() + 1, _next.value());
    sync_request req;
    req.progress = _progress;
    req.files = files_for(_progress->durable(), to);
    req.durable_to = to;
    req.epoch = _progress->epoch();
    req.done = std::move(done);
    submit(std::move(req));
}

result<void> log::flush_impl(bool clean) {
    const int64_t from = std::min(_checkpoint_rp.value(), _progress->durable());
    std::vector<std::shared_ptr<file>> files;
    auto it = _segments.upper_bound(offset(from));
    if (it != _segments.begin()) {
        --it;
    }
    for (; it != _segments.end(); ++it) {
        segment& s = *it->second;
        bool is_active = &s == &active();
        if (auto r = s.persist_indexes(is_active ? clean : true); !r) {
            return r;
        }
        files.push_back(s.data());
        for (auto& f : s.index_files()) {
            files.push_back(std::move(f));
        }
    }
    for (const auto& f : files) {
        if (fsync_fd(f->fd()) != 0) {
            return io_failure("fdatasync", f->path(), errno);
        }
    }
    _progress->advance(_next.value(), _progress->epoch());
    _unflushed_messages = 0;
    _oldest_unflushed_ms.reset();
    return write_checkpoint(clean);
}

result<void> log::flush() {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(flush_impl(false), "flush");
}

result<void> log::maybe_flush() {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(maybe_flush(_clock.now_ms().value()), "flush");
}

result<void> log::maybe_flush(int64_t now) {
    if (_unflushed_messages >= _cfg.flush_messages) {
        return flush_impl(false);
    }
    if (_oldest_unflushed_ms && now - *_oldest_unflushed_ms >= _cfg.flush_ms) {
        if (_syncer == nullptr) {
            return flush_impl(false);
        }
        // Nobody waits for this one: an fsync on the owner's thread would stall every partition
        // it serves (each owner core serves many; Kafka's handler threads are several). The
        // next such sync is due flush_ms after the next append; a failed one fails the log.
        _unflushed_messages = 0;
        _oldest_unflushed_ms.reset();
        sync(offset(_next.value() - 1), {});  // a failure fails the log (sync_progress::fail)
    }
    // Background syncs (roll, group commit) moved the durable point into a later segment:
    // checkpoint it so recovery skips the finished segments.
    const int64_t durable = std::min(_progress->durable(), _next.value());
    if (durable > _checkpoint_rp.value()) {
        auto seg_of = [&](int64_t o) { return std::prev(_segments.upper_bound(offset(o))); };
        if (_checkpoint_rp < _segments.begin()->first || seg_of(durable) != seg_of(_checkpoint_rp.value())) {
            return write_checkpoint(false);
        }
    }
    return success();
}

void log::close() {
    if (_closed) {
        return;
    }
    if (_progress->failed()) {
        // No clean mark on files that failed: the next open scans what it cannot trust.
        TLOG_WARN("storage: {}: closed without a flush after an earlier failure", _dir.string());
    } else if (auto r = active().set_direct(false); !r) {
        TLOG_ERROR("storage: {}: close could not cut the padding of direct writes: {}", _dir.string(),
                   r.error().message());
    } else if (auto r = flush_impl(true); !r) {
        TLOG_ERROR("storage: {}: close could not flush: {}", _dir.string(), r.error().message());
    }
    _closed = true;
    _segments.clear();
}

void log::update_config(log_config cfg) {
    if (!_closed) {
        if (auto r = active().set_direct(cfg.direct_writes, cfg.direct_min_bytes); !r) {
            TLOG_ERROR("storage: {}: could not switch direct writes {}: {}", _dir.string(),
                       cfg.direct_writes ? "on" : "off", r.error().message());
            cfg.direct_writes = active().direct();
        }
    }
    _cfg = cfg;
    for (auto& [b, s] : _segments) {
        s->set_index_interval(cfg.index_interval_bytes);
    }
}

std::vector<offset> log::segment_bases() const {
    std::vector<offset> out;
    for (const auto& [b, s] : _segments) {
        out.push_back(b);
    }
    return out;
}

result<void> log::for_each_batch_header(const std::function<bool(const batch_header&)>& fn) const {
    bool more = true;
    for (const auto& [base, seg] : _segments) {
        auto r = seg->walk(0, [&](uint64_t, const batch_header& h) {
            more = fn(h);
            return more;
        });
        if (!r) {
            return r;
        }
        if (!more) {
            break;
        }
    }
    return success();
}

result<std::pair<log::segment_iterator, uint64_t>> log::locate(offset o) const {
    auto it = std::prev(_segments.upper_bound(o));
    auto loc = it->second->find(o);
    if (!loc) {
        return loc.error();
    }
    return std::pair{it, *loc ? (*loc)->pos : it->second->size()};
}

result<void> log::for_each_batch_header(offset from, const std::function<bool(const batch_header&)>& fn) const {
    if (from <= _segments.begin()->first) {
        return for_each_batch_header(fn);
    }
    if (from >= _next) {
        return success();
    }
    auto at = locate(from);
    if (!at) {
        return at.error();
    }
    auto [it, pos] = *at;
    bool more = true;
    for (; it != _segments.end() && more; ++it, pos = 0) {
        auto r = it->second->walk(pos, [&](uint64_t, const batch_header& h) {
            more = fn(h);
            return more;
        });
        if (!r) {
            return r;
        }
    }
    return success();
}

result<read_result> log::read(offset start, size_t max_bytes, std::optional<offset> upto) {
    if (_closed) {
        return errc::closed;
    }
    if (start < _log_start || start > _next) {
        return errc::offset_out_of_range;
    }
    read_result out;
    out.next_offset = start;
    const offset limit = upto ? std::min(*upto, _next) : _next;
    if (start >= limit) {
        return out;
    }
    // Whether the batch ending at `last` of `size` bytes still belongs in the result; if so it
    // is counted in.
    auto take = [&](offset last, uint32_t size) {
        if (last >= limit || (out.bytes > 0 && out.bytes + size > max_bytes)) {
            return false;
        }
        out.bytes += size;
        out.next_offset = last + 1;
        return true;
    };
    auto add_slice = [&](const segment& s, uint64_t pos, uint64_t len) {
        if (len > 0) {
            out.slices.push_back({s.data()->fd(), int64_t(pos), uint32_t(len), s.data()});
        }
    };
    if (!_tail.empty() && start >= _tail.front().base) {
        // A tail read: the batches are known without reading their headers.
        auto b = std::partition_point(_tail.begin(), _tail.end(),
                                      [&](const tail_batch& t) { return t.last < start; });
        uint64_t slice_start = b == _tail.end() ? 0 : b->pos;
        uint64_t slice_len = 0;
        for (; b != _tail.end() && take(b->last, b->size); ++b) {
            slice_len += b->size;
        }
        add_slice(active(), slice_start, slice_len);
        return out;
    }
    auto at = locate(start);
    if (!at) {
        return at.error();
    }
    auto [it, pos] = *at;
    bool stop = false;
    for (; it != _segments.end() && !stop; ++it, pos = 0) {
        const segment& s = *it->second;
        uint64_t slice_len = 0;
        auto walked = s.walk(pos, [&](uint64_t, const batch_header& h) {
            if (!take(offset(h.last_offset()), uint32_t(h.total_size()))) {
                stop = true;
                return false;
            }
            slice_len += h.total_size();
            return true;
        });
        if (!walked) {
            return walked.error();
        }
        add_slice(s, pos, slice_len);
    }
    return out;
}

void log::note_reader(offset start) {
    if (!_closed && start >= _recent) {
        _tail_read_ms = _clock.now_ms().value();
    }
}

result<bytes> log::read_bytes(offset start, size_t max_bytes, std::optional<offset> upto) {
    auto rr = read(start, max_bytes, upto);
    if (!rr) {
        return rr.error();
    }
    bytes out(rr->bytes);
    size_t at = 0;
    for (const auto& s : rr->slices) {
        auto f = std::static_pointer_cast<const file>(s.owner);
        auto got = f->read_at(std::span(out.data() + at, s.len), uint64_t(s.pos));
        if (!got) {
            return got.error();
        }
        if (*got != s.len) {
            return errc::io_error;
        }
        at += s.len;
    }
    return out;
}

result<std::optional<offset>> log::offset_for_timestamp(timestamp_ms ts) {
    if (_closed) {
        return errc::closed;
    }
    for (const auto& [b, s] : _segments) {
        if (s->next_offset() <= _log_start || s->max_timestamp() < ts.value()) {
            continue;
        }
        auto r = s->find_timestamp(ts.value(), _log_start);
        if (!r) {
            return r.error();
        }
        if (*r) {
            return std::optional<offset>(std::max(**r, _log_start));
        }
    }
    return std::optional<offset>{};
}

std::optional<std::pair<offset, timestamp_ms>> log::max_timestamp() const {
    std::optional<std::pair<offset, timestamp_ms>> best;
    for (const auto& [b, s] : _segments) {
        if (s->next_offset() <= _log_start || s->max_timestamp() < 0) {
            continue;
        }
        if (!best || s->max_timestamp() > best->second.value()) {
            best = {s->offset_of_max_timestamp(), timestamp_ms(s->max_timestamp())};
        }
    }
    return best;
}

result<void> log::delete_front() {
    assert(_segments.size() > 1);
    auto it = _segments.begin();
    if (auto r = it->second->remove(); !r) {
        return r;
    }
    _size_bytes -= it->second->size();
    _segments.erase(it);
    if (_log_start < _segments.begin()->first) {
        _log_start = _segments.begin()->first;
    }
    return success();
}

result<size_t> log::apply_retention() {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(retain(), "retention");
}

result<size_t> log::retain() {
    const int64_t now = _clock.now_ms().value();
    size_t deleted = 0;
    if (_cfg.retention_ms >= 0) {
        while (_segments.size() > 1 && now - _segments.begin()->second->retention_time_ms() > _cfg.retention_ms) {
            if (auto r = delete_front(); !r) {
                return r.error();
            }
            ++deleted;
        }
    }
    if (_cfg.retention_bytes >= 0) {
        while (_segments.size() > 1 &&
               int64_t(_size_bytes - _segments.begin()->second->size()) >= _cfg.retention_bytes) {
            if (auto r = delete_front(); !r) {
                return r.error();
            }
            ++deleted;
        }
    }
    if (deleted > 0) {
        if (auto r = write_checkpoint(false); !r) {
            return r.error();
        }
        if (auto r = save_epochs(_epochs.truncate_from_start(_log_start)); !r) {
            return r.error();
        }
    }
    return deleted;
}

result<void> log::advance_log_start_offset(offset o) {
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(advance_start(o), "log start offset change");
}

result<void> log::advance_start(offset o) {
    if (o > _next) {
        return errc::offset_out_of_range;
    }
    if (o <= _log_start) {
        return success();
    }
    _log_start = o;
    while (_segments.size() > 1 && std::next(_segments.begin())->first <= o) {
        if (auto r = delete_front(); !r) {
            return r;
        }
    }
    if (auto r = write_checkpoint(false); !r) {
        return r;
    }
    return save_epochs(_epochs.truncate_from_start(_log_start));
}

result<void> log::truncate(offset to) {
    _tail.clear();
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(truncate_impl(to, false), "truncation");
}

result<void> log::truncate_fully_and_start_at(offset to) {
    _tail.clear();
    if (auto e = writable()) {
        return e;
    }
    return watch_writes(truncate_impl(to, true), "truncation");
}

result<void> log::truncate_impl(offset to, bool fully) {
    if (!fully && to >= _next) {
        // No data goes, but an epoch that began at the log end and wrote nothing (a leader
        // that appended nothing) does: a follower truncating to where the leader's history
        // parts from its own must not keep claiming that epoch.
        return save_epochs(_epochs.truncate_from_end(to));
    }
    // Data is cut: a written mark taken before must never vouch for what is written after.
    // The new nonce is in the checkpoint before the cut, so even if this truncation fails
    // half-way and appends go on, no mark file entry of the old one matches the log again.
    _nonce = new_nonce();
    if (_mark_cell) {
        _mark_cell->clear();
        if (auto r = write_checkpoint(false); !r) {
            return r;
        }
    }
    const int64_t now = _clock.now_ms().value();
    if (fully || to < _log_start || to <= _segments.begin()->first) {
        // Nothing stays: restart the log at `to`.
        _progress->lower(to.value());
        for (auto& [b, s] : _segments) {
            if (auto r = s->remove(); !r) {
                return r;
            }
        }
        _segments.clear();
        auto seg = segment::open(_dir, to, _cfg.index_interval_bytes, true);
        if (!seg) {
            return seg.error();
        }
        if (auto r = (*seg)->recover(now); !r) {
            return r.error();
        }
        _segments.emplace(to, std::move(*seg));
        _log_start = to;
        _epochs.clear();
    } else {
        while (_segments.rbegin()->first >= to) {
            auto last = std::prev(_segments.end());
            if (auto r = last->second->remove(); !r) {
                return r;
            }
            _segments.erase(last);
        }
        if (auto r = active().truncate(to); !r) {
            return r;
        }
        if (auto r = active().persist_indexes(false); !r) {
            return r;
        }
        _progress->lower(active().next_offset().value());
    }
    if (auto r = active().set_direct(_cfg.direct_writes, _cfg.direct_min_bytes); !r) {
        return r;
    }
    _next = active().next_offset();
    _epochs.truncate_from_end(_next);
    _size_bytes = 0;
    for (auto& [b, s] : _segments) {
        _size_bytes += s->size();
    }
    // The cut must be durable: otherwise a crash could bring the removed batches back.
    auto touched = active().index_files();
    touched.push_back(active().data());
    for (const auto& f : touched) {
        if (fsync_fd(f->fd()) != 0) {
            return io_failure("fdatasync", f->path(), errno);
        }
    }
    if (auto r = sync_directory(_dir); !r) {
        return r;
    }
    if (_checkpoint_rp > _next) {
        _checkpoint_rp = _next;
    }
    if (_cfg.compact && (first_dirty_offset(), *_first_dirty > _next)) {
        // Offsets above the cut will be written again: they haven't been cleaned.
        if (auto r = write_cleaner_checkpoint(_next); !r) {
            return r;
        }
    }
    _mark = fully ? _next : std::min(_mark, _next);
    _recent = fully ? _next : std::min(_recent, _next);
    // After the cut is durable: a crash before this write leaves entries at or past the new
    // end, which open() drops.
    if (auto r = _epochs.write(_dir); !r) {
        return r;
    }
    if (auto r = write_checkpoint(false); !r) {
        return r;
    }
    publish_mark();
    return success();
}


// ---- compaction -------------------------------------------------------------------------

namespace {
// The cleaner checkpoint file: one decimal offset and a newline. nullopt: none (or damaged,
// logged: the cleaner then starts again from the log start, which only costs work).
std::optional<offset> read_cleaner_checkpoint(const std::filesystem::path& dir) {
    auto f = read_small_file(dir / cleaner_checkpoint_name, 64);
    if (!f || !*f) {
        return std::nullopt;
    }
    std::string text((*f)->begin(), (*f)->end());
    int64_t v = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.size() > 64 || ec != std::errc() || v < 0 || std::string_view(end, text.data() + text.size()) != "\n") {
        TLOG_WARN("storage: {}: damaged {}; cleaning from the log start", dir.string(), cleaner_checkpoint_name);
        return std::nullopt;
    }
    return offset(v);
}
} // namespace

offset log::first_dirty_offset() {
    if (!_first_dirty) {
        _first_dirty = read_cleaner_checkpoint(_dir).value_or(_log_start);
    }
    return std::clamp(*_first_dirty, _log_start, _next);
}

result<void> log::write_cleaner_checkpoint(offset o) {
    _first_dirty = o;
    const std::string text = std::to_string(o.value()) + "\n";
    return replace_file(_dir, cleaner_checkpoint_name,
                        bytes_view(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::optional<cleaning_task> log::prepare_cleaning(offset upto) {
    auto task = plan_cleaning(upto);
    if (!task) {
        return std::nullopt;
    }
    const double ratio = double(task->dirty_bytes) / double(task->total_bytes);
    if (ratio < _cfg.min_cleanable_dirty_ratio && !task->forced) {
        return std::nullopt;
    }
    return task;
}

std::optional<double> log::dirty_ratio(offset upto) {
    auto task = plan_cleaning(upto);
    return task ? std::optional<double>(double(task->dirty_bytes) / double(task->total_bytes)) : std::nullopt;
}

std::optional<cleaning_task> log::plan_cleaning(offset upto) {
    if (_closed || !_cfg.compact || _segments.size() < 2) {
        return std::nullopt;
    }
    const int64_t now = _clock.now_ms().value();
    const offset first_dirty = first_dirty_offset();
    // Whole non-active segments below the high watermark, below the recovery point (so that
    // the gaps cleaning leaves are only ever below it, where open() accepts them) and older
    // than the compaction lag.
    offset end = _segments.begin()->first;
    for (auto it = _segments.begin(); std::next(it) != _segments.end(); ++it) {
        const offset next_base = std::next(it)->first;
        if (next_base > upto || next_base > _checkpoint_rp ||
            (_cfg.min_compaction_lag_ms > 0 && it->second->max_timestamp() > now - _cfg.min_compaction_lag_ms)) {
            break;
        }
        end = next_base;
    }
    if (end <= first_dirty) {
        return std::nullopt;
    }
    cleaning_task task;
    task.dir = _dir;
    task.first_dirty = first_dirty;
    task.end = end;
    task.now_ms = now;
    task.delete_retention_ms = _cfg.delete_retention_ms;
    std::optional<int64_t> oldest_dirty_ms;
    for (auto it = _segments.begin(); it != _segments.end(); ++it) {
        const segment& s = *it->second;
        auto mtime = s.data()->mtime_ms();
        cleaning_input in{s.base(), s.data(), s.size(), mtime ? *mtime : now};
        if (s.base() >= end) {
            task.later.push_back(std::move(in));
            continue;
        }
        task.total_bytes += s.size();
        if (std::next(it)->first > first_dirty) {
            task.dirty_bytes += s.size();
            if (!oldest_dirty_ms) {
                oldest_dirty_ms = s.roll_base_ms().value_or(in.modified_ms);
            }
        }
        task.segments.push_back(std::move(in));
    }
    task.forced = _cfg.max_compaction_lag_ms < INT64_MAX && oldest_dirty_ms &&
                  *oldest_dirty_ms <= now - _cfg.max_compaction_lag_ms;
    if (task.dirty_bytes == 0) {
        return std::nullopt;
    }
    return task;
}

namespace {
void discard_cleaned(const cleaning_result& r) {
    for (const auto& s : r.segments) {
        (void)remove_file(cleaned_path(r.dir, s.base));
    }
}
} // namespace

result<bool> log::install_cleaned(const cleaning_result& r) {
    if (_closed) {
        discard_cleaned(r);
        return errc::closed;
    }
    for (const auto& c : r.segments) {
        auto it = _segments.find(c.base);
        if (it == _segments.end() || std::next(it) == _segments.end() || it->second->data() != c.replaces ||
            it->second->size() != c.replaces_size) {
            TLOG_INFO("storage: {}: segment {} changed while it was cleaned; dropping the cleaned copy",
                      _dir.string(), c.base.value());
            discard_cleaned(r);
            return false;
        }
    }
    // Commit oldest first: after a crash the segments installed are a prefix of the pass, so a
    // record is only ever gone with the newer value (or tombstone) that replaced it still there.
    for (const auto& c : r.segments) {
        if (::rename(cleaned_path(_dir, c.base).c_str(), swap_path(_dir, c.base).c_str()) != 0) {
            auto ec = io_failure("rename", cleaned_path(_dir, c.base), errno);
            discard_cleaned(r);
            return ec;
        }
        if (auto s = sync_directory(_dir); !s) {
            return s.error();
        }
    }
    const int64_t now = _clock.now_ms().value();
    for (const auto& c : r.segments) {
        const auto stem = _dir / segment::file_stem(c.base);
        // The old indexes describe the old file; the new ones are rebuilt below (or at open).
        (void)remove_file(stem.string() + ".index");
        (void)remove_file(stem.string() + ".timeindex");
        if (::rename(swap_path(_dir, c.base).c_str(), (stem.string() + ".log").c_str()) != 0) {
            return io_failure("rename", swap_path(_dir, c.base), errno);
        }
    }
    if (auto s = sync_directory(_dir); !s) {
        return s.error();
    }
    for (const auto& c : r.segments) {
        auto seg = segment::open(_dir, c.base, _cfg.index_interval_bytes);
        if (!seg) {
            return seg.error();
        }
        // Written and fsync'ed by the cleaner: framing and offsets are checked, not the CRCs.
        auto rec = (*seg)->recover(now, UINT64_MAX, true);
        if (!rec) {
            return rec.error();
        }
        if (rec->truncated) {
            TLOG_ERROR("storage: {}: cleaned segment {} is damaged ({})", _dir.string(), c.base.value(), rec->reason);
            return errc::corrupt;
        }
        if (auto p = (*seg)->persist_indexes(true); !p) {
            return p.error();
        }
        auto& slot = _segments[c.base];
        _size_bytes = _size_bytes - slot->size() + (*seg)->size();
        slot = std::move(*seg);  // readers holding the old file keep reading it
    }
    if (auto w = write_cleaner_checkpoint(r.cleaned_to); !w) {
        return w.error();
    }
    return true;
}

result<std::optional<cleaning_result>> log::compact(offset upto, const record_codec* codec,
                                                    size_t dedupe_buffer_bytes) {
    auto task = prepare_cleaning(upto);
    if (!task) {
        return std::optional<cleaning_result>{};
    }
    auto r = clean(*task, codec, dedupe_buffer_bytes);
    if (!r) {
        for (const auto& s : task->segments) {
            (void)remove_file(cleaned_path(_dir, s.base));
        }
        return r.error();
    }
    auto installed = install_cleaned(*r);
    if (!installed) {
        return installed.error();
    }
    return *installed ? std::optional<cleaning_result>(std::move(*r)) : std::nullopt;
}

result<void> log::finish_swaps(const std::vector<std::filesystem::path>& swaps, std::vector<int64_t>& bases) {
    for (const auto& p : swaps) {
        // <stem>.log.swap
        const auto log_name = p.stem();  // <stem>.log
        auto base = segment::parse_file_stem(log_name.stem().string());
        if (!base || log_name.extension() != ".log") {
            TLOG_WARN("storage: {}: ignoring {}", _dir.string(), p.string());
            continue;
        }
        TLOG_INFO("storage: {}: installing {}, committed by a compaction before a crash", _dir.string(),
                  p.filename().string());
        const auto stem = _dir / log_name.stem();
        (void)remove_file(stem.string() + ".index");
        (void)remove_file(stem.string() + ".timeindex");
        if (::rename(p.c_str(), (stem.string() + ".log").c_str()) != 0) {
            return io_failure("rename", p, errno);
        }
        if (std::find(bases.begin(), bases.end(), base->value()) == bases.end()) {
            bases.push_back(base->value());
        }
    }
    if (!swaps.empty()) {
        return sync_directory(_dir);
    }
    return success();
}

} // namespace trib::storage
