#include "common/config.h"
#include "common/listeners.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace trib::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::ElementsAre;

// A broker-like schema with Kafka's names.
schema broker_schema() {
    schema s;
    s.add({.name = "node.id", .t = type::int32, .doc = "This server's id.", .validate = at_least(0),
           .aliases = {"broker.id"}})
        .add({.name = "cluster.id", .t = type::string})
        .add({.name = "listeners", .t = type::list, .default_value = "PLAINTEXT://:9092",
              .validate = valid_listeners()})
        .add({.name = "advertised.listeners", .t = type::list, .validate = valid_listeners()})
        .add({.name = "listener.security.protocol.map", .t = type::list,
              .default_value = std::string(default_protocol_map), .validate = valid_protocol_map()})
        .add({.name = "num.partitions", .t = type::int32, .default_value = "1", .validate = at_least(1)})
        .add({.name = "default.replication.factor", .t = type::int32, .default_value = "1",
              .validate = between(1, 32)})
        .add({.name = "log.retention.ms", .t = type::int64, .default_value = "604800000"})
        .add({.name = "log.dirs", .t = type::list, .default_value = "/tmp/kafka-logs"})
        .add({.name = "auto.create.topics.enable", .t = type::boolean, .default_value = "true"})
        .add({.name = "log.cleaner.min.cleanable.ratio", .t = type::dbl, .default_value = "0.5",
              .validate = between(0.0, 1.0)})
        .add({.name = "log.cleanup.policy", .t = type::list, .default_value = "delete",
              .validate = each(one_of({"delete", "compact"}))})
        .add({.name = "ssl.keystore.password", .t = type::password})
        .add({.name = "odd_name.with-dash", .t = type::string});
    return s;
}

// A NAME=VALUE environment for load_options::environ.
class fake_env {
public:
    fake_env(std::initializer_list<std::string> vars) : _vars(vars) {
        for (const auto& v : _vars) {
            _ptrs.push_back(v.c_str());
        }
        _ptrs.push_back(nullptr);
    }
    const char* const* get() const { return _ptrs.data(); }

private:
    std::vector<std::string> _vars;
    std::vector<const char*> _ptrs;
};

