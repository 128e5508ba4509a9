#include "storage/segment.h"

#include "common/log.h"
#include "storage/errc.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace trib::storage {

namespace {

// Reads batch headers of one file through a small window, so walking many small batches costs
// one pread per window rather than one per batch. Every length is checked against `limit`
// (the segment size) before it is used.
class header_walker {
public:
    header_walker(const file& f, uint64_t limit) : _file(f), _limit(limit) {}

    result<batch_header> at(uint64_t pos) {
        if (pos + batch_header::size > _limit) {
            return errc::corrupt;
        }
        if (pos < _win_pos || pos + batch_header::size > _win_pos + _win_len) {
            size_t want = size_t(std::min<uint64_t>(window, _limit - pos));
            auto got = _file.read_at(std::span(_buf, want), pos);
            if (!got) {
                return got.error();
            }
            _win_pos = pos;
            _win_len = *got;
            if (_win_len < batch_header::size) {
                return errc::corrupt;
            }
        }
        batch_header h = decode_batch_header(_buf + (pos - _win_pos));
        if (h.magic != 2 ||
            h.batch_length < int32_t(batch_header::size - batch_header::length_field_end) ||
            h.last_offset_delta < 0 || pos + h.total_size() > _limit) {
            return errc::corrupt;
        }
        return h;
    }

private:
    static constexpr size_t window = 4096;
    const file& _file;
    uint64_t _limit;
    uint8_t _buf[window];
    uint64_t _win_pos = 0;
    size_t _win_len = 0;
};

// A read-only mapping of a whole file, for the recovery scan: the CRC pass reads the file in
// place, and every length is bounded by the mapping, so no length on disk drives an allocation.
class mapping {
public:
    mapping(const file& f, uint64_t size) : _size(size) {
        if (size > 0) {
            void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.fd(), 0);
            if (p != MAP_FAILED) {
                _p = static_cast<const uint8_t*>(p);
                ::madvise(p, size, MADV_SEQUENTIAL);
            }
        }
    }
    mapping(const mapping&) = delete;
    mapping& operator=(const mapping&) = delete;
    ~mapping() {
        if (_p) {
            ::munmap(const_cast<uint8_t*>(_p), _size);
        }
    }
    bool ok() const noexcept { return _size == 0 || _p != nullptr; }
    bytes_view view() const noexcept { return {_p, size_t(_size)}; }
    // Only batch headers will be read in [0, upto): no readahead of what lies between them
    // when the file isn't in the page cache. 0: all of it will be read, in order.
    void headers_only_below(uint64_t upto) const noexcept {
        const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
        const uint64_t len = std::min(upto, _size) / page * page;
        if (_p && len > 0) {
            ::madvise(const_cast<uint8_t*>(_p), len, MADV_RANDOM);
        } else if (_p && upto == 0) {
            ::madvise(const_cast<uint8_t*>(_p), _size, MADV_SEQUENTIAL);
        }
    }

private:
    const uint8_t* _p = nullptr;
    uint64_t _size;
};

// Zeros from `pos` to the end of the block: the padding of a direct write (direct_appender.h).
bool is_direct_padding(bytes_view rest, uint64_t pos) {
    const uint64_t block = direct_appender::block;
    return !rest.empty() && (pos + rest.size()) % block == 0 && rest.size() < block &&
           std::all_of(rest.begin(), rest.end(), [](uint8_t b) { return b == 0; });
}

} // namespace

std::string segment::file_stem(offset base) {
    char name[32];
    std::snprintf(name, sizeof name, "%020" PRId64, base.value());
    return name;
}

