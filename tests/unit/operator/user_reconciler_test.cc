// KafkaUser passes (controller/user_reconciler.h) on the fake API server
// (tests/fakes/fake_kube.h) and a fake cluster behind user_ops that keeps ACLs and SCRAM
// credentials as the brokers would.
#include "operator/controller/user_reconciler.h"

#include "operator/api/kafka_user.h"
#include "operator/controller/tls.h"
#include "operator/k8s/finalizer.h"
#include "operator/k8s/status.h"
#include "security/scram.h"
#include "tests/fakes/fake_kube.h"

#include <gtest/gtest.h>

#include <set>

namespace trib::op::controller {
namespace {

using json = web::json::value;
using k8s::testing::fake_kube;
namespace res = k8s::resources;
using namespace std::chrono_literals;

// The cluster side: ACL bindings and SCRAM credentials, and failures on demand.
class fake_users final : public user_ops {
public:
    std::set<security::acl_binding> acls;
    std::map<std::string, scram_upsert> scram;
    std::string fail;  // a call whose name starts with this fails
    std::vector<std::string> calls;
    std::vector<std::string> last_to;

    acls_answer describe_acls(const brokers& to, const std::string& principal) override {
        acls_answer a;
        if (!called("describe_acls", to, a)) {
            return a;
        }
        for (const auto& b : acls) {
            if (b.principal == principal) {
                a.acls.push_back(b);
            }
        }
        return a;
    }
    user_ops_answer create_acls(const brokers& to, const std::vector<security::acl_binding>& add) override {
        user_ops_answer a;
        if (called("create_acls", to, a)) {
            acls.insert(add.begin(), add.end());
        }
        return a;
    }
    user_ops_answer delete_acls(const brokers& to, const std::vector<security::acl_filter>& filters) override {
        user_ops_answer a;
        if (called("delete_acls", to, a)) {
            std::erase_if(acls, [&](const auto& b) {
                return std::any_of(filters.begin(), filters.end(), [&](const auto& f) { return f.matches(b); });
            });
        }
        return a;
    }
    scram_answer describe_scram(const brokers& to, const std::string& user) override {
        scram_answer a;
        if (called("describe_scram", to, a)) {
            a.exists = scram.count(user) > 0;
        }
        return a;
    }
    user_ops_answer upsert_scram(const brokers& to, const scram_upsert& c) override {
        user_ops_answer a;
        if (called("upsert_scram", to, a)) {
            scram[c.user] = c;
        }
        return a;
    }
    user_ops_answer delete_scram(const brokers& to, const std::string& user) override {
        user_ops_answer a;
        if (called("delete_scram", to, a)) {
            scram.erase(user);
        }
        return a;
    }

    // Whether `password` is what the credential of `user` was made from.
    bool accepts(const std::string& user, const std::string& password) const {
        auto it = scram.find(user);
        return it != scram.end() &&
               it->second.salted_password == security::scram_salted_password(security::scram_algorithm::sha512, password,
                                                                             it->second.salt, it->second.iterations);
    }
    size_t count(const std::string& call) const { return std::count(calls.begin(), calls.end(), call); }

private:
    bool called(const std::string& name, const brokers& to, user_ops_answer& a) {
        calls.push_back(name);
        last_to = to;
        if (!fail.empty() && name.rfind(fail, 0) == 0) {
            a.error = "CLUSTER_AUTHORIZATION_FAILED: no";
            return false;
        }
        a.ok = true;
        return true;
    }
};

class user_reconciler_test : public ::testing::Test {
protected:
    fake_kube kube;
    fake_users cluster;
    user_reconciler rec{kube, kube, kube, {.wait_interval = 1s, .clock = nullptr, .ops = &cluster}};

    void SetUp() override {
        kube.put(res::kafka_clusters, json::parse(R"({"metadata":{"name":"c","namespace":"ns"},"spec":{}})"));
        for (int i = 0; i < 2; ++i) {
            add_broker(i, i == 0);
        }
    }

    void add_broker(int ordinal, bool ready) {
        kube.put(res::pods, json::parse(R"({"metadata":{"name":"c-broker-)" + std::to_string(ordinal) +
                                        R"(","namespace":"ns","labels":{"app.kubernetes.io/instance":"c","app.kubernetes.io/component":"broker"}},
            "status":{"podIP":"10.0.0.)" + std::to_string(ordinal + 1) + R"(","conditions":[{"type":"Ready","status":")" +
                                        (ready ? "True" : "False") + R"("}]}})"));
    }

