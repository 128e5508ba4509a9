// Certificates for TLS listeners: the names a broker's certificate carries, and when the
// operator makes, keeps or renews the CA and the brokers' certificates.
// gtest before cpprest: cpprest defines a macro U(x) that breaks gtest's templates.
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
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
    EXPECT_EQ(r.common_name, "k-broker") << "the kind's name: one principal for every broker (super.users)";
    EXPECT_EQ(r.dns_names, (std::vector<std::string>{"k-broker-2.k-broker.ns.svc.cluster.local",
                                                     "k-broker-2.k-broker.ns.svc", "k-bootstrap", "k-bootstrap.ns",
                                                     "k-bootstrap.ns.svc", "k-bootstrap.ns.svc.cluster.local"}));
    EXPECT_EQ(r.ip_addresses, std::vector<std::string>{"203.0.113.7"})
        << "a TLS listener's fixed address, not a plaintext one's, not one known only at run time";
    EXPECT_FALSE(any_tls_listener(cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})").spec));
}

// The subject of `pem`'s certificate as the brokers make a TLS client's principal of it
// (net/tls.cc peer_subject: RFC 2253).
std::string subject_rfc2253(const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(pem.data(), int(pem.size())), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), X509_free);
    if (!cert) {
        return "";
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
    X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, size_t(n));
}

TEST(tls_names, a_coordinator_certificate_names_the_voters_addresses_and_every_part_is_a_super_user) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    build_context ctx{c, {}};
    auto r = coordinator_cert_names(ctx, 1);
    EXPECT_EQ(r.common_name, "k-coordinator");
    EXPECT_EQ(r.dns_names, (std::vector<std::string>{"k-coordinator-1.k-coordinator.ns.svc.cluster.local",
                                                     "k-coordinator-1.k-coordinator.ns.svc",
                                                     "k-coordinator-1.k-coordinator.ns", "k-coordinator-1.k-coordinator"}));
    EXPECT_NE(quorum_voters(ctx, 2).find("1001@" + r.dns_names[0] + ":"), std::string::npos)
        << "the name brokers and coordinators dial, and check";
    EXPECT_TRUE(r.ip_addresses.empty());

    // The principal each part's certificate gives on the other end is in super.users.
    auto ca = certs::make_ca("tributary-cluster-ca", now, ca_validity);
    ASSERT_TRUE(ca);
    const std::string super_users = internal_super_users("k");
    EXPECT_EQ(super_users, "User:CN=k-broker,O=tributary;User:CN=k-coordinator,O=tributary;User:CN=k-operator,O=tributary");
    for (const auto& req : {r, broker_cert_names(ctx, 0, {}), operator_cert_request("k")}) {
        auto kp = certs::issue(*ca, req, now, broker_cert_validity);
        ASSERT_TRUE(kp);
        const std::string principal = "User:" + subject_rfc2253(kp->cert_pem);
        EXPECT_EQ(principal, internal_principal(req.common_name));
        EXPECT_NE((";" + super_users + ";").find(";" + principal + ";"), std::string::npos) << principal;
    }
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

