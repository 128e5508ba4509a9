// The operator's TLS towards a cluster's internal listeners (operator/kafka/security.h): its
// admin sessions and its Kafka reader over TLS, with the cluster CA and its own client
// certificate, against a peer that asks for a client certificate as REPLICATION and
// CONTROLLER do (ssl.client.auth=required). Against the real cluster: tests/e2e/tls_test.py.
#include "operator/kafka/security.h"

#include "operator/certs/certificates.h"
#include "operator/controller/tls.h"
#include "operator/kafka/admin_session.h"
#include "operator/metrics/kafka_reader.h"
#include "protocol/messages/metadata.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::kafka {
namespace {

using namespace std::chrono_literals;

const auto now = std::chrono::system_clock::now();

certs::key_pair must(result<certs::key_pair> r) {
    EXPECT_TRUE(r);
    return *r;
}

// A peer of the cluster: the broker's certificate from `ca`, asking for a client certificate
// from `ca` (mutual TLS, as REPLICATION and CONTROLLER listen).
std::shared_ptr<boost::asio::ssl::context> peer_context(const certs::key_pair& ca) {
    certs::leaf_request req;
    req.common_name = "k-broker";
    auto broker = must(certs::issue(ca, req, now, 24h));
    net::tls_settings s;
    s.listener = "REPLICATION";
    s.keystore_key = broker.key_pem;
    s.keystore_chain = broker.cert_pem + ca.cert_pem;
    s.truststore_certificates = ca.cert_pem;
    s.auth = net::client_auth::required;
    return net::make_server_context(s);
}

// The operator's keystore as C-operator-certs holds it: key, certificate, CA.
std::string operator_keystore(const certs::key_pair& ca) {
    auto kp = must(certs::issue(ca, controller::operator_cert_request("k"), now, 24h));
    return kp.key_pem + kp.cert_pem + ca.cert_pem;
}

std::optional<bytes> metadata_answers(int16_t key, int32_t cid) {
    if (key == protocol::api_versions_request::api_key) {
        return fakes::api_versions_answer(cid);
    }
    protocol::metadata_response md;
    md.cluster_id = "abc";
    md.controller_id = 7;
    return fakes::framed(fakes::encode_response(md, 12, cid));
}

TEST(operator_tls, admin_sessions_use_the_clusters_tls_inside_a_scope_and_plaintext_outside) {
    const auto ca = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    fakes::kafka_fake_broker peer(metadata_answers, 3, peer_context(ca));
    const auto to = config::parse_host_port(peer.address());
    admin_session s({.timeout = 5s});
    std::string why;
    {
        tls_scope scope(make_client_tls(ca.cert_pem, operator_keystore(ca)));
        auto r = s.call<protocol::metadata_response>(to, protocol::metadata_request{}, 12, why);
        ASSERT_TRUE(r) << why;
        EXPECT_EQ(r->controller_id, 7);
    }
    EXPECT_EQ(tls_scope::current(), nullptr) << "the scope ended";
    auto plain = s.call<protocol::metadata_response>(to, protocol::metadata_request{}, 12, why);
    EXPECT_FALSE(plain) << "a plaintext connection is not the TLS one kept for the scope";
    s.close_all();

    // A certificate from another CA is refused by the peer.
    const auto other = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    tls_scope scope(make_client_tls(ca.cert_pem, operator_keystore(other)));
    admin_session foreign({.timeout = 5s});
    auto refused = foreign.call<protocol::metadata_response>(to, protocol::metadata_request{}, 12, why);
    EXPECT_FALSE(refused);
    foreign.close_all();
    EXPECT_EQ(peer.wait_failed_handshakes(2, 10s), 2) << "the plaintext client and the foreign certificate";
}

TEST(operator_tls, the_operator_refuses_a_peer_whose_certificate_is_not_of_the_cluster_ca) {
    const auto ca = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    const auto impostor = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    fakes::kafka_fake_broker peer(metadata_answers, 1, peer_context(impostor));
    tls_scope scope(make_client_tls(ca.cert_pem, operator_keystore(ca)));
    admin_session s({.timeout = 5s});
    std::string why;
    auto r = s.call<protocol::metadata_response>(config::parse_host_port(peer.address()), protocol::metadata_request{},
                                                 12, why);
    ASSERT_FALSE(r);
    EXPECT_NE(why.find("TLS handshake"), std::string::npos) << why;
    s.close_all();
}

TEST(operator_tls, the_kafka_reader_reads_over_tls) {
    const auto ca = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    fakes::kafka_fake_broker peer(metadata_answers, 2, peer_context(ca));
    metrics::read_options o;
    o.groups = false;
    o.timestamps = false;
    o.tls = make_client_tls(ca.cert_pem, operator_keystore(ca));
    std::string why;
    auto v = metrics::read_cluster(peer.address(), o, &why);
    ASSERT_TRUE(v) << why;
    EXPECT_EQ(v->cluster_id, "abc");

    o.tls = nullptr;  // plaintext towards a TLS listener: a readable error, not a hang
    o.timeout = 5s;
    auto plain = metrics::read_cluster(peer.address(), o, &why);
    ASSERT_FALSE(plain);
    EXPECT_FALSE(why.empty());
}

TEST(operator_tls, a_keystore_without_a_key_or_certificate_is_refused_and_the_registry_keeps_sources) {
    const auto ca = must(certs::make_ca("tributary-cluster-ca", now, 48h));
    const std::string ks = operator_keystore(ca);
    EXPECT_THROW(make_client_tls(ca.cert_pem, ca.cert_pem), config::config_error);
    EXPECT_THROW(make_client_tls(ca.cert_pem, ks.substr(0, ks.find("-----BEGIN CERTIFICATE"))), config::config_error);

    tls_registry reg;
    EXPECT_EQ(reg.get("ns", "k"), nullptr);
    reg.set("ns", "k", ca.cert_pem, ks);
    auto first = reg.get("ns", "k");
    ASSERT_NE(first, nullptr);
    reg.set("ns", "k", ca.cert_pem, ks);
    EXPECT_EQ(reg.get("ns", "k"), first) << "unchanged PEM: the same source, connections kept";
    reg.set("ns", "k", ca.cert_pem, operator_keystore(ca));
    EXPECT_NE(reg.get("ns", "k"), first) << "a certificate issued again: a new source";
    reg.set("ns", "k", "", "");
    EXPECT_EQ(reg.get("ns", "k"), nullptr) << "plaintext";
    reg.forget("ns", "k");
    EXPECT_EQ(reg.get("ns", "k"), nullptr);
}

} // namespace
} // namespace trib::op::kafka
