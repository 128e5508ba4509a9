#include "operator/controller/users.h"

#include "security/scram.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

namespace trib::op::controller {
namespace {

using json = web::json::value;
using namespace std::chrono_literals;
using security::acl_binding;

const certs::time_point t0 = std::chrono::system_clock::from_time_t(1790000000);

api::kafka_user make_user(const std::string& spec) {
    std::vector<std::string> errors;
    auto u = api::parse_kafka_user(
        json::parse(R"({"metadata":{"name":"alice","namespace":"ns","uid":"ku-1","labels":{"tributary.io/cluster":"c"}},"spec":)" +
                    spec + "}"),
        errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_TRUE(api::validate(u).empty());
    return u;
}

// The Secret as the API server would store the plan's, with a uid.
json stored(json secret, const std::string& uid) {
    secret["metadata"]["uid"] = json::string(uid);
    return secret;
}

const char* const scram = R"({"authentication":{"type":"scram-sha-512"}})";

std::string value(const json& secret, const std::string& key) { return secret_value(secret, key).value_or("<none>"); }

TEST(users, a_new_scram_user_gets_a_random_password_in_its_own_secret_and_a_credential) {
    auto u = make_user(scram);
    auto p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0});
    EXPECT_TRUE(p.problem_reason.empty());
    EXPECT_TRUE(p.set_scram);
    EXPECT_FALSE(p.delete_scram);
    EXPECT_EQ(p.password.size(), 32u);
    EXPECT_TRUE(std::all_of(p.password.begin(), p.password.end(), [](char c) { return std::isalnum((unsigned char)c); }));
    EXPECT_EQ(value(p.secret, "password"), p.password);
    EXPECT_EQ(value(p.secret, "sasl.jaas.config"),
              "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"" +
                  p.password + "\";");
    const auto& meta = p.secret.at("metadata");
    EXPECT_EQ(meta.at("name").as_string(), "alice");
    EXPECT_EQ(meta.at("namespace").as_string(), "ns");
    EXPECT_EQ(meta.at("labels").at("tributary.io/cluster").as_string(), "c");
    EXPECT_EQ(meta.at("labels").at("app.kubernetes.io/managed-by").as_string(), "tributary-operator");
    const auto& owner = meta.at("ownerReferences").at(0);
    EXPECT_EQ(owner.at("kind").as_string(), "KafkaUser");
    EXPECT_EQ(owner.at("uid").as_string(), "ku-1");
    EXPECT_TRUE(owner.at("controller").as_bool());
    EXPECT_TRUE(p.create_acls.empty());
    EXPECT_TRUE(p.delete_acls.empty());
    // Another user's password is another one.
    auto q = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0});
    EXPECT_NE(q.password, p.password);
}

TEST(users, the_password_is_kept_and_the_credential_set_only_when_missing_or_from_another_secret) {
    auto u = make_user(scram);
    auto first = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0});
    const json secret = stored(first.secret, "s-1");
    u.credential_secret_uid = "s-1";
    auto same = decide_user({.user = u, .acls = {}, .scram_credential = true, .secret = secret, .clients_ca = {}, .now = t0});
    EXPECT_EQ(same.password, first.password);
    EXPECT_FALSE(same.set_scram);
    EXPECT_EQ(same.secret.at("data"), first.secret.at("data"));

    auto lost = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = secret, .clients_ca = {}, .now = t0});
    EXPECT_EQ(lost.password, first.password);
    EXPECT_TRUE(lost.set_scram);

    // The Secret was deleted and made again (by a pass after the delete): the credential must follow it.
    u.credential_secret_uid = "s-0";
    auto remade = decide_user({.user = u, .acls = {}, .scram_credential = true, .secret = secret, .clients_ca = {}, .now = t0});
    EXPECT_EQ(remade.password, first.password);
    EXPECT_TRUE(remade.set_scram);

    // Someone emptied the password: a new one, and the credential with it.
    json emptied = secret;
    emptied["data"]["password"] = json::string("");
    u.credential_secret_uid = "s-1";
    auto fresh = decide_user({.user = u, .acls = {}, .scram_credential = true, .secret = emptied, .clients_ca = {}, .now = t0});
    EXPECT_EQ(fresh.password.size(), 32u);
    EXPECT_TRUE(fresh.set_scram);
}

TEST(users, a_secret_of_the_same_name_that_is_not_the_users_is_left_alone) {
    auto u = make_user(scram);
    json foreign = json::parse(R"({"metadata":{"name":"alice","namespace":"ns","uid":"x"},"data":{"password":"aGk="}})");
    auto p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = foreign, .clients_ca = {}, .now = t0});
    EXPECT_EQ(p.problem_reason, "SecretConflict");
    EXPECT_FALSE(p.set_scram);
    EXPECT_TRUE(p.secret.is_null());
}

acl_binding binding(const std::string& principal, security::acl_operation op, const std::string& topic = "orders") {
    return {security::acl_resource::topic, topic, security::acl_pattern::literal, principal, "*", op,
            security::acl_permission::allow};
}

