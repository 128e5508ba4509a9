#pragma once

// Builds valid Kafka record batches (magic 2) for storage tests and benchmarks: a correct
// header and CRC around filler "record" bytes. Storage never decodes records, so the filler
// only has to be deterministic for content checks.

#include "common/batch_header.h"
#include "common/bytes.h"

#include <cstdint>

namespace trib::storage::testing {

struct batch_spec {
    int32_t records = 1;             // last_offset_delta = records - 1
    size_t payload = 100;            // bytes after the 61-byte header
    int64_t max_timestamp = -1;
    int64_t base_timestamp = -1;
    uint32_t seed = 0;               // filler content
};

inline void append_batch(bytes& out, const batch_spec& s) {
    size_t at = out.size();
    out.resize(at + batch_header::size + s.payload);
    uint8_t* p = out.data() + at;
    uint32_t x = s.seed * 2654435761u + 1;
    for (size_t i = 0; i < s.payload; ++i) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[batch_header::size + i] = uint8_t(x);
    }
    batch_header h;
    h.base_offset = 0;
    h.batch_length = int32_t(batch_header::size + s.payload - batch_header::length_field_end);
    h.last_offset_delta = s.records - 1;
    h.record_count = s.records;
    h.base_timestamp = s.base_timestamp >= 0 ? s.base_timestamp : s.max_timestamp;
    h.max_timestamp = s.max_timestamp;
    write_batch_header(p, h);
    store_be32(p + 17, compute_batch_crc({p, batch_header::size + s.payload}));
}

inline bytes make_batch(const batch_spec& s) {
    bytes out;
    append_batch(out, s);
    return out;
}

} // namespace trib::storage::testing
