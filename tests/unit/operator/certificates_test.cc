#include "operator/certs/certificates.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace trib::op::certs {
namespace {

using namespace std::chrono_literals;
const time_point now = std::chrono::system_clock::from_time_t(1'800'000'000);

TEST(certificates, a_ca_is_self_signed_and_valid_for_what_was_asked) {
    auto ca = make_ca("tributary-cluster-ca", now, 24h * 365);
    ASSERT_TRUE(ca) << ca.error().message();
    EXPECT_NE(ca->key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos) << "PKCS#8, as Kafka reads";
    auto f = inspect(ca->cert_pem);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->subject_cn, "tributary-cluster-ca");
    EXPECT_EQ(f->issuer_cn, "tributary-cluster-ca");
    EXPECT_TRUE(f->is_ca);
    EXPECT_LT(f->not_before, now);
    EXPECT_EQ(f->not_after, now + 24h * 365);
    EXPECT_TRUE(verify(ca->cert_pem, ca->cert_pem, now));
    EXPECT_TRUE(matches(*ca));
}

TEST(certificates, a_broker_certificate_names_its_addresses_and_chains_to_the_ca) {
    auto ca = make_ca("ca", now, 24h * 365);
    ASSERT_TRUE(ca);
    leaf_request req{"demo-broker-0",
                     {"demo-broker-0.demo-brokers.ns.svc", "demo-bootstrap.ns.svc", "localhost"},
                     {"127.0.0.1", "::1"}};
    auto leaf = issue(*ca, req, now, 24h * 90);
    ASSERT_TRUE(leaf) << leaf.error().message();
    auto f = inspect(leaf->cert_pem);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->subject_cn, "demo-broker-0");
    EXPECT_EQ(f->issuer_cn, "ca");
    EXPECT_FALSE(f->is_ca);
    EXPECT_EQ(f->dns_names, req.dns_names);
    EXPECT_EQ(f->ip_addresses, req.ip_addresses);
    EXPECT_EQ(f->not_after, now + 24h * 90);
    EXPECT_TRUE(matches(*leaf));

    std::string why;
    EXPECT_TRUE(verify(leaf->cert_pem, ca->cert_pem, now, &why)) << why;
    EXPECT_FALSE(verify(leaf->cert_pem, ca->cert_pem, now + 24h * 91, &why));
    EXPECT_EQ(why, "certificate has expired");
    EXPECT_FALSE(verify(leaf->cert_pem, ca->cert_pem, now - 1h, &why));
    EXPECT_EQ(why, "certificate is not yet valid");

    auto other = make_ca("another ca", now, 24h * 365);
    ASSERT_TRUE(other);
    EXPECT_FALSE(verify(leaf->cert_pem, other->cert_pem, now, &why));
    EXPECT_FALSE(why.empty());
}

TEST(certificates, every_certificate_gets_its_own_key_and_serial) {
    auto ca = make_ca("ca", now, 24h);
    ASSERT_TRUE(ca);
    auto a = issue(*ca, {"a", {"a"}, {}}, now, 24h);
    auto b = issue(*ca, {"a", {"a"}, {}}, now, 24h);
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->key_pem, b->key_pem);
    EXPECT_NE(inspect(a->cert_pem)->serial_hex, inspect(b->cert_pem)->serial_hex);
    EXPECT_EQ(matches({a->key_pem, b->cert_pem}).error(), make_error_code(errc::key_mismatch));
}

TEST(certificates, a_rollover_certificate_carries_trust_from_the_previous_ca_to_the_next) {
    auto previous = make_ca("tributary-cluster-ca", now, 24h * 10);
    auto next = make_ca("tributary-cluster-ca", now + 24h, 24h * 30);
    ASSERT_TRUE(previous && next);
    auto roll = rollover(*previous, *next, now + 24h);
    ASSERT_TRUE(roll) << roll.error().message();
    auto f = inspect(*roll);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->is_ca);
    EXPECT_EQ(f->subject_cn, "tributary-cluster-ca");
    EXPECT_EQ(f->not_after, inspect(previous->cert_pem)->not_after) << "valid as long as the previous CA";
    auto leaf = issue(*next, {"b", {"b"}, {}}, now + 24h, 24h * 20);
    ASSERT_TRUE(leaf);
    std::string why;
    // Previous CA only: through the rollover certificate (self-issued, so pathlen:0 allows it).
    EXPECT_TRUE(verify(leaf->cert_pem + *roll, previous->cert_pem, now + 24h, &why)) << why;
    EXPECT_FALSE(verify(leaf->cert_pem, previous->cert_pem, now + 24h));
    EXPECT_TRUE(verify(leaf->cert_pem + *roll, next->cert_pem, now + 24h, &why)) << why;
    EXPECT_TRUE(verify(leaf->cert_pem + *roll, next->cert_pem + previous->cert_pem, now + 24h, &why)) << why;
    // Once the previous CA expires, only peers trusting the next one accept it.
    EXPECT_FALSE(verify(leaf->cert_pem + *roll, previous->cert_pem, now + 24h * 11));
    EXPECT_TRUE(verify(leaf->cert_pem + *roll, next->cert_pem, now + 24h * 11, &why)) << why;
    // A certificate of the previous CA does not verify under the next one, rollover or not.
    auto old_leaf = issue(*previous, {"a", {"a"}, {}}, now, 24h * 5);
    ASSERT_TRUE(old_leaf);
    EXPECT_FALSE(verify(old_leaf->cert_pem + *roll, next->cert_pem, now + 24h));
    // Bad input.
    EXPECT_EQ(rollover({previous->key_pem, "junk"}, *next, now).error(), make_error_code(errc::bad_certificate));
    EXPECT_EQ(rollover({next->key_pem, previous->cert_pem}, *next, now).error(), make_error_code(errc::key_mismatch));
    EXPECT_EQ(rollover(*previous, *old_leaf, now).error(), make_error_code(errc::not_a_ca));
}

TEST(certificates, bad_input_is_an_error_not_a_crash) {
    auto ca = make_ca("ca", now, 24h);
    ASSERT_TRUE(ca);
    EXPECT_EQ(inspect("").error(), make_error_code(errc::bad_certificate));
    EXPECT_EQ(inspect("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").error(),
              make_error_code(errc::bad_certificate));
    EXPECT_EQ(issue({ca->key_pem, "junk"}, {"x", {}, {}}, now, 24h).error(), make_error_code(errc::bad_certificate));
    EXPECT_EQ(issue({"junk", ca->cert_pem}, {"x", {}, {}}, now, 24h).error(), make_error_code(errc::bad_key));
    auto other = make_ca("other", now, 24h);
    ASSERT_TRUE(other);
    EXPECT_EQ(issue({other->key_pem, ca->cert_pem}, {"x", {}, {}}, now, 24h).error(),
              make_error_code(errc::key_mismatch));
    auto leaf = issue(*ca, {"leaf", {}, {}}, now, 24h);
    ASSERT_TRUE(leaf);
    EXPECT_EQ(issue(*leaf, {"x", {}, {}}, now, 24h).error(), make_error_code(errc::not_a_ca));
    EXPECT_FALSE(issue(*ca, {"x", {}, {"not-an-ip"}}, now, 24h));
    EXPECT_EQ(verify("junk", ca->cert_pem, now).error(), make_error_code(errc::bad_certificate));
}

} // namespace
} // namespace trib::op::certs
