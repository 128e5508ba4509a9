// The operator's Kafka reader on bad input: answers that don't decode, answer the wrong
// request or announce absurd sizes end in a readable error, never a crash. Against real
// brokers: tests/integration/cluster_probe_test.py.
#include "operator/metrics/kafka_reader.h"

#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

using namespace trib;
using namespace trib::op::metrics;
using fakes::api_versions_answer;
using fakes::encode_response;
using fakes::framed;
using fake_broker = fakes::kafka_fake_broker;

namespace {

protocol::metadata_response sample_metadata() {
    protocol::metadata_response md;
    md.cluster_id = "c-1";
    md.controller_id = 2;
    md.brokers = {{2, "b2", 9092, std::nullopt, {}}, {1, "b1", 9092, "r1", {}}};
    protocol::metadata_response::metadata_response_topic t;
    t.name = "t";
    auto partition = [](int32_t index, int32_t leader, std::vector<int32_t> replicas, std::vector<int32_t> isr) {
        protocol::metadata_response::metadata_response_partition p;
        p.partition_index = index;
        p.leader_id = leader;
        p.replica_nodes = std::move(replicas);
        p.isr_nodes = std::move(isr);
        return p;
    };
    t.partitions = {partition(1, 2, {2, 1}, {2}), partition(0, 1, {1}, {1})};
    protocol::metadata_response::metadata_response_topic bad;
    bad.name = "gone";
    bad.error_code = 3;  // UNKNOWN_TOPIC_OR_PARTITION
    md.topics = {t, bad};
    return md;
}

std::string read_error(const std::string& bootstrap) {
    std::string why;
    read_options o;
    o.timeout = std::chrono::milliseconds(10000);
    auto v = read_cluster(bootstrap, o, &why);
    EXPECT_FALSE(v.has_value());
    return why;
}

} // namespace

TEST(kafka_reader, view_from_metadata_sorts_and_reports_topic_errors) {
    auto v = detail::view_from_metadata(sample_metadata());
    EXPECT_EQ(v.cluster_id, "c-1");
    EXPECT_EQ(v.controller_id, 2);
    ASSERT_EQ(v.brokers.size(), 2u);
    EXPECT_EQ(v.brokers[0], (broker_info{1, "b1", 9092, "r1"}));
    EXPECT_EQ(v.brokers[1].rack, "");
    ASSERT_EQ(v.partitions.size(), 2u);
    EXPECT_EQ(v.partitions[0].partition, 0);
    EXPECT_EQ(v.partitions[1].replicas, (std::vector<int32_t>{2, 1}));
    EXPECT_EQ(v.partitions[1].oldest_offset, -1);
    ASSERT_EQ(v.problems.size(), 1u);
    EXPECT_EQ(v.problems[0], "topic gone: UNKNOWN_TOPIC_OR_PARTITION");
}

TEST(kafka_reader, apply_offsets_fills_asked_partitions_and_reports_errors) {
    auto v = detail::view_from_metadata(sample_metadata());
    protocol::list_offsets_response resp;
    auto answer = [](int32_t index, int16_t error, int64_t offset) {
        protocol::list_offsets_response::list_offsets_partition_response p;
        p.partition_index = index;
        p.error_code = error;
        p.offset = offset;
        return p;
    };
    resp.topics.resize(1);
    resp.topics[0].name = "t";
    resp.topics[0].partitions = {answer(0, 0, 5), answer(1, 6, -1) /* NOT_LEADER_OR_FOLLOWER */, answer(9, 0, 1)};
    detail::apply_offsets(resp, false, v);
    EXPECT_EQ(v.partitions[0].current_offset, 5);
    EXPECT_EQ(v.partitions[0].oldest_offset, -1);
    EXPECT_EQ(v.partitions[1].current_offset, -1);
    ASSERT_EQ(v.problems.size(), 2u);
    EXPECT_EQ(v.problems[1], "t[1]: ListOffsets latest: NOT_LEADER_OR_FOLLOWER");
}