    json user(const std::string& spec, const std::string& name = "alice", const std::string& cluster_name = "c") {
        return kube.put(res::kafka_users,
                        json::parse(R"({"metadata":{"name":")" + name + R"(","namespace":"ns","labels":{"tributary.io/cluster":")" +
                                    cluster_name + R"("}},"spec":)" + spec + "}"));
    }

    json get(const k8s::resource& r, const std::string& name) {
        auto o = kube.get(r, "ns", name);
        EXPECT_TRUE(o) << name;
        return o.value_or(json::object());
    }

    json ready_condition(const std::string& name = "alice") {
        return k8s::find_condition(get(res::kafka_users, name).at("status"), "Ready").value_or(json::object());
    }
    std::string reason(const std::string& name = "alice") { return string_at(ready_condition(name), {"reason"}); }
    std::string password(const std::string& name = "alice") {
        return secret_value(get(res::secrets, name), "password").value_or("");
    }
};

const char* const scram = R"({"authentication":{"type":"scram-sha-512"}})";
const char* const reader_acls =
    R"({"authentication":{"type":"scram-sha-512"},"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"orders"},"operations":["Read","Describe"]},
                                                 {"resource":{"type":"group","name":"app-","patternType":"prefix"},"operations":["Read"]}]}})";

TEST_F(user_reconciler_test, a_scram_user_gets_its_secret_credential_and_acls_and_a_second_pass_changes_nothing) {
    user(reader_acls);
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(r.requeue_after);
    auto ku = get(res::kafka_users, "alice");
    EXPECT_EQ(string_at(ready_condition(), {"status"}), "True") << ku.serialize();
    EXPECT_EQ(string_at(ku, {"status", "username"}), "alice");
    EXPECT_EQ(string_at(ku, {"status", "secret"}), "alice");
    EXPECT_EQ(int_at(ku, {"status", "observedGeneration"}), 1);
    EXPECT_TRUE(k8s::has_finalizer(ku, user_cleanup_finalizer));
    const auto secret = get(res::secrets, "alice");
    EXPECT_EQ(string_at(ku, {"status", "credentialSecretUid"}), string_at(secret, {"metadata", "uid"}));
    EXPECT_EQ(secret.at("metadata").at("ownerReferences").at(0).at("uid").as_string(), string_at(ku, {"metadata", "uid"}));
    EXPECT_TRUE(cluster.accepts("alice", password()));
    EXPECT_EQ(cluster.acls.size(), 3u);
    EXPECT_EQ(cluster.last_to, (std::vector<std::string>{"10.0.0.1:9091"}));  // the ready broker only

    cluster.calls.clear();
    const std::string rv = string_at(get(res::kafka_users, "alice"), {"metadata", "resourceVersion"});
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(cluster.count("upsert_scram") + cluster.count("create_acls") + cluster.count("delete_acls"), 0u);
    EXPECT_EQ(string_at(get(res::kafka_users, "alice"), {"metadata", "resourceVersion"}), rv);
    EXPECT_TRUE(cluster.accepts("alice", password()));
}

TEST_F(user_reconciler_test, a_deleted_secret_brings_a_new_password_that_the_cluster_accepts) {
    user(scram);
    rec.reconcile_user("ns", "alice");
    const std::string before = password();
    kube.remove(res::secrets, "ns", "alice");
    rec.reconcile_user("ns", "alice");
    const std::string after = password();
    EXPECT_NE(after, before);
    EXPECT_TRUE(cluster.accepts("alice", after));
    EXPECT_FALSE(cluster.accepts("alice", before));
    EXPECT_EQ(string_at(get(res::kafka_users, "alice"), {"status", "credentialSecretUid"}),
              string_at(get(res::secrets, "alice"), {"metadata", "uid"}));
    // A credential lost on the cluster's side is set again from the same Secret.
    cluster.scram.clear();
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(password(), after);
    EXPECT_TRUE(cluster.accepts("alice", after));
}

TEST_F(user_reconciler_test, acls_follow_the_spec) {
    user(reader_acls);
    rec.reconcile_user("ns", "alice");
    security::acl_binding foreign{security::acl_resource::topic, "x", security::acl_pattern::literal, "User:bob", "*",
                                  security::acl_operation::read, security::acl_permission::allow};
    cluster.acls.insert(foreign);
    user(R"({"authentication":{"type":"scram-sha-512"},"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"orders"},"operations":["Write"]}]}})");
    rec.reconcile_user("ns", "alice");
    std::vector<std::string> now;
    for (const auto& b : cluster.acls) {
        now.push_back(security::describe(b));
    }
    EXPECT_EQ(now, (std::vector<std::string>{"User:alice from * Allow Write on Topic:LITERAL:orders",
                                             "User:bob from * Allow Read on Topic:LITERAL:x"}));
}

