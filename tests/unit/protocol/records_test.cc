#include "protocol/records.h"

#include "common/crc32c.h"
#include "protocol/compression.h"

#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace trib::protocol {
namespace {

namespace fs = std::filesystem;

constexpr compression_codec all_codecs[] = {compression_codec::none, compression_codec::gzip,
                                             compression_codec::snappy, compression_codec::lz4,
                                             compression_codec::zstd};

struct sample {
    std::optional<std::string> key;
    std::optional<std::string> value;
    int64_t timestamp;
    std::vector<record_header> headers;
};

std::vector<sample> samples(int n) {
    std::vector<sample> out;
    for (int i = 0; i < n; ++i) {
        sample s;
        if (i % 7 != 3) {
            s.key = "key-" + std::to_string(i);
        }
        if (i % 11 != 5) {
            s.value = i % 13 == 4 ? std::string()
                                  : std::string(size_t(i * 13 % 300), char('a' + i % 26));
        }
        s.timestamp = 1700000000000 + (i * 37) % 50 - 10; // goes back and forth
        for (int j = 0; j < i % 3; ++j) {
            record_header h;
            h.key = std::to_string(j);
            h.key.insert(0, 1, 'h'); // not "h" + ...: g++ 12 -O3 warns falsely (-Wrestrict)
            if (!(j == 1 && i % 2)) {
                std::string v = "hv-" + std::to_string(i);
                h.value = bytes(v.begin(), v.end());
            }
            s.headers.push_back(std::move(h));
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::optional<bytes_view> opt_view(const std::optional<std::string>& s) {
    if (!s) {
        return std::nullopt;
    }
    return as_bytes(*s);
}

bytes build(const std::vector<sample>& recs, batch_options o = {}) {
    batch_builder b(o);
    for (const auto& s : recs) {
        b.add(opt_view(s.key), opt_view(s.value), s.timestamp, s.headers);
    }
    auto out = b.build();
    EXPECT_TRUE(out) << out.error().message();
    return out ? std::move(*out) : bytes{};
}

std::optional<std::string> opt_string(const std::optional<bytes_view>& v) {
    if (!v) {
        return std::nullopt;
    }
    return std::string(as_string_view(*v));
}

// Reads every record of a batch, failing the test on error.
std::vector<record_view> read_all(batch_reader& r) {
    std::vector<record_view> out;
    for (;;) {
        auto rec = r.next();
        EXPECT_TRUE(rec) << rec.error().message();
        if (!rec || !*rec) {
            break;
        }
        out.push_back(**rec);
    }
    return out;
}

// First error a reader reports while reading every record (or none).
std::error_code read_error(bytes_view batch, const record_limits& limits = {}) {
    auto r = batch_reader::open(batch, limits);
    if (!r) {
        return r.error();
    }
    for (;;) {
        auto rec = r->next();
        if (!rec) {
            return rec.error();
        }
        if (!*rec) {
            return {};
        }
    }
}

// ---- round trips -----------------------------------------------------------------------------

class records_codec_test : public ::testing::TestWithParam<compression_codec> {};

TEST_P(records_codec_test, builds_and_reads_back_every_field) {
    const auto recs = samples(200);
    batch_options o;
    o.codec = GetParam();
    o.base_offset = 5000;
    o.partition_leader_epoch = 7;
    o.producer_id = 99;
    o.producer_epoch = 4;
    o.base_sequence = 12;
    o.transactional = true;
    bytes batch = build(recs, o);

    auto reader = batch_reader::open(batch);
    ASSERT_TRUE(reader) << reader.error().message();
    const auto& h = reader->header();
    EXPECT_EQ(h.codec(), o.codec);
    EXPECT_EQ(h.base_offset, 5000);
    EXPECT_EQ(h.partition_leader_epoch, 7);
    EXPECT_EQ(h.producer_id, 99);
    EXPECT_EQ(h.producer_epoch, 4);
    EXPECT_EQ(h.base_sequence, 12);
    EXPECT_TRUE(h.transactional());
    EXPECT_FALSE(h.control());
    EXPECT_EQ(h.record_count, 200);
    EXPECT_EQ(h.last_offset_delta, 199);
    EXPECT_EQ(h.base_timestamp, recs[0].timestamp);
    EXPECT_EQ(h.max_timestamp, 1700000000039);

    auto got = read_all(*reader);
    ASSERT_EQ(got.size(), recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(got[i].offset, 5000 + int64_t(i));
        EXPECT_EQ(got[i].timestamp, recs[i].timestamp);
        EXPECT_EQ(opt_string(got[i].key), recs[i].key);
        EXPECT_EQ(opt_string(got[i].value), recs[i].value);
        ASSERT_EQ(got[i].headers.size(), int32_t(recs[i].headers.size()));
        size_t j = 0;
        for (const auto& hv : got[i].headers) {
            EXPECT_EQ(hv.key, recs[i].headers[j].key);
            ASSERT_EQ(hv.value.has_value(), recs[i].headers[j].value.has_value());
            if (hv.value) {
                EXPECT_TRUE(std::equal(hv.value->begin(), hv.value->end(),
                                       recs[i].headers[j].value->begin(),
                                       recs[i].headers[j].value->end()));
            }
            ++j;
        }
        EXPECT_EQ(j, recs[i].headers.size());
    }
    auto again = reader->next();
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again) << "stays at the end";

    auto s = validate_batch(batch);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->record_count, 200);
    EXPECT_EQ(s->max_timestamp, 1700000000039);
    EXPECT_EQ(s->first_timestamp, recs[0].timestamp);
    EXPECT_EQ(s->size, batch.size());
    EXPECT_TRUE(s->has_null_key);
    EXPECT_EQ(s->uncompressed_bytes, reader->records_bytes().size());

    record_limits producer;
    producer.from_producer = true;
    EXPECT_TRUE(validate_batch(batch, producer));
}

TEST_P(records_codec_test, every_truncation_and_byte_flip_fails_cleanly) {
    batch_options o;
    o.codec = GetParam();
    bytes batch = build(samples(30), o);
    for (size_t n = 0; n < batch.size(); ++n) {
        ASSERT_FALSE(validate_batch(bytes_view(batch).first(n))) << n;
    }
    // Flip bytes after the CRC and fix the CRC, so the record parser sees the damage.
    std::mt19937 rng(5);
    record_limits limits;
    limits.max_uncompressed_bytes = 1 << 20;
    for (int i = 0; i < 3000; ++i) {
        bytes bad = batch;
        size_t at = batch_header::crc_start + rng() % (bad.size() - batch_header::crc_start);
        bad[at] ^= uint8_t(1 + rng() % 255);
        store_be32(bad.data() + 17, compute_batch_crc(bad));
        auto s = validate_batch(bad, limits);
        auto e = read_error(bad, limits);
        EXPECT_EQ(bool(s), !e) << "validator and reader agree at byte " << at;
    }
    // Without fixing the CRC, any change is caught by it.
    bytes bad = batch;
    bad[bad.size() - 1] ^= 1;
    EXPECT_EQ(validate_batch(bad).error(), batch_errc::bad_crc);
}

INSTANTIATE_TEST_SUITE_P(all, records_codec_test, ::testing::ValuesIn(all_codecs),
                         [](const auto& info) { return std::string(codec_name(info.param)); });

TEST(records, empty_builder_and_reset) {
    batch_builder b;
    auto empty = b.build();
    ASSERT_TRUE(empty);
    auto s = validate_batch(*empty);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->record_count, 0);
    EXPECT_EQ(s->max_timestamp, -1);
    record_limits producer;
    producer.from_producer = true;
    EXPECT_EQ(validate_batch(*empty, producer).error(), records_errc::invalid_producer_batch);

    b.add("k", "v", 10);
    b.reset();
    b.add("k2", "v2", 20);
    auto one = b.build();
    ASSERT_TRUE(one);
    auto r = batch_reader::open(*one);
    ASSERT_TRUE(r);
    auto recs = read_all(*r);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(opt_string(recs[0].key), "k2");
    EXPECT_EQ(recs[0].timestamp, 20);
}

TEST(records, empty_batch_with_codec_has_no_payload) {
    for (auto codec : all_codecs) {
        batch_options o;
        o.codec = codec;
        auto b = batch_builder(o).build();
        ASSERT_TRUE(b);
        EXPECT_EQ(b->size(), batch_header::size) << codec_name(codec);
        EXPECT_TRUE(validate_batch(*b));
    }
}

TEST(records, explicit_offset_deltas_like_a_compacted_batch) {
    batch_builder b;
    b.add(as_bytes("a"), as_bytes("1"), 100, {}, 0);
    b.add(as_bytes("b"), as_bytes("2"), 101, {}, 4);
    b.add(as_bytes("c"), as_bytes("3"), 102, {}, 9);
    auto batch = b.build();
    ASSERT_TRUE(batch);
    auto s = validate_batch(*batch);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->header.last_offset_delta, 9);
    auto r = batch_reader::open(*batch);
    ASSERT_TRUE(r);
    auto recs = read_all(*r);
    ASSERT_EQ(recs.size(), 3u);
    EXPECT_EQ(recs[2].offset, 9);
    // A producer must number its records 0..n-1.
    record_limits producer;
    producer.from_producer = true;
    EXPECT_EQ(validate_batch(*batch, producer).error(), records_errc::invalid_producer_batch);
    EXPECT_THROW(b.add(as_bytes("d"), as_bytes("4"), 103, {}, 9), std::invalid_argument);
}