// The set of "key=value" lines of a properties text.
std::set<std::string> lines_of(const std::string& text) {
    std::set<std::string> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        end = end == std::string::npos ? text.size() : end;
        out.insert(text.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

std::set<std::string> secret_volumes(const json& sts) {
    std::set<std::string> out;
    for (const auto& v : sts.at("spec").at("template").at("spec").at("volumes").as_array()) {
        if (v.has_object_field("secret")) {
            out.insert(v.at("secret").at("secretName").as_string());
        }
    }
    return out;
}

void expect_lines(const std::string& text, std::initializer_list<const char*> want) {
    const auto have = lines_of(text);
    for (const char* line : want) {
        EXPECT_TRUE(have.count(line)) << line << " in:\n" << text;
    }
}

TEST(tls_config, internal_tls_runs_replication_and_controller_with_mutual_tls_from_the_cluster_ca) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092}], "authorization": {"superUsers": ["User:admin"]}})");
    build_context ctx{c, {}};
    ctx.internal_tls = true;
    const std::string broker_text = broker_shared_properties(ctx, 1);
    expect_lines(broker_text, {
             "listener.security.protocol.map=REPLICATION:SSL,PLAIN:PLAINTEXT,CONTROLLER:SSL",
             "controller.listener.names=CONTROLLER",
             "listener.name.replication.ssl.keystore.type=PEM",
             "listener.name.replication.ssl.keystore.location=/etc/tributary-tls/broker/${env:POD_NAME}.pem",
             "listener.name.replication.ssl.truststore.type=PEM",
             "listener.name.replication.ssl.truststore.location=/etc/tributary-tls/cluster-ca/ca.crt",
             "listener.name.replication.ssl.client.auth=required",
             "listener.name.replication.ssl.endpoint.identification.algorithm=",  // advertised at pod IPs
             "listener.name.controller.ssl.keystore.location=/etc/tributary-tls/broker/${env:POD_NAME}.pem",
             "listener.name.controller.ssl.truststore.location=/etc/tributary-tls/cluster-ca/ca.crt",
             "super.users=User:CN=k-broker,O=tributary;User:CN=k-coordinator,O=tributary;"
             "User:CN=k-operator,O=tributary;User:admin",
         });
    const auto broker = lines_of(broker_text);
    EXPECT_FALSE(broker.count("listener.name.controller.ssl.client.auth=required")) << "brokers serve no CONTROLLER";
    EXPECT_FALSE(broker.count("listener.name.controller.ssl.endpoint.identification.algorithm="))
        << "coordinators are called at the voters' names, which their certificates carry";

    const std::string coordinator_text = coordinator_shared_properties(ctx, 3);
    expect_lines(coordinator_text, {
             "listener.security.protocol.map=CONTROLLER:SSL",
             "controller.listener.names=CONTROLLER",
             "listener.name.controller.ssl.keystore.type=PEM",
             "listener.name.controller.ssl.keystore.location=/etc/tributary-tls/coordinator/${env:POD_NAME}.pem",
             "listener.name.controller.ssl.truststore.location=/etc/tributary-tls/cluster-ca/ca.crt",
             "listener.name.controller.ssl.client.auth=required",
             // the brokers' authorizer and super users: the cluster's parts are told apart by certificate
             "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
             "super.users=User:CN=k-broker,O=tributary;User:CN=k-coordinator,O=tributary;"
             "User:CN=k-operator,O=tributary;User:admin",
         });
    EXPECT_FALSE(lines_of(coordinator_text).count("listener.name.controller.ssl.endpoint.identification.algorithm="));

    auto coordinators = coordinator_stateful_set(ctx, 3, "hash", "", "k-coordinator-0=AB");
    EXPECT_EQ(secret_volumes(coordinators), (std::set<std::string>{"k-coordinator-certs", "k-cluster-ca-cert"}))
        << "never the CA's key";
    EXPECT_EQ(coordinators.at("spec").at("template").at("metadata").at("annotations").at(certificates_annotation).as_string(),
              "k-coordinator-0=AB");
    EXPECT_EQ(secret_volumes(broker_stateful_set(ctx, 1, "hash", "", "")),
              (std::set<std::string>{"k-broker-certs", "k-cluster-ca-cert"}))
        << "without a TLS listener too";

    // Without internal TLS (clusters made before it), nothing of it.
    ctx.internal_tls = false;
    const std::string plain = broker_shared_properties(ctx, 1);
    EXPECT_NE(plain.find("listener.security.protocol.map=REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT\n"), std::string::npos)
        << plain;
    EXPECT_EQ(plain.find("controller.listener.names"), std::string::npos);
    EXPECT_NE(plain.find("super.users=User:admin\n"), std::string::npos);
    EXPECT_EQ(coordinator_shared_properties(ctx, 1).find("ssl"), std::string::npos);
    EXPECT_EQ(coordinator_shared_properties(ctx, 1).find("super.users"), std::string::npos)
        << "without TLS every caller of a coordinator is ANONYMOUS: no authorizer there";
    EXPECT_TRUE(secret_volumes(coordinator_stateful_set(ctx, 1, "hash", "", "")).empty());

    // Internal TLS without spec.authorization: super users alone, no authorizer.
    auto open = cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    build_context open_ctx{open, {}};
    open_ctx.internal_tls = true;
    const auto open_lines = lines_of(coordinator_shared_properties(open_ctx, 1));
    EXPECT_TRUE(open_lines.count(
        "super.users=User:CN=k-broker,O=tributary;User:CN=k-coordinator,O=tributary;User:CN=k-operator,O=tributary"));
    for (const auto& l : open_lines) {
        EXPECT_EQ(l.rfind("authorizer.class.name", 0), std::string::npos) << l;
    }
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

