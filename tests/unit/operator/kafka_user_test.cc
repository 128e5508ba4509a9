#include "operator/api/kafka_user.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace trib::op::api {
namespace {

using json = web::json::value;

json user(const std::string& spec, const std::string& name = "alice", bool labelled = true) {
    return json::parse(R"({"metadata":{"name":")" + name + R"(","namespace":"ns","uid":"u1","generation":3)" +
                       (labelled ? R"(,"labels":{"tributary.io/cluster":"c"})" : "") + R"(},"spec":)" + spec + "}");
}

kafka_user parsed(const json& o) {
    std::vector<std::string> errors;
    auto u = parse_kafka_user(o, errors);
    EXPECT_TRUE(errors.empty()) << errors.front();
    return u;
}

bool has(const std::vector<std::string>& v, const std::string& part) {
    return std::any_of(v.begin(), v.end(), [&](const auto& s) { return s.find(part) != std::string::npos; });
}

TEST(kafka_user, an_empty_spec_is_a_user_authenticated_elsewhere_without_acls) {
    // Strimzi's shape: spec.authentication omitted, the operator makes no credentials (an OAuth
    // user, whose token's subject is its name).
    auto u = parsed(user("{}"));
    EXPECT_EQ(u.name, "alice");
    EXPECT_EQ(u.ns, "ns");
    EXPECT_EQ(u.cluster, "c");
    EXPECT_EQ(u.generation, 3);
    EXPECT_EQ(u.spec.authentication, no_authentication);
    // {} is what the CRD's earlier default stored for SCRAM users.
    EXPECT_EQ(parsed(user(R"({"authentication":{}})")).spec.authentication, "scram-sha-512");
    EXPECT_TRUE(u.spec.acls.empty());
    EXPECT_TRUE(validate(u).empty());
    EXPECT_EQ(principal(u), "User:alice");
    EXPECT_TRUE(acl_bindings(u).empty());
}

TEST(kafka_user, a_tls_user_is_its_certificate_subject) {
    auto u = parsed(user(R"({"authentication":{"type":"tls"}})"));
    EXPECT_TRUE(validate(u).empty());
    EXPECT_EQ(username(u), "CN=alice");
    EXPECT_EQ(principal(u), "User:CN=alice");
}

TEST(kafka_user, acls_get_defaults_and_one_binding_per_operation) {
    auto u = parsed(user(R"({"authorization":{"type":"simple","acls":[
        {"resource":{"type":"topic","name":"orders"},"operations":["Read","Describe","Read"]},
        {"resource":{"type":"group","name":"app-","patternType":"prefix"},"operations":["Read"],"type":"deny","host":"10.0.0.1"},
        {"resource":{"type":"cluster"},"operations":["IdempotentWrite"]}]}})"));
    ASSERT_TRUE(validate(u).empty()) << validate(u).front();
    ASSERT_EQ(u.spec.acls.size(), 3u);
    EXPECT_EQ(u.spec.acls[0].host, "*");
    EXPECT_EQ(u.spec.acls[0].type, "allow");
    EXPECT_EQ(u.spec.acls[0].pattern_type, "literal");
    EXPECT_EQ(u.spec.acls[2].resource_name, "kafka-cluster");
    auto b = acl_bindings(u);
    ASSERT_EQ(b.size(), 4u);  // Read twice is one binding
    using namespace security;
    EXPECT_EQ(describe(b[0]), "User:alice from * Allow Read on Topic:LITERAL:orders");
    EXPECT_EQ(describe(b[1]), "User:alice from * Allow Describe on Topic:LITERAL:orders");
    EXPECT_EQ(describe(b[2]), "User:alice from 10.0.0.1 Deny Read on Group:PREFIXED:app-");
    EXPECT_EQ(describe(b[3]), "User:alice from * Allow IdempotentWrite on Cluster:LITERAL:kafka-cluster");
    for (const auto& x : b) {
        EXPECT_FALSE(invalid_binding(x)) << describe(x);
    }
}

