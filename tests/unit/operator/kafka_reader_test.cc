// The operator's Kafka reader on bad input: answers that don't decode, answer the wrong
// request or announce absurd sizes end in a readable error, never a crash. Against real
// brokers: tests/integration/cluster_probe_test.py.
#include "operator/metrics/kafka_reader.h"

#include "protocol/messages/fetch.h"
#include "protocol/records.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

#include <atomic>

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

namespace {

protocol::list_groups_response::listed_group listed(std::string id, std::string type, std::string state) {
    protocol::list_groups_response::listed_group g;
    g.group_id = std::move(id);
    g.protocol_type = "consumer";
    g.group_type = std::move(type);
    g.group_state = std::move(state);
    return g;
}

std::vector<group_info> two_groups() {
    std::vector<std::string> problems;
    protocol::list_groups_response resp;
    resp.groups = {listed("a", "classic", "Stable"), listed("b", "consumer", "Stable")};
    return detail::listed_groups(resp, 1, problems);
}

} // namespace

TEST(kafka_reader, listed_groups_leave_dead_ones_out_and_report_a_partial_list) {
    std::vector<std::string> problems;
    protocol::list_groups_response resp;
    resp.error_code = 14;  // COORDINATOR_LOAD_IN_PROGRESS: some shards still loading
    resp.groups = {listed("a", "classic", "Stable"), listed("gone", "classic", "Dead"), listed("b", "consumer", "Empty")};
    auto groups = detail::listed_groups(resp, 3, problems);
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(groups[0], (group_info{.group_id = "a", .coordinator = 3, .protocol_type = "consumer", .type = "classic",
                                     .state = "Stable", .members = -1, .offsets = {}}));
    EXPECT_EQ(groups[1].group_id, "b");
    EXPECT_EQ(groups[1].type, "consumer");
    EXPECT_EQ(problems, std::vector<std::string>{"broker 3: ListGroups: COORDINATOR_LOAD_IN_PROGRESS (the list may be partial)"});
}

TEST(kafka_reader, described_groups_give_member_counts_and_errors_leave_them_unknown) {
    auto groups = two_groups();
    std::vector<std::string> problems;
    protocol::describe_groups_response resp;
    resp.groups.resize(3);
    resp.groups[0].group_id = "a";
    resp.groups[0].group_state = "Stable";
    resp.groups[0].members.resize(3);
    resp.groups[1].group_id = "b";
    resp.groups[1].error_code = 69;  // GROUP_ID_NOT_FOUND: what Kafka answers for a KIP-848 group
    resp.groups[2].group_id = "not-asked";
    resp.groups[2].members.resize(1);
    detail::apply_described(resp, groups, problems);
    EXPECT_EQ(groups[0].members, 3);
    EXPECT_EQ(groups[1].members, -1);
    EXPECT_EQ(problems, std::vector<std::string>{"group b: DescribeGroups: GROUP_ID_NOT_FOUND"});

    // KIP-848 groups are described by ConsumerGroupDescribe, with the same rules.
    problems.clear();
    protocol::consumer_group_describe_response cgd;
    cgd.groups.resize(2);
    cgd.groups[0].group_id = "b";
    cgd.groups[0].members.resize(2);
    cgd.groups[1].group_id = "a";
    cgd.groups[1].error_code = 69;
    detail::apply_described(cgd, groups, problems);
    EXPECT_EQ(groups[1].members, 2);
    EXPECT_EQ(groups[0].members, 3);  // kept
    EXPECT_EQ(problems, std::vector<std::string>{"group a: ConsumerGroupDescribe: GROUP_ID_NOT_FOUND"});
}

