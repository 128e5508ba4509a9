#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/config.h"
#include "common/log.h"
#include "protocol/records.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include <boost/asio/this_coro.hpp>

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

// acks=all: what the owner cores saw when each waiting batch was committed, written there by
// the commit watch just before it wakes the request, read on the request's core after the
// wake-up. A wake-up whose batches are all marked needs no hop back to the owner cores to
// look again: on a loaded machine each hop waits for that core's thread to be scheduled,
// and this one sat on every acks=all produce's path. Shared with the watches, which may
// fire after the request has gone (timed out).
struct commit_marks {
    enum mark : uint8_t {
        unseen = 0,     // not seen committed: the request's core asks the owner core
        committed = 1,  // the high watermark passed the batch while leader at its epoch
        committed_short = 2,  // the same, with fewer in-sync replicas than min.insync.replicas
    };
    explicit commit_marks(size_t jobs) : marks(jobs) {}
    std::vector<std::atomic<uint8_t>> marks;
};

// One partition's batch, validated and waiting to be appended on its owner core.
struct append_job : partition_job {
    bytes* data = nullptr;
    int64_t append_time = -1;
    protocol::produce_response::partition_produce_response* out = nullptr;
    append_outcome result;
    offset committed_at{0};  // the high watermark that commits the batch
    // acks=all: woken when the batch is committed; the job waits while `waiting`.
    const std::shared_ptr<waiter>* commit_waiter = nullptr;
    const std::shared_ptr<commit_marks>* marks = nullptr;  // with commit_waiter
    size_t index = 0;                                      // this job's mark
    bool waiting = false;
};

// acks=all, on the owner core: committed yet, or watch for it. Committed with fewer in-sync
// replicas than min.insync.replicas (the ISR shrank meanwhile) is
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, as Kafka answers: the records are there, but not as
// safely as asked.
void watch_commit(partition& p, append_job& job) {
    job.waiting = p.high_watermark() < job.committed_at;
    if (job.waiting) {
        auto committed = [&p, at = job.committed_at, epoch = job.client_epoch, marks = *job.marks, i = job.index] {
            if (p.high_watermark() < at) {
                return false;
            }
            // What the request's re-check on this core would conclude (wait_for_commit); a
            // wake-up from a leadership change leaves the mark unset, and the request looks.
            if (p.check_leader(epoch) == error_code::none) {
                marks->marks[i].store(p.enough_replicas() ? commit_marks::committed : commit_marks::committed_short,
                                      std::memory_order_release);
            }
            return true;
        };
        p.produce_watches().add(*job.commit_waiter, std::move(committed));
    } else if (!p.enough_replicas()) {
        job.result.err = error_code::not_enough_replicas_after_append;
    }
}