TEST(records, compacted_empty_batch_with_codec_and_no_payload) {
    // Compaction keeps the header of a batch whose records are all gone, codec bits included.
    batch_header h;
    h.batch_length = int32_t(batch_header::size - batch_header::length_field_end);
    h.attributes = int16_t(compression_codec::zstd);
    h.last_offset_delta = 4;
    h.record_count = 0;
    bytes batch(batch_header::size);
    write_batch_header(batch.data(), h);
    store_be32(batch.data() + 17, compute_batch_crc(batch));
    auto s = validate_batch(batch);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->record_count, 0);
    EXPECT_EQ(read_error(batch), std::error_code{});
}

TEST(records, log_append_time_uses_max_timestamp) {
    batch_options o;
    o.log_append_time = true;
    batch_builder b(o);
    b.add("k", "v", 5);
    b.add("k", "v", 3);
    auto batch = b.build();
    ASSERT_TRUE(batch);
    set_log_append_time(batch->data(), batch->size(), 777);
    auto r = batch_reader::open(*batch);
    ASSERT_TRUE(r);
    for (const auto& rec : read_all(*r)) {
        EXPECT_EQ(rec.timestamp, 777);
    }
    auto s = validate_batch(*batch);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->max_timestamp, 777);
}

TEST(records, end_txn_markers) {
    for (bool commit : {true, false}) {
        auto m = make_end_txn_marker(42, 3, commit, 17, 1234, 9);
        ASSERT_TRUE(m);
        auto r = batch_reader::open(*m);
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->header().control());
        EXPECT_TRUE(r->header().transactional());
        EXPECT_EQ(r->header().producer_id, 42);
        EXPECT_EQ(r->header().producer_epoch, 3);
        EXPECT_EQ(r->header().partition_leader_epoch, 9);
        auto recs = read_all(*r);
        ASSERT_EQ(recs.size(), 1u);
        auto c = read_control_record(recs[0]);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->type, commit ? control_type::commit : control_type::abort);
        EXPECT_EQ(c->coordinator_epoch, 17);
        EXPECT_EQ(recs[0].timestamp, 1234);
        record_limits producer;
        producer.from_producer = true;
        EXPECT_EQ(validate_batch(*m, producer).error(), records_errc::invalid_producer_batch);
    }
    record_view no_key;
    EXPECT_EQ(read_control_record(no_key).error(), records_errc::bad_control_record);
}

