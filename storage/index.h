#pragma once

#include "common/bytes.h"
#include "common/result.h"
#include "storage/file.h"

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace trib::storage {

// Entry of a segment's `.index` (sparse offset index), 8 bytes big-endian:
//   0  u32  relative offset (batch base offset - segment base offset)
//   4  u32  file position of that batch in the segment's `.log`
// Both strictly increase from one entry to the next.
struct offset_index_entry {
    static constexpr size_t size = 8;
    uint32_t rel = 0;
    uint32_t pos = 0;

    void encode(uint8_t* p) const noexcept { store_be32(p, rel); store_be32(p + 4, pos); }
    static offset_index_entry decode(const uint8_t* p) noexcept { return {load_be32(p), load_be32(p + 4)}; }
};

// Entry of a segment's `.timeindex`, 12 bytes big-endian:
//   0  i64  largest batch max_timestamp seen in the segment up to this point
//   8  u32  relative offset of the last offset of the batch carrying that timestamp
// Timestamps strictly increase; relative offsets strictly increase.
struct time_index_entry {
    static constexpr size_t size = 12;
    int64_t ts = 0;
    uint32_t rel = 0;

    void encode(uint8_t* p) const noexcept { store_be64(p, uint64_t(ts)); store_be32(p + 8, rel); }
    static time_index_entry decode(const uint8_t* p) noexcept {
        return {int64_t(load_be64(p)), load_be32(p + 8)};
    }
};

// An index held in memory and mirrored to its file. Appends go to memory; persist() writes the
// entries the file lacks (and cuts the file first if entries were truncated away), so the
// append path makes no system call for indexes. The file is a cache of the log: recovery
// validates it against the `.log` and rebuilds it from the `.log` when it doesn't match.
template<typename Entry>
class index_file {
public:
    explicit index_file(std::shared_ptr<file> f) : _file(std::move(f)) {}

    const std::vector<Entry>& entries() const noexcept { return _entries; }
    bool empty() const noexcept { return _entries.empty(); }
    const Entry& back() const noexcept { return _entries.back(); }
    const std::shared_ptr<file>& handle() const noexcept { return _file; }
    bool dirty() const noexcept { return _on_disk != _entries.size() || _cut; }

    void append(Entry e) { _entries.push_back(e); }

    // Keeps the first `n` entries.
    void truncate(size_t n) {
        if (n < _entries.size()) {
            _entries.resize(n);
            if (_on_disk > n) {
                _on_disk = n;
                _cut = true;
            }
        }
    }
    void clear() { truncate(0); }
    // Forgets the file's content too: the next persist() truncates it and writes every entry.
    void discard_file() {
        _entries.clear();
        _on_disk = 0;
        _cut = true;
    }

    // Reads the file's entries into memory, unvalidated (a trailing partial entry is dropped).
    // The caller validates and calls clear() when they are wrong.
    result<void> load() {
        auto sz = _file->size();
        if (!sz) {
            return sz.error();
        }
        size_t n = size_t(*sz / Entry::size);
        bytes buf(n * Entry::size);
        auto got = _file->read_at(buf, 0);
        if (!got) {
            return got.error();
        }
        n = *got / Entry::size;
        _entries.clear();
        _entries.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            _entries.push_back(Entry::decode(buf.data() + i * Entry::size));
        }
        _on_disk = n;
        _cut = *sz != n * Entry::size;  // a torn tail entry: cut it on the next persist
        return success();
    }

    // Writes what the file lacks. Doesn't fsync.
    result<void> persist() {
        if (_cut) {
            if (auto r = _file->truncate(_on_disk * Entry::size); !r) {
                return r;
            }
            _cut = false;
        }
        if (_on_disk == _entries.size()) {
            return success();
        }
        size_t n = _entries.size() - _on_disk;
        bytes buf(n * Entry::size);
        for (size_t i = 0; i < n; ++i) {
            _entries[_on_disk + i].encode(buf.data() + i * Entry::size);
        }
        if (auto r = _file->write_at(buf, _on_disk * Entry::size); !r) {
            return r;
        }
        _on_disk = _entries.size();
        return success();
    }

private:
    std::shared_ptr<file> _file;
    std::vector<Entry> _entries;
    size_t _on_disk = 0;  // entries [0, _on_disk) are in the file
    bool _cut = false;    // the file holds more than _on_disk entries: truncate it first
};

} // namespace trib::storage
