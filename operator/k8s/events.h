#pragma once
// k8s::event_recorder over the API: core/v1 Events, as `kubectl describe` and `kubectl get
// events` show them. An event repeated (same object, type, reason and message) within
// `window` of the last one is counted on the Event already written (count + 1, lastTimestamp
// moved) instead of written again, as client-go's correlator does; the memory of recent
// events is bounded (oldest forgotten first). Events are best effort: a failed write is
// logged, never thrown, so reconciling does not depend on them. record() writes before it
// returns (one request): call it for significant steps, not every pass.
#include "operator/k8s/api.h"
#include "operator/k8s/clock.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace trib::op::k8s {

class api_event_recorder final : public event_recorder {
public:
    // component: source.component of the events; host: source.host (the pod name), may be "".
    api_event_recorder(api& kube, std::string component, std::string host, const clock& c = system_clock(),
                       std::chrono::milliseconds window = std::chrono::minutes(10), size_t max_remembered = 512);

    void record(const web::json::value& involved, const std::string& type, const std::string& reason,
                const std::string& message) override;

private:
    struct written {
        std::string ns, name; // the Event object
        int64_t count = 0;
        std::chrono::steady_clock::time_point last{};
    };
    bool count_again(const std::string& key, const std::string& now_text);
    void create(const std::string& key, const web::json::value& involved, const std::string& type,
                const std::string& reason, const std::string& message, const std::string& now_text);

    api& _kube;
    std::string _component, _host;
    const clock& _clock;
    std::chrono::milliseconds _window;
    size_t _max;
    std::mutex _mu;
    std::map<std::string, written> _recent; // object, type, reason, message → its Event
    uint64_t _sequence = 0;                 // makes Event names unique within this process
};

} // namespace trib::op::k8s
