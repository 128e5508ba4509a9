#include "common/crc32c.h"

#include <array>
#include <cstring>

namespace trib::crc32c {
namespace {

constexpr uint32_t poly = 0x82f63b78; // Castagnoli, reflected

constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        }
        t[i] = c;
    }
    return t;
}
constexpr auto table = make_table();

} // namespace

uint32_t extend_portable(uint32_t crc, const uint8_t* data, size_t n) noexcept {
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; ++i) {
        c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
    }
    return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t extend_sse42(uint32_t crc, const uint8_t* p,
                                                               size_t n) noexcept {
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    auto c32 = static_cast<uint32_t>(c);
    while (n--) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    }
    return ~c32;
}
#endif

bool hardware_available() noexcept {
#if defined(__x86_64__)
    static const bool has = __builtin_cpu_supports("sse4.2");
    return has;
#else
    return false;
#endif
}

uint32_t extend_hardware(uint32_t crc, const uint8_t* data, size_t n) noexcept {
#if defined(__x86_64__)
    if (hardware_available()) {
        return extend_sse42(crc, data, n);
    }
#endif
    return extend_portable(crc, data, n);
}

uint32_t extend(uint32_t crc, const uint8_t* data, size_t n) noexcept {
    return extend_hardware(crc, data, n);
}

} // namespace trib::crc32c