// The pod spec's volume `name`, when the container mounts it at `path`.
std::optional<json> mounted_volume(const json& pod_spec, const std::string& name, const std::string& path) {
    bool mounted = false;
    for (const auto& m : pod_spec.at("containers").at(0).at("volumeMounts").as_array()) {
        mounted |= m.at("name").as_string() == name && m.at("mountPath").as_string() == path;
    }
    for (const auto& v : pod_spec.at("volumes").as_array()) {
        if (mounted && v.at("name").as_string() == name) {
            return v;
        }
    }
    return std::nullopt;
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
    auto volume = mounted_volume(spec, "oauth-jwks", "/etc/tributary-oauth");
    ASSERT_TRUE(volume) << spec.serialize();
    EXPECT_EQ(volume->at("configMap").at("name").as_string(), "idp-keys");
    EXPECT_EQ(volume->at("configMap").at("items").at(0).at("key").as_string(), "keys.json");
    EXPECT_EQ(volume->at("configMap").at("items").at(0).at("path").as_string(), "jwks.json");

    auto plain = cluster(R"({"listeners": [{"name": "plain", "port": 9092}]})");
    const std::string plain_shared = broker_shared_properties(build_context{plain, {}}, 1);
    EXPECT_EQ(plain_shared.find("oauthbearer"), std::string::npos);
}

TEST(tls_config, an_oauth_listener_fetches_the_jwks_from_its_endpoint_trusting_the_mounted_ca) {
    auto c = cluster(R"({"listeners": [{"name": "plain", "port": 9092},
        {"name": "sso", "port": 9094, "tls": true, "authentication": {"type": "oauth",
         "jwksEndpointUri": "https://idp.example/certs", "jwksRefreshSeconds": 300, "jwksMinRefreshPauseSeconds": 1,
         "jwksRetryBackoffMaxSeconds": 20, "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.pem"}]}}]})");
    build_context ctx{c, {}};
    const std::string shared = broker_shared_properties(ctx, 1);
    for (const char* line : {"listener.name.sso.sasl.enabled.mechanisms=OAUTHBEARER\n",
                             "sasl.oauthbearer.jwks.endpoint.url=https://idp.example/certs\n",
                             "sasl.oauthbearer.jwks.endpoint.refresh.ms=300000\n",
                             "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms=1000\n",
                             "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=20000\n",
                             "listener.name.sso.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
                             "OAuthBearerLoginModule required ssl.truststore.type=\"PEM\" "
                             "ssl.truststore.location=\"/etc/tributary-oauth-trusted/idp-ca/ca.pem\" ;\n"}) {
        EXPECT_NE(shared.find(line), std::string::npos) << line << shared;
    }
    auto sts = broker_stateful_set(ctx, 1, "hash", "", "");
    const auto& spec = sts.at("spec").at("template").at("spec");
    EXPECT_FALSE(mounted_volume(spec, "oauth-jwks", "/etc/tributary-oauth")) << "no JWKS ConfigMap";
    auto trusted = mounted_volume(spec, "oauth-trusted", "/etc/tributary-oauth-trusted");
    ASSERT_TRUE(trusted) << spec.serialize();
    EXPECT_EQ(trusted->at("secret").at("secretName").as_string(), "idp-ca");
    EXPECT_EQ(trusted->at("secret").at("items").at(0).at("key").as_string(), "ca.pem");
    EXPECT_EQ(trusted->at("secret").at("items").at(0).at("path").as_string(), "idp-ca/ca.pem");

    // No CA named: the system's CAs, no JAAS entry, no volume; unset timings: the broker's defaults.
    auto system_cas = cluster(R"({"listeners": [{"name": "sso", "port": 9094, "authentication": {"type": "oauth",
         "jwksEndpointUri": "https://idp.example/certs"}}]})");
    build_context sctx{system_cas, {}};
    const std::string s2 = broker_shared_properties(sctx, 1);
    EXPECT_NE(s2.find("sasl.oauthbearer.jwks.endpoint.url=https://idp.example/certs\n"), std::string::npos) << s2;
    EXPECT_EQ(s2.find("jaas.config"), std::string::npos) << s2;
    EXPECT_EQ(s2.find("sasl.oauthbearer.jwks.endpoint.re"), std::string::npos) << s2;
    EXPECT_EQ(broker_stateful_set(sctx, 1, "hash", "", "").serialize().find("oauth-"), std::string::npos);

    // Another CA Secret is another broker config (the config hash), which rolls the brokers.
    auto other = cluster(R"({"listeners": [{"name": "plain", "port": 9092},
        {"name": "sso", "port": 9094, "tls": true, "authentication": {"type": "oauth",
         "jwksEndpointUri": "https://idp.example/certs", "jwksRefreshSeconds": 300, "jwksMinRefreshPauseSeconds": 1,
         "jwksRetryBackoffMaxSeconds": 20, "tlsTrustedCertificates": [{"secretName": "idp-ca-2", "certificate": "ca.pem"}]}}]})");
    EXPECT_NE(broker_shared_properties(build_context{other, {}}, 1), shared);
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

