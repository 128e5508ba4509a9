#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"
#include "protocol/records.h"

#include <chrono>

namespace trib::broker {

using protocol::error_code;

namespace {

struct append_outcome {
    error_code err = error_code::none;
    int64_t base_offset = -1;
    int64_t log_append_time = -1;
    int64_t log_start_offset = -1;
};

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

error_code to_kafka(std::error_code ec) {
    if (ec == batch_errc::bad_crc) {
        return error_code::corrupt_message;
    }
    if (ec.category() == record_batch_category() || ec.category() == protocol::records_category()) {
        return error_code::invalid_record;
    }
    return error_code::kafka_storage_error;
}

} // namespace

handler_result<protocol::produce_response> produce_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    bool acks_ok = req.acks == 0 || req.acks == 1 || req.acks == -1;

    for (auto& td : req.topic_data) {
        auto& rt = resp.responses.emplace_back();
        rt.name = td.name;
        const auto* topic = snap->topic(td.name);
        int32_t max_bytes = svc.config.message_max_bytes;
        bool log_append_time = svc.config.message_timestamp_type == "LogAppendTime";
        if (topic) {
            if (auto it = topic->configs.find("max.message.bytes"); it != topic->configs.end()) {
                max_bytes = std::stoi(it->second);
            }
            if (auto it = topic->configs.find("message.timestamp.type"); it != topic->configs.end()) {
                log_append_time = it->second == "LogAppendTime";
            }
        }
        for (auto& pd : td.partition_data) {
            auto& rp = rt.partition_responses.emplace_back();
            rp.index = pd.index;
            auto fail = [&](error_code e, std::string msg = {}) {
                rp.error_code = code(e);
                rp.base_offset = -1;
                if (!msg.empty()) {
                    rp.error_message = std::move(msg);
                }
            };
            if (!acks_ok) {
                fail(error_code::invalid_required_acks);
                continue;
            }
            const auto* p = snap->partition(td.name, pd.index);
            if (!topic || !p) {
                fail(error_code::unknown_topic_or_partition);
                continue;
            }
            if (p->leader.value() != svc.self()) {
                fail(error_code::not_leader_or_follower);
                continue;
            }
            if (!pd.records || pd.records->data.empty()) {
                fail(error_code::invalid_record, "no records");
                continue;
            }
            auto& data = pd.records->data;
            if (data.size() > size_t(max_bytes)) {
                fail(error_code::message_too_large,
                     fmt::format("batch of {} bytes is larger than max.message.bytes {}", data.size(), max_bytes));
                continue;
            }
            // Validated here, on the connection's core, so decompression cost spreads over cores;
            // the owner core only appends.
            protocol::record_limits limits;
            limits.max_batch_bytes = size_t(max_bytes);
            limits.from_producer = true;
            auto summary = protocol::validate_batch(data, limits);
            if (!summary) {
                fail(to_kafka(summary.error()), summary.error().message());
                continue;
            }
            if (summary->header.transactional()) {
                fail(error_code::invalid_record, "transactions are not supported yet");
                continue;
            }
            if (summary->size != data.size()) {
                // v3+ carries exactly one batch per partition.
                fail(error_code::invalid_record, "produce request must carry exactly one record batch");
                continue;
            }
            int64_t append_time = log_append_time ? now_ms() : -1;
            topic_partition tp{td.name, pd.index};
            auto out = co_await svc.partitions.on_partition(
                tp,
                [&data, append_time, epoch = p->epoch.value()](partition* part) -> append_outcome {
                    if (!part) {
                        return {error_code::not_leader_or_follower};
                    }
                    auto h = decode_batch_header(data.data());
                    if (h.has_producer()) {
                        auto c = part->producers().check(h);
                        switch (c.v) {
                        case producer_state::verdict::append: break;
                        case producer_state::verdict::duplicate:
                            return {error_code::none, c.duplicate_of, -1, part->log().log_start_offset().value()};
                        case producer_state::verdict::out_of_order:
                            return {error_code::out_of_order_sequence_number};
                        case producer_state::verdict::fenced: return {error_code::invalid_producer_epoch};
                        case producer_state::verdict::unknown_producer: return {error_code::unknown_producer_id};
                        }
                    }
                    if (append_time >= 0) {
                        set_log_append_time(data.data(), data.size(), append_time);
                    }
                    auto r = part->log().append(std::span<uint8_t>(data), epoch);
                    if (!r) {
                        TLOG_WARN("append to {}-{} failed: {}", part->tp().topic, part->tp().partition,
                                  r.error().message());
                        return {error_code::kafka_storage_error};
                    }
                    if (h.has_producer()) {
                        h.base_offset = r->base.value();
                        part->producers().record(h);
                    }
                    part->notify_waiters();
                    return {error_code::none, r->base.value(), append_time,
                            part->log().log_start_offset().value()};
                });
            if (out.err == error_code::none) {
                svc.metrics.bytes_in(td.name, data.size());
            }
            rp.error_code = code(out.err);
            rp.base_offset = out.base_offset;
            rp.log_append_time_ms = out.log_append_time;
            rp.log_start_offset = out.log_start_offset;
        }
    }
    if (req.acks == 0) {
        co_return std::nullopt;
    }
    co_return resp;
}

} // namespace trib::broker
