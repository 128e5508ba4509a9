// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs. Topic configs are overrides kept
// in the cluster metadata; a key without an override takes the broker's value. Changes are
// decided by the coordinator (forward.h). Dynamic broker configs (the broker-level defaults of
// topic configs and the replication throttles' rates, per broker or cluster-wide) come from
// the coordinator's metadata too and take effect on every broker as its metadata copy gets them.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/handlers/topic_configs.h"
#include "coordinator/client/topic_config.h"


namespace trib::broker {

using protocol::error_code;

namespace {

constexpr int8_t resource_topic = 2;
constexpr int8_t resource_broker = 4;

// Kafka's ConfigSource and ConfigType values.
enum source : int8_t {
    dynamic_topic = 1,
    dynamic_broker = 2,
    dynamic_default_broker = 3,
    static_broker = 4,
    default_config = 5,
};
enum ctype : int8_t { t_boolean = 1, t_string = 2, t_int = 3, t_long = 5, t_double = 6, t_list = 7, t_password = 9 };

// ACLs on a config resource, as Kafka: `op` (DESCRIBE_CONFIGS, ALTER_CONFIGS) on the topic,
// or on the cluster for a broker; the error a refused resource is answered with, or none.
error_code config_acl(const request_context& ctx, security::acl_operation op, int8_t type, const std::string& name) {
    if (type == resource_topic) {
        return ctx.authorized_topic(op, name) ? error_code::none : error_code::topic_authorization_failed;
    }
    return ctx.authorized_cluster(op) ? error_code::none : error_code::cluster_authorization_failed;
}

struct topic_default {
    std::string value;
    int8_t type;
    std::string broker_key;
    const char* doc;
};

// The value a topic config key has when the topic doesn't override it.
std::map<std::string, topic_default> topic_defaults(const broker_config& b) {
    const auto& l = b.log_defaults;
    return {
        {"retention.ms", {std::to_string(l.retention_ms), t_long, "log.retention.ms",
                          "How long a segment is kept after its newest record; -1: forever."}},
        {"retention.bytes", {std::to_string(l.retention_bytes), t_long, "log.retention.bytes",
                             "Largest size a partition keeps before deleting its oldest segments; -1: no limit."}},
        {"segment.bytes", {std::to_string(l.segment_bytes), t_int, "log.segment.bytes", "Size at which a segment file rolls."}},
        {"segment.ms", {std::to_string(l.segment_ms), t_long, "log.roll.ms", "Age at which a segment rolls, even if not full."}},
        {"max.message.bytes", {std::to_string(b.message_max_bytes), t_int, "message.max.bytes",
                               "Largest record batch accepted (after compression)."}},
        {"message.timestamp.type", {b.message_timestamp_type, t_string, "log.message.timestamp.type",
                                    "CreateTime or LogAppendTime: which time the records carry."}},
        {"min.insync.replicas", {std::to_string(b.min_insync_replicas), t_int, "min.insync.replicas",
                                 "In-sync replicas an acks=all produce needs."}},
        {"cleanup.policy", {b.raw.get_string("log.cleanup.policy"), t_list, "log.cleanup.policy",
                            "delete and/or compact: what happens to old segments."}},
        {"flush.messages", {std::to_string(l.flush_messages), t_long, "log.flush.interval.messages",
                            "Records appended between forced flushes to disk."}},
        {"flush.ms", {std::to_string(l.flush_ms), t_long, "log.flush.interval.ms",
                      "Age of unflushed data that forces a flush to disk."}},
        {"index.interval.bytes", {std::to_string(l.index_interval_bytes), t_int, "log.index.interval.bytes",
                                  "Bytes between offset index entries."}},
        {"compression.type", {b.raw.get_string("compression.type"), t_string, "compression.type",
                              "Codec of stored batches; producer: as the producer sent them."}},
        {"delete.retention.ms", {std::to_string(l.delete_retention_ms), t_long, "log.cleaner.delete.retention.ms",
                                 "How long a tombstone stays after its segment was first cleaned (compacted topics)."}},
        {"min.cleanable.dirty.ratio", {b.raw.get_string("log.cleaner.min.cleanable.ratio"), t_double,
                                       "log.cleaner.min.cleanable.ratio",
                                       "Share of not yet cleaned bytes that starts a cleaning (compacted topics)."}},
        {"min.compaction.lag.ms", {std::to_string(l.min_compaction_lag_ms), t_long, "log.cleaner.min.compaction.lag.ms",
                                   "Records younger than this are not compacted."}},
        {"max.compaction.lag.ms", {std::to_string(l.max_compaction_lag_ms), t_long, "log.cleaner.max.compaction.lag.ms",
                                   "Records older than this are compacted even below the dirty ratio."}},
        // Topic-only keys: no broker key sets their default.
        {"leader.replication.throttled.replicas",
         {"", t_list, "",
          "Replicas (partition:broker,... or *) whose leader sends to out-of-sync followers only within "
          "leader.replication.throttled.rate."}},
        {"follower.replication.throttled.replicas",
         {"", t_list, "",
          "Replicas (partition:broker,... or *) that copy from their leader, while out of sync, only within "
          "follower.replication.throttled.rate."}},
        {"unclean.leader.election.enable",
         {b.raw.get_bool("unclean.leader.election.enable") ? "true" : "false", t_boolean,
          "unclean.leader.election.enable",
          "Whether a replica not in sync may lead when no in-sync one is left (its missing records are lost)."}},
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

// A topic key's value comes from the first layer that has it: the topic's override, this
// broker's dynamic config, the cluster-wide dynamic default, the static configuration, the
// built-in default. Synonyms list every layer that has one, in that order.
void describe_topic(const broker_config& b, const cluster_snapshot& snap, int32_t self, const topic_info& t,
                    const protocol::describe_configs_request& req,
                    const protocol::describe_configs_request::describe_configs_resource& res, resource_result& out) {
    auto dynamic = [&](const std::string& scope, const std::string& broker_key) -> std::optional<std::string> {
        auto it = snap.broker_configs.find(scope);
        if (it == snap.broker_configs.end()) {
            return std::nullopt;
        }
        auto v = it->second.find(broker_key);
        return v == it->second.end() ? std::nullopt : std::optional<std::string>(v->second);
    };
    for (const auto& [key, def] : topic_defaults(b)) {
        if (!wanted(res.configuration_keys, key)) {
            continue;
        }
        struct layer {
            std::optional<std::string> value;
            std::string name;
            int8_t source;
        };
        const bool has_broker_key = !def.broker_key.empty();
        bool static_set = has_broker_key && b.raw.source(def.broker_key) != "default" &&
                          b.raw.source(def.broker_key) != "unset";
        auto topic_it = t.configs.find(key);
        std::vector<layer> layers = {
            {topic_it != t.configs.end() ? std::optional<std::string>(topic_it->second) : std::nullopt, key,
             dynamic_topic},
        };
        if (has_broker_key) {
            layers.push_back({dynamic(std::to_string(self), def.broker_key), def.broker_key, dynamic_broker});
            layers.push_back({dynamic("", def.broker_key), def.broker_key, dynamic_default_broker});
            layers.push_back(
                {static_set ? std::optional<std::string>(def.value) : std::nullopt, def.broker_key, static_broker});
        }
        layers.push_back({def.value, has_broker_key ? def.broker_key : key, default_config});
        auto& c = out.configs.emplace_back();
        c.name = key;
        c.config_type = def.type;
        c.documentation = def.doc;
        // As Kafka, the built-in default is a synonym only where the broker key itself has one
        // (log.retention.ms has none: its default comes from log.retention.hours).
        const auto* spec = has_broker_key ? broker_schema().find(def.broker_key) : nullptr;
        const bool default_is_synonym = spec && spec->default_value.has_value();
        bool found = false;
        for (const auto& l : layers) {
            if (!l.value) {
                continue;
            }
            if (!found) {
                found = true;
                c.value = l.value;
                c.config_source = l.source;
                c.is_default = l.source == default_config;
            }
            if (req.include_synonyms && (l.source != default_config || default_is_synonym)) {
                c.synonyms.push_back({l.name, l.value, l.source, {}});
            }
        }
    }
}

// A broker's configuration: its static settings, with the dynamic ones (this broker's, then
// the cluster-wide defaults) in front where the coordinator holds any. Synonyms list every
// layer that has a value, in that order, as for topics (kafka-configs prints them).
void describe_broker(const broker_config& b, const cluster_snapshot& snap, int32_t self,
                     const protocol::describe_configs_request& req,
                     const protocol::describe_configs_request::describe_configs_resource& res, resource_result& out) {
    auto dynamic_layers = [&](const std::string& key) {
        std::vector<std::pair<std::string, int8_t>> found;
        for (auto [scope, source] : {std::pair{std::to_string(self), dynamic_broker},
                                     std::pair{std::string(), dynamic_default_broker}}) {
            if (auto it = snap.broker_configs.find(scope); it != snap.broker_configs.end()) {
                if (auto v = it->second.find(key); v != it->second.end()) {
                    found.emplace_back(v->second, int8_t(source));
                }
            }
        }
        return found;
    };
    const auto& dynamic_only = coordinator::broker_only_dynamic_configs();
    for (const auto& spec : broker_schema().keys()) {
        // The authorizer's own keys: Kafka's StandardAuthorizer reads them from the raw
        // properties, they are no broker configs, and DescribeConfigs does not list them.
        if (spec.name == "super.users" || spec.name == "allow.everyone.if.no.acl.found") {
            continue;
        }
        auto layers = dynamic_layers(spec.name);
        auto dyn = layers.empty() ? std::nullopt : std::optional(layers.front());
        if (!wanted(res.configuration_keys, spec.name) || (!b.raw.has(spec.name) && !dyn)) {
            continue;
        }
        // The throttles' rates are dynamic-only configs in Kafka, listed only where set.
        if (!dyn && b.raw.source(spec.name) == "default" &&
            std::find(dynamic_only.begin(), dynamic_only.end(), spec.name) != dynamic_only.end()) {
            continue;
        }
        auto& c = out.configs.emplace_back();
        c.name = spec.name;
        bool sensitive = spec.t == config::type::password;
        c.is_sensitive = sensitive;
        bool set = b.raw.source(spec.name) != "default";
        if (dyn) {
            c.value = dyn->first;
            c.config_source = dyn->second;
        } else {
            if (!sensitive) {
                c.value = b.raw.get_string(spec.name);
            }
            c.config_source = set ? static_broker : default_config;
        }
        c.is_default = !dyn && !set;
        c.read_only = !coordinator::is_broker_dynamic_config(spec.name);
        c.config_type = schema_type(spec.t);
        c.documentation = spec.doc;
        if (req.include_synonyms) {
            for (const auto& [value, source] : layers) {
                c.synonyms.push_back({spec.name, value, source, {}});
            }
            if (b.raw.has(spec.name)) {
                std::optional<std::string> base;
                if (!sensitive) {
                    base = b.raw.get_string(spec.name);
                }
                c.synonyms.push_back({spec.name, base, int8_t(set ? static_broker : default_config), {}});
            }
        }
    }
}

} // namespace

std::vector<protocol::create_topics_response::creatable_topic_configs> created_topic_configs(
    const broker_services& svc, const cluster_snapshot& snap, const std::map<std::string, std::string>& overrides) {
    topic_info t;
    t.configs = overrides;
    protocol::describe_configs_request req;
    protocol::describe_configs_request::describe_configs_resource res;
    res.configuration_keys = std::nullopt;
    resource_result described;
    describe_topic(svc.config, snap, svc.self(), t, req, res, described);
    std::vector<protocol::create_topics_response::creatable_topic_configs> out;
    for (const auto& d : described.configs) {
        auto& c = out.emplace_back();
        c.name = d.name;
        c.value = d.value;
        c.read_only = d.read_only;
        c.config_source = d.config_source;
        c.is_sensitive = d.is_sensitive;
    }
    return out;
}

handler_result<protocol::describe_configs_response> describe_configs_handler::handle(request_context& ctx,
                                                                                     request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    for (const auto& res : req.resources) {
        auto& r = resp.results.emplace_back();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        if (auto denied = config_acl(ctx, security::acl_operation::describe_configs, res.resource_type,
                                     res.resource_name);
            denied != error_code::none) {
            r.error_code = code(denied);
            r.error_message = std::string(authorization_failed);
            continue;
        }
        if (res.resource_type == resource_topic) {
            const auto* t = snap->topic(res.resource_name);
            if (!t) {
                auto invalid = coordinator::invalid_topic_name(res.resource_name);
                r.error_code = code(invalid ? error_code::invalid_topic_exception : error_code::unknown_topic_or_partition);
                r.error_message = invalid ? *invalid : "Topic '" + res.resource_name + "' does not exist.";
                continue;
            }
            describe_topic(svc.config, *snap, svc.self(), *t, req, res, r);
        } else if (res.resource_type == resource_broker) {
            if (!res.resource_name.empty() && res.resource_name != std::to_string(svc.self())) {
                r.error_code = code(error_code::invalid_request);
                r.error_message = "Broker " + res.resource_name + " is described by that broker.";
                continue;
            }
            describe_broker(svc.config, *snap, svc.self(), req, res, r);
        } else {
            r.error_code = code(error_code::invalid_request);
            r.error_message = "Unsupported resource type " + std::to_string(res.resource_type);
        }
        if (!req.include_documentation) {
            for (auto& c : r.configs) {
                c.documentation = std::nullopt;  // as Kafka: only when asked for
            }
        }
    }
    co_return resp;
}

namespace {

template<typename Response, typename Resources>
void add_failed(Response& resp, const Resources& resources, error_code e, const std::string& msg) {
    for (const auto& res : resources) {
        auto& r = resp.responses.emplace_back();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        r.error_code = code(e);
        r.error_message = msg;
    }
}

// AlterConfigs and IncrementalAlterConfigs: the resources the ACLs let the principal
// ALTER_CONFIGS go to the coordinator; the others are answered here.
template<typename Response, typename Request>
asio::awaitable<Response> alter_allowed_configs(request_context& ctx, Request& req) {
    std::vector<typename decltype(req.resources)::value_type> refused[2];  // topics, the cluster
    for (auto& r : split_refused(req.resources, [&](const auto& res) {
             return config_acl(ctx, security::acl_operation::alter_configs, res.resource_type, res.resource_name) ==
                    error_code::none;
         })) {
        refused[r.resource_type == resource_topic ? 0 : 1].push_back(std::move(r));
    }
    Response resp;
    if (!req.resources.empty()) {
        auto f = co_await forward_to_coordinator<Response>(ctx, req, ctx.version());
        if (f.response) {
            resp = std::move(*f.response);
        } else {
            add_failed(resp, req.resources, f.error, f.message);
        }
    }
    const std::string msg(authorization_failed);
    add_failed(resp, refused[0], error_code::topic_authorization_failed, msg);
    add_failed(resp, refused[1], error_code::cluster_authorization_failed, msg);
    co_return resp;
}

} // namespace

handler_result<protocol::alter_configs_response> alter_configs_handler::handle(request_context& ctx,
                                                                               request&& req) {
    co_return co_await alter_allowed_configs<response>(ctx, req);
}

handler_result<protocol::incremental_alter_configs_response> incremental_alter_configs_handler::handle(
    request_context& ctx, request&& req) {
    co_return co_await alter_allowed_configs<response>(ctx, req);
}

} // namespace trib::broker
