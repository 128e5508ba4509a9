// Certificates issued by cert-manager (spec.certificateAuthority.certManager): the Certificate
// the operator asks for, when it takes a broker's keystore from cert-manager's Secret, and the
// trust bundle.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include "operator/controller/cert_manager.h"
#include "operator/controller/tls.h"

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

TEST(cert_manager_certificate, the_coordinators_and_the_operators_as_the_operator_would_issue_them) {
    auto c = cluster(R"({"certificateAuthority": {"certManager": {"issuerRef": {"name": "ca"}}}})");
    build_context ctx{c, {}};
    const auto& issuer = *c.spec.certificate_authority.cert_manager;
    json coordinator = cert_manager_certificate(ctx, component::coordinator, "k-coordinator-2",
                                                coordinator_cert_names(ctx, 2), issuer);
    EXPECT_EQ(string_at(coordinator, {"spec", "secretName"}), "k-coordinator-2-tls");
    EXPECT_EQ(string_at(coordinator, {"spec", "commonName"}), "k-coordinator")
        << "the kind's name: super.users names one principal for every coordinator";
    EXPECT_EQ(coordinator.at("spec").at("subject").at("organizations").at(0).as_string(), "tributary");
    EXPECT_EQ(coordinator.at("spec").at("dnsNames").at(0).as_string(),
              "k-coordinator-2.k-coordinator.ns.svc.cluster.local")
        << "the name controller.quorum.voters has, which brokers and coordinators check";
    const auto& usages = coordinator.at("spec").at("usages");
    EXPECT_EQ(usages.size(), 4u);
    EXPECT_EQ(usages.at(2).as_string(), "server auth");
    EXPECT_EQ(usages.at(3).as_string(), "client auth");

    json op = cert_manager_certificate(ctx, component::broker, operator_common_name("k"), operator_cert_request("k"),
                                       issuer);
    EXPECT_EQ(string_at(op, {"metadata", "name"}), "k-operator");
    EXPECT_EQ(string_at(op, {"spec", "secretName"}), "k-operator-tls");
    EXPECT_EQ(string_at(op, {"spec", "commonName"}), "k-operator");
    EXPECT_EQ(field_at(op, {"spec", "dnsNames"}), nullptr) << "it serves nothing: no names";
    EXPECT_EQ(field_at(op, {"spec", "ipAddresses"}), nullptr);
    const auto& op_usages = op.at("spec").at("usages");
    ASSERT_EQ(op_usages.size(), 3u);
    EXPECT_EQ(op_usages.at(2).as_string(), "client auth") << "client auth alone";
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
    EXPECT_EQ(r.waiting, "its certificate does not carry the names asked for yet");

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

TEST_F(cert_manager_read, the_operators_certificate_is_taken_with_no_names) {
    auto want = operator_cert_request("k");
    auto op = certs::issue(ca, want, now, 24h * 90).value();
    json c = certificate("True"), s = tls_secret(op, ca);
    auto r = read_cert_manager_secret(&c, &s, want, now);
    ASSERT_TRUE(r.keystore) << r.waiting;
    EXPECT_EQ(*r.keystore, op.key_pem + op.cert_pem);
}

TEST_F(cert_manager_read, keystores_are_taken_where_issued_and_held_ones_kept_until_then) {
    auto other = certs::issue(ca, names(), now, 24h * 90).value();
    const std::string held0 = other.key_pem + other.cert_pem, issued0 = leaf.key_pem + leaf.cert_pem;
    cert_manager_issued ready{issued0, ca.cert_pem, ""}, pending{std::nullopt, "", "not Ready (Pending)"};
    std::map<std::string, std::string> held = {{"p-0.pem", held0}, {"gone-3.pem", "drained"}};

    const auto always = [](const std::string&) { return true; };
    auto t = take_cert_manager_keystores({{"p-0", ready}, {"p-1", pending}}, held, always);
    EXPECT_EQ(t.keystores.at("p-0.pem"), issued0);
    EXPECT_EQ(t.keystores.at("gone-3.pem"), "drained") << "a pod not wanted now keeps its own";
    EXPECT_FALSE(t.keystores.count("p-1.pem"));
    EXPECT_EQ(t.taken, std::vector<std::string>{"p-0"});
    EXPECT_EQ(t.cas, std::vector<std::string>{ca.cert_pem});
    EXPECT_EQ(t.waiting, std::vector<std::string>{"Certificate p-1: not Ready (Pending)"});
    EXPECT_TRUE(t.missing) << "p-1 has nothing to start with: the pass waits";

    held["p-1.pem"] = held0;
    t = take_cert_manager_keystores({{"p-0", ready}, {"p-1", pending}}, held, always);
    EXPECT_FALSE(t.missing) << "p-1 serves with the one it holds until cert-manager issues the new";
    EXPECT_EQ(t.keystores.at("p-1.pem"), held0);

    held["p-0.pem"] = issued0;
    t = take_cert_manager_keystores({{"p-0", ready}}, held, always);
    EXPECT_TRUE(t.taken.empty()) << "nothing changed";
    EXPECT_EQ(t.keystores, held);
    EXPECT_EQ(t.cas.size(), 1u) << "its CA still counts for the bundle";
}

TEST_F(cert_manager_read, a_keystore_under_a_ca_the_pods_do_not_trust_yet_waits_for_them) {
    auto new_ca = certs::make_ca("issuer-ca-2", now, 24h * 365).value();
    auto on_new = certs::issue(new_ca, names(), now, 24h * 90).value();
    const std::string old_pem = leaf.key_pem + leaf.cert_pem, new_pem = on_new.key_pem + on_new.cert_pem;
    cert_manager_issued issued{new_pem, new_ca.cert_pem, ""};

    // Every pod trusts the old CA alone: the held keystore stays, the new CA goes into ca.crt.
    std::map<std::string, std::string> running = {{"p-0", "p-0=1" + trust_annotation(ca.cert_pem)},
                                                  {"c-0", "c-0=2" + trust_annotation(ca.cert_pem)}};
    auto by_pods = [&](const std::string& c) { return trusted_by_all(c, running); };
    auto t = take_cert_manager_keystores({{"p-0", issued}}, {{"p-0.pem", old_pem}}, by_pods);
    EXPECT_EQ(t.keystores.at("p-0.pem"), old_pem);
    EXPECT_TRUE(t.taken.empty());
    EXPECT_FALSE(t.missing);
    EXPECT_EQ(t.cas, std::vector<std::string>{new_ca.cert_pem});
    ASSERT_EQ(t.waiting.size(), 1u);
    EXPECT_NE(t.waiting[0].find("new to ca.crt"), std::string::npos) << t.waiting[0];
    // A pod with no keystore yet takes it: nothing to serve with otherwise.
    t = take_cert_manager_keystores({{"p-1", issued}}, {}, by_pods);
    EXPECT_EQ(t.keystores.at("p-1.pem"), new_pem);

    // Once every pod runs with both CAs, it is taken.
    const std::string both = trust_annotation(ca.cert_pem + new_ca.cert_pem);
    EXPECT_EQ(both, trust_annotation(new_ca.cert_pem + ca.cert_pem)) << "the order of the bundle does not matter";
    running["p-0"] = "p-0=1" + both;
    EXPECT_FALSE(trusted_by_all(new_ca.cert_pem, running)) << "c-0 does not trust it yet";
    running["c-0"] = "c-0=3" + both;
    t = take_cert_manager_keystores({{"p-0", issued}}, {{"p-0.pem", old_pem}}, by_pods);
    EXPECT_EQ(t.keystores.at("p-0.pem"), new_pem);
    EXPECT_EQ(t.taken, std::vector<std::string>{"p-0"});

    EXPECT_TRUE(trusted_by_all(new_ca.cert_pem, {})) << "no pod runs: nobody to wait for";
    EXPECT_FALSE(trusted_by_all(new_ca.cert_pem, {{"p-0", "p-0=1"}})) << "a pod from before the trust annotation";
    EXPECT_TRUE(trusted_by_all("", running)) << "a Secret that names no CA: nothing to wait for";
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
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem}, old_ca.cert_pem, both, now), old_ca.cert_pem + new_ca.cert_pem)
        << "broker 1 still serves under the old CA; a new CA comes after those there";
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem, old_ca.cert_pem}, old_ca.cert_pem + new_ca.cert_pem, both, now),
              cert_manager_bundle({old_ca.cert_pem, new_ca.cert_pem}, old_ca.cert_pem + new_ca.cert_pem, both, now))
        << "the same CAs give the same bundle, whichever Secret is read first";
    both["k-broker-1.pem"] = on_new.key_pem + on_new.cert_pem;
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem, new_ca.cert_pem}, new_ca.cert_pem + old_ca.cert_pem, both, now),
              new_ca.cert_pem)
        << "no keystore is under the old CA any more";
    EXPECT_EQ(cert_manager_bundle({}, old_ca.cert_pem, {{"k-broker-0.pem", on_old.key_pem + on_old.cert_pem}}, now),
              old_ca.cert_pem)
        << "nothing issued in this pass: what is held keeps its CA";
}