TEST(kafka_reader, committed_offsets_of_several_groups_and_of_one_before_v8) {
    auto groups = two_groups();
    std::vector<std::string> problems;
    protocol::offset_fetch_response v8;
    v8.groups.resize(3);
    v8.groups[0].group_id = "a";
    v8.groups[0].topics.resize(1);
    v8.groups[0].topics[0].name = "t";
    v8.groups[0].topics[0].partitions.resize(3);
    for (int32_t p = 0; p < 3; ++p) {
        v8.groups[0].topics[0].partitions[size_t(p)].partition_index = p;
        v8.groups[0].topics[0].partitions[size_t(p)].committed_offset = p == 1 ? -1 : 10 + p;
    }
    v8.groups[0].topics[0].partitions[2].error_code = 3;  // UNKNOWN_TOPIC_OR_PARTITION
    v8.groups[1].group_id = "b";
    v8.groups[1].error_code = 16;  // NOT_COORDINATOR: moved since ListGroups
    v8.groups[2].group_id = "not-asked";
    auto read = detail::apply_committed(v8, 8, "", groups, problems);
    EXPECT_EQ(read, std::vector<std::string>{"a"});
    EXPECT_EQ(groups[0].offsets, (std::vector<lag::committed_offset>{{"t", 0, 10}, {"t", 1, -1}}));
    EXPECT_EQ(problems, (std::vector<std::string>{"group a t[2]: OffsetFetch: UNKNOWN_TOPIC_OR_PARTITION",
                                                  "group b: OffsetFetch: NOT_COORDINATOR"}));

    // Before v8 the answer is of the one group asked, with a top-level error code.
    problems.clear();
    protocol::offset_fetch_response v7;
    v7.topics.resize(1);
    v7.topics[0].name = "u";
    v7.topics[0].partitions.resize(1);
    v7.topics[0].partitions[0].committed_offset = 5;
    EXPECT_EQ(detail::apply_committed(v7, 7, "b", groups, problems), std::vector<std::string>{"b"});
    EXPECT_EQ(groups[1].offsets, (std::vector<lag::committed_offset>{{"u", 0, 5}}));
    v7.error_code = 14;
    EXPECT_TRUE(detail::apply_committed(v7, 7, "b", groups, problems).empty());
    EXPECT_EQ(problems, std::vector<std::string>{"group b: OffsetFetch: COORDINATOR_LOAD_IN_PROGRESS"});
}

namespace {

// The answers of one broker (id 1) coordinating a classic group, a KIP-848 group and a Dead
// one, and leading both partitions of topic t (ends 10 and 11); Metadata also lists
// `others`. Records the API keys asked, in order.
struct groups_broker {
    std::atomic<int> port{0};
    std::vector<protocol::metadata_response::metadata_response_broker> others;
    std::vector<int16_t> asked;
    int list_offsets_calls = 0;

    // A DescribeGroups or ConsumerGroupDescribe answer: group `id`, Stable, with `members`.
    template<typename Resp>
    static bytes described(const std::string& id, size_t members, int16_t version, int32_t corr) {
        Resp resp;
        resp.groups.resize(1);
        resp.groups[0].group_id = id;
        resp.groups[0].group_state = "Stable";
        resp.groups[0].members.resize(members);
        return framed(encode_response(resp, version, corr));
    }

