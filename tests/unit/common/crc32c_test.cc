#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace trib {
namespace {

using extend_fn = uint32_t (*)(uint32_t, const uint8_t*, size_t) noexcept;

struct named_impl {
    const char* name;
    extend_fn fn;
};

const named_impl impls[] = {
    {"portable", &crc32c::extend_portable},
    {"hardware", &crc32c::extend_hardware},
    {"dispatch", &crc32c::extend},
};

uint32_t one_shot(extend_fn fn, const std::vector<uint8_t>& v) { return fn(0, v.data(), v.size()); }

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) {
        b = uint8_t(rng());
    }
    return v;
}

// RFC 3720 (iSCSI) appendix B.4 test vectors, plus the classic check value.
TEST(crc32c, known_vectors) {
    std::vector<uint8_t> zeros(32, 0x00);
    std::vector<uint8_t> ones(32, 0xff);
    std::vector<uint8_t> inc(32);
    std::vector<uint8_t> dec(32);
    for (size_t i = 0; i < 32; ++i) {
        inc[i] = uint8_t(i);
        dec[i] = uint8_t(31 - i);
    }
    std::string_view check = "123456789";
    std::vector<uint8_t> check_v(check.begin(), check.end());
    for (const auto& impl : impls) {
        SCOPED_TRACE(impl.name);
        EXPECT_EQ(one_shot(impl.fn, zeros), 0x8A9136AAu);
        EXPECT_EQ(one_shot(impl.fn, ones), 0x62A8AB43u);
        EXPECT_EQ(one_shot(impl.fn, inc), 0x46DD794Eu);
        EXPECT_EQ(one_shot(impl.fn, dec), 0x113FDB5Cu);
        EXPECT_EQ(one_shot(impl.fn, check_v), 0xE3069283u);
        EXPECT_EQ(impl.fn(0, nullptr, 0), 0u);
    }
    EXPECT_EQ(crc32c::value(as_bytes(check)), 0xE3069283u);
}

// The iSCSI SCSI Read(10) command PDU from RFC 3720 B.4.
TEST(crc32c, rfc3720_read_pdu) {
    const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    for (const auto& impl : impls) {
        SCOPED_TRACE(impl.name);
        EXPECT_EQ(impl.fn(0, pdu, sizeof pdu), 0xD9963A56u);
    }
}

TEST(crc32c, hardware_matches_portable_every_length_and_alignment) {
    auto data = random_bytes(1024 + 16, 1);
    for (size_t start = 0; start < 16; ++start) {
        for (size_t len = 0; start + len <= 1024 + start && start + len <= data.size(); ++len) {
            const uint8_t* p = data.data() + start;
            ASSERT_EQ(crc32c::extend_hardware(0, p, len), crc32c::extend_portable(0, p, len))
                << "start " << start << " len " << len;
            ASSERT_EQ(crc32c::extend_hardware(0x12345678, p, len),
                      crc32c::extend_portable(0x12345678, p, len))
                << "start " << start << " len " << len;
        }
    }
}

// Lengths around the 3-way block boundaries (192 B, 1.5 KiB, 12 KiB) and large inputs.
TEST(crc32c, hardware_matches_portable_large) {
    auto data = random_bytes((1 << 20) + 64, 2);
    std::vector<size_t> lengths = {191, 192, 193, 1535, 1536, 1537, 12287, 12288, 12289,
                                   16384, 16384 + 61, 24576, 65536 + 7, 1 << 20};
    for (size_t len : lengths) {
        for (size_t start : {0, 1, 3, 8}) {
            ASSERT_EQ(crc32c::extend_hardware(0, data.data() + start, len),
                      crc32c::extend_portable(0, data.data() + start, len))
                << "start " << start << " len " << len;
        }
    }
}

TEST(crc32c, extend_in_pieces_equals_one_shot) {
    auto data = random_bytes(100000, 3);
    std::mt19937 rng(4);
    for (const auto& impl : impls) {
        SCOPED_TRACE(impl.name);
        const uint32_t whole = one_shot(impl.fn, data);
        for (int round = 0; round < 20; ++round) {
            uint32_t c = 0;
            size_t pos = 0;
            while (pos < data.size()) {
                size_t cap = round < 10 ? 64 : 20000;
                size_t piece = std::min<size_t>(data.size() - pos, rng() % cap);
                c = impl.fn(c, data.data() + pos, piece);
                pos += piece;
            }
            ASSERT_EQ(c, whole);
        }
    }
}

TEST(crc32c, reports_hardware) {
#if defined(__x86_64__)
    EXPECT_EQ(crc32c::hardware_available(), bool(__builtin_cpu_supports("sse4.2")));
#else
    EXPECT_FALSE(crc32c::hardware_available());
#endif
}

} // namespace
} // namespace trib
