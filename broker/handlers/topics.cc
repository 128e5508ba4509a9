// CreateTopics, DeleteTopics and CreatePartitions: admin changes that go through the
// metadata authority and are answered once this broker's metadata has them.
#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

using protocol::error_code;

handler_result<protocol::create_topics_response> create_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto& svc = ctx.services;
    response resp;
    std::set<std::string> seen;
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        if (!seen.insert(t.name).second) {
            rt.error_code = code(error_code::invalid_request);
            rt.error_message = "Create topics request contains the topic '" + t.name + "' more than once.";
            continue;
        }
        if (!t.assignments.empty()) {
            rt.error_code = code(error_code::invalid_request);
            rt.error_message = "Manual replica assignment is not supported yet.";
            continue;
        }
        new_topic nt{t.name, t.num_partitions, t.replication_factor, {}};
        for (const auto& c : t.configs) {
            if (c.value) {
                nt.configs[c.name] = *c.value;
            }
        }
        auto r = co_await svc.authority.create_topic(nt, req.validate_only);
        rt.error_code = code(r.code);
        if (!r.message.empty()) {
            rt.error_message = r.message;
        }
        if (r.code == error_code::none) {
            auto snap = svc.metadata.get();
            const auto* ti = snap->topic(t.name);
            rt.num_partitions = ti ? int32_t(ti->partitions.size())
                                   : (t.num_partitions == -1 ? svc.config.num_partitions : t.num_partitions);
            rt.replication_factor = t.replication_factor == -1 ? svc.config.default_replication_factor
                                                               : t.replication_factor;
            if (ti) {
                rt.topic_id = ti->id;
            }
        }
    }
    co_return resp;
}

handler_result<protocol::delete_topics_response> delete_topics_handler::handle(request_context& ctx,
                                                                               request&& req) {
    auto& svc = ctx.services;
    response resp;
    std::vector<std::string> names = req.topic_names;
    for (const auto& t : req.topics) {  // v6+: by name or id
        if (t.name) {
            names.push_back(*t.name);
        } else {
            auto snap = svc.metadata.get();
            for (const auto& [n, ti] : snap->topics) {
                if (ti.id == t.topic_id) {
                    names.push_back(n);
                }
            }
        }
    }
    for (const auto& n : names) {
        auto& r = resp.responses.emplace_back();
        r.name = n;
        auto out = co_await svc.authority.delete_topic(n);
        r.error_code = code(out.code);
        if (!out.message.empty()) {
            r.error_message = out.message;
        }
    }
    co_return resp;
}

handler_result<protocol::create_partitions_response> create_partitions_handler::handle(request_context& ctx,
                                                                                       request&& req) {
    auto& svc = ctx.services;
    response resp;
    for (const auto& t : req.topics) {
        auto& r = resp.results.emplace_back();
        r.name = t.name;
        if (t.assignments && !t.assignments->empty()) {
            r.error_code = code(error_code::invalid_request);
            r.error_message = "Manual replica assignment is not supported yet.";
            continue;
        }
        auto out = co_await svc.authority.create_partitions(t.name, t.count, req.validate_only);
        r.error_code = code(out.code);
        if (!out.message.empty()) {
            r.error_message = out.message;
        }
    }
    co_return resp;
}

} // namespace trib::broker
