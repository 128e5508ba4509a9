#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"

namespace trib::broker {

using protocol::error_code;

namespace {
struct deletion {
    error_code err = error_code::none;
    int64_t low_watermark = -1;
};

// Moves the log start offset up to `to` (-1: the high watermark); whole segments below it go.
deletion delete_before(partition& part, int64_t to) {
    auto* p = &part;
    auto& log = p->log();
    int64_t hw = p->high_watermark().value();
    if (to == -1) {
        to = hw;
    }
    if (to < 0 || to > hw) {
        return {error_code::offset_out_of_range, log.log_start_offset().value()};
    }
    if (to > log.log_start_offset().value()) {
        auto r = log.advance_log_start_offset(offset(to));
        if (!r) {
            TLOG_WARN("DeleteRecords on {}-{}: {}", p->tp().topic, p->tp().partition, r.error().message());
            return {error_code::kafka_storage_error};
        }
        p->changed();
        if (auto kept = p->producers().retain(log); !kept) {  // snapshots below the new start go
            TLOG_WARN("producer snapshots of {}-{}: {}", p->tp().topic, p->tp().partition, kept.error().message());
        }
    }
    return {error_code::none, log.log_start_offset().value()};
}
struct delete_job : partition_job {
    int64_t to = 0;
    protocol::delete_records_response::delete_records_partition_result* out = nullptr;
    deletion result;
};

} // namespace

handler_result<protocol::delete_records_response> delete_records_handler::handle(request_context& ctx,
                                                                                 request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    std::vector<delete_job> jobs;
    resp.topics.reserve(req.topics.size());  // jobs point into the response
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        rt.partitions.reserve(t.partitions.size());
        const bool allowed = ctx.authorized_topic(security::acl_operation::remove, t.name);  // ACLs, as Kafka
        for (const auto& p : t.partitions) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = p.partition_index;
            if (auto e = partition_refusal(allowed, *snap, t.name, p.partition_index); e != error_code::none) {
                rp.error_code = code(e);
                continue;
            }
            auto& job = jobs.emplace_back();
            job.tp = {t.name, p.partition_index};
            job.to = p.offset;
            job.out = &rp;
        }
    }
    auto del = [](partition& part, delete_job& job) { job.result = delete_before(part, job.to); };
    co_await svc.partitions.on_leaders(jobs, del);
    for (auto& job : jobs) {
        job.out->error_code = code(job.error != error_code::none ? job.error : job.result.err);
        job.out->low_watermark = job.error != error_code::none ? -1 : job.result.low_watermark;
    }
    co_return resp;
}

} // namespace trib::broker
