#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "broker/timestamp_lookup.h"

namespace trib::broker {

using protocol::error_code;

namespace {

constexpr int64_t latest = -1;
constexpr int64_t earliest = -2;
constexpr int64_t max_timestamp = -3;
constexpr int32_t debugging_replica_id = -2;

struct lookup {
    error_code err = error_code::none;
    int64_t offset = -1;
    int64_t timestamp = -1;
};

// MAX_TIMESTAMP is a request of v7 and later (Kafka answers UNSUPPORTED_VERSION before).
constexpr int16_t max_timestamp_version = 7;

// `consumer`: a client's request of v1 and later (replica id -1), which Kafka answers with
// OFFSET_NOT_AVAILABLE while a new leader's high watermark lags behind its epoch's start
// (KIP-207): the end it would give may be lower than the end the previous leader gave, and a
// client that took it would read less than was committed. Clients retry.
//
// `debugging`: replica id -2 (Kafka's DEBUGGING_REPLICA_ID), which any replica answers, not
// only the leader, with its own log end as "latest" (Kafka's answer to a non-consumer): how far
// a replica has copied, e.g. a new replica of a reassignment (tributary-admin reassignments).
lookup find_offset(partition& part, int64_t ts, int16_t version, bool consumer, bool debugging) {
    auto* p = &part;
    auto& log = p->log();
    const int64_t hw = debugging ? log.next_offset().value() : p->high_watermark().value();
    const bool lagging = consumer && p->epoch_start() > p->high_watermark();
    const lookup not_available{error_code::offset_not_available};
    const lookup none_found{error_code::none, -1, -1};
    switch (ts) {
    case latest: return lagging ? not_available : lookup{error_code::none, hw, -1};
    case earliest: return {error_code::none, log.log_start_offset().value(), -1};
    case max_timestamp: {
        if (version < max_timestamp_version) {
            return {error_code::unsupported_version};
        }
        auto m = record_with_max_timestamp(log);
        if (!m) {
            return {error_code::kafka_storage_error};
        }
        if (!*m || (*m)->at.value() >= hw) {
            return lagging ? not_available : none_found;
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
    if (!*r || (*r)->at.value() >= hw) {
        return lagging ? not_available : none_found;  // no record at or after ts
    }
    return {error_code::none, (*r)->at.value(), (*r)->timestamp};
}

struct lookup_job : partition_job {
    int64_t timestamp = 0;
    protocol::list_offsets_response::list_offsets_partition_response* out = nullptr;
    lookup result;
    int32_t epoch = -1;
};

} // namespace

handler_result<protocol::list_offsets_response> list_offsets_handler::handle(request_context& ctx,
                                                                             request&& req) {
    auto& svc = ctx.services;
    auto snap = svc.metadata.get();
    response resp;
    std::vector<lookup_job> jobs;
    resp.topics.reserve(req.topics.size());  // jobs point into the response
    for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.name = t.name;
        rt.partitions.reserve(t.partitions.size());
        const bool allowed = ctx.authorized_topic(security::acl_operation::describe, t.name);  // ACLs, as Kafka
        for (const auto& p : t.partitions) {
            auto& rp = rt.partitions.emplace_back();
            rp.partition_index = p.partition_index;
            if (auto e = partition_refusal(allowed, *snap, t.name, p.partition_index); e != error_code::none) {
                rp.error_code = code(e);
                continue;
            }
            auto& job = jobs.emplace_back();
            job.tp = {t.name, p.partition_index};
            job.client_epoch = p.current_leader_epoch;
            job.timestamp = p.timestamp;
            job.out = &rp;
        }
    }
    const bool consumer = ctx.version() >= 1 && req.replica_id == -1;
    const bool debugging = req.replica_id == debugging_replica_id;
    auto find = [v = ctx.version(), consumer, debugging](partition& part, lookup_job& job) {
        job.result = find_offset(part, job.timestamp, v, consumer, debugging);
        job.epoch = part.epoch().value();
    };
    if (debugging) {
        auto any_replica = [&find](partition* p, lookup_job& job) {
            if (!p) {
                job.error = error_code::not_leader_or_follower;  // not hosted here
                return;
            }
            find(*p, job);
        };
        std::vector<lookup_job*> all;
        for (auto& j : jobs) {
            all.push_back(&j);
        }
        co_await svc.partitions.on_owners(all, any_replica);
    } else {
        co_await svc.partitions.on_leaders(jobs, find);
    }
    for (auto& job : jobs) {
        auto& r = job.result;
        auto& rp = *job.out;
        if (job.error != error_code::none) {
            rp.error_code = code(job.error);
            continue;
        }
        rp.error_code = code(r.err);
        rp.offset = r.offset;
        rp.timestamp = r.timestamp;
        rp.leader_epoch = job.epoch;
        if (ctx.version() == 0 && r.err == error_code::none && r.offset >= 0) {
            rp.old_style_offsets = {r.offset};
        }
    }
    co_return resp;
}

} // namespace trib::broker
