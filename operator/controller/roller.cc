#include "operator/controller/roller.h"

#include "common/log.h"
#include "coordinator/client/topic_config.h"
#include "operator/controller/broker_status.h"
#include "operator/controller/roll_ops.h"
#include "operator/controller/tls.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace trib::op::controller {

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) {
        return "";
    }
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The key of a properties line, or "" for comments and blank lines.
std::string key_of(const std::string& line) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == '!') {
        return "";
    }
    return trim(t.substr(0, t.find('=')));
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
    std::string out;
    for (const auto& s : items) {
        out += (out.empty() ? "" : sep) + s;
    }
    return out;
}

const json* first_container(const json& pod_spec) {
    const json* cs = field_at(pod_spec, {"containers"});
    return cs != nullptr && cs->is_array() && cs->size() > 0 ? &cs->at(0) : nullptr;
}

json field_or_null(const json* o, const char* name) {
    return o != nullptr && o->is_object() && o->has_field(name) ? o->at(name) : json::null();
}

std::string annotation(const json& meta, const char* key) {
    const json* a = field_at(meta, {"annotations"});
    return a != nullptr ? string_at(*a, {key}) : "";
}

} // namespace

std::map<std::string, std::string> parse_properties(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const std::string k = key_of(line);
        if (k.empty()) {
            continue;
        }
        const auto eq = line.find('=');
        out[k] = eq == std::string::npos ? "" : trim(line.substr(eq + 1));
    }
    return out;
}

std::string restart_properties(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const std::string k = key_of(line);
        if (!k.empty() && coordinator::is_broker_dynamic_config(k)) {
            continue;
        }
        out += line + "\n";
    }
    return out;
}

std::vector<std::string> changed_keys(const std::string& before, const std::string& after) {
    const auto a = parse_properties(before), b = parse_properties(after);
    std::set<std::string> out;
    for (const auto& [k, v] : a) {
        auto it = b.find(k);
        if (it == b.end() || it->second != v) {
            out.insert(k);
        }
    }
    for (const auto& [k, v] : b) {
        if (!a.count(k)) {
            out.insert(k);
        }
    }
    return {out.begin(), out.end()};
}

std::map<std::string, std::string> dynamic_broker_config(const std::map<std::string, std::string>& spec_config) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : spec_config) {
        if (coordinator::is_broker_dynamic_config(k)) {
            out[k] = v;
        }
    }
    return out;
}

dynamic_config_change plan_dynamic_config(const std::map<std::string, std::string>& want,
                                          const std::map<std::string, std::string>& have,
                                          const std::map<std::string, std::string>& applied) {
    dynamic_config_change c;
    for (const auto& [k, v] : want) {
        auto it = have.find(k);
        if (it == have.end() || it->second != v) {
            c.set[k] = v;
        }
    }
    for (const auto& [k, v] : applied) {
        if (!want.count(k) && have.count(k)) {
            c.remove.push_back(k);
        }
    }
    return c;
}

bool pod_outdated(const json& pod, const json& sts) {
    const std::string update = string_at(sts, {"status", "updateRevision"});
    if (update.empty()) {
        return false;
    }
    const json* labels = field_at(pod, {"metadata", "labels"});
    return labels == nullptr || string_at(*labels, {revision_label}) != update;
}

std::string restart_reason(const json& pod, const json& sts) {
    const json* tmpl = field_at(sts, {"spec", "template"});
    if (tmpl == nullptr) {
        return "pod template changed";
    }
    const json* want = first_container(tmpl->at("spec"));
    const json* have = field_at(pod, {"spec"}) ? first_container(pod.at("spec")) : nullptr;
    std::vector<std::string> why;
    if (field_or_null(want, "image") != field_or_null(have, "image")) {
        why.push_back("image changed");
    }
    if (field_or_null(want, "resources") != field_or_null(have, "resources")) {
        why.push_back("resources changed");
    }
    const std::string cfg_want = annotation(tmpl->at("metadata"), restart_config_annotation);
    const json* pod_meta = field_at(pod, {"metadata"});
    const bool pod_has = pod_meta != nullptr && field_at(*pod_meta, {"annotations", restart_config_annotation});
    if (pod_has) {
        auto keys = changed_keys(annotation(*pod_meta, restart_config_annotation), cfg_want);
        if (!keys.empty()) {
            why.push_back("config changed: " + join(keys));
        }
    }
    if (pod_meta != nullptr && annotation(*pod_meta, certificates_annotation) !=
                                   annotation(tmpl->at("metadata"), certificates_annotation)) {
        why.push_back("certificates issued again");
    }
    return why.empty() ? "pod template changed" : join(why, "; ");
}