std::optional<offset> segment::parse_file_stem(const std::string& stem) {
    if (stem.size() != 20 || !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    int64_t v = 0;
    for (char c : stem) {
        if (v > (INT64_MAX - (c - '0')) / 10) {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return offset(v);
}

segment::segment(std::filesystem::path dir, offset base, uint32_t index_interval,
                 std::shared_ptr<file> data, std::shared_ptr<file> index, std::shared_ptr<file> timeindex)
    : _dir(std::move(dir)), _base(base), _index_interval(index_interval), _data(std::move(data)),
      _index(std::move(index)), _timeindex(std::move(timeindex)), _next(base), _offset_of_max_ts(base) {}

result<std::unique_ptr<segment>> segment::open(const std::filesystem::path& dir, offset base,
                                               uint32_t index_interval_bytes, bool fresh) {
    auto stem = file_stem(base);
    int flags = O_RDWR | O_CREAT | (fresh ? O_TRUNC : 0);
    auto data = file::open(dir / (stem + ".log"), flags);
    if (!data) {
        return data.error();
    }
    auto index = file::open(dir / (stem + ".index"), flags);
    if (!index) {
        return index.error();
    }
    auto timeindex = file::open(dir / (stem + ".timeindex"), flags);
    if (!timeindex) {
        return timeindex.error();
    }
    return std::unique_ptr<segment>(new segment(dir, base, index_interval_bytes, std::move(*data),
                                                std::move(*index), std::move(*timeindex)));
}

std::vector<std::shared_ptr<file>> segment::index_files() const {
    return {_index.handle(), _timeindex.handle()};
}

int64_t segment::retention_time_ms() const {
    if (_max_ts >= 0) {
        return _max_ts;
    }
    auto m = _data->mtime_ms();
    return m ? *m : 0;
}

void segment::reset() {
    _index.clear();
    _timeindex.clear();
    _next = _base;
    _size = 0;
    _max_ts = -1;
    _offset_of_max_ts = _base;
    _bytes_since_index = 0;
}

void segment::maybe_add_time_entry() {
    if (_max_ts >= 0 && (_timeindex.empty() || _max_ts > _timeindex.back().ts)) {
        _timeindex.append({_max_ts, rel(_offset_of_max_ts)});
    }
}

void segment::account(const batch_meta& m, uint64_t pos) {
    assert(m.base >= _next && m.last >= m.base && pos == _size);
    if (m.max_timestamp > _max_ts) {
        _max_ts = m.max_timestamp;
        _offset_of_max_ts = m.last;
    }
    if (_bytes_since_index >= _index_interval) {
        assert(_index.empty() || (_index.back().rel < rel(m.base) && _index.back().pos < pos));
        _index.append({rel(m.base), uint32_t(pos)});
        maybe_add_time_entry();
        _bytes_since_index = 0;
    }
    _bytes_since_index += m.size;
    _size = pos + m.size;
    _next = m.last + 1;
}

result<bool> segment::load_index_files(uint64_t log_size) {
    // An index can't have more entries than the .log has batches: don't let a damaged index
    // file's size drive an allocation.
    const uint64_t max_entries = log_size / batch_header::size + 1;
    for (const auto& [f, entry_size] : {std::pair{_index.handle(), offset_index_entry::size},
                                        std::pair{_timeindex.handle(), time_index_entry::size}}) {
        auto sz = f->size();
        if (!sz) {
            return sz.error();
        }
        if (*sz / entry_size > max_entries) {
            return false;
        }
    }
    if (auto r = _index.load(); !r) {
        return r.error();
    }
    if (auto r = _timeindex.load(); !r) {
        return r.error();
    }
    return true;
}

result<uint64_t> segment::seed_from_index_files(bytes_view all, uint64_t trusted, int64_t now_ms) {
    const uint64_t limit = std::min<uint64_t>(trusted, all.size());
    auto loaded = load_index_files(all.size());
    if (!loaded) {
        return loaded.error();
    }
    if (!*loaded) {
        return 0;
    }
    auto none = [&] {
        _index.clear();
        _timeindex.clear();
        return uint64_t(0);
    };
    const auto& idx = _index.entries();
    size_t k = 0;  // the entries before the mark, while they increase
    while (k < idx.size() && idx[k].pos < limit &&
           (k == 0 || (idx[k].rel > idx[k - 1].rel && idx[k].pos > idx[k - 1].pos))) {
        ++k;
    }
    if (k == 0) {
        return none();
    }
    const offset_index_entry last = idx[k - 1];
    auto first = read_batch_header(all);
    auto h = read_batch_header(all.subspan(size_t(last.pos)));
    if (!first || first->base_offset != _base.value() || !h || h->base_offset != _base.value() + last.rel ||
        h->total_size() > limit - last.pos || uint64_t(h->last_offset() - _base.value()) > UINT32_MAX) {
        return none();
    }
    _index.truncate(k);
    // Time index entries up to that batch's last offset: persist_indexes() writes the time
    // index before the offset index, so the file has every entry added up to there.
    const uint32_t last_rel = rel(offset(h->last_offset()));
    const auto& tidx = _timeindex.entries();
    size_t t = 0;
    while (t < tidx.size() && tidx[t].ts >= 0 && tidx[t].rel <= last_rel &&
           (t == 0 || (tidx[t].ts > tidx[t - 1].ts && tidx[t].rel > tidx[t - 1].rel))) {
        ++t;
    }
    _timeindex.truncate(t);
    _roll_base_ms = first->max_timestamp >= 0 ? first->max_timestamp : now_ms;
    if (t > 0) {
        _max_ts = tidx[t - 1].ts;
        _offset_of_max_ts = _base + int64_t(tidx[t - 1].rel);
    }
    if (h->max_timestamp > _max_ts) {
        _max_ts = h->max_timestamp;
        _offset_of_max_ts = offset(h->last_offset());
    }
    _size = last.pos + h->total_size();
    _next = offset(h->last_offset() + 1);
    _bytes_since_index = h->total_size();
    return _size;
}

result<segment::recovery> segment::recover(int64_t now_ms, uint64_t trusted, bool gaps) {
    reset();
    _index.discard_file();  // rebuilt from scratch, whatever the files hold
    _timeindex.discard_file();
    recovery out;
    auto file_size = _data->size();
    if (!file_size) {
        return file_size.error();
    }
    mapping map(*_data, *file_size);
    if (!map.ok()) {
        return io_failure("mmap", _data->path(), errno);
    }
    bytes_view all = map.view();
    map.headers_only_below(trusted);
    if (trusted != UINT64_MAX && trusted > all.size()) {
        TLOG_WARN("storage: {}: written mark at {} is past the end of the file ({}); checking every batch",
                  _data->path().string(), trusted, all.size());
        trusted = 0;
    }
    uint64_t pos = 0;
    if (trusted > 0) {
        // What the index files say about the part below the mark saves walking it.
        auto seeded = seed_from_index_files(all, trusted, now_ms);
        if (!seeded) {
            return seeded.error();
        }
        pos = *seeded;
        out.trusted_bytes = pos;
    }
    while (pos < all.size()) {
        // Batches wholly below `trusted` were written by completed appends (a written mark):
        // framing and offsets are checked, the CRC is not. From there on, everything is.
        const bool trust = pos < trusted;
        auto h = trust ? read_batch_header(all.subspan(size_t(pos)))
                       : read_and_verify_batch(all.subspan(size_t(pos)));
        if (h && (gaps ? h->base_offset < _next.value() : h->base_offset != _next.value())) {
            out.reason = std::string(gaps ? "offsets go backwards" : "offset discontinuity") +
                         ": expected base offset " + (gaps ? "at least " : "") + std::to_string(_next.value()) +
                         ", found " + std::to_string(h->base_offset);
        } else if (h && (uint64_t(h->last_offset() - _base.value()) > UINT32_MAX ||
                         pos + h->total_size() > UINT32_MAX)) {
            out.reason = "segment exceeds 32-bit relative offsets or positions";
        } else if (h && trust && h->total_size() > trusted - pos) {
            out.reason = "a batch crosses the written mark";
        } else if (!h) {
            out.reason = h.error().message();
        }
        if (!out.reason.empty() && trust) {
            // Completed appends end on batch boundaries and are intact: a mark the batches
            // contradict is wrong, and nothing it vouched for is trusted.
            TLOG_WARN("storage: {}: written mark at {} doesn't match the batches ({} at {}); checking every batch",
                      _data->path().string(), trusted, out.reason, pos);
            out.reason.clear();
            out.trusted_bytes = 0;
            trusted = 0;
            map.headers_only_below(0);
            reset();
            pos = 0;
            continue;
        }
        if (!out.reason.empty()) {
            break;
        }
        if (pos == 0) {
            _roll_base_ms = h->max_timestamp >= 0 ? h->max_timestamp : now_ms;
        }
        account({offset(h->base_offset), offset(h->last_offset()), h->max_timestamp,
                 uint32_t(h->total_size())},
                pos);
        pos += h->total_size();
        if (trust) {
            out.trusted_bytes = pos;
        }
    }
    out.valid_bytes = pos;
    if (pos < all.size() && is_direct_padding(all.subspan(size_t(pos)), pos)) {
        // What direct writes leave after the last batch (see direct_appender.h): cut quietly.
        if (auto r = _data->truncate(pos); !r) {
            return r.error();
        }
    } else if (pos < all.size()) {
        TLOG_WARN("storage: {}: truncating at position {} of {} ({})", _data->path().string(), pos,
                  all.size(), out.reason);
        if (auto r = _data->truncate(pos); !r) {
            return r.error();
        }
        out.truncated = true;
    }
    if (_size == 0) {
        _roll_base_ms.reset();
    }
    if (auto r = persist_indexes(false); !r) {
        return r.error();
    }
    return out;
}

result<bool> segment::load(int64_t now_ms, bool gaps) {
    reset();
    auto file_size = _data->size();
    if (!file_size) {
        return file_size.error();
    }
    if (*file_size > UINT32_MAX) {
        return false;
    }
    auto loaded = load_index_files(*file_size);
    if (!loaded || !*loaded) {
        return loaded;
    }
    uint64_t limit = *file_size;
    if (limit == 0) {
        return _index.empty() && _timeindex.empty();
    }
    const auto& idx = _index.entries();
    for (size_t i = 0; i < idx.size(); ++i) {
        if (idx[i].pos >= limit || (i > 0 && (idx[i].rel <= idx[i - 1].rel || idx[i].pos <= idx[i - 1].pos))) {
            return false;
        }
    }
    header_walker walker(*_data, limit);
    auto first = walker.at(0);
    if (!first || (gaps ? first->base_offset < _base.value() : first->base_offset != _base.value())) {
        return false;
    }
    _roll_base_ms = first->max_timestamp >= 0 ? first->max_timestamp : now_ms;

    // Walk from the last index entry (which must point at the batch it names) to the end.
    uint64_t pos = idx.empty() ? 0 : idx.back().pos;
    offset expected = idx.empty() ? _base : _base + int64_t(idx.back().rel);
    int64_t max_ts = -1;
    offset offset_of_max = _base;
    while (pos < limit) {
        auto h = walker.at(pos);
        // The batch an index entry names has exactly its offset; later ones may leave a gap
        // (compaction) but never go backwards.
        const bool exact = !gaps || (!idx.empty() && pos == idx.back().pos);
        if (!h || (exact ? h->base_offset != expected.value() : h->base_offset < expected.value()) ||
            uint64_t(h->last_offset() - _base.value()) > UINT32_MAX) {
            return false;
        }
        if (h->max_timestamp > max_ts) {
            max_ts = h->max_timestamp;
            offset_of_max = offset(h->last_offset());
        }
        pos += h->total_size();
        expected = offset(h->last_offset() + 1);
    }
    const auto& tidx = _timeindex.entries();
    for (size_t i = 0; i < tidx.size(); ++i) {
        if (tidx[i].ts < 0 || int64_t(tidx[i].rel) >= expected - _base ||
            (i > 0 && (tidx[i].ts <= tidx[i - 1].ts || tidx[i].rel <= tidx[i - 1].rel))) {
            return false;
        }
    }
    _size = limit;
    _next = expected;
    _bytes_since_index = limit - (idx.empty() ? 0 : idx.back().pos);
    if (!tidx.empty()) {
        _max_ts = tidx.back().ts;
        _offset_of_max_ts = _base + int64_t(tidx.back().rel);
    }
    if (max_ts > _max_ts) {
        _max_ts = max_ts;
        _offset_of_max_ts = offset_of_max;
    }
    return true;
}

result<void> segment::append(bytes_view data, std::span<const batch_meta> metas, int64_t now_ms,
                             bool direct_ok) {
    assert(!metas.empty() && metas.front().base >= _next);
    assert(_size + data.size() <= UINT32_MAX);
    assert(metas.back().last - _base <= int64_t(UINT32_MAX));
    uint64_t pos = _size;
    const bool direct = _direct && direct_ok && data.size() >= _direct_min;
    if (auto r = direct ? _direct->append(data, pos) : _data->write_at(data, pos); !r) {
        (void)_data->truncate(pos);  // best effort: don't leave a partial batch behind
        return r;
    }
    if (_direct && !direct) {
        _direct->written_buffered(data, pos);
    }
    if (_size == 0) {
        _roll_base_ms = now_ms;
    }
    for (const auto& m : metas) {
        account(m, pos);
        pos += m.size;
    }
    assert(_size == pos);
    return success();
}

result<void> segment::set_direct(bool on, size_t min_bytes) {
    _direct_min = min_bytes;
    if (on && !_direct) {
        auto a = direct_appender::open(_data, _size);
        if (!a) {
            return a.error();
        }
        _direct = std::move(*a);
    } else if (!on && _direct) {
        _direct.reset();
        auto sz = _data->size();
        if (!sz) {
            return sz.error();
        }
        if (*sz > _size) {
            return _data->truncate(_size);
        }
    }
    return success();
}

result<void> segment::persist_indexes(bool final) {
    if (final) {
        maybe_add_time_entry();
    }
    // The time index first: recovery with a written mark takes the time entries up to the
    // last offset index entry from the file (seed_from_index_files), so they must be there.
    if (auto r = _timeindex.persist(); !r) {
        return r;
    }
    return _index.persist();
}

result<void> segment::remove() {
    auto stem = file_stem(_base);
    for (const char* ext : {".log", ".index", ".timeindex"}) {
        if (auto r = remove_file(_dir / (stem + ext)); !r) {
            return r;
        }
    }
    return success();
}

result<batch_header> segment::header_at(uint64_t pos) const {
    header_walker walker(*_data, _size);
    return walker.at(pos);
}

result<std::optional<batch_location>> segment::find(offset target) const {
    if (target >= _next || _size == 0) {
        return std::optional<batch_location>{};
    }
    uint64_t pos = 0;
    if (target > _base) {
        const auto& idx = _index.entries();
        uint32_t r = rel(target);
        auto it = std::upper_bound(idx.begin(), idx.end(), r,
                                   [](uint32_t v, const offset_index_entry& e) { return v < e.rel; });
        if (it != idx.begin()) {
            pos = std::prev(it)->pos;
        }
    }
    header_walker walker(*_data, _size);
    while (pos < _size) {
        auto h = walker.at(pos);
        if (!h) {
            TLOG_ERROR("storage: {}: bad batch header at position {}", _data->path().string(), pos);
            return h.error();
        }
        if (h->last_offset() >= target.value()) {
            return std::optional<batch_location>(batch_location{pos, *h});
        }
        pos += h->total_size();
    }
    return std::optional<batch_location>{};
}

result<void> segment::walk(uint64_t from, const std::function<bool(uint64_t, const batch_header&)>& fn) const {
    header_walker walker(*_data, _size);
    for (uint64_t pos = from; pos < _size;) {
        auto h = walker.at(pos);
        if (!h) {
            TLOG_ERROR("storage: {}: bad batch header at position {}", _data->path().string(), pos);
            return h.error();
        }
        if (!fn(pos, *h)) {
            break;
        }
        pos += h->total_size();
    }
    return success();
}

result<std::optional<offset>> segment::find_timestamp(int64_t ts, offset min_offset) const {
    if (_max_ts < ts || _size == 0) {
        return std::optional<offset>{};
    }
    // Batches up to the last time index entry with a smaller timestamp can't match.
    const auto& tidx = _timeindex.entries();
    auto it = std::lower_bound(tidx.begin(), tidx.end(), ts,
                               [](const time_index_entry& e, int64_t v) { return e.ts < v; });
    uint64_t pos = 0;
    if (it != tidx.begin()) {
        auto loc = find(_base + int64_t(std::prev(it)->rel));
        if (!loc) {
            return loc.error();
        }
        if (*loc) {
            pos = (*loc)->pos;
        }
    }
    header_walker walker(*_data, _size);
    while (pos < _size) {
        auto h = walker.at(pos);
        if (!h) {
            return h.error();
        }
        if (h->max_timestamp >= ts && h->last_offset() >= min_offset.value()) {
            return std::optional<offset>(offset(h->base_offset));
        }
        pos += h->total_size();
    }
    return std::optional<offset>{};
}

result<void> segment::truncate(offset to) {
    if (to >= _next) {
        return success();
    }
    uint64_t cut = 0;
    offset new_next = _base;
    if (to > _base) {
        auto loc = find(to);
        if (!loc) {
            return loc.error();
        }
        assert(*loc);
        cut = (*loc)->pos;
        // `to` may lie in a gap compaction left: the segment then ends at `to`.
        new_next = std::min(offset((*loc)->header.base_offset), to);
    }
    if (auto r = _data->truncate(cut); !r) {
        return r;
    }
    if (_direct) {
        if (auto r = _direct->reset(cut); !r) {
            return r;
        }
    }
    if (cut == 0) {
        reset();
        _roll_base_ms.reset();
        return success();
    }
    const auto& idx = _index.entries();
    auto keep = std::lower_bound(idx.begin(), idx.end(), cut,
                                 [](const offset_index_entry& e, uint64_t p) { return e.pos < p; });
    _index.truncate(size_t(keep - idx.begin()));
    const auto& tidx = _timeindex.entries();
    uint32_t end_rel = rel(new_next);
    auto tkeep = std::lower_bound(tidx.begin(), tidx.end(), end_rel,
                                  [](const time_index_entry& e, uint32_t r) { return e.rel < r; });
    _timeindex.truncate(size_t(tkeep - tidx.begin()));
    _size = cut;
    _next = new_next;
    _bytes_since_index = cut - (_index.empty() ? 0 : _index.back().pos);

    // Recompute the maximum timestamp: the last time entry covers everything up to its batch;
    // walk the batches after it.
    _max_ts = -1;
    _offset_of_max_ts = _base;
    uint64_t pos = 0;
    if (!_timeindex.empty()) {
        _max_ts = _timeindex.back().ts;
        _offset_of_max_ts = _base + int64_t(_timeindex.back().rel);
        auto loc = find(_offset_of_max_ts);
        if (!loc) {
            return loc.error();
        }
        pos = *loc ? (*loc)->pos : cut;
    }
    header_walker walker(*_data, _size);
    while (pos < _size) {
        auto h = walker.at(pos);
        if (!h) {
            return h.error();
        }
        if (h->max_timestamp > _max_ts) {
            _max_ts = h->max_timestamp;
            _offset_of_max_ts = offset(h->last_offset());
        }
        pos += h->total_size();
    }
    return success();
}

} // namespace trib::storage
