#include "protocol/wire.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace trib::protocol {

namespace {

constexpr char base64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

} // namespace

// ---- uuid, record_set ----

bool uuid::is_zero() const noexcept {
    return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

std::string uuid::to_string() const {
    std::string out;
    out.reserve(22);
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t x : b) {
        acc = (acc << 8) | x;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(base64url[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) out.push_back(base64url[(acc << (6 - bits)) & 0x3f]);
    return out;
}

std::optional<uuid> uuid::from_string(std::string_view s) {
    if (s.size() != 22) return std::nullopt;
    uuid u;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (char c : s) {
        int v = base64url_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (i < u.b.size()) u.b[i++] = uint8_t(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
    return u;
}

size_t record_set::size() const noexcept {
    size_t n = data.size();
    for (const auto& s : slices) n += s.len;
    return n;
}

// ---- reader ----

const uint8_t* reader::take(size_t n) noexcept {
    if (!_ok || _data.size() - _pos < n) {
        fail();
        return nullptr;
    }
    const uint8_t* p = _data.data() + _pos;
    _pos += n;
    return p;
}

int8_t reader::read_int8() noexcept {
    const uint8_t* p = take(1);
    return p ? int8_t(*p) : 0;
}
int16_t reader::read_int16() noexcept {
    const uint8_t* p = take(2);
    return p ? int16_t(load_be16(p)) : 0;
}
int32_t reader::read_int32() noexcept {
    const uint8_t* p = take(4);
    return p ? int32_t(load_be32(p)) : 0;
}
int64_t reader::read_int64() noexcept {
    const uint8_t* p = take(8);
    return p ? int64_t(load_be64(p)) : 0;
}
uint16_t reader::read_uint16() noexcept {
    const uint8_t* p = take(2);
    return p ? load_be16(p) : 0;
}
uint32_t reader::read_uint32() noexcept {
    const uint8_t* p = take(4);
    return p ? load_be32(p) : 0;
}
double reader::read_float64() noexcept {
    const uint8_t* p = take(8);
    return p ? std::bit_cast<double>(load_be64(p)) : 0.0;
}
bool reader::read_bool() noexcept { return read_int8() != 0; }

uint32_t reader::read_uvarint() noexcept {
    uint32_t v = 0;
    for (int i = 0; i < 5; ++i) {
        const uint8_t* p = take(1);
        if (!p) return 0;
        if (i == 4 && *p > 0x0f) break;  // overlong or more than 32 bits
        v |= uint32_t(*p & 0x7f) << (7 * i);
        if (!(*p & 0x80)) return v;
    }
    fail();
    return 0;
}

int32_t reader::read_varint() noexcept {
    uint32_t u = read_uvarint();
    return int32_t((u >> 1) ^ (~(u & 1) + 1));
}

int64_t reader::read_varlong() noexcept {
    uint64_t u = 0;
    for (int i = 0; i < 10; ++i) {
        const uint8_t* p = take(1);
        if (!p) return 0;
        if (i == 9 && *p > 0x01) break;
        u |= uint64_t(*p & 0x7f) << (7 * i);
        if (!(*p & 0x80)) return int64_t((u >> 1) ^ (~(u & 1) + 1));
    }
    fail();
    return 0;
}

uuid reader::read_uuid() noexcept {
    uuid u;
    if (const uint8_t* p = take(16)) std::memcpy(u.b.data(), p, 16);
    return u;
}

int32_t reader::read_length(bool compact, bool is_bytes) noexcept {
    int64_t n;
    if (compact) {
        n = int64_t(read_uvarint()) - 1;
    } else {
        n = is_bytes ? read_int32() : read_int16();
    }
    if (!_ok) return -2;
    if (n < -1 || (n > 0 && uint64_t(n) > remaining())) {
        fail();
        return -2;
    }
    return int32_t(n);
}

std::string reader::read_string(bool compact) {
    int32_t n = read_length(compact, false);
    if (n < 0) {
        if (n == -1) fail();
        return {};
    }
    const uint8_t* p = take(size_t(n));
    return p ? std::string(reinterpret_cast<const char*>(p), size_t(n)) : std::string();
}

std::optional<std::string> reader::read_nullable_string(bool compact) {
    int32_t n = read_length(compact, false);
    if (n < 0) return n == -1 ? std::nullopt : std::optional<std::string>(std::string());
    const uint8_t* p = take(size_t(n));
    if (!p) return std::string();
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
}

bytes reader::read_bytes(bool compact) {
    int32_t n = read_length(compact, true);
    if (n < 0) {
        if (n == -1) fail();
        return {};
    }
    const uint8_t* p = take(size_t(n));
    return p ? bytes(p, p + n) : bytes();
}

std::optional<bytes> reader::read_nullable_bytes(bool compact) {
    int32_t n = read_length(compact, true);
    if (n < 0) return n == -1 ? std::nullopt : std::optional<bytes>(bytes());
    const uint8_t* p = take(size_t(n));
    if (!p) return bytes();
    return bytes(p, p + n);
}

std::optional<record_set> reader::read_records(bool compact) {
    int32_t n = read_length(compact, true);
    if (n == -1) return std::nullopt;
    record_set rs;
    if (n > 0) {
        if (const uint8_t* p = take(size_t(n))) rs.data.assign(p, p + n);
    }
    return rs;
}

int32_t reader::read_array_len(bool compact, size_t min_element_size) noexcept {
    int64_t n = compact ? int64_t(read_uvarint()) - 1 : read_int32();
    if (!_ok) return 0;
    if (n < -1 || (n > 0 && uint64_t(n) > remaining() / std::max<size_t>(min_element_size, 1))) {
        fail();
        return 0;
    }
    return int32_t(n);
}

bytes_view reader::read_raw(size_t n) noexcept {
    const uint8_t* p = take(n);
    return p ? bytes_view(p, n) : bytes_view();
}

// ---- writer ----

size_t writer::wire_size() const noexcept {
    size_t n = _buf.size();
    for (const auto& s : _splices) n += s.slice.len;
    return n;
}

void writer::write_int16(int16_t v) {
    size_t at = _buf.size();
    _buf.resize(at + 2);
    store_be16(_buf.data() + at, uint16_t(v));
}
void writer::write_int32(int32_t v) {
    size_t at = _buf.size();
    _buf.resize(at + 4);
    store_be32(_buf.data() + at, uint32_t(v));
}
void writer::write_int64(int64_t v) {
    size_t at = _buf.size();
    _buf.resize(at + 8);
    store_be64(_buf.data() + at, uint64_t(v));
}
void writer::write_uint16(uint16_t v) { write_int16(int16_t(v)); }
void writer::write_uint32(uint32_t v) { write_int32(int32_t(v)); }
void writer::write_float64(double v) { write_int64(std::bit_cast<int64_t>(v)); }

void writer::write_uvarint(uint32_t v) {
    while (v >= 0x80) {
        _buf.push_back(uint8_t(v | 0x80));
        v >>= 7;
    }
    _buf.push_back(uint8_t(v));
}

void writer::write_varint(int32_t v) {
    write_uvarint((uint32_t(v) << 1) ^ uint32_t(v >> 31));
}

void writer::write_varlong(int64_t v) {
    uint64_t u = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
    while (u >= 0x80) {
        _buf.push_back(uint8_t(u | 0x80));
        u >>= 7;
    }
    _buf.push_back(uint8_t(u));
}

void writer::write_uuid(const uuid& v) { _buf.insert(_buf.end(), v.b.begin(), v.b.end()); }

void writer::write_string(std::string_view s, bool compact) {
    if (compact) {
        write_uvarint(uint32_t(s.size()) + 1);
    } else {
        write_int16(int16_t(s.size()));
    }
    write_raw(as_bytes(s));
}

void writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
    if (s) {
        write_string(*s, compact);
    } else if (compact) {
        write_uvarint(0);
    } else {
        write_int16(-1);
    }
}

void writer::write_bytes(bytes_view b, bool compact) {
    if (compact) {
        write_uvarint(uint32_t(b.size()) + 1);
    } else {
        write_int32(int32_t(b.size()));
    }
    write_raw(b);
}

void writer::write_nullable_bytes(const std::optional<bytes>& b, bool compact) {
    if (b) {
        write_bytes(*b, compact);
    } else if (compact) {
        write_uvarint(0);
    } else {
        write_int32(-1);
    }
}

void writer::write_records(const std::optional<record_set>& r, bool compact) {
    if (!r) {
        write_array_len(-1, compact);
        return;
    }
    size_t n = r->size();
    if (compact) {
        write_uvarint(uint32_t(n) + 1);
    } else {
        write_int32(int32_t(n));
    }
    write_raw(r->data);
    for (const auto& s : r->slices) _splices.push_back({_buf.size(), s});
}

void writer::write_array_len(int32_t n, bool compact) {
    if (compact) {
        write_uvarint(uint32_t(n + 1));
    } else {
        write_int32(n);
    }
}

void writer::write_tags(const tagged_fields& known, const tagged_fields& unknown) {
    write_uvarint(uint32_t(known.size() + unknown.size()));
    if (known.empty() && unknown.empty()) return;
    auto put = [this](const tagged_field& f) {
        write_uvarint(f.tag);
        write_uvarint(uint32_t(f.data.size()));
        write_raw(f.data);
    };
    // Unknown fields decoded from the wire are sorted already; ones a caller added may not be.
    std::vector<const tagged_field*> rest;
    rest.reserve(unknown.size());
    for (const auto& f : unknown) rest.push_back(&f);
    std::stable_sort(rest.begin(), rest.end(),
                     [](const tagged_field* a, const tagged_field* b) { return a->tag < b->tag; });
    size_t u = 0;
    for (const auto& f : known) {
        while (u < rest.size() && rest[u]->tag < f.tag) put(*rest[u++]);
        put(f);
    }
    while (u < rest.size()) put(*rest[u++]);
}

size_t uvarint_size(uint32_t v) noexcept {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

bytes flatten(const bytes& buffer, const std::vector<splice>& splices) {
    bytes out;
    size_t prev = 0;
    for (const auto& sp : splices) {
        out.insert(out.end(), buffer.begin() + ptrdiff_t(prev), buffer.begin() + ptrdiff_t(sp.at));
        prev = sp.at;
        size_t at = out.size();
        out.resize(at + sp.slice.len);
        size_t done = 0;
        while (done < sp.slice.len) {
            ssize_t n = ::pread(sp.slice.fd, out.data() + at + done, sp.slice.len - done,
                                off_t(sp.slice.pos + int64_t(done)));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                throw std::system_error(n < 0 ? errno : EIO, std::generic_category(),
                                        "flatten: short read of a file slice");
            }
            done += size_t(n);
        }
    }
    out.insert(out.end(), buffer.begin() + ptrdiff_t(prev), buffer.end());
    return out;
}

} // namespace trib::protocol
