#include "storage/cleaner.h"

#include "common/log.h"
#include "storage/errc.h"
#include "storage/segment.h"

#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace trib::storage {

std::filesystem::path cleaned_path(const std::filesystem::path& dir, offset base) {
    return dir / (segment::file_stem(base) + ".log.cleaned");
}

std::filesystem::path swap_path(const std::filesystem::path& dir, offset base) {
    return dir / (segment::file_stem(base) + ".log.swap");
}

namespace {

// Largest decompressed record payload of one batch the cleaner accepts (a bigger one fails the
// pass rather than taking the memory).
constexpr size_t max_uncompressed_batch = size_t(256) << 20;
constexpr size_t read_window = size_t(1) << 20;

// Reads the batches of one segment file in order, through a window of about 1 MiB. Lengths
// are checked against the segment size before anything is read or allocated for them.
class batch_reader {
public:
    explicit batch_reader(const cleaning_input& in) : _in(in) {}

    uint64_t pos() const noexcept { return _pos; }

    // The next whole batch (header checked, CRC not), nullopt at the end of the segment.
    result<std::optional<std::pair<batch_header, bytes_view>>> next() {
        using out = std::optional<std::pair<batch_header, bytes_view>>;
        if (_pos >= _in.size) {
            return out{};
        }
        auto prefix = window(_pos, batch_header::length_field_end);
        if (!prefix) {
            return prefix.error();
        }
        const int64_t len = int32_t(load_be32(prefix->data() + 8));
        const uint64_t total = uint64_t(batch_header::length_field_end) + uint64_t(std::max<int64_t>(len, 0));
        if (len < int64_t(batch_header::size - batch_header::length_field_end) || total > _in.size - _pos) {
            TLOG_ERROR("storage: cleaner: {}: bad batch length at position {}", _in.data->path().string(), _pos);
            return errc::corrupt;
        }
        auto whole = window(_pos, size_t(total));
        if (!whole) {
            return whole.error();
        }
        auto h = read_batch_header(*whole);
        if (!h) {
            TLOG_ERROR("storage: cleaner: {}: bad batch at position {}: {}", _in.data->path().string(), _pos,
                       h.error().message());
            return errc::corrupt;
        }
        _pos += total;
        return out{std::pair{*h, *whole}};
    }

private:
    result<bytes_view> window(uint64_t pos, size_t n) {
        if (pos < _win_pos || pos + n > _win_pos + _buf.size()) {
            const size_t want = size_t(std::min<uint64_t>(std::max(n, read_window), _in.size - pos));
            _buf.resize(want);
            auto got = _in.data->read_at(std::span(_buf.data(), want), pos);
            if (!got) {
                return got.error();
            }
            if (*got != want) {
                // The file is shorter than the task saw it: truncated meanwhile.
                _buf.clear();
                return errc::io_error;
            }
            _win_pos = pos;
        }
        return bytes_view(_buf.data() + (pos - _win_pos), n);
    }