class config_test : public ::testing::Test {
protected:
    std::filesystem::path write_file(const std::string& name, const std::string& text) {
        auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("config_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        std::filesystem::create_directories(dir);
        auto path = dir / name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }

    values load_with(const fake_env& env, std::vector<std::filesystem::path> files = {},
                     std::vector<std::pair<std::string, std::string>> overrides = {}) {
        load_options opts;
        opts.environ = env.get();
        opts.files = std::move(files);
        opts.overrides = std::move(overrides);
        return load(_schema, opts);
    }

    // The message of the config_error that `f` throws.
    template<typename F>
    std::string error_of(F f) {
        try {
            f();
        } catch (const config_error& e) {
            return e.what();
        }
        ADD_FAILURE() << "no config_error thrown";
        return {};
    }

    schema _schema = broker_schema();
    fake_env _no_env{};
};

TEST_F(config_test, defaults_when_nothing_is_set) {
    auto v = load_with(_no_env);
    EXPECT_EQ(v.get_int32("num.partitions"), 1);
    EXPECT_EQ(v.get_int64("log.retention.ms"), 604800000);
    EXPECT_TRUE(v.get_bool("auto.create.topics.enable"));
    EXPECT_DOUBLE_EQ(v.get_double("log.cleaner.min.cleanable.ratio"), 0.5);
    EXPECT_THAT(v.get_list("listeners"), ElementsAre("PLAINTEXT://:9092"));
    EXPECT_EQ(v.source("num.partitions"), "default");
    EXPECT_FALSE(v.has("node.id"));
    EXPECT_EQ(v.source("node.id"), "unset");
}

TEST_F(config_test, precedence_default_file_env_override) {
    auto file = write_file("server.properties",
                           "num.partitions=3\n"
                           "log.retention.ms=1000\n"
                           "default.replication.factor=2\n"
                           "node.id=1\n");
    fake_env env{"KAFKA_LOG_RETENTION_MS=2000", "KAFKA_DEFAULT_REPLICATION_FACTOR=3", "PATH=/bin"};
    auto v = load_with(env, {file}, {{"default.replication.factor", "4"}});

    EXPECT_EQ(v.get_int32("num.partitions"), 3);
    EXPECT_EQ(v.source("num.partitions"), "file " + file.string());
    EXPECT_EQ(v.get_int64("log.retention.ms"), 2000);
    EXPECT_EQ(v.source("log.retention.ms"), "env KAFKA_LOG_RETENTION_MS");
    EXPECT_EQ(v.get_int32("default.replication.factor"), 4);
    EXPECT_EQ(v.source("default.replication.factor"), "override");
    EXPECT_EQ(v.get_string("log.dirs"), "/tmp/kafka-logs");
    EXPECT_EQ(v.source("log.dirs"), "default");
}

TEST_F(config_test, later_overrides_win) {
    auto v = load_with(_no_env, {}, {{"num.partitions", "2"}, {"num.partitions", "5"}});
    EXPECT_EQ(v.get_int32("num.partitions"), 5);
}

TEST_F(config_test, parse_override_splits_at_the_first_equals) {
    EXPECT_THAT(parse_override("listeners=PLAINTEXT://:9092"), Pair("listeners", "PLAINTEXT://:9092"));
    EXPECT_THAT(parse_override("a.b=x=y"), Pair("a.b", "x=y"));
    EXPECT_THAT(parse_override("a.b="), Pair("a.b", ""));
    EXPECT_THAT(error_of([] { parse_override("num.partitions"); }), HasSubstr("expected key=value"));
    EXPECT_THROW(parse_override("=3"), config_error);
}

TEST_F(config_test, env_names_map_like_confluent_images) {
    EXPECT_EQ(key_for_env("KAFKA_ADVERTISED_LISTENERS"), "advertised.listeners");
    EXPECT_EQ(key_for_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), "listener.security.protocol.map");
    EXPECT_EQ(key_for_env("KAFKA_LOG_RETENTION_MS"), "log.retention.ms");
    EXPECT_EQ(key_for_env("KAFKA_ODD__NAME_WITH___DASH"), "odd_name.with-dash");
    EXPECT_EQ(key_for_env("KAFKA_CFG_NODE_ID"), "node.id");  // Bitnami
    EXPECT_EQ(key_for_env("KAFKA_"), std::nullopt);
    EXPECT_EQ(key_for_env("PATH"), std::nullopt);
    EXPECT_EQ(key_for_env("TRIB_NUM_PARTITIONS", "TRIB_"), "num.partitions");

    EXPECT_EQ(env_for_key("advertised.listeners"), "KAFKA_ADVERTISED_LISTENERS");
    EXPECT_EQ(env_for_key("odd_name.with-dash"), "KAFKA_ODD__NAME_WITH___DASH");
    EXPECT_EQ(key_for_env(env_for_key("odd_name.with-dash")), "odd_name.with-dash");
}

TEST_F(config_test, compose_environment_block_loads) {
    // The environment of a typical docker compose service for apache/kafka or cp-kafka.
    fake_env env{"KAFKA_NODE_ID=1",
                 "KAFKA_PROCESS_ROLES=broker,controller",
                 "KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093",
                 "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092",
                 "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                 "KAFKA_ODD__NAME_WITH___DASH=x",
                 "KAFKA_HEAP_OPTS=-Xmx1G",
                 "KAFKA_JMX_PORT=9999",
                 "KAFKA_LOG4J_ROOT_LOGLEVEL=WARN",
                 "CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk",
                 "HOME=/root"};
    auto v = load_with(env);
    EXPECT_EQ(v.get_int32("node.id"), 1);
    EXPECT_EQ(v.source("node.id"), "env KAFKA_NODE_ID");
    EXPECT_THAT(v.get_list("listeners"), ElementsAre("PLAINTEXT://:9092", "CONTROLLER://:9093"));
    EXPECT_EQ(v.get_string("advertised.listeners"), "PLAINTEXT://localhost:9092");
    EXPECT_EQ(v.get_string("odd_name.with-dash"), "x");
    EXPECT_EQ(v.get_string("cluster.id"), "MkU3OEVBNTcwNTJENDM2Qk");
    EXPECT_EQ(v.source("cluster.id"), "env CLUSTER_ID");
}

