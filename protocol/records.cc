#include "protocol/records.h"

#include "protocol/compression.h"

#include <limits>
#include <stdexcept>

namespace trib::protocol {

std::string records_errc_message(records_errc e) {
    switch (e) {
    case records_errc::bad_varint: return "malformed varint in record";
    case records_errc::truncated_record: return "record runs past the end of the batch";
    case records_errc::bad_record_length: return "record fields disagree with its length";
    case records_errc::bad_field_length: return "invalid key, value or header length";
    case records_errc::count_mismatch: return "record count disagrees with the batch header";
    case records_errc::bad_offset_delta: return "record offset delta out of order or range";
    case records_errc::trailing_bytes: return "bytes after the last record of the batch";
    case records_errc::too_large: return "decompressed records exceed the size limit";
    case records_errc::bad_compression:
        return "compressed records are corrupt or use an unknown codec";
    case records_errc::invalid_producer_batch: return "invalid producer batch";
    case records_errc::bad_control_record: return "malformed control record";
    }
    return "unknown records error";
}

// ---- varints -----------------------------------------------------------------------------

namespace {

inline int32_t unzigzag32(uint32_t v) noexcept { return int32_t((v >> 1) ^ (~(v & 1) + 1)); }
inline int64_t unzigzag64(uint64_t v) noexcept { return int64_t((v >> 1) ^ (~(v & 1) + 1)); }
inline uint32_t zigzag32(int32_t v) noexcept { return (uint32_t(v) << 1) ^ uint32_t(v >> 31); }
inline uint64_t zigzag64(int64_t v) noexcept { return (uint64_t(v) << 1) ^ uint64_t(v >> 63); }

// Reads a zig-zag varint at p (< end); advances p. False when malformed or cut short.
// At most 5 bytes, and the fifth may carry only the top 4 bits of the value.
inline bool get_varint(const uint8_t*& p, const uint8_t* end, int32_t& out) noexcept {
    if (p < end && *p < 0x80) [[likely]] {
        uint32_t v = *p++;
        out = unzigzag32(v);
        return true;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < 5; ++i) {
        if (p + i >= end) {
            return false;
        }
        const uint8_t b = p[i];
        if (i == 4 && b > 0x0f) {
            return false;
        }
        v |= uint32_t(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            p += i + 1;
            out = unzigzag32(v);
            return true;
        }
    }
    return false;
}

// Same for varlong: at most 10 bytes, the tenth carrying only the top bit.
inline bool get_varlong(const uint8_t*& p, const uint8_t* end, int64_t& out) noexcept {
    if (p < end && *p < 0x80) [[likely]] {
        uint64_t v = *p++;
        out = unzigzag64(v);
        return true;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; ++i) {
        if (p + i >= end) {
            return false;
        }
        const uint8_t b = p[i];
        if (i == 9 && b > 0x01) {
            return false;
        }
        v |= uint64_t(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            p += i + 1;
            out = unzigzag64(v);
            return true;
        }
    }
    return false;
}

inline size_t uvarint_size64(uint64_t v) noexcept {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline void put_uvarint(bytes& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(uint8_t(v | 0x80));
        v >>= 7;
    }
    out.push_back(uint8_t(v));
}

} // namespace

size_t read_varint(bytes_view in, int32_t& out) noexcept {
    const uint8_t* p = in.data();
    return get_varint(p, in.data() + in.size(), out) ? size_t(p - in.data()) : 0;
}
size_t read_varlong(bytes_view in, int64_t& out) noexcept {
    const uint8_t* p = in.data();
    return get_varlong(p, in.data() + in.size(), out) ? size_t(p - in.data()) : 0;
}
void append_varint(bytes& out, int32_t v) { put_uvarint(out, zigzag32(v)); }
void append_varlong(bytes& out, int64_t v) { put_uvarint(out, zigzag64(v)); }
size_t varint_size(int32_t v) noexcept { return uvarint_size64(zigzag32(v)); }
size_t varlong_size(int64_t v) noexcept { return uvarint_size64(zigzag64(v)); }

// ---- record parsing ------------------------------------------------------------------------

namespace {

// The fields of one record as found in the bytes, before batch-level checks.
struct raw_record {
    int8_t attributes;
    int64_t timestamp_delta;
    int32_t offset_delta;
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    bytes_view headers;
    int32_t header_count;
    bytes_view encoded;
};

// A varint that failed inside a record: malformed in itself, or cut by the record's length?
inline records_errc varint_error(const uint8_t* p, const uint8_t* outer_end) noexcept {
    int64_t v;
    return get_varlong(p, outer_end, v) ? records_errc::bad_record_length
                                        : records_errc::bad_varint;
}

inline bool get_nullable(const uint8_t*& p, const uint8_t* end, std::optional<bytes_view>& out,
                         records_errc& err) noexcept {
    int32_t len;
    if (!get_varint(p, end, len)) {
        err = records_errc::bad_varint; // refined by the caller
        return false;
    }
    if (len < 0) {
        if (len != -1) {
            err = records_errc::bad_field_length;
            return false;
        }
        out.reset();
        return true;
    }
    if (size_t(len) > size_t(end - p)) {
        err = records_errc::bad_record_length;
        return false;
    }
    out = bytes_view(p, size_t(len));
    p += len;
    return true;
}

// The fields after the length, up to rec_end exactly. On a varint error p is left at it.
inline bool parse_body(const uint8_t*& p, const uint8_t* rec_end, raw_record& r,
                       records_errc& err) noexcept {
    r.attributes = int8_t(*p++);
    if (!get_varlong(p, rec_end, r.timestamp_delta) || !get_varint(p, rec_end, r.offset_delta)) {
        err = records_errc::bad_varint;
        return false;
    }
    if (!get_nullable(p, rec_end, r.key, err) || !get_nullable(p, rec_end, r.value, err)) {
        return false;
    }
    if (!get_varint(p, rec_end, r.header_count)) {
        err = records_errc::bad_varint;
        return false;
    }
    if (r.header_count < 0) {
        err = records_errc::bad_field_length;
        return false;
    }
    // Each header takes at least two bytes: a count beyond that is a lie, caught before looping.
    if (size_t(r.header_count) > size_t(rec_end - p) / 2) {
        err = records_errc::bad_record_length;
        return false;
    }
    const uint8_t* headers_start = p;
    for (int32_t i = 0; i < r.header_count; ++i) {
        int32_t klen;
        if (!get_varint(p, rec_end, klen)) {
            err = records_errc::bad_varint;
            return false;
        }
        if (klen < 0) {
            err = records_errc::bad_field_length;
            return false;
        }
        if (size_t(klen) > size_t(rec_end - p)) {
            err = records_errc::bad_record_length;
            return false;
        }
        p += klen;
        std::optional<bytes_view> value;
        if (!get_nullable(p, rec_end, value, err)) {
            return false;
        }
    }
    r.headers = bytes_view(headers_start, size_t(p - headers_start));
    if (p != rec_end) {
        err = records_errc::bad_record_length;
        return false;
    }
    return true;
}

// Parses the record at p (< end), checking every length; advances p past it.
inline bool parse_record(const uint8_t*& p, const uint8_t* end, raw_record& r,
                         records_errc& err) noexcept {
    const uint8_t* start = p;
    int32_t len;
    if (!get_varint(p, end, len)) {
        err = records_errc::bad_varint;
        return false;
    }
    if (len < 0) {
        err = records_errc::bad_record_length;
        return false;
    }
    if (size_t(len) > size_t(end - p)) {
        err = records_errc::truncated_record;
        return false;
    }
    const uint8_t* rec_end = p + len;
    if (p == rec_end) {
        err = records_errc::bad_record_length;
        return false;
    }
    if (!parse_body(p, rec_end, r, err)) {
        if (err == records_errc::bad_varint) {
            err = varint_error(p, end);
        }
        return false;
    }
    r.encoded = bytes_view(start, size_t(rec_end - start));
    return true;
}

// Smallest encoded record: length, attributes, timestamp, offset, key, value, header count.
constexpr size_t min_record_size = 7;

result<batch_header> open_header(bytes_view batch, const record_limits& limits) {
    auto h = limits.verify_crc ? read_and_verify_batch(batch, limits.max_batch_bytes)
                               : read_batch_header(batch, limits.max_batch_bytes);
    if (!h) {
        return h;
    }
    if (limits.from_producer) {
        if (h->record_count == 0 || h->last_offset_delta != h->record_count - 1 || h->control() ||
            (h->has_producer() && h->base_sequence < 0)) {
            return records_errc::invalid_producer_batch;
        }
    }
    if (int64_t(h->record_count) > int64_t(h->last_offset_delta) + 1) {
        return records_errc::count_mismatch; // deltas increase within 0..last_offset_delta
    }
    if (uint8_t(h->codec()) > uint8_t(compression_codec::zstd)) {
        return records_errc::bad_compression;
    }
    return h;
}

// The record bytes of a batch: a view of the batch, or decompressed into `buffer`.
result<bytes_view> records_of(bytes_view batch, const batch_header& h,
                              const record_limits& limits, bytes& buffer) {
    bytes_view payload = batch.subspan(batch_header::size, h.total_size() - batch_header::size);
    if (h.codec() == compression_codec::none || (payload.empty() && h.record_count == 0)) {
        return payload;
    }
    buffer.clear();
    if (auto r = decompress_append(h.codec(), payload, limits.max_uncompressed_bytes, buffer); !r) {
        return r.error() == compression_errc::too_large ? records_errc::too_large
                                                          : records_errc::bad_compression;
    }
    return bytes_view(buffer);
}

} // namespace

void record_headers::iterator::load() noexcept {
    if (_left <= 0) {
        return;
    }
    // Validated when the record was read: lengths are in range.
    int32_t klen = 0;
    get_varint(_p, _end, klen);
    _current.key = std::string_view(reinterpret_cast<const char*>(_p), size_t(klen));
    _p += klen;
    int32_t vlen = -1;
    get_varint(_p, _end, vlen);
    if (vlen < 0) {
        _current.value.reset();
    } else {
        _current.value = bytes_view(_p, size_t(vlen));
        _p += vlen;
    }
}

// ---- batch_reader ------------------------------------------------------------------------

result<batch_reader> batch_reader::open(bytes_view batch, const record_limits& limits) {
    auto h = open_header(batch, limits);
    if (!h) {
        return h.error();
    }
    batch_reader r;
    r._header = *h;
    r._from_producer = limits.from_producer;
    auto recs = records_of(batch, *h, limits, r._decompressed);
    if (!recs) {
        return recs.error();
    }
    r._compressed = h->codec() != compression_codec::none && !recs->empty();
    r._records = r._compressed ? bytes_view{} : *recs;
    if (size_t(h->record_count) > r.records_bytes().size() / min_record_size) {
        return records_errc::count_mismatch;
    }
    return r;
}

bytes_view batch_reader::records_bytes() const noexcept {
    return _compressed ? bytes_view(_decompressed) : _records;
}

result<std::optional<record_view>> batch_reader::next() {
    if (_done) {
        return std::optional<record_view>{};
    }
    const bytes_view recs = records_bytes();
    if (_pos == recs.size()) {
        if (_index != _header.record_count) {
            return records_errc::count_mismatch;
        }
        _done = true;
        return std::optional<record_view>{};
    }
    if (_index == _header.record_count) {
        return records_errc::trailing_bytes;
    }
    const uint8_t* p = recs.data() + _pos;
    raw_record raw;
    records_errc err{};
    if (!parse_record(p, recs.data() + recs.size(), raw, err)) {
        return err;
    }
    if (raw.offset_delta <= _last_delta || raw.offset_delta > _header.last_offset_delta ||
        (_from_producer && raw.offset_delta != _index)) {
        return records_errc::bad_offset_delta;
    }
    _last_delta = raw.offset_delta;
    _pos = size_t(p - recs.data());
    ++_index;
    record_view v;
    v.offset = _header.base_offset + raw.offset_delta;
    v.timestamp = _header.log_append_time() ? _header.max_timestamp
                                            : _header.base_timestamp + raw.timestamp_delta;
    v.attributes = raw.attributes;
    v.key = raw.key;
    v.value = raw.value;
    v.headers = record_headers(raw.headers, raw.header_count);
    v.encoded = raw.encoded;
    return std::optional<record_view>(v);
}

// ---- validate_batch ----------------------------------------------------------------------

result<batch_summary> validate_batch(bytes_view batch, const record_limits& limits) {
    auto h = open_header(batch, limits);
    if (!h) {
        return h.error();
    }
    if (h->total_size() != batch.size()) {
        return records_errc::trailing_bytes;
    }
    // Decompressed records live in a per-thread buffer, reused across calls but not kept at
    // bomb size: anything above 4 MiB is released on the way out.
    thread_local bytes buffer;
    struct shrink_on_exit {
        bytes& b;
        ~shrink_on_exit() {
            if (b.capacity() > (size_t(4) << 20)) {
                bytes().swap(b);
            }
        }
    } shrink{buffer};
    auto recs = records_of(batch, *h, limits, buffer);
    if (!recs) {
        return recs.error();
    }
    if (size_t(h->record_count) > recs->size() / min_record_size) {
        return records_errc::count_mismatch;
    }
    batch_summary s;
    s.header = *h;
    s.size = batch.size();
    s.record_count = h->record_count;
    s.uncompressed_bytes = recs->size();

    const uint8_t* p = recs->data();
    const uint8_t* end = p + recs->size();
    int32_t last_delta = -1;
    int64_t max_ts_delta = INT64_MIN;
    for (int32_t i = 0; i < h->record_count; ++i) {
        if (p == end) {
            return records_errc::count_mismatch;
        }
        raw_record raw;
        records_errc err{};
        if (!parse_record(p, end, raw, err)) {
            return err;
        }
        if (raw.offset_delta <= last_delta || raw.offset_delta > h->last_offset_delta ||
            (limits.from_producer && raw.offset_delta != i)) {
            return records_errc::bad_offset_delta;
        }
        last_delta = raw.offset_delta;
        if (raw.timestamp_delta > max_ts_delta) {
            max_ts_delta = raw.timestamp_delta;
        }
        if (i == 0) {
            s.first_timestamp = h->base_timestamp + raw.timestamp_delta;
        }
        s.has_null_key |= !raw.key.has_value();
    }
    if (p != end) {
        return records_errc::trailing_bytes;
    }
    if (h->record_count > 0) {
        s.max_timestamp =
            h->log_append_time() ? h->max_timestamp : h->base_timestamp + max_ts_delta;
        if (h->log_append_time()) {
            s.first_timestamp = h->max_timestamp;
        }
    }
    return s;
}

// ---- record_set_iterator -----------------------------------------------------------------

result<std::optional<batch_view>> record_set_iterator::next() {
    const bytes_view rest = _data.subspan(_pos);
    if (rest.size() < batch_header::length_field_end) {
        return std::optional<batch_view>{};
    }
    const int32_t length = int32_t(load_be32(rest.data() + 8));
    if (length < int32_t(batch_header::size - batch_header::length_field_end) ||
        size_t(length) + batch_header::length_field_end > _max_batch_bytes) {
        return batch_errc::bad_length;
    }
    if (rest.size() > 16 && rest[16] != 2) {
        return batch_errc::unsupported_magic;
    }
    const size_t total = size_t(length) + batch_header::length_field_end;
    if (total > rest.size()) {
        return std::optional<batch_view>{}; // partial trailing batch
    }
    auto h = read_batch_header(rest.first(total), _max_batch_bytes);
    if (!h) {
        return h.error();
    }
    _pos += total;
    return std::optional<batch_view>(batch_view{*h, rest.first(total)});
}

// ---- batch_builder -----------------------------------------------------------------------

batch_builder::batch_builder(batch_options options) : _options(options) {}

batch_builder& batch_builder::add(std::optional<bytes_view> key, std::optional<bytes_view> value,
                                  int64_t timestamp, std::span<const record_header> headers,
                                  std::optional<int32_t> offset_delta) {
    const int32_t delta = offset_delta.value_or(_next_delta);
    if (delta < _next_delta) {
        throw std::invalid_argument("batch_builder: offset deltas must increase");
    }
    if (_count == 0) {
        _base_timestamp = timestamp;
        _max_timestamp = timestamp;
    }
    _max_timestamp = std::max(_max_timestamp, timestamp);
    const int64_t ts_delta = timestamp - _base_timestamp;

    auto field_size = [](const std::optional<bytes_view>& f) {
        return f ? varint_size(int32_t(f->size())) + f->size() : size_t(1);
    };
    size_t body = 1 + varlong_size(ts_delta) + varint_size(delta) + field_size(key) +
                  field_size(value) + varint_size(int32_t(headers.size()));
    for (const auto& h : headers) {
        body += varint_size(int32_t(h.key.size())) + h.key.size();
        body += h.value ? varint_size(int32_t(h.value->size())) + h.value->size() : 1;
    }
    if (body > size_t(INT32_MAX)) {
        throw std::length_error("batch_builder: record too large");
    }
    _records.reserve(_records.size() + body + 5);
    append_varint(_records, int32_t(body));
    _records.push_back(0); // attributes
    append_varlong(_records, ts_delta);
    append_varint(_records, delta);
    auto put_field = [this](const std::optional<bytes_view>& f) {
        if (!f) {
            append_varint(_records, -1);
            return;
        }
        append_varint(_records, int32_t(f->size()));
        _records.insert(_records.end(), f->begin(), f->end());
    };
    put_field(key);
    put_field(value);
    append_varint(_records, int32_t(headers.size()));
    for (const auto& h : headers) {
        put_field(as_bytes(h.key));
        put_field(h.value ? std::optional<bytes_view>(*h.value) : std::nullopt);
    }
    ++_count;
    _next_delta = delta + 1;
    return *this;
}

batch_builder& batch_builder::add(std::string_view key, std::string_view value, int64_t timestamp) {
    return add(as_bytes(key), as_bytes(value), timestamp);
}

result<bytes> batch_builder::build() const {
    batch_header h;
    h.base_offset = _options.base_offset;
    h.partition_leader_epoch = _options.partition_leader_epoch;
    h.magic = 2;
    h.attributes = int16_t(uint16_t(_options.codec) | (_options.log_append_time ? 0x8 : 0) |
                           (_options.transactional ? 0x10 : 0) | (_options.control ? 0x20 : 0));
    h.last_offset_delta = _count > 0 ? _next_delta - 1 : 0;
    h.base_timestamp = _base_timestamp;
    h.max_timestamp = _max_timestamp;
    h.producer_id = _options.producer_id;
    h.producer_epoch = _options.producer_epoch;
    h.base_sequence = _options.base_sequence;
    h.record_count = _count;

    bytes out(batch_header::size);
    // No records: no payload at all, even with a codec (as compaction leaves empty batches);
    // a compressed empty stream would be a header-only xerial frame that librdkafka misreads.
    if (_count > 0) {
        auto r = compress_append(_options.codec, _records, out, _options.compression_level);
        if (!r) {
            return r.error();
        }
    }
    if (out.size() - batch_header::length_field_end > size_t(INT32_MAX)) {
        return batch_errc::bad_length;
    }
    h.batch_length = int32_t(out.size() - batch_header::length_field_end);
    write_batch_header(out.data(), h);
    store_be32(out.data() + 17, compute_batch_crc(out));
    return out;
}

void batch_builder::reset() {
    _records.clear();
    _count = 0;
    _next_delta = 0;
    _base_timestamp = -1;
    _max_timestamp = -1;
}

// ---- control records ---------------------------------------------------------------------

result<bytes> make_end_txn_marker(int64_t producer_id, int16_t producer_epoch, bool commit,
                                  int32_t coordinator_epoch, int64_t timestamp,
                                  int32_t partition_leader_epoch) {
    batch_options o;
    o.producer_id = producer_id;
    o.producer_epoch = producer_epoch;
    o.transactional = true;
    o.control = true;
    o.partition_leader_epoch = partition_leader_epoch;
    uint8_t key[4];
    store_be16(key, 0); // version
    store_be16(key + 2, uint16_t(commit ? control_type::commit : control_type::abort));
    uint8_t value[6];
    store_be16(value, 0); // version
    store_be32(value + 2, uint32_t(coordinator_epoch));
    batch_builder b(o);
    b.add(bytes_view(key), bytes_view(value), timestamp);
    return b.build();
}

result<control_record> read_control_record(const record_view& r) {
    if (!r.key || r.key->size() < 4) {
        return records_errc::bad_control_record;
    }
    control_record c;
    c.version = int16_t(load_be16(r.key->data()));
    c.type = control_type(int16_t(load_be16(r.key->data() + 2)));
    if ((c.type == control_type::abort || c.type == control_type::commit) && r.value) {
        if (r.value->size() < 6) {
            return records_errc::bad_control_record;
        }
        c.coordinator_epoch = int32_t(load_be32(r.value->data() + 2));
    }
    return c;
}

result<std::optional<record_position>> find_record(bytes_view batch, int64_t min, int64_t ts, bool exact) {
    record_limits limits;
    limits.verify_crc = false;
    auto reader = batch_reader::open(batch, limits);
    if (!reader) {
        return reader.error();
    }
    while (true) {
        auto rec = reader->next();
        if (!rec) {
            return rec.error();
        }
        if (!*rec) {
            return std::optional<record_position>{};
        }
        const auto& r = **rec;
        if (r.offset >= min && (exact ? r.timestamp == ts : r.timestamp >= ts)) {
            return std::optional<record_position>(record_position{r.offset, r.timestamp});
        }
    }
}

result<std::optional<record_position>> record_at_or_after(bytes_view batches, int64_t o) {
    while (!batches.empty()) {
        auto h = read_batch_header(batches);
        if (!h) {
            return h.error();
        }
        auto batch = batches.subspan(0, h->total_size());
        batches = batches.subspan(h->total_size());
        if (h->last_offset() < o || h->control()) {
            continue;
        }
        auto found = find_record(batch, o, std::numeric_limits<int64_t>::min(), false);
        if (!found || *found) {
            return found;
        }
    }
    return std::optional<record_position>{};
}

} // namespace trib::protocol