// --- renewing the CAs (controller/tls.h) ---

// The CA Secrets as the reconciler reads them after a pass wrote `p`.
void hold(certificate_facts& f, const certificate_plan& p) {
    f.ca = p.ca;
    f.ca_more = {p.renewal.old_cert, p.renewal.rollover, false};
    f.brokers = p.brokers;
    f.coordinators = p.coordinators;
    f.operator_held = p.operator_keystores;
    if (p.clients_ca) {
        f.clients_ca = p.clients_ca;
        f.clients_ca_more = {p.clients_renewal.old_cert, p.clients_renewal.rollover, false};
    }
}

// Both broker pods run the certificates `serials` names.
std::map<std::string, std::string> running_all(const std::string& serials) {
    return {{"k-broker-0", serials}, {"k-broker-1", serials}};
}

certificate_facts two_brokers() {
    certificate_facts f;
    f.now = now;
    f.wanted = {{"k-broker-0", names("k-broker-0")}, {"k-broker-1", names("k-broker-1")}};
    return f;
}

TEST(tls_plan, a_broker_added_gets_its_certificate_without_changing_the_running_brokers_template) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    EXPECT_EQ(first.broker_serials, certificate_serials(first.brokers)) << "no StatefulSet yet: every certificate";
    hold(f, first);
    const std::string two = first.broker_serials;
    f.broker_template = two;
    f.broker_pods = {"k-broker-0", "k-broker-1"};
    f.running = running_all(two);

    // Scaled to three: k-broker-2's certificate is issued before its pod exists.
    f.wanted["k-broker-2"] = names("k-broker-2");
    auto grown = decide_certificates(f);
    ASSERT_TRUE(grown.brokers.count("k-broker-2.pem"));
    EXPECT_EQ(grown.broker_serials, two) << "the running brokers have nothing new to load";
    hold(f, grown);
    f.broker_pods.insert("k-broker-2");  // made from that template, with its keystore there
    f.running->emplace("k-broker-2", two);
    EXPECT_EQ(decide_certificates(f).broker_serials, two) << "stable once its pod runs";
    // Behind a ";trust=" part (cert-manager) the serials read the same.
    f.broker_template = two + ";trust=01";
    EXPECT_EQ(decide_certificates(f).broker_serials, two);
    f.broker_template = two;

    // Its certificate issued again (a change of names): it joins, and every broker rolls.
    f.wanted["k-broker-2"].dns_names.push_back("k-broker-2.example.com");
    auto renamed = decide_certificates(f);
    ASSERT_EQ(renamed.issued.size(), 1u);
    EXPECT_EQ(renamed.broker_serials, certificate_serials(renamed.brokers));
    EXPECT_NE(renamed.broker_serials, two);

    // A certificate made for a pod that already exists (its address came late) joins at once.
    auto late = two_brokers();
    auto late_first = decide_certificates(late);
    hold(late, late_first);
    late.broker_template = late_first.broker_serials;
    late.broker_pods = {"k-broker-0", "k-broker-1", "k-broker-2"};
    late.wanted["k-broker-2"] = names("k-broker-2");
    auto joined = decide_certificates(late);
    EXPECT_EQ(joined.broker_serials, certificate_serials(joined.brokers));
}

TEST(ca_renewal, a_broker_added_by_a_scale_up_is_rolled_onto_the_renewed_ca_like_the_others) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    hold(f, first);
    f.broker_template = first.broker_serials;
    f.wanted["k-broker-2"] = names("k-broker-2");
    auto grown = decide_certificates(f);
    hold(f, grown);
    const std::string annotation = grown.broker_serials;  // k-broker-2 not in it
    ASSERT_EQ(annotation, first.broker_serials);
    f.broker_pods = {"k-broker-0", "k-broker-1", "k-broker-2"};
    f.running = std::map<std::string, std::string>{
        {"k-broker-0", annotation}, {"k-broker-1", annotation}, {"k-broker-2", annotation}};

    f.ca_more.force_renew = true;
    auto started = decide_certificates(f);
    ASSERT_TRUE(started.renewal.renewing());
    EXPECT_EQ(started.issued.size(), 3u);
    EXPECT_EQ(started.broker_serials, certificate_serials(started.brokers)) << "all three roll";
    hold(f, started);
    f.broker_template = started.broker_serials;
    EXPECT_FALSE(decide_certificates(f).renewal.finished) << "the pods run the old template";
    f.running = std::map<std::string, std::string>{{"k-broker-0", started.broker_serials},
                                                   {"k-broker-1", started.broker_serials},
                                                   {"k-broker-2", started.broker_serials}};
    EXPECT_TRUE(decide_certificates(f).renewal.finished);
}

