// net/client_codec.h without sockets: request frames, response decoding that trusts nothing,
// the ApiVersions v0 fallback and the version table.
#include "net/client_codec.h"
#include "protocol/messages/metadata.h"

#include <gtest/gtest.h>

namespace trib::net {
namespace {

using protocol::api_versions_response;

bytes response_frame(int32_t correlation_id, int16_t header_version, const auto& resp, int16_t version) {
    protocol::writer w;
    protocol::encode_response_header(w, correlation_id, header_version);
    resp.encode(w, version);
    return w.take();
}

api_versions_response ranges(std::initializer_list<std::array<int16_t, 3>> keys, int16_t error = 0) {
    api_versions_response r;
    r.error_code = error;
    for (const auto& k : keys) {
        auto& e = r.api_keys.emplace_back();
        e.api_key = k[0];
        e.min_version = k[1];
        e.max_version = k[2];
    }
    return r;
}

TEST(client_codec, a_request_frame_carries_its_size_and_the_header_its_version_needs) {
    protocol::metadata_request req;
    for (int16_t version : {int16_t(8), int16_t(9)}) {
        bytes f = encode_request_frame(req, version, 42, "me");
        ASSERT_GE(f.size(), 4u);
        EXPECT_EQ(load_be32(f.data()), f.size() - 4);
        protocol::reader r(bytes_view(f).subspan(4));
        protocol::request_header h;
        ASSERT_TRUE(protocol::decode_request_header(r, h));
        EXPECT_EQ(h.api_key, 3);
        EXPECT_EQ(h.api_version, version);
        EXPECT_EQ(h.correlation_id, 42);
        EXPECT_EQ(h.client_id, "me");
        protocol::metadata_request back;
        back.decode(r, version);
        EXPECT_TRUE(r.ok() && r.remaining() == 0) << "v" << version;
    }
}

TEST(client_codec, a_response_must_answer_its_request_and_end_where_its_body_does) {
    protocol::metadata_response resp;
    resp.topics.emplace_back().name = "t";
    bytes good = response_frame(7, 1, resp, 12);
    auto ok = decode_response<protocol::metadata_response>(good, 12, 7);
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, resp);

    EXPECT_EQ(decode_response<protocol::metadata_response>(good, 12, 8).error(),
              make_error_code(client_errc::bad_response)) << "another correlation id";
    bytes longer = good;
    longer.push_back(0);
    EXPECT_FALSE(decode_response<protocol::metadata_response>(longer, 12, 7)) << "a trailing byte";
    for (size_t n = 0; n < good.size(); ++n) {
        EXPECT_FALSE(decode_response<protocol::metadata_response>(bytes_view(good).first(n), 12, 7)) << n;
    }
}

TEST(client_codec, an_api_versions_refusal_in_the_v0_layout_is_read_and_says_what_to_try) {
    // What a broker serving ApiVersions 0..2 answers to our v3.
    auto refusal = ranges({{18, 0, 2}, {3, 0, 9}}, int16_t(protocol::error_code::unsupported_version));
    bytes frame = response_frame(1, 0, refusal, 0);
    auto got = decode_api_versions(frame, 3, 1);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->error_code, int16_t(protocol::error_code::unsupported_version));
    EXPECT_EQ(api_versions_retry_version(*got, 3), 2);
    // Never the version just refused, nor one the broker lists no range for.
    EXPECT_EQ(api_versions_retry_version(ranges({{18, 0, 5}}, 35), 3), 2);
    EXPECT_EQ(api_versions_retry_version(ranges({{3, 0, 9}}, 35), 3), -1);
    EXPECT_EQ(api_versions_retry_version(ranges({{18, 0, 2}}, 0), 3), -1) << "no error: nothing to retry";
    EXPECT_EQ(api_versions_retry_version(ranges({{18, 0, 2}}, 35), 0), -1);
}

TEST(client_codec, the_version_table_takes_both_sides_ranges_and_a_key_once) {
    api_version_table t(ranges({{3, 2, 7}, {1, 0, 99}, {3, 0, 12}, {9999, 0, 1}}));
    EXPECT_EQ(*t.version_for(3, 12), 7) << "the first range listed for key 3";
    EXPECT_EQ(*t.version_for(3, 4), 4);
    EXPECT_FALSE(t.version_for(3, 1));
    EXPECT_EQ(*t.version_for(1, 99), protocol::find_api(1)->max_version) << "capped by our codecs";
    EXPECT_EQ(t.version_for(9999, 1).error(), make_error_code(client_errc::unsupported_version)) << "not ours";
    EXPECT_EQ(t.version_for(2, 5).error(), make_error_code(client_errc::unsupported_version)) << "not the broker's";
    EXPECT_EQ(t.ranges().size(), 3u);
}

} // namespace
} // namespace trib::net
