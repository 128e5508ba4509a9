// Who may send what to the coordinator (coordinator/authorization.h): Kafka's controller rules
// over the coordinator's APIs, and the keys that turn them on. The refusals on the wire, with
// real processes and stock tools, are in tests/integration/coordinator_authz_test.py.
#include "coordinator/authorization.h"

#include "coordinator/coordinator_config.h"
#include "coordinator/raft/codec.h"
#include "protocol/messages/add_raft_voter.h"
#include "protocol/messages/alter_partition.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/coordinator_broker_heartbeat.h"
#include "protocol/messages/coordinator_fetch_metadata.h"
#include "protocol/messages/coordinator_register_broker.h"
#include "protocol/messages/create_topics.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/remove_raft_voter.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

using security::acl_operation;
using security::acl_permission;

constexpr int16_t register_broker = protocol::coordinator_register_broker_request::api_key;
constexpr int16_t heartbeat = protocol::coordinator_broker_heartbeat_request::api_key;
constexpr int16_t fetch_metadata = protocol::coordinator_fetch_metadata_request::api_key;
constexpr int16_t admin = protocol::coordinator_admin_request::api_key;
constexpr int16_t alter_partition = protocol::alter_partition_request::api_key;
constexpr int16_t describe_quorum = protocol::describe_quorum_request::api_key;
constexpr int16_t add_voter = protocol::add_raft_voter_request::api_key;
constexpr int16_t remove_voter = protocol::remove_raft_voter_request::api_key;
constexpr int16_t create_topics = protocol::create_topics_request::api_key;

// The APIs only brokers and voters send: CLUSTER_ACTION on the cluster.
const std::vector<int16_t> private_apis = {register_broker, heartbeat, fetch_metadata, alter_partition,
                                           raft::api_messages};

security::acl_binding on_cluster(std::string principal, acl_operation op,
                                 acl_permission p = acl_permission::allow, std::string host = "*") {
    return {security::acl_resource::cluster, std::string(security::cluster_resource_name),
            security::acl_pattern::literal, std::move(principal), std::move(host), op, p};
}

struct table {
    security::authorizer_config cfg{true, {"User:admin"}, false};
    security::acl_index acls;
    explicit table(std::vector<security::acl_binding> b = {}) : acls(std::move(b)) {}
    bool may(std::string_view who, int16_t key, int16_t inner = -1, std::string_view host = "127.0.0.1") const {
        return !refusal(cfg, &acls, {who, host}, key, inner);
    }
};


// Whether `who` may send each private API and each request in the admin envelope: all `allowed`.
void expect_all(const table& t, std::string_view who, bool allowed) {
    for (int16_t k : private_apis) {
        EXPECT_EQ(t.may(who, k), allowed) << who << " " << k;
    }
    for (int16_t inner : {describe_quorum, add_voter, remove_voter, create_topics}) {
        EXPECT_EQ(t.may(who, admin, inner), allowed) << who << " CoordinatorAdmin " << inner;
    }
}

TEST(coordinator_authorization, without_an_authorizer_everyone_may_send_everything) {
    table t;
    t.cfg.enabled = false;
    expect_all(t, "User:ANONYMOUS", true);
}

TEST(coordinator_authorization, super_users_may_send_everything) { expect_all(table{}, "User:admin", true); }

TEST(coordinator_authorization, a_logged_in_principal_without_acls_may_only_log_in) {
    table t;
    expect_all(t, "User:alice", false);
    // The login itself is everyone's.
    for (int16_t k : {protocol::api_versions_request::api_key, protocol::sasl_handshake_request::api_key,
                      protocol::sasl_authenticate_request::api_key}) {
        EXPECT_TRUE(t.may("User:ANONYMOUS", k)) << k;
    }
}

TEST(coordinator_authorization, cluster_action_lets_a_broker_register_heartbeat_fetch_and_forward) {
    table t({on_cluster("User:broker", acl_operation::cluster_action)});
    for (int16_t k : private_apis) {
        EXPECT_TRUE(t.may("User:broker", k)) << k;
        EXPECT_FALSE(t.may("User:alice", k)) << k;
    }
    // A forwarding broker has authorized its client itself: any request in the envelope.
    for (int16_t inner : {describe_quorum, add_voter, remove_voter, create_topics}) {
        EXPECT_TRUE(t.may("User:broker", admin, inner)) << inner;
    }
}

TEST(coordinator_authorization, describe_quorum_needs_describe_and_voter_changes_alter) {
    table d({on_cluster("User:watcher", acl_operation::describe)});
    EXPECT_TRUE(d.may("User:watcher", admin, describe_quorum));
    EXPECT_FALSE(d.may("User:watcher", admin, add_voter));
    EXPECT_FALSE(d.may("User:watcher", admin, remove_voter));
    EXPECT_FALSE(d.may("User:watcher", admin, create_topics));
    EXPECT_FALSE(d.may("User:watcher", register_broker));

    // ALTER implies DESCRIBE (Kafka's rule): the operator's principal needs ALTER alone.
    table a({on_cluster("User:operator", acl_operation::alter)});
    EXPECT_TRUE(a.may("User:operator", admin, describe_quorum));
    EXPECT_TRUE(a.may("User:operator", admin, add_voter));
    EXPECT_TRUE(a.may("User:operator", admin, remove_voter));
    EXPECT_FALSE(a.may("User:operator", admin, create_topics));
    EXPECT_FALSE(a.may("User:operator", heartbeat));
}

