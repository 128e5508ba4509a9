// Generated message codecs: every API, every claimed version, request and response.

#include "protocol/api.h"
#include "protocol/api_dispatch.h"
#include "protocol/messages.h"
#include "protocol/messages_sample.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <set>
#include <string>
#include <unistd.h>

namespace trib::protocol {
namespace {

template<typename M>
bytes encode(const M& m, int16_t version) {
    writer w;
    m.encode(w, version);
    EXPECT_TRUE(w.splices().empty());
    return w.take();
}

// encode -> decode -> equal, and the decoded copy encodes to the same bytes.
template<typename M>
void round_trip(int16_t version, bool tags, const char* what) {
    SCOPED_TRACE(std::string(what) + " v" + std::to_string(version) + (tags ? " +tags" : ""));
    const M original = sample::make_sample<M>(version, tags);
    // Messages with fields in this version (ApiVersions v0-2 requests have none).
    if (encode(M{}, version).size() > (version >= M::flexible_from ? 1u : 0u)) {
        EXPECT_NE(original, M{}) << "the sample should differ from a default message";
    }
    bytes wire = encode(original, version);
    reader r(wire);
    M back;
    back.decode(r, version);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(back, original);
    EXPECT_EQ(encode(back, version), wire);
}

TEST(messages, every_api_and_version_round_trips) {
    int checked = 0;
    for (const api_info& api : all_apis()) {
        with_api(api.key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
            for (int16_t v = api.min_version; v <= api.max_version; ++v) {
                round_trip<Req>(v, false, "request");
                round_trip<Resp>(v, false, "response");
                if (api.flexible(v)) {
                    round_trip<Req>(v, true, "request");
                    round_trip<Resp>(v, true, "response");
                }
                ++checked;
            }
        });
    }
    EXPECT_GT(checked, 100);
}

// The __consumer_offsets keys and values: every version round-trips, and every prefix of
// one fails to decode (a torn or foreign record is refused, not half-read).
template<typename M>
int check_data_record(const char* name) {
    int checked = 0;
    for (int16_t v = M::min_version; v <= M::max_version; ++v) {
        round_trip<M>(v, false, name);
        if (v >= M::flexible_from) {
            round_trip<M>(v, true, name);
        }
        bytes wire = encode(sample::make_sample<M>(v), v);
        for (size_t n = 0; n < wire.size(); ++n) {
            bytes cut(wire.begin(), wire.begin() + ptrdiff_t(n));
            reader r(cut);
            M m;
            m.decode(r, v);
            EXPECT_FALSE(r.ok()) << name << " v" << v << ": decoded a " << n << "-byte prefix";
        }
        ++checked;
    }
    return checked;
}

TEST(messages, every_data_record_and_version_round_trips) {
    int checked = 0;
#define TRIB_CHECK_DATA(name) checked += check_data_record<name>(#name);
    TRIB_FOR_EACH_DATA(TRIB_CHECK_DATA)
#undef TRIB_CHECK_DATA
    // OffsetCommitKey 0-1, OffsetCommitValue 0-4, GroupMetadataKey 2, GroupMetadataValue 0-4.
    EXPECT_GE(checked, 13);
}

TEST(messages, unknown_tags_survive_in_flexible_versions_and_are_dropped_otherwise) {
    auto m = sample::make_sample<metadata_request>(12, true);
    ASSERT_FALSE(m.unknown_tags.empty());
    ASSERT_TRUE(m.topics && !m.topics->empty());
    ASSERT_FALSE((*m.topics)[0].unknown_tags.empty());
    bytes wire = encode(m, 12);
    reader r(wire);
    metadata_request back;
    back.decode(r, 12);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(back.unknown_tags, m.unknown_tags);
    EXPECT_EQ((*back.topics)[0].unknown_tags, (*m.topics)[0].unknown_tags);

    // Version 8 is not flexible: no tagged section on the wire.
    metadata_request plain = m;
    bytes v8 = encode(plain, 8);
    reader r8(v8);
    metadata_request back8;
    back8.decode(r8, 8);
    ASSERT_TRUE(r8.ok());
    EXPECT_TRUE(back8.unknown_tags.empty());
}

TEST(messages, tagged_fields_are_written_only_when_not_default) {
    fetch_response m;
    auto& p = m.responses.emplace_back().partitions.emplace_back();
    bytes without = encode(m, 12);
    p.current_leader.leader_id = 3;
    p.current_leader.leader_epoch = 7;
    bytes with = encode(m, 12);
    EXPECT_GT(with.size(), without.size());
    reader r(with);
    fetch_response back;
    back.decode(r, 12);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(back, m);
    EXPECT_TRUE(back.responses[0].partitions[0].unknown_tags.empty());
    // Field defaults come from the spec.
    EXPECT_EQ(fetch_response::leader_id_and_epoch{}.leader_id, -1);
    EXPECT_EQ(fetch_request{}.max_bytes, 0x7fffffff);
    EXPECT_EQ(metadata_request{}.allow_auto_topic_creation, true);
    EXPECT_EQ(metadata_response::metadata_response_topic{}.topic_authorized_operations, INT32_MIN);
    EXPECT_EQ(produce_request{}.transactional_id, std::nullopt);
}

TEST(messages, nested_struct_names_resolve_both_ways) {
    // Structs live in the message; each also names its children.
    static_assert(std::is_same_v<produce_request::topic_produce_data::partition_produce_data,
                                 produce_request::partition_produce_data>);
    // A struct whose name a field also uses gets "_t".
    static_assert(std::is_same_v<decltype(fetch_response::partition_data{}.snapshot_id),
                                 fetch_response::snapshot_id_t>);
    SUCCEED();
}

TEST(messages, every_truncation_of_a_request_fails_cleanly) {
    for (const api_info& api : all_apis()) {
        with_api(api.key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
            for (int16_t v : {api.min_version, api.max_version}) {
                SCOPED_TRACE(std::string(api.name) + " v" + std::to_string(v));
                for (bool request : {true, false}) {
                    bytes wire = request ? encode(sample::make_sample<Req>(v), v)
                                         : encode(sample::make_sample<Resp>(v), v);
                    for (size_t n = 0; n < wire.size(); ++n) {
                        bytes cut(wire.begin(), wire.begin() + ptrdiff_t(n));
                        reader r(cut);
                        if (request) {
                            Req m;
                            m.decode(r, v);
                        } else {
                            Resp m;
                            m.decode(r, v);
                        }
                        ASSERT_FALSE(r.ok()) << "decoded a " << n << "-byte prefix of " << wire.size();
                    }
                }
            }
        });
    }
}