TEST(ca_renewal, a_ca_outside_its_window_is_kept_and_one_inside_is_renewed_with_a_new_key) {
    auto f = two_brokers();
    f.settings = {24h * 10, 24h * 2};  // validityDays 10, renewalDays 2
    auto first = decide_certificates(f);
    EXPECT_EQ(first.ca_not_after, now + 24h * 10);
    hold(f, first);
    f.running = running_all(certificate_serials(first.brokers));

    f.now = now + 24h * 8 - 1h;  // 2 days and an hour left
    auto kept = decide_certificates(f);
    EXPECT_FALSE(kept.renewal.renewing());
    EXPECT_STREQ(kept.renewal.phase(), "Valid");
    EXPECT_TRUE(kept.issued.empty());
    EXPECT_EQ(ca_bundle(kept.ca, kept.renewal), first.ca.cert_pem);

    f.now = now + 24h * 8 + 1h;  // within 2 days of expiry
    auto p = decide_certificates(f);
    ASSERT_FALSE(p.invalid);
    EXPECT_FALSE(p.ca_created);
    EXPECT_TRUE(p.renewal.renewing());
    EXPECT_STREQ(p.renewal.phase(), "Renewing");
    EXPECT_EQ(p.renewal.started.rfind("it expires ", 0), 0u) << p.renewal.started;
    EXPECT_FALSE(p.renewal.finished);
    EXPECT_NE(p.ca.key_pem, first.ca.key_pem) << "a new key";
    EXPECT_EQ(p.ca_not_after, f.now + 24h * 10);
    EXPECT_EQ(p.renewal.old_cert, first.ca.cert_pem);
    EXPECT_EQ(p.renewal.old_not_after, now + 24h * 10);
    EXPECT_EQ(certs::inspect(p.ca.cert_pem)->subject_cn, certs::inspect(first.ca.cert_pem)->subject_cn);
    // What clients trust: the new CA, then the old one.
    EXPECT_EQ(ca_bundle(p.ca, p.renewal), p.ca.cert_pem + first.ca.cert_pem);
    const auto data = ca_secret_data(p.ca, p.renewal);
    EXPECT_EQ(data.at(ca_old_cert_key), first.ca.cert_pem);
    EXPECT_EQ(data.at(ca_rollover_key), p.renewal.rollover);
    // Every broker's certificate is issued again under the new CA, the rollover certificate in
    // its chain: clients trusting only the old CA, both, or only the new one accept it.
    ASSERT_EQ(p.issued.size(), 2u);
    EXPECT_EQ(p.issued[0].rfind("k-broker-0 (not valid under the cluster CA", 0), 0u) << p.issued[0];
    for (const auto& [key, pem] : p.brokers) {
        EXPECT_NE(pem.find(p.renewal.rollover), std::string::npos) << key;
        EXPECT_EQ(pem.find(p.ca.cert_pem), std::string::npos) << key << ": not the new self-signed CA";
        std::string why;
        EXPECT_TRUE(certs::verify(pem, first.ca.cert_pem, f.now, &why)) << key << ": " << why;
        EXPECT_TRUE(certs::verify(pem, ca_bundle(p.ca, p.renewal), f.now, &why)) << key << ": " << why;
        EXPECT_TRUE(certs::verify(pem, p.ca.cert_pem, f.now, &why)) << key << ": " << why;
    }
    // The old certificates still verify under the bundle (brokers not restarted yet).
    EXPECT_TRUE(certs::verify(first.brokers.at("k-broker-0.pem"), ca_bundle(p.ca, p.renewal), f.now));
    EXPECT_FALSE(certs::verify(first.brokers.at("k-broker-0.pem"), p.ca.cert_pem, f.now));
}

