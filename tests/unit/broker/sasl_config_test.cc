#include "broker/broker_config.h"

#include <gtest/gtest.h>

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
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "OAUTHBEARER"}}).find("unknown SASL mechanism 'OAUTHBEARER'"),
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
    EXPECT_NE(error_of({{"sasl.enabled.mechanisms", "SCRAM-SHA-256"}, {"inter.broker.listener.name", "SASL_PLAINTEXT"}})
                  .find("brokers reach each other over PLAINTEXT or SSL only"),
              std::string::npos);
    EXPECT_NE(error_of({{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_XYZ"}})
                  .find("'SASL_PLAINTEXT:SASL_XYZ': unknown protocol (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"),
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

} // namespace
} // namespace trib::broker
