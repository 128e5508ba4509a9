// Certificates issued by cert-manager (spec.certificateAuthority.certManager): the Certificate
// the operator asks for, when it takes a broker's keystore from cert-manager's Secret, and the
// trust bundle.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include "operator/controller/cert_manager.h"

#include <cpprest/asyncrt_utils.h>

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;
const certs::time_point now = std::chrono::system_clock::from_time_t(1'800'000'000);

api::kafka_cluster cluster(const std::string& spec, std::vector<std::string>* problems = nullptr) {
    std::vector<std::string> errors;
    auto c = api::parse_kafka_cluster(
        json::parse(R"({"metadata": {"name": "k", "namespace": "ns", "uid": "u1"}, "spec": )" + spec + "}"), errors);
    EXPECT_TRUE(errors.empty());
    auto v = api::validate(c.spec);
    if (problems != nullptr) {
        *problems = v;
    } else {
        EXPECT_TRUE(v.empty()) << v.front();
    }
    return c;
}

certs::leaf_request names() {
    certs::leaf_request r;
    r.common_name = "k-broker-0";
    r.dns_names = {"k-broker-0.k-broker.ns.svc.cluster.local", "k-bootstrap"};
    r.ip_addresses = {"203.0.113.7"};
    return r;
}

json b64(const std::string& s) {
    return str(utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end())));
}

// A Secret as cert-manager's CA issuer writes it.
json tls_secret(const certs::key_pair& leaf, const certs::key_pair& ca) {
    return obj({{"data", obj({{"tls.crt", b64(leaf.cert_pem)}, {"tls.key", b64(leaf.key_pem)},
                              {"ca.crt", b64(ca.cert_pem)}})}});
}

json certificate(const std::string& ready, int64_t generation = 1, int64_t observed = 1) {
    return obj({{"metadata", obj({{"generation", num(generation)}})},
                {"status", obj({{"conditions", arr({obj({{"type", str("Ready")},
                                                          {"status", str(ready)},
                                                          {"reason", str(ready == "True" ? "Ready" : "Pending")},
                                                          {"message", str("waiting for the issuer")},
                                                          {"observedGeneration", num(observed)}})})}})}});
}

TEST(cert_manager_spec, the_issuer_reference_is_read_and_checked) {
    auto c = cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}})");
    ASSERT_TRUE(c.spec.certificate_authority.cert_manager);
    EXPECT_EQ(c.spec.certificate_authority.cert_manager->name, "ca");
    EXPECT_EQ(c.spec.certificate_authority.cert_manager->kind, "ClusterIssuer");
    EXPECT_EQ(c.spec.certificate_authority.cert_manager->group, "cert-manager.io");
    EXPECT_FALSE(cluster("{}").spec.certificate_authority.cert_manager);

    std::vector<std::string> problems;
    cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "", "kind": "Vault"}}}})", &problems);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems[0].find("issuerRef.name"), std::string::npos) << problems[0];
    EXPECT_NE(problems[1].find("Issuer or ClusterIssuer, not 'Vault'"), std::string::npos) << problems[1];
}

TEST(cert_manager_certificate, names_keys_and_issuer_as_the_broker_needs_them) {
    auto c = cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca"}}}})");
    build_context ctx{c, {}};
    json cert = cert_manager_certificate(ctx, component::broker, "k-broker-0", names(),
                                         *c.spec.certificate_authority.cert_manager);
    EXPECT_EQ(string_at(cert, {"apiVersion"}), "cert-manager.io/v1");
    EXPECT_EQ(string_at(cert, {"kind"}), "Certificate");
    EXPECT_EQ(string_at(cert, {"metadata", "name"}), "k-broker-0");
    EXPECT_EQ(string_at(cert, {"metadata", "namespace"}), "ns");
    ASSERT_NE(field_at(cert, {"metadata", "ownerReferences"}), nullptr);
    EXPECT_EQ(string_at(cert.at("metadata").at("ownerReferences").at(0), {"uid"}), "u1");
    EXPECT_EQ(string_at(cert, {"spec", "secretName"}), "k-broker-0-tls");
    EXPECT_EQ(string_at(cert, {"spec", "commonName"}), "k-broker-0");
    EXPECT_EQ(cert.at("spec").at("dnsNames").size(), 2u);
    EXPECT_EQ(cert.at("spec").at("ipAddresses").at(0).as_string(), "203.0.113.7");
    EXPECT_EQ(cert.at("spec").at("subject").at("organizations").at(0).as_string(), "tributary")
        << "the same subject as the operator's own certificates: the same principal";
    EXPECT_EQ(string_at(cert, {"spec", "privateKey", "encoding"}), "PKCS8");
    EXPECT_EQ(string_at(cert, {"spec", "issuerRef", "name"}), "ca");
    EXPECT_EQ(string_at(cert, {"spec", "issuerRef", "kind"}), "Issuer");
    EXPECT_EQ(string_at(cert, {"spec", "secretTemplate", "labels", "app.kubernetes.io/instance"}), "k");

    auto no_ip = names();
    no_ip.ip_addresses.clear();
    EXPECT_EQ(field_at(cert_manager_certificate(ctx, component::broker, "k-broker-0", no_ip,
                                                *c.spec.certificate_authority.cert_manager),
                       {"spec", "ipAddresses"}),
              nullptr);
}

