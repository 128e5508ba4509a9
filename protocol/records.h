#pragma once

// Records inside Kafka record batches (magic 2), and record sets (batches back to back).
//
// The batch header (61 bytes) is common/batch_header.h. After it come record_count records,
// compressed together when the codec bits are set. Each record:
//
//   length          varint   bytes of the record after this field
//   attributes      int8     unused, 0
//   timestamp_delta varlong  record timestamp - batch base_timestamp
//   offset_delta    varint   record offset - batch base_offset
//   key_length      varint   -1 = null key
//   key             bytes
//   value_length    varint   -1 = null value
//   value           bytes
//   header_count    varint
//   headers         header_count x { key_length varint, key (UTF-8), value_length varint
//                                    (-1 = null), value }
//
// varint/varlong are zig-zag encoded LEB128 (as protobuf's sint32/sint64), at most 5 / 10 bytes.
//
// Reading is strict: every length is checked against what is left, a record ends exactly
// where its length says, the batch holds exactly record_count records and nothing after
// them, offset deltas increase and stay within last_offset_delta, and decompression stops at
// a configured size. Producer batches (validate with `from_producer`) must also number their
// records 0..n-1 with n = last_offset_delta + 1 > 0 and carry no control flag.

#include "common/batch_header.h"
#include "common/bytes.h"
#include "common/result.h"
#include "protocol/compression.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trib::protocol {

enum class records_errc {
    bad_varint = 1,       // a varint longer than 5 (varlong: 10) bytes, or cut short
    truncated_record,     // a record's length runs past the end of the batch
    bad_record_length,    // a record's fields don't end exactly at its declared length
    bad_field_length,     // a key, value or header length below -1 (or a null header key)
    count_mismatch,       // fewer or more records than record_count
    bad_offset_delta,     // offset deltas not increasing or beyond last_offset_delta
    trailing_bytes,       // bytes after the last record
    too_large,            // decompressed records exceed the configured limit
    bad_compression,      // compressed payload is corrupt or uses an unknown codec
    invalid_producer_batch, // a producer batch with gaps, no records, or a control flag
    bad_control_record,   // a control record whose key or value is too short
};
std::string records_errc_message(records_errc e);
TRIB_ERROR_CATEGORY(records, records_errc, records_errc_message)

// What a reader or validator accepts.
struct record_limits {
    // Largest batch (header included) accepted.
    size_t max_batch_bytes = INT32_MAX;
    // Largest decompressed record payload of one batch: the guard against compression bombs.
    size_t max_uncompressed_bytes = size_t(64) << 20;
    // Check the batch CRC before looking at the records.
    bool verify_crc = true;
    // The batch comes from a producer (Produce request), not from the log: offset deltas
    // must be exactly 0..record_count-1, last_offset_delta == record_count-1, at least one
    // record, no control flag.
    bool from_producer = false;
};

// A header of a record: the key is a string, the value nullable bytes.
struct record_header_view {
    std::string_view key;
    std::optional<bytes_view> value;
};

// The headers of one record, already validated; decoded lazily while iterating.
class record_headers {
public:
    record_headers() = default;
    record_headers(bytes_view encoded, int32_t count) noexcept : _encoded(encoded), _count(count) {}

    int32_t size() const noexcept { return _count; }
    bool empty() const noexcept { return _count == 0; }

    class iterator {
    public:
        using value_type = record_header_view;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const uint8_t* p, const uint8_t* end, int32_t left) noexcept
            : _p(p), _end(end), _left(left) { load(); }
        const record_header_view& operator*() const noexcept { return _current; }
        const record_header_view* operator->() const noexcept { return &_current; }
        iterator& operator++() noexcept { --_left; load(); return *this; }
        iterator operator++(int) noexcept { auto old = *this; ++*this; return old; }
        bool operator==(const iterator& o) const noexcept { return _left == o._left; }

    private:
        void load() noexcept;
        const uint8_t* _p = nullptr;
        const uint8_t* _end = nullptr;
        int32_t _left = 0;
        record_header_view _current;
    };
    iterator begin() const noexcept {
        return {_encoded.data(), _encoded.data() + _encoded.size(), _count};
    }
    iterator end() const noexcept { return {}; }

private:
    bytes_view _encoded;
    int32_t _count = 0;
};

// One record, with absolute offset and timestamp. Views point into the batch (uncompressed)
// or into the batch_reader's decompressed buffer: they live as long as both.
struct record_view {
    int64_t offset = 0;
    int64_t timestamp = 0;
    int8_t attributes = 0;
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    record_headers headers;
    // The whole encoded record, length prefix included.
    bytes_view encoded;
};

// Reads the records of one batch, decompressing first when the codec is set.
//
//   auto reader = batch_reader::open(batch);
//   if (!reader) return reader.error();
//   while (true) {
//       auto rec = reader->next();
//       if (!rec) return rec.error();       // malformed record
//       if (!*rec) break;                    // end: count and trailing bytes checked
//       use((*rec)->key, (*rec)->value);
//   }
class batch_reader {
public:
    // Checks the header (and the CRC unless limits.verify_crc is false), decompresses.
    static result<batch_reader> open(bytes_view batch, const record_limits& limits = {});

    batch_reader(batch_reader&&) noexcept = default;
    batch_reader& operator=(batch_reader&&) noexcept = default;
    batch_reader(const batch_reader&) = delete;
    batch_reader& operator=(const batch_reader&) = delete;

    const batch_header& header() const noexcept { return _header; }
    // The record bytes (decompressed when the batch is compressed).
    bytes_view records_bytes() const noexcept;