// ---- hand-made malformed batches -----------------------------------------------------------

struct raw_rec {
    std::vector<uint8_t> body; // after the length varint
    std::optional<int32_t> length_override;
};

// A well-formed record body (attributes .. headers).
bytes record_body(int32_t offset_delta, int32_t key_len = 1, int32_t value_len = 1) {
    bytes b;
    b.push_back(0);
    append_varlong(b, 0);
    append_varint(b, offset_delta);
    append_varint(b, key_len);
    for (int32_t i = 0; i < key_len; ++i) {
        b.push_back('k');
    }
    append_varint(b, value_len);
    for (int32_t i = 0; i < value_len; ++i) {
        b.push_back('v');
    }
    append_varint(b, 0);
    return b;
}

bytes with_length(const bytes& body, std::optional<int32_t> length = std::nullopt) {
    bytes r;
    append_varint(r, length.value_or(int32_t(body.size())));
    r.insert(r.end(), body.begin(), body.end());
    return r;
}

// Wraps record bytes in a header with a correct CRC.
bytes make_batch(const bytes& records, int32_t count, int32_t last_delta,
                 compression_codec codec = compression_codec::none) {
    bytes payload = records;
    if (codec != compression_codec::none && uint8_t(codec) <= uint8_t(compression_codec::zstd)) {
        auto z = compress(codec, records);
        EXPECT_TRUE(z);
        payload = *z;
    }
    batch_header h;
    h.attributes = int16_t(codec);
    h.record_count = count;
    h.last_offset_delta = last_delta;
    h.base_timestamp = 0;
    h.max_timestamp = 0;
    h.batch_length = int32_t(batch_header::size - batch_header::length_field_end + payload.size());
    bytes out(batch_header::size);
    write_batch_header(out.data(), h);
    out.insert(out.end(), payload.begin(), payload.end());
    store_be32(out.data() + 17, compute_batch_crc(out));
    return out;
}