TEST_F(user_reconciler_test, an_invalid_spec_or_a_missing_cluster_is_reported_and_waits_for_a_change) {
    user(R"({"authentication":{"type":"kerberos"}})");
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(r.requeue_after);
    EXPECT_EQ(reason(), "InvalidSpec");
    EXPECT_NE(string_at(ready_condition(), {"message"}).find("spec.authentication.type"), std::string::npos);
    EXPECT_FALSE(k8s::has_finalizer(get(res::kafka_users, "alice"), user_cleanup_finalizer));
    EXPECT_TRUE(cluster.calls.empty());

    user(scram, "bob", "nope");
    r = rec.reconcile_user("ns", "bob");
    EXPECT_FALSE(r.requeue_after);
    EXPECT_EQ(reason("bob"), "ClusterNotFound");
    EXPECT_FALSE(kube.get(res::secrets, "ns", "bob"));
}

TEST_F(user_reconciler_test, a_cluster_without_a_ready_broker_is_waited_for) {
    kube.remove(res::pods, "ns", "c-broker-0");
    user(scram);
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_EQ(r.requeue_after, std::optional<std::chrono::milliseconds>(1s));
    EXPECT_EQ(reason(), "ClusterNotReady");
    EXPECT_TRUE(cluster.calls.empty());
    // Nothing was made on the cluster: no finalizer, so a deletion now does not wait for brokers.
    EXPECT_FALSE(k8s::has_finalizer(get(res::kafka_users, "alice"), user_cleanup_finalizer));
    add_broker(1, true);
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(reason(), "Ready");
    EXPECT_EQ(cluster.last_to, (std::vector<std::string>{"10.0.0.2:9091"}));
    EXPECT_TRUE(k8s::has_finalizer(get(res::kafka_users, "alice"), user_cleanup_finalizer));
}

TEST_F(user_reconciler_test, a_kafka_error_is_the_condition_and_the_pass_comes_back) {
    user(reader_acls);
    cluster.fail = "create_acls";
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_TRUE(r.requeue_after);
    EXPECT_EQ(reason(), "KafkaError");
    EXPECT_EQ(string_at(ready_condition(), {"message"}), "CreateAcls: CLUSTER_AUTHORIZATION_FAILED: no");
    // What went through is remembered: the credential is not set again.
    EXPECT_EQ(string_at(get(res::kafka_users, "alice"), {"status", "credentialSecretUid"}),
              string_at(get(res::secrets, "alice"), {"metadata", "uid"}));
    cluster.fail.clear();
    cluster.calls.clear();
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(reason(), "Ready");
    EXPECT_EQ(cluster.count("upsert_scram"), 0u);
    EXPECT_EQ(cluster.acls.size(), 3u);

    cluster.fail = "describe_scram";
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(string_at(ready_condition(), {"message"}),
              "DescribeUserScramCredentials: CLUSTER_AUTHORIZATION_FAILED: no");
}

TEST_F(user_reconciler_test, a_tls_user_waits_for_the_clients_ca_then_gets_a_certificate_and_no_password) {
    user(scram);
    rec.reconcile_user("ns", "alice");
    ASSERT_TRUE(cluster.scram.count("alice"));
    user(R"({"authentication":{"type":"tls"},"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"t"},"operations":["Read"]}]}})");
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_TRUE(r.requeue_after);
    EXPECT_EQ(reason(), "ClientsCaMissing");

    auto ca = certs::make_ca("clients", std::chrono::system_clock::now(), ca_validity);
    ASSERT_TRUE(ca);
    json data = json::object();
    data["ca.key"] = json::string(security::base64_encode(ca->key_pem));
    data["ca.crt"] = json::string(security::base64_encode(ca->cert_pem));
    json s = json::object();
    s["metadata"] = json::parse(R"({"name":"c-clients-ca","namespace":"ns"})");
    s["data"] = data;
    kube.put(res::secrets, s);
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(reason(), "Ready") << string_at(ready_condition(), {"message"});
    EXPECT_EQ(string_at(get(res::kafka_users, "alice"), {"status", "username"}), "CN=alice");
    const auto secret = get(res::secrets, "alice");
    auto crt = certs::inspect(secret_value(secret, "user.crt").value_or(""));
    ASSERT_TRUE(crt);
    EXPECT_EQ(crt->subject_cn, "alice");
    EXPECT_EQ(secret_value(secret, "ca.crt"), ca->cert_pem);
    EXPECT_FALSE(cluster.scram.count("alice"));  // the SCRAM credential it had is gone
    std::vector<std::string> acls;
    for (const auto& b : cluster.acls) {
        acls.push_back(security::describe(b));
    }
    EXPECT_EQ(acls, (std::vector<std::string>{"User:CN=alice from * Allow Read on Topic:LITERAL:t"}));
    ASSERT_FALSE(kube.events.empty());
    EXPECT_EQ(kube.events.back().reason, "AclsUpdated");
}

