#pragma once

// The fixed header of a Kafka record batch (magic 2). Batches travel in this framing on the
// wire (Produce, Fetch) and are stored in it on disk (storage/ segments), so both protocol/
// and storage/ read it from here.
//
//   offset  size  field
//        0     8  base_offset            \ not covered by the CRC; the broker rewrites
//        8     4  batch_length           | base_offset and leader epoch on append.
//       12     4  partition_leader_epoch /  batch_length counts the bytes after itself.
//       16     1  magic (2)
//       17     4  crc  (CRC-32C of bytes 21 .. end of batch)
//       21     2  attributes  (bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control)
//       23     4  last_offset_delta
//       27     8  base_timestamp
//       35     8  max_timestamp
//       43     8  producer_id
//       51     2  producer_epoch
//       53     4  base_sequence
//       57     4  record_count
//       61        records (compressed as a whole when codec != none)

#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"

#include <cstdint>
#include <string>
#include <system_error>

namespace trib {

enum class compression_codec : uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

struct batch_header {
    static constexpr size_t size = 61;
    static constexpr size_t length_field_end = 12;  // bytes before the counted length
    static constexpr size_t crc_start = 21;

    int64_t base_offset = 0;
    int32_t batch_length = 0;
    int32_t partition_leader_epoch = -1;
    int8_t magic = 2;
    uint32_t crc = 0;
    int16_t attributes = 0;
    int32_t last_offset_delta = 0;
    int64_t base_timestamp = -1;
    int64_t max_timestamp = -1;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    int32_t record_count = 0;

    // Size of the whole batch, header included.
    size_t total_size() const noexcept { return length_field_end + size_t(batch_length); }
    int64_t last_offset() const noexcept { return base_offset + last_offset_delta; }
    compression_codec codec() const noexcept { return compression_codec(attributes & 0x7); }
    bool log_append_time() const noexcept { return attributes & 0x8; }
    bool transactional() const noexcept { return attributes & 0x10; }
    bool control() const noexcept { return attributes & 0x20; }
    bool has_producer() const noexcept { return producer_id >= 0; }
};

enum class batch_errc {
    truncated = 1,      // fewer bytes than the header or the declared length
    bad_length,         // batch_length smaller than a header, or larger than allowed
    unsupported_magic,  // magic other than 2
    bad_crc,            // checksum mismatch
    bad_count,          // record_count negative or inconsistent with last_offset_delta
};
std::string batch_errc_message(batch_errc e);
TRIB_ERROR_CATEGORY(record_batch, batch_errc, batch_errc_message)

// Decodes the fixed fields from `p` (batch_header::size bytes), checking nothing. For callers
// that have only the header in hand, e.g. walking a segment file header by header.
batch_header decode_batch_header(const uint8_t* p) noexcept;
// Reads the header at the front of `data`. Checks that the declared length fits in `data`
// and in `max_batch_bytes`, and the magic; does not check the CRC.
result<batch_header> read_batch_header(bytes_view data, size_t max_batch_bytes = INT32_MAX);
// Reads the header and verifies the CRC over the whole batch.
result<batch_header> read_and_verify_batch(bytes_view data, size_t max_batch_bytes = INT32_MAX);
// Computes the CRC a batch should carry (over bytes crc_start .. total_size).
uint32_t compute_batch_crc(bytes_view batch) noexcept;

// In-place edits of a serialized batch. The fields before the CRC can change freely; the
// others recompute the CRC.
void set_base_offset(uint8_t* batch, int64_t base_offset) noexcept;
void set_partition_leader_epoch(uint8_t* batch, int32_t epoch) noexcept;
// Sets the timestamp type to LogAppendTime with `ts` as max timestamp, and fixes the CRC.
void set_log_append_time(uint8_t* batch, size_t total_size, int64_t ts) noexcept;
// Writes `h` into the first batch_header::size bytes of `out` (CRC field as given).
void write_batch_header(uint8_t* out, const batch_header& h) noexcept;

} // namespace trib

TRIB_REGISTER_ERRC(trib::batch_errc)
