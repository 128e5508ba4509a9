#include "common/batch_header.h"

#include "common/crc32c.h"

namespace trib {

std::string batch_errc_message(batch_errc e) {
    switch (e) {
    case batch_errc::truncated: return "record batch truncated";
    case batch_errc::bad_length: return "record batch length out of range";
    case batch_errc::unsupported_magic: return "record batch magic is not 2";
    case batch_errc::bad_crc: return "record batch CRC mismatch";
    case batch_errc::bad_count: return "record batch record count inconsistent";
    }
    return "unknown record batch error";
}

batch_header decode_batch_header(const uint8_t* p) noexcept {
    batch_header h;
    h.base_offset = int64_t(load_be64(p));
    h.batch_length = int32_t(load_be32(p + 8));
    h.partition_leader_epoch = int32_t(load_be32(p + 12));
    h.magic = int8_t(p[16]);
    h.crc = load_be32(p + 17);
    h.attributes = int16_t(load_be16(p + 21));
    h.last_offset_delta = int32_t(load_be32(p + 23));
    h.base_timestamp = int64_t(load_be64(p + 27));
    h.max_timestamp = int64_t(load_be64(p + 35));
    h.producer_id = int64_t(load_be64(p + 43));
    h.producer_epoch = int16_t(load_be16(p + 51));
    h.base_sequence = int32_t(load_be32(p + 53));
    h.record_count = int32_t(load_be32(p + 57));
    return h;
}

result<batch_header> read_batch_header(bytes_view data, size_t max_batch_bytes) {
    if (data.size() < batch_header::size) {
        return batch_errc::truncated;
    }
    auto h = decode_batch_header(data.data());
    if (h.magic != 2) {
        return batch_errc::unsupported_magic;
    }
    if (h.batch_length < int32_t(batch_header::size - batch_header::length_field_end) ||
        h.total_size() > max_batch_bytes) {
        return batch_errc::bad_length;
    }
    if (h.total_size() > data.size()) {
        return batch_errc::truncated;
    }
    if (h.record_count < 0 || h.last_offset_delta < 0) {
        return batch_errc::bad_count;
    }
    return h;
}

uint32_t compute_batch_crc(bytes_view batch) noexcept {
    return crc32c::value(batch.subspan(batch_header::crc_start));
}

result<batch_header> read_and_verify_batch(bytes_view data, size_t max_batch_bytes) {
    auto h = read_batch_header(data, max_batch_bytes);
    if (!h) {
        return h;
    }
    if (compute_batch_crc(data.first(h->total_size())) != h->crc) {
        return batch_errc::bad_crc;
    }
    return h;
}

void set_base_offset(uint8_t* batch, int64_t base_offset) noexcept {
    store_be64(batch, uint64_t(base_offset));
}

void set_partition_leader_epoch(uint8_t* batch, int32_t epoch) noexcept {
    store_be32(batch + 12, uint32_t(epoch));
}

void set_log_append_time(uint8_t* batch, size_t total_size, int64_t ts) noexcept {
    uint16_t attrs = load_be16(batch + 21);
    store_be16(batch + 21, uint16_t(attrs | 0x8));
    store_be64(batch + 35, uint64_t(ts));
    store_be32(batch + 17, compute_batch_crc({batch, total_size}));
}

void write_batch_header(uint8_t* out, const batch_header& h) noexcept {
    store_be64(out, uint64_t(h.base_offset));
    store_be32(out + 8, uint32_t(h.batch_length));
    store_be32(out + 12, uint32_t(h.partition_leader_epoch));
    out[16] = uint8_t(h.magic);
    store_be32(out + 17, h.crc);
    store_be16(out + 21, uint16_t(h.attributes));
    store_be32(out + 23, uint32_t(h.last_offset_delta));
    store_be64(out + 27, uint64_t(h.base_timestamp));
    store_be64(out + 35, uint64_t(h.max_timestamp));
    store_be64(out + 43, uint64_t(h.producer_id));
    store_be16(out + 51, uint16_t(h.producer_epoch));
    store_be32(out + 53, uint32_t(h.base_sequence));
    store_be32(out + 57, uint32_t(h.record_count));
}

} // namespace trib
