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
deletion delete_before(partition* p, int64_t to) {
    if (!p) {
        return {error_code::not_leader_or_follower};
    }
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
    }
    return {error_code::none, log.log_start_offset().value()};
}
} // namespace

handler_result<protocol::delete_records_response> delete_records_handler::handle(request_context& ctx,
                                                                                 request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        for (const auto& p : t.partitions) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = p.partition_index;
            if (auto e = leadership(*snap, svc.self(), t.name, p.partition_index); e != error_code::none) {
                rp.error_code = code(e);
                continue;
            }
            topic_partition tp{t.name, p.partition_index};
            auto d = co_await svc.partitions.on_partition(tp, [to = p.offset](partition* part) {
                return delete_before(part, to);
            });
            rp.error_code = code(d.err);
            rp.low_watermark = d.low_watermark;
        }
    }
    co_return resp;
}

} // namespace trib::broker
