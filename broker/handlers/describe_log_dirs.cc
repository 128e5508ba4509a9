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
    size_t dir = 0;  // index into log.dirs
    int64_t size = 0;
    int64_t offset_lag = 0;
    bool future = false;  // the copy a move (AlterReplicaLogDirs) is making in another directory
};

} // namespace

// Every directory of log.dirs, as Kafka lists them: per directory the replicas asked for (all
// of them for a null topic list) whose log lives there, with the bytes of their segments and
// their offset lag (high watermark - log end for a replica in use, the replica's log end -
// the copy's for the future copy of a move), and the directory's filesystem's total and
// usable bytes (v4). A directory that is missing or not writable has KAFKA_STORAGE_ERROR and
// no replicas. Partitions this broker does not host are left out rather than given an error.
handler_result<protocol::describe_log_dirs_response> describe_log_dirs_handler::handle(request_context& ctx,
                                                                                       request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    int32_t self = svc.self();
    if (!ctx.authorized_cluster(security::acl_operation::describe)) {
        // ACLs, as Kafka: the error from v3, no directory before.
        response resp;
        resp.error_code = code(protocol::error_code::cluster_authorization_failed);
        co_return resp;
    }

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
    std::vector<replica_log> futures;
    for (size_t core = 0; core < by_core.size(); ++core) {
        auto& logs = by_core[core];
        if (logs.empty()) {
            continue;
        }
        co_await svc.partitions.on_core(core, [&logs, &futures, &svc](const auto& find) {
            for (auto& l : logs) {
                partition* p = find(l.tp);
                auto d = svc.partitions.dir_index_of(l.tp);
                if (!p || !d) {
                    continue;  // assigned, not opened yet
                }
                l.hosted = true;
                l.dir = *d;
                l.size = int64_t(p->log().size_bytes());
                l.offset_lag = std::max<int64_t>(0, p->high_watermark().value() - p->log().next_offset().value());
                if (auto f = svc.partitions.future_of(l.tp)) {
                    futures.push_back(replica_log{l.tp, true, f->dir, f->size,
                                                  std::max<int64_t>(0, p->log().next_offset().value() - f->next_offset),
                                                  true});
                }
            }
            return true;
        });
    }

    response resp;
    const auto& dirs = svc.partitions.log_dirs();
    for (size_t d = 0; d < dirs.size(); ++d) {
        auto& dir = resp.results.emplace_back();
        std::error_code ec;
        auto path = std::filesystem::absolute(dirs[d], ec);
        dir.log_dir = (ec ? dirs[d] : path).string();
        if (!svc.partitions.dir_usable(d)) {
            dir.error_code = code(protocol::error_code::kafka_storage_error);
            continue;
        }
        if (auto space = std::filesystem::space(dirs[d], ec); !ec) {
            dir.total_bytes = int64_t(space.capacity);
            dir.usable_bytes = int64_t(space.available);
        }
        std::map<std::string, std::vector<const replica_log*>> by_topic;
        auto add = [&](const replica_log& l) {
            if (l.hosted && l.dir == d) {
                by_topic[l.tp.topic].push_back(&l);
            }
        };
        for (const auto& logs : by_core) {
            std::for_each(logs.begin(), logs.end(), add);
        }
        std::for_each(futures.begin(), futures.end(), add);
        for (auto& [name, logs] : by_topic) {
            std::sort(logs.begin(), logs.end(), [](auto* a, auto* b) { return a->tp.partition < b->tp.partition; });
            auto& rt = dir.topics.emplace_back();
            rt.name = name;
            for (const auto* l : logs) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = l->tp.partition;
                rp.partition_size = l->size;
                rp.offset_lag = l->offset_lag;
                rp.is_future_key = l->future;
            }
        }
    }
    co_return resp;
}

} // namespace trib::broker