    const cleaning_input& _in;
    uint64_t _pos = 0;
    bytes _buf;
    uint64_t _win_pos = 0;
};

// Calls fn(header, batch bytes) for each batch of `in`, oldest first, until it returns false
// or an error; `stop` set ends the walk with errc::closed.
template <typename Fn>
result<void> walk_batches(const cleaning_input& in, const std::atomic<bool>* stop, Fn&& fn) {
    batch_reader reader(in);
    while (true) {
        auto b = reader.next();
        if (!b) {
            return b.error();
        }
        if (!*b) {
            return success();
        }
        if (stop && stop->load(std::memory_order_relaxed)) {
            return errc::closed;
        }
        result<bool> more = fn((*b)->first, (*b)->second);
        if (!more) {
            return more.error();
        }
        if (!*more) {
            return success();
        }
    }
}

// Kafka's varints (zigzag). 0 bytes consumed: malformed.
size_t read_zigzag(bytes_view in, size_t max_len, int64_t& out) noexcept {
    uint64_t raw = 0;
    for (size_t i = 0; i < std::min(in.size(), max_len); ++i) {
        raw |= uint64_t(in[i] & 0x7f) << (7 * i);
        if (!(in[i] & 0x80)) {
            out = int64_t(raw >> 1) ^ -int64_t(raw & 1);
            return i + 1;
        }
    }
    return 0;
}

struct record_ref {
    int64_t offset_delta = 0;
    std::optional<std::string_view> key;
    bool null_value = false;
    bytes_view encoded;  // length prefix included: copied as is into a rebuilt batch
};

// Walks the `count` records of an uncompressed record payload. Malformed → errc::corrupt.
template <typename Fn>
result<void> for_each_record(bytes_view payload, int32_t count, Fn&& fn) {
    size_t pos = 0;
    for (int32_t i = 0; i < count; ++i) {
        int64_t len = 0;
        size_t n = read_zigzag(payload.subspan(pos), 5, len);
        if (n == 0 || len <= 0 || uint64_t(len) > payload.size() - pos - n) {
            return errc::corrupt;
        }
        bytes_view body = payload.subspan(pos + n, size_t(len));
        record_ref r;
        r.encoded = payload.subspan(pos, n + size_t(len));
        size_t at = 1;  // attributes
        int64_t v = 0;
        for (size_t field = 0; field < 2; ++field) {  // timestamp delta, offset delta
            size_t m = at < body.size() ? read_zigzag(body.subspan(at), field == 0 ? 10 : 5, v) : 0;
            if (m == 0) {
                return errc::corrupt;
            }
            at += m;
        }
        r.offset_delta = v;
        int64_t key_len = 0;
        size_t m = at < body.size() ? read_zigzag(body.subspan(at), 5, key_len) : 0;
        if (m == 0 || key_len < -1 || (key_len > 0 && uint64_t(key_len) > body.size() - at - m)) {
            return errc::corrupt;
        }
        at += m;
        if (key_len >= 0) {
            r.key = std::string_view(reinterpret_cast<const char*>(body.data() + at), size_t(key_len));
            at += size_t(key_len);
        }
        int64_t value_len = 0;
        m = at < body.size() ? read_zigzag(body.subspan(at), 5, value_len) : 0;
        if (m == 0 || value_len < -1) {
            return errc::corrupt;
        }
        r.null_value = value_len < 0;
        if (r.offset_delta < 0) {
            return errc::corrupt;
        }
        fn(r);
        pos += n + size_t(len);
    }
    if (pos != payload.size()) {
        return errc::corrupt;
    }
    return success();
}

// The record payload of a batch, decompressed when it needs to be (into `scratch`).
result<bytes_view> record_payload(const batch_header& h, bytes_view batch, const record_codec* codec,
                                  bytes& scratch) {
    bytes_view raw = batch.subspan(batch_header::size);
    if (h.codec() == compression_codec::none) {
        return raw;
    }
    if (!codec) {
        return errc::unsupported_codec;
    }
    auto out = codec->decompress(h.codec(), raw, max_uncompressed_batch);
    if (!out) {
        TLOG_ERROR("storage: cleaner: batch at offset {}: {}", h.base_offset, out.error().message());
        return errc::corrupt;
    }
    scratch = std::move(*out);
    return bytes_view(scratch);
}

// Appends the cleaned segment's bytes to its `.cleaned` file, about a MiB at a time.
class segment_writer {
public:
    static result<segment_writer> open(const std::filesystem::path& path) {
        auto f = file::open(path, O_RDWR | O_CREAT | O_TRUNC);
        if (!f) {
            return f.error();
        }
        return segment_writer(std::move(*f));
    }
    result<void> add(bytes_view b) {
        _buf.insert(_buf.end(), b.begin(), b.end());
        return _buf.size() >= read_window ? drain() : success();
    }
    // The file's modification time once finished (ms since the epoch).
    void set_mtime(int64_t ms) { _mtime_ms = ms; }
    // Writes what is buffered and fdatasyncs.
    result<uint64_t> finish() {
        if (auto r = drain(); !r) {
            return r.error();
        }
        if (_mtime_ms) {
            const timespec times[2] = {{0, UTIME_OMIT}, {*_mtime_ms / 1000, (*_mtime_ms % 1000) * 1'000'000}};
            if (::futimens(_file->fd(), times) != 0) {
                TLOG_WARN("storage: futimens {} failed: {}", _file->path().string(), std::strerror(errno));
            }
        }
        if (::fsync(_file->fd()) != 0) {
            return io_failure("fsync", _file->path(), errno);
        }
        return _written;
    }

private:
    explicit segment_writer(std::shared_ptr<file> f) : _file(std::move(f)) {}
    result<void> drain() {
        if (auto r = _file->write_at(_buf, _written); !r) {
            return r;
        }
        _written += _buf.size();
        _buf.clear();
        return success();
    }
    std::shared_ptr<file> _file;
    bytes _buf;
    uint64_t _written = 0;
    std::optional<int64_t> _mtime_ms;
};

struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

} // namespace

