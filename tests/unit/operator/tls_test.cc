// Certificates for TLS listeners: the names a broker's certificate carries, and when the
// operator makes, keeps or renews the CA and the brokers' certificates.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include <set>

#include "operator/controller/config_maps.h"
#include "operator/controller/tls.h"
#include "operator/controller/workloads.h"

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;
const certs::time_point now = std::chrono::system_clock::from_time_t(1'800'000'000);

api::kafka_cluster cluster(const std::string& spec) {
    std::vector<std::string> errors;
    auto c = api::parse_kafka_cluster(
        json::parse(R"({"metadata": {"name": "k", "namespace": "ns", "uid": "u1"}, "spec": )" + spec + "}"), errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_TRUE(api::validate(c.spec).empty());
    return c;
}

TEST(tls_names, a_broker_certificate_names_its_pod_the_bootstrap_and_fixed_tls_hosts) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092},
        {"name": "secure", "port": 9095, "tls": true},
        {"name": "ext", "port": 9096, "type": "loadbalancer", "tls": true},
        {"name": "byip", "port": 9097, "tls": true, "advertisedHost": "{podIP}"},
        {"name": "plainext", "port": 9098, "type": "loadbalancer", "advertisedHost": "plain.example.com"}]})");
    build_context ctx{c, {}};
    EXPECT_TRUE(any_tls_listener(c.spec));
    std::vector<advertised_endpoint> eps = {
        {"plain", "PLAIN", "{podName}.k-broker.ns.svc.cluster.local", 9092, false},
        {"secure", "SECURE", "{podName}.k-broker.ns.svc.cluster.local", 9095, true},
        {"ext", "EXT", "203.0.113.7", 9096, true},
        {"byip", "BYIP", "{podIP}", 9097, true},
        {"plainext", "PLAINEXT", "plain.example.com", 9098, false},
    };
    auto r = broker_cert_names(ctx, 2, eps);
    EXPECT_EQ(r.common_name, "k-broker-2");
    EXPECT_EQ(r.dns_names, (std::vector<std::string>{"k-broker-2.k-broker.ns.svc.cluster.local",
                                                     "k-broker-2.k-broker.ns.svc", "k-bootstrap", "k-bootstrap.ns",
                                                     "k-bootstrap.ns.svc", "k-bootstrap.ns.svc.cluster.local"}));
    EXPECT_EQ(r.ip_addresses, std::vector<std::string>{"203.0.113.7"})
        << "a TLS listener's fixed address, not a plaintext one's, not one known only at run time";
    EXPECT_FALSE(any_tls_listener(cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})").spec));
}

TEST(tls_config, a_tls_listener_is_ssl_with_the_pods_keystore_and_the_secrets_mounted) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}, {"name": "secure", "port": 9095, "tls": true}]})");
    build_context ctx{c, {}};
    const std::string shared = broker_shared_properties(ctx, 1);
    EXPECT_NE(shared.find("listener.security.protocol.map=REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,SECURE:SSL\n"),
              std::string::npos)
        << shared;
    std::vector<advertised_endpoint> eps = {{"plain", "PLAIN", "h", 9092, false}, {"secure", "SECURE", "h", 9095, true}};
    const std::string pod = broker_pod_properties({0, eps, "", false});
    EXPECT_NE(pod.find("listener.name.secure.ssl.keystore.type=PEM\n"), std::string::npos) << pod;
    EXPECT_NE(pod.find("listener.name.secure.ssl.keystore.location=/etc/tributary-tls/broker/${env:POD_NAME}.pem\n"),
              std::string::npos)
        << pod;
    EXPECT_EQ(pod.find("listener.name.plain."), std::string::npos);

    auto sts = broker_stateful_set(ctx, 1, "hash", "", "k-broker-0=AB12");
    EXPECT_EQ(sts.at("spec").at("template").at("metadata").at("annotations").at(certificates_annotation).as_string(),
              "k-broker-0=AB12")
        << "a certificate issued again changes the pod template: the roll restarts the brokers";
    const auto& spec = sts.at("spec").at("template").at("spec");
    std::set<std::string> secrets, mounts;
    for (const auto& v : spec.at("volumes").as_array()) {
        if (v.has_object_field("secret")) {
            secrets.insert(v.at("secret").at("secretName").as_string());
        }
    }
    for (const auto& m : spec.at("containers").at(0).at("volumeMounts").as_array()) {
        mounts.insert(m.at("mountPath").as_string());
    }
    EXPECT_EQ(secrets, (std::set<std::string>{"k-broker-certs", "k-cluster-ca-cert"})) << "never the CA's key";
    EXPECT_TRUE(mounts.count(broker_certs_mount) && mounts.count(cluster_ca_mount));

    auto plain = cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    auto plain_sts = broker_stateful_set(build_context{plain, {}}, 1, "hash", "");
    EXPECT_EQ(plain_sts.at("spec").at("template").at("spec").at("volumes").size(), 1u) << "config only";
}

