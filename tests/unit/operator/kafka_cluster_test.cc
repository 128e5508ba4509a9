// The KafkaCluster types: defaults as the CRD schema sets them, validation messages a user
// can act on, status JSON.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include "operator/api/kafka_cluster.h"


#include <algorithm>

namespace trib::op::api {
namespace {

using json = web::json::value;

kafka_cluster parse(const std::string& text, std::vector<std::string>* errors_out = nullptr) {
    std::vector<std::string> errors;
    auto c = parse_kafka_cluster(json::parse(text), errors);
    if (errors_out) {
        *errors_out = errors;
    } else {
        EXPECT_TRUE(errors.empty()) << errors.front();
    }
    return c;
}

bool mentions(const std::vector<std::string>& errors, const std::string& part) {
    return std::any_of(errors.begin(), errors.end(), [&](const auto& e) { return e.find(part) != std::string::npos; });
}

TEST(kafka_cluster, an_empty_spec_gets_the_crd_defaults) {
    auto c = parse(R"({"metadata": {"name": "k", "namespace": "ns", "uid": "u1", "generation": 4}, "spec": {}})");
    EXPECT_EQ(c.name, "k");
    EXPECT_EQ(c.ns, "ns");
    EXPECT_EQ(c.uid, "u1");
    EXPECT_EQ(c.generation, 4);
    EXPECT_FALSE(c.deleting);
    EXPECT_EQ(c.spec.coordinators.replicas, 1);
    EXPECT_EQ(c.spec.coordinators.storage.size, "1Gi");
    EXPECT_EQ(c.spec.brokers.replicas, 3);
    EXPECT_EQ(c.spec.brokers.storage.size, "10Gi");
    EXPECT_FALSE(c.spec.brokers.storage.delete_claim);
    EXPECT_FALSE(c.spec.brokers.storage.storage_class);
    ASSERT_EQ(c.spec.listeners.size(), 1u);
    EXPECT_EQ(c.spec.listeners[0].name, "plain");
    EXPECT_EQ(c.spec.listeners[0].port, 9092);
    EXPECT_EQ(c.spec.listeners[0].type, listener_type::internal);
    EXPECT_TRUE(c.spec.metrics_enabled);
    EXPECT_TRUE(validate(c.spec).empty());
}

TEST(kafka_cluster, a_full_spec_is_read) {
    auto c = parse(R"({"metadata": {"name": "k", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z",
                                    "finalizers": ["tributary.io/cleanup"]},
        "spec": {"image": "reg:5000/x:1", "version": "2",
                 "coordinators": {"replicas": 3, "storage": {"size": "2Gi", "class": "fast", "deleteClaim": true},
                                  "resources": {"requests": {"cpu": "100m"}}},
                 "brokers": {"replicas": 5, "storage": {"size": "20Gi"}, "rack": {"topologyKey": "zone"},
                             "config": {"num.partitions": "6", "log.retention.hours": 24}},
                 "listeners": [{"name": "ext", "port": 9094, "type": "nodeport", "advertisedHost": "{nodeIP}"},
                               {"name": "lb", "port": 9095, "type": "loadbalancer"}],
                 "metrics": {"enabled": false}}})");
    EXPECT_TRUE(c.deleting);
    EXPECT_EQ(c.finalizers, std::vector<std::string>{"tributary.io/cleanup"});
    EXPECT_EQ(*c.spec.image, "reg:5000/x:1");
    EXPECT_EQ(c.spec.coordinators.replicas, 3);
    EXPECT_EQ(*c.spec.coordinators.storage.storage_class, "fast");
    EXPECT_TRUE(c.spec.coordinators.storage.delete_claim);
    EXPECT_EQ(c.spec.coordinators.resources.at("requests").at("cpu").as_string(), "100m");
    EXPECT_EQ(c.spec.brokers.replicas, 5);
    EXPECT_EQ(*c.spec.brokers.rack_topology_key, "zone");
    EXPECT_EQ(c.spec.brokers.config.at("num.partitions"), "6");
    EXPECT_EQ(c.spec.brokers.config.at("log.retention.hours"), "24");  // a YAML number, as text
    ASSERT_EQ(c.spec.listeners.size(), 2u);
    EXPECT_EQ(c.spec.listeners[0].type, listener_type::nodeport);
    EXPECT_EQ(c.spec.listeners[0].kafka_name(), "EXT");
    EXPECT_EQ(*c.spec.listeners[0].advertised_host, "{nodeIP}");
    EXPECT_EQ(c.spec.listeners[1].type, listener_type::loadbalancer);
    EXPECT_EQ(c.spec.listeners[1].port, 9095);
    EXPECT_FALSE(c.spec.metrics_enabled);
}

