#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "broker/timestamp_lookup.h"

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

// MAX_TIMESTAMP is a request of v7 and later (Kafka answers UNSUPPORTED_VERSION before).
constexpr int16_t max_timestamp_version = 7;

lookup find_offset(partition* p, int64_t ts, int16_t version) {
    if (!p) {
        return {error_code::not_leader_or_follower};
    }
    auto& log = p->log();
    switch (ts) {
    case latest: return {error_code::none, p->high_watermark().value(), -1};
    case earliest: return {error_code::none, log.log_start_offset().value(), -1};
    case max_timestamp: {
        if (version < max_timestamp_version) {
            return {error_code::unsupported_version};
        }
        auto m = record_with_max_timestamp(log);
        if (!m) {
            return {error_code::kafka_storage_error};
        }
        if (!*m) {
            return {error_code::none, -1, -1};
        }
        return {error_code::none, (*m)->at.value(), (*m)->timestamp};
    }
    default: break;
    }
    if (ts < 0) {
        // Kafka's other special timestamps (-4 earliest local, -5 latest tiered, ...) need
        // versions above those served here; Kafka answers an unknown one so too.
        return {error_code::unsupported_version};
    }
    // The first record whose timestamp is >= ts, looked for inside its batch, with its own
    // timestamp (as Kafka answers).
    auto r = first_record_at_or_after(log, ts);
    if (!r) {
        return {error_code::kafka_storage_error};
    }
    if (!*r || (*r)->at.value() >= p->high_watermark().value()) {
        return {error_code::none, -1, -1};  // no record at or after ts
    }
    return {error_code::none, (*r)->at.value(), (*r)->timestamp};
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
                [ts = p.timestamp, v = ctx.version()](partition* part) { return find_offset(part, ts, v); });
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
