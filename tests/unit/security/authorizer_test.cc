// The authorizer's decisions (Kafka's StandardAuthorizer rules) and the ACL filters of
// DescribeAcls / DeleteAcls.
#include "security/authorizer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace trib::security {
namespace {

using op = acl_operation;

acl_binding allow(acl_resource type, std::string name, acl_pattern pattern, std::string principal, op o,
                  std::string host = "*") {
    return {type, std::move(name), pattern, std::move(principal), std::move(host), o, acl_permission::allow};
}
acl_binding deny(acl_resource type, std::string name, acl_pattern pattern, std::string principal, op o,
                 std::string host = "*") {
    return {type, std::move(name), pattern, std::move(principal), std::move(host), o, acl_permission::deny};
}

constexpr auto topic = acl_resource::topic;
constexpr auto group = acl_resource::group;
constexpr auto literal = acl_pattern::literal;
constexpr auto prefixed = acl_pattern::prefixed;

struct fixture {
    authorizer_config cfg{true, {}, false};
    std::shared_ptr<acl_index> acls;
    explicit fixture(std::vector<acl_binding> bindings) : acls(std::make_shared<acl_index>(std::move(bindings))) {}
    bool can(std::string_view who, op o, acl_resource type, std::string_view name,
             std::string_view host = "10.0.0.1") const {
        return authorize(cfg, acls.get(), {who, host}, o, type, name);
    }
};

TEST(authorizer, literal_allow_is_for_that_principal_operation_and_resource_only) {
    fixture f({allow(topic, "t", literal, "User:alice", op::read)});
    EXPECT_TRUE(f.can("User:alice", op::read, topic, "t"));
    EXPECT_FALSE(f.can("User:bob", op::read, topic, "t"));
    EXPECT_FALSE(f.can("User:alice", op::write, topic, "t"));
    EXPECT_FALSE(f.can("User:alice", op::read, topic, "t2"));
    EXPECT_FALSE(f.can("User:alice", op::read, group, "t"));
}

TEST(authorizer, disabled_allows_everything) {
    fixture f({});
    f.cfg.enabled = false;
    EXPECT_TRUE(f.can("User:x", op::alter, acl_resource::cluster, "kafka-cluster"));
}

TEST(authorizer, no_acl_on_the_resource_denies_unless_allow_everyone) {
    fixture f({allow(topic, "other", literal, "User:alice", op::read)});
    EXPECT_FALSE(f.can("User:alice", op::read, topic, "t"));
    f.cfg.allow_everyone_if_no_acl_found = true;
    EXPECT_TRUE(f.can("User:bob", op::read, topic, "t"));
    // An ACL on the resource, even for someone else, turns the default off.
    EXPECT_FALSE(f.can("User:bob", op::read, topic, "other"));
}

TEST(authorizer, super_users_are_allowed_everything_even_against_a_deny) {
    fixture f({deny(topic, "t", literal, "User:admin", op::all)});
    f.cfg.super_users = *parse_super_users("User:admin; User:ops");
    EXPECT_TRUE(f.can("User:admin", op::write, topic, "t"));
    EXPECT_TRUE(f.can("User:ops", op::alter, acl_resource::cluster, "kafka-cluster"));
    EXPECT_FALSE(f.can("User:alice", op::write, topic, "t"));
}

TEST(authorizer, prefixed_and_wildcard_patterns_apply) {
    fixture f({allow(topic, "orders-", prefixed, "User:alice", op::write),
               allow(topic, "*", literal, "User:bob", op::read)});
    EXPECT_TRUE(f.can("User:alice", op::write, topic, "orders-eu"));
    EXPECT_TRUE(f.can("User:alice", op::write, topic, "orders-"));
    EXPECT_FALSE(f.can("User:alice", op::write, topic, "order"));
    EXPECT_FALSE(f.can("User:alice", op::write, topic, "xorders-eu"));
    EXPECT_TRUE(f.can("User:bob", op::read, topic, "anything"));
    EXPECT_TRUE(f.can("User:bob", op::read, topic, "orders-eu"));
}

TEST(authorizer, deny_beats_allow_from_any_pattern) {
    fixture f({allow(topic, "*", literal, "User:alice", op::all),
               deny(topic, "secret-", prefixed, "User:alice", op::read)});
    EXPECT_TRUE(f.can("User:alice", op::read, topic, "public"));
    EXPECT_FALSE(f.can("User:alice", op::read, topic, "secret-x"));
    EXPECT_TRUE(f.can("User:alice", op::write, topic, "secret-x"));  // the deny is of READ only
}

TEST(authorizer, wildcard_principal_and_hosts) {
    fixture f({allow(topic, "t", literal, "User:*", op::read),
               deny(topic, "t", literal, "User:*", op::read, "10.0.0.66"),
               allow(topic, "h", literal, "User:alice", op::read, "10.0.0.1")});
    EXPECT_TRUE(f.can("User:anyone", op::read, topic, "t"));
    EXPECT_FALSE(f.can("User:anyone", op::read, topic, "t", "10.0.0.66"));
    EXPECT_TRUE(f.can("User:alice", op::read, topic, "h", "10.0.0.1"));
    EXPECT_FALSE(f.can("User:alice", op::read, topic, "h", "10.0.0.2"));
}

TEST(authorizer, implied_operations) {
    fixture f({allow(topic, "r", literal, "User:a", op::read), allow(topic, "w", literal, "User:a", op::write),
               allow(topic, "d", literal, "User:a", op::remove), allow(topic, "al", literal, "User:a", op::alter),
               allow(topic, "ac", literal, "User:a", op::alter_configs),
               allow(topic, "all", literal, "User:a", op::all),
               allow(topic, "c", literal, "User:a", op::create)});
    for (const char* t : {"r", "w", "d", "al", "all"}) {
        EXPECT_TRUE(f.can("User:a", op::describe, topic, t)) << t;
    }
    EXPECT_FALSE(f.can("User:a", op::describe, topic, "c"));   // CREATE implies nothing
    EXPECT_FALSE(f.can("User:a", op::describe, topic, "ac"));  // ALTER_CONFIGS implies DESCRIBE_CONFIGS only
    EXPECT_TRUE(f.can("User:a", op::describe_configs, topic, "ac"));
    EXPECT_FALSE(f.can("User:a", op::write, topic, "r"));
    EXPECT_TRUE(f.can("User:a", op::idempotent_write, topic, "all"));
}

TEST(authorizer, a_deny_implies_nothing) {
    fixture f({allow(topic, "t", literal, "User:a", op::describe), deny(topic, "t", literal, "User:a", op::read)});
    EXPECT_TRUE(f.can("User:a", op::describe, topic, "t"));
    EXPECT_FALSE(f.can("User:a", op::read, topic, "t"));
}

TEST(authorizer, any_resource_of_a_type) {
    authorizer_config cfg{true, {}, false};
    acl_index none;
    EXPECT_FALSE(authorize_any(cfg, &none, {"User:a", "h"}, op::write, topic));
    acl_index some({allow(topic, "t", literal, "User:a", op::write)});
    EXPECT_TRUE(authorize_any(cfg, &some, {"User:a", "h"}, op::write, topic));
    EXPECT_FALSE(authorize_any(cfg, &some, {"User:b", "h"}, op::write, topic));
    acl_index shadowed({allow(topic, "t-1", literal, "User:a", op::write),
                        deny(topic, "t-", prefixed, "User:a", op::write)});
    EXPECT_FALSE(authorize_any(cfg, &shadowed, {"User:a", "h"}, op::write, topic));
}

TEST(authorizer, many_bindings_are_indexed_by_name_and_prefix) {
    std::vector<acl_binding> many;
    for (int i = 0; i < 5000; ++i) {
        many.push_back(allow(topic, fmt::format("topic-{}", i), literal, fmt::format("User:u{}", i), op::read));
        many.push_back(allow(topic, fmt::format("p{}-", i), prefixed, "User:p", op::write));
    }
    fixture f(std::move(many));
    EXPECT_TRUE(f.can("User:u4321", op::read, topic, "topic-4321"));
    EXPECT_FALSE(f.can("User:u4321", op::read, topic, "topic-4322"));
    EXPECT_TRUE(f.can("User:p", op::write, topic, "p77-x"));
    EXPECT_FALSE(f.can("User:p", op::write, topic, "p77"));
    EXPECT_EQ(f.acls->bindings().size(), 10000u);
}

TEST(acl_filter, match_any_and_literal_filters_as_kafka) {
    auto lit = allow(topic, "orders", literal, "User:a", op::read);
    auto star = allow(topic, "*", literal, "User:a", op::read);
    auto pre = allow(topic, "ord", prefixed, "User:a", op::read);
    acl_filter match;
    match.resource_type = topic;
    match.resource_name = "orders";
    match.pattern = acl_pattern::match;
    EXPECT_TRUE(match.matches(lit));
    EXPECT_TRUE(match.matches(star));
    EXPECT_TRUE(match.matches(pre));
    acl_filter any = match;
    any.pattern = acl_pattern::any;
    EXPECT_TRUE(any.matches(lit));
    EXPECT_FALSE(any.matches(star));
    EXPECT_FALSE(any.matches(pre));
    acl_filter exact_prefixed = match;
    exact_prefixed.pattern = prefixed;
    exact_prefixed.resource_name = "ord";
    EXPECT_TRUE(exact_prefixed.matches(pre));
    EXPECT_FALSE(exact_prefixed.matches(lit));
    acl_filter everything;
    EXPECT_TRUE(everything.matches(lit) && everything.matches(pre));
    acl_filter by_principal;
    by_principal.principal = "User:b";
    EXPECT_FALSE(by_principal.matches(lit));
    acl_filter by_op;
    by_op.operation = op::write;
    EXPECT_FALSE(by_op.matches(lit));
}

TEST(acl_binding, validation_as_kafka) {
    EXPECT_FALSE(invalid_binding(allow(topic, "t", literal, "User:a", op::read)));
    EXPECT_TRUE(invalid_binding(allow(acl_resource::any, "t", literal, "User:a", op::read)));
    EXPECT_TRUE(invalid_binding(allow(topic, "t", acl_pattern::match, "User:a", op::read)));
    EXPECT_TRUE(invalid_binding(allow(topic, "", literal, "User:a", op::read)));
    EXPECT_TRUE(invalid_binding(allow(topic, "t", literal, "alice", op::read)));
    EXPECT_TRUE(invalid_binding(allow(topic, "t", literal, "User:a", op::any)));
    EXPECT_TRUE(invalid_binding(allow(topic, "t", literal, "User:a", op::read, "")));
    auto b = allow(topic, "t", literal, "User:a", op::read);
    b.permission = acl_permission::any;
    EXPECT_TRUE(invalid_binding(b));
    acl_filter f;
    EXPECT_FALSE(invalid_filter(f));
    f.operation = op::unknown;
    EXPECT_TRUE(invalid_filter(f));
    EXPECT_FALSE(parse_super_users("User:a;bad"));
    EXPECT_EQ(parse_super_users("")->size(), 0u);
}

} // namespace
} // namespace trib::security