TEST(kafka_cluster, fields_of_the_wrong_type_are_named_not_thrown) {
    std::vector<std::string> errors;
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {"brokers": {"replicas": "three"}, "listeners": 5}})",
                   &errors);
    EXPECT_TRUE(mentions(errors, "spec.brokers.replicas must be an integer"));
    EXPECT_TRUE(mentions(errors, "spec.listeners must be a list"));
    EXPECT_EQ(c.spec.brokers.replicas, 3);
}

TEST(kafka_cluster, validation_repeats_the_schema_rules_with_readable_messages) {
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {
        "coordinators": {"replicas": 2},
        "brokers": {"replicas": 0, "storage": {"size": "lots"}, "config": {"node.id": "1", "controller.quorum.voters": "x"}},
        "listeners": [{"name": "Plain", "port": 9092}, {"name": "replication", "port": 9091},
                      {"name": "a", "port": 80}, {"name": "b", "port": 9100, "tls": true},
                      {"name": "c", "port": 9100, "advertisedHost": "{pod}.x"}]}})");
    auto errors = validate(c.spec);
    EXPECT_TRUE(mentions(errors, "spec.coordinators.replicas must be 1, 3 or 5, not 2"));
    EXPECT_TRUE(mentions(errors, "spec.brokers.replicas must be at least 1"));
    EXPECT_TRUE(mentions(errors, "spec.brokers.storage.size 'lots' is not a quantity"));
    EXPECT_TRUE(mentions(errors, "spec.brokers.config.node.id: node.id, broker.id, listeners"));
    EXPECT_TRUE(mentions(errors, "spec.brokers.config.controller.quorum.voters"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[0].name 'Plain'"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[1].name 'replication'"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[1].port 9091 is reserved"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[2].port 80 is outside 1024..65535"));
    EXPECT_FALSE(mentions(errors, "spec.listeners[3]")) << "tls: true is valid";
    EXPECT_TRUE(mentions(errors, "spec.listeners[4].port 9100 is used by another listener"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[4].advertisedHost: unknown token {pod}"));
}

TEST(kafka_cluster, listener_authentication_and_authorization_are_read_and_checked) {
    std::vector<std::string> errors;
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {
        "listeners": [{"name": "scram", "port": 9094, "authentication": {"type": "scram-sha-512"}},
                      {"name": "mtls", "port": 9095, "tls": true, "authentication": {"type": "tls"}},
                      {"name": "open", "port": 9096}],
        "authorization": {"type": "simple", "superUsers": ["User:admin"]}}})",
                   &errors);
    EXPECT_TRUE(errors.empty());
    ASSERT_EQ(c.spec.listeners.size(), 3u);
    EXPECT_EQ(c.spec.listeners[0].authentication, listener_auth::scram_sha_512);
    EXPECT_EQ(c.spec.listeners[1].authentication, listener_auth::tls);
    EXPECT_EQ(c.spec.listeners[2].authentication, listener_auth::none);
    ASSERT_TRUE(c.spec.authorization);
    EXPECT_EQ(c.spec.authorization->super_users, std::vector<std::string>{"User:admin"});
    EXPECT_TRUE(validate(c.spec).empty());
    EXPECT_FALSE(parse(R"({"metadata": {"name": "k"}, "spec": {}})").spec.authorization) << "absent: no ACLs";

    errors.clear();
    parse(R"({"metadata": {"name": "k"}, "spec": {
        "listeners": [{"name": "o", "port": 9094, "authentication": {"type": "oauth"}},
                      {"name": "g", "port": 9095, "authentication": {"type": "gssapi"}}],
        "authorization": {"type": "opa", "superUsers": "User:admin"}}})",
          &errors);
    EXPECT_FALSE(mentions(errors, "spec.listeners[0]"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[1].authentication.type must be scram-sha-512, tls or oauth (not "
                                 "'gssapi')"));
    EXPECT_TRUE(mentions(errors, "spec.authorization.type must be simple (not 'opa')"));
    EXPECT_TRUE(mentions(errors, "spec.authorization.superUsers must be a list"));

    auto bad = parse(R"({"metadata": {"name": "k"}, "spec": {
        "listeners": [{"name": "mtls", "port": 9095, "authentication": {"type": "tls"}}],
        "authorization": {"superUsers": ["admin", "User:a;User:b"]},
        "brokers": {"config": {"super.users": "User:x", "authorizer.class.name": "x",
                               "listener.name.mtls.ssl.client.auth": "none",
                               "listener.name.mtls.ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"}}}})");
    auto v = validate(bad.spec);
    EXPECT_TRUE(mentions(v, "spec.listeners[0].authentication.type tls needs tls: true"));
    EXPECT_TRUE(mentions(v, "spec.authorization.superUsers[0] 'admin' must be a principal"));
    EXPECT_TRUE(mentions(v, "spec.authorization.superUsers[1] 'User:a;User:b' must be a principal"));
    EXPECT_TRUE(mentions(v, "spec.brokers.config.super.users:"));
    EXPECT_TRUE(mentions(v, "spec.brokers.config.authorizer.class.name:"));
    EXPECT_TRUE(mentions(v, "spec.brokers.config.listener.name.mtls.ssl.client.auth:"));
    EXPECT_FALSE(mentions(v, "cipher.suites")) << "per-listener keys the operator does not set are the user's";
}