TEST(serving_keystores, those_of_pods_that_exist_or_are_wanted) {
    const std::map<std::string, std::string> held = {
        {"k-broker-0.pem", "zero"}, {"k-broker-1.pem", "one"}, {"k-broker-2.pem", "two"}, {"k-broker-3.pem", "three"}};
    const std::map<std::string, certs::leaf_request> wanted = {{"k-broker-0", names()}, {"k-broker-1", names()}};
    EXPECT_EQ(serving_keystores(held, {"k-broker-0", "k-broker-2"}, wanted),
              (std::map<std::string, std::string>{
                  {"k-broker-0.pem", "zero"}, {"k-broker-1.pem", "one"}, {"k-broker-2.pem", "two"}}))
        << "1 is about to start, 2 is being drained; 3 was scaled away";
    EXPECT_TRUE(serving_keystores(held, {"k-broker-4"}, {{"k-broker-5", names()}}).empty())
        << "a pod with no keystore held adds none";
}

TEST(cert_manager_bundle, a_replaced_ca_leaves_although_a_scaled_away_broker_is_under_it) {
    auto old_ca = certs::make_ca("old", now, 24h * 365).value(), new_ca = certs::make_ca("new", now, 24h * 365).value();
    auto on_old = certs::issue(old_ca, names(), now, 24h * 90).value();
    auto on_new = certs::issue(new_ca, names(), now, 24h * 90).value();
    const std::map<std::string, std::string> held = {{"k-broker-0.pem", on_new.key_pem + on_new.cert_pem},
                                                     {"k-broker-1.pem", on_old.key_pem + on_old.cert_pem}};
    const std::string previous = old_ca.cert_pem + new_ca.cert_pem;
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem}, previous, serving_keystores(held, {"k-broker-0"}, {}), now),
              new_ca.cert_pem)
        << "broker 1 was scaled away: its certificate serves no one";
    const auto draining = serving_keystores(held, {"k-broker-0", "k-broker-1"}, {});
    EXPECT_EQ(cert_manager_bundle({new_ca.cert_pem}, previous, draining, now), previous)
        << "while broker 1 runs (being drained) the old CA stays";
}

} // namespace
} // namespace trib::op::controller
