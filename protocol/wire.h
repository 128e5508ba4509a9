#pragma once

// Kafka wire primitives: a reader and a writer for the types message fields are made of.
// No sockets here; the network layer hands in and takes out byte buffers.
//
// Integers are big-endian. Strings and byte arrays carry an int16/int32 length (-1 = null),
// or in "compact" form (flexible versions) an unsigned varint of length + 1 (0 = null).
// Arrays likewise carry an int32 count or a compact count + 1. Varints are zigzag
// (signed) or plain (unsigned) base-128, at most 5 bytes for 32 bits and 10 for 64.
//
// The reader has a sticky error flag (franz-go kbin style): a short or invalid read marks
// the reader bad, returns zero or empty, and every later read does the same. Callers decode
// a whole message and check ok() once. The reader never allocates more than the remaining
// input can justify: a length or count larger than what is left fails before allocating.

#include "common/bytes.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trib::protocol {

using trib::bytes;
using trib::bytes_view;

// flexible_from of an API that has no flexible version.
inline constexpr int16_t never_flexible = 0x7fff;

struct uuid {
    std::array<uint8_t, 16> b{};

    bool is_zero() const noexcept;
    // Kafka's text form: URL-safe base64 without padding (22 characters).
    std::string to_string() const;
    static std::optional<uuid> from_string(std::string_view s);
    bool operator==(const uuid&) const = default;
    auto operator<=>(const uuid&) const = default;
};

// A field of a flexible version's tagged section that this code does not know. Kept on
// decode and written back on encode, so a message passes through unchanged.
struct tagged_field {
    uint32_t tag = 0;
    bytes data;
    bool operator==(const tagged_field&) const = default;
};
using tagged_fields = std::vector<tagged_field>;

// A file range sent with sendfile() instead of copied; owner keeps the file open.
struct file_slice {
    int fd = -1;
    int64_t pos = 0;
    uint32_t len = 0;
    std::shared_ptr<const void> owner;
    bool operator==(const file_slice&) const = default;
};

// The value of a Kafka `records` field: either owned bytes, or owned bytes followed by file
// slices. Decoded records always land in `data`; slices are set only by the broker when
// answering Fetch, and are written as splice points (see writer::splices()).
struct record_set {
    bytes data;
    std::vector<file_slice> slices;

    size_t size() const noexcept;  // data.size() + the slices' lengths
    bool operator==(const record_set&) const = default;
};

// Where a file slice's bytes belong in a writer's buffer: they go before buffer[at].
struct splice {
    size_t at = 0;
    file_slice slice;
};

class reader {
public:
    reader() = default;
    explicit reader(bytes_view data) noexcept : _data(data) {}

    bool ok() const noexcept { return _ok; }
    // Marks the reader bad: used by decoders for values that parse but are invalid.
    void fail() noexcept { _ok = false; _pos = _data.size(); }
    size_t remaining() const noexcept { return _ok ? _data.size() - _pos : 0; }
    size_t offset() const noexcept { return _pos; }

    int8_t read_int8() noexcept;
    int16_t read_int16() noexcept;
    int32_t read_int32() noexcept;
    int64_t read_int64() noexcept;
    uint16_t read_uint16() noexcept;
    uint32_t read_uint32() noexcept;
    double read_float64() noexcept;
    bool read_bool() noexcept;          // any non-zero byte is true
    int32_t read_varint() noexcept;     // zigzag, at most 5 bytes
    int64_t read_varlong() noexcept;    // zigzag, at most 10 bytes
    uint32_t read_uvarint() noexcept;   // unsigned, at most 5 bytes
    uuid read_uuid() noexcept;

    // Strings: int16 length, or compact (uvarint length + 1) when `compact`. A null where
    // the field is not nullable marks the reader bad.
    std::string read_string(bool compact = false);
    std::string read_compact_string() { return read_string(true); }
    std::optional<std::string> read_nullable_string(bool compact = false);
    std::optional<std::string> read_compact_nullable_string() { return read_nullable_string(true); }

    // Byte arrays: int32 length, or compact.
    bytes read_bytes(bool compact = false);
    bytes read_compact_bytes() { return read_bytes(true); }
    std::optional<bytes> read_nullable_bytes(bool compact = false);
    std::optional<bytes> read_compact_nullable_bytes() { return read_nullable_bytes(true); }
    // A `records` field: nullable bytes copied into record_set::data.
    std::optional<record_set> read_records(bool compact);