bytes concat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

TEST(records, well_formed_hand_made_batch) {
    bytes recs = concat({with_length(record_body(0)), with_length(record_body(1))});
    EXPECT_TRUE(validate_batch(make_batch(recs, 2, 1)));
    EXPECT_EQ(read_error(make_batch(recs, 2, 1)), std::error_code{});
}

TEST(records, rejects_malformed_records) {
    const bytes r0 = with_length(record_body(0));
    const bytes r1 = with_length(record_body(1));
    struct bad_case {
        const char* what;
        bytes batch;
        std::error_code expect;
    };
    bytes body_long_key = record_body(0);
    bytes bad_key_len = record_body(0, 0, 1);
    bad_key_len[3] = 0x03; // key length varint -2
    bytes body = record_body(0);
    bytes garbage_in_record = body;
    garbage_in_record.push_back(0);
    bytes huge_headers = record_body(0);
    huge_headers.back() = 0x7e; // header count 63, with no bytes for them
    bytes neg_headers = record_body(0);
    neg_headers.back() = 0x01; // header count -1
    bytes bad_header_value = record_body(0);
    bad_header_value.back() = 0x02; // one header
    bad_header_value.push_back(0x02);
    bad_header_value.push_back('h');
    bad_header_value.push_back(0x05); // value length -3
    bytes null_header_key = record_body(0);
    null_header_key.back() = 0x02;
    null_header_key.push_back(0x01); // key length -1
    null_header_key.push_back(0x01);
    const bytes six_byte_varint = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const bytes fat_fifth_byte = {0x80, 0x80, 0x80, 0x80, 0x10};

    const bad_case cases[] = {
        {"count above records", make_batch(r0, 2, 1), records_errc::count_mismatch},
        {"count below records", make_batch(concat({r0, r1}), 1, 1), records_errc::trailing_bytes},
        {"count above deltas", make_batch(concat({r0, r1}), 2, 0), records_errc::count_mismatch},
        {"length past end", make_batch(with_length(body, int32_t(body.size() + 5)), 1, 0),
         records_errc::truncated_record},
        {"negative length", make_batch(with_length(body, -2), 1, 0),
         records_errc::bad_record_length},
        {"fields past length", make_batch(concat({with_length(body, int32_t(body.size() - 1)),
                                                  bytes{0}}), 1, 0),
         records_errc::bad_record_length},
        {"garbage in record", make_batch(with_length(garbage_in_record), 1, 0),
         records_errc::bad_record_length},
        {"key length -2", make_batch(with_length(bad_key_len), 1, 0),
         records_errc::bad_field_length},
        {"header count lies", make_batch(with_length(huge_headers), 1, 0),
         records_errc::bad_record_length},
        {"header count negative", make_batch(with_length(neg_headers), 1, 0),
         records_errc::bad_field_length},
        {"header value -3", make_batch(with_length(bad_header_value), 1, 0),
         records_errc::bad_field_length},
        {"null header key", make_batch(with_length(null_header_key), 1, 0),
         records_errc::bad_field_length},
        {"6-byte varint", make_batch(concat({six_byte_varint, bytes(20, 0)}), 1, 0),
         records_errc::bad_varint},
        {"fifth varint byte too big", make_batch(concat({fat_fifth_byte, bytes(20, 0)}), 1, 0),
         records_errc::bad_varint},
        {"deltas not increasing", make_batch(concat({r1, r0}), 2, 1),
         records_errc::bad_offset_delta},
        {"delta past last", make_batch(with_length(record_body(3)), 1, 2),
         records_errc::bad_offset_delta},
        {"trailing junk", make_batch(concat({r0, bytes{0, 0}}), 1, 0),
         records_errc::trailing_bytes},
        {"unknown codec", make_batch(r0, 1, 0, compression_codec(6)),
         records_errc::bad_compression},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto s = validate_batch(c.batch);
        ASSERT_FALSE(s);
        EXPECT_EQ(s.error(), c.expect) << s.error().message();
        EXPECT_EQ(read_error(c.batch), c.expect);
    }
}

