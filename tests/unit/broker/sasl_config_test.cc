#include "broker/broker_config.h"

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <fstream>

namespace trib::broker {
namespace {

const std::string plain_jaas =
    "org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";";

broker_config load_with(std::vector<std::pair<std::string, std::string>> overrides) {
    static const char* const no_env[] = {nullptr};
    config::load_options opts;
    opts.environ = no_env;
    opts.overrides = {{"listeners", "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093"},
                      {"log.dirs", "/tmp/sasl-config-test"}};
    opts.overrides.insert(opts.overrides.end(), overrides.begin(), overrides.end());
    return load_broker_config(opts);
}

std::string error_of(std::vector<std::pair<std::string, std::string>> overrides) {
    try {
        load_with(std::move(overrides));
    } catch (const config::config_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(sasl_config, per_listener_mechanisms_win_and_plain_users_are_read) {
    auto c = load_with({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"},
                        {"listener.name.sasl_plaintext.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"},
                        {"listener.name.sasl_plaintext.plain.sasl.jaas.config", plain_jaas},
                        {"tributary.sasl.scram.users", "user_bob=\"bob-secret\""}});
    ASSERT_EQ(c.sasl.listeners.size(), 1u);
    const auto* l = c.sasl.find("SASL_PLAINTEXT");
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->mechanisms, (std::vector<std::string>{"PLAIN", "SCRAM-SHA-512"}));
    EXPECT_EQ(l->plain_users.at("alice"), "alice-secret");
    EXPECT_EQ(c.sasl.find("PLAINTEXT"), nullptr);
    auto bob = c.sasl.scram_credential(security::scram_algorithm::sha512, "bob");
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->iterations, security::scram_min_iterations);
    EXPECT_FALSE(c.sasl.scram_credential(security::scram_algorithm::sha256, "alice"));
}

TEST(sasl_config, bad_settings_name_the_key) {
    EXPECT_NE(error_of({}).find("sasl.enabled.mechanisms: GSSAPI (Kerberos) is not supported"), std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER2"}}).find("unknown SASL mechanism 'OAUTHBEARER2'"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "PLAIN"}})
                  .find("listener.name.sasl_plaintext.plain.sasl.jaas.config: listener SASL_PLAINTEXT enables PLAIN"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "PLAIN"},
                        {"listener.name.sasl_plaintext.plain.sasl.jaas.config", "Nope required;"}})
                  .find("expected org.apache.kafka.common.security.plain.PlainLoginModule"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"}, {"listener.name.nosuch.sasl.enabled.mechanisms", "PLAIN"}})
                  .find("unknown configuration key 'listener.name.nosuch.sasl.enabled.mechanisms'"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"}, {"tributary.sasl.scram.users", "alice=\"x\""}})
                  .find("expected user_<name>"),
              std::string::npos);
    EXPECT_NE(error_of({{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_XYZ"}})
                  .find("'SASL_PLAINTEXT:SASL_XYZ': unknown protocol (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"),
              std::string::npos);
}

// Over a SASL inter-broker listener the broker logs in to the others with
// sasl.mechanism.inter.broker.protocol and the username/password of that mechanism's JAAS entry.
TEST(sasl_config, inter_broker_login) {
    const std::pair<std::string, std::string> inter{"inter.broker.listener.name", "SASL_PLAINTEXT"};
    const std::pair<std::string, std::string> scram{"sasl.enabled.mechanisms", "SCRAM-SHA-512"};
    auto c = load_with({inter, scram, {"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"},
                        {"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config",
                         "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" "
                         "password=\"b-secret\";"}});
    ASSERT_TRUE(c.sasl.inter_broker);
    EXPECT_EQ(c.sasl.inter_broker->mechanism, "SCRAM-SHA-512");
    EXPECT_EQ(c.sasl.inter_broker->username, "broker");
    EXPECT_EQ(c.sasl.inter_broker->password, "b-secret");
    net::kafka_client_options o;
    c.secure_inter_broker(o);
    EXPECT_EQ(o.sasl_mechanism, "SCRAM-SHA-512");
    EXPECT_EQ(o.sasl_username, "broker");
    EXPECT_EQ(o.tls, nullptr) << "SASL_PLAINTEXT: no TLS";

    // PLAIN: the same entry serves users and gives the broker's own login.
    auto p = load_with({inter, {"sasl.enabled.mechanisms", "PLAIN"}, {"sasl.mechanism.inter.broker.protocol", "PLAIN"},
                        {"listener.name.sasl_plaintext.plain.sasl.jaas.config",
                         "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" "
                         "password=\"p\" user_broker=\"p\";"}});
    ASSERT_TRUE(p.sasl.inter_broker);
    EXPECT_EQ(p.sasl.inter_broker->username, "broker");
    EXPECT_EQ(p.sasl.find("SASL_PLAINTEXT")->plain_users.count("broker"), 1u);

    EXPECT_FALSE(load_with({scram}).sasl.inter_broker) << "a PLAINTEXT inter-broker listener logs in to nobody";

    EXPECT_NE(error_of({inter, scram}).find("sasl.mechanism.inter.broker.protocol: GSSAPI is not enabled on the "
                                            "inter-broker listener SASL_PLAINTEXT (GSSAPI is not supported"),
              std::string::npos);
    EXPECT_NE(error_of({inter, scram, {"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"}})
                  .find("SCRAM-SHA-256 is not enabled on the inter-broker listener"),
              std::string::npos);
    EXPECT_NE(error_of({inter, scram, {"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"}})
                  .find("listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config: the inter-broker listener"),
              std::string::npos);
    EXPECT_NE(error_of({inter, scram, {"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"},
                        {"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config",
                         "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\";"}})
                  .find("needs username=\"...\" and password=\"...\""),
              std::string::npos);
}

// A SASL_SSL listener is a SASL listener and a TLS one: its SASL settings are checked first,
// then its keystore.
TEST(sasl_config, sasl_ssl_listener_needs_both_halves) {
    const std::pair<std::string, std::string> map{"listener.security.protocol.map",
                                                  "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_SSL"};
    EXPECT_NE(error_of({map}).find("sasl.enabled.mechanisms: GSSAPI (Kerberos) is not supported"), std::string::npos)
        << "the SASL check comes before the TLS context";
    EXPECT_NE(error_of({map, {"sasl.enabled.mechanisms", "SCRAM-SHA-512"}})
                  .find("ssl.keystore.location: SSL listener SASL_PLAINTEXT needs a keystore"),
              std::string::npos);
    EXPECT_NE(error_of({map, {"sasl.enabled.mechanisms", "SCRAM-SHA-512"},
                        {"listener.name.sasl_plaintext.ssl.keystore.location", "/nonexistent/broker.pem"}})
                  .find("listener.name.sasl_plaintext.ssl.keystore.location: cannot read '/nonexistent/broker.pem'"),
              std::string::npos)
        << "the listener's own ssl.* keys apply";
}

TEST(sasl_config, oauthbearer_reads_a_jwks_file) {
    const std::string path = testing::TempDir() + "sasl_config_jwks.json";
    {
        std::ofstream f(path);
        // An EC P-256 key (the curve's generator point: a valid public key).
        f << R"({"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",)"
             R"("y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}]})";
    }
    const std::string handler = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
    auto c = load_with({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "file://" + path},
                        {"sasl.oauthbearer.expected.audience", "kafka,other"},
                        {"sasl.oauthbearer.expected.issuer", "https://idp"},
                        {"sasl.oauthbearer.clock.skew.seconds", "5"},
                        {"sasl.oauthbearer.sub.claim.name", "client_id"},
                        {"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class", handler},
                        {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                         "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"}});
    ASSERT_NE(c.sasl.oauth_keys, nullptr);
    ASSERT_EQ(c.sasl.oauth_keys->current()->keys.size(), 1u);
    EXPECT_NE(c.sasl.oauth_keys->current()->find("k1"), nullptr);
    EXPECT_EQ(c.sasl.oauth_rules.audience, (std::vector<std::string>{"kafka", "other"}));
    EXPECT_EQ(c.sasl.oauth_rules.issuer, "https://idp");
    EXPECT_EQ(c.sasl.oauth_rules.clock_skew, std::chrono::seconds(5));
    EXPECT_EQ(c.sasl.oauth_rules.sub_claim, "client_id");
    EXPECT_NE(load_with({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                         {"sasl.oauthbearer.jwks.endpoint.url", "file:" + path}})
                  .sasl.oauth_keys,
              nullptr);

    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"}}).find("sasl.oauthbearer.jwks.endpoint.url: OAUTHBEARER is enabled"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "ftp://idp/jwks"}})
                  .find("expected an https:, http: or file: URL"),
              std::string::npos);
    EXPECT_EQ(c.sasl.oauth_rules.scope_claim, "scope");
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "file:" + path + ".missing"}})
                  .find("can't read the JWKS file"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "file:" + path},
                        {"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                         "com.example.MyHandler"}})
                  .find("only " + handler + " is supported"),
              std::string::npos);
    // Brokers don't log in to each other with OAUTHBEARER.
    EXPECT_NE(error_of({{"listeners", "SASL_PLAINTEXT://127.0.0.1:9093"},
                        {"inter.broker.listener.name", "SASL_PLAINTEXT"},
                        {"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.mechanism.inter.broker.protocol", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "file:" + path}})
                  .find("OAUTHBEARER is not served between brokers"),
              std::string::npos);
}

