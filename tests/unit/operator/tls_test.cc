// Certificates for TLS listeners: the names a broker's certificate carries, and when the
// operator makes, keeps or renews the CA and the brokers' certificates.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include "operator/controller/tls.h"

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
        {"plain", "PLAIN", "{podName}.k-broker.ns.svc.cluster.local", 9092},
        {"secure", "SECURE", "{podName}.k-broker.ns.svc.cluster.local", 9095},
        {"ext", "EXT", "203.0.113.7", 9096},
        {"byip", "BYIP", "{podIP}", 9097},
        {"plainext", "PLAINEXT", "plain.example.com", 9098},
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

    auto other = decide_certificates(certificate_facts{std::nullopt, {}, {}, now});
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

} // namespace
} // namespace trib::op::controller