    // An array's element count: int32, or compact. Returns -1 for null (the caller decides
    // whether null is allowed). Marks the reader bad when count * min_element_size exceeds
    // the remaining input, so the caller may reserve `count` elements.
    int32_t read_array_len(bool compact, size_t min_element_size = 1) noexcept;

    // The next n bytes, without copying (empty and bad if fewer remain).
    bytes_view read_raw(size_t n) noexcept;

    // The tagged-field section of a flexible struct: calls on_tag(tag, data) for each field.
    // Tags must be strictly increasing, as Kafka writes them.
    template<typename F>
    void read_tags(F&& on_tag) {
        uint32_t n = read_uvarint();
        if (n > remaining() / 2) {  // each field takes at least a tag and a size byte
            fail();
            return;
        }
        int64_t prev = -1;
        for (uint32_t i = 0; i < n && _ok; ++i) {
            uint32_t tag = read_uvarint();
            uint32_t size = read_uvarint();
            bytes_view data = read_raw(size);
            if (!_ok || int64_t(tag) <= prev) {
                fail();
                return;
            }
            prev = tag;
            on_tag(tag, data);
        }
    }

private:
    const uint8_t* take(size_t n) noexcept;
    int32_t read_length(bool compact, bool is_bytes) noexcept;  // -1 null, -2 bad

    bytes_view _data;
    size_t _pos = 0;
    bool _ok = true;
};

class writer {
public:
    writer() = default;
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;
    writer(writer&&) = default;
    writer& operator=(writer&&) = default;

    const bytes& buffer() const noexcept { return _buf; }
    size_t size() const noexcept { return _buf.size(); }
    // Takes the buffer out; splices stay with the writer.
    bytes take() noexcept { return std::move(_buf); }
    // File slices to send between buffer pieces, in increasing `at` order.
    const std::vector<splice>& splices() const noexcept { return _splices; }
    // Total bytes on the wire: buffer plus slices.
    size_t wire_size() const noexcept;

    void write_int8(int8_t v) { _buf.push_back(uint8_t(v)); }
    void write_int16(int16_t v);
    void write_int32(int32_t v);
    void write_int64(int64_t v);
    void write_uint16(uint16_t v);
    void write_uint32(uint32_t v);
    void write_float64(double v);
    void write_bool(bool v) { _buf.push_back(v ? 1 : 0); }
    void write_varint(int32_t v);
    void write_varlong(int64_t v);
    void write_uvarint(uint32_t v);
    void write_uuid(const uuid& v);

    void write_string(std::string_view s, bool compact = false);
    void write_compact_string(std::string_view s) { write_string(s, true); }
    void write_nullable_string(const std::optional<std::string>& s, bool compact = false);
    void write_compact_nullable_string(const std::optional<std::string>& s) {
        write_nullable_string(s, true);
    }
    void write_bytes(bytes_view b, bool compact = false);
    void write_compact_bytes(bytes_view b) { write_bytes(b, true); }
    void write_nullable_bytes(const std::optional<bytes>& b, bool compact = false);
    void write_compact_nullable_bytes(const std::optional<bytes>& b) { write_nullable_bytes(b, true); }
    // Length prefix, `data`, then a splice point per file slice.
    void write_records(const std::optional<record_set>& r, bool compact);
    // Array count; -1 writes null.
    void write_array_len(int32_t n, bool compact);
    void write_raw(bytes_view b) { _buf.insert(_buf.end(), b.begin(), b.end()); }

    // The tagged-field section: `known` (fields this code knows, ascending by tag, already
    // encoded) merged in tag order with `unknown` (kept from a decode).
    void write_tags(const tagged_fields& known, const tagged_fields& unknown);

private:
    bytes _buf;
    std::vector<splice> _splices;
};

// Size in bytes of v as an unsigned varint.
size_t uvarint_size(uint32_t v) noexcept;

// The bytes a writer's output puts on the wire: buffer pieces with each splice's file range
// read (pread) in between. For tests and tools; throws std::system_error on a short read.
bytes flatten(const bytes& buffer, const std::vector<splice>& splices);

} // namespace trib::protocol