    std::optional<bytes> answer(int16_t key, int32_t corr) {
        asked.push_back(key);
        switch (key) {
        case protocol::api_versions_key: {
            protocol::api_versions_response av;
            av.api_keys = {{1, 4, 12, {}}, {2, 0, 7, {}}, {3, 0, 12, {}}, {9, 0, 8, {}}, {15, 0, 5, {}}, {16, 0, 5, {}},
                           {69, 0, 0, {}}};
            return framed(encode_response(av, 0, corr));
        }
        case protocol::fetch_response::api_key: {
            // t[0] from offset 4 (the lowest commit) on: records 4..9 stamped 1000 + offset.
            protocol::batch_builder batch({.base_offset = 4});
            for (int64_t o = 4; o < 10; ++o) {
                batch.add("k", "v", 1000 + o);
            }
            protocol::fetch_response resp;
            auto& t = resp.responses.emplace_back();
            t.topic = "t";
            auto& p = t.partitions.emplace_back();
            p.high_watermark = 10;
            p.records = protocol::record_set{*batch.build(), {}};
            return framed(encode_response(resp, 12, corr));
        }
        case protocol::metadata_response::api_key: {
            auto md = sample_metadata();
            md.brokers = {{1, "127.0.0.1", port.load(), std::nullopt, {}}};
            md.brokers.insert(md.brokers.end(), others.begin(), others.end());
            md.topics.resize(1);
            for (auto& p : md.topics[0].partitions) {
                p.leader_id = 1;
            }
            return framed(encode_response(md, 12, corr));
        }
        case protocol::list_groups_response::api_key: {
            protocol::list_groups_response resp;
            resp.groups = {listed("classic", "classic", "Stable"), listed("new", "consumer", "Stable"),
                           listed("dead", "classic", "Dead")};
            return framed(encode_response(resp, 5, corr));
        }
        case protocol::describe_groups_response::api_key:
            return described<protocol::describe_groups_response>("classic", 2, 5, corr);
        case protocol::consumer_group_describe_response::api_key:
            return described<protocol::consumer_group_describe_response>("new", 3, 0, corr);
        case protocol::offset_fetch_response::api_key: {
            protocol::offset_fetch_response resp;
            for (auto [group, committed] : {std::pair{"classic", 4}, std::pair{"new", 9}}) {
                auto& g = resp.groups.emplace_back();
                g.group_id = group;
                auto& t = g.topics.emplace_back();
                t.name = "t";
                t.partitions.emplace_back().committed_offset = committed;  // partition 0
            }
            return framed(encode_response(resp, 8, corr));
        }
        case protocol::list_offsets_response::api_key: {
            bool oldest = list_offsets_calls++ == 0;  // earliest first, then latest
            protocol::list_offsets_response resp;
            auto& t = resp.topics.emplace_back();
            t.name = "t";
            for (int32_t p = 0; p < 2; ++p) {
                auto& lp = t.partitions.emplace_back();
                lp.partition_index = p;
                lp.offset = oldest ? 0 : 10 + p;
            }
            return framed(encode_response(resp, 7, corr));
        }
        }
        return std::nullopt;
    }

    // read_cluster against it: the bootstrap connection, then one to broker 1 for the rest.
    result<cluster_view> read(const read_options& o, std::string& why, const timestamp_cache* known = nullptr) {
        fake_broker b([this](int16_t key, int32_t corr) { return answer(key, corr); }, 2);
        port = std::stoi(b.address().substr(b.address().rfind(':') + 1));
        return read_cluster(b.address(), o, &why, known);
    }
};

const std::vector<group_info> fake_groups = {
    {"classic", 1, "consumer", "classic", "Stable", 2, {{"t", 0, 4}}},
    {"new", 1, "consumer", "consumer", "Stable", 3, {{"t", 0, 9}}},  // by ConsumerGroupDescribe
};

} // namespace

