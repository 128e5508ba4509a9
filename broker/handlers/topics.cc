// CreateTopics, DeleteTopics and CreatePartitions: decided by the coordinator (forward.h).
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/handlers/topic_configs.h"

namespace trib::broker {

handler_result<protocol::create_topics_response> create_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
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

handler_result<protocol::delete_topics_response> delete_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    if (f.response) {
        co_return std::move(*f.response);
    }
    response resp;
    auto fail = [&](std::optional<std::string> name, protocol::uuid id) {
        auto& r = resp.responses.emplace_back();
        r.name = std::move(name);
        r.topic_id = id;
        r.error_code = code(f.error);
        r.error_message = f.message;
    };
    for (const auto& n : req.topic_names) {
        fail(n, {});
    }
    for (const auto& t : req.topics) {
        fail(t.name, t.topic_id);
    }
    co_return resp;
}

handler_result<protocol::create_partitions_response> create_partitions_handler::handle(request_context& ctx,
                                                                                       request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    if (f.response) {
        co_return std::move(*f.response);
    }
    response resp;
    for (const auto& t : req.topics) {
        auto& r = resp.results.emplace_back();
        r.name = t.name;
        r.error_code = code(f.error);
        r.error_message = f.message;
    }
    co_return resp;
}

} // namespace trib::broker
