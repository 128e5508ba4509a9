#include "broker/handlers/handlers.h"
#include "broker/services.h"

namespace trib::broker {

using protocol::error_code;

namespace {

constexpr int64_t latest = -1;
constexpr int64_t earliest = -2;
constexpr int64_t max_timestamp = -3;

struct lookup {
    error_code err = error_code::none;
    int64_t offset = -1;
    int64_t timestamp = -1;
};

lookup find_offset(partition* p, int64_t ts) {
    if (!p) {
        return {error_code::not_leader_or_follower};
    }
    auto& log = p->log();
    switch (ts) {
    case latest: return {error_code::none, p->high_watermark().value(), -1};
    case earliest: return {error_code::none, log.log_start_offset().value(), -1};
    case max_timestamp: {
        auto m = log.max_timestamp();
        if (!m) {
            return {error_code::none, -1, -1};
        }
        return {error_code::none, m->first.value(), m->second.value()};
    }
    default: break;
    }
    if (ts < 0) {
        return {error_code::invalid_request};
    }
    auto r = log.offset_for_timestamp(timestamp_ms(ts));
    if (!r) {
        return {error_code::kafka_storage_error};
    }
    if (!*r || (*r)->value() >= p->high_watermark().value()) {
        return {error_code::none, -1, -1};  // no record at or after ts
    }
    return {error_code::none, (*r)->value(), ts};
}

} // namespace

handler_result<protocol::list_offsets_response> list_offsets_handler::handle(request_context& ctx,
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
            const auto* pi = snap->partition(t.name, p.partition_index);
            topic_partition tp{t.name, p.partition_index};
            auto r = co_await svc.partitions.on_partition(
                tp,
                [ts = p.timestamp](partition* part) { return find_offset(part, ts); });
            rp.error_code = code(r.err);
            rp.offset = r.offset;
            rp.timestamp = r.timestamp;
            rp.leader_epoch = pi->epoch.value();
            if (ctx.version() == 0 && r.err == error_code::none && r.offset >= 0) {
                rp.old_style_offsets = {r.offset};
            }
        }
    }
    co_return resp;
}

} // namespace trib::broker