TEST(ca_renewal, an_operator_restarted_mid_way_issues_the_rest_and_ends_only_when_every_broker_runs_its_new_one) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    hold(f, first);
    const auto old_serials = certificate_serials(first.brokers);
    f.running = running_all(old_serials);
    f.ca_more.force_renew = true;
    auto started = decide_certificates(f);
    ASSERT_TRUE(started.renewal.renewing());
    EXPECT_EQ(started.renewal.started, "asked for with the annotation tributary.io/force-renew");
    EXPECT_TRUE(started.renewal.clear_force_renew);

    // Restarted after writing the CA Secret and one broker's certificate only.
    hold(f, started);
    f.brokers["k-broker-1.pem"] = first.brokers.at("k-broker-1.pem");
    f.now = now + 1h;
    auto resumed = decide_certificates(f);
    EXPECT_TRUE(resumed.renewal.renewing());
    EXPECT_TRUE(resumed.renewal.started.empty()) << "the same renewal carries on: no new CA";
    EXPECT_FALSE(resumed.renewal.clear_force_renew) << "the annotation was removed";
    EXPECT_EQ(resumed.ca.key_pem, started.ca.key_pem);
    EXPECT_EQ(resumed.renewal.old_cert, first.ca.cert_pem);
    EXPECT_EQ(resumed.issued.size(), 1u);
    EXPECT_EQ(resumed.issued[0].rfind("k-broker-1 (", 0), 0u) << resumed.issued[0];
    EXPECT_EQ(resumed.brokers.at("k-broker-0.pem"), started.brokers.at("k-broker-0.pem"));
    EXPECT_FALSE(resumed.renewal.finished);

    // Every certificate under the new CA, but a broker still runs an old one: not done.
    hold(f, resumed);
    const auto new_serials = certificate_serials(resumed.brokers);
    f.running = std::map<std::string, std::string>{{"k-broker-0", new_serials}, {"k-broker-1", old_serials}};
    auto rolling = decide_certificates(f);
    EXPECT_TRUE(rolling.issued.empty());
    EXPECT_TRUE(rolling.renewal.renewing());
    EXPECT_FALSE(rolling.renewal.finished);
    f.running.reset();  // pods not known: not done either
    EXPECT_FALSE(decide_certificates(f).renewal.finished);

    // Rolled: the old CA leaves the bundle and the CA Secret.
    f.running = running_all(new_serials);
    auto done = decide_certificates(f);
    EXPECT_TRUE(done.renewal.finished);
    EXPECT_FALSE(done.renewal.renewing());
    EXPECT_STREQ(done.renewal.phase(), "Valid");
    EXPECT_TRUE(done.issued.empty()) << "nothing issued again once done";
    EXPECT_EQ(ca_bundle(done.ca, done.renewal), resumed.ca.cert_pem);
    EXPECT_EQ(ca_secret_data(done.ca, done.renewal),
              (std::map<std::string, std::string>{{"ca.key", resumed.ca.key_pem}, {"ca.crt", resumed.ca.cert_pem}}));
    // Clients that kept only the old CA still get through the chains until it expires.
    EXPECT_TRUE(certs::verify(done.brokers.at("k-broker-0.pem"), first.ca.cert_pem, f.now));

    // Next pass: stable, and a certificate issued later ends its chain with the CA itself.
    hold(f, done);
    auto after = decide_certificates(f);
    EXPECT_FALSE(after.renewal.renewing());
    EXPECT_FALSE(after.renewal.finished);
    EXPECT_TRUE(after.issued.empty());
    f.brokers.erase("k-broker-0.pem");
    auto later = decide_certificates(f);
    EXPECT_NE(later.brokers.at("k-broker-0.pem").find(done.ca.cert_pem), std::string::npos);
}

TEST(ca_renewal, a_running_broker_not_issued_again_keeps_the_renewal_open) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    hold(f, first);
    f.ca_more.force_renew = true;
    f.wanted.erase("k-broker-1");  // its address is unknown now: not issued again
    auto started = decide_certificates(f);
    hold(f, started);
    f.running = running_all(certificate_serials(started.brokers));
    auto p = decide_certificates(f);
    EXPECT_TRUE(p.issued.empty());
    EXPECT_TRUE(p.renewal.renewing()) << "k-broker-1 still serves a certificate of the old CA only";
    f.running->erase("k-broker-1");  // gone
    EXPECT_TRUE(decide_certificates(f).renewal.finished);
}

// A pass over what the last one wrote issues nothing; then a renewal asked for issues `count`
// certificates again. The pass that kept, and the one that started the renewal.
std::pair<certificate_plan, certificate_plan> kept_then_renewed(certificate_facts& f, size_t count) {
    auto kept = decide_certificates(f);
    EXPECT_TRUE(kept.issued.empty());
    f.ca_more.force_renew = true;
    auto started = decide_certificates(f);
    EXPECT_TRUE(started.renewal.renewing());
    EXPECT_EQ(started.issued.size(), count);
    return {kept, started};
}