TEST(tls_config, listener_authentication_sets_the_protocol_the_mechanism_and_the_client_truststore) {
    auto c = cluster(R"({"listeners": [
        {"name": "plain", "port": 9092},
        {"name": "scram", "port": 9094, "authentication": {"type": "scram-sha-512"}},
        {"name": "scramtls", "port": 9095, "tls": true, "authentication": {"type": "scram-sha-512"}},
        {"name": "mtls", "port": 9096, "tls": true, "authentication": {"type": "tls"}}],
        "authorization": {"superUsers": ["User:admin", "User:CN=ops"]}})");
    build_context ctx{c, {}};
    const std::string shared = broker_shared_properties(ctx, 1);
    EXPECT_NE(shared.find("listener.security.protocol.map=REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,SCRAM:SASL_PLAINTEXT,"
                          "SCRAMTLS:SASL_SSL,MTLS:SSL\n"),
              std::string::npos)
        << shared;
    EXPECT_NE(shared.find("listener.name.scram.sasl.enabled.mechanisms=SCRAM-SHA-512\n"), std::string::npos);
    EXPECT_NE(shared.find("listener.name.scramtls.sasl.enabled.mechanisms=SCRAM-SHA-512\n"), std::string::npos);
    EXPECT_NE(shared.find("listener.name.mtls.ssl.client.auth=required\n"), std::string::npos);
    EXPECT_NE(shared.find("listener.name.mtls.ssl.truststore.type=PEM\n"), std::string::npos);
    EXPECT_NE(shared.find("listener.name.mtls.ssl.truststore.location=/etc/tributary-tls/clients-ca/ca.crt\n"),
              std::string::npos)
        << "the clients CA, not the cluster CA: a broker's certificate is no client's";
    EXPECT_EQ(shared.find("listener.name.plain."), std::string::npos);
    EXPECT_EQ(shared.find("listener.name.scramtls.ssl.client.auth"), std::string::npos);
    EXPECT_NE(shared.find("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"),
              std::string::npos);
    EXPECT_NE(shared.find("super.users=User:admin;User:CN=ops\n"), std::string::npos);

    auto sts = broker_stateful_set(ctx, 1, "hash", "", "");
    std::set<std::string> secrets;
    for (const auto& v : sts.at("spec").at("template").at("spec").at("volumes").as_array()) {
        if (v.has_object_field("secret")) {
            secrets.insert(v.at("secret").at("secretName").as_string());
        }
    }
    EXPECT_EQ(secrets, (std::set<std::string>{"k-broker-certs", "k-cluster-ca-cert", "k-clients-ca-cert"}))
        << "never a CA's key";
    EXPECT_TRUE(any_tls_authentication(c.spec));

    auto open = cluster(R"({"listeners": [{"name": "secure", "port": 9095, "tls": true}]})");
    const std::string open_shared = broker_shared_properties(build_context{open, {}}, 1);
    EXPECT_EQ(open_shared.find("authorizer.class.name"), std::string::npos) << "no spec.authorization: no ACLs";
    EXPECT_EQ(open_shared.find("super.users"), std::string::npos);
    EXPECT_FALSE(any_tls_authentication(open.spec));
}