result<cleaning_result> clean(const cleaning_task& task, const record_codec* codec, size_t dedupe_buffer_bytes,
                              const std::atomic<bool>* stop) {
    cleaning_result out;
    out.dir = task.dir;
    out.map_capacity = dedupe_buffer_bytes;
    bytes scratch;

    // The last batch of each producer in the log: kept even when cleaning empties it.
    std::unordered_map<int64_t, int64_t> last_batch_of;
    for (const auto* group : {&task.segments, &task.later}) {
        for (const auto& in : *group) {
            auto walked = walk_batches(in, stop, [&](const batch_header& h, bytes_view) -> result<bool> {
                if (h.has_producer()) {
                    last_batch_of[h.producer_id] = h.base_offset;
                }
                return true;
            });
            if (!walked) {
                return walked.error();
            }
        }
    }

    // The newest offset of each key in the dirty part, as far as the map holds them.
    std::unordered_map<std::string, int64_t, string_hash, std::equal_to<>> newest;
    offset pass_end = task.end;
    bool full = false;
    std::vector<std::pair<std::string_view, int64_t>> batch_keys;
    for (const auto& in : task.segments) {
        if (full) {
            break;
        }
        auto walked = walk_batches(in, stop, [&](const batch_header& h, bytes_view data) -> result<bool> {
            if (h.last_offset() < task.first_dirty.value() || h.control()) {
                return true;
            }
            auto payload = record_payload(h, data, codec, scratch);
            if (!payload) {
                return payload.error();
            }
            batch_keys.clear();
            auto records = for_each_record(*payload, h.record_count, [&](const record_ref& r) {
                const int64_t o = h.base_offset + r.offset_delta;
                if (r.key && o >= task.first_dirty.value()) {
                    batch_keys.emplace_back(*r.key, o);
                }
            });
            if (!records) {
                TLOG_ERROR("storage: cleaner: {}: malformed records in the batch at offset {}",
                           in.data->path().string(), h.base_offset);
                return records.error();
            }
            uint64_t grow = 0;
            for (const auto& [k, o] : batch_keys) {
                if (!newest.contains(k)) {
                    grow += k.size() + map_entry_overhead;  // duplicates inside the batch over-count: harmless
                }
            }
            if (out.map_bytes + grow > dedupe_buffer_bytes) {
                if (h.base_offset <= task.first_dirty.value()) {
                    TLOG_ERROR("storage: cleaner: {}: log.cleaner.dedupe.buffer.size ({} bytes) can't hold "
                               "the keys of one batch ({} bytes)", task.dir.string(), dedupe_buffer_bytes, grow);
                    return errc::buffer_too_small;
                }
                pass_end = offset(h.base_offset);
                full = true;
                return false;
            }
            for (const auto& [k, o] : batch_keys) {
                auto [it, added] = newest.try_emplace(std::string(k), o);
                if (added) {
                    out.map_bytes += k.size() + map_entry_overhead;
                } else {
                    it->second = std::max(it->second, o);
                }
            }
            return true;
        });
        if (!walked) {
            return walked.error();
        }
    }
    out.cleaned_to = pass_end;

    // Rewrite every segment holding offsets below the pass end.
    for (size_t i = 0; i < task.segments.size(); ++i) {
        const auto& in = task.segments[i];
        if (in.base >= pass_end) {
            break;
        }
        // A segment an earlier pass cleaned keeps its time: the time it was first cleaned,
        // from which delete.retention.ms counts for its tombstones.
        const offset seg_end = i + 1 < task.segments.size() ? task.segments[i + 1].base : task.end;
        const bool was_clean = seg_end <= task.first_dirty;
        const bool tombstones_expired = in.modified_ms + task.delete_retention_ms <= task.now_ms;
        auto writer = segment_writer::open(cleaned_path(task.dir, in.base));
        if (!writer) {
            return writer.error();
        }
        bytes rebuilt;
        bytes retained;
        bool changed = false;
        auto walked = walk_batches(in, stop, [&](const batch_header& h, bytes_view data) -> result<bool> {
            out.bytes_read += data.size();
            if (h.control() || h.transactional() || h.base_offset >= pass_end.value()) {
                if (auto r = writer->add(data); !r) {
                    return r.error();
                }
                return true;
            }
            auto payload = record_payload(h, data, codec, scratch);
            if (!payload) {
                return payload.error();
            }
            retained.clear();
            int32_t kept = 0;
            auto records = for_each_record(*payload, h.record_count, [&](const record_ref& r) {
                const int64_t o = h.base_offset + r.offset_delta;
                bool keep = true;
                if (r.key) {
                    auto it = newest.find(*r.key);
                    if (it != newest.end() && it->second > o) {
                        keep = false;  // a newer value of the key follows
                    } else if (r.null_value && o < task.first_dirty.value() && tombstones_expired) {
                        keep = false;  // a tombstone an earlier pass kept for delete.retention.ms
                    }
                }
                if (keep) {
                    retained.insert(retained.end(), r.encoded.begin(), r.encoded.end());
                    ++kept;
                }
            });
            if (!records) {
                return records.error();
            }
            if (kept == h.record_count) {
                if (auto r = writer->add(data); !r) {
                    return r.error();
                }
                return true;
            }
            // A batch that changes gets a new CRC: check the old one first, so that corruption
            // is never laundered into a valid batch.
            if (!read_and_verify_batch(data)) {
                TLOG_ERROR("storage: cleaner: {}: bad CRC in the batch at offset {}", in.data->path().string(),
                           h.base_offset);
                return errc::corrupt;
            }
            out.records_removed += uint64_t(h.record_count - kept);
            changed = true;
            auto last = h.has_producer() ? last_batch_of.find(h.producer_id) : last_batch_of.end();
            const bool producer_last = last != last_batch_of.end() && last->second == h.base_offset;
            if (kept == 0 && !producer_last) {
                return true;
            }
            batch_header nh = h;
            nh.record_count = kept;
            bytes_view body = retained;
            if (kept == 0) {
                nh.attributes = int16_t(h.attributes & ~0x7);  // an empty batch is uncompressed
                body = {};
            } else if (h.codec() != compression_codec::none) {
                auto c = codec->compress(h.codec(), retained);
                if (!c) {
                    TLOG_ERROR("storage: cleaner: compressing a cleaned batch failed: {}", c.error().message());
                    return errc::corrupt;
                }
                scratch = std::move(*c);
                body = scratch;
            }
            nh.batch_length = int32_t(batch_header::size - batch_header::length_field_end + body.size());
            rebuilt.resize(batch_header::size + body.size());
            write_batch_header(rebuilt.data(), nh);
            std::copy(body.begin(), body.end(), rebuilt.begin() + batch_header::size);
            store_be32(rebuilt.data() + 17, compute_batch_crc(rebuilt));
            if (auto r = writer->add(rebuilt); !r) {
                return r.error();
            }
            return true;
        });
        if (!walked) {
            return walked.error();
        }
        if (!changed) {
            (void)remove_file(cleaned_path(task.dir, in.base));  // nothing to swap in
            continue;
        }
        if (was_clean) {
            writer->set_mtime(in.modified_ms);
        }
        auto size = writer->finish();
        if (!size) {
            return size.error();
        }
        out.bytes_written += *size;
        out.segments.push_back({in.base, in.data, in.size, *size});
    }
    return out;
}

} // namespace trib::storage
