// The controller listener's security with Kafka's keys (coordinator_config.h): what a
// coordinator serves on its listeners, how it logs in to the other voters, and the config
// errors (naming the key) of what it can't serve. The handshakes themselves run with real
// processes in tests/integration/coordinator_tls_test.py.
#include "coordinator/coordinator_config.h"

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

const std::string jaas =
    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" "
    "password=\"c-secret\" user_controller=\"c-secret\" user_broker=\"b-secret\";";

service_config load(std::vector<std::pair<std::string, std::string>> overrides) {
    static const char* const no_environment[] = {nullptr};
    config::load_options o;
    o.overrides = {{"listeners", "CONTROLLER://127.0.0.1:19091"}, {"log.dirs", "/tmp/coordinator-security-test"}};
    o.overrides.insert(o.overrides.end(), overrides.begin(), overrides.end());
    o.environ = no_environment;
    return load_coordinator_config(o);
}

std::string error_of(std::vector<std::pair<std::string, std::string>> overrides) {
    try {
        load(std::move(overrides));
    } catch (const config::config_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(coordinator_security, without_a_protocol_map_everything_stays_plaintext) {
    auto c = load({});
    EXPECT_TRUE(c.tls.empty());
    EXPECT_TRUE(c.sasl.empty());
    EXPECT_TRUE(c.client.plaintext());
    EXPECT_EQ(c.client.listener, "CONTROLLER");
    // Kafka's controller.properties names the map and the controller listener: still plaintext.
    auto k = load({{"listener.security.protocol.map", "CONTROLLER:PLAINTEXT"},
                   {"controller.listener.names", "CONTROLLER"}});
    EXPECT_TRUE(k.client.plaintext());
}

TEST(coordinator_security, a_sasl_controller_listener_serves_plain_and_logs_in_with_it) {
    auto c = load({{"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"},
                   {"controller.listener.names", "CONTROLLER"},
                   {"sasl.enabled.mechanisms", "PLAIN"},
                   {"sasl.mechanism.controller.protocol", "PLAIN"},
                   {"listener.name.controller.plain.sasl.jaas.config", jaas}});
    ASSERT_EQ(c.sasl.count("CONTROLLER"), 1u);
    EXPECT_EQ(c.sasl.at("CONTROLLER").mechanisms, (std::vector<std::string>{"PLAIN"}));
    EXPECT_EQ(c.sasl.at("CONTROLLER").plain_users.count("broker"), 1u);
    ASSERT_TRUE(c.client.login);
    EXPECT_EQ(c.client.login->mechanism, "PLAIN");
    EXPECT_EQ(c.client.login->username, "controller");
    EXPECT_EQ(c.client.login->password, "c-secret");
    EXPECT_FALSE(c.client.tls);
    net::kafka_client_options o;
    c.client.apply(o);
    EXPECT_EQ(o.sasl_username, "controller");
    EXPECT_TRUE(o.ask_api_versions) << "SASL's versions come from ApiVersions";
}

// KIP-368 on the controller listener, read as the broker reads it (security/listener_sasl.h):
// the program-wide key, the listener's, the mechanism's; the sessions then end unless the
// client re-authenticates (net/sasl_session.h).
TEST(coordinator_security, connections_max_reauth_ms_bounds_the_sessions) {
    const std::vector<std::pair<std::string, std::string>> sasl = {
        {"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"},
        {"sasl.enabled.mechanisms", "PLAIN"},
        {"sasl.mechanism.controller.protocol", "PLAIN"},
        {"listener.name.controller.plain.sasl.jaas.config", jaas}};
    auto with = [&](std::vector<std::pair<std::string, std::string>> extra) {
        auto o = sasl;
        o.insert(o.end(), extra.begin(), extra.end());
        return o;
    };
    EXPECT_EQ(load(sasl).sasl.at("CONTROLLER").max_reauth_ms_for("PLAIN"), 0) << "off by default";
    EXPECT_EQ(load(with({{"connections.max.reauth.ms", "60000"}})).sasl.at("CONTROLLER").max_reauth_ms_for("PLAIN"),
              60000);
    EXPECT_EQ(load(with({{"connections.max.reauth.ms", "60000"},
                         {"listener.name.controller.connections.max.reauth.ms", "30000"}}))
                  .sasl.at("CONTROLLER")
                  .max_reauth_ms_for("PLAIN"),
              30000);
    EXPECT_EQ(load(with({{"listener.name.controller.connections.max.reauth.ms", "30000"},
                         {"listener.name.controller.plain.connections.max.reauth.ms", "2000"}}))
                  .sasl.at("CONTROLLER")
                  .max_reauth_ms_for("PLAIN"),
              2000);
    auto bad = error_of(with({{"listener.name.controller.plain.connections.max.reauth.ms", "soon"}}));
    EXPECT_NE(bad.find("listener.name.controller.plain.connections.max.reauth.ms: expected a number"),
              std::string::npos)
        << bad;
    EXPECT_NE(error_of(with({{"listener.name.controller.gssapi2.connections.max.reauth.ms", "1000"}}))
                  .find("unknown configuration key 'listener.name.controller.gssapi2.connections.max.reauth.ms'"),
              std::string::npos);
}

// Kafka refuses SCRAM on a controller listener: its credentials live in the metadata log the
// controllers serve. So does the coordinator, saying why.
TEST(coordinator_security, scram_and_oauthbearer_are_refused_naming_the_key) {
    const std::pair<std::string, std::string> map{"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"};
    auto scram = error_of({map, {"sasl.enabled.mechanisms", "SCRAM-SHA-512"}});
    EXPECT_NE(scram.find("sasl.enabled.mechanisms: SCRAM-SHA-512 can't be enabled on listener CONTROLLER"),
              std::string::npos)
        << scram;
    EXPECT_NE(scram.find("PLAIN only"), std::string::npos) << scram;
    auto own = error_of({map, {"listener.name.controller.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256"},
                         {"listener.name.controller.plain.sasl.jaas.config", jaas}});
    EXPECT_NE(own.find("listener.name.controller.sasl.enabled.mechanisms: SCRAM-SHA-256"), std::string::npos) << own;
    EXPECT_NE(error_of({map, {"sasl.enabled.mechanisms", "OAUTHBEARER"}}).find("OAUTHBEARER can't be enabled"),
              std::string::npos);
    EXPECT_NE(error_of({map, {"sasl.enabled.mechanisms", "KERBEROS"}})
                  .find("sasl.enabled.mechanisms: unknown SASL mechanism 'KERBEROS'"),
              std::string::npos);
    EXPECT_NE(error_of({map}).find("GSSAPI (Kerberos) is not supported"), std::string::npos)
        << "Kafka's default mechanism";
}

TEST(coordinator_security, mistakes_name_the_key) {
    // An SSL listener needs a keystore.
    EXPECT_NE(error_of({{"listener.security.protocol.map", "CONTROLLER:SSL"}})
                  .find("ssl.keystore.location: SSL listener CONTROLLER needs a keystore"),
              std::string::npos);
    // A map that leaves a listener out.
    EXPECT_NE(error_of({{"listener.security.protocol.map", "OTHER:SSL"}})
                  .find("listener.security.protocol.map: no security protocol for listener CONTROLLER"),
              std::string::npos);
    // PLAIN without its users.
    EXPECT_NE(error_of({{"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"},
                        {"sasl.enabled.mechanisms", "PLAIN"}})
                  .find("listener.name.controller.plain.sasl.jaas.config: listener CONTROLLER enables PLAIN"),
              std::string::npos);
    // The login to the other voters needs a username and password.
    auto no_login = error_of({{"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"},
                              {"sasl.enabled.mechanisms", "PLAIN"},
                              {"sasl.mechanism.controller.protocol", "PLAIN"},
                              {"listener.name.controller.plain.sasl.jaas.config",
                               "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x\";"}});
    EXPECT_NE(no_login.find("listener.name.controller.plain.sasl.jaas.config: the login to the controller listener "
                            "needs username"),
              std::string::npos)
        << no_login;
    // Logging in with a mechanism the listener does not enable.
    EXPECT_NE(error_of({{"listener.security.protocol.map", "CONTROLLER:SASL_PLAINTEXT"},
                        {"sasl.enabled.mechanisms", "PLAIN"},
                        {"listener.name.controller.plain.sasl.jaas.config", jaas}})
                  .find("sasl.mechanism.controller.protocol: GSSAPI is not enabled on the controller listener"),
              std::string::npos);
    // A per-listener key of no listener, or one the coordinator does not read.
    EXPECT_NE(error_of({{"listener.name.other.plain.sasl.jaas.config", jaas}}).find("unknown configuration key"),
              std::string::npos);
    EXPECT_NE(error_of({{"listener.name.controller.ssl.keystore.locaton", "/k.pem"}}).find("keystore.locaton"),
              std::string::npos);
}

} // namespace
} // namespace trib::coordinator
