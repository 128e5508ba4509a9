#include "protocol/wire.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace trib::protocol {
namespace {

bytes encoded(auto&& write) {
    writer w;
    write(w);
    return w.take();
}

TEST(wire, fixed_width_integers_are_big_endian) {
    bytes b = encoded([](writer& w) {
        w.write_int8(-2);
        w.write_int16(0x0102);
        w.write_int32(-1);
        w.write_int64(0x0102030405060708);
        w.write_uint16(0xfffe);
        w.write_uint32(0x80000000u);
        w.write_float64(1.5);
        w.write_bool(true);
    });
    EXPECT_EQ(b, (bytes{0xfe, 1, 2, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xfe,
                        0x80, 0, 0, 0, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 1}));
    reader r(b);
    EXPECT_EQ(r.read_int8(), -2);
    EXPECT_EQ(r.read_int16(), 0x0102);
    EXPECT_EQ(r.read_int32(), -1);
    EXPECT_EQ(r.read_int64(), 0x0102030405060708);
    EXPECT_EQ(r.read_uint16(), 0xfffe);
    EXPECT_EQ(r.read_uint32(), 0x80000000u);
    EXPECT_EQ(r.read_float64(), 1.5);
    EXPECT_TRUE(r.read_bool());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
}

TEST(wire, short_read_is_sticky_and_returns_zero) {
    bytes b{0, 0, 0, 7, 1};
    reader r(b);
    EXPECT_EQ(r.read_int32(), 7);
    EXPECT_EQ(r.read_int16(), 0);  // one byte left: fails
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.read_int8(), 0);   // stays failed though a byte is left
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(r.read_string(), "");
}

struct varint_case {
    int32_t value;
    bytes wire;
};

TEST(wire, varint_vectors) {
    // Zigzag: 0 -> 0, -1 -> 1, 1 -> 2, ... (Kafka's record varints)
    const varint_case cases[] = {
        {0, {0x00}},
        {-1, {0x01}},
        {1, {0x02}},
        {-64, {0x7f}},
        {64, {0x80, 0x01}},
        {300, {0xd8, 0x04}},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}},
    };
    for (const auto& c : cases) {
        bytes b = encoded([&](writer& w) { w.write_varint(c.value); });
        EXPECT_EQ(b, c.wire) << c.value;
        reader r(c.wire);
        EXPECT_EQ(r.read_varint(), c.value);
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.remaining(), 0u);
    }
}