TEST(tls_config, an_oauth_listener_checks_tokens_against_the_mounted_jwks) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092},
        {"name": "sso", "port": 9094, "tls": true, "authentication": {"type": "oauth",
         "jwksConfigMap": {"name": "idp-keys", "key": "keys.json"}, "validIssuer": "https://idp",
         "audience": ["kafka", "ops"], "userNameClaim": "client_id"}}]})");
    build_context ctx{c, {}};
    const std::string shared = broker_shared_properties(ctx, 1);
    EXPECT_NE(shared.find("listener.security.protocol.map=REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,SSO:SASL_SSL\n"),
              std::string::npos)
        << shared;
    for (const char* line : {"listener.name.sso.sasl.enabled.mechanisms=OAUTHBEARER\n",
                             "listener.name.sso.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common."
                             "security.oauthbearer.OAuthBearerValidatorCallbackHandler\n",
                             "sasl.oauthbearer.jwks.endpoint.url=file:/etc/tributary-oauth/jwks.json\n",
                             "sasl.oauthbearer.sub.claim.name=client_id\n",
                             "sasl.oauthbearer.expected.issuer=https://idp\n",
                             "sasl.oauthbearer.expected.audience=kafka,ops\n"}) {
        EXPECT_NE(shared.find(line), std::string::npos) << line << shared;
    }
    auto sts = broker_stateful_set(ctx, 1, "hash", "", "");
    const auto& spec = sts.at("spec").at("template").at("spec");
    std::optional<json> volume;
    for (const auto& v : spec.at("volumes").as_array()) {
        if (v.has_object_field("configMap") && v.at("configMap").at("name").as_string() == "idp-keys") {
            volume = v;
        }
    }
    ASSERT_TRUE(volume) << spec.at("volumes").serialize();
    EXPECT_EQ(volume->at("configMap").at("items").at(0).at("key").as_string(), "keys.json");
    EXPECT_EQ(volume->at("configMap").at("items").at(0).at("path").as_string(), "jwks.json");
    bool mounted = false;
    for (const auto& m : spec.at("containers").at(0).at("volumeMounts").as_array()) {
        mounted |= m.at("mountPath").as_string() == "/etc/tributary-oauth";
    }
    EXPECT_TRUE(mounted);

    auto plain = cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    const std::string plain_shared = broker_shared_properties(build_context{plain, {}}, 1);
    EXPECT_EQ(plain_shared.find("oauthbearer"), std::string::npos);
}

certs::leaf_request names(const std::string& pod) {
    return {pod, {pod + ".k-broker.ns.svc"}, {}};
}

TEST(tls_plan, the_first_pass_makes_a_ca_and_a_certificate_per_broker) {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}, {"k-broker-1", names("k-broker-1")}};
    auto p = decide_certificates(f);
    ASSERT_FALSE(p.invalid);
    EXPECT_TRUE(p.ca_created);
    EXPECT_EQ(p.ca_not_after, now + ca_validity);
    ASSERT_EQ(p.brokers.size(), 2u);
    EXPECT_EQ(p.issued, (std::vector<std::string>{"k-broker-0 (new)", "k-broker-1 (new)"}));
    const auto& pem = p.brokers.at("k-broker-1.pem");
    EXPECT_EQ(pem.find("-----BEGIN PRIVATE KEY-----"), 0u) << "key first, then the chain";
    EXPECT_TRUE(certs::matches({pem, pem}));
    EXPECT_TRUE(certs::verify(pem, p.ca.cert_pem, now));
    auto facts = certs::inspect(pem);
    ASSERT_TRUE(facts);
    EXPECT_EQ(facts->subject_cn, "k-broker-1");
    EXPECT_EQ(facts->dns_names, std::vector<std::string>{"k-broker-1.k-broker.ns.svc"});
    EXPECT_EQ(facts->not_after, now + broker_cert_validity);
    EXPECT_NE(pem.find(p.ca.cert_pem), std::string::npos) << "the chain ends with the CA";
}

TEST(tls_plan, certificates_are_kept_until_near_expiry_or_a_change_of_names) {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}, {"k-broker-1", names("k-broker-1")}};
    auto first = decide_certificates(f);
    f.ca = first.ca;
    f.brokers = first.brokers;

    auto same = decide_certificates(f);
    EXPECT_FALSE(same.ca_created);
    EXPECT_TRUE(same.issued.empty());
    EXPECT_EQ(same.brokers, first.brokers);

    f.now = now + broker_cert_validity - renew_before + 1h;
    auto renewed = decide_certificates(f);
    ASSERT_EQ(renewed.issued.size(), 2u);
    EXPECT_EQ(renewed.issued[0].rfind("k-broker-0 (expires ", 0), 0u) << renewed.issued[0];
    EXPECT_NE(renewed.brokers.at("k-broker-0.pem"), first.brokers.at("k-broker-0.pem"));

    f.now = now;
    f.wanted["k-broker-1"].dns_names.push_back("kafka.example.com");
    auto renamed = decide_certificates(f);
    EXPECT_EQ(renamed.issued, std::vector<std::string>{"k-broker-1 (its names changed)"});
    EXPECT_EQ(renamed.brokers.at("k-broker-0.pem"), first.brokers.at("k-broker-0.pem"));

    const auto serials = certificate_serials(renamed.brokers);
    EXPECT_EQ(serials.rfind("k-broker-0=", 0), 0u) << serials;
    EXPECT_NE(serials, certificate_serials(first.brokers));
    EXPECT_NE(serials.find(",k-broker-1="), std::string::npos) << serials;

    f.wanted.erase("k-broker-1");  // scaled down: its certificate stays
    auto fewer = decide_certificates(f);
    EXPECT_EQ(fewer.brokers.size(), 2u);
}