TEST(messages, huge_declared_counts_fail_without_allocating) {
    // Produce v9 (flexible): transactional_id null, acks, timeout, then a topic array whose
    // compact count claims four billion entries.
    bytes wire{0, 0, 1, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0x0f};
    reader r(wire);
    produce_request m;
    m.decode(r, 9);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(m.topic_data.empty());
    EXPECT_EQ(m.topic_data.capacity(), 0u);

    // Metadata v0: a topic count of 2^31-1 with nothing behind it.
    bytes wire2{0x7f, 0xff, 0xff, 0xff};
    reader r2(wire2);
    metadata_request m2;
    m2.decode(r2, 0);
    EXPECT_FALSE(r2.ok());

    // A string length of 32767 with three bytes behind it.
    bytes wire3{0, 0, 0, 1, 0x7f, 0xff, 'a', 'b', 'c'};
    reader r3(wire3);
    metadata_request m3;
    m3.decode(r3, 1);
    EXPECT_FALSE(r3.ok());
}

TEST(messages, produce_records_travel_as_bytes) {
    produce_request m;
    m.acks = -1;
    m.timeout_ms = 1500;
    auto& t = m.topic_data.emplace_back();
    t.name = "orders";
    auto& p = t.partition_data.emplace_back();
    p.index = 2;
    p.records = record_set{bytes(1000, 0x42), {}};
    for (int16_t v : {int16_t(3), int16_t(9)}) {
        bytes wire = encode(m, v);
        reader r(wire);
        produce_request back;
        back.decode(r, v);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(back, m);
    }
}

TEST(api, registry_lists_the_claimed_apis) {
    std::set<int16_t> keys;
    for (const auto& a : all_apis()) keys.insert(a.key);
    EXPECT_EQ(keys, (std::set<int16_t>{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                       21, 22, 23, 29, 30, 31, 32, 33, 34, 35, 36, 37, 42, 43, 44, 45, 46, 47, 48, 50, 51, 55, 56,
                                       60, 61,
                                       64, 68, 69,
                                       80, 81, 10200}));
    const api_info* produce = find_api(0);
    ASSERT_NE(produce, nullptr);
    EXPECT_EQ(produce->name, "Produce");
    EXPECT_EQ(produce->min_version, 3);
    EXPECT_EQ(produce->max_version, 9);
    EXPECT_EQ(produce->flexible_from, 9);
    EXPECT_EQ(find_api(4), nullptr);
    EXPECT_EQ(find_api(-1), nullptr);
    EXPECT_EQ(find_api(17)->flexible_from, never_flexible);
}

