#include "operator/k8s/status.h"

#include "operator/k8s/clock.h"

namespace trib::op::k8s {

using web::json::value;

namespace {

value status_of(const value& obj) { return obj.has_field("status") ? obj.at("status") : value::null(); }

} // namespace

std::optional<value> update_status(api& kube, const resource& r, const std::string& ns, const std::string& name,
                                   const std::function<void(value& obj)>& mutate, int attempts) {
    for (int attempt = 1;; ++attempt) {
        auto current = kube.get(r, ns, name);
        if (!current) {
            return std::nullopt;
        }
        value next = *current;
        mutate(next);
        if (status_of(next) == status_of(*current)) {
            return current;
        }
        try {
            return kube.replace_status(r, next);
        } catch (const api_error& e) {
            if (e.not_found()) {
                return std::nullopt;
            }
            if (!e.conflict() || attempt >= attempts) {
                throw;
            }
        }
    }
}

std::optional<value> find_condition(const value& status, const std::string& type) {
    if (!status.is_object() || !status.has_array_field("conditions")) {
        return std::nullopt;
    }
    for (const auto& c : status.at("conditions").as_array()) {
        if (c.has_string_field("type") && c.at("type").as_string() == type) {
            return c;
        }
    }
    return std::nullopt;
}

bool set_condition(value& status, const std::string& type, const std::string& condition_status,
                   const std::string& reason, const std::string& message, int64_t observed_generation,
                   std::chrono::system_clock::time_point now) {
    if (!status.is_object()) {
        status = value::object();
    }
    if (!status.has_array_field("conditions")) {
        status["conditions"] = value::array();
    }
    auto& conditions = status["conditions"].as_array();
    value* existing = nullptr;
    for (auto& c : conditions) {
        if (c.has_string_field("type") && c.at("type").as_string() == type) {
            existing = &c;
        }
    }
    value next;
    next["type"] = value::string(type);
    next["status"] = value::string(condition_status);
    next["reason"] = value::string(reason);
    next["message"] = value::string(message);
    next["observedGeneration"] = value::number(observed_generation);
    const bool same_status = existing != nullptr && existing->has_string_field("status") &&
                             existing->at("status").as_string() == condition_status &&
                             existing->has_string_field("lastTransitionTime");
    next["lastTransitionTime"] = same_status ? existing->at("lastTransitionTime") : value::string(rfc3339(now));
    if (existing == nullptr) {
        status["conditions"][conditions.size()] = next;
        return true;
    }
    if (*existing == next) {
        return false;
    }
    *existing = next;
    return true;
}

} // namespace trib::op::k8s