std::vector<std::string> below_min_isr(const std::vector<partition_state>& partitions) {
    std::vector<std::string> out;
    for (const auto& p : partitions) {
        if (int32_t(p.replicas.size()) > p.min_isr && int32_t(p.isr.size()) < p.min_isr) {
            out.push_back(p.name());
        }
    }
    return out;
}

std::vector<std::string> would_go_below_min_isr(const std::vector<partition_state>& partitions, int32_t broker) {
    std::vector<std::string> out;
    for (const auto& p : partitions) {
        const bool in_isr = std::find(p.isr.begin(), p.isr.end(), broker) != p.isr.end();
        if (!in_isr || int32_t(p.replicas.size()) <= p.min_isr) {
            continue;  // not a replica in sync, or never writable through a restart
        }
        if (int32_t(p.isr.size()) < p.min_isr) {
            continue;  // below already: reported (below_min_isr), not waited on
        }
        if (int32_t(p.isr.size()) - 1 < p.min_isr) {
            out.push_back(p.name());
        }
    }
    return out;
}

namespace {

// What both components check first: one pod at a time, the others Ready. An outdated pod that
// is not Ready serves nothing and is replaced first (a crash-looping pod with the old config).
std::optional<roll_decision> common_checks(const std::vector<roll_member>& members, const char* what) {
    bool any = false;
    for (const auto& m : members) {
        any = any || (m.exists && m.outdated);
    }
    if (!any) {
        return roll_decision{};
    }
    for (const auto& m : members) {
        if (!m.exists || m.terminating || (!m.ready && !m.outdated)) {
            return roll_decision{roll_decision::kind::wait, -1,
                                 std::string(what) + " " + std::to_string(m.node_id) + " (" + m.pod + ") is " +
                                     (!m.exists ? "not created yet" : m.terminating ? "stopping" : "not ready")};
        }
    }
    for (const auto& m : members) {
        if (m.outdated && !m.ready) {
            return roll_decision{roll_decision::kind::restart, m.ordinal, m.reason + " (not ready)"};
        }
    }
    return std::nullopt;
}

} // namespace

roll_decision decide_broker_roll(const std::vector<roll_member>& members,
                                 const std::optional<std::vector<partition_state>>& partitions) {
    if (auto d = common_checks(members, "broker")) {
        return *d;
    }
    if (!partitions) {
        return {roll_decision::kind::wait, -1, "the cluster's partitions could not be read"};
    }
    // Under-replicated partitions waited for: those with a replica out of sync on a broker of
    // this cluster, running (every pod is Ready here), which is catching up. A replica on a
    // broker that is gone never comes back in sync: the min.insync.replicas check below
    // guards those, and partitions below it already are reported, not waited on.
    const auto below = below_min_isr(*partitions);
    std::set<int32_t> running;
    for (const auto& m : members) {
        running.insert(m.node_id);
    }
    std::vector<std::string> urp;
    for (const auto& p : *partitions) {
        if (std::find(below.begin(), below.end(), p.name()) != below.end()) {
            continue;
        }
        for (int32_t r : p.replicas) {
            if (running.count(r) && std::find(p.isr.begin(), p.isr.end(), r) == p.isr.end()) {
                urp.push_back(p.name());
                break;
            }
        }
    }
    if (!urp.empty()) {
        if (urp.size() > 5) {
            urp.resize(5);
            urp.push_back("...");
        }
        return {roll_decision::kind::wait, -1, "partitions under-replicated: " + join(urp)};
    }
    std::string refused;
    for (const auto& m : members) {
        if (!m.outdated) {
            continue;
        }
        auto would = would_go_below_min_isr(*partitions, m.node_id);
        if (would.empty()) {
            return {roll_decision::kind::restart, m.ordinal, m.reason};
        }
        if (would.size() > 5) {
            would.resize(5);
            would.push_back("...");
        }
        refused += (refused.empty() ? "" : "; ") + std::string("broker ") + std::to_string(m.node_id) +
                   " would take " + join(would) + " below min.insync.replicas";
    }
    return {roll_decision::kind::blocked, -1, refused};
}

