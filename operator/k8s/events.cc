#include "operator/k8s/events.h"

#include "common/log.h"

#include <fmt/format.h>

namespace trib::op::k8s {

using web::json::value;

namespace {

std::string field(const value& obj, const char* section, const char* name) {
    if (!obj.has_object_field(section)) {
        return "";
    }
    const auto& s = obj.at(section);
    return s.has_string_field(name) ? s.at(name).as_string() : "";
}

std::string top(const value& obj, const char* name) {
    return obj.has_string_field(name) ? obj.at(name).as_string() : "";
}

// The API server accepts longer messages on core/v1, but events.k8s.io caps notes at 1 kB
// and nobody reads more in `kubectl describe`.
std::string clip(const std::string& message) {
    constexpr size_t max = 1024;
    return message.size() <= max ? message : message.substr(0, max - 3) + "...";
}

} // namespace

api_event_recorder::api_event_recorder(api& kube, std::string component, std::string host, const clock& c,
                                       std::chrono::milliseconds window, size_t max_remembered)
    : _kube(kube), _component(std::move(component)), _host(std::move(host)), _clock(c), _window(window),
      _max(max_remembered) {}

void api_event_recorder::record(const value& involved, const std::string& type, const std::string& reason,
                                const std::string& message) {
    const std::string now_text = rfc3339(_clock.wall_now());
    const std::string object = field(involved, "metadata", "uid").empty()
                                   ? top(involved, "kind") + "/" + field(involved, "metadata", "namespace") + "/" +
                                         field(involved, "metadata", "name")
                                   : field(involved, "metadata", "uid");
    const std::string key = object + "\n" + type + "\n" + reason + "\n" + clip(message);
    try {
        if (!count_again(key, now_text)) {
            create(key, involved, type, reason, message, now_text);
        }
    } catch (const std::exception& e) {
        TLOG_WARN("event {} {} on {} {}: not recorded: {}", type, reason, top(involved, "kind"),
                  field(involved, "metadata", "name"), e.what());
    }
}

// Counts a repeat on the Event written for `key` if there is a recent one; false if a new
// Event is needed.
bool api_event_recorder::count_again(const std::string& key, const std::string& now_text) {
    written w;
    {
        std::lock_guard lock(_mu);
        auto it = _recent.find(key);
        if (it == _recent.end() || _clock.steady_now() - it->second.last >= _window) {
            return false;
        }
        it->second.count++;
        it->second.last = _clock.steady_now();
        w = it->second;
    }
    value patch;
    patch["count"] = value::number(w.count);
    patch["lastTimestamp"] = value::string(now_text);
    try {
        _kube.patch(resources::events, w.ns, w.name, patch, patch_type::merge);
    } catch (const api_error& e) {
        if (e.not_found()) {
            return false; // expired on the server (events live an hour by default)
        }
        throw;
    }
    return true;
}

void api_event_recorder::create(const std::string& key, const value& involved, const std::string& type,
                                const std::string& reason, const std::string& message,
                                const std::string& now_text) {
    const std::string involved_ns = field(involved, "metadata", "namespace");
    // Events about cluster-scoped objects (nodes) live in "default", as the API server requires.
    const std::string ns = involved_ns.empty() ? "default" : involved_ns;
    uint64_t sequence;
    {
        std::lock_guard lock(_mu);
        sequence = ++_sequence;
    }
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(_clock.wall_now().time_since_epoch());
    const std::string name =
        fmt::format("{}.{:x}.{:x}", field(involved, "metadata", "name"), nanos.count(), sequence);

    value ref;
    ref["apiVersion"] = value::string(top(involved, "apiVersion"));
    ref["kind"] = value::string(top(involved, "kind"));
    ref["name"] = value::string(field(involved, "metadata", "name"));
    if (!involved_ns.empty()) {
        ref["namespace"] = value::string(involved_ns);
    }
    for (const char* f : {"uid", "resourceVersion"}) {
        if (!field(involved, "metadata", f).empty()) {
            ref[f] = value::string(field(involved, "metadata", f));
        }
    }
    value ev;
    ev["apiVersion"] = value::string("v1");
    ev["kind"] = value::string("Event");
    ev["metadata"]["name"] = value::string(name);
    ev["metadata"]["namespace"] = value::string(ns);
    ev["involvedObject"] = ref;
    ev["type"] = value::string(type);
    ev["reason"] = value::string(reason);
    ev["message"] = value::string(clip(message));
    ev["source"]["component"] = value::string(_component);
    if (!_host.empty()) {
        ev["source"]["host"] = value::string(_host);
    }
    ev["firstTimestamp"] = value::string(now_text);
    ev["lastTimestamp"] = value::string(now_text);
    ev["count"] = value::number(1);
    _kube.create(resources::events, ev);

    std::lock_guard lock(_mu);
    if (_recent.size() >= _max && !_recent.count(key)) {
        auto oldest = _recent.begin();
        for (auto it = _recent.begin(); it != _recent.end(); ++it) {
            if (it->second.last < oldest->second.last) {
                oldest = it;
            }
        }
        _recent.erase(oldest);
    }
    _recent[key] = written{ns, name, 1, _clock.steady_now()};
}

} // namespace trib::op::k8s
