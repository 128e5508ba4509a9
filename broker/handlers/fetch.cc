#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace trib::broker {

using protocol::error_code;

namespace {

struct partition_read {
    error_code err = error_code::none;
    int64_t high_watermark = -1;
    int64_t log_start_offset = -1;
    protocol::record_set records;
    size_t bytes = 0;
    // The fetcher's log parts from this one's (v12+ LastFetchedEpoch): where to truncate to.
    std::optional<std::pair<leader_epoch, offset>> diverging;
};

struct read_job : partition_job {
    int64_t fetch_offset = 0;
    int32_t last_fetched_epoch = -1;
    int32_t partition_max_bytes = 0;
    protocol::fetch_response::partition_data* out = nullptr;
    partition_read result;
};

// Who is fetching: a consumer reads below the high watermark, a follower (a broker's
// replica id) up to the log end, and its fetch offset tells the leader how far it has copied.
struct fetcher {
    int32_t replica_id = -1;
    int64_t now_ms = 0;
    bool is_follower() const noexcept { return replica_id >= 0; }
};

// Reads one partition on its owner core, as leader. When there is nothing to read yet and
// `w` is set, watches for data past the fetch offset.
partition_read read_partition(partition& p, const read_job& job, size_t max_bytes, const fetcher& who,
                              const std::shared_ptr<waiter>* w) {
    partition_read out;
    auto& log = p.log();
    offset at(job.fetch_offset);
    if (who.is_follower() && !p.follower_fetched(node_id(who.replica_id), at, who.now_ms)) {
        TLOG_WARN("{}-{}: broker {} fetched as a follower but holds no replica here", job.tp.topic, job.tp.partition,
                  who.replica_id);
        out.err = error_code::not_leader_or_follower;
        return out;
    }
    offset hw = p.high_watermark();
    offset end = who.is_follower() ? p.log_end() : hw;  // what this fetcher may read up to
    out.high_watermark = hw.value();
    out.log_start_offset = log.log_start_offset().value();
    // Out of range is past the log end, for consumers too: between the high watermark and the
    // log end (a new leader's high watermark still catching up) a consumer gets nothing yet,
    // not an error that would make it reset its position (as Kafka answers).
    if (at < log.log_start_offset() || at > p.log_end()) {
        out.err = error_code::offset_out_of_range;
        return out;
    }
    if (job.last_fetched_epoch >= 0) {
        // The fetcher's last batch was written in that epoch: if this log's history of it
        // ends earlier, or under another epoch, its log has parted from this one there.
        auto [e, e_end] = log.epochs().end_offset_for(leader_epoch(job.last_fetched_epoch), log.next_offset());
        if (e.value() != job.last_fetched_epoch || e_end < at) {
            out.diverging = {e, e_end};
            return out;
        }
    }
    log.note_reader(at);
    if (at < end && max_bytes > 0) {
        auto r = log.read(at, max_bytes, end);
        if (!r) {
            out.err = r.error() == storage::errc::offset_out_of_range ? error_code::offset_out_of_range
                                                                      : error_code::kafka_storage_error;
            return out;
        }
        for (auto& s : r->slices) {
            out.records.slices.push_back(protocol::file_slice{s.fd, s.pos, s.len, s.owner});
            out.bytes += s.len;
        }
    }
    if (out.bytes == 0 && w) {
        if (who.is_follower()) {
            p.fetch_watches().add(*w, [&p, at] { return p.log_end() > at; });
        } else {
            p.fetch_watches().add(*w, [&p, at] { return p.high_watermark() > at; });
        }
    }
    return out;
}

} // namespace

