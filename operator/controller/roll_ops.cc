#include "operator/controller/roll_ops.h"

#include "common/listeners.h"
#include "operator/controller/quorum_ops.h"
#include "protocol/error_code.h"
#include "protocol/messages/describe_configs.h"
#include "protocol/messages/incremental_alter_configs.h"
#include "protocol/messages/metadata.h"

namespace trib::op::controller {

namespace {

using kafka::error_text;

constexpr int8_t resource_topic = 2;
constexpr int8_t resource_broker = 4;
constexpr int8_t source_dynamic_default_broker = 3;
constexpr int8_t op_set = 0;
constexpr int8_t op_delete = 1;

// Tries `body(address)` on each address until one gives an answer; `why` collects the failures.
template<typename T, typename Body>
std::optional<T> first_answer(const std::vector<std::string>& addresses, std::string& why, Body body) {
    why.clear();
    for (const auto& a : addresses) {
        std::string one;
        try {
            if (auto r = body(config::parse_host_port(a), one)) {
                return r;
            }
        } catch (const std::exception& e) {
            one = a + ": " + e.what();
        }
        why += (why.empty() ? "" : "; ") + one;
    }
    if (addresses.empty()) {
        why = "no address to ask";
    }
    return std::nullopt;
}

} // namespace

kafka_roll_ops::kafka_roll_ops(kafka::session_options options) : _session(std::move(options)) {}

std::optional<std::vector<partition_state>> kafka_roll_ops::partitions(const std::vector<std::string>& brokers,
                                                                      std::string& why) {
    using out_t = std::vector<partition_state>;
    return first_answer<out_t>(brokers, why, [&](const config::host_port& to, std::string& err) -> std::optional<out_t> {
        protocol::metadata_request md;
        md.topics = std::nullopt;  // all topics
        md.allow_auto_topic_creation = false;
        auto m = _session.call<protocol::metadata_response>(to, md, 12, err);
        if (!m) {
            return std::nullopt;
        }
        out_t out;
        protocol::describe_configs_request dc;
        for (const auto& t : m->topics) {
            if (t.error_code != 0 || !t.name) {
                continue;
            }
            for (const auto& p : t.partitions) {
                out.push_back({*t.name, p.partition_index, p.replica_nodes, p.isr_nodes, 1});
            }
            auto& r = dc.resources.emplace_back();
            r.resource_type = resource_topic;
            r.resource_name = *t.name;
            r.configuration_keys = std::vector<std::string>{"min.insync.replicas"};
        }
        if (dc.resources.empty()) {
            return out;
        }
        auto c = _session.call<protocol::describe_configs_response>(to, dc, 4, err);
        if (!c) {
            return std::nullopt;
        }
        std::map<std::string, int32_t> min_isr;
        for (const auto& r : c->results) {
            if (r.error_code != 0) {
                continue;  // deleted since the Metadata: its partitions keep 1
            }
            for (const auto& cfg : r.configs) {
                if (cfg.name == "min.insync.replicas" && cfg.value) {
                    try {
                        min_isr[r.resource_name] = std::stoi(*cfg.value);
                    } catch (const std::exception&) {
                    }
                }
            }
        }
        for (auto& p : out) {
            if (auto it = min_isr.find(p.topic); it != min_isr.end()) {
                p.min_isr = it->second;
            }
        }
        return out;
    });
}

std::optional<std::map<std::string, std::string>> kafka_roll_ops::dynamic_defaults(
    const std::vector<std::string>& brokers, std::string& why) {
    using out_t = std::map<std::string, std::string>;
    return first_answer<out_t>(brokers, why, [&](const config::host_port& to, std::string& err) -> std::optional<out_t> {
        protocol::describe_configs_request dc;
        auto& r = dc.resources.emplace_back();
        r.resource_type = resource_broker;
        r.resource_name = "";
        r.configuration_keys = std::nullopt;
        dc.include_synonyms = true;
        auto c = _session.call<protocol::describe_configs_response>(to, dc, 4, err);
        if (!c) {
            return std::nullopt;
        }
        if (c->results.size() != 1 || c->results[0].error_code != 0) {
            err = "DescribeConfigs of the brokers' defaults: " +
                  (c->results.empty() ? std::string("no result")
                                      : error_text(c->results[0].error_code, c->results[0].error_message));
            return std::nullopt;
        }
        out_t out;
        for (const auto& cfg : c->results[0].configs) {
            for (const auto& s : cfg.synonyms) {
                if (s.source == source_dynamic_default_broker && s.name == cfg.name) {
                    out[cfg.name] = s.value.value_or("");
                }
            }
        }
        return out;
    });
}

bool kafka_roll_ops::alter_dynamic_defaults(const std::vector<std::string>& brokers,
                                            const dynamic_config_change& change, std::string& why) {
    auto ok = first_answer<bool>(brokers, why, [&](const config::host_port& to, std::string& err) -> std::optional<bool> {
        protocol::incremental_alter_configs_request req;
        auto& r = req.resources.emplace_back();
        r.resource_type = resource_broker;
        r.resource_name = "";
        for (const auto& [k, v] : change.set) {
            r.configs.push_back({k, op_set, v, {}});
        }
        for (const auto& k : change.remove) {
            r.configs.push_back({k, op_delete, std::nullopt, {}});
        }
        auto resp = _session.call<protocol::incremental_alter_configs_response>(to, req, 1, err);
        if (!resp) {
            return std::nullopt;
        }
        for (const auto& x : resp->responses) {
            if (x.error_code != 0) {
                // The cluster's answer: asking another broker would get the same.
                why = "IncrementalAlterConfigs: " + error_text(x.error_code, x.error_message);
                return false;
            }
        }
        return true;
    });
    return ok.value_or(false);
}

std::optional<quorum_state> kafka_roll_ops::quorum(const std::vector<std::string>& coordinators, std::string& why) {
    // Inside the CoordinatorAdmin envelope (quorum_ops.h): a coordinator serves no bare
    // DescribeQuorum.
    auto v = describe_quorum(_session, coordinators, why);
    if (!v) {
        return std::nullopt;
    }
    quorum_state q;
    q.leader_id = v->leader_id;
    q.high_watermark = v->high_watermark;
    for (const auto& r : v->voters) {
        q.voter_log_end[r.id] = r.log_end;
    }
    return q;
}

} // namespace trib::op::controller
