#pragma once
// An in-memory Kubernetes API for unit tests of reconcile steps: implements k8s::api,
// k8s::reader (the watch cache view) and k8s::event_recorder over one map of objects.
//
// What it keeps of the API server's behaviour:
// - objects keyed by resource + namespace + name (namespace ignored for cluster-scoped kinds);
//   apiVersion and kind set from the resource on every stored object;
// - create sets metadata.uid, creationTimestamp (from `now`), resourceVersion and
//   generation 1, supports generateName, and fails 409 "AlreadyExists";
// - every write that changes the object bumps metadata.resourceVersion (one counter for the
//   whole store, like etcd); a write that changes nothing bumps nothing, as the real server
//   skips no-op updates; metadata.generation goes up when anything outside metadata and
//   status changes;
// - replace / replace_status / a merge patch carrying metadata.resourceVersion fail 409
//   "Conflict" when it is stale; no resourceVersion means an unconditional write;
// - writes to the object (apply, replace, patch) keep the stored status; replace_status
//   changes only the status (every kind here is treated as having a status subresource);
// - apply creates the object when missing, else merges the sent fields into the stored
//   object: a plain recursive merge of JSON objects, lists and scalars replaced whole. Real
//   server-side apply merges lists by their keys and removes fields the manager stopped
//   sending; tests must not depend on either;
// - patch: merge (RFC 7386, null deletes), json (RFC 6902 add/remove/replace/test/move/copy;
//   a failed test → 422 "Invalid" with the API server's message, checked against
//   kube-apiserver) and strategic (treated as a
//   merge patch);
// - remove of an object with finalizers only sets metadata.deletionTimestamp; it goes away
//   when a later write leaves it without finalizers. An empty finalizers list is dropped,
//   as the real server does. No garbage collection of owned objects;
// - list by namespace ("" = all) and label selector: equality-based terms "a=b", "a==b",
//   "a!=b", and existence "a" / "!a", comma-separated (set-based terms throw).
// Test helpers: `put` stores an object as-is (status included) as if another actor wrote it;
// `calls` logs every api call as "verb Kind ns/name" (reader reads are not logged: they are
// cache reads, not requests); `fail_next` makes the next matching call throw; `before_call`
// runs before each api call (outside the lock), to change the world between a read and a
// write; `events` holds what record() was given. Thread-safe.
// create keeps a status it is sent (the real server drops it for kinds with a status
// subresource); seed status with `put` to be clear about it.
// Targets linked with trib_operator get _TURN_OFF_PLATFORM_STRING: without it cpprestsdk
// defines a macro `U` that breaks gtest and fmt headers included after it.
#include "operator/k8s/api.h"

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace trib::op::k8s::testing {

struct recorded_event {
    std::string kind, ns, name; // the involved object
    std::string type, reason, message;
};

class fake_kube final : public api, public reader, public event_recorder {
public:
    using json = web::json::value;

    // creationTimestamp of created objects.
    std::string now = "2026-01-01T00:00:00Z";
    // Runs before each api call with (verb, resource, ns, name), without the lock held.
    std::function<void(const std::string&, const resource&, const std::string&, const std::string&)> before_call;

    // --- api ---
    std::optional<json> get(const resource& r, const std::string& ns, const std::string& name) override {
        begin("get", r, ns, name);
        std::lock_guard lock(_mu);
        return find_locked(r, ns, name);
    }

    std::vector<json> list(const resource& r, const std::string& ns, const std::string& selector = "") override {
        begin("list", r, ns, selector.empty() ? "" : "?" + selector);
        std::lock_guard lock(_mu);
        return list_locked(r, ns, selector);
    }

    json apply(const resource& r, const json& obj) override {
        auto [ns, name] = ns_name(r, obj);
        begin("apply", r, ns, name);
        std::lock_guard lock(_mu);
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            return create_locked(r, without_status(obj));
        }
        json next = it->second;
        merge_objects(next, without_status(obj));
        return write_locked(r, it, next);
    }

    json create(const resource& r, const json& obj) override {
        auto [ns, name] = ns_name(r, obj);
        begin("create", r, ns, name);
        std::lock_guard lock(_mu);
        return create_locked(r, obj);
    }

    json replace(const resource& r, const json& obj) override {
        auto [ns, name] = ns_name(r, obj);
        begin("replace", r, ns, name);
        std::lock_guard lock(_mu);
        auto it = existing_locked(r, ns, name, obj);
        json next = without_status(obj);
        if (it->second.has_field("status")) {
            next["status"] = it->second.at("status");
        }
        return write_locked(r, it, next);
    }

    json replace_status(const resource& r, const json& obj) override {
        auto [ns, name] = ns_name(r, obj);
        begin("replace_status", r, ns, name);
        std::lock_guard lock(_mu);
        auto it = existing_locked(r, ns, name, obj);
        json next = it->second;
        if (obj.has_field("status")) {
            next["status"] = obj.at("status");
        } else if (next.has_field("status")) {
            next.erase("status");
        }
        return write_locked(r, it, next);
    }

    json patch(const resource& r, const std::string& ns, const std::string& name, const json& body,
               patch_type type) override {
        begin("patch", r, ns, name);
        std::lock_guard lock(_mu);
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            throw not_found(r, name);
        }
        json next = it->second;
        if (type == patch_type::json) {
            apply_json_patch(next, body);
        } else {
            if (body.has_object_field("metadata") && body.at("metadata").has_string_field("resourceVersion") &&
                body.at("metadata").at("resourceVersion").as_string() != rv_of(it->second)) {
                throw conflict(r, name);
            }
            merge_patch(next, body);
        }
        if (it->second.has_field("status")) {
            next["status"] = it->second.at("status");
        } else if (next.has_field("status")) {
            next.erase("status");
        }
        return write_locked(r, it, next);
    }

    bool remove(const resource& r, const std::string& ns, const std::string& name,
                const std::string& /*propagation*/ = "Background") override {
        begin("remove", r, ns, name);
        std::lock_guard lock(_mu);
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            return false;
        }
        const auto& meta = it->second.at("metadata");
        if (meta.has_array_field("finalizers") && meta.at("finalizers").size() > 0) {
            if (!meta.has_field("deletionTimestamp")) {
                json next = it->second;
                next["metadata"]["deletionTimestamp"] = json::string(now);
                next["metadata"]["deletionGracePeriodSeconds"] = json::number(0);
                write_locked(r, it, next);
            }
            return true;
        }
        _objects.erase(it);
        return true;
    }

    // --- reader (the cache: same store, no log) ---
    std::optional<json> get(const resource& r, const std::string& ns, const std::string& name) const override {
        std::lock_guard lock(_mu);
        return find_locked(r, ns, name);
    }
    std::vector<json> list(const resource& r, const std::string& ns, const std::string& selector = "") const override {
        std::lock_guard lock(_mu);
        return list_locked(r, ns, selector);
    }

    // --- event_recorder ---
    void record(const json& involved, const std::string& type, const std::string& reason,
                const std::string& message) override {
        std::lock_guard lock(_mu);
        const auto& meta = involved.at("metadata");
        events.push_back({involved.has_string_field("kind") ? involved.at("kind").as_string() : "",
                          meta.has_string_field("namespace") ? meta.at("namespace").as_string() : "",
                          meta.at("name").as_string(), type, reason, message});
    }

    // --- test helpers ---
    // Stores obj as it is (status included), as another actor would have; bumps
    // resourceVersion, sets uid / creationTimestamp / generation when missing. Returns it.
    json put(const resource& r, json obj) {
        auto [ns, name] = ns_name(r, obj);
        std::lock_guard lock(_mu);
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            return create_locked(r, obj);
        }
        return write_locked(r, it, obj);
    }

    // The next `times` calls of `verb` ("" = any verb) on `kind` ("" = any kind) throw err.
    void fail_next(const std::string& verb, const std::string& kind, api_error err, int times = 1) {
        std::lock_guard lock(_mu);
        _failures.push_back({verb, kind, std::move(err), times});
    }

    // The log without reads (get, list): what a reconcile pass changed, in order.
    std::vector<std::string> writes() const {
        std::lock_guard lock(_mu);
        std::vector<std::string> out;
        for (const auto& c : calls) {
            if (c.rfind("get ", 0) != 0 && c.rfind("list ", 0) != 0) {
                out.push_back(c);
            }
        }
        return out;
    }

    size_t size() const {
        std::lock_guard lock(_mu);
        return _objects.size();
    }

    // Read these only while no other thread calls in (or copy them under a later call).
    std::vector<std::string> calls;
    std::vector<recorded_event> events;