TEST(users, acls_missing_are_created_and_others_of_the_principal_deleted_exactly) {
    auto u = make_user(R"({"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"orders"},"operations":["Read","Describe"]}]}})");
    using op = security::acl_operation;
    user_facts f{.user = u,
                 .acls = {binding("User:alice", op::read), binding("User:alice", op::write),
                          binding("User:CN=alice", op::read), binding("User:alice", op::read)},
                 .scram_credential = true,
                 .secret = {},
                 .clients_ca = {},
                 .now = t0};
    auto p = decide_user(f);
    ASSERT_EQ(p.create_acls.size(), 1u);
    EXPECT_EQ(security::describe(p.create_acls[0]), "User:alice from * Allow Describe on Topic:LITERAL:orders");
    ASSERT_EQ(p.delete_acls.size(), 2u);
    int matched = 0;
    for (const auto& filter : p.delete_acls) {
        for (const auto& b : f.acls) {
            matched += filter.matches(b) ? 1 : 0;
        }
        EXPECT_FALSE(security::invalid_filter(filter));
    }
    EXPECT_EQ(matched, 2);  // the Write and the CN= Read, nothing else
    EXPECT_TRUE(p.delete_acls[0].matches(binding("User:CN=alice", op::read)) ||
                p.delete_acls[1].matches(binding("User:CN=alice", op::read)));

    f.acls = {binding("User:alice", op::read), binding("User:alice", op::describe)};
    auto settled = decide_user(f);
    EXPECT_TRUE(settled.create_acls.empty());
    EXPECT_TRUE(settled.delete_acls.empty());

    // No authorization: the operator keeps none for the principal.
    auto bare = make_user(scram);
    auto none = decide_user({.user = bare, .acls = f.acls, .scram_credential = true, .secret = {}, .clients_ca = {}, .now = t0});
    EXPECT_TRUE(none.create_acls.empty());
    EXPECT_EQ(none.delete_acls.size(), 2u);
}

TEST(users, a_user_that_authenticates_elsewhere_gets_only_acls) {
    // spec.authentication omitted (an OAuth user): no Secret, no credential; the credential a
    // former SCRAM life left goes.
    auto u = make_user(R"({"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"orders"},"operations":["Read"]}]}})");
    EXPECT_EQ(api::principal(u), "User:alice");
    auto fresh = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0});
    EXPECT_TRUE(fresh.problem_reason.empty());
    EXPECT_TRUE(fresh.secret.is_null());
    EXPECT_FALSE(fresh.set_scram || fresh.delete_scram);
    ASSERT_EQ(fresh.create_acls.size(), 1u);
    EXPECT_EQ(security::describe(fresh.create_acls[0]), "User:alice from * Allow Read on Topic:LITERAL:orders");

    auto scram_user = make_user(scram);
    const json own_secret = stored(
        decide_user({.user = scram_user, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0})
            .secret,
        "s-1");
    auto after = decide_user({.user = u, .acls = {}, .scram_credential = true, .secret = own_secret, .clients_ca = {}, .now = t0});
    EXPECT_TRUE(after.problem_reason.empty());
    EXPECT_TRUE(after.delete_scram);
    EXPECT_TRUE(after.secret.is_null());

    // Someone else's Secret of the same name is not the user's concern: no conflict.
    json foreign = own_secret;
    foreign["metadata"].erase("ownerReferences");
    auto other = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = foreign, .clients_ca = {}, .now = t0});
    EXPECT_TRUE(other.problem_reason.empty());
}

certs::key_pair ca_at(certs::time_point now) {
    auto ca = certs::make_ca("clients-ca", now, 24h * 365 * 5);
    EXPECT_TRUE(ca);
    return *ca;
}

TEST(users, a_tls_user_waits_for_a_usable_clients_ca) {
    auto u = make_user(R"({"authentication":{"type":"tls"}})");
    auto p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = {}, .now = t0});
    EXPECT_EQ(p.problem_reason, "ClientsCaMissing");
    EXPECT_NE(p.problem_message.find("c-clients-ca"), std::string::npos);
    auto ca = ca_at(t0);
    certs::leaf_request not_ca;
    not_ca.common_name = "not-a-ca";
    auto leaf = certs::issue(ca, not_ca, t0, 24h);
    ASSERT_TRUE(leaf);
    p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = *leaf, .now = t0});
    EXPECT_EQ(p.problem_reason, "ClientsCaInvalid");
    p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {},
                     .clients_ca = certs::key_pair{ca_at(t0).key_pem, ca.cert_pem}, .now = t0});
    EXPECT_EQ(p.problem_reason, "ClientsCaInvalid");
}