TEST_F(config_test, kafka_cluster_id_maps_to_cluster_id) {
    auto v = load_with(fake_env{"KAFKA_CLUSTER_ID=abc"});
    EXPECT_EQ(v.get_string("cluster.id"), "abc");
    EXPECT_THAT(error_of([&] { load_with(fake_env{"KAFKA_CLUSTER_ID=abc", "CLUSTER_ID=xyz"}); }),
                HasSubstr("conflicting values for cluster.id"));
}

TEST_F(config_test, unknown_env_key_is_tolerated) {
    auto v = load_with(fake_env{"KAFKA_PROCESS_ROLES=broker", "KAFKA_NUM_PARTITION=7", "KAFKA_NUM_PARTITIONS=2"});
    EXPECT_EQ(v.get_int32("num.partitions"), 2);
}

TEST_F(config_test, unknown_file_key_is_fatal_with_suggestion) {
    auto file = write_file("x.properties", "lisenters=PLAINTEXT://:9092\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {file}); }),
              "unknown configuration key 'lisenters' in " + file.string() + " (did you mean 'listeners'?)");

    auto far = write_file("y.properties", "zookeeper.connect=zk:2181\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {far}); }),
              "unknown configuration key 'zookeeper.connect' in " + far.string());
}

TEST_F(config_test, unknown_override_key_is_fatal) {
    EXPECT_EQ(error_of([&] { load_with(_no_env, {}, {{"num.partitons", "3"}}); }),
              "unknown configuration key 'num.partitons' in --override (did you mean 'num.partitions'?)");
}

TEST_F(config_test, ignored_keys_are_accepted_anywhere) {
    auto file = write_file("server.properties",
                           "num.network.threads=3\n"
                           "socket.send.buffer.bytes=102400\n"
                           "num.partitions=2\n");
    load_options opts;
    fake_env env{"KAFKA_NUM_NETWORK_THREADS=8"};
    opts.environ = env.get();
    opts.files = {file};
    opts.ignored_unknown = {"num.network.threads", "socket.*"};
    auto v = load(_schema, opts);
    EXPECT_EQ(v.get_int32("num.partitions"), 2);
    EXPECT_FALSE(v.all().contains("num.network.threads"));
}

TEST_F(config_test, invalid_int_names_key_value_and_source) {
    EXPECT_EQ(error_of([&] { load_with(fake_env{"KAFKA_NUM_PARTITIONS=abc"}); }),
              "invalid value 'abc' for num.partitions (from env KAFKA_NUM_PARTITIONS): not an integer");

    auto file = write_file("s.properties", "num.partitions=12x\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {file}); }),
              "invalid value '12x' for num.partitions (from " + file.string() + "): not an integer");

    EXPECT_EQ(error_of([&] { load_with(_no_env, {}, {{"num.partitions", "3000000000"}}); }),
              "invalid value '3000000000' for num.partitions (from --override): out of range for a 32-bit integer");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {}, {{"num.partitions", "0"}}); }),
              "invalid value '0' for num.partitions (from --override): must be at least 1");
    EXPECT_EQ(error_of([&] { load_with(fake_env{"KAFKA_AUTO_CREATE_TOPICS_ENABLE=yes"}); }),
              "invalid value 'yes' for auto.create.topics.enable (from env KAFKA_AUTO_CREATE_TOPICS_ENABLE): "
              "not a boolean (expected true or false)");
}