roll_decision decide_coordinator_roll(const std::vector<roll_member>& members,
                                      const std::optional<quorum_state>& quorum) {
    if (auto d = common_checks(members, "coordinator")) {
        return *d;
    }
    if (members.size() == 1) {
        return {roll_decision::kind::restart, members[0].ordinal, members[0].reason};
    }
    if (!quorum || quorum->leader_id < 0) {
        return {roll_decision::kind::wait, -1, "the coordinators' quorum could not be read"};
    }
    for (const auto& m : members) {
        auto it = quorum->voter_log_end.find(m.node_id);
        if (it == quorum->voter_log_end.end() || it->second < quorum->high_watermark) {
            return {roll_decision::kind::wait, -1,
                    "coordinator " + std::to_string(m.node_id) + " is catching up with the quorum"};
        }
    }
    const roll_member* leader = nullptr;
    for (const auto& m : members) {
        if (!m.outdated) {
            continue;
        }
        if (m.node_id == quorum->leader_id) {
            leader = &m;
            continue;
        }
        return {roll_decision::kind::restart, m.ordinal, m.reason};
    }
    return {roll_decision::kind::restart, leader->ordinal, leader->reason + " (the Raft leader, last)"};
}

} // namespace trib::op::controller

// --- the step ---

namespace trib::op::controller {

namespace {

namespace res = k8s::resources;

std::vector<std::string> strings_at(const json& o, const char* key) {
    std::vector<std::string> out;
    if (o.is_object() && o.has_array_field(key)) {
        for (const auto& v : o.at(key).as_array()) {
            if (v.is_string()) {
                out.push_back(v.as_string());
            }
        }
    }
    return out;
}

std::vector<std::string> ready_addresses(const roll_inputs& in, component c, int32_t n, int port) {
    std::vector<std::string> out;
    for (int32_t ord = 0; ord < n; ++ord) {
        auto pod = in.cache.get(res::pods, in.ctx.ns(), pod_name(in.ctx.name(), c, ord));
        if (pod && pod_ready(*pod) && !string_at(*pod, {"status", "podIP"}).empty()) {
            out.push_back(string_at(*pod, {"status", "podIP"}) + ":" + std::to_string(port));
        }
    }
    return out;
}

void apply_dynamic_config(const roll_inputs& in, roll_outcome& out) {
    const json* old = field_at(in.old_status, {"dynamicBrokerConfig"});
    std::map<std::string, std::string> applied;
    if (old != nullptr && old->is_object()) {
        for (const auto& [k, v] : old->as_object()) {
            applied[k] = v.is_string() ? v.as_string() : "";
        }
    }
    out.dynamic_applied = applied;
    const auto want = dynamic_broker_config(in.ctx.spec().brokers.config);
    if (in.ops == nullptr || (want.empty() && applied.empty())) {
        return;
    }
    const auto brokers = ready_addresses(in, component::broker, in.brokers, api::replication_port);
    if (brokers.empty()) {
        return;  // nobody to ask yet; a new cluster's brokers read them from their file anyway
    }
    std::string why;
    auto have = in.ops->dynamic_defaults(brokers, why);
    if (!have) {
        out.waiting_reason = "DynamicConfig";
        out.waiting = "dynamic broker configs not read: " + why;
        return;
    }
    const auto change = plan_dynamic_config(want, *have, applied);
    if (!change.empty()) {
        if (!in.ops->alter_dynamic_defaults(brokers, change, why)) {
            out.waiting_reason = "DynamicConfig";
            out.waiting = "dynamic broker configs not applied: " + why;
            in.events.record(in.object, "Warning", "DynamicConfigFailed", out.waiting);
            return;
        }
        std::vector<std::string> keys;
        for (const auto& [k, v] : change.set) {
            keys.push_back(k + "=" + v);
        }
        for (const auto& k : change.remove) {
            keys.push_back(k + " (removed)");
        }
        in.events.record(in.object, "Normal", "DynamicConfigApplied",
                         "Applied without restart (IncrementalAlterConfigs, every broker): " + join(keys));
        TLOG_INFO("{}/{}: dynamic broker configs: {}", in.ctx.ns(), in.ctx.name(), join(keys));
    }
    out.dynamic_applied = want;
}

std::vector<roll_member> members_of(const roll_inputs& in, component c, int32_t n, const json& sts) {
    std::vector<roll_member> out;
    for (int32_t ord = 0; ord < n; ++ord) {
        roll_member m;
        m.ordinal = ord;
        m.node_id = c == component::broker ? broker_id(ord) : coordinator_id(ord);
        m.pod = pod_name(in.ctx.name(), c, ord);
        if (auto pod = in.cache.get(res::pods, in.ctx.ns(), m.pod)) {
            m.exists = true;
            m.ready = pod_ready(*pod);
            m.terminating = field_at(*pod, {"metadata", "deletionTimestamp"}) != nullptr;
            m.outdated = pod_outdated(*pod, sts);
            if (m.outdated) {
                m.reason = restart_reason(*pod, sts);
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

// Every pod there, none stopping, the not-ready ones outdated: the cluster is worth asking.
bool settled(const std::vector<roll_member>& members) {
    return std::all_of(members.begin(), members.end(), [](const roll_member& m) {
        return m.exists && !m.terminating && (m.ready || m.outdated);
    });
}

// The pod as the API server has it now still is the one the cache showed: not replaced, not
// stopping, still outdated. (The cache may lag our own delete by a pass.)
bool still_outdated(const roll_inputs& in, const std::string& pod, const json& sts) {
    auto now = in.api.get(res::pods, in.ctx.ns(), pod);
    auto cached = in.cache.get(res::pods, in.ctx.ns(), pod);
    return now && cached && field_at(*now, {"metadata", "deletionTimestamp"}) == nullptr &&
           string_at(*now, {"metadata", "uid"}) == string_at(*cached, {"metadata", "uid"}) && pod_outdated(*now, sts);
}

} // namespace

roll_outcome roll(const roll_inputs& in) {
    roll_outcome out;
    apply_dynamic_config(in, out);
    const json* old_roll = field_at(in.old_status, {"rollingUpdate"});
    const std::string& ns = in.ctx.ns();
    std::vector<roll_member> coordinators;
    for (component c : {component::coordinator, component::broker}) {
        const bool brokers = c == component::broker;
        auto sts = in.cache.get(res::stateful_sets, ns, stateful_set_name(in.ctx.name(), c));
        if (!sts) {
            continue;
        }
        const auto members = members_of(in, c, brokers ? in.brokers : in.voters, *sts);
        if (!brokers) {
            coordinators = members;
        }
        api::rolling_update_status st;
        st.component = brokers ? "brokers" : "coordinators";
        for (const auto& m : members) {
            if (m.outdated) {
                st.pending.push_back(m.pod);
            }
        }
        const bool same_roll = old_roll != nullptr && string_at(*old_roll, {"component"}) == st.component;
        if (st.pending.empty()) {
            // The roll is over when the last restarted pod is back, not when it is deleted.
            auto starting = std::find_if(members.begin(), members.end(), [](const roll_member& m) {
                return !m.exists || !m.ready || m.terminating;
            });
            if (!same_roll || starting == members.end()) {
                continue;
            }
            st.restarting = string_at(*old_roll, {"restarting"});
            st.reason = string_at(*old_roll, {"reason"});
            st.message = starting->pod + " is not ready";
            out.waiting_reason = "RollingUpdate";
            out.waiting = "rolling " + st.component + ": " + st.message;
            out.rolling = std::move(st);
            return out;
        }
        if (same_roll) {
            st.restarting = string_at(*old_roll, {"restarting"});
            st.reason = string_at(*old_roll, {"reason"});
        } else {
            for (const auto& m : members) {
                if (m.outdated) {
                    in.events.record(in.object, "Normal", "RollingRestart",
                                     "Restarting " + st.component + " one at a time: " + join(st.pending) + " (" +
                                         m.reason + ")");
                    break;
                }
            }
        }
        roll_decision d;
        std::string why;
        // A broker restarted while a coordinator is down could not register again.
        const auto down = std::find_if(coordinators.begin(), coordinators.end(), [](const roll_member& m) {
            return !m.exists || !m.ready || m.terminating;
        });
        if (brokers && down != coordinators.end()) {
            d = {roll_decision::kind::wait, -1,
                 "coordinator " + std::to_string(down->node_id) + " (" + down->pod + ") is not ready"};
        } else if (brokers) {
            std::optional<std::vector<partition_state>> parts;
            if (in.ops == nullptr) {
                parts.emplace();  // no cluster to check
            } else if (settled(members)) {
                parts = in.ops->partitions(ready_addresses(in, c, in.brokers, api::replication_port), why);
            }
            if (parts) {
                st.partitions_below_min_isr = below_min_isr(*parts);
                const auto before = same_roll ? strings_at(*old_roll, "partitionsBelowMinIsr") : std::vector<std::string>{};
                if (!st.partitions_below_min_isr.empty() && st.partitions_below_min_isr != before) {
                    in.events.record(in.object, "Warning", "PartitionsBelowMinIsr",
                                     "Partitions below min.insync.replicas already (not waited on by the rolling "
                                     "restart): " + join(st.partitions_below_min_isr));
                }
            }
            d = decide_broker_roll(members, parts);
        } else {
            std::optional<quorum_state> q;
            if (in.ops == nullptr) {
                q.emplace();
                q->leader_id = members.back().node_id;
                for (const auto& m : members) {
                    q->voter_log_end[m.node_id] = 0;
                }
            } else if (settled(members) && members.size() > 1) {
                q = in.ops->quorum(ready_addresses(in, c, in.voters, api::coordinator_port), why);
            }
            d = decide_coordinator_roll(members, q);
        }
        if (!why.empty() && d.what == roll_decision::kind::wait) {
            d.message += ": " + why;
        }
        if (d.what == roll_decision::kind::restart) {
            const auto& m = members.at(size_t(d.ordinal));
            if (!still_outdated(in, m.pod, *sts)) {
                d = {roll_decision::kind::wait, -1, m.pod + " is being replaced"};
            } else {
                in.api.remove(res::pods, ns, m.pod);
                st.restarting = m.pod;
                st.reason = d.message;
                in.events.record(in.object, "Normal", brokers ? "BrokerRestarted" : "CoordinatorRestarted",
                                 "Restarted " + std::string(brokers ? "broker " : "coordinator ") +
                                     std::to_string(m.node_id) + " (pod " + m.pod + "): " + d.message);
                TLOG_INFO("{}/{}: restarting {} ({})", ns, in.ctx.name(), m.pod, d.message);
                st.pending.erase(std::find(st.pending.begin(), st.pending.end(), m.pod));
                d.message = "restarting " + m.pod + " (" + d.message + ")";
            }
        }
        st.blocked = d.what == roll_decision::kind::blocked;
        st.message = d.message;
        if (st.blocked && !(same_roll && string_at(*old_roll, {"message"}) == st.message)) {
            in.events.record(in.object, "Warning", "RollingRestartBlocked", st.message);
            TLOG_WARN("{}/{}: rolling restart blocked: {}", ns, in.ctx.name(), st.message);
        }
        out.waiting_reason = "RollingUpdate";
        out.waiting = "rolling " + st.component + ": " + d.message +
                      (st.pending.empty() ? "" : "; to restart: " + join(st.pending));
        out.rolling = std::move(st);
        return out;  // one component, one pod at a time
    }
    if (old_roll != nullptr) {
        in.events.record(in.object, "Normal", "RollingRestartComplete",
                         "Every " + string_at(*old_roll, {"component"}) + " pod runs the current template");
    }
    return out;
}

} // namespace trib::op::controller
