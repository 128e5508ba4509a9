#pragma once
// The pieces of an informer that need no API server: the thread-safe store of the objects of
// one kind, keyed "namespace/name" (or "name" for cluster-scoped kinds), what a LIST or a
// watch event does to it, and the parsing of watch stream lines.
#include <cpprest/json.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::k8s {

// One change the cache went through, as handlers see it. `old_object` is set for updated
// and deleted (for deleted: the last state the cache had).
struct cache_change {
    enum class kind { added, updated, deleted } what;
    web::json::value object;
    web::json::value old_object;
};

// "ns/name", or "name" when the object has no namespace.
std::string object_key(const web::json::value& obj);

class object_cache {
public:
    // After a LIST: the cache becomes exactly `items`. Returns what changed: added for new
    // keys, updated for keys whose resourceVersion differs, deleted (synthesized) for keys no
    // longer there — objects removed while no watch was running.
    std::vector<cache_change> replace(const std::vector<web::json::value>& items);
    // A watch event's object (ADDED / MODIFIED / DELETED). An ADDED for a known key or a
    // MODIFIED for an unknown one is taken for what the cache then sees (updated / added);
    // a DELETED for an unknown key changes nothing (nullopt).
    std::optional<cache_change> upsert(const web::json::value& obj);
    std::optional<cache_change> erase(const web::json::value& obj);

    std::optional<web::json::value> get(const std::string& key) const;
    // All objects, or those in one namespace ("" = all).
    std::vector<web::json::value> list(const std::string& ns = "") const;
    size_t size() const;

private:
    mutable std::mutex _mu;
    std::map<std::string, web::json::value> _objects;
};

// One line of a watch stream: {"type": "ADDED", "object": {...}}.
struct watch_event {
    enum class kind { added, modified, deleted, bookmark, error } type;
    web::json::value object;
    // The object's metadata.resourceVersion (for error: empty).
    std::string resource_version;
    // For error: the Status code (410 when the resourceVersion is too old) and message.
    int code = 0;
    std::string message;
};

// Throws std::invalid_argument for a line that is not a watch event.
watch_event parse_watch_event(const std::string& line);

} // namespace trib::op::k8s