TEST_F(config_test, values_are_normalized) {
    auto v = load_with(fake_env{"KAFKA_NUM_PARTITIONS= +7 ", "KAFKA_AUTO_CREATE_TOPICS_ENABLE=FALSE",
                                "KAFKA_LOG_DIRS= /a , /b,, ", "KAFKA_LOG_CLEANUP_POLICY=compact, delete"});
    EXPECT_EQ(v.get_int32("num.partitions"), 7);
    EXPECT_FALSE(v.get_bool("auto.create.topics.enable"));
    EXPECT_THAT(v.get_list("log.dirs"), ElementsAre("/a", "/b"));
    EXPECT_EQ(v.get_string("log.dirs"), "/a,/b");
    EXPECT_THAT(v.get_list("log.cleanup.policy"), ElementsAre("compact", "delete"));
    EXPECT_EQ(error_of([&] { load_with(fake_env{"KAFKA_LOG_CLEANUP_POLICY=delete,archive"}); }),
              "invalid value 'delete,archive' for log.cleanup.policy (from env KAFKA_LOG_CLEANUP_POLICY): "
              "item 'archive' must be one of: delete, compact");
}

TEST_F(config_test, doubles_are_range_checked) {
    auto v = load_with(fake_env{"KAFKA_LOG_CLEANER_MIN_CLEANABLE_RATIO=0.25"});
    EXPECT_DOUBLE_EQ(v.get_double("log.cleaner.min.cleanable.ratio"), 0.25);
    EXPECT_THAT(error_of([&] { load_with(fake_env{"KAFKA_LOG_CLEANER_MIN_CLEANABLE_RATIO=1.5"}); }),
                HasSubstr("must be between 0 and 1"));
    EXPECT_THAT(error_of([&] { load_with(fake_env{"KAFKA_LOG_CLEANER_MIN_CLEANABLE_RATIO=half"}); }),
                HasSubstr("not a number"));
}

TEST_F(config_test, alias_broker_id_sets_node_id) {
    auto file = write_file("a.properties", "broker.id=3\n");
    auto v = load_with(_no_env, {file});
    EXPECT_EQ(v.get_int32("node.id"), 3);
    EXPECT_EQ(v.get_int32("broker.id"), 3);
    EXPECT_EQ(v.source("broker.id"), "file " + file.string());

    auto env_v = load_with(fake_env{"KAFKA_BROKER_ID=4"});
    EXPECT_EQ(env_v.get_int32("node.id"), 4);

    // Both names with one value is fine; a later layer replaces either.
    auto same = write_file("b.properties", "broker.id=5\nnode.id=5\n");
    EXPECT_EQ(load_with(_no_env, {same}).get_int32("node.id"), 5);
    auto layered = load_with(fake_env{"KAFKA_NODE_ID=6"}, {file});
    EXPECT_EQ(layered.get_int32("broker.id"), 6);
}

TEST_F(config_test, alias_conflict_is_an_error) {
    auto file = write_file("c.properties", "broker.id=1\nnode.id=2\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {file}); }),
              "conflicting values for node.id in " + file.string() + ": broker.id=1 but node.id=2");
    EXPECT_THAT(error_of([&] { load_with(fake_env{"KAFKA_BROKER_ID=1", "KAFKA_NODE_ID=2"}); }),
                HasSubstr("conflicting values for node.id in the environment"));
    EXPECT_THAT(error_of([&] { load_with(_no_env, {}, {{"node.id", "1"}, {"broker.id", "2"}}); }),
                HasSubstr("conflicting values for node.id in --override"));
}

TEST_F(config_test, missing_value_names_how_to_set_it) {
    auto v = load_with(_no_env);
    EXPECT_EQ(error_of([&] { (void)v.get_int32("node.id"); }),
              "missing configuration node.id: set it in a configuration file, as KAFKA_NODE_ID in the "
              "environment, or with --override node.id=...");
}

TEST_F(config_test, wrong_getter_is_a_programming_error) {
    auto v = load_with(_no_env);
    EXPECT_THROW((void)v.get_bool("num.partitions"), std::logic_error);
    EXPECT_THROW((void)v.get_string("no.such.key"), std::logic_error);
    EXPECT_EQ(v.get_int64("num.partitions"), 1);  // widening is allowed
    EXPECT_EQ(v.get_string("num.partitions"), "1");
}

TEST_F(config_test, password_is_masked) {
    auto v = load_with(fake_env{"KAFKA_SSL_KEYSTORE_PASSWORD=s3cret "});
    EXPECT_EQ(v.get_string("ssl.keystore.password"), "s3cret ");  // passwords are not trimmed
    auto all = v.all();
    EXPECT_EQ(all.at("ssl.keystore.password"), "[hidden]");
    EXPECT_EQ(all.at("num.partitions"), "1");
    EXPECT_FALSE(all.contains("node.id"));
}

