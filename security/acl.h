#pragma once

// ACL bindings as Kafka defines them (org.apache.kafka.common.acl / resource): a resource
// pattern (type, name, literal or prefixed) and an access control entry (principal, host,
// operation, allow or deny). The enum values are Kafka's wire codes (CreateAcls, DescribeAcls,
// DeleteAcls and the coordinator's ACL records carry them as int8).
//
// Filters (DescribeAcls, DeleteAcls) follow Kafka's AclBindingFilter: ANY matches every value
// of a field, a null string every string; pattern type MATCH matches the bindings that would
// apply to the named resource (the literal name, the `*` wildcard, and every prefix of it).
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trib::security {

enum class acl_resource : int8_t {
    unknown = 0,
    any = 1,
    topic = 2,
    group = 3,
    cluster = 4,
    transactional_id = 5,
    delegation_token = 6,
    user = 7,
};

enum class acl_pattern : int8_t { unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4 };

enum class acl_operation : int8_t {
    unknown = 0,
    any = 1,
    all = 2,
    read = 3,
    write = 4,
    create = 5,
    remove = 6,  // Kafka's DELETE
    alter = 7,
    describe = 8,
    cluster_action = 9,
    describe_configs = 10,
    alter_configs = 11,
    idempotent_write = 12,
    create_tokens = 13,
    describe_tokens = 14,
};

enum class acl_permission : int8_t { unknown = 0, any = 1, deny = 2, allow = 3 };

inline constexpr std::string_view wildcard_resource = "*";
inline constexpr std::string_view wildcard_host = "*";
inline constexpr std::string_view cluster_resource_name = "kafka-cluster";

struct acl_binding {
    acl_resource resource_type = acl_resource::unknown;
    std::string resource_name;
    acl_pattern pattern = acl_pattern::literal;
    std::string principal;
    std::string host;
    acl_operation operation = acl_operation::unknown;
    acl_permission permission = acl_permission::unknown;

    auto operator<=>(const acl_binding&) const = default;
    bool operator==(const acl_binding&) const = default;
};

struct acl_filter {
    acl_resource resource_type = acl_resource::any;
    std::optional<std::string> resource_name;  // null: any
    acl_pattern pattern = acl_pattern::any;
    std::optional<std::string> principal;  // null: any
    std::optional<std::string> host;       // null: any
    acl_operation operation = acl_operation::any;
    acl_permission permission = acl_permission::any;

    bool matches(const acl_binding& b) const;
};

// Why a binding may not be created (Kafka's AclControlManager.validateNewAcl), or nullopt.
// Every such refusal is INVALID_REQUEST.
std::optional<std::string> invalid_binding(const acl_binding& b);
// Why a filter cannot be used (a field UNKNOWN), or nullopt. INVALID_REQUEST too.
std::optional<std::string> invalid_filter(const acl_filter& f);

// Kafka's names: "Topic", "PREFIXED", "Read", "Allow" (for messages and logs).
std::string_view name(acl_resource r);
std::string_view name(acl_pattern p);
std::string_view name(acl_operation o);
std::string_view name(acl_permission p);
// One line: "User:alice from * Allow Read on Topic:LITERAL:t".
std::string describe(const acl_binding& b);

} // namespace trib::security