handler_result<protocol::fetch_response> fetch_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto deadline = waiter::clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
    // Appends on the partitions' cores wake it when data past a fetch offset arrives.
    auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
    size_t response_max = req.max_bytes > 0 ? size_t(req.max_bytes) : SIZE_MAX;
    for (;;) {
        auto snap = svc.metadata.get();
        response resp;
        resp.session_id = 0;  // no incremental fetch session: clients send full requests
        bool may_wait = waiter::clock::now() < deadline;
        bool any_error = false;  // an error answers at once, without waiting
        std::vector<read_job> jobs;
        resp.responses.reserve(req.topics.size());  // jobs point into the response
        for (const auto& ft : req.topics) {
            auto& rt = resp.responses.emplace_back();
            rt.topic = ft.topic;
            rt.partitions.reserve(ft.partitions.size());
            for (const auto& fp : ft.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = fp.partition;
                rp.records = protocol::record_set{};
                if (req.isolation_level == 0) {
                    // as Kafka: null when reading uncommitted, and beside an error
                    rp.aborted_transactions = std::nullopt;
                }
                if (!snap->partition(ft.topic, fp.partition)) {
                    rp.error_code = code(error_code::unknown_topic_or_partition);
                    rp.high_watermark = -1;
                    rp.aborted_transactions = std::nullopt;
                    any_error = true;
                    continue;
                }
                auto& job = jobs.emplace_back();
                job.tp = {ft.topic, fp.partition};
                job.client_epoch = fp.current_leader_epoch;
                job.fetch_offset = fp.fetch_offset;
                job.last_fetched_epoch = fp.last_fetched_epoch;
                job.partition_max_bytes = fp.partition_max_bytes;
                job.out = &rp;
            }
        }
        size_t total = 0;
        const std::shared_ptr<waiter>* watch = may_wait ? &w : nullptr;
        fetcher who{req.replica_id, partition::clock_ms()};
        auto read = [&total, response_max, watch, &who](partition& p, read_job& job) {
            // The first partition with data may exceed the limits, so a consumer always makes
            // progress past a batch bigger than its fetch size (KIP-74). Jobs of one core run
            // in order, cores one after the other: `total` is never touched by two at once.
            size_t room = total == 0 ? size_t(std::max(job.partition_max_bytes, 1))
                                     : std::min(size_t(std::max(job.partition_max_bytes, 0)),
                                                response_max > total ? response_max - total : 0);
            job.result = read_partition(p, job, room, who, watch);
            total += job.result.bytes;
        };
        co_await svc.partitions.on_leaders(jobs, read);
        std::vector<std::pair<const std::string*, size_t>> sent;  // for the bytes-out metric
        for (auto& job : jobs) {
            auto& r = job.result;
            auto& rp = *job.out;
            error_code err = job.error != error_code::none ? job.error : r.err;
            rp.error_code = code(err);
            if (err == error_code::offset_out_of_range && req.replica_id >= 0) {
                // A follower (one of this cluster's brokers) is told where the log starts and
                // what is committed, so it can start again without asking ListOffsets first;
                // Kafka sends -1 here and its followers ask.
                rp.high_watermark = r.high_watermark;
                rp.log_start_offset = r.log_start_offset;
                any_error = true;
                continue;
            }
            if (err != error_code::none) {
                // as Kafka: no offsets beside an error
                rp.high_watermark = -1;
                rp.aborted_transactions = std::nullopt;
                any_error = true;
                continue;
            }
            rp.high_watermark = r.high_watermark;
            rp.last_stable_offset = r.high_watermark;
            rp.log_start_offset = r.log_start_offset;
            if (r.diverging) {
                rp.diverging_epoch.epoch = r.diverging->first.value();
                rp.diverging_epoch.end_offset = r.diverging->second.value();
                any_error = true;  // answered at once: the fetcher must truncate first
            }
            rp.records = std::move(r.records);
            if (r.bytes > 0) {
                sent.emplace_back(&job.tp.topic, r.bytes);
            }
        }
        if (total >= size_t(std::max(req.min_bytes, 0)) || any_error || !may_wait) {
            for (const auto& [topic, n] : sent) {
                svc.metrics.bytes_out(*topic, n);
            }
            co_return resp;
        }
        co_await w->wait_until(deadline);
    }
}

} // namespace trib::broker
