// CreateTopics, DeleteTopics and CreatePartitions: decided by the coordinator (forward.h).
#include "broker/handlers/forward.h"
#include "broker/handlers/handlers.h"

namespace trib::broker {

handler_result<protocol::create_topics_response> create_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto f = co_await forward_to_coordinator<response>(ctx, req, ctx.version());
    if (f.response) {
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
