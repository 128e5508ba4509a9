#include "broker/handlers/handlers.h"
#include "broker/services.h"

#include <map>

namespace trib::broker {

// Moves replicas this broker holds to other directories of its log.dirs
// (partition_manager::move_replica): each partition is answered as soon as its move has
// started; the copy goes on in the background, and DescribeLogDirs shows it (IsFutureKey)
// until the swap. A path that is not one of log.dirs is LOG_DIR_NOT_FOUND; a replica not
// hosted here REPLICA_NOT_AVAILABLE (the directory is remembered for when it comes, as Kafka
// does: kafka-reassign-partitions asks again until the replica is there).
handler_result<protocol::alter_replica_log_dirs_response>
alter_replica_log_dirs_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    std::map<std::string, std::vector<std::pair<int32_t, protocol::error_code>>> answers;
    const bool allowed = ctx.authorized_cluster(security::acl_operation::alter);  // ACLs, as Kafka
    for (const auto& dir : req.dirs) {
        auto to = svc.partitions.find_log_dir(dir.path);
        for (const auto& t : dir.topics) {
            auto& out = answers[t.name];
            for (int32_t index : t.partitions) {
                auto err = allowed ? protocol::error_code::log_dir_not_found
                                   : protocol::error_code::cluster_authorization_failed;
                if (to && allowed) {
                    topic_partition tp{t.name, index};
                    size_t where = *to;
                    err = co_await svc.partitions.move_replica(tp, where);
                }
                out.emplace_back(index, err);
            }
        }
    }
    response resp;
    for (auto& [name, parts] : answers) {
        auto& rt = resp.results.emplace_back();
        rt.topic_name = name;
        for (const auto& [index, err] : parts) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = index;
            rp.error_code = code(err);
        }
    }
    co_return resp;
}

} // namespace trib::broker