TEST(ca_renewal, coordinators_get_certificates_and_the_renewal_waits_for_them_too) {
    auto f = two_brokers();
    f.wanted_coordinators = {{"k-coordinator-0", names("k-coordinator-0")}};
    auto first = decide_certificates(f);
    EXPECT_EQ(first.issued,
              (std::vector<std::string>{"k-broker-0 (new)", "k-broker-1 (new)", "k-coordinator-0 (new)"}));
    ASSERT_EQ(first.coordinators.size(), 1u);
    EXPECT_TRUE(certs::verify(first.coordinators.at("k-coordinator-0.pem"), first.ca.cert_pem, now));
    hold(f, first);
    f.running = running_all(certificate_serials(first.brokers));
    const auto old_coordinators = certificate_serials(first.coordinators);
    f.running_coordinators = std::map<std::string, std::string>{{"k-coordinator-0", old_coordinators}};
    auto [kept, started] = kept_then_renewed(f, 3);  // the coordinator's too
    EXPECT_EQ(kept.coordinators, first.coordinators);
    EXPECT_TRUE(certs::verify(started.coordinators.at("k-coordinator-0.pem"), first.ca.cert_pem, now))
        << "through the rollover certificate, for peers that trust only the old CA";
    hold(f, started);
    f.running = running_all(certificate_serials(started.brokers));  // the brokers rolled
    auto waiting = decide_certificates(f);
    EXPECT_TRUE(waiting.issued.empty());
    EXPECT_FALSE(waiting.renewal.finished) << "the coordinator still runs a certificate of the old CA only";
    f.running_coordinators.reset();
    EXPECT_FALSE(decide_certificates(f).renewal.finished) << "coordinator pods not known";
    f.running_coordinators =
        std::map<std::string, std::string>{{"k-coordinator-0", certificate_serials(started.coordinators)}};
    EXPECT_TRUE(decide_certificates(f).renewal.finished);
}

TEST(ca_renewal, the_operator_gets_a_client_certificate_issued_again_under_a_renewed_ca) {
    auto f = two_brokers();
    f.wanted_operator = {{operator_common_name("k"), operator_cert_request("k")}};
    auto first = decide_certificates(f);
    EXPECT_EQ(first.issued, (std::vector<std::string>{"k-broker-0 (new)", "k-broker-1 (new)", "k-operator (new)"}));
    ASSERT_EQ(first.operator_keystores.size(), 1u);
    const std::string& pem = first.operator_keystores.at(operator_keystore_key("k"));
    EXPECT_EQ(operator_keystore_key("k"), "k-operator.pem");
    EXPECT_EQ(operator_certs_secret_name("k"), "k-operator-certs");
    auto facts = certs::inspect(pem);
    ASSERT_TRUE(facts);
    EXPECT_EQ(facts->subject_cn, "k-operator");
    EXPECT_TRUE(facts->dns_names.empty());
    EXPECT_TRUE(certs::verify(pem, first.ca.cert_pem, now));
    EXPECT_TRUE(pem.find("PRIVATE KEY") != std::string::npos);
    {
        // clientAuth alone: it can't pass as a broker or a coordinator.
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())), BIO_free);
        std::unique_ptr<X509, decltype(&X509_free)> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
        ASSERT_TRUE(x);
        const uint32_t xku = X509_get_extended_key_usage(x.get());
        EXPECT_TRUE(xku & XKU_SSL_CLIENT);
        EXPECT_FALSE(xku & XKU_SSL_SERVER);
    }

    hold(f, first);
    f.running = running_all(certificate_serials(first.brokers));
    auto [kept, started] = kept_then_renewed(f, 3);  // the operator's too
    EXPECT_EQ(kept.operator_keystores, first.operator_keystores);
    EXPECT_TRUE(certs::verify(started.operator_keystores.at("k-operator.pem"), started.ca.cert_pem, now));
    EXPECT_TRUE(certs::verify(started.operator_keystores.at("k-operator.pem"), first.ca.cert_pem, now))
        << "through the rollover certificate, for brokers that still trust only the old CA";
    hold(f, started);
    f.running = running_all(certificate_serials(started.brokers));
    EXPECT_TRUE(decide_certificates(f).renewal.finished) << "the operator uses its certificate from the pass that issued it";
    f.operator_held["k-operator.pem"] = first.operator_keystores.at("k-operator.pem");  // as if not issued again
    auto again = decide_certificates(f);
    EXPECT_FALSE(again.renewal.finished) << "an operator certificate of the old CA alone holds the renewal open";
    ASSERT_EQ(again.issued.size(), 1u);
    EXPECT_EQ(again.issued[0].rfind("k-operator (not valid under the cluster CA", 0), 0u) << again.issued[0];
}

