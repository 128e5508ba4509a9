// kafka user_ops (controller/user_ops.h) against a scripted broker
// (tests/fakes/kafka_fake_broker.h): answers read into bindings and credentials, refusals as
// Kafka's error names, a cluster without an authorizer, an address that does not answer.
#include "operator/controller/user_ops.h"

#include "protocol/messages/alter_user_scram_credentials.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/create_acls.h"
#include "protocol/messages/delete_acls.h"
#include "protocol/messages/describe_acls.h"
#include "protocol/messages/describe_user_scram_credentials.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;

bytes api_versions(int32_t cid) {
    protocol::api_versions_response av;
    av.api_keys = {{protocol::describe_acls_request::api_key, 0, 3, {}},
                   {protocol::create_acls_request::api_key, 0, 3, {}},
                   {protocol::delete_acls_request::api_key, 0, 3, {}},
                   {protocol::describe_user_scram_credentials_request::api_key, 0, 0, {}},
                   {protocol::alter_user_scram_credentials_request::api_key, 0, 0, {}}};
    return fakes::framed(fakes::encode_response(av, 3, cid));
}

// A broker answering ApiVersions, then `answer` for the one other request.
template<typename Answer>
std::unique_ptr<fakes::kafka_fake_broker> broker(Answer answer) {
    return std::make_unique<fakes::kafka_fake_broker>([answer](int16_t key, int32_t cid) -> std::optional<bytes> {
        if (key == protocol::api_versions_request::api_key) {
            return api_versions(cid);
        }
        return answer(key, cid);
    });
}

TEST(kafka_user_ops, describe_acls_reads_every_binding_of_the_principal) {
    auto b = broker([](int16_t, int32_t cid) {
        protocol::describe_acls_response r;
        auto& res = r.resources.emplace_back();
        res.resource_type = 2;
        res.resource_name = "orders";
        res.pattern_type = 3;
        res.acls.push_back({"User:alice", "*", 3, 3, {}});
        res.acls.push_back({"User:alice", "10.0.0.1", 4, 2, {}});
        return fakes::framed(fakes::encode_response(r, 3, cid));
    });
    auto ops = make_kafka_user_ops({.timeout = 5s});
    auto a = ops->describe_acls({b->address()}, "User:alice");
    ASSERT_TRUE(a.ok) << a.error;
    ASSERT_EQ(a.acls.size(), 2u);
    EXPECT_EQ(security::describe(a.acls[0]), "User:alice from * Allow Read on Topic:LITERAL:orders");
    EXPECT_EQ(security::describe(a.acls[1]), "User:alice from 10.0.0.1 Deny Write on Topic:LITERAL:orders");
}

TEST(kafka_user_ops, a_cluster_without_an_authorizer_has_no_acls_and_other_errors_are_named) {
    auto none = broker([](int16_t, int32_t cid) {
        protocol::describe_acls_response r;
        r.error_code = 54;  // SECURITY_DISABLED
        return fakes::framed(fakes::encode_response(r, 3, cid));
    });
    auto ops = make_kafka_user_ops({.timeout = 5s});
    auto a = ops->describe_acls({none->address()}, "User:alice");
    EXPECT_TRUE(a.ok) << a.error;
    EXPECT_TRUE(a.acls.empty());

    auto refusing = broker([](int16_t, int32_t cid) {
        protocol::create_acls_response r;
        r.results.push_back({0, std::nullopt, {}});
        r.results.push_back({42, std::string("no"), {}});  // INVALID_REQUEST
        return fakes::framed(fakes::encode_response(r, 3, cid));
    });
    security::acl_binding read{security::acl_resource::topic, "t", security::acl_pattern::literal, "User:alice", "*",
                               security::acl_operation::read, security::acl_permission::allow};
    auto write = read;
    write.operation = security::acl_operation::write;
    auto c = ops->create_acls({refusing->address()}, {read, write});
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.error, "User:alice from * Allow Write on Topic:LITERAL:t: INVALID_REQUEST: no");
}

TEST(kafka_user_ops, scram_credentials_missing_present_and_deleted_when_gone) {
    int16_t result_code = 91;  // RESOURCE_NOT_FOUND
    auto b = std::make_unique<fakes::kafka_fake_broker>(
        [&](int16_t key, int32_t cid) -> std::optional<bytes> {
            if (key == protocol::api_versions_request::api_key) {
                return api_versions(cid);
            }
            if (key == protocol::describe_user_scram_credentials_request::api_key) {
                protocol::describe_user_scram_credentials_response r;
                auto& u = r.results.emplace_back();
                u.user = "alice";
                u.error_code = result_code;
                if (result_code == 0) {
                    u.credential_infos.push_back({1, 4096, {}});
                    u.credential_infos.push_back({2, 4096, {}});
                }
                return fakes::framed(fakes::encode_response(r, 0, cid));
            }
            protocol::alter_user_scram_credentials_response r;
            r.results.push_back({"alice", result_code, std::string("Attempt to delete a user credential that does not exist"), {}});
            return fakes::framed(fakes::encode_response(r, 0, cid));
        },
        4);
    auto ops = make_kafka_user_ops({.timeout = 5s});
    auto missing = ops->describe_scram({b->address()}, "alice");
    ASSERT_TRUE(missing.ok) << missing.error;
    EXPECT_FALSE(missing.exists);
    auto gone = ops->delete_scram({b->address()}, "alice");
    EXPECT_TRUE(gone.ok) << gone.error;
    auto upsert = ops->upsert_scram({b->address()}, make_scram_upsert("alice", "pw"));
    EXPECT_FALSE(upsert.ok);
    EXPECT_EQ(upsert.error.rfind("RESOURCE_NOT_FOUND: ", 0), 0u) << upsert.error;
    result_code = 0;
    auto present = ops->describe_scram({b->address()}, "alice");
    ASSERT_TRUE(present.ok) << present.error;
    EXPECT_TRUE(present.exists);
}

TEST(kafka_user_ops, an_address_that_does_not_answer_is_passed_over_and_none_is_an_error) {
    auto b = broker([](int16_t, int32_t cid) {
        protocol::delete_acls_response r;
        r.filter_results.emplace_back();
        return fakes::framed(fakes::encode_response(r, 3, cid));
    });
    auto ops = make_kafka_user_ops({.timeout = 2s});
    const std::string dead = fakes::dead_address();
    auto ok = ops->delete_acls({dead, b->address()}, {security::acl_filter{}});
    EXPECT_TRUE(ok.ok) << ok.error;
    auto none = ops->delete_acls({dead}, {security::acl_filter{}});
    EXPECT_FALSE(none.ok);
    EXPECT_NE(none.error.find(dead), std::string::npos) << none.error;
    EXPECT_EQ(ops->delete_acls({}, {}).error, "no broker to ask");
}

} // namespace
} // namespace trib::op::controller