TEST(coordinator_authorization, deny_wins_and_hosts_and_wildcards_apply_as_on_the_broker) {
    table t({on_cluster("User:*", acl_operation::cluster_action),
             on_cluster("User:mallory", acl_operation::cluster_action, acl_permission::deny)});
    EXPECT_TRUE(t.may("User:broker", register_broker));
    EXPECT_FALSE(t.may("User:mallory", register_broker));
    table h({on_cluster("User:remote", acl_operation::all, acl_permission::allow, "10.0.0.9")});
    EXPECT_TRUE(h.may("User:remote", admin, add_voter, "10.0.0.9"));
    EXPECT_FALSE(h.may("User:remote", admin, add_voter, "127.0.0.1"));
}

TEST(coordinator_authorization, allow_everyone_if_no_acl_found_opens_a_cluster_without_cluster_acls) {
    table t;
    t.cfg.allow_everyone_if_no_acl_found = true;
    EXPECT_TRUE(t.may("User:alice", register_broker));
    // Once an ACL applies to the cluster, it alone decides.
    table bound({on_cluster("User:broker", acl_operation::cluster_action)});
    bound.cfg.allow_everyone_if_no_acl_found = true;
    EXPECT_FALSE(bound.may("User:alice", register_broker));
}

TEST(coordinator_authorization, a_refusal_says_who_what_and_what_would_do) {
    table t;
    auto why = refusal(t.cfg, &t.acls, {"User:alice", "127.0.0.1"}, admin, add_voter);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("User:alice"), std::string::npos) << *why;
    EXPECT_NE(why->find("AddRaftVoter"), std::string::npos) << *why;
    EXPECT_NE(why->find("needs ClusterAction or Alter"), std::string::npos) << *why;
    auto reg = refusal(t.cfg, &t.acls, {"User:alice", "127.0.0.1"}, register_broker);
    ASSERT_TRUE(reg);
    EXPECT_NE(reg->find("CoordinatorRegisterBroker from User:alice needs ClusterAction on"), std::string::npos)
        << *reg;
}

TEST(coordinator_authorization, no_acl_index_is_no_bindings) {
    security::authorizer_config cfg{true, {}, false};
    EXPECT_TRUE(refusal(cfg, nullptr, {"User:alice", "127.0.0.1"}, register_broker));
    cfg.allow_everyone_if_no_acl_found = true;
    EXPECT_FALSE(refusal(cfg, nullptr, {"User:alice", "127.0.0.1"}, register_broker));
}

service_config load(std::vector<std::pair<std::string, std::string>> overrides) {
    static const char* const no_environment[] = {nullptr};
    config::load_options o;
    o.overrides = {{"listeners", "CONTROLLER://127.0.0.1:19091"}, {"log.dirs", "/tmp/coordinator-authz-test"}};
    o.overrides.insert(o.overrides.end(), overrides.begin(), overrides.end());
    o.environ = no_environment;
    return load_coordinator_config(o);
}

TEST(coordinator_authorization, the_coordinator_reads_the_brokers_authorizer_keys) {
    EXPECT_FALSE(load({}).authorizer.enabled);
    auto c = load({{"authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"},
                   {"super.users", "User:controller;User:CN=broker-0"},
                   {"allow.everyone.if.no.acl.found", "true"}});
    EXPECT_TRUE(c.authorizer.enabled);
    EXPECT_TRUE(c.authorizer.allow_everyone_if_no_acl_found);
    EXPECT_EQ(c.authorizer.super_users, (std::set<std::string, std::less<>>{"User:controller", "User:CN=broker-0"}));
    EXPECT_TRUE(load({{"authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"}}).authorizer.enabled);
}

TEST(coordinator_authorization, a_bad_authorizer_key_is_a_config_error_naming_it) {
    auto error_of = [](std::pair<std::string, std::string> kv) -> std::string {
        try {
            load({kv});
        } catch (const config::config_error& e) {
            return e.what();
        }
        return "no error";
    };
    EXPECT_NE(error_of({"authorizer.class.name", "com.example.MyAuthorizer"}).find("authorizer.class.name"),
              std::string::npos);
    EXPECT_NE(error_of({"super.users", "admin"}).find("super.users"), std::string::npos);
    EXPECT_NE(error_of({"ssl.principal.mapping.rules", "RULE:^CN=(.*)$/$1/"}).find("ssl.principal.mapping.rules"),
              std::string::npos);
}

} // namespace
} // namespace trib::coordinator