TEST(wire, varlong_vectors) {
    const std::pair<int64_t, bytes> cases[] = {
        {0, {0x00}},
        {-1, {0x01}},
        {150, {0xac, 0x02}},
        {INT64_MAX, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
        {INT64_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(encoded([&](writer& w) { w.write_varlong(c.first); }), c.second) << c.first;
        reader r(c.second);
        EXPECT_EQ(r.read_varlong(), c.first);
        EXPECT_TRUE(r.ok());
    }
}

TEST(wire, unsigned_varint_vectors) {
    const std::pair<uint32_t, bytes> cases[] = {
        {0, {0x00}}, {127, {0x7f}}, {128, {0x80, 0x01}}, {UINT32_MAX, {0xff, 0xff, 0xff, 0xff, 0x0f}}};
    for (const auto& c : cases) {
        EXPECT_EQ(encoded([&](writer& w) { w.write_uvarint(c.first); }), c.second);
        EXPECT_EQ(uvarint_size(c.first), c.second.size());
        reader r(c.second);
        EXPECT_EQ(r.read_uvarint(), c.first);
        EXPECT_TRUE(r.ok());
    }
}

TEST(wire, overlong_varints_are_rejected) {
    {
        bytes six{0x80, 0x80, 0x80, 0x80, 0x80, 0x00};  // continuation on the 5th byte
        reader r(six);
        EXPECT_EQ(r.read_varint(), 0);
        EXPECT_FALSE(r.ok());
    }
    {
        bytes too_big{0xff, 0xff, 0xff, 0xff, 0x1f};  // more than 32 bits
        reader r(too_big);
        r.read_uvarint();
        EXPECT_FALSE(r.ok());
    }
    {
        bytes eleven(10, 0x80);
        eleven.push_back(0);
        reader r(eleven);
        EXPECT_EQ(r.read_varlong(), 0);
        EXPECT_FALSE(r.ok());
    }
    {
        bytes truncated{0x80, 0x80};
        reader r(truncated);
        r.read_varint();
        EXPECT_FALSE(r.ok());
    }
}

TEST(wire, strings_classic_and_compact) {
    bytes b = encoded([](writer& w) {
        w.write_string("ab");
        w.write_compact_string("ab");
        w.write_nullable_string(std::nullopt);
        w.write_compact_nullable_string(std::nullopt);
        w.write_compact_nullable_string(std::string());
        w.write_nullable_string(std::string("x"));
    });
    EXPECT_EQ(b, (bytes{0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0, 1, 0, 1, 'x'}));
    reader r(b);
    EXPECT_EQ(r.read_string(), "ab");
    EXPECT_EQ(r.read_compact_string(), "ab");
    EXPECT_EQ(r.read_nullable_string(), std::nullopt);
    EXPECT_EQ(r.read_compact_nullable_string(), std::nullopt);
    EXPECT_EQ(r.read_compact_nullable_string(), std::string());
    EXPECT_EQ(r.read_nullable_string(), "x");
    EXPECT_TRUE(r.ok());
}

TEST(wire, null_where_not_nullable_fails) {
    bytes classic{0xff, 0xff};
    reader r1(classic);
    r1.read_string();
    EXPECT_FALSE(r1.ok());
    bytes compact{0};
    reader r2(compact);
    r2.read_compact_string();
    EXPECT_FALSE(r2.ok());
    bytes arr{0xff, 0xff, 0xff, 0xfe};  // -2 is never valid
    reader r3(arr);
    r3.read_array_len(false);
    EXPECT_FALSE(r3.ok());
}

TEST(wire, bytes_classic_and_compact) {
    bytes payload{9, 8, 7};
    bytes b = encoded([&](writer& w) {
        w.write_bytes(payload);
        w.write_compact_bytes(payload);
        w.write_nullable_bytes(std::nullopt);
        w.write_compact_nullable_bytes(std::nullopt);
    });
    EXPECT_EQ(b, (bytes{0, 0, 0, 3, 9, 8, 7, 4, 9, 8, 7, 0xff, 0xff, 0xff, 0xff, 0}));
    reader r(b);
    EXPECT_EQ(r.read_bytes(), payload);
    EXPECT_EQ(r.read_compact_bytes(), payload);
    EXPECT_EQ(r.read_nullable_bytes(), std::nullopt);
    EXPECT_EQ(r.read_compact_nullable_bytes(), std::nullopt);
    EXPECT_TRUE(r.ok());
}

TEST(wire, declared_lengths_beyond_the_input_fail_before_allocating) {
    bytes huge_string{0x7f, 0xff, 'a'};
    reader r1(huge_string);
    EXPECT_EQ(r1.read_string(), "");
    EXPECT_FALSE(r1.ok());

    bytes huge_bytes{0x7f, 0xff, 0xff, 0xff, 1, 2};
    reader r2(huge_bytes);
    EXPECT_EQ(r2.read_nullable_bytes(), bytes());
    EXPECT_FALSE(r2.ok());

    bytes huge_compact{0xff, 0xff, 0xff, 0xff, 0x0f, 1};
    reader r3(huge_compact);
    r3.read_compact_bytes();
    EXPECT_FALSE(r3.ok());

    bytes huge_array{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    reader r4(huge_array);
    EXPECT_EQ(r4.read_array_len(false), 0);
    EXPECT_FALSE(r4.ok());

    // Four bytes left: one int32 element fits, two do not.
    bytes two_int32s{0, 0, 0, 2, 0, 0, 0, 1};
    reader r5(two_int32s);
    r5.read_array_len(false, 4);
    EXPECT_FALSE(r5.ok());
    bytes one_int32{0, 0, 0, 1, 0, 0, 0, 1};
    reader r6(one_int32);
    EXPECT_EQ(r6.read_array_len(false, 4), 1);
    EXPECT_TRUE(r6.ok());
}

TEST(wire, uuid_round_trip_and_text_form) {
    uuid u;
    for (size_t i = 0; i < 16; ++i) u.b[i] = uint8_t(i * 17);
    bytes b = encoded([&](writer& w) { w.write_uuid(u); });
    ASSERT_EQ(b.size(), 16u);
    reader r(b);
    EXPECT_EQ(r.read_uuid(), u);
    EXPECT_TRUE(uuid{}.is_zero());
    EXPECT_FALSE(u.is_zero());
    std::string text = u.to_string();
    EXPECT_EQ(text.size(), 22u);
    EXPECT_EQ(uuid::from_string(text), u);
    EXPECT_EQ(uuid{}.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
    EXPECT_EQ(uuid::from_string("not a uuid"), std::nullopt);
}

TEST(wire, tagged_fields_are_written_in_tag_order) {
    tagged_fields known{{1, {0xaa}}, {5, {0xbb, 0xcc}}};
    tagged_fields unknown{{9, {}}, {0, {0x01}}, {3, {0x03}}};  // unsorted on purpose
    bytes b = encoded([&](writer& w) { w.write_tags(known, unknown); });
    EXPECT_EQ(b, (bytes{5, 0, 1, 0x01, 1, 1, 0xaa, 3, 1, 0x03, 5, 2, 0xbb, 0xcc, 9, 0}));
    reader r(b);
    std::vector<uint32_t> tags;
    r.read_tags([&](uint32_t tag, bytes_view) { tags.push_back(tag); });
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(tags, (std::vector<uint32_t>{0, 1, 3, 5, 9}));
}

TEST(wire, tags_out_of_order_or_oversized_are_rejected) {
    bytes unordered{2, 3, 0, 1, 0};
    reader r1(unordered);
    r1.read_tags([](uint32_t, bytes_view) {});
    EXPECT_FALSE(r1.ok());
    bytes too_long{1, 0, 5, 1};
    reader r2(too_long);
    r2.read_tags([](uint32_t, bytes_view) {});
    EXPECT_FALSE(r2.ok());
    bytes too_many{0x7f};
    reader r3(too_many);
    r3.read_tags([](uint32_t, bytes_view) {});
    EXPECT_FALSE(r3.ok());
}

TEST(wire, records_write_splice_points_for_file_slices) {
    char path[] = "/tmp/trib_wire_test_XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    const char content[] = "0123456789";
    ASSERT_EQ(::write(fd, content, 10), 10);

    record_set rs;
    rs.data = {'h', 'd'};
    rs.slices.push_back({fd, 2, 3, nullptr});
    rs.slices.push_back({fd, 7, 2, nullptr});
    EXPECT_EQ(rs.size(), 7u);

    writer w;
    w.write_int8(0x55);
    w.write_records(rs, false);
    w.write_int8(0x66);
    ASSERT_EQ(w.splices().size(), 2u);
    EXPECT_EQ(w.splices()[0].at, 1u + 4 + 2);
    EXPECT_EQ(w.splices()[1].at, 1u + 4 + 2);
    EXPECT_EQ(w.wire_size(), 1u + 4 + 7 + 1);
    std::vector<splice> splices = w.splices();
    bytes flat = flatten(w.take(), splices);
    EXPECT_EQ(flat, (bytes{0x55, 0, 0, 0, 7, 'h', 'd', '2', '3', '4', '7', '8', 0x66}));
    reader r(flat);
    r.read_int8();
    auto back = r.read_records(false);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->data, (bytes{'h', 'd', '2', '3', '4', '7', '8'}));
    EXPECT_TRUE(back->slices.empty());
    ::close(fd);
}

TEST(wire, null_records) {
    writer w;
    w.write_records(std::nullopt, false);
    w.write_records(std::nullopt, true);
    w.write_records(record_set{}, true);
    EXPECT_EQ(w.buffer(), (bytes{0xff, 0xff, 0xff, 0xff, 0, 1}));
    reader r(w.buffer());
    EXPECT_EQ(r.read_records(false), std::nullopt);
    EXPECT_EQ(r.read_records(true), std::nullopt);
    EXPECT_EQ(r.read_records(true), record_set{});
    EXPECT_TRUE(r.ok());
}

} // namespace
} // namespace trib::protocol