// On the owner core, as leader: the idempotence check, the append, and waking fetches.
append_outcome append_one(partition& part, append_job& job) {
    if (job.commit_waiter && !part.enough_replicas()) {
        return {error_code::not_enough_replicas};  // acks=all below min.insync.replicas: nothing appended
    }
    auto& data = *job.data;
    auto h = decode_batch_header(data.data());
    if (h.has_producer()) {
        auto c = part.producers().check(h);
        switch (c.v) {
        case producer_state::verdict::append: break;
        case producer_state::verdict::duplicate:
            // Already appended: acks=all waits until it is committed like the original.
            job.committed_at = offset(c.duplicate_of + h.last_offset_delta + 1);
            job.client_epoch = part.epoch().value();
            job.result = {error_code::none, c.duplicate_of, -1, part.log().log_start_offset().value()};
            if (job.commit_waiter) {
                watch_commit(part, job);
            }
            return job.result;
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
    auto r = part.log().append(std::span<uint8_t>(data), part.epoch().value(), /*crc_verified=*/true);
    if (!r) {
        TLOG_WARN("append to {}-{} failed: {}", job.tp.topic, job.tp.partition, r.error().message());
        return {error_code::kafka_storage_error};
    }
    if (h.has_producer()) {
        h.base_offset = r->base.value();
        if (job.append_time >= 0) {
            h.max_timestamp = job.append_time;  // as set_log_append_time wrote it: the producer's last timestamp
        }
        part.producers().record(h);
    }
    job.committed_at = r->last + 1;
    job.client_epoch = part.epoch().value();  // acks=all waits at this epoch
    part.appended();
    job.result = {error_code::none, r->base.value(), job.append_time, part.log().log_start_offset().value()};
    if (job.commit_waiter) {
        watch_commit(part, job);
    }
    return job.result;
}

// acks=all: until the high watermark passes every appended batch (the ISR has it), or the
// request's timeout (REQUEST_TIMED_OUT, the records stay and may still be committed), or the
// partition's leadership changed (NOT_LEADER_OR_FOLLOWER: the client retries at the new
// leader; an idempotent producer's retry is recognised there once the batch was copied).
asio::awaitable<void> wait_for_commit(broker_services& svc, std::vector<append_job>& jobs, waiter& w,
                                      const commit_marks& marks, std::chrono::milliseconds timeout) {
    auto deadline = waiter::clock::now() + timeout;
    // The leader check (at the epoch the batch was appended in) fails the job when the
    // leadership moved.
    auto check = [](partition& p, append_job& job) { watch_commit(p, job); };
    for (;;) {
        std::vector<append_job*> open;
        for (auto& job : jobs) {
            if (job.waiting && job.result.err == error_code::none) {
                open.push_back(&job);
            }
        }
        if (open.empty()) {
            co_return;
        }
        bool woken = false;
        {
            auto counted = svc.metrics.produce_waiting();
            woken = co_await w.wait_until(deadline);
        }
        // Batches the owner cores saw committed are done without asking them again.
        std::erase_if(open, [&marks](append_job* job) {
            switch (marks.marks[job->index].load(std::memory_order_acquire)) {
            case commit_marks::committed: job->waiting = false; return true;
            case commit_marks::committed_short:
                job->waiting = false;
                job->result.err = error_code::not_enough_replicas_after_append;
                return true;
            default: return false;
            }
        });
        if (open.empty()) {
            continue;
        }
        if (!woken) {
            for (auto* job : open) {
                job->result = {error_code::request_timed_out};
            }
            co_return;
        }
        co_await svc.partitions.on_leaders(open, check);
        for (auto* job : open) {
            if (job->error != error_code::none) {
                job->result = {error_code::not_leader_or_follower};
            }
        }
    }
}

// Whether any batch of the request is transactional (magic 2, attributes bit 4), as Kafka
// decides whether the transactional id must be authorized. Only the batch headers are read
// (each batch's length leads to the next); the batches are validated later, per partition.
bool has_transactional_batch(const protocol::produce_request& req) {
    constexpr size_t length_at = 8, magic_at = 16, attributes_at = 21, length_end = 12;
    constexpr uint8_t transactional_bit = 0x10;
    for (const auto& td : req.topic_data) {
        for (const auto& pd : td.partition_data) {
            if (!pd.records) {
                continue;
            }
            const auto& d = pd.records->data;
            auto byte = [&](size_t i) { return static_cast<uint8_t>(d[i]); };
            for (size_t pos = 0; pos + attributes_at + 2 <= d.size();) {
                if (byte(pos + magic_at) == 2 && (byte(pos + attributes_at + 1) & transactional_bit)) {
                    return true;
                }
                uint32_t length = uint32_t(byte(pos + length_at)) << 24 | uint32_t(byte(pos + length_at + 1)) << 16 |
                                  uint32_t(byte(pos + length_at + 2)) << 8 | uint32_t(byte(pos + length_at + 3));
                if (length > d.size()) {  // also a negative length: no further header to read
                    break;
                }
                pos += length_end + length;
            }
        }
    }
    return false;
}

} // namespace

// Every batch is validated on the connection's core (decompression cost spreads over the
// cores), then each owner core appends all of its partitions' batches in one hop.
handler_result<protocol::produce_response> produce_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    bool acks_ok = req.acks == 0 || req.acks == 1 || req.acks == -1;
    std::vector<append_job> jobs;
    std::shared_ptr<waiter> commit_waiter;
    if (req.acks == -1) {
        commit_waiter = std::make_shared<waiter>(co_await asio::this_coro::executor);
    }

    // ACLs, as Kafka: WRITE on the transactional id (the whole request) when it carries a
    // transactional batch, WRITE on each topic (before its existence is told).
    const bool transaction_ok =
        !has_transactional_batch(req) ||
        (req.transactional_id && ctx.authorized(security::acl_operation::write,
                                                security::acl_resource::transactional_id, *req.transactional_id));
    resp.responses.reserve(req.topic_data.size());  // jobs point into the responses
    for (auto& td : req.topic_data) {
        auto& rt = resp.responses.emplace_back();
        rt.name = td.name;
        rt.partition_responses.reserve(td.partition_data.size());
        const bool topic_ok = transaction_ok && ctx.authorized_topic(security::acl_operation::write, td.name);
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
            if (!topic_ok) {
                fail(transaction_ok ? error_code::topic_authorization_failed
                                    : error_code::transactional_id_authorization_failed);
                continue;
            }
            if (!acks_ok) {
                fail(error_code::invalid_required_acks);
                continue;
            }
            if (!snap->partition(td.name, pd.index)) {
                fail(error_code::unknown_topic_or_partition);
                continue;
            }
            if (topic->internal && ctx.header.client_id != "__admin_client") {
                // As Kafka: only the brokers write __consumer_offsets (and Kafka's admin tools,
                // which name themselves "__admin_client").
                fail(error_code::invalid_topic_exception, "Cannot append to internal topic " + td.name);
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
            auto& job = jobs.emplace_back();
            job.tp = {td.name, pd.index};
            job.data = &data;
            job.append_time = log_append_time ? now_ms() : -1;
            job.out = &rp;
            job.commit_waiter = commit_waiter ? &commit_waiter : nullptr;
        }
    }

    std::shared_ptr<commit_marks> marks;
    if (commit_waiter) {
        marks = std::make_shared<commit_marks>(jobs.size());
        for (size_t i = 0; i < jobs.size(); ++i) {
            jobs[i].marks = &marks;
            jobs[i].index = i;
        }
    }
    auto append = [](partition& p, append_job& job) { job.result = append_one(p, job); };
    co_await svc.partitions.on_leaders(jobs, append);
    for (auto& job : jobs) {
        if (job.error != error_code::none) {
            job.result = {job.error};
        } else if (job.result.err == error_code::none) {
            svc.metrics.bytes_in(job.tp.topic, job.data->size());
        }
    }
    if (commit_waiter) {
        co_await wait_for_commit(svc, jobs, *commit_waiter, *marks, std::chrono::milliseconds(std::max(req.timeout_ms, 0)));
    }
    for (auto& job : jobs) {
        auto& out = job.result;
        job.out->error_code = code(out.err);
        job.out->base_offset = out.err == error_code::none ? out.base_offset : -1;
        job.out->log_append_time_ms = out.log_append_time;
        job.out->log_start_offset = out.log_start_offset;
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
