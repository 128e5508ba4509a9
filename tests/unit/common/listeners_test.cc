#include "common/listeners.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace trib::config {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::string error_of(std::function<void()> f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no config_error thrown";
    return {};
}

TEST(listeners, parses_names_hosts_and_ports) {
    EXPECT_THAT(parse_listeners("PLAINTEXT://0.0.0.0:9092,EXTERNAL://[::1]:9093"),
                ElementsAre(listener{"PLAINTEXT", "0.0.0.0", 9092}, listener{"EXTERNAL", "::1", 9093}));
    EXPECT_THAT(parse_listeners(" plaintext://:9092 , controller://broker-1.example.com:0 "),
                ElementsAre(listener{"PLAINTEXT", "", 9092}, listener{"CONTROLLER", "broker-1.example.com", 0}));
    // Kafka also takes an unbracketed IPv6 address: the port follows the last ':'.
    EXPECT_THAT(parse_listeners("A://fe80::1%eth0:9092"), ElementsAre(listener{"A", "fe80::1%eth0", 9092}));
    EXPECT_THAT(parse_listeners(""), ElementsAre());
}

TEST(listeners, round_trip_through_to_string) {
    for (auto l : parse_listeners("PLAINTEXT://:9092,EXTERNAL://[::1]:9093,INTERNAL://10.0.0.1:1")) {
        EXPECT_THAT(parse_listeners(to_string(l)), ElementsAre(l));
    }
    EXPECT_EQ(to_string(listener{"EXTERNAL", "::1", 9093}), "EXTERNAL://[::1]:9093");
}

TEST(listeners, errors_name_the_entry) {
    EXPECT_EQ(error_of([] { parse_listeners("PLAINTEXT://:9092,EXTERNAL:/host:9093"); }),
              "listener 'EXTERNAL:/host:9093': expected NAME://host:port");
    EXPECT_EQ(error_of([] { parse_listeners("PLAINTEXT://host:65536"); }),
              "listener 'PLAINTEXT://host:65536': invalid port '65536' (expected 0..65535)");
    EXPECT_EQ(error_of([] { parse_listeners("PLAINTEXT://host"); }),
              "listener 'PLAINTEXT://host': missing ':port'");
    EXPECT_EQ(error_of([] { parse_listeners("PLAINTEXT://[::1:9092"); }),
              "listener 'PLAINTEXT://[::1:9092': missing ']' after IPv6 address");
    EXPECT_EQ(error_of([] { parse_listeners("PLAINTEXT://:9092,plaintext://:9093"); }),
              "listener 'plaintext://:9093': the name PLAINTEXT is used twice");
    EXPECT_EQ(error_of([] { parse_listeners("PLAIN TEXT://:9092"); }),
              "listener 'PLAIN TEXT://:9092': the name must be letters, digits, '_' or '-'");
    EXPECT_EQ(error_of([] { parse_listeners("A://h/x:1"); }), "listener 'A://h/x:1': invalid host 'h/x'");
    EXPECT_THROW(parse_listeners("A://host:-1"), config_error);
    EXPECT_THROW(parse_listeners("A://host:"), config_error);
}

TEST(listeners, protocol_map) {
    EXPECT_THAT(parse_protocol_map("PLAINTEXT:PLAINTEXT, external:sasl_ssl"),
                ElementsAre(Pair("EXTERNAL", "SASL_SSL"), Pair("PLAINTEXT", "PLAINTEXT")));
    EXPECT_EQ(parse_protocol_map(default_protocol_map).size(), 4u);
    EXPECT_EQ(error_of([] { parse_protocol_map("A:PLAINTEXT,B"); }),
              "listener security protocol 'B': expected NAME:PROTOCOL");
    EXPECT_EQ(error_of([] { parse_protocol_map("A:TLS"); }),
              "listener security protocol 'A:TLS': unknown protocol (expected PLAINTEXT, SSL, SASL_PLAINTEXT "
              "or SASL_SSL)");
    EXPECT_EQ(error_of([] { parse_protocol_map("A:SSL,a:PLAINTEXT"); }),
              "listener security protocol 'a:PLAINTEXT': the name A is mapped twice");
}

TEST(listeners, quorum_voters) {
    EXPECT_THAT(parse_voters("1@host:9093, 2@[::1]:9094"),
                ElementsAre(voter{node_id(1), "host", 9093}, voter{node_id(2), "::1", 9094}));
    EXPECT_THAT(parse_voters(""), ElementsAre());
    EXPECT_EQ(error_of([] { parse_voters("1@host:9093,host2:9093"); }),
              "controller quorum voter 'host2:9093': expected id@host:port");
    EXPECT_EQ(error_of([] { parse_voters("x@host:9093"); }),
              "controller quorum voter 'x@host:9093': the id must be a non-negative integer");
    EXPECT_EQ(error_of([] { parse_voters("1@:9093"); }), "controller quorum voter '1@:9093': missing host");
    EXPECT_EQ(error_of([] { parse_voters("1@h:0"); }), "controller quorum voter '1@h:0': the port must be 1..65535");
    EXPECT_EQ(error_of([] { parse_voters("1@a:1,1@b:2"); }), "controller quorum voter '1@b:2': the id 1 is used twice");
}

TEST(listeners, host_port) {
    EXPECT_EQ(parse_host_port("kafka:9092"), (host_port{"kafka", 9092}));
    EXPECT_EQ(parse_host_port("[2001:db8::1]:9092"), (host_port{"2001:db8::1", 9092}));
    EXPECT_EQ(format_host_port("2001:db8::1", 9092), "[2001:db8::1]:9092");
    EXPECT_THROW(parse_host_port(":9092"), config_error);
    EXPECT_EQ(parse_host_port(":9092", true), (host_port{"", 9092}));
}

TEST(listeners, validators_report_through_load) {
    schema s;
    s.add({.name = "listeners", .t = type::list, .validate = valid_listeners()});
    const char* env[] = {"KAFKA_LISTENERS=PLAINTEXT://:99999", nullptr};
    load_options opts;
    opts.environ = env;
    EXPECT_EQ(error_of([&] { load(s, opts); }),
              "invalid value 'PLAINTEXT://:99999' for listeners (from env KAFKA_LISTENERS): "
              "listener 'PLAINTEXT://:99999': invalid port '99999' (expected 0..65535)");
}

} // namespace
} // namespace trib::config