TEST_F(config_test, schema_rejects_bad_declarations) {
    schema s;
    s.add({.name = "a", .t = type::int32});
    EXPECT_THROW(s.add({.name = "a", .t = type::int32}), std::invalid_argument);
    EXPECT_THROW(s.add({.name = "b", .t = type::int32, .aliases = {"a"}}), std::invalid_argument);
    EXPECT_THROW(s.add({.name = "c", .t = type::int32, .default_value = "x"}), std::invalid_argument);
    EXPECT_THROW(s.add({.name = "d", .t = type::int32, .default_value = "0", .validate = at_least(1)}),
                 std::invalid_argument);
    EXPECT_THAT(broker_schema().help(), HasSubstr("node.id (int32, also broker.id)\n    This server's id.\n"));
}

TEST_F(config_test, missing_file_is_an_error) {
    EXPECT_THAT(error_of([&] { load_with(_no_env, {"/nonexistent/server.properties"}); }),
                HasSubstr("cannot read configuration file /nonexistent/server.properties"));
}

// The operator's layout: a shared file, then a per-pod file, then the environment and
// --override, each replacing what came before.
TEST_F(config_test, several_files_apply_in_order) {
    auto shared = write_file("broker.properties",
                             "num.partitions=3\n"
                             "broker.id=1\n"
                             "log.retention.ms=1000\n"
                             "log.dirs=/data\n");
    auto pod = write_file("c-broker-5.yaml",
                          "node.id: 5\n"
                          "num.partitions: 4\n");
    auto v = load_with(fake_env{"KAFKA_LOG_RETENTION_MS=2000"}, {shared, pod}, {{"num.partitions", "6"}});
    EXPECT_EQ(v.get_int32("node.id"), 5);  // node.id in the later file replaces broker.id
    EXPECT_EQ(v.source("node.id"), "file " + pod.string());
    EXPECT_EQ(v.get_string("log.dirs"), "/data");
    EXPECT_EQ(v.source("log.dirs"), "file " + shared.string());
    EXPECT_EQ(v.get_int64("log.retention.ms"), 2000);
    EXPECT_EQ(v.get_int32("num.partitions"), 6);

    auto reversed = load_with(_no_env, {pod, shared});
    EXPECT_EQ(reversed.get_int32("node.id"), 1);
    EXPECT_EQ(reversed.get_int32("num.partitions"), 3);
}

TEST_F(config_test, errors_name_the_file_the_value_came_from) {
    auto good = write_file("a.properties", "num.partitions=3\n");
    auto bad = write_file("b.properties", "num.partitions=three\n");
    auto typo = write_file("c.properties", "num.partitons=3\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {good, bad}); }),
              "invalid value 'three' for num.partitions (from " + bad.string() + "): not an integer");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {typo, good}); }),
              "unknown configuration key 'num.partitons' in " + typo.string() + " (did you mean 'num.partitions'?)");
    EXPECT_THAT(error_of([&] { load_with(_no_env, {good, "/nonexistent/pod.properties"}); }),
                HasSubstr("cannot read configuration file /nonexistent/pod.properties"));
}

TEST_F(config_test, env_references_in_a_file_are_expanded) {
    auto pod = write_file("c-broker-0.properties",
                          "advertised.listeners=PLAIN://${env:POD_NAME}.c-broker.ns.svc.cluster.local:9092,"
                          "EXTERNAL://${env:HOST_IP}:31234\n"
                          "cluster.id=${env:A}${env:B}-${env:EMPTY}x\n"
                          "ssl.keystore.password=${env:SECRET}\n");
    fake_env env{"POD_NAME=c-broker-0", "HOST_IP=10.0.0.7", "A=ab", "B=cd", "EMPTY=", "SECRET=s3cret"};
    auto v = load_with(env, {pod});
    EXPECT_THAT(v.get_list("advertised.listeners"),
                ElementsAre("PLAIN://c-broker-0.c-broker.ns.svc.cluster.local:9092", "EXTERNAL://10.0.0.7:31234"));
    EXPECT_EQ(v.get_string("cluster.id"), "abcd-x");
    EXPECT_EQ(v.get_string("ssl.keystore.password"), "s3cret");
    EXPECT_EQ(v.all().at("ssl.keystore.password"), "[hidden]");
}