TEST(records, producer_batches_number_records_from_zero) {
    record_limits producer;
    producer.from_producer = true;
    bytes gap = concat({with_length(record_body(0)), with_length(record_body(2))});
    EXPECT_EQ(validate_batch(make_batch(gap, 2, 2), producer).error(),
              records_errc::invalid_producer_batch);
    EXPECT_EQ(validate_batch(make_batch(gap, 2, 1), producer).error(),
              records_errc::bad_offset_delta);
    EXPECT_TRUE(validate_batch(make_batch(gap, 2, 2))) << "fine in a log";
    // An idempotent producer (producer id set) must send a sequence number.
    batch_options o;
    o.producer_id = 5;
    o.producer_epoch = 0;
    o.base_sequence = -1;
    batch_builder b(o);
    b.add("k", "v", 1);
    auto batch = b.build();
    ASSERT_TRUE(batch);
    EXPECT_EQ(validate_batch(*batch, producer).error(), records_errc::invalid_producer_batch);
}

TEST(records, bad_crc_and_crc_skipping) {
    bytes batch = make_batch(with_length(record_body(0)), 1, 0);
    batch[17] ^= 0xff;
    EXPECT_EQ(validate_batch(batch).error(), batch_errc::bad_crc);
    record_limits no_crc;
    no_crc.verify_crc = false;
    EXPECT_TRUE(validate_batch(batch, no_crc));
}

TEST(records, compression_bomb_and_corrupt_payload) {
    // 16 MiB of zero-filled records squeezed by zstd; the limit is 1 MiB.
    bytes body = record_body(0, 0, 0);
    bytes recs;
    for (int i = 0; i < 4096; ++i) {
        recs.insert(recs.end(), 4096, 0);
    }
    bytes batch = make_batch(recs, 1, 0, compression_codec::zstd);
    EXPECT_LT(batch.size(), 4096u);
    record_limits limits;
    limits.max_uncompressed_bytes = 1 << 20;
    EXPECT_EQ(validate_batch(batch, limits).error(), records_errc::too_large);
    EXPECT_EQ(read_error(batch, limits), records_errc::too_large);

    bytes good = make_batch(with_length(record_body(0)), 1, 0, compression_codec::gzip);
    good[good.size() - 3] ^= 0x55; // gzip's CRC-32 or length trailer
    store_be32(good.data() + 17, compute_batch_crc(good));
    EXPECT_EQ(validate_batch(good).error(), records_errc::bad_compression);
}

TEST(records, batch_must_be_exact_for_validate) {
    bytes batch = make_batch(with_length(record_body(0)), 1, 0);
    batch.push_back(0);
    EXPECT_EQ(validate_batch(batch).error(), records_errc::trailing_bytes);
    EXPECT_EQ(read_error(batch), std::error_code{}) << "the reader takes the first batch";
}

