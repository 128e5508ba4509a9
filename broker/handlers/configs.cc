// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs. Topic configs are overrides kept
// in the cluster metadata; a key without an override takes the broker's value. Changes are
// decided by the coordinator (forward.h). Describing a broker shows its static configuration;
// dynamic broker configs are stored by the coordinator but not applied by brokers yet.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"


namespace trib::broker {

using protocol::error_code;

namespace {

constexpr int8_t resource_topic = 2;
constexpr int8_t resource_broker = 4;

// Kafka's ConfigSource and ConfigType values.
enum source : int8_t { dynamic_topic = 1, static_broker = 4, default_config = 5 };
enum ctype : int8_t { t_boolean = 1, t_string = 2, t_int = 3, t_long = 5, t_double = 6, t_list = 7, t_password = 9 };

struct topic_default {
    std::string value;
    int8_t type;
    std::string broker_key;
};

// The value a topic config key has when the topic doesn't override it.
std::map<std::string, topic_default> topic_defaults(const broker_config& b) {
    const auto& l = b.log_defaults;
    return {
        {"retention.ms", {std::to_string(l.retention_ms), t_long, "log.retention.ms"}},
        {"retention.bytes", {std::to_string(l.retention_bytes), t_long, "log.retention.bytes"}},
        {"segment.bytes", {std::to_string(l.segment_bytes), t_int, "log.segment.bytes"}},
        {"segment.ms", {std::to_string(l.segment_ms), t_long, "log.roll.ms"}},
        {"max.message.bytes", {std::to_string(b.message_max_bytes), t_int, "message.max.bytes"}},
        {"message.timestamp.type", {b.message_timestamp_type, t_string, "log.message.timestamp.type"}},
        {"min.insync.replicas", {std::to_string(b.min_insync_replicas), t_int, "min.insync.replicas"}},
        {"cleanup.policy", {b.raw.get_string("log.cleanup.policy"), t_list, "log.cleanup.policy"}},
        {"flush.messages", {std::to_string(l.flush_messages), t_long, "log.flush.interval.messages"}},
        {"flush.ms", {std::to_string(l.flush_ms), t_long, "log.flush.interval.ms"}},
        {"index.interval.bytes", {std::to_string(l.index_interval_bytes), t_int, "log.index.interval.bytes"}},
        {"compression.type", {b.raw.get_string("compression.type"), t_string, "compression.type"}},
    };
}

int8_t schema_type(config::type t) {
    switch (t) {
    case config::type::boolean: return t_boolean;
    case config::type::int32: return t_int;
    case config::type::int64: return t_long;
    case config::type::dbl: return t_double;
    case config::type::list: return t_list;
    case config::type::password: return t_password;
    case config::type::string: return t_string;
    }
    return t_string;
}

bool wanted(const std::optional<std::vector<std::string>>& keys, const std::string& k) {
    return !keys || keys->empty() || std::find(keys->begin(), keys->end(), k) != keys->end();
}

using resource_result = protocol::describe_configs_response::describe_configs_result;
using config_entry = protocol::describe_configs_response::describe_configs_resource_result;

void describe_topic(const broker_config& b, const topic_info& t, const protocol::describe_configs_request& req,
                    const protocol::describe_configs_request::describe_configs_resource& res, resource_result& out) {
    for (const auto& [key, def] : topic_defaults(b)) {
        if (!wanted(res.configuration_keys, key)) {
            continue;
        }
        auto& c = out.configs.emplace_back();
        c.name = key;
        auto it = t.configs.find(key);
        bool broker_set = b.raw.source(def.broker_key) != "default" && b.raw.source(def.broker_key) != "unset";
        c.value = it != t.configs.end() ? it->second : def.value;
        c.config_source = it != t.configs.end() ? dynamic_topic : broker_set ? static_broker : default_config;
        c.is_default = it == t.configs.end() && !broker_set;
        c.config_type = def.type;
        if (req.include_synonyms) {
            if (it != t.configs.end()) {
                c.synonyms.push_back({key, it->second, dynamic_topic, {}});
            }
            c.synonyms.push_back({def.broker_key, def.value, broker_set ? static_broker : default_config, {}});
        }
    }
}

void describe_broker(const broker_config& b, const protocol::describe_configs_request::describe_configs_resource& res,
                     resource_result& out) {
    for (const auto& spec : broker_schema().keys()) {
        if (!wanted(res.configuration_keys, spec.name) || !b.raw.has(spec.name)) {
            continue;
        }
        auto& c = out.configs.emplace_back();
        c.name = spec.name;
        bool sensitive = spec.t == config::type::password;
        c.is_sensitive = sensitive;
        if (!sensitive) {
            c.value = b.raw.get_string(spec.name);
        }
        bool set = b.raw.source(spec.name) != "default";
        c.config_source = set ? static_broker : default_config;
        c.is_default = !set;
        c.read_only = true;
        c.config_type = schema_type(spec.t);
        c.documentation = spec.doc;
    }
}

} // namespace

handler_result<protocol::describe_configs_response> describe_configs_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    for (const auto& res : req.resources) {
        auto& r = resp.results.emplace_back();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        if (res.resource_type == resource_topic) {
            const auto* t = snap->topic(res.resource_name);
            if (!t) {
                r.error_code = code(error_code::unknown_topic_or_partition);
                r.error_message = "Topic '" + res.resource_name + "' does not exist.";
                continue;
            }
            describe_topic(svc.config, *t, req, res, r);
        } else if (res.resource_type == resource_broker) {
            if (!res.resource_name.empty() && res.resource_name != std::to_string(svc.self())) {
                r.error_code = code(error_code::invalid_request);
                r.error_message = "Broker " + res.resource_name + " is described by that broker.";
                continue;
            }
            describe_broker(svc.config, res, r);
        } else {
            r.error_code = code(error_code::invalid_request);
            r.error_message = "Unsupported resource type " + std::to_string(res.resource_type);
        }
    }
    co_return resp;
}

namespace {

template<typename Response, typename Request>
Response failed(const Request& req, const forwarded<Response>& f) {
    Response resp;
    for (const auto& res : req.resources) {
        auto& r = resp.responses.emplace_back();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        r.error_code = code(f.error);
        r.error_message = f.message;
    }
    return resp;
}

} // namespace

handler_result<protocol::alter_configs_response> alter_configs_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    co_return f.response ? std::move(*f.response) : failed(req, f);
}

handler_result<protocol::incremental_alter_configs_response> incremental_alter_configs_handler::handle(
    request_context& ctx, request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    co_return f.response ? std::move(*f.response) : failed(req, f);
}

} // namespace trib::broker