TEST(kafka_cluster, an_oauth_listener_names_its_jwks_and_token_rules) {
    std::vector<std::string> errors;
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": [
        {"name": "oauth", "port": 9094, "tls": true, "authentication": {"type": "oauth",
         "jwksConfigMap": {"name": "idp-keys", "key": "keys.json"}, "validIssuer": "https://idp",
         "audience": ["kafka", "kafka2"], "userNameClaim": "preferred_username"}},
        {"name": "dflt", "port": 9095, "authentication": {"type": "oauth", "jwksConfigMap": {"name": "idp-keys"}}}]}})",
                   &errors);
    EXPECT_TRUE(errors.empty());
    const auto& o = c.spec.listeners[0].oauth;
    EXPECT_EQ(c.spec.listeners[0].authentication, listener_auth::oauth);
    EXPECT_EQ(o.jwks_config_map, "idp-keys");
    EXPECT_FALSE(o.jwks_endpoint_uri);
    EXPECT_EQ(o.jwks_key, "keys.json");
    EXPECT_EQ(o.valid_issuer, "https://idp");
    EXPECT_EQ(o.audience, (std::vector<std::string>{"kafka", "kafka2"}));
    EXPECT_EQ(o.user_name_claim, "preferred_username");
    const auto& d = c.spec.listeners[1].oauth;
    EXPECT_EQ(d.jwks_key, "jwks.json");
    EXPECT_EQ(d.user_name_claim, "sub");
    EXPECT_FALSE(d.valid_issuer);
    auto v = validate(c.spec);
    EXPECT_TRUE(mentions(v, "spec.listeners[1].authentication: one listener may use oauth"));
    EXPECT_FALSE(mentions(v, "spec.listeners[0]"));

    auto bad = parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": [
        {"name": "oauth", "port": 9094, "authentication": {"type": "oauth", "userNameClaim": ""}}],
        "brokers": {"config": {"sasl.oauthbearer.expected.issuer": "x", "sasl.oauthbearer.clock.skew.seconds": "5",
                               "listener.name.oauth.oauthbearer.sasl.jaas.config": "x"}}}})");
    auto bv = validate(bad.spec);
    EXPECT_TRUE(mentions(bv, "spec.listeners[0].authentication needs exactly one of jwksEndpointUri"));
    EXPECT_TRUE(mentions(bv, "spec.listeners[0].authentication.userNameClaim must name a claim"));
    EXPECT_TRUE(mentions(bv, "spec.brokers.config.sasl.oauthbearer.expected.issuer:"));
    EXPECT_TRUE(mentions(bv, "spec.brokers.config.listener.name.oauth.oauthbearer.sasl.jaas.config:"));
    EXPECT_FALSE(mentions(bv, "clock.skew")) << "token rules the operator does not set are the user's";
}

