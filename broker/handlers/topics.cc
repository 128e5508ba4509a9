// CreateTopics, DeleteTopics and CreatePartitions: decided by the coordinator (forward.h),
// for the topics the ACLs let the principal create (CREATE on the cluster or the topic),
// delete (DELETE) or alter (ALTER); the others are answered TOPIC_AUTHORIZATION_FAILED here.
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/handlers/topic_configs.h"

namespace trib::broker {

namespace {
asio::awaitable<protocol::create_topics_response> create_allowed_topics(request_context& ctx,
                                                                        const protocol::create_topics_request& req);
} // namespace

handler_result<protocol::create_topics_response> create_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto refused = split_refused(req.topics, [&](const auto& t) { return ctx.authorized_create_topic(t.name); });
    auto resp = co_await create_allowed_topics(ctx, req);
    for (const auto& t : refused) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        rt.error_code = code(protocol::error_code::topic_authorization_failed);
        rt.error_message = std::string(authorization_failed);
    }
    co_return resp;
}

namespace {

asio::awaitable<protocol::create_topics_response> create_allowed_topics(request_context& ctx,
                                                                        const protocol::create_topics_request& req) {
    using response = protocol::create_topics_response;
    if (req.topics.empty()) {
        co_return response{};
    }
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    if (f.response) {
        // v5+ tells each created topic's configs: the coordinator decides, this broker knows
        // the defaults the topic's overrides sit on.
        if (ctx.version() >= 5) {
            auto snap = ctx.services.metadata.get();
            for (auto& rt : f.response->topics) {
                auto t = std::find_if(req.topics.begin(), req.topics.end(),
                                      [&](const auto& rq) { return rq.name == rt.name; });
                if (rt.error_code != 0 || t == req.topics.end()) {
                    continue;
                }
                // ACLs, as Kafka: a created topic's configs only to a principal that may
                // DESCRIBE_CONFIGS it, else TopicConfigErrorCode says why they are missing.
                if (!ctx.authorized_topic(security::acl_operation::describe_configs, rt.name)) {
                    rt.topic_config_error_code = code(protocol::error_code::topic_authorization_failed);
                    rt.num_partitions = -1;
                    rt.replication_factor = -1;
                    rt.configs = std::nullopt;
                    continue;
                }
                std::map<std::string, std::string> overrides;
                for (const auto& kv : t->configs) {
                    if (kv.value) {
                        overrides[kv.name] = *kv.value;
                    }
                }
                rt.configs = created_topic_configs(ctx.services, *snap, overrides);
            }
        }
        co_return std::move(*f.response);
    }
    response resp;
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        rt.error_code = code(f.error);
        rt.error_message = f.message;
    }
    co_return resp;
}

} // namespace

handler_result<protocol::delete_topics_response> delete_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    using security::acl_operation;
    auto snap = ctx.services.metadata.get();
    auto may_delete = [&](const std::optional<std::string>& name, const protocol::uuid& id) {
        if (name) {
            return ctx.authorized_topic(acl_operation::remove, *name);
        }
        auto it = std::find_if(snap->topics.begin(), snap->topics.end(),
                               [&](const auto& kv) { return kv.second.id == id; });
        return it == snap->topics.end() || ctx.authorized_topic(acl_operation::remove, it->first);
    };
    auto refused_names = split_refused(req.topic_names, [&](const std::string& n) { return may_delete(n, {}); });
    auto refused_ids = split_refused(req.topics, [&](const auto& t) { return may_delete(t.name, t.topic_id); });
    response resp;
    auto fail = [&](std::optional<std::string> name, protocol::uuid id, protocol::error_code e, std::string msg) {
        auto& r = resp.responses.emplace_back();
        r.name = std::move(name);
        r.topic_id = id;
        r.error_code = code(e);
        r.error_message = std::move(msg);
    };
    if (!req.topic_names.empty() || !req.topics.empty()) {
        auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
        if (f.response) {
            resp = std::move(*f.response);
        } else {
            for (const auto& n : req.topic_names) {
                fail(n, {}, f.error, f.message);
            }
            for (const auto& t : req.topics) {
                fail(t.name, t.topic_id, f.error, f.message);
            }
        }
    }
    const auto denied = protocol::error_code::topic_authorization_failed;
    for (const auto& n : refused_names) {
        fail(n, {}, denied, std::string(authorization_failed));
    }
    for (const auto& t : refused_ids) {
        fail(t.name, t.topic_id, denied, std::string(authorization_failed));
    }
    co_return resp;
}

handler_result<protocol::create_partitions_response> create_partitions_handler::handle(request_context& ctx,
                                                                                       request&& req) {
    auto refused = split_refused(
        req.topics, [&](const auto& t) { return ctx.authorized_topic(security::acl_operation::alter, t.name); });
    response resp;
    auto add = [&](const std::string& name, protocol::error_code e, const std::string& msg) {
        auto& r = resp.results.emplace_back();
        r.name = name;
        r.error_code = code(e);
        r.error_message = msg;
    };
    if (!req.topics.empty()) {
        auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
        if (f.response) {
            resp = std::move(*f.response);
        } else {
            for (const auto& t : req.topics) {
                add(t.name, f.error, f.message);
            }
        }
    }
    for (const auto& t : refused) {
        add(t.name, protocol::error_code::topic_authorization_failed, std::string(authorization_failed));
    }
    co_return resp;
}

} // namespace trib::broker
