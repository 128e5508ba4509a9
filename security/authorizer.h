#pragma once

// The authorizer: Kafka's StandardAuthorizer semantics over a set of ACL bindings.
//
// A request is allowed when
//   - its principal is a super user (`super.users`), else
//   - no binding applies to the resource at all and `allow.everyone.if.no.acl.found` is set, else
//   - no DENY binding matches it and an ALLOW binding does.
// A binding applies to resource (type, name) when its pattern is LITERAL with that name or
// `*`, or PREFIXED with a prefix of the name. It matches a request when, besides, its
// principal is the request's or `User:*`, its host the client's address or `*`, and its
// operation the one asked or ALL; an ALLOW of READ, WRITE, DELETE or ALTER also allows
// DESCRIBE, and an ALLOW of ALTER_CONFIGS allows DESCRIBE_CONFIGS (a DENY implies nothing).
//
// acl_index is built once per change of the bindings (it is immutable, shared by every core
// through the cluster snapshot), so a check never walks every binding: per resource type, a
// hash map by literal name and one by prefix, probed for each prefix length that occurs.
#include "security/acl.h"

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trib::security {

class acl_index {
public:
    acl_index() = default;
    explicit acl_index(std::vector<acl_binding> bindings);
    // The per-type tables point into _all.
    acl_index(const acl_index&) = delete;
    acl_index& operator=(const acl_index&) = delete;

    // Every binding, sorted (DescribeAcls walks them).
    const std::vector<acl_binding>& bindings() const noexcept { return _all; }
    bool empty() const noexcept { return _all.empty(); }

    struct entry {
        std::string principal;
        std::string host;
        acl_operation operation;
        acl_permission permission;
    };
    // Calls f(entry) for every binding that applies to the resource; false when none does.
    template<typename F>
    bool for_each_applying(acl_resource type, std::string_view name, F&& f) const;
    // The bindings of one resource type (authorize_any walks them).
    const std::vector<const acl_binding*>& of_type(acl_resource type) const;

private:
    struct name_hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using by_name = std::unordered_map<std::string, std::vector<entry>, name_hash, std::equal_to<>>;
    struct by_type {
        by_name literal;  // "*" included
        by_name prefixed;
        std::set<size_t> prefix_lengths;
        std::vector<const acl_binding*> all;
    };
    const by_type* find(acl_resource type) const;

    std::vector<acl_binding> _all;
    std::unordered_map<int8_t, by_type> _types;
};

struct authorizer_config {
    bool enabled = false;                // authorizer.class.name set
    std::set<std::string, std::less<>> super_users;  // "User:admin"
    bool allow_everyone_if_no_acl_found = false;
};

struct request_identity {
    std::string_view principal;  // "User:alice"
    std::string_view host;       // the client's IP address
};

// Whether `who` may do `op` on resource (type, name). Always true when the authorizer is
// disabled; `acls` may be null (no bindings).
bool authorize(const authorizer_config& cfg, const acl_index* acls, request_identity who, acl_operation op,
               acl_resource type, std::string_view name);

// Whether `who` may do `op` on some resource of `type` (Kafka's authorizeByResourceType: an
// ALLOW binding for it that no DENY binding shadows). Used where Kafka accepts "WRITE on any
// topic" in place of IDEMPOTENT_WRITE on the cluster.
bool authorize_any(const authorizer_config& cfg, const acl_index* acls, request_identity who, acl_operation op,
                   acl_resource type);

// The operations Kafka reports in authorized-operations bit fields for a resource type (its
// supported operations: Metadata's TopicAuthorizedOperations, DescribeCluster's,
// DescribeGroups' and ConsumerGroupDescribe's AuthorizedOperations); empty for other types.
std::span<const acl_operation> supported_operations(acl_resource type);

// Parses `super.users` ("User:a;User:b"): each entry must be <type>:<name>; nullopt if not.
std::optional<std::set<std::string, std::less<>>> parse_super_users(std::string_view value);

template<typename F>
bool acl_index::for_each_applying(acl_resource type, std::string_view name, F&& f) const {
    const by_type* t = find(type);
    if (!t) {
        return false;
    }
    bool found = false;
    auto visit = [&](const by_name& m, std::string_view key) {
        if (auto it = m.find(key); it != m.end()) {
            found = true;
            for (const auto& e : it->second) {
                f(e);
            }
        }
    };
    visit(t->literal, name);
    if (name != wildcard_resource) {
        visit(t->literal, wildcard_resource);
    }
    for (size_t len : t->prefix_lengths) {
        if (len > name.size()) {
            break;
        }
        visit(t->prefixed, name.substr(0, len));
    }
    return found;
}

} // namespace trib::security