TEST(users, a_tls_user_gets_a_certificate_kept_until_it_needs_renewing) {
    auto u = make_user(R"({"authentication":{"type":"tls"}})");
    const auto ca = ca_at(t0);
    auto p = decide_user({.user = u, .acls = {}, .scram_credential = true, .secret = {}, .clients_ca = ca, .now = t0});
    ASSERT_TRUE(p.problem_reason.empty()) << p.problem_message;
    EXPECT_EQ(p.issued, "new");
    EXPECT_TRUE(p.delete_scram);  // left from when it was a SCRAM user
    EXPECT_FALSE(p.set_scram);
    EXPECT_EQ(value(p.secret, "ca.crt"), ca.cert_pem);
    const std::string crt = value(p.secret, "user.crt"), key = value(p.secret, "user.key");
    auto facts = certs::inspect(crt);
    ASSERT_TRUE(facts);
    EXPECT_EQ(facts->subject_cn, "alice");
    EXPECT_FALSE(facts->is_ca);
    {
        // The subject is CN=alice alone: the brokers' principal (User:<subject DN>) is User:CN=alice.
        BIO* bio = BIO_new_mem_buf(crt.data(), int(crt.size()));
        X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        ASSERT_NE(x, nullptr);
        EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
        X509_free(x);
        BIO_free(bio);
    }
    EXPECT_TRUE(certs::verify(crt, ca.cert_pem, t0));
    EXPECT_TRUE(certs::matches({key, crt}));
    const auto days = std::chrono::duration_cast<std::chrono::hours>(facts->not_after - t0).count() / 24;
    EXPECT_NEAR(double(days), 365.0, 1.0);

    const json secret = stored(p.secret, "s-1");
    auto later = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = secret, .clients_ca = ca,
                              .now = t0 + 24h * 300});
    EXPECT_EQ(later.issued, "");
    EXPECT_EQ(value(later.secret, "user.crt"), crt);
    EXPECT_FALSE(later.delete_scram);

    auto expiring = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = secret, .clients_ca = ca,
                                 .now = t0 + 24h * 340});
    EXPECT_EQ(expiring.issued.rfind("expires ", 0), 0u) << expiring.issued;
    EXPECT_NE(value(expiring.secret, "user.crt"), crt);

    const auto other = ca_at(t0);
    auto moved = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = secret, .clients_ca = other,
                              .now = t0 + 24h});
    EXPECT_EQ(moved.issued.rfind("not valid under the clients CA", 0), 0u) << moved.issued;
    EXPECT_TRUE(certs::verify(value(moved.secret, "user.crt"), other.cert_pem, t0 + 24h));
    EXPECT_EQ(value(moved.secret, "ca.crt"), other.cert_pem);
}

TEST(users, while_the_clients_ca_is_renewed_a_user_gets_the_bundle_and_a_certificate_the_old_ca_accepts) {
    auto u = make_user(R"({"authentication":{"type":"tls"}})");
    const auto old_ca = ca_at(t0);
    auto first = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = {}, .clients_ca = old_ca, .now = t0});
    const json secret = stored(first.secret, "s-1");
    auto next = certs::make_ca("clients-ca", t0, 24h * 365);  // the subject of the CA it replaces
    ASSERT_TRUE(next);
    auto rollover = certs::rollover(old_ca, *next, t0);
    ASSERT_TRUE(rollover);
    auto p = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = secret, .clients_ca = *next,
                          .now = t0 + 1h, .clients_ca_old = old_ca.cert_pem, .clients_ca_rollover = *rollover});
    EXPECT_EQ(p.issued.rfind("not valid under the clients CA", 0), 0u) << p.issued;
    EXPECT_EQ(value(p.secret, "ca.crt"), next->cert_pem + old_ca.cert_pem);
    const std::string crt = value(p.secret, "user.crt");
    EXPECT_NE(crt.find(*rollover), std::string::npos);
    EXPECT_TRUE(certs::verify(crt, old_ca.cert_pem, t0 + 1h)) << "brokers not yet trusting the new CA take it";
    EXPECT_TRUE(certs::verify(crt, next->cert_pem, t0 + 1h));
    EXPECT_TRUE(certs::matches({value(p.secret, "user.key"), crt}));

    // Issued once: the next pass keeps it; after the renewal ca.crt is the new CA alone.
    auto kept = decide_user({.user = u, .acls = {}, .scram_credential = false, .secret = stored(p.secret, "s-1"),
                             .clients_ca = *next, .now = t0 + 2h});
    EXPECT_EQ(kept.issued, "");
    EXPECT_EQ(value(kept.secret, "user.crt"), crt);
    EXPECT_EQ(value(kept.secret, "ca.crt"), next->cert_pem);
}

TEST(users, the_scram_upsert_carries_the_brokers_own_derivation_with_a_fresh_salt) {
    auto a = make_scram_upsert("alice", "pw");
    auto b = make_scram_upsert("alice", "pw");
    EXPECT_EQ(a.user, "alice");
    EXPECT_EQ(a.iterations, 4096);
    EXPECT_EQ(a.salt.size(), 32u);
    EXPECT_NE(a.salt, b.salt);
    EXPECT_EQ(a.salted_password, security::scram_salted_password(security::scram_algorithm::sha512, "pw", a.salt, 4096));
    EXPECT_EQ(a.salted_password.size(), 64u);  // SHA-512
}

TEST(users, passwords_use_the_whole_alphabet) {
    std::string all;
    for (int i = 0; i < 50; ++i) {
        all += random_password();
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    EXPECT_EQ(all.size(), 62u);
}

} // namespace
} // namespace trib::op::controller