TEST_F(config_test, text_that_is_no_env_reference_is_left_alone) {
    auto file = write_file("s.properties", "cluster.id=$env:A ${env} {env:A} ${sys:A} $${noprovider}\n");
    // A variable's value is not scanned again.
    auto v = load_with(fake_env{"A=${env:B}", "B=b"}, {file}, {{"log.dirs", "/d/${env:A}"}});
    EXPECT_EQ(v.get_string("cluster.id"), "$env:A ${env} {env:A} ${sys:A} $${noprovider}");
    EXPECT_EQ(v.get_string("log.dirs"), "/d/${env:B}");
}

TEST_F(config_test, unset_variable_names_key_variable_and_file) {
    auto pod = write_file("c-broker-0.properties", "advertised.listeners=PLAIN://${env:POD_NAME}:9092\n");
    EXPECT_EQ(error_of([&] { load_with(fake_env{"POD_IP=10.0.0.1"}, {pod}); }),
              "cannot resolve ${env:POD_NAME} in advertised.listeners (from " + pod.string() +
                  "): environment variable POD_NAME is not set");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {}, {{"cluster.id", "${env:ID}"}}); }),
              "cannot resolve ${env:ID} in cluster.id (from --override): environment variable ID is not set");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {}, {{"cluster.id", "${env:dir:ID}"}}); }),
              "cannot resolve ${env:dir:ID} in cluster.id (from --override): EnvVarConfigProvider takes no "
              "path ('dir')");
}

TEST_F(config_test, env_references_resolve_in_environment_and_overrides) {
    fake_env env{"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${env:POD_IP}:9092", "POD_IP=10.1.2.3", "NODE=8"};
    auto v = load_with(env, {}, {{"node.id", "${env:NODE}"}});
    EXPECT_THAT(v.get_list("advertised.listeners"), ElementsAre("PLAINTEXT://10.1.2.3:9092"));
    EXPECT_EQ(v.get_int32("node.id"), 8);
    EXPECT_EQ(error_of([&] { load_with(fake_env{"KAFKA_NODE_ID=${env:NODE}"}); }),
              "cannot resolve ${env:NODE} in node.id (from env KAFKA_NODE_ID): environment variable NODE is not set");
}

TEST_F(config_test, kafka_config_provider_declarations) {
    // A Kafka server.properties declaring the provider loads; its keys are not settings.
    auto kafka = write_file("server.properties",
                            "config.providers=env\n"
                            "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
                            "cluster.id=${env:ID}\n");
    auto v = load_with(fake_env{"ID=abc"}, {kafka});
    EXPECT_EQ(v.get_string("cluster.id"), "abc");
    EXPECT_FALSE(v.all().contains("config.providers"));

    // Another name for the provider, declared in the environment; an allowlist, declared in
    // a later file, holds for the earlier one too.
    auto named = write_file("named.properties", "cluster.id=${vars:POD_ID}\nlog.dirs=/${vars:HOME}\n");
    auto allow = write_file("allow.properties", "config.providers.vars.param.allowlist.pattern=^POD_\n");
    fake_env vars{"KAFKA_CONFIG_PROVIDERS=vars",
                  "KAFKA_CONFIG_PROVIDERS_VARS_CLASS=io.strimzi.kafka.EnvVarConfigProvider", "POD_ID=p1",
                  "HOME=/root"};
    EXPECT_EQ(error_of([&] { load_with(vars, {named, allow}); }),
              "cannot resolve ${vars:HOME} in log.dirs (from " + named.string() +
                  "): environment variable HOME is not allowed by config.providers.vars.param.allowlist.pattern");
    auto allowed = write_file("allowed.properties", "cluster.id=${vars:POD_ID}\n");
    EXPECT_EQ(load_with(vars, {allowed, allow}).get_string("cluster.id"), "p1");

    // A provider Tributary cannot run is an error where it is used; an undeclared one is
    // left as written, as Kafka does.
    auto file_provider = write_file("file.properties",
                                    "config.providers=file\n"
                                    "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\n"
                                    "cluster.id=${file:/etc/secrets.properties:id}\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {file_provider}); }),
              "cannot resolve ${file:/etc/secrets.properties:id} in cluster.id (from " + file_provider.string() +
                  "): config provider 'file' is org.apache.kafka.common.config.provider.FileConfigProvider; "
                  "Tributary resolves only EnvVarConfigProvider references");
    EXPECT_EQ(load_with(_no_env, {}, {{"cluster.id", "${vault:x}"}}).get_string("cluster.id"), "${vault:x}");

    EXPECT_THAT(error_of([&] {
                    load_with(_no_env, {}, {{"config.providers", "env"},
                                            {"config.providers.env.class", "io.strimzi.kafka.EnvVarConfigProvider"},
                                            {"config.providers.env.param.allowlist.pattern", "(unclosed"}});
                }),
                HasSubstr("invalid value '(unclosed' for config.providers.env.param.allowlist.pattern (from "
                          "--override): not a regular expression"));
}

