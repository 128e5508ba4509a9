#include "security/acl.h"

#include <fmt/format.h>

namespace trib::security {

namespace {

bool resource_matches(const acl_filter& f, const acl_binding& b) {
    if (f.resource_type != acl_resource::any && f.resource_type != b.resource_type) {
        return false;
    }
    if (f.pattern != acl_pattern::any && f.pattern != acl_pattern::match && f.pattern != b.pattern) {
        return false;
    }
    if (!f.resource_name) {
        return true;
    }
    const std::string& n = *f.resource_name;
    if (f.pattern != acl_pattern::match) {
        return n == b.resource_name;
    }
    // MATCH: the bindings that apply to resource `n`.
    switch (b.pattern) {
    case acl_pattern::literal:
        return n == b.resource_name || b.resource_name == wildcard_resource;
    case acl_pattern::prefixed:
        return n.starts_with(b.resource_name);
    default:
        return false;
    }
}

bool entry_matches(const acl_filter& f, const acl_binding& b) {
    return (!f.principal || *f.principal == b.principal) && (!f.host || *f.host == b.host) &&
           (f.operation == acl_operation::any || f.operation == b.operation) &&
           (f.permission == acl_permission::any || f.permission == b.permission);
}

// Kafka's KafkaPrincipal.fromString: "<type>:<name>", both non-empty.
bool valid_principal(std::string_view p) {
    auto colon = p.find(':');
    return colon != std::string_view::npos && colon > 0 && colon + 1 < p.size();
}

bool in_range(int8_t v, int8_t lo, int8_t hi) { return v >= lo && v <= hi; }

} // namespace

bool acl_filter::matches(const acl_binding& b) const { return resource_matches(*this, b) && entry_matches(*this, b); }

std::optional<std::string> invalid_binding(const acl_binding& b) {
    if (!in_range(int8_t(b.resource_type), int8_t(acl_resource::topic), int8_t(acl_resource::user))) {
        return fmt::format("Invalid resourceType {}", int(b.resource_type));
    }
    if (b.pattern != acl_pattern::literal && b.pattern != acl_pattern::prefixed) {
        return fmt::format("Invalid patternType {}", int(b.pattern));
    }
    if (b.resource_name.empty()) {
        return "Resource name should not be empty";
    }
    if (!in_range(int8_t(b.operation), int8_t(acl_operation::all), int8_t(acl_operation::describe_tokens))) {
        return fmt::format("Invalid operation {}", int(b.operation));
    }
    if (b.permission != acl_permission::allow && b.permission != acl_permission::deny) {
        return fmt::format("Invalid permissionType {}", int(b.permission));
    }
    if (!valid_principal(b.principal)) {
        return fmt::format("Could not parse principal from `{}` (no colon is present separating the principal type "
                           "from the principal name)",
                           b.principal);
    }
    if (b.host.empty()) {
        return "Invalid null host";
    }
    return std::nullopt;
}

std::optional<std::string> invalid_filter(const acl_filter& f) {
    if (f.pattern == acl_pattern::unknown || !in_range(int8_t(f.pattern), 0, 4)) {
        return "Unknown patternFilter.";
    }
    if (f.resource_type == acl_resource::unknown || !in_range(int8_t(f.resource_type), 0, 7) ||
        f.operation == acl_operation::unknown || !in_range(int8_t(f.operation), 0, 14) ||
        f.permission == acl_permission::unknown || !in_range(int8_t(f.permission), 0, 3)) {
        return "Filter contain UNKNOWN elements";
    }
    return std::nullopt;
}

std::string_view name(acl_resource r) {
    switch (r) {
    case acl_resource::any: return "Any";
    case acl_resource::topic: return "Topic";
    case acl_resource::group: return "Group";
    case acl_resource::cluster: return "Cluster";
    case acl_resource::transactional_id: return "TransactionalId";
    case acl_resource::delegation_token: return "DelegationToken";
    case acl_resource::user: return "User";
    default: return "Unknown";
    }
}

std::string_view name(acl_pattern p) {
    switch (p) {
    case acl_pattern::any: return "ANY";
    case acl_pattern::match: return "MATCH";
    case acl_pattern::literal: return "LITERAL";
    case acl_pattern::prefixed: return "PREFIXED";
    default: return "UNKNOWN";
    }
}

std::string_view name(acl_operation o) {
    switch (o) {
    case acl_operation::any: return "Any";
    case acl_operation::all: return "All";
    case acl_operation::read: return "Read";
    case acl_operation::write: return "Write";
    case acl_operation::create: return "Create";
    case acl_operation::remove: return "Delete";
    case acl_operation::alter: return "Alter";
    case acl_operation::describe: return "Describe";
    case acl_operation::cluster_action: return "ClusterAction";
    case acl_operation::describe_configs: return "DescribeConfigs";
    case acl_operation::alter_configs: return "AlterConfigs";
    case acl_operation::idempotent_write: return "IdempotentWrite";
    case acl_operation::create_tokens: return "CreateTokens";
    case acl_operation::describe_tokens: return "DescribeTokens";
    default: return "Unknown";
    }
}

std::string_view name(acl_permission p) {
    switch (p) {
    case acl_permission::any: return "Any";
    case acl_permission::deny: return "Deny";
    case acl_permission::allow: return "Allow";
    default: return "Unknown";
    }
}

std::string describe(const acl_binding& b) {
    return fmt::format("{} from {} {} {} on {}:{}:{}", b.principal, b.host, name(b.permission), name(b.operation),
                       name(b.resource_type), name(b.pattern), b.resource_name);
}

} // namespace trib::security