TEST(sasl_config, oauthbearer_jwks_over_https_and_its_truststore) {
    // Nothing listens on the port: the broker starts without keys (logins are refused with the
    // reason until a fetch succeeds).
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto closed = std::to_string(a.local_endpoint().port());
    a.close();
    const std::string jaas_key = "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config";
    const std::string module = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ";
    auto c = load_with({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "http://127.0.0.1:" + closed + "/jwks"},
                        {"sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "0"},
                        {"sasl.oauthbearer.scope.claim.name", "scp"}});
    ASSERT_NE(c.sasl.oauth_keys, nullptr);
    EXPECT_EQ(c.sasl.oauth_keys->current(), nullptr);
    EXPECT_NE(c.sasl.oauth_keys->no_keys_reason().find("Connection refused"), std::string::npos)
        << c.sasl.oauth_keys->no_keys_reason();
    EXPECT_EQ(c.sasl.oauth_rules.scope_claim, "scp");

    const std::string https = "https://127.0.0.1:" + closed + "/jwks";
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", https},
                        {jaas_key, module + R"(ssl.truststore.type="JKS" ssl.truststore.location="/x.jks";)"}})
                  .find(jaas_key + ": ssl.truststore.type=JKS is not served"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", https},
                        {jaas_key, module + R"(ssl.truststore.location="/nonexistent/ca.pem";)"}})
                  .find(jaas_key + " option ssl.truststore.location: cannot read '/nonexistent/ca.pem'"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", "https://127.0.0.1:0/jwks"}})
                  .find("sasl.oauthbearer.jwks.endpoint.url: 'https://127.0.0.1:0/jwks': the port 0 is out of range"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"},
                        {"sasl.oauthbearer.jwks.endpoint.url", https},
                        {"sasl.oauthbearer.scope.claim.name", ""}})
                  .find("sasl.oauthbearer.scope.claim.name: must name a claim"),
              std::string::npos);
}

