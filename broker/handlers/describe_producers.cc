// DescribeProducers (KIP-664): the idempotent producers a partition's leader knows, with each
// one's epoch, last sequence and the max timestamp of its last batch (what
// `kafka-transactions describe-producers` lists, to find a producer blocking a partition).
// As Kafka: READ on the topic, else TOPIC_AUTHORIZATION_FAILED for each partition named;
// then UNKNOWN_TOPIC_OR_PARTITION, or NOT_LEADER_OR_FOLLOWER where this broker doesn't lead.
// Transactions are not built, so no producer has a coordinator epoch or an open transaction:
// CoordinatorEpoch and CurrentTxnStartOffset are -1, as Kafka gives them for an idempotent
// producer.
#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

using protocol::error_code;

namespace {

struct producers_job : partition_job {
    protocol::describe_producers_response::partition_response* out = nullptr;
};

} // namespace

handler_result<protocol::describe_producers_response> describe_producers_handler::handle(request_context& ctx,
                                                                                         request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    std::vector<producers_job> jobs;
    resp.topics.reserve(req.topics.size());  // jobs point into the response
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        rt.partitions.reserve(t.partition_indexes.size());
        const bool allowed = ctx.authorized_topic(security::acl_operation::read, t.name);
        for (int32_t p : t.partition_indexes) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = p;
            if (auto e = partition_refusal(allowed, *snap, t.name, p); e != error_code::none) {
                rp.error_code = code(e);
                continue;
            }
            auto& job = jobs.emplace_back();
            job.tp = {t.name, p};
            job.out = &rp;
        }
    }
    auto describe = [](partition& p, producers_job& job) {
        for (const auto& a : p.producers().active()) {
            auto& out = job.out->active_producers.emplace_back();
            out.producer_id = a.producer_id;
            out.producer_epoch = a.epoch;
            out.last_sequence = a.last_sequence;
            out.last_timestamp = a.last_timestamp;
            out.coordinator_epoch = -1;
            out.current_txn_start_offset = -1;
        }
    };
    co_await svc.partitions.on_leaders(jobs, describe);
    for (auto& job : jobs) {
        if (job.error != error_code::none) {
            job.out->error_code = code(job.error);
        }
    }
    co_return resp;
}

} // namespace trib::broker
