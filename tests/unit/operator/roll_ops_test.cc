// kafka_roll_ops (controller/roll_ops.h) against a scripted loopback broker
// (tests/fakes/kafka_fake_broker.h): partitions with their topic's min.insync.replicas, the
// cluster's dynamic broker defaults, IncrementalAlterConfigs errors, DescribeQuorum, and an
// address that does not answer.
#include "operator/controller/roll_ops.h"

#include "protocol/messages/api_versions.h"
#include "protocol/messages/describe_configs.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/incremental_alter_configs.h"
#include "protocol/messages/metadata.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;

// ApiVersions (net::kafka_client asks v3): Metadata up to v8, DescribeConfigs and
// IncrementalAlterConfigs in full.
bytes api_versions(int32_t cid) {
    protocol::api_versions_response av;
    av.api_keys = {{protocol::metadata_request::api_key, 0, 8, {}},
                   {protocol::describe_configs_request::api_key, 0, 4, {}},
                   {protocol::incremental_alter_configs_request::api_key, 0, 1, {}}};
    return fakes::framed(fakes::encode_response(av, 3, cid));
}

TEST(kafka_roll_ops, partitions_come_with_their_topics_min_insync_replicas) {
    fakes::kafka_fake_broker broker([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        if (key == protocol::api_versions_request::api_key) {
            return api_versions(cid);
        }
        if (key == protocol::metadata_request::api_key) {
            protocol::metadata_response md;
            for (const char* name : {"a", "b"}) {
                auto& t = md.topics.emplace_back();
                t.name = name;
                auto& p = t.partitions.emplace_back();
                p.partition_index = 0;
                p.replica_nodes = {0, 1, 2};
                p.isr_nodes = {0, 2};
            }
            return fakes::framed(fakes::encode_response(md, 8, cid));
        }
        protocol::describe_configs_response dc;
        auto& r = dc.results.emplace_back();
        r.resource_type = 2;
        r.resource_name = "a";
        auto& c = r.configs.emplace_back();
        c.name = "min.insync.replicas";
        c.value = "2";
        auto& gone = dc.results.emplace_back();  // deleted meanwhile: keeps 1
        gone.resource_type = 2;
        gone.resource_name = "b";
        gone.error_code = 3;
        return fakes::framed(fakes::encode_response(dc, 4, cid));
    });
    kafka_roll_ops ops({.timeout = 5s});
    std::string why;
    auto parts = ops.partitions({broker.address()}, why);
    ASSERT_TRUE(parts) << why;
    ASSERT_EQ(parts->size(), 2u);
    EXPECT_EQ((*parts)[0].name(), "a-0");
    EXPECT_EQ((*parts)[0].isr, (std::vector<int32_t>{0, 2}));
    EXPECT_EQ((*parts)[0].min_isr, 2);
    EXPECT_EQ((*parts)[1].min_isr, 1);
}

TEST(kafka_roll_ops, dynamic_defaults_are_the_synonyms_of_the_cluster_default_and_a_refusal_says_why) {
    fakes::kafka_fake_broker broker([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        if (key == protocol::api_versions_request::api_key) {
            return api_versions(cid);
        }
        if (key == protocol::describe_configs_request::api_key) {
            protocol::describe_configs_response dc;
            auto& r = dc.results.emplace_back();
            r.resource_type = 4;
            auto& c = r.configs.emplace_back();
            c.name = "log.retention.ms";
            c.value = "5";  // this broker's own (source 2) wins; the default is below it
            c.synonyms = {{"log.retention.ms", "5", 2, {}}, {"log.retention.ms", "7", 3, {}},
                          {"log.retention.ms", "9", 4, {}}};
            auto& s = r.configs.emplace_back();
            s.name = "num.io.threads";
            s.value = "8";
            s.synonyms = {{"num.io.threads", "8", 4, {}}};
            return fakes::framed(fakes::encode_response(dc, 4, cid));
        }
        protocol::incremental_alter_configs_response ia;
        auto& r = ia.responses.emplace_back();
        r.resource_type = 4;
        r.error_code = 40;  // INVALID_CONFIG
        r.error_message = "bad value";
        return fakes::framed(fakes::encode_response(ia, 1, cid));
    });
    kafka_roll_ops ops({.timeout = 5s});
    std::string why;
    auto d = ops.dynamic_defaults({broker.address()}, why);
    ASSERT_TRUE(d) << why;
    EXPECT_EQ(*d, (std::map<std::string, std::string>{{"log.retention.ms", "7"}}));
    dynamic_config_change c;
    c.set["log.retention.ms"] = "x";
    EXPECT_FALSE(ops.alter_dynamic_defaults({broker.address()}, c, why));
    EXPECT_EQ(why, "IncrementalAlterConfigs: INVALID_CONFIG: bad value");
}

TEST(kafka_roll_ops, the_quorum_from_describe_quorum_and_no_answer_is_nullopt_with_the_reason) {
    fakes::kafka_fake_broker coordinator([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        // No ApiVersions first; the request inside the coordinators' envelope.
        EXPECT_EQ(key, protocol::coordinator_admin_request::api_key);
        protocol::describe_quorum_response q;
        auto& t = q.topics.emplace_back();
        t.topic_name = "__cluster_metadata";
        auto& p = t.partitions.emplace_back();
        p.leader_id = 1001;
        p.high_watermark = 42;
        p.current_voters = {{1000, {}, 42, -1, -1, {}}, {1001, {}, 42, -1, -1, {}}, {1002, {}, 30, -1, -1, {}}};
        protocol::writer w;
        q.encode(w, 2);
        protocol::coordinator_admin_response env;
        env.body = w.take();
        return fakes::framed(fakes::encode_response(env, 0, cid));
    });
    kafka_roll_ops ops({.timeout = 2s});
    std::string why;
    const auto dead = fakes::dead_address();
    auto q = ops.quorum({dead, coordinator.address()}, why);  // the first does not answer
    ASSERT_TRUE(q) << why;
    EXPECT_EQ(q->leader_id, 1001);
    EXPECT_EQ(q->high_watermark, 42);
    EXPECT_EQ(q->voter_log_end.at(1002), 30);
    EXPECT_FALSE(ops.quorum({dead}, why));
    EXPECT_NE(why.find(dead + ": DescribeQuorum"), std::string::npos) << why;
}

} // namespace
} // namespace trib::op::controller
