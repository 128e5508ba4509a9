#include "security/authorizer.h"

#include <algorithm>

namespace trib::security {

namespace {

bool principal_matches(std::string_view acl, std::string_view who) { return acl == who || acl == "User:*"; }

bool host_matches(std::string_view acl, std::string_view host) { return acl == wildcard_host || acl == host; }

// Whether an ALLOW of `granted` allows `op`.
bool allow_implies(acl_operation granted, acl_operation op) {
    if (granted == op || granted == acl_operation::all) {
        return true;
    }
    if (op == acl_operation::describe) {
        return granted == acl_operation::read || granted == acl_operation::write || granted == acl_operation::remove ||
               granted == acl_operation::alter;
    }
    return op == acl_operation::describe_configs && granted == acl_operation::alter_configs;
}

bool deny_covers(acl_operation denied, acl_operation op) { return denied == op || denied == acl_operation::all; }

} // namespace

acl_index::acl_index(std::vector<acl_binding> bindings) : _all(std::move(bindings)) {
    std::sort(_all.begin(), _all.end());
    _all.erase(std::unique(_all.begin(), _all.end()), _all.end());
    for (const auto& b : _all) {
        auto& t = _types[int8_t(b.resource_type)];
        entry e{b.principal, b.host, b.operation, b.permission};
        if (b.pattern == acl_pattern::prefixed) {
            t.prefixed[b.resource_name].push_back(std::move(e));
            t.prefix_lengths.insert(b.resource_name.size());
        } else {
            t.literal[b.resource_name].push_back(std::move(e));
        }
        t.all.push_back(&b);
    }
}

const acl_index::by_type* acl_index::find(acl_resource type) const {
    auto it = _types.find(int8_t(type));
    return it == _types.end() ? nullptr : &it->second;
}

const std::vector<const acl_binding*>& acl_index::of_type(acl_resource type) const {
    static const std::vector<const acl_binding*> none;
    const by_type* t = find(type);
    return t ? t->all : none;
}

bool authorize(const authorizer_config& cfg, const acl_index* acls, request_identity who, acl_operation op,
               acl_resource type, std::string_view name) {
    if (!cfg.enabled || cfg.super_users.contains(who.principal)) {
        return true;
    }
    bool denied = false;
    bool allowed = false;
    bool found = acls && acls->for_each_applying(type, name, [&](const acl_index::entry& e) {
        if (!principal_matches(e.principal, who.principal) || !host_matches(e.host, who.host)) {
            return;
        }
        if (e.permission == acl_permission::deny) {
            denied = denied || deny_covers(e.operation, op);
        } else if (e.permission == acl_permission::allow) {
            allowed = allowed || allow_implies(e.operation, op);
        }
    });
    if (!found) {
        return cfg.allow_everyone_if_no_acl_found;
    }
    return !denied && allowed;
}

bool authorize_any(const authorizer_config& cfg, const acl_index* acls, request_identity who, acl_operation op,
                   acl_resource type) {
    if (!cfg.enabled || cfg.super_users.contains(who.principal)) {
        return true;
    }
    if (!acls || acls->of_type(type).empty()) {
        return cfg.allow_everyone_if_no_acl_found;
    }
    const auto& all = acls->of_type(type);
    auto matches = [&](const acl_binding& b) {
        return principal_matches(b.principal, who.principal) && host_matches(b.host, who.host);
    };
    // A DENY that shadows an ALLOW: on `*`, on the same literal name, or a prefix of its name.
    auto shadowed = [&](const acl_binding& allow) {
        return std::any_of(all.begin(), all.end(), [&](const acl_binding* d) {
            if (d->permission != acl_permission::deny || !deny_covers(d->operation, op) || !matches(*d)) {
                return false;
            }
            if (d->pattern == acl_pattern::literal) {
                return d->resource_name == wildcard_resource ||
                       (allow.pattern == acl_pattern::literal && d->resource_name == allow.resource_name);
            }
            return allow.resource_name.starts_with(d->resource_name);
        });
    };
    return std::any_of(all.begin(), all.end(), [&](const acl_binding* b) {
        return b->permission == acl_permission::allow && allow_implies(b->operation, op) && matches(*b) &&
               !shadowed(*b);
    });
}

std::span<const acl_operation> supported_operations(acl_resource type) {
    using enum acl_operation;
    static constexpr acl_operation topic_ops[] = {read, write, create, describe, remove, alter, describe_configs,
                                                  alter_configs};
    static constexpr acl_operation group_ops[] = {read, describe, remove};
    static constexpr acl_operation cluster_ops[] = {create, cluster_action, describe_configs, alter_configs,
                                                    idempotent_write, alter, describe};
    static constexpr acl_operation transactional_id_ops[] = {describe, write};
    switch (type) {
    case acl_resource::topic: return topic_ops;
    case acl_resource::group: return group_ops;
    case acl_resource::cluster: return cluster_ops;
    case acl_resource::transactional_id: return transactional_id_ops;
    default: return {};
    }
}

std::optional<std::set<std::string, std::less<>>> parse_super_users(std::string_view value) {
    std::set<std::string, std::less<>> out;
    while (!value.empty()) {
        auto semi = value.find(';');
        std::string_view item = value.substr(0, semi);
        value = semi == std::string_view::npos ? std::string_view{} : value.substr(semi + 1);
        while (!item.empty() && item.front() == ' ') {
            item.remove_prefix(1);
        }
        while (!item.empty() && item.back() == ' ') {
            item.remove_suffix(1);
        }
        if (item.empty()) {
            continue;
        }
        auto colon = item.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == item.size()) {
            return std::nullopt;
        }
        out.emplace(item);
    }
    return out;
}

} // namespace trib::security
