#include "operator/k8s/object_cache.h"

#include <stdexcept>

namespace trib::op::k8s {

using web::json::value;

namespace {

std::string metadata(const value& obj, const char* key) {
    if (obj.has_object_field("metadata") && obj.at("metadata").has_string_field(key)) {
        return obj.at("metadata").at(key).as_string();
    }
    return "";
}

} // namespace

std::string object_key(const value& obj) {
    auto ns = metadata(obj, "namespace");
    auto name = metadata(obj, "name");
    return ns.empty() ? name : ns + "/" + name;
}

std::vector<cache_change> object_cache::replace(const std::vector<value>& items) {
    std::map<std::string, value> fresh;
    for (const auto& item : items) {
        fresh[object_key(item)] = item;
    }
    std::vector<cache_change> changes;
    std::lock_guard lock(_mu);
    for (const auto& [key, old] : _objects) {
        if (!fresh.count(key)) {
            changes.push_back({cache_change::kind::deleted, old, old});
        }
    }
    for (const auto& [key, now] : fresh) {
        auto it = _objects.find(key);
        if (it == _objects.end()) {
            changes.push_back({cache_change::kind::added, now, value::null()});
        } else if (metadata(it->second, "resourceVersion") != metadata(now, "resourceVersion")) {
            changes.push_back({cache_change::kind::updated, now, it->second});
        }
    }
    _objects = std::move(fresh);
    return changes;
}

std::optional<cache_change> object_cache::upsert(const value& obj) {
    auto key = object_key(obj);
    std::lock_guard lock(_mu);
    auto it = _objects.find(key);
    if (it == _objects.end()) {
        _objects.emplace(key, obj);
        return cache_change{cache_change::kind::added, obj, value::null()};
    }
    cache_change c{cache_change::kind::updated, obj, it->second};
    it->second = obj;
    return c;
}

std::optional<cache_change> object_cache::erase(const value& obj) {
    auto key = object_key(obj);
    std::lock_guard lock(_mu);
    auto it = _objects.find(key);
    if (it == _objects.end()) {
        return std::nullopt;
    }
    _objects.erase(it);
    // The event's object is the final state (with deletionTimestamp if it had finalizers).
    return cache_change{cache_change::kind::deleted, obj, obj};
}

std::optional<value> object_cache::get(const std::string& key) const {
    std::lock_guard lock(_mu);
    auto it = _objects.find(key);
    if (it == _objects.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::vector<value> object_cache::list(const std::string& ns) const {
    std::vector<value> out;
    std::lock_guard lock(_mu);
    if (ns.empty()) {
        for (const auto& [key, obj] : _objects) {
            out.push_back(obj);
        }
        return out;
    }
    // Keys sort by namespace first: the namespace's objects are one range.
    auto prefix = ns + "/";
    for (auto it = _objects.lower_bound(prefix); it != _objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        out.push_back(it->second);
    }
    return out;
}

size_t object_cache::size() const {
    std::lock_guard lock(_mu);
    return _objects.size();
}

watch_event parse_watch_event(const std::string& line) {
    value v;
    try {
        v = value::parse(line);
    } catch (const web::json::json_exception& e) {
        throw std::invalid_argument(std::string("watch event is not JSON: ") + e.what());
    }
    if (!v.has_string_field("type") || !v.has_object_field("object")) {
        throw std::invalid_argument("watch event without type and object: " + line.substr(0, 200));
    }
    const auto& type = v.at("type").as_string();
    watch_event e;
    if (type == "ADDED") {
        e.type = watch_event::kind::added;
    } else if (type == "MODIFIED") {
        e.type = watch_event::kind::modified;
    } else if (type == "DELETED") {
        e.type = watch_event::kind::deleted;
    } else if (type == "BOOKMARK") {
        e.type = watch_event::kind::bookmark;
    } else if (type == "ERROR") {
        e.type = watch_event::kind::error;
    } else {
        throw std::invalid_argument("unknown watch event type '" + type + "'");
    }
    e.object = v.at("object");
    if (e.type == watch_event::kind::error) {
        if (e.object.has_number_field("code")) {
            e.code = e.object.at("code").as_integer();
        }
        if (e.object.has_string_field("message")) {
            e.message = e.object.at("message").as_string();
        }
        return e;
    }
    e.resource_version = metadata(e.object, "resourceVersion");
    if (e.resource_version.empty()) {
        throw std::invalid_argument(type + " watch event whose object has no metadata.resourceVersion");
    }
    return e;
}

} // namespace trib::op::k8s