TEST(sasl_config, connections_max_reauth_ms_per_listener_and_mechanism) {
    // Off by default.
    auto off = load_with({{"sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512"}});
    EXPECT_EQ(off.sasl.find("SASL_PLAINTEXT")->max_reauth_ms_for("SCRAM-SHA-256"), 0);
    // The broker's value for every mechanism, the listener's over it, the mechanism's over both.
    auto c = load_with({{"sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"},
                        {"listener.name.sasl_plaintext.plain.sasl.jaas.config", plain_jaas},
                        {"connections.max.reauth.ms", "60000"},
                        {"listener.name.sasl_plaintext.connections.max.reauth.ms", "30000"},
                        {"listener.name.sasl_plaintext.scram-sha-512.connections.max.reauth.ms", "2000"}});
    const auto* l = c.sasl.find("SASL_PLAINTEXT");
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->max_reauth_ms_for("SCRAM-SHA-512"), 2000);
    EXPECT_EQ(l->max_reauth_ms_for("SCRAM-SHA-256"), 30000);
    EXPECT_EQ(l->max_reauth_ms_for("PLAIN"), 30000);
    EXPECT_EQ(l->max_reauth_ms_for("OAUTHBEARER"), 0);  // not enabled
    auto broker_wide = load_with({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"}, {"connections.max.reauth.ms", "5000"}});
    EXPECT_EQ(broker_wide.sasl.find("SASL_PLAINTEXT")->max_reauth_ms_for("SCRAM-SHA-256"), 5000);

    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"},
                        {"listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms", "soon"}})
                  .find("listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms: expected a number"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"},
                        {"listener.name.sasl_plaintext.gssapi2.connections.max.reauth.ms", "1000"}})
                  .find("unknown configuration key 'listener.name.sasl_plaintext.gssapi2.connections.max.reauth.ms'"),
              std::string::npos);
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"}, {"connections.max.reauth.ms", "x"}})
                  .find("connections.max.reauth.ms"),
              std::string::npos);
}