TEST(ca_renewal, force_renew_during_a_renewal_is_cleared_and_does_not_start_another) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    hold(f, first);
    f.ca_more.force_renew = true;
    auto started = decide_certificates(f);
    hold(f, started);
    f.ca_more.force_renew = true;  // asked again while renewing
    auto again = decide_certificates(f);
    EXPECT_TRUE(again.renewal.clear_force_renew);
    EXPECT_TRUE(again.renewal.started.empty());
    EXPECT_EQ(again.ca.key_pem, started.ca.key_pem);
    EXPECT_EQ(again.renewal.old_cert, first.ca.cert_pem);
}

TEST(ca_renewal, a_damaged_renewal_state_is_reported_not_guessed) {
    auto f = two_brokers();
    auto first = decide_certificates(f);
    hold(f, first);
    f.ca_more.old_cert = "not a certificate";
    f.ca_more.rollover = f.ca_more.old_cert;
    auto p = decide_certificates(f);
    ASSERT_TRUE(p.invalid);
    EXPECT_EQ(*p.invalid, "ca-old.crt: not a PEM X.509 certificate");
    f.ca_more.old_cert = first.ca.cert_pem;
    p = decide_certificates(f);
    ASSERT_TRUE(p.invalid);
    EXPECT_EQ(*p.invalid, "ca-rollover.crt: not a PEM X.509 certificate");
}

TEST(ca_renewal, the_clients_ca_renewal_ends_when_every_users_certificate_is_under_the_new_ca) {
    auto f = two_brokers();
    f.want_clients_ca = true;
    auto first = decide_certificates(f);
    ASSERT_TRUE(first.clients_ca);
    hold(f, first);
    f.running = running_all(certificate_serials(first.brokers));
    certs::leaf_request alice{"alice", {}, {}, ""};
    auto old_user = certs::issue(*first.clients_ca, alice, now, 24h * 365);
    ASSERT_TRUE(old_user);

    f.clients_ca_more.force_renew = true;
    auto started = decide_certificates(f);
    EXPECT_FALSE(started.renewal.renewing()) << "the cluster CA is not renewed with it";
    EXPECT_TRUE(started.issued.empty());
    ASSERT_TRUE(started.clients_ca);
    EXPECT_TRUE(started.clients_renewal.renewing());
    EXPECT_TRUE(started.clients_renewal.clear_force_renew);
    EXPECT_NE(started.clients_ca->key_pem, first.clients_ca->key_pem);
    EXPECT_EQ(ca_bundle(*started.clients_ca, started.clients_renewal),
              started.clients_ca->cert_pem + first.clients_ca->cert_pem);

    hold(f, started);
    f.user_certs = std::vector<std::string>{old_user->cert_pem};
    auto waiting = decide_certificates(f);
    EXPECT_TRUE(waiting.clients_renewal.renewing()) << "alice's certificate is under the old CA";
    EXPECT_FALSE(waiting.clients_renewal.finished);

    // The user's pass issues one under the new CA, with the rollover certificate after it.
    auto new_user = certs::issue(*started.clients_ca, alice, now, 24h * 365);
    ASSERT_TRUE(new_user);
    const std::string crt = new_user->cert_pem + started.clients_renewal.rollover;
    EXPECT_TRUE(certs::verify(crt, first.clients_ca->cert_pem, now)) << "brokers trusting only the old CA take it";
    f.user_certs = std::vector<std::string>{crt};
    auto done = decide_certificates(f);
    EXPECT_TRUE(done.clients_renewal.finished);
    EXPECT_EQ(ca_bundle(*done.clients_ca, done.clients_renewal), started.clients_ca->cert_pem);
    f.user_certs.reset();  // not known (not renewing: not listed) changes nothing
    hold(f, done);
    EXPECT_FALSE(decide_certificates(f).clients_renewal.renewing());
}

TEST(ca_renewal, validity_and_renewal_days_come_from_the_spec_and_are_checked) {
    auto c = cluster(R"({"certificateAuthority": {"validityDays": 10, "renewalDays": 2}})");
    EXPECT_EQ(ca_settings_of(c.spec).validity, 24h * 10);
    EXPECT_EQ(ca_settings_of(c.spec).renewal, 24h * 2);
    auto d = cluster(R"({})");
    EXPECT_EQ(ca_settings_of(d.spec).validity, 24h * 1825);
    EXPECT_EQ(ca_settings_of(d.spec).renewal, 24h * 30);
    d.spec.certificate_authority.renewal_days = 10;
    d.spec.certificate_authority.validity_days = 10;
    auto errors = api::validate(d.spec);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "spec.certificateAuthority.renewalDays must be at least 1 and less than validityDays (10), not 10");
    d.spec.certificate_authority = {0, 1, std::nullopt};
    EXPECT_EQ(api::validate(d.spec).size(), 2u);
}

} // namespace
} // namespace trib::op::controller