TEST(kafka_reader, reads_every_groups_commits_before_any_end) {
    groups_broker fake;
    std::string why;
    auto view = fake.read({}, why);
    ASSERT_TRUE(view) << why;
    EXPECT_EQ(view->problems, std::vector<std::string>{});
    const auto md = protocol::metadata_response::api_key, lg = protocol::list_groups_response::api_key,
               dg = protocol::describe_groups_response::api_key, of = protocol::offset_fetch_response::api_key,
               lo = protocol::list_offsets_response::api_key, f = protocol::fetch_response::api_key,
               cgd = protocol::consumer_group_describe_response::api_key;
    // Commits first, ends after: lag is never negative. Then one Fetch per commit behind the
    // end of t[0] (4 and 9), for the age of the record each group reads next.
    EXPECT_EQ(fake.asked, (std::vector<int16_t>{protocol::api_versions_key, md, lg, dg, cgd, of, lo, lo, f, f}));
    EXPECT_EQ(view->groups, fake_groups);
    ASSERT_EQ(view->partitions.size(), 2u);
    EXPECT_EQ(view->partitions[1].current_offset, 11);
    EXPECT_TRUE(view->timestamps_read);
    EXPECT_EQ(view->partitions[0].next_timestamp_ms, (std::map<int64_t, int64_t>{{4, 1004}, {9, 1009}}));
    EXPECT_GT(view->read_at_ms, 0);

    // The next read fetches only timestamps it does not know yet.
    auto known = timestamps_of(*view);
    EXPECT_EQ(known, (timestamp_cache{{{{"t", 0}, 4}, 1004}, {{{"t", 0}, 9}, 1009}}));
    known.erase({{"t", 0}, 9});
    groups_broker again;
    auto second = again.read({}, why, &known);
    ASSERT_TRUE(second) << why;
    EXPECT_EQ(again.asked, (std::vector<int16_t>{protocol::api_versions_key, md, lg, dg, cgd, of, lo, lo, f}));
    EXPECT_EQ(second->partitions[0].next_timestamp_ms, view->partitions[0].next_timestamp_ms);

    // Without timestamps: no Fetch.
    groups_broker plain;
    read_options o;
    o.timestamps = false;
    auto third = plain.read(o, why);
    ASSERT_TRUE(third) << why;
    EXPECT_EQ(plain.asked, (std::vector<int16_t>{protocol::api_versions_key, md, lg, dg, cgd, of, lo, lo}));
    EXPECT_FALSE(third->timestamps_read);
}

TEST(kafka_reader, a_silent_broker_costs_one_request_timeout_not_the_whole_read) {
    // Broker 2 accepts connections (the kernel completes them) and never answers.
    boost::asio::io_context ctx;
    boost::asio::ip::tcp::acceptor silent(ctx, {boost::asio::ip::make_address("127.0.0.1"), 0});
    groups_broker fake;
    fake.others = {{2, "127.0.0.1", silent.local_endpoint().port(), std::nullopt, {}}};
    read_options o;
    o.timeout = std::chrono::milliseconds(20000);
    o.request_timeout = std::chrono::milliseconds(300);
    std::string why;
    auto view = fake.read(o, why);
    ASSERT_TRUE(view) << why;
    // Broker 1's groups and ends were read after broker 2 timed out.
    EXPECT_EQ(view->groups, fake_groups);
    EXPECT_EQ(view->partitions[1].current_offset, 11);
    EXPECT_EQ(view->problems, std::vector<std::string>{"broker 2: ListGroups v5: timed out"});
}

TEST(kafka_reader, groups_take_at_most_half_the_read_so_the_ends_are_read) {
    // Broker 0, first in line for ListGroups, accepts and never answers, and requests may
    // last longer than the whole read: the groups step still ends halfway, and broker 1's
    // ends are read.
    boost::asio::io_context ctx;
    boost::asio::ip::tcp::acceptor silent(ctx, {boost::asio::ip::make_address("127.0.0.1"), 0});
    groups_broker fake;
    fake.others = {{0, "127.0.0.1", silent.local_endpoint().port(), std::nullopt, {}}};
    read_options o;
    o.timeout = std::chrono::milliseconds(3000);
    o.request_timeout = std::chrono::milliseconds(60000);
    std::string why;
    auto view = fake.read(o, why);
    ASSERT_TRUE(view) << why;
    EXPECT_EQ(view->partitions[0].current_offset, 10);
    EXPECT_EQ(view->partitions[1].current_offset, 11);
    EXPECT_TRUE(view->groups.empty());
    EXPECT_EQ(view->problems, (std::vector<std::string>{
                                  "broker 0: ListGroups v5: timed out",
                                  "broker 1: consumer groups: half the read's time spent, the rest left out"}));
}