// ---- record sets --------------------------------------------------------------------------

TEST(records, record_set_iteration_with_partial_tail) {
    bytes set;
    std::vector<size_t> ends;
    for (int i = 0; i < 3; ++i) {
        batch_options o;
        o.base_offset = i * 100;
        o.codec = all_codecs[i + 1];
        bytes b = build(samples(10 + i), o);
        set.insert(set.end(), b.begin(), b.end());
        ends.push_back(set.size());
    }
    for (size_t cut = 0; cut <= set.size(); ++cut) {
        record_set_iterator it(bytes_view(set).first(cut));
        int n = 0;
        for (;;) {
            auto b = it.next();
            ASSERT_TRUE(b) << cut << ": " << b.error().message();
            if (!*b) {
                break;
            }
            EXPECT_EQ((*b)->header.base_offset, n * 100);
            EXPECT_TRUE(validate_batch((*b)->data));
            ++n;
        }
        size_t whole = 0;
        for (size_t e : ends) {
            if (e <= cut) {
                whole = e;
            }
        }
        ASSERT_EQ(it.consumed(), whole) << cut;
        EXPECT_EQ(it.partial_tail(), whole != cut) << cut;
        auto again = it.next();
        ASSERT_TRUE(again);
        EXPECT_FALSE(*again);
    }
}

TEST(records, record_set_rejects_bad_lengths_and_magic) {
    bytes b = build(samples(3));
    bytes bad_magic = b;
    bad_magic[16] = 1;
    EXPECT_EQ(record_set_iterator(bad_magic).next().error(), batch_errc::unsupported_magic);
    bytes short_len = b;
    store_be32(short_len.data() + 8, 10);
    EXPECT_EQ(record_set_iterator(short_len).next().error(), batch_errc::bad_length);
    EXPECT_EQ(record_set_iterator(b, 100).next().error(), batch_errc::bad_length);
    // A partial header whose length is already bad is an error, not a partial tail.
    EXPECT_FALSE(record_set_iterator(bytes_view(short_len).first(14)).next());
}

// ---- varints --------------------------------------------------------------------------------

TEST(records, varints_round_trip_and_reject_overlong) {
    const int64_t values[] = {0,         1,         -1,        63,        -64,      64,
                              INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, int64_t(1) << 40};
    for (int64_t v : values) {
        bytes b;
        append_varlong(b, v);
        EXPECT_EQ(b.size(), varlong_size(v));
        int64_t back = 0;
        EXPECT_EQ(read_varlong(b, back), b.size());
        EXPECT_EQ(back, v);
        if (v >= INT32_MIN && v <= INT32_MAX) {
            bytes c;
            append_varint(c, int32_t(v));
            EXPECT_EQ(c.size(), varint_size(int32_t(v)));
            int32_t back32 = 0;
            EXPECT_EQ(read_varint(c, back32), c.size());
            EXPECT_EQ(back32, v);
        }
    }
    int32_t v32;
    int64_t v64;
    const bytes eleven(11, 0x80);
    EXPECT_EQ(read_varint(eleven, v32), 0u);
    EXPECT_EQ(read_varlong(eleven, v64), 0u);
    EXPECT_EQ(read_varint(bytes{0x80}, v32), 0u) << "cut short";
    EXPECT_EQ(read_varint(bytes{}, v32), 0u);
    const bytes ten = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    EXPECT_EQ(read_varlong(ten, v64), 0u) << "tenth byte beyond 64 bits";
}

// ---- kafka-python cross-checks -------------------------------------------------------------

const std::string kafka_python_script =
    std::string(TRIB_SOURCE_DIR) + "/tests/integration/capture_codecs/kafka_python_codec.py";

using fakes::temp_dir;

// Runs a command, returns (exit code, stdout).
std::pair<int, std::string> run_capture(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) {
        return {-1, out};
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
    }
    int rc = pclose(f);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string fmt_field(const std::optional<bytes_view>& v) {
    if (!v) {
        return "null";
    }
    if (v->empty()) {
        return "-";
    }
    std::string s;
    char hex[3];
    for (uint8_t b : *v) {
        std::snprintf(hex, sizeof hex, "%02x", b);
        s += hex;
    }
    return s;
}