TEST_F(user_reconciler_test, a_user_that_authenticates_elsewhere_gets_acls_only_and_loses_its_old_credential) {
    // It had SCRAM credentials; then spec.authentication is dropped (it logs in with OAuth now).
    user(reader_acls);
    rec.reconcile_user("ns", "alice");
    ASSERT_TRUE(cluster.scram.count("alice"));
    ASSERT_TRUE(kube.get(res::secrets, "ns", "alice"));
    user(R"({"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"orders"},"operations":["Read"]}]}})");
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(r.requeue_after);
    EXPECT_EQ(reason(), "Ready") << string_at(ready_condition(), {"message"});
    EXPECT_EQ(string_at(ready_condition(), {"message"}), "user alice, ACLs only (it authenticates elsewhere, e.g. OAuth)");
    const auto ku = get(res::kafka_users, "alice");
    EXPECT_EQ(string_at(ku, {"status", "username"}), "alice");
    EXPECT_EQ(string_at(ku, {"status", "secret"}), "");
    EXPECT_FALSE(cluster.scram.count("alice"));  // its password no longer logs in
    std::vector<std::string> acls;
    for (const auto& b : cluster.acls) {
        acls.push_back(security::describe(b));
    }
    EXPECT_EQ(acls, (std::vector<std::string>{"User:alice from * Allow Read on Topic:LITERAL:orders"}));

    // Deleted: its ACLs go with it.
    kube.remove(res::kafka_users, "ns", "alice");
    rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(kube.get(res::kafka_users, "ns", "alice"));
    EXPECT_TRUE(cluster.acls.empty());
}

TEST_F(user_reconciler_test, a_secret_it_does_not_own_is_left_alone) {
    kube.put(res::secrets, json::parse(R"({"metadata":{"name":"alice","namespace":"ns"},"data":{"password":"aGk="}})"));
    user(scram);
    rec.reconcile_user("ns", "alice");
    EXPECT_EQ(reason(), "SecretConflict");
    EXPECT_EQ(password(), "hi");
    EXPECT_FALSE(cluster.scram.count("alice"));
}

TEST_F(user_reconciler_test, deleting_a_user_removes_its_acls_and_credential_then_the_finalizer) {
    user(reader_acls);
    rec.reconcile_user("ns", "alice");
    ASSERT_EQ(cluster.acls.size(), 3u);
    kube.remove(res::kafka_users, "ns", "alice");  // held by the finalizer
    ASSERT_TRUE(kube.get(res::kafka_users, "ns", "alice"));
    cluster.fail = "delete_scram";
    auto r = rec.reconcile_user("ns", "alice");
    EXPECT_TRUE(r.requeue_after);
    EXPECT_TRUE(kube.get(res::kafka_users, "ns", "alice"));
    cluster.fail.clear();
    rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(kube.get(res::kafka_users, "ns", "alice"));
    EXPECT_TRUE(cluster.acls.empty());
    EXPECT_TRUE(cluster.scram.empty());
}

TEST_F(user_reconciler_test, a_user_whose_cluster_is_gone_just_drops_its_finalizer) {
    user(scram);
    rec.reconcile_user("ns", "alice");
    kube.remove(res::kafka_clusters, "ns", "c");
    kube.remove(res::kafka_users, "ns", "alice");
    cluster.calls.clear();
    rec.reconcile_user("ns", "alice");
    EXPECT_FALSE(kube.get(res::kafka_users, "ns", "alice"));
    EXPECT_TRUE(cluster.calls.empty());
}

} // namespace
} // namespace trib::op::controller