class cert_manager_read : public ::testing::Test {
protected:
    void SetUp() override {
        ca = certs::make_ca("issuer-ca", now, 24h * 365).value();
        leaf = certs::issue(ca, names(), now, 24h * 90).value();
    }
    certs::key_pair ca, leaf;
};

TEST_F(cert_manager_read, a_ready_certificate_gives_the_keystore_and_its_ca) {
    json c = certificate("True"), s = tls_secret(leaf, ca);
    auto r = read_cert_manager_secret(&c, &s, names(), now);
    ASSERT_TRUE(r.keystore) << r.waiting;
    EXPECT_EQ(*r.keystore, leaf.key_pem + leaf.cert_pem);
    EXPECT_EQ(r.ca, ca.cert_pem);
    EXPECT_TRUE(r.waiting.empty());
}

TEST_F(cert_manager_read, waits_for_what_is_missing_and_says_why) {
    json ready = certificate("True"), pending = certificate("False"), stale = certificate("True", 2, 1);
    json s = tls_secret(leaf, ca);
    auto r = read_cert_manager_secret(nullptr, &s, names(), now);
    EXPECT_FALSE(r.keystore);
    EXPECT_EQ(r.waiting, "its Certificate is not made yet");
    r = read_cert_manager_secret(&pending, &s, names(), now);
    EXPECT_FALSE(r.keystore);
    EXPECT_EQ(r.waiting, "not Ready (Pending): waiting for the issuer");
    r = read_cert_manager_secret(&stale, &s, names(), now);
    EXPECT_FALSE(r.keystore) << "Ready for an older spec (new names) is not ready for this one";
    r = read_cert_manager_secret(&ready, nullptr, names(), now);
    EXPECT_EQ(r.waiting, "its Secret holds no tls.crt and tls.key yet");

    auto other = names();
    other.dns_names.push_back("k-broker-0.example.com");
    r = read_cert_manager_secret(&ready, &s, other, now);
    EXPECT_FALSE(r.keystore);
    EXPECT_EQ(r.waiting, "its certificate does not name the broker's addresses yet");

    r = read_cert_manager_secret(&ready, &s, names(), now + 24h * 91);
    EXPECT_FALSE(r.keystore);
    EXPECT_NE(r.waiting.find("expired"), std::string::npos) << r.waiting;

    auto another = certs::issue(ca, names(), now, 24h).value();
    json mixed = obj({{"data", obj({{"tls.crt", b64(leaf.cert_pem)}, {"tls.key", b64(another.key_pem)}})}});
    r = read_cert_manager_secret(&ready, &mixed, names(), now);
    EXPECT_FALSE(r.keystore);
    EXPECT_EQ(r.waiting, "tls.key of its Secret is not the key of tls.crt");
    json garbage = obj({{"data", obj({{"tls.crt", b64("not pem")}, {"tls.key", b64(leaf.key_pem)}})}});
    r = read_cert_manager_secret(&ready, &garbage, names(), now);
    EXPECT_EQ(r.waiting, "tls.crt of its Secret is not a PEM certificate");
}

TEST(cert_manager_bundle, each_ca_once_in_the_order_given) {
    auto a = certs::make_ca("a", now, 24h).value(), b = certs::make_ca("b", now, 24h).value();
    EXPECT_EQ(ca_bundle_of({a.cert_pem, b.cert_pem, a.cert_pem, ""}), a.cert_pem + b.cert_pem);
    EXPECT_EQ(ca_bundle_of({b.cert_pem + a.cert_pem, a.cert_pem}), b.cert_pem + a.cert_pem)
        << "a Secret's ca.crt may itself be a bundle";
    EXPECT_EQ(ca_bundle_of({}), "");
}

TEST(cert_manager_bundle, the_previous_cas_stay_while_a_keystore_held_is_under_them) {
    auto old_ca = certs::make_ca("old", now, 24h * 365).value(), new_ca = certs::make_ca("new", now, 24h * 365).value();
    auto on_old = certs::issue(old_ca, names(), now, 24h * 90).value();
    auto on_new = certs::issue(new_ca, names(), now, 24h * 90).value();
    std::map<std::string, std::string> both = {{"k-broker-0.pem", on_new.key_pem + on_new.cert_pem},
                                               {"k-broker-1.pem", on_old.key_pem + on_old.cert_pem}};
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem}, old_ca.cert_pem, both, now), new_ca.cert_pem + old_ca.cert_pem)
        << "broker 1 still serves under the old CA";
    both["k-broker-1.pem"] = on_new.key_pem + on_new.cert_pem;
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem, new_ca.cert_pem}, new_ca.cert_pem + old_ca.cert_pem, both, now),
              new_ca.cert_pem)
        << "no keystore is under the old CA any more";
    EXPECT_EQ(cert_manager_bundle({}, old_ca.cert_pem, {{"k-broker-0.pem", on_old.key_pem + on_old.cert_pem}}, now),
              old_ca.cert_pem)
        << "nothing issued in this pass: what is held keeps its CA";
}

} // namespace
} // namespace trib::op::controller
