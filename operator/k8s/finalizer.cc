#include "operator/k8s/finalizer.h"

namespace trib::op::k8s {

using web::json::value;

namespace {

const value& finalizers_of(const value& obj) {
    static const value none = value::array();
    const auto& meta = obj.at("metadata");
    return meta.has_array_field("finalizers") ? meta.at("finalizers") : none;
}

value op(const char* name, const std::string& path, const value& v) {
    value o;
    o["op"] = value::string(name);
    o["path"] = value::string(path);
    if (std::string(name) != "remove") {
        o["value"] = v;
    }
    return o;
}

value patch_object(api& kube, const resource& r, const value& obj, const value& ops) {
    const auto& meta = obj.at("metadata");
    const std::string ns = meta.has_string_field("namespace") ? meta.at("namespace").as_string() : "";
    return kube.patch(r, ns, meta.at("name").as_string(), ops, patch_type::json);
}

} // namespace

bool has_finalizer(const value& obj, const std::string& finalizer) {
    for (const auto& f : finalizers_of(obj).as_array()) {
        if (f.is_string() && f.as_string() == finalizer) {
            return true;
        }
    }
    return false;
}

value add_finalizer(api& kube, const resource& r, const value& obj, const std::string& finalizer) {
    if (has_finalizer(obj, finalizer) || obj.at("metadata").has_field("deletionTimestamp")) {
        return obj;
    }
    const auto& current = finalizers_of(obj);
    value ops = value::array();
    if (current.size() == 0) {
        // A missing list tests equal to null; an empty one is never stored by the API server.
        ops[0] = op("test", "/metadata/finalizers", value::null());
        value list = value::array();
        list[0] = value::string(finalizer);
        ops[1] = op("add", "/metadata/finalizers", list);
    } else {
        ops[0] = op("test", "/metadata/finalizers", current);
        ops[1] = op("add", "/metadata/finalizers/-", value::string(finalizer));
    }
    return patch_object(kube, r, obj, ops);
}

value remove_finalizer(api& kube, const resource& r, const value& obj, const std::string& finalizer) {
    const auto& current = finalizers_of(obj).as_array();
    size_t index = 0;
    for (auto it = current.begin(); it != current.end(); ++it, ++index) {
        if (it->is_string() && it->as_string() == finalizer) {
            const std::string path = "/metadata/finalizers/" + std::to_string(index);
            value ops = value::array();
            ops[0] = op("test", path, value::string(finalizer));
            ops[1] = op("remove", path, value::null());
            return patch_object(kube, r, obj, ops);
        }
    }
    return obj;
}

bool stale_finalizers(const api_error& e) { return e.conflict() || (e.status == 422 && e.reason == "Invalid"); }

} // namespace trib::op::k8s