TEST(kafka_reader, decode_response_rejects_truncated_trailing_and_mismatched_answers) {
    auto body = encode_response(sample_metadata(), 9, 7);
    protocol::metadata_response md;
    EXPECT_FALSE(detail::decode_response(body, 9, 7, md));
    EXPECT_EQ(md.cluster_id, "c-1");
    EXPECT_EQ(detail::decode_response(body, 9, 8, md), make_error_code(errc::bad_response));  // other request
    for (size_t cut : {size_t(0), size_t(3), size_t(4), body.size() / 2, body.size() - 1}) {
        bytes part(body.begin(), body.begin() + ptrdiff_t(cut));
        EXPECT_EQ(detail::decode_response(part, 9, 7, md), make_error_code(errc::bad_response)) << cut;
    }
    auto longer = body;
    longer.push_back(0);
    EXPECT_EQ(detail::decode_response(longer, 9, 7, md), make_error_code(errc::bad_response));
    // The same bytes read as another version do not pass silently either.
    EXPECT_EQ(detail::decode_response(body, 1, 7, md), make_error_code(errc::bad_response));
}

TEST(kafka_reader, garbage_api_versions_answer_is_a_readable_error) {
    fake_broker b([](int16_t, int32_t) { return framed(bytes{0, 0, 0, 1, 0xff, 0xff, 0xff}); });
    EXPECT_EQ(read_error(b.address()),
              "no bootstrap broker answered: " + b.address() + ": ApiVersions v0: the response (7 bytes) does not decode");
}

TEST(kafka_reader, truncated_metadata_answer_is_a_readable_error) {
    fake_broker b([](int16_t key, int32_t corr) -> std::optional<bytes> {
        if (key == protocol::api_versions_key) return api_versions_answer(corr);
        auto body = encode_response(sample_metadata(), 12, corr);
        body.resize(body.size() - 5);
        return framed(body);
    });
    auto why = read_error(b.address());
    EXPECT_NE(why.find(b.address() + ": Metadata v12: the response"), std::string::npos) << why;
    EXPECT_NE(why.find("does not decode"), std::string::npos) << why;
}

TEST(kafka_reader, absurd_frame_sizes_and_closed_connections_are_readable_errors) {
    {
        fake_broker b([](int16_t, int32_t) { return bytes{0x7f, 0xff, 0xff, 0xff}; });
        auto why = read_error(b.address());
        EXPECT_NE(why.find(b.address() + ": ApiVersions v0:"), std::string::npos) << why;
    }
    {
        fake_broker b([](int16_t, int32_t) { return bytes{0xff, 0xff, 0xff, 0xfe}; });
        EXPECT_NE(read_error(b.address()).find("ApiVersions v0:"), std::string::npos);
    }
    {
        fake_broker b([](int16_t, int32_t) { return std::nullopt; });  // closes instead of answering
        EXPECT_NE(read_error(b.address()).find("ApiVersions v0: End of file"), std::string::npos);
    }
}

TEST(kafka_reader, bootstrap_lists_are_parsed_like_kafka_clients_parse_them) {
    // Spaces and empty entries are fine; every address is tried.
    auto a = fakes::dead_address(), b = fakes::dead_address();
    EXPECT_EQ(read_error(" " + a + " ,, " + b + " "),
              "no bootstrap broker answered: " + a + ": Connection refused; " + b + ": Connection refused");
    std::string why;
    auto v = read_cluster("127.0.0.1:1,:2", {}, &why);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), make_error_code(errc::bad_bootstrap));
    EXPECT_NE(why.find("bad bootstrap address list \"127.0.0.1:1,:2\""), std::string::npos) << why;
}

TEST(kafka_reader, a_broker_without_the_needed_versions_is_refused) {
    fake_broker b([](int16_t, int32_t corr) {
        protocol::api_versions_response av;
        av.api_keys = {{3, 0, 0, {}}};  // Metadata v0 only, no ListOffsets
        return framed(encode_response(av, 0, corr));
    });
    std::string why;
    auto v = read_cluster(b.address(), {}, &why);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), make_error_code(errc::unreachable));
    EXPECT_EQ(why, "no bootstrap broker answered: " + b.address() + ": the broker does not speak Metadata v1+ nor ListOffsets v1+") << why;
}
