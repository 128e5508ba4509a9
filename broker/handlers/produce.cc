#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/config.h"
#include "common/log.h"
#include "protocol/records.h"

#include <algorithm>
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

// One partition's batch, validated and waiting to be appended on its owner core.
struct append_job {
    topic_partition tp;
    bytes* data;
    int64_t append_time;
    int32_t leader_epoch;
    protocol::produce_response::partition_produce_response* out;
    append_outcome result;
};

// On the owner core: the idempotence check, the append, and waking fetches.
append_outcome append_one(partition* part, append_job& job) {
    if (!part) {
        return {error_code::not_leader_or_follower};
    }
    auto& data = *job.data;
    auto h = decode_batch_header(data.data());
    if (h.has_producer()) {
        auto c = part->producers().check(h);
        switch (c.v) {
        case producer_state::verdict::append: break;
        case producer_state::verdict::duplicate:
            return {error_code::none, c.duplicate_of, -1, part->log().log_start_offset().value()};
        case producer_state::verdict::out_of_order: return {error_code::out_of_order_sequence_number};
        case producer_state::verdict::fenced: return {error_code::invalid_producer_epoch};
        case producer_state::verdict::unknown_producer: return {error_code::unknown_producer_id};
        }
    }
    if (job.append_time >= 0) {
        set_log_append_time(data.data(), data.size(), job.append_time);
    }
    // validate_batch verified the CRC on the connection's core (set_log_append_time keeps it
    // right), so the log need not compute it again.
    auto r = part->log().append(std::span<uint8_t>(data), job.leader_epoch, /*crc_verified=*/true);
    if (!r) {
        TLOG_WARN("append to {}-{} failed: {}", job.tp.topic, job.tp.partition, r.error().message());
        return {error_code::kafka_storage_error};
    }
    if (h.has_producer()) {
        h.base_offset = r->base.value();
        part->producers().record(h);
    }
    part->notify_waiters();
    return {error_code::none, r->base.value(), job.append_time, part->log().log_start_offset().value()};
}

} // namespace

// Every batch is validated on the connection's core (decompression cost spreads over the
// cores), then each owner core appends all of its partitions' batches in one hop.
handler_result<protocol::produce_response> produce_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    bool acks_ok = req.acks == 0 || req.acks == 1 || req.acks == -1;
    std::vector<std::vector<append_job>> by_core(svc.partitions.cores());

    resp.responses.reserve(req.topic_data.size());  // jobs point into the responses
    for (auto& td : req.topic_data) {
        auto& rt = resp.responses.emplace_back();
        rt.name = td.name;
        rt.partition_responses.reserve(td.partition_data.size());
        const auto* topic = snap->topic(td.name);
        int32_t max_bytes = svc.config.message_max_bytes;
        bool log_append_time = svc.config.message_timestamp_type == "LogAppendTime";
        bool compacted = false;  // cleanup.policy has compact: every record needs a key
        if (topic) {
            auto in_force = topic_configs_in_force(*snap, svc.self(), *topic);
            auto policy = in_force.find("cleanup.policy");
            auto policies = config::split_list(policy != in_force.end() ? policy->second
                                                                         : svc.config.raw.get_string("log.cleanup.policy"));
            compacted = std::find(policies.begin(), policies.end(), "compact") != policies.end();
            if (auto it = in_force.find("max.message.bytes"); it != in_force.end()) {
                max_bytes = std::stoi(it->second);
            }
            if (auto it = in_force.find("message.timestamp.type"); it != in_force.end()) {
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
            if (auto e = leadership(*snap, svc.self(), td.name, pd.index); e != error_code::none) {
                fail(e);
                continue;
            }
            const auto* p = snap->partition(td.name, pd.index);
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
            if (compacted && summary->has_null_key) {
                fail(error_code::invalid_record, "a compacted topic takes no record without a key");
                continue;
            }
            topic_partition tp{td.name, pd.index};
            size_t core = svc.partitions.owner(tp);
            by_core[core].push_back(append_job{std::move(tp), &data, log_append_time ? now_ms() : -1,
                                               p->epoch.value(), &rp, {}});
        }
    }

    for (size_t core = 0; core < by_core.size(); ++core) {
        auto& jobs = by_core[core];
        if (jobs.empty()) {
            continue;
        }
        co_await svc.partitions.on_core(core, [&jobs](const auto& find) {
            for (auto& job : jobs) {
                job.result = append_one(find(job.tp), job);
            }
            return true;
        });
        for (auto& job : jobs) {
            auto& out = job.result;
            if (out.err == error_code::none) {
                svc.metrics.bytes_in(job.tp.topic, job.data->size());
            }
            job.out->error_code = code(out.err);
            job.out->base_offset = out.base_offset;
            job.out->log_append_time_ms = out.log_append_time;
            job.out->log_start_offset = out.log_start_offset;
        }
    }
    if (req.acks == 0) {
        for (const auto& t : resp.responses) {
            for (const auto& p : t.partition_responses) {
                if (p.error_code != 0 && !ctx.close_reason) {
                    ctx.close_reason = fmt::format("acks=0 produce to {}-{} failed with error {}", t.name, p.index,
                                                   p.error_code);
                }
            }
        }
        co_return std::nullopt;
    }
    co_return resp;
}

} // namespace trib::broker
