// OffsetForLeaderEpoch (KIP-101, KIP-320): where a leader epoch ends in the leader's log. A
// follower asks after a leader change to find where its log parts from the leader's and cuts
// the tail there; a consumer asks to check that its position is still in the leader's history
// after an unclean election. Answered by the partition's leader from its leader-epoch cache.
#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

using protocol::error_code;

namespace {

struct epoch_job : partition_job {
    int32_t requested = -1;
    protocol::offset_for_leader_epoch_response::epoch_end_offset* out = nullptr;
};

} // namespace

handler_result<protocol::offset_for_leader_epoch_response> offset_for_leader_epoch_handler::handle(
    request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    std::vector<epoch_job> jobs;
    resp.topics.reserve(req.topics.size());  // jobs point into the response
    // ACLs, as Kafka: a follower (replica id >= 0) needs CLUSTER_ACTION, a client DESCRIBE on the topic.
    const bool follower = ctx.version() >= 3 && req.replica_id >= 0;
    const bool follower_ok = follower && ctx.authorized_cluster(security::acl_operation::cluster_action);
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.topic = t.topic;
        rt.partitions.reserve(t.partitions.size());
        const bool allowed = follower ? follower_ok : ctx.authorized_topic(security::acl_operation::describe, t.topic);
        for (const auto& p : t.partitions) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition = p.partition;
            if (auto e = partition_refusal(allowed, *snap, t.topic, p.partition); e != error_code::none) {
                rp.error_code = code(e);
                continue;
            }
            auto& job = jobs.emplace_back();
            job.tp = {t.topic, p.partition};
            job.client_epoch = p.current_leader_epoch;
            job.requested = p.leader_epoch;
            job.out = &rp;
        }
    }
    auto look_up = [](partition& p, epoch_job& job) {
        auto [epoch, end] = p.log().epochs().end_offset_for(leader_epoch(job.requested), p.log_end());
        job.out->leader_epoch = epoch.value();
        job.out->end_offset = end.value();
    };
    co_await svc.partitions.on_leaders(jobs, look_up);
    for (auto& job : jobs) {
        if (job.error != error_code::none) {
            job.out->error_code = code(job.error);
            job.out->leader_epoch = -1;
            job.out->end_offset = -1;
        }
    }
    co_return resp;
}

} // namespace trib::broker
