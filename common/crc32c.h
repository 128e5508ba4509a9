#pragma once

#include "common/bytes.h"

#include <cstdint>

namespace trib::crc32c {

// CRC-32C (Castagnoli), the checksum of Kafka record batches. `extend` continues a running
// checksum over more data; `value(data)` == `extend(0, data)`.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a portable table otherwise.
uint32_t extend(uint32_t crc, const uint8_t* data, size_t n) noexcept;
inline uint32_t value(bytes_view data) noexcept { return extend(0, data.data(), data.size()); }

// The two implementations, exposed so tests can check both against known vectors.
uint32_t extend_portable(uint32_t crc, const uint8_t* data, size_t n) noexcept;
// Returns extend_portable's result when the CPU lacks SSE4.2.
uint32_t extend_hardware(uint32_t crc, const uint8_t* data, size_t n) noexcept;
bool hardware_available() noexcept;

} // namespace trib::crc32c