// The script's describe(): "offset timestamp key value [h=v,...]".
std::string describe(const record_view& r) {
    std::ostringstream os;
    os << r.offset << ' ' << r.timestamp << ' ' << fmt_field(r.key) << ' ' << fmt_field(r.value)
       << " [";
    bool first = true;
    for (const auto& h : r.headers) {
        os << (first ? "" : ",") << h.key << '=' << fmt_field(h.value);
        first = false;
    }
    os << "]\n";
    return os.str();
}

bytes read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(f), {});
}

void write_file(const fs::path& p, bytes_view data) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

TEST(records, kafka_python_batches_both_ways) {
    if (!fs::exists("/usr/bin/python3")) {
        GTEST_SKIP() << "/usr/bin/python3 missing";
    }
    temp_dir dir("trib-records");
    int ran = 0;
    std::string skipped;
    for (auto codec : all_codecs) {
        const std::string name(codec_name(codec));
        SCOPED_TRACE(name);
        // kafka-python builds a batch; we read it.
        auto theirs = dir / (name + ".theirs");
        auto [rc, expected] = run_capture("/usr/bin/python3 " + kafka_python_script + " build " +
                                          name + " " + theirs.string());
        if (rc == 77) {
            skipped += name + " ";
            continue;
        }
        ASSERT_EQ(rc, 0);
        bytes batch = read_file(theirs);
        record_limits producer;
        producer.from_producer = true;
        auto s = validate_batch(batch, producer);
        ASSERT_TRUE(s) << s.error().message();
        EXPECT_EQ(s->header.codec(), codec);
        EXPECT_EQ(s->header.producer_id, 4242);
        EXPECT_EQ(s->header.producer_epoch, 3);
        EXPECT_EQ(s->header.base_sequence, 17);
        EXPECT_EQ(s->max_timestamp, s->header.max_timestamp);
        auto reader = batch_reader::open(batch);
        ASSERT_TRUE(reader);
        std::string got;
        std::vector<record_view> recs = read_all(*reader);
        for (const auto& r : recs) {
            got += describe(r);
        }
        EXPECT_EQ(got, expected);

        // We rebuild those records (base offset 1000, same codec) plus an uncompressed batch;
        // kafka-python reads the record set and must see the same.
        batch_options o;
        o.codec = codec;
        o.base_offset = 1000;
        batch_builder b(o);
        for (const auto& r : recs) {
            std::vector<record_header> hs;
            for (const auto& h : r.headers) {
                record_header x;
                x.key = std::string(h.key);
                if (h.value) {
                    x.value = bytes(h.value->begin(), h.value->end());
                }
                hs.push_back(std::move(x));
            }
            b.add(r.key, r.value, r.timestamp, hs);
        }
        auto ours = b.build();
        ASSERT_TRUE(ours);
        bytes plain = build(samples(5), batch_options{.base_offset = 2000});
        bytes set = concat({*ours, plain});
        auto ours_path = dir / (name + ".ours");
        write_file(ours_path, set);

        std::string want;
        record_set_iterator it(set);
        for (;;) {
            auto bv = it.next();
            ASSERT_TRUE(bv);
            if (!*bv) {
                break;
            }
            const auto& h = (*bv)->header;
            want += "batch " + std::to_string(h.base_offset) + " " +
                    std::string(codec_name(h.codec())) + " " + std::to_string(h.last_offset_delta) +
                    " " + std::to_string(h.max_timestamp) + "\n";
            auto rd = batch_reader::open((*bv)->data);
            ASSERT_TRUE(rd);
            for (const auto& r : read_all(*rd)) {
                want += describe(r);
            }
        }
        auto [rc2, read_back] =
            run_capture("/usr/bin/python3 " + kafka_python_script + " read " + ours_path.string());
        ASSERT_EQ(rc2, 0);
        EXPECT_EQ(read_back, want);
        ++ran;
    }
    if (ran == 0) {
        GTEST_SKIP() << "kafka-python unavailable";
    }
    if (!skipped.empty()) {
        std::printf("kafka-python lacks codec modules for: %s\n", skipped.c_str());
    }
}

} // namespace
} // namespace trib::protocol