TEST(kafka_cluster, an_oauth_listener_may_fetch_the_jwks_from_the_identity_providers_endpoint) {
    std::vector<std::string> errors;
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": [
        {"name": "sso", "port": 9094, "tls": true, "authentication": {"type": "oauth",
         "jwksEndpointUri": "https://idp.example:8443/realms/r/protocol/openid-connect/certs",
         "jwksRefreshSeconds": 300, "jwksMinRefreshPauseSeconds": 1, "jwksRetryBackoffMaxSeconds": 20,
         "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.crt"}]}}]}})",
                   &errors);
    EXPECT_TRUE(errors.empty()) << errors.front();
    const auto& o = c.spec.listeners[0].oauth;
    EXPECT_EQ(o.jwks_endpoint_uri, "https://idp.example:8443/realms/r/protocol/openid-connect/certs");
    EXPECT_FALSE(o.jwks_config_map);
    EXPECT_EQ(o.jwks_refresh_seconds, 300);
    EXPECT_EQ(o.jwks_min_refresh_pause_seconds, 1);
    EXPECT_EQ(o.jwks_retry_backoff_max_seconds, 20);
    ASSERT_EQ(o.tls_trusted_certificates.size(), 1u);
    EXPECT_EQ(o.tls_trusted_certificates[0].secret_name, "idp-ca");
    EXPECT_EQ(o.tls_trusted_certificates[0].certificate, "ca.crt");
    EXPECT_TRUE(validate(c.spec).empty()) << validate(c.spec).front();

    auto plain_http = parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": [
        {"name": "sso", "port": 9094, "authentication": {"type": "oauth", "jwksEndpointUri": "http://127.0.0.1:8080/jwks"}}]}})");
    EXPECT_TRUE(validate(plain_http.spec).empty()) << validate(plain_http.spec).front();
}