TEST(kafka_user, wrong_json_types_are_named_and_never_thrown) {
    std::vector<std::string> errors;
    auto u = parse_kafka_user(user(R"({"authentication":"tls","authorization":{"acls":[3,
        {"resource":{"type":7},"operations":"Read","host":false}]}})"),
                              errors);
    EXPECT_TRUE(has(errors, "spec.authentication must be an object"));
    EXPECT_TRUE(has(errors, "spec.authorization.acls[0] must be an object"));
    EXPECT_TRUE(has(errors, "spec.authorization.acls[1].resource.type must be a string"));
    EXPECT_TRUE(has(errors, "spec.authorization.acls[1].operations must be a list"));
    EXPECT_TRUE(has(errors, "spec.authorization.acls[1].host must be a string"));
    EXPECT_EQ(u.spec.authentication, no_authentication);
    std::vector<std::string> more;
    parse_kafka_user(json::parse(R"({"metadata":[],"spec":5})"), more);
    EXPECT_TRUE(has(more, "metadata must be an object"));
    EXPECT_TRUE(has(more, "spec must be an object"));
}

TEST(kafka_user, every_broken_rule_has_its_message) {
    auto u = parsed(user(R"({"authentication":{"type":"scram-sha-256"},"authorization":{"type":"opa","acls":[
        {"resource":{"type":"queue","name":"x"},"operations":["Read"]},
        {"resource":{"type":"cluster","name":"other"},"operations":["Alter"]},
        {"resource":{"type":"topic","patternType":"match"},"operations":[]},
        {"resource":{"type":"topic","name":"t"},"operations":["Fly"],"host":"","type":"maybe"}]}})",
                         "Bad_Name", false));
    auto v = validate(u);
    EXPECT_TRUE(has(v, "metadata.name 'Bad_Name'"));
    EXPECT_TRUE(has(v, "tributary.io/cluster: <cluster>"));
    EXPECT_TRUE(has(v, "spec.authentication.type must be scram-sha-512 or tls (not 'scram-sha-256')"));
    EXPECT_TRUE(has(v, "spec.authorization.type must be simple"));
    EXPECT_TRUE(has(v, "acls[0].resource.type must be one of cluster, group, topic, transactionalId (not 'queue')"));
    EXPECT_TRUE(has(v, "acls[1].resource.name of a cluster resource must be kafka-cluster (not 'other')"));
    EXPECT_TRUE(has(v, "acls[2].resource.name must not be empty"));
    EXPECT_TRUE(has(v, "acls[2].resource.patternType must be literal or prefix (not 'match')"));
    EXPECT_TRUE(has(v, "acls[2].operations must name at least one operation"));
    EXPECT_TRUE(has(v, "acls[3].operations: unknown operation 'Fly'"));
    EXPECT_TRUE(has(v, "acls[3].host must not be empty"));
    EXPECT_TRUE(has(v, "acls[3].type must be allow or deny (not 'maybe')"));
}

TEST(kafka_user, a_tls_name_must_fit_a_common_name) {
    auto u = parsed(user(R"({"authentication":{"type":"tls"}})", std::string(65, 'a')));
    EXPECT_TRUE(has(validate(u), "longer than 64 characters"));
    u.spec.authentication = "scram-sha-512";
    EXPECT_TRUE(validate(u).empty());
}

TEST(kafka_user, status_json_and_the_credential_secret_read_back) {
    kafka_user_status s{.observed_generation = 3, .username = "alice", .secret = "alice", .credential_secret_uid = "s1"};
    auto j = to_json(s);
    EXPECT_EQ(j.at("observedGeneration").as_integer(), 3);
    EXPECT_EQ(j.at("username").as_string(), "alice");
    EXPECT_EQ(j.at("secret").as_string(), "alice");
    auto o = user("{}");
    o["status"] = j;
    EXPECT_EQ(parsed(o).credential_secret_uid, "s1");
    EXPECT_FALSE(to_json(kafka_user_status{}).has_field("secret"));
}

} // namespace
} // namespace trib::op::api