// The coordinators' controller listener (controller.listener.names): this broker reaches it
// with its protocol from listener.security.protocol.map and the login of
// sasl.mechanism.controller.protocol; without coordinators (the one in this process) or
// without the key, plaintext as before.
TEST(sasl_config, the_controller_listener_is_reached_with_its_protocol_and_login) {
    const std::pair<std::string, std::string> voters{"controller.quorum.voters", "100@127.0.0.1:19091"};
    const std::pair<std::string, std::string> names{"controller.listener.names", "CONTROLLER"};
    const std::pair<std::string, std::string> map{
        "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"};
    const std::pair<std::string, std::string> login{
        "listener.name.controller.plain.sasl.jaas.config",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"b\";"};
    const std::pair<std::string, std::string> plain{"sasl.enabled.mechanisms", "PLAIN"};
    const std::pair<std::string, std::string> users{"listener.name.sasl_plaintext.plain.sasl.jaas.config", plain_jaas};
    auto c = load_with({voters, names, map, login, plain, users, {"sasl.mechanism.controller.protocol", "PLAIN"}});
    EXPECT_EQ(c.controller.protocol, "SASL_PLAINTEXT");
    ASSERT_TRUE(c.controller.login);
    EXPECT_EQ(c.controller.login->username, "broker");
    EXPECT_EQ(c.controller.login->password, "b");
    EXPECT_FALSE(c.controller.tls);

    EXPECT_TRUE(load_with({voters, plain, users}).controller.plaintext()) << "no controller.listener.names";
    EXPECT_TRUE(load_with({names, map, login, plain, users}).controller.plaintext())
        << "no voters: the coordinator runs in this process";
    EXPECT_NE(error_of({voters, names, plain, users})
                  .find("listener.security.protocol.map: no security protocol for the controller listener CONTROLLER"),
              std::string::npos);
    EXPECT_NE(error_of({voters, names, map, plain, users, login})
                  .find("sasl.mechanism.controller.protocol: GSSAPI can't be used to log in to the controller "
                        "listener CONTROLLER"),
              std::string::npos);
    EXPECT_NE(error_of({voters, names, map, plain, users, {"sasl.mechanism.controller.protocol", "PLAIN"}})
                  .find("listener.name.controller.plain.sasl.jaas.config: the controller listener CONTROLLER uses "
                        "PLAIN"),
              std::string::npos);
    EXPECT_NE(error_of({voters, {"controller.listener.names", "SASL_PLAINTEXT"}, plain, users})
                  .find("controller.listener.names: SASL_PLAINTEXT is one of this broker's listeners"),
              std::string::npos);
    // An SSL controller listener needs no keystore on the broker (only when the coordinators
    // ask for a certificate); without a truststore the system's CAs are trusted.
    auto ssl = load_with({voters, names, {"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SSL"},
                          plain, users});
    EXPECT_EQ(ssl.controller.protocol, "SSL");
    EXPECT_TRUE(ssl.controller.tls);
    EXPECT_FALSE(ssl.controller.login);
}

} // namespace
} // namespace trib::broker