TEST_F(config_test, command_line_takes_several_files) {
    const char* argv[] = {"prog", "/etc/t/broker.properties", "--override", "num.partitions=2",
                          "/etc/t/c-broker-0.properties", "--override=node.id=3"};
    auto parsed = parse_command_line(6, argv, _schema, "prog");
    ASSERT_TRUE(std::holds_alternative<load_options>(parsed));
    const auto& opts = std::get<load_options>(parsed);
    EXPECT_THAT(opts.files, ElementsAre("/etc/t/broker.properties", "/etc/t/c-broker-0.properties"));
    EXPECT_THAT(opts.overrides, ElementsAre(Pair("num.partitions", "2"), Pair("node.id", "3")));

    const char* bad[] = {"prog", "a.properties", "--no-such-flag"};
    EXPECT_EQ(std::get<int>(parse_command_line(3, bad, _schema, "prog")), 2);
}

TEST(properties, java_syntax) {
    auto pairs = parse_properties(
        "# comment\n"
        "! also a comment \\\n"
        "plain=1\n"
        "   spaced   =   2  \n"
        "colon: 3\n"
        "space 4\n"
        "empty=\n"
        "bare\n"
        "\n"
        "cont = a,\\\n"
        "       b,\\\n"
        "       c\n"
        "esc=tab\\there\\nnl\\\\back\\=eq\n"
        "uni=caf\\u00e9 \\uD83D\\uDE00\n"
        "key\\ with\\:odd\\=chars = v\n"
        "crlf=x\r\n"
        "cr=y\r"
        "trailing=\\\\\n"
        "last=z");
    EXPECT_THAT(pairs, ElementsAre(Pair("plain", "1"), Pair("spaced", "2  "), Pair("colon", "3"),
                                   Pair("space", "4"), Pair("empty", ""), Pair("bare", ""),
                                   Pair("cont", "a,b,c"), Pair("esc", "tab\there\nnl\\back=eq"),
                                   Pair("uni", "caf\xc3\xa9 \xf0\x9f\x98\x80"),
                                   Pair("key with:odd=chars", "v"), Pair("crlf", "x"), Pair("cr", "y"),
                                   Pair("trailing", "\\"), Pair("last", "z")));
}

TEST(properties, continuation_at_end_of_file_and_bad_escapes) {
    EXPECT_THAT(parse_properties("a=b\\"), ElementsAre(Pair("a", "b")));
    try {
        parse_properties("ok=1\nbad=\\u12x4\n", "f.properties");
        FAIL();
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "f.properties:2: malformed \\uXXXX escape");
    }
    EXPECT_THROW(parse_properties("bad=\\u12"), config_error);
    EXPECT_THROW(parse_properties("bad=\\uD83D"), config_error);
}

