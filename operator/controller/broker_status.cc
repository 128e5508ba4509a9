#include "operator/controller/broker_status.h"

#include <algorithm>

namespace trib::op::controller {

bool pod_ready(const json& pod) {
    const json* conds = field_at(pod, {"status", "conditions"});
    if (conds == nullptr || !conds->is_array()) {
        return false;
    }
    for (const auto& c : conds->as_array()) {
        if (string_at(c, {"type"}) == "Ready") {
            return string_at(c, {"status"}) == "True";
        }
    }
    return false;
}

namespace {

const json* container_status(const json& pod, const std::string& container) {
    const json* all = field_at(pod, {"status", "containerStatuses"});
    if (all == nullptr || !all->is_array()) {
        return nullptr;
    }
    for (const auto& c : all->as_array()) {
        if (string_at(c, {"name"}) == container) {
            return &c;
        }
    }
    return nullptr;
}

} // namespace

std::string last_termination(const json& pod, const std::string& container) {
    const json* c = container_status(pod, container);
    if (c == nullptr) {
        return "";
    }
    const json* t = field_at(*c, {"state", "terminated"});
    if (t == nullptr || !t->is_object()) {
        t = field_at(*c, {"lastState", "terminated"});
    }
    if (t == nullptr || !t->is_object()) {
        return "";
    }
    const json* code = field_at(*t, {"exitCode"});
    std::string out = "exit code " + (code != nullptr && code->is_integer() ? std::to_string(code->as_integer()) : "?");
    if (auto reason = string_at(*t, {"reason"}); !reason.empty()) {
        out += " (" + reason + ")";
    }
    std::string message = string_at(*t, {"message"});
    // The kubelet's fallback to the log gives its last lines: the last says why it stopped.
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    if (auto nl = message.rfind('\n'); nl != std::string::npos) {
        message.erase(0, nl + 1);
    }
    if (message.size() > 512) {
        size_t cut = 512;
        while (cut > 0 && (uint8_t(message[cut]) & 0xC0) == 0x80) {  // not inside a UTF-8 character
            --cut;
        }
        message.resize(cut);
    }
    if (!message.empty()) {
        out += ": " + message;
    }
    return out;
}

std::string broker_state(const std::optional<json>& pod, const std::optional<probe_result>& probe, int32_t id) {
    if (!pod) {
        return "Pending";
    }
    if (field_at(*pod, {"metadata", "deletionTimestamp"}) != nullptr) {
        return "Terminating";
    }
    const std::string phase = string_at(*pod, {"status", "phase"});
    if (phase == "Failed" || phase == "Succeeded") {
        return "Failed";
    }
    if (phase != "Running" || string_at(*pod, {"status", "podIP"}).empty()) {
        return "Pending";
    }
    const bool ready = pod_ready(*pod);
    if (!probe) {
        return ready ? "Running" : "Starting";
    }
    const auto& ids = probe->broker_ids;
    const bool registered = std::find(ids.begin(), ids.end(), id) != ids.end();
    if (ready) {
        return registered ? "Running" : "Unregistered";
    }
    return registered ? "NotReady" : "Starting";
}

api::broker_status observe_broker(const broker_observation& b, const std::optional<probe_result>& probe) {
    api::broker_status s;
    s.id = broker_id(b.ordinal);
    s.state = broker_state(b.pod, probe, s.id);
    s.rack = b.rack;
    pod_facts facts;
    if (b.pod) {
        facts.pod_name = string_at(*b.pod, {"metadata", "name"});
        facts.pod_ip = string_at(*b.pod, {"status", "podIP"});
        facts.node_ip = string_at(*b.pod, {"status", "hostIP"});
        s.pod = facts.pod_name;
        if (const json* c = container_status(*b.pod, "broker")) {
            if (const json* n = field_at(*c, {"restartCount"}); n != nullptr && n->is_integer()) {
                s.restarts = n->as_number().to_int32();
            }
            s.crash_looping = string_at(*c, {"state", "waiting", "reason"}) == "CrashLoopBackOff";
        }
        if (s.state != "Running") {
            s.last_termination = last_termination(*b.pod, "broker");
        }
    }
    for (const auto& e : b.endpoints) {
        if (auto host = host_for_status(e.host, s.id, facts)) {
            s.addresses.push_back({e.listener, *host, e.port});
        }
    }
    return s;
}

std::vector<api::listener_status> listener_statuses(const build_context& ctx,
                                                    const std::vector<api::broker_status>& brokers) {
    std::vector<api::listener_status> out;
    for (const auto& l : ctx.spec().listeners) {
        api::listener_status s{l.name, api::to_string(l.type), ""};
        const std::string host = l.advertised_host.value_or(default_host_template(ctx, l));
        if (l.type == api::listener_type::internal && host.find("{podIP}") == std::string::npos) {
            s.bootstrap_servers = bootstrap_service_name(ctx.name()) + "." + ctx.ns() + ".svc:" + std::to_string(l.port);
        } else {
            // Clients can't use cluster DNS for these: list the brokers they can reach.
            for (const auto& b : brokers) {
                if (b.state != "Running") {
                    continue;
                }
                for (const auto& a : b.addresses) {
                    if (a.listener == l.name) {
                        s.bootstrap_servers += (s.bootstrap_servers.empty() ? "" : ",") + a.host + ":" +
                                               std::to_string(a.port);
                    }
                }
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

} // namespace trib::op::controller
