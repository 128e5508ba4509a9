#include "broker/handlers/handlers.h"
#include "broker/services.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace trib::broker {

namespace {

// One hosted replica's log as DescribeLogDirs reports it.
struct replica_log {
    topic_partition tp;
    bool hosted = false;
    int64_t size = 0;
    int64_t offset_lag = 0;
};

} // namespace

// This broker has one log directory (the first of log.dirs) holding every replica it hosts.
// Kafka lists, per directory, the replicas asked for (all of them for a null topic list)
// that live there, with the bytes of their segments; partitions this broker does not host
// are left out rather than given an error.
handler_result<protocol::describe_log_dirs_response> describe_log_dirs_handler::handle(request_context& ctx,
                                                                                       request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    int32_t self = svc.self();

    std::set<topic_partition> wanted;
    if (!req.topics) {
        for (const auto& [name, t] : snap->topics) {
            for (const auto& p : t.partitions) {
                if (p.has_replica(self)) {
                    wanted.insert({name, p.id.value()});
                }
            }
        }
    } else {
        for (const auto& t : *req.topics) {
            for (int32_t index : t.partitions) {
                const auto* p = snap->partition(t.topic, index);
                if (p && p->has_replica(self)) {
                    wanted.insert({t.topic, index});
                }
            }
        }
    }

    std::vector<std::vector<replica_log>> by_core(svc.partitions.cores());
    for (const auto& tp : wanted) {
        by_core[svc.partitions.owner(tp)].push_back(replica_log{tp});
    }
    for (size_t core = 0; core < by_core.size(); ++core) {
        auto& logs = by_core[core];
        if (logs.empty()) {
            continue;
        }
        co_await svc.partitions.on_core(core, [&logs](const auto& find) {
            for (auto& l : logs) {
                partition* p = find(l.tp);
                if (!p) {
                    continue;  // assigned, not opened yet
                }
                l.hosted = true;
                l.size = int64_t(p->log().size_bytes());
                l.offset_lag = std::max<int64_t>(0, p->high_watermark().value() - p->log().next_offset().value());
            }
            return true;
        });
    }

    response resp;
    auto& dir = resp.results.emplace_back();
    std::error_code ec;
    auto path = std::filesystem::absolute(svc.config.data_dir, ec);
    dir.log_dir = (ec ? svc.config.data_dir : path).string();
    if (auto space = std::filesystem::space(svc.config.data_dir, ec); !ec) {
        dir.total_bytes = int64_t(space.capacity);
        dir.usable_bytes = int64_t(space.available);
    }
    std::map<std::string, std::vector<const replica_log*>> by_topic;
    for (const auto& logs : by_core) {
        for (const auto& l : logs) {
            if (l.hosted) {
                by_topic[l.tp.topic].push_back(&l);
            }
        }
    }
    for (auto& [name, logs] : by_topic) {
        std::sort(logs.begin(), logs.end(), [](auto* a, auto* b) { return a->tp.partition < b->tp.partition; });
        auto& rt = dir.topics.emplace_back();
        rt.name = name;
        for (const auto* l : logs) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = l->tp.partition;
            rp.partition_size = l->size;
            rp.offset_lag = l->offset_lag;
            rp.is_future_key = false;
        }
    }
    co_return resp;
}

} // namespace trib::broker