TEST(tls_plan, a_certificate_from_another_ca_or_damaged_is_replaced) {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}};
    auto first = decide_certificates(f);
    auto other = decide_certificates(f);  // another CA
    f.ca = first.ca;
    f.brokers = other.brokers;
    auto p = decide_certificates(f);
    ASSERT_EQ(p.issued.size(), 1u);
    EXPECT_EQ(p.issued[0].rfind("k-broker-0 (not valid under the cluster CA: ", 0), 0u) << p.issued[0];
    EXPECT_TRUE(certs::verify(p.brokers.at("k-broker-0.pem"), first.ca.cert_pem, now));

    f.brokers = {{"k-broker-0.pem", "garbage"}};
    p = decide_certificates(f);
    EXPECT_EQ(p.issued, std::vector<std::string>{"k-broker-0 (no usable certificate)"});
}

TEST(tls_plan, an_unusable_ca_is_reported_and_never_replaced) {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}};
    auto first = decide_certificates(f);
    f.ca = certs::key_pair{first.ca.key_pem, "not a certificate"};
    auto p = decide_certificates(f);
    ASSERT_TRUE(p.invalid);
    EXPECT_EQ(*p.invalid, "ca.crt: not a PEM X.509 certificate");
    EXPECT_TRUE(p.brokers.empty());
    EXPECT_FALSE(p.ca_created);

    certificate_facts fresh;
    fresh.now = now;
    auto other = decide_certificates(fresh);
    f.ca = certs::key_pair{other.ca.key_pem, first.ca.cert_pem};
    p = decide_certificates(f);
    ASSERT_TRUE(p.invalid);
    EXPECT_EQ(*p.invalid, "ca.key: the private key does not belong to the certificate");

    auto leaf = first.brokers.at("k-broker-0.pem");
    f.ca = certs::key_pair{leaf, leaf};
    p = decide_certificates(f);
    ASSERT_TRUE(p.invalid);
    EXPECT_EQ(*p.invalid, "ca.crt: the issuer is not a CA certificate");
}

TEST(tls_plan, a_clients_ca_is_made_once_when_a_listener_checks_client_certificates) {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}};
    auto p = decide_certificates(f);
    EXPECT_FALSE(p.clients_ca) << "not wanted: not made";
    f.want_clients_ca = true;
    p = decide_certificates(f);
    ASSERT_TRUE(p.clients_ca);
    EXPECT_TRUE(p.clients_ca_created);
    EXPECT_EQ(p.clients_ca_not_after, now + ca_validity);
    auto facts = certs::inspect(p.clients_ca->cert_pem);
    ASSERT_TRUE(facts);
    EXPECT_TRUE(facts->is_ca);
    EXPECT_NE(p.clients_ca->cert_pem, p.ca.cert_pem) << "apart from the cluster CA";
    EXPECT_FALSE(certs::verify(p.brokers.at("k-broker-0.pem"), p.clients_ca->cert_pem, now))
        << "a broker's certificate does not pass as a client's";

    f.ca = p.ca;
    f.brokers = p.brokers;
    f.clients_ca = p.clients_ca;
    auto again = decide_certificates(f);
    ASSERT_TRUE(again.clients_ca);
    EXPECT_FALSE(again.clients_ca_created);
    EXPECT_EQ(again.clients_ca->cert_pem, p.clients_ca->cert_pem);

    f.clients_ca = certs::key_pair{p.clients_ca->key_pem, p.ca.cert_pem};
    auto bad = decide_certificates(f);
    ASSERT_TRUE(bad.clients_invalid);
    EXPECT_EQ(*bad.clients_invalid, "ca.key: the private key does not belong to the certificate");
    EXPECT_FALSE(bad.clients_ca_created) << "never replaced: clients may hold certificates it signed";
    EXPECT_TRUE(bad.brokers.empty());
}

} // namespace
} // namespace trib::op::controller