TEST_F(config_test, yaml_flat_and_nested) {
    auto file = write_file("server.yaml",
                           "node.id: 2\n"
                           "listeners: PLAINTEXT://:9092\n"
                           "log:\n"
                           "  retention:\n"
                           "    ms: 1000\n"
                           "  dirs:\n"
                           "    - /data/a\n"
                           "    - /data/b\n"
                           "auto.create.topics.enable: false\n"
                           "listener.security.protocol.map: PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                           "advertised.listeners:\n");
    auto v = load_with(_no_env, {file});
    EXPECT_EQ(v.get_int32("node.id"), 2);
    EXPECT_EQ(v.get_int64("log.retention.ms"), 1000);
    EXPECT_EQ(v.source("log.retention.ms"), "file " + file.string());
    EXPECT_THAT(v.get_list("log.dirs"), ElementsAre("/data/a", "/data/b"));
    EXPECT_FALSE(v.get_bool("auto.create.topics.enable"));
    EXPECT_THAT(v.get_list("advertised.listeners"), ElementsAre());

    auto yml = write_file("bad.yml", "log: {retention: {mss: 1}}\n");
    EXPECT_EQ(error_of([&] { load_with(_no_env, {yml}); }),
              "unknown configuration key 'log.retention.mss' in " + yml.string() +
                  " (did you mean 'log.retention.ms'?)");
}

TEST(yaml, shapes) {
    EXPECT_THAT(parse_yaml("a: {b: 1, c: [x, y]}\nd: true\n"),
                ElementsAre(Pair("a.b", "1"), Pair("a.c", "x,y"), Pair("d", "true")));
    EXPECT_THAT(parse_yaml(""), ElementsAre());
    EXPECT_THROW(parse_yaml("- a\n- b\n"), config_error);
    EXPECT_THROW(parse_yaml("a: [{b: 1}]\n"), config_error);
    EXPECT_THROW(parse_yaml("a: [unclosed\n"), config_error);
}

TEST(validators, reusable) {
    EXPECT_EQ(at_least(3)("3"), std::nullopt);
    EXPECT_EQ(at_least(3)("2"), "must be at least 3");
    EXPECT_EQ(between(1, 3)("4"), "must be between 1 and 3");
    EXPECT_EQ(between(1, 3)("-9223372036854775808"), "must be between 1 and 3");
    EXPECT_EQ(between(0.5, 1.5)("1.5"), std::nullopt);
    EXPECT_EQ(one_of({"a", "b"})("B"), "must be one of: a, b");
    EXPECT_EQ(one_of({"a", "b"}, false)("B"), std::nullopt);
    EXPECT_EQ(each(at_least(1))("1,2,0"), "item '0' must be at least 1");
}


TEST_F(config_test, prefix_family_keys_load_from_every_source_and_stay_hidden) {
    _schema.add_prefix("listener.name.", "per-listener settings", true);
    auto file = write_file("server.properties",
                           "listener.name.sasl_plaintext.plain.sasl.jaas.config=Mod required user_a=\"b\";\n"
                           "listener.name.other.sasl.enabled.mechanisms=PLAIN\n");
    auto v = load_with(fake_env{"KAFKA_LISTENER_NAME_OTHER_SASL_ENABLED_MECHANISMS=SCRAM-SHA-256"}, {file},
                       {{"listener.name.x.y", "z"}});
    EXPECT_EQ(v.with_prefix("listener.name."),
              (std::map<std::string, std::string>{
                  {"listener.name.other.sasl.enabled.mechanisms", "SCRAM-SHA-256"},  // the environment wins
                  {"listener.name.sasl_plaintext.plain.sasl.jaas.config", "Mod required user_a=\"b\";"},
                  {"listener.name.x.y", "z"}}));
    EXPECT_EQ(v.with_prefix("listener.name.x.").size(), 1u);
    EXPECT_EQ(v.all().at("listener.name.sasl_plaintext.plain.sasl.jaas.config"), "[hidden]");
    // The bare prefix is no key of the family.
    EXPECT_NE(error_of([&] { load_with(_no_env, {}, {{"listener.name.", "z"}}); }), "");
}

} // namespace
} // namespace trib::config