TEST(kafka_cluster, an_oauth_listener_takes_its_keys_from_one_place_and_trusts_cas_only_over_https) {
    auto check = [](const std::string& auth, const std::string& config = "{}") {
        return validate(parse(R"({"metadata": {"name": "k"}, "spec": {"brokers": {"config": )" + config +
                              R"(}, "listeners": [{"name": "sso", "port": 9094, "authentication": {"type": "oauth", )" +
                              auth + "}}]}}")
                            .spec);
    };
    const std::string both = "exactly one of jwksEndpointUri (the identity provider's JWKS endpoint) and jwksConfigMap";
    EXPECT_TRUE(mentions(check(R"("jwksEndpointUri": "https://idp/certs", "jwksConfigMap": {"name": "keys"})"), both));
    EXPECT_TRUE(mentions(check(R"("userNameClaim": "sub")"), both));
    for (const char* uri : {"ftp://idp/certs", "https://", "https://idp/a b", "file:/etc/jwks.json", "idp/certs"}) {
        EXPECT_TRUE(mentions(check(std::string(R"("jwksEndpointUri": ")") + uri + "\""),
                             "spec.listeners[0].authentication.jwksEndpointUri '" + std::string(uri) +
                                 "' must be an https:// or http:// URL"))
            << uri;
    }
    auto v = check(R"("jwksEndpointUri": "https://idp/certs", "jwksRefreshSeconds": 0, "jwksMinRefreshPauseSeconds": -1,
        "tlsTrustedCertificates": [{"secretName": "Bad_Name", "certificate": "ca.crt"}, {"secretName": "b", "certificate": "a b"}])");
    EXPECT_TRUE(mentions(v, "spec.listeners[0].authentication.jwksRefreshSeconds must be at least 1, not 0"));
    EXPECT_TRUE(mentions(v, "spec.listeners[0].authentication.jwksMinRefreshPauseSeconds must be at least 1, not -1"));
    EXPECT_TRUE(mentions(v, "tlsTrustedCertificates takes one entry"));
    EXPECT_TRUE(mentions(v, "tlsTrustedCertificates[0].secretName 'Bad_Name' must name a Secret"));
    EXPECT_TRUE(mentions(v, "tlsTrustedCertificates[1].certificate 'a b' is not a Secret key"));

    // A file is not fetched: no backoff, no CA; its refresh (how often it is looked at) applies.
    auto file = check(R"("jwksConfigMap": {"name": "keys"}, "jwksRefreshSeconds": 60, "jwksRetryBackoffMaxSeconds": 5,
        "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.crt"}])");
    EXPECT_FALSE(mentions(file, "jwksRefreshSeconds"));
    EXPECT_TRUE(mentions(file, "jwksRetryBackoffMaxSeconds applies to jwksEndpointUri"));
    EXPECT_TRUE(mentions(file, "tlsTrustedCertificates applies to an https:// jwksEndpointUri"));
    EXPECT_TRUE(mentions(check(R"("jwksEndpointUri": "http://idp/certs",
        "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.crt"}])"),
                         "tlsTrustedCertificates applies to an https:// jwksEndpointUri"));

    // The broker's keys for what a field sets are the field's; untouched fields leave them the user's.
    auto twice = check(R"("jwksEndpointUri": "https://idp/certs", "jwksRefreshSeconds": 60)",
                       R"({"sasl.oauthbearer.jwks.endpoint.refresh.ms": "1000",
                           "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms": "50"})");
    EXPECT_TRUE(mentions(twice, "spec.brokers.config.sasl.oauthbearer.jwks.endpoint.refresh.ms and "
                                "spec.listeners[0].authentication.jwksRefreshSeconds set the same thing"));
    EXPECT_FALSE(mentions(twice, "retry.backoff.ms"));

    std::vector<std::string> errors;
    parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": [{"name": "sso", "port": 9094, "authentication": {
        "type": "oauth", "jwksEndpointUri": 7, "jwksRefreshSeconds": "60", "tlsTrustedCertificates": {"secretName": "x"}}}]}})",
          &errors);
    EXPECT_TRUE(mentions(errors, "spec.listeners[0].authentication.jwksEndpointUri must be a string"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[0].authentication.jwksRefreshSeconds must be an integer"));
    EXPECT_TRUE(mentions(errors, "spec.listeners[0].authentication.tlsTrustedCertificates must be a list"));
}

TEST(kafka_cluster, an_explicitly_empty_listener_list_is_invalid) {
    auto c = parse(R"({"metadata": {"name": "k"}, "spec": {"listeners": []}})");
    EXPECT_TRUE(mentions(validate(c.spec), "spec.listeners needs at least one listener"));
}

TEST(kafka_cluster, status_names_its_fields_as_the_crd) {
    kafka_cluster_status s;
    s.observed_generation = 3;
    s.replicas = 2;
    s.selector = "a=b";
    s.cluster_id = "id";
    s.brokers.push_back({0, "k-broker-0", "Running", "z1", {{"plain", "h", 9092}}, 0, "", false});
    s.brokers.push_back({1, "k-broker-1", "NotReady", "z2", {}, 3, "exit code 1 (Error): halted", true});
    s.listeners.push_back({"plain", "internal", "k-bootstrap.ns.svc:9092"});
    s.coordinator_replicas = 1;
    s.coordinators_ready = 1;
    json j = to_json(s);
    EXPECT_EQ(j.at("observedGeneration").as_integer(), 3);
    EXPECT_EQ(j.at("replicas").as_integer(), 2);
    EXPECT_EQ(j.at("selector").as_string(), "a=b");
    EXPECT_EQ(j.at("clusterId").as_string(), "id");
    EXPECT_EQ(j.at("brokers").at(0).at("addresses").at(0).at("port").as_integer(), 9092);
    EXPECT_EQ(j.at("brokers").at(0).at("rack").as_string(), "z1");
    EXPECT_FALSE(j.at("brokers").at(0).has_field("restarts"));
    EXPECT_FALSE(j.at("brokers").at(0).has_field("lastTermination"));
    EXPECT_EQ(j.at("brokers").at(1).at("restarts").as_integer(), 3);
    EXPECT_EQ(j.at("brokers").at(1).at("lastTermination").as_string(), "exit code 1 (Error): halted");
    EXPECT_EQ(j.at("brokers").at(1).size(), 7u);  // crash_looping is for the conditions, not stored
    EXPECT_EQ(j.at("listeners").at(0).at("bootstrapServers").as_string(), "k-bootstrap.ns.svc:9092");
    EXPECT_EQ(j.at("coordinators").at("ready").as_integer(), 1);
}

} // namespace
} // namespace trib::op::api