TEST(api, header_versions) {
    EXPECT_EQ(request_header_version(0, 8), 1);
    EXPECT_EQ(request_header_version(0, 9), 2);
    EXPECT_EQ(response_header_version(0, 8), 0);
    EXPECT_EQ(response_header_version(0, 9), 1);
    EXPECT_EQ(request_header_version(18, 3), 2);
    EXPECT_EQ(request_header_version(18, 4), 2);   // above our max, still flexible
    EXPECT_EQ(response_header_version(18, 3), 0);  // ApiVersions: always v0
    EXPECT_EQ(request_header_version(17, 1), 1);   // SaslHandshake is never flexible
    EXPECT_EQ(request_header_version(999, 5), 1);  // unknown API
}

TEST(api, request_header_round_trip) {
    request_header h{18, 3, 77, "rdkafka", {{5, {1}}}};
    writer w;
    encode_request_header(w, h);
    EXPECT_EQ(w.buffer(), (bytes{0, 18, 0, 3, 0, 0, 0, 77, 0, 7, 'r', 'd', 'k', 'a', 'f', 'k', 'a',
                                 1, 5, 1, 1}));
    reader r(w.buffer());
    request_header back;
    ASSERT_TRUE(decode_request_header(r, back));
    EXPECT_EQ(back, h);

    request_header old{3, 1, 5, std::nullopt, {}};
    writer w1;
    encode_request_header(w1, old);
    EXPECT_EQ(w1.size(), 10u);  // no tagged section in v1
    reader r1(w1.buffer());
    ASSERT_TRUE(decode_request_header(r1, back));
    EXPECT_EQ(back, old);

    bytes truncated{0, 18, 0, 3, 0, 0};
    reader r2(truncated);
    EXPECT_FALSE(decode_request_header(r2, back));
}

TEST(api, response_header) {
    writer w;
    encode_response_header(w, 42, 1);
    encode_response_header(w, 43, 0);
    EXPECT_EQ(w.buffer(), (bytes{0, 0, 0, 42, 0, 0, 0, 0, 43}));
    reader r(w.buffer());
    EXPECT_EQ(decode_response_header(r, 1), 42);
    EXPECT_EQ(decode_response_header(r, 0), 43);
}

TEST(api, decode_request_body_checks_version) {
    auto m = sample::make_sample<heartbeat_request>(4);
    bytes wire = encode(m, 4);
    reader r(wire);
    EXPECT_TRUE(decode_request_body(12, 4, r));
    reader r2(wire);
    EXPECT_FALSE(decode_request_body(12, 5, r2));
    reader r3(wire);
    EXPECT_FALSE(decode_request_body(4, 0, r3));
}

} // namespace
} // namespace trib::protocol

namespace trib::protocol {
namespace {

// Writes the seed corpus of tests/fuzz/fuzz_request.cc (one request frame, header + sample
// body without the size prefix, per API and version) into TRIB_FUZZ_SEEDS_DIR, or a temporary
// folder, and checks that every seed reads back as the request it was written from, through
// the same header-then-body path the fuzzer and the broker take.
TEST(messages, fuzz_seeds_decode_back) {
    const char* env = std::getenv("TRIB_FUZZ_SEEDS_DIR");
    auto dir = env ? std::filesystem::path(env)
                   : std::filesystem::temp_directory_path() / ("trib-seeds-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    size_t written = 0;
    for (const api_info& api : all_apis()) {
        with_api(api.key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
            for (int16_t v = api.min_version; v <= api.max_version; ++v) {
                writer w;
                encode_request_header(w, request_header{api.key, v, 1, "seed", {}});
                auto sample = sample::make_sample<Req>(v);
                sample.encode(w, v);
                auto path = dir / (std::string(api.name) + "_v" + std::to_string(v));
                {
                    std::ofstream f(path, std::ios::binary);
                    f.write(reinterpret_cast<const char*>(w.buffer().data()), std::streamsize(w.size()));
                    ASSERT_TRUE(f.good()) << path;
                }
                std::ifstream in(path, std::ios::binary);
                bytes back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                reader r(back);
                request_header h;
                ASSERT_TRUE(decode_request_header(r, h)) << path;
                EXPECT_EQ(h.api_key, api.key);
                EXPECT_EQ(h.api_version, v);
                Req decoded;
                decoded.decode(r, v);
                ASSERT_TRUE(r.ok()) << path;
                EXPECT_EQ(r.remaining(), 0u) << path;
                EXPECT_TRUE(decoded == sample) << path;
                ++written;
            }
        });
    }
    EXPECT_GT(written, all_apis().size());
    if (!env) {
        std::filesystem::remove_all(dir);
    }
}

} // namespace
} // namespace trib::protocol