    // The next record; nullopt after the last one, once the end checks passed.
    result<std::optional<record_view>> next();
    // Records read so far.
    int32_t index() const noexcept { return _index; }

private:
    batch_reader() = default;

    batch_header _header;
    bytes_view _records;        // uncompressed: view into the caller's batch
    bytes _decompressed;        // compressed: owns the records
    bool _compressed = false;
    size_t _pos = 0;
    int32_t _index = 0;
    int32_t _last_delta = -1;
    bool _from_producer = false;
    bool _done = false;
};

// Summary of a validated batch, for the Produce path.
struct batch_summary {
    batch_header header;
    size_t size = 0;                // bytes of the batch, header included
    int32_t record_count = 0;
    int64_t max_timestamp = -1;     // largest record timestamp (-1 when no records)
    int64_t first_timestamp = -1;   // timestamp of the first record
    size_t uncompressed_bytes = 0;  // bytes of the record payload after decompression
    bool has_null_key = false;      // some record has a null key (compacted topics reject)
};

// Checks header, CRC and every record (decompressing). `batch` must be exactly one batch.
result<batch_summary> validate_batch(bytes_view batch, const record_limits& limits = {});

// ---- record sets ------------------------------------------------------------------------

// One whole batch of a record set.
struct batch_view {
    batch_header header;
    bytes_view data; // header included
};

// Walks the batches of a record set. A final batch cut short (Fetch responses may end so) is
// not an error: next() returns nullopt and partial_tail() says so; consumed() counts the bytes
// of whole batches returned. Headers are checked (length, magic), CRCs are not: validate each
// batch when needed.
class record_set_iterator {
public:
    explicit record_set_iterator(bytes_view record_set, size_t max_batch_bytes = INT32_MAX) noexcept
        : _data(record_set), _max_batch_bytes(max_batch_bytes) {}

    result<std::optional<batch_view>> next();
    size_t consumed() const noexcept { return _pos; }
    // Bytes left over after the last whole batch (non-zero only once next() returned nullopt).
    bool partial_tail() const noexcept { return _pos < _data.size(); }

private:
    bytes_view _data;
    size_t _max_batch_bytes;
    size_t _pos = 0;
};

// ---- looking a record up ----------------------------------------------------------------

// A record's offset and timestamp.
struct record_position {
    int64_t offset = 0;
    int64_t timestamp = 0;
};

// In `batch` (one whole batch; CRC not checked): the first record at or after offset `min`
// whose timestamp is >= `ts` (== `ts` when `exact`); nullopt when it has none.
result<std::optional<record_position>> find_record(bytes_view batch, int64_t min, int64_t ts, bool exact);

// In `batches`, whole batches back to back as a Fetch answer carries them (control batches
// skipped): the record at offset `o`, or the first after it in its batch (when `o` itself was
// compacted away), what a consumer whose position is `o` reads next; nullopt when there is
// none. Bytes that are not batches are an error.
result<std::optional<record_position>> record_at_or_after(bytes_view batches, int64_t o);

// ---- building ---------------------------------------------------------------------------

struct record_header {
    std::string key;
    std::optional<bytes> value;
};

struct batch_options {
    compression_codec codec = compression_codec::none;
    int compression_level = default_compression_level;
    int64_t base_offset = 0;
    int32_t partition_leader_epoch = -1;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    bool transactional = false;
    bool control = false;
    bool log_append_time = false;
};

// Builds a batch record by record. Offset deltas are 0, 1, 2... unless given explicitly
// (increasing; for compacted-looking batches in tests). The first record's timestamp is the
// base timestamp.
class batch_builder {
public:
    explicit batch_builder(batch_options options = {});

    batch_builder& add(std::optional<bytes_view> key, std::optional<bytes_view> value,
                       int64_t timestamp, std::span<const record_header> headers = {},
                       std::optional<int32_t> offset_delta = std::nullopt);
    // Convenience for text keys and values.
    batch_builder& add(std::string_view key, std::string_view value, int64_t timestamp);

    int32_t record_count() const noexcept { return _count; }
    // Bytes of the records so far, before compression.
    size_t records_size() const noexcept { return _records.size(); }

    // The complete batch with its CRC. The builder can be reused after reset().
    result<bytes> build() const;
    void reset();

private:
    batch_options _options;
    bytes _records;
    int32_t _count = 0;
    int32_t _next_delta = 0;
    int64_t _base_timestamp = -1;
    int64_t _max_timestamp = -1;
};

// ---- control records (transaction markers) ----------------------------------------------

enum class control_type : int16_t { abort = 0, commit = 1 };

struct control_record {
    int16_t version = 0;
    control_type type = control_type::abort;
    int32_t coordinator_epoch = 0; // from the value (end-transaction markers)
};

// An end-transaction marker batch, as the broker writes for WriteTxnMarkers.
result<bytes> make_end_txn_marker(int64_t producer_id, int16_t producer_epoch, bool commit,
                                  int32_t coordinator_epoch, int64_t timestamp,
                                  int32_t partition_leader_epoch = -1);
// Reads the key (and value, when present) of a record of a control batch.
result<control_record> read_control_record(const record_view& r);

// ---- varints (exposed for the wire codec and tests) -------------------------------------

// Zig-zag LEB128. The readers return the bytes used, 0 when malformed or cut short.
size_t read_varint(bytes_view in, int32_t& out) noexcept;
size_t read_varlong(bytes_view in, int64_t& out) noexcept;
void append_varint(bytes& out, int32_t v);
void append_varlong(bytes& out, int64_t v);
size_t varint_size(int32_t v) noexcept;
size_t varlong_size(int64_t v) noexcept;

} // namespace trib::protocol

TRIB_REGISTER_ERRC(trib::protocol::records_errc)