private:
    using store_key = std::tuple<std::string, std::string, std::string>; // api_version/plural, ns, name
    using store = std::map<store_key, json>;

    struct failure {
        std::string verb, kind;
        api_error err;
        int remaining;
    };

    static store_key key(const resource& r, const std::string& ns, const std::string& name) {
        return {r.api_version() + "/" + r.plural, r.namespaced ? ns : "", name};
    }

    static std::pair<std::string, std::string> ns_name(const resource& r, const json& obj) {
        std::string ns, name;
        if (obj.has_object_field("metadata")) {
            const auto& m = obj.at("metadata");
            if (r.namespaced && m.has_string_field("namespace")) {
                ns = m.at("namespace").as_string();
            }
            if (m.has_string_field("name")) {
                name = m.at("name").as_string();
            }
        }
        return {ns, name};
    }

    static std::string rv_of(const json& obj) {
        const auto& m = obj.at("metadata");
        return m.has_string_field("resourceVersion") ? m.at("resourceVersion").as_string() : "";
    }

    static json without_status(json obj) {
        if (obj.has_field("status")) {
            obj.erase("status");
        }
        return obj;
    }

    static api_error not_found(const resource& r, const std::string& name) {
        return api_error(404, "NotFound", r.plural + " \"" + name + "\" not found");
    }
    static api_error conflict(const resource& r, const std::string& name) {
        return api_error(409, "Conflict",
                         "Operation cannot be fulfilled on " + r.plural + " \"" + name +
                             "\": the object has been modified; please apply your changes to the latest version "
                             "and try again");
    }
    static api_error invalid(const std::string& message) { return api_error(422, "Invalid", message); }

    void begin(const std::string& verb, const resource& r, const std::string& ns, const std::string& name) {
        if (before_call) {
            before_call(verb, r, ns, name);
        }
        std::lock_guard lock(_mu);
        std::string where = r.namespaced && !ns.empty() ? ns + "/" + name : name;
        calls.push_back(verb + " " + r.kind + " " + where);
        for (auto it = _failures.begin(); it != _failures.end(); ++it) {
            if ((it->verb.empty() || it->verb == verb) && (it->kind.empty() || it->kind == r.kind)) {
                api_error err = it->err;
                if (--it->remaining <= 0) {
                    _failures.erase(it);
                }
                throw err;
            }
        }
    }

    std::optional<json> find_locked(const resource& r, const std::string& ns, const std::string& name) const {
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            return std::nullopt;
        }
        return it->second;
    }

    std::vector<json> list_locked(const resource& r, const std::string& ns, const std::string& selector) const {
        auto terms = parse_selector(selector);
        std::vector<json> out;
        const std::string kind_key = r.api_version() + "/" + r.plural;
        for (const auto& [k, obj] : _objects) {
            if (std::get<0>(k) != kind_key || (r.namespaced && !ns.empty() && std::get<1>(k) != ns)) {
                continue;
            }
            if (matches(obj, terms)) {
                out.push_back(obj);
            }
        }
        return out;
    }

    store::iterator existing_locked(const resource& r, const std::string& ns, const std::string& name,
                                    const json& obj) {
        auto it = _objects.find(key(r, ns, name));
        if (it == _objects.end()) {
            throw not_found(r, name);
        }
        std::string sent = obj.has_object_field("metadata") && obj.at("metadata").has_string_field("resourceVersion")
                               ? obj.at("metadata").at("resourceVersion").as_string()
                               : "";
        if (!sent.empty() && sent != rv_of(it->second)) {
            throw conflict(r, name);
        }
        return it;
    }

    json create_locked(const resource& r, json obj) {
        if (!obj.has_object_field("metadata")) {
            obj["metadata"] = json::object();
        }
        auto& meta = obj["metadata"];
        if (!meta.has_string_field("name") && meta.has_string_field("generateName")) {
            meta["name"] = json::string(meta.at("generateName").as_string() + "x" + std::to_string(++_uids));
        }
        auto [ns, name] = ns_name(r, obj);
        if (name.empty()) {
            throw invalid("metadata.name: Required value: name or generateName is required");
        }
        if (r.namespaced && ns.empty()) {
            throw invalid("metadata.namespace: Required value");
        }
        if (_objects.count(key(r, ns, name))) {
            throw api_error(409, "AlreadyExists", r.plural + " \"" + name + "\" already exists");
        }
        if (!meta.has_string_field("uid")) {
            meta["uid"] = json::string("uid-" + std::to_string(++_uids));
        }
        if (!meta.has_string_field("creationTimestamp")) {
            meta["creationTimestamp"] = json::string(now);
        }
        meta["generation"] = json::number(1);
        meta["resourceVersion"] = json::string(std::to_string(++_version));
        set_type(r, obj); // last: it may move `meta`
        auto it = _objects.emplace(key(r, ns, name), obj).first;
        return it->second;
    }

    // Stores `next` over `it` if anything changed; keeps what the server owns in metadata.
    json write_locked(const resource& r, store::iterator it, json next) {
        const json& old = it->second;
        const auto& old_meta = old.at("metadata");
        if (!next.has_object_field("metadata")) {
            next["metadata"] = json::object();
        }
        set_type(r, next); // before taking `meta`: adding top-level fields moves the others
        auto& meta = next["metadata"];
        for (const char* f : {"uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp"}) {
            if (old_meta.has_field(f)) {
                meta[f] = old_meta.at(f);
            }
        }
        if (meta.has_array_field("finalizers") && meta.at("finalizers").size() == 0) {
            meta.erase("finalizers");
        }
        if (next == old) {
            return old;
        }
        if (spec_of(next) != spec_of(old)) {
            meta["generation"] = json::number(meta.at("generation").as_integer() + 1);
        }
        if (meta.has_field("deletionTimestamp") && !meta.has_array_field("finalizers")) {
            _objects.erase(it);
            return next;
        }
        meta["resourceVersion"] = json::string(std::to_string(++_version));
        it->second = next;
        return next;
    }

    // Adds fields to obj, so references to obj's members are invalid after it.
    static void set_type(const resource& r, json& obj) {
        obj["apiVersion"] = json::string(r.api_version());
        obj["kind"] = json::string(r.kind);
    }

    // Everything but metadata and status: what metadata.generation counts changes of.
    static json spec_of(json obj) {
        for (const char* f : {"metadata", "status", "apiVersion", "kind"}) {
            if (obj.has_field(f)) {
                obj.erase(f);
            }
        }
        return obj;
    }

    static void merge_objects(json& into, const json& from) {
        for (const auto& [k, v] : from.as_object()) {
            if (v.is_object() && into.has_object_field(k)) {
                merge_objects(into[k], v);
            } else {
                into[k] = v;
            }
        }
    }

    static void merge_patch(json& into, const json& patch) {
        if (!patch.is_object()) {
            into = patch;
            return;
        }
        if (!into.is_object()) {
            into = json::object();
        }
        for (const auto& [k, v] : patch.as_object()) {
            if (v.is_null()) {
                if (into.has_field(k)) {
                    into.erase(k);
                }
            } else if (v.is_object()) {
                if (!into.has_field(k)) {
                    into[k] = json::object();
                }
                merge_patch(into[k], v);
            } else {
                into[k] = v;
            }
        }
    }

    // --- RFC 6902 ---
    static std::vector<std::string> pointer(const std::string& path) {
        if (!path.empty() && path[0] != '/') {
            throw invalid("json patch: bad path " + path);
        }
        std::vector<std::string> parts;
        size_t pos = 1;
        while (pos <= path.size() && !path.empty()) {
            size_t next = path.find('/', pos);
            std::string raw = path.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
            std::string part;
            for (size_t i = 0; i < raw.size(); ++i) {
                if (raw[i] == '~' && i + 1 < raw.size()) {
                    part += raw[i + 1] == '1' ? '/' : '~';
                    ++i;
                } else {
                    part += raw[i];
                }
            }
            parts.push_back(part);
            if (next == std::string::npos) {
                break;
            }
            pos = next + 1;
        }
        return parts;
    }

    static size_t index_of(const std::string& s, size_t size, bool allow_end) {
        if (allow_end && s == "-") {
            return size;
        }
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
            throw invalid("json patch: bad array index " + s);
        }
        size_t i = std::stoul(s);
        if (i > size || (!allow_end && i == size)) {
            throw invalid("json patch: array index out of range " + s);
        }
        return i;
    }

    // The parent of the pointer's last token; nullptr when a step is missing.
    static json* parent_of(json& doc, const std::vector<std::string>& parts) {
        json* cur = &doc;
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            if (cur->is_object() && cur->has_field(parts[i])) {
                cur = &(*cur)[parts[i]];
            } else if (cur->is_array()) {
                cur = &cur->as_array().at(index_of(parts[i], cur->size(), false));
            } else {
                return nullptr;
            }
        }
        return cur;
    }

    static std::optional<json> value_at(json& doc, const std::string& path) {
        auto parts = pointer(path);
        if (parts.empty()) {
            return doc;
        }
        json* p = parent_of(doc, parts);
        if (p == nullptr) {
            return std::nullopt;
        }
        if (p->is_object()) {
            return p->has_field(parts.back()) ? std::optional<json>(p->at(parts.back())) : std::nullopt;
        }
        if (p->is_array()) {
            const auto& s = parts.back();
            if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || std::stoul(s) >= p->size()) {
                return std::nullopt;
            }
            return p->at(std::stoul(s));
        }
        return std::nullopt;
    }

    static void add_at(json& doc, const std::string& path, const json& value) {
        auto parts = pointer(path);
        if (parts.empty()) {
            doc = value;
            return;
        }
        json* p = parent_of(doc, parts);
        if (p == nullptr) {
            throw invalid("json patch: missing parent of " + path);
        }
        if (p->is_object()) {
            (*p)[parts.back()] = value;
        } else if (p->is_array()) {
            auto& arr = p->as_array();
            size_t i = index_of(parts.back(), arr.size(), true);
            std::vector<json> items(arr.begin(), arr.end());
            items.insert(items.begin() + static_cast<long>(i), value);
            *p = json::array(items);
        } else {
            throw invalid("json patch: parent of " + path + " is not a container");
        }
    }

    static json remove_at(json& doc, const std::string& path) {
        auto parts = pointer(path);
        json* p = parts.empty() ? nullptr : parent_of(doc, parts);
        if (p != nullptr && p->is_object() && p->has_field(parts.back())) {
            json old = p->at(parts.back());
            p->erase(parts.back());
            return old;
        }
        if (p != nullptr && p->is_array()) {
            size_t i = index_of(parts.back(), p->size(), false);
            json old = p->at(i);
            p->erase(i);
            return old;
        }
        throw invalid("json patch: nothing to remove at " + path);
    }

    static void apply_json_patch(json& doc, const json& ops) {
        for (const auto& op : ops.as_array()) {
            const std::string name = op.at("op").as_string();
            const std::string path = op.at("path").as_string();
            if (name == "test") {
                auto have = value_at(doc, path);
                const json& want = op.at("value");
                // As the API server's json-patch does: testing a missing path against null passes.
                bool ok = have ? *have == want : want.is_null();
                if (!ok) {
                    throw invalid("the server rejected our request due to an error in our request");
                }
            } else if (name == "add") {
                add_at(doc, path, op.at("value"));
            } else if (name == "remove") {
                remove_at(doc, path);
            } else if (name == "replace") {
                remove_at(doc, path);
                add_at(doc, path, op.at("value"));
            } else if (name == "move") {
                json v = remove_at(doc, op.at("from").as_string());
                add_at(doc, path, v);
            } else if (name == "copy") {
                auto v = value_at(doc, op.at("from").as_string());
                if (!v) {
                    throw invalid("json patch: nothing to copy at " + op.at("from").as_string());
                }
                add_at(doc, path, *v);
            } else {
                throw invalid("json patch: unknown op " + name);
            }
        }
    }

    // --- label selectors ---
    struct term {
        std::string key, value;
        enum { eq, ne, exists, absent } op;
    };

    static std::string trim(const std::string& s) {
        size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
        return b == std::string::npos ? "" : s.substr(b, e - b + 1);
    }

    static std::vector<term> parse_selector(const std::string& selector) {
        std::vector<term> terms;
        size_t pos = 0;
        while (pos < selector.size()) {
            size_t comma = selector.find(',', pos);
            std::string t = trim(selector.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
            pos = comma == std::string::npos ? selector.size() : comma + 1;
            if (t.empty()) {
                continue;
            }
            if (t.find(" in ") != std::string::npos || t.find(" notin ") != std::string::npos) {
                throw std::invalid_argument("fake_kube: set-based selector not supported: " + t);
            }
            if (auto i = t.find("!="); i != std::string::npos) {
                terms.push_back({trim(t.substr(0, i)), trim(t.substr(i + 2)), term::ne});
            } else if (auto j = t.find("=="); j != std::string::npos) {
                terms.push_back({trim(t.substr(0, j)), trim(t.substr(j + 2)), term::eq});
            } else if (auto k = t.find('='); k != std::string::npos) {
                terms.push_back({trim(t.substr(0, k)), trim(t.substr(k + 1)), term::eq});
            } else if (t[0] == '!') {
                terms.push_back({trim(t.substr(1)), "", term::absent});
            } else {
                terms.push_back({t, "", term::exists});
            }
        }
        return terms;
    }

    static bool matches(const json& obj, const std::vector<term>& terms) {
        const json* labels = nullptr;
        if (obj.has_object_field("metadata") && obj.at("metadata").has_object_field("labels")) {
            labels = &obj.at("metadata").at("labels");
        }
        for (const auto& t : terms) {
            bool has = labels != nullptr && labels->has_string_field(t.key);
            std::string v = has ? labels->at(t.key).as_string() : "";
            bool ok = t.op == term::eq       ? has && v == t.value
                      : t.op == term::ne     ? !has || v != t.value
                      : t.op == term::exists ? has
                                             : !has;
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    mutable std::mutex _mu;
    store _objects;
    std::vector<failure> _failures;
    long _version = 0;
    long _uids = 0;
};

} // namespace trib::op::k8s::testing
