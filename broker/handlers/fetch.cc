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
};

// Reads one partition on its owner core. When there is nothing to read yet and `waker` is
// set, registers it so the next append wakes the fetch.
partition_read read_partition(partition* p, int64_t fetch_offset, size_t max_bytes,
                              const std::shared_ptr<std::function<void()>>& waker) {
    partition_read out;
    if (!p) {
        out.err = error_code::not_leader_or_follower;
        return out;
    }
    auto& log = p->log();
    int64_t hw = p->high_watermark().value();
    out.high_watermark = hw;
    out.log_start_offset = log.log_start_offset().value();
    if (fetch_offset < out.log_start_offset || fetch_offset > hw) {
        out.err = error_code::offset_out_of_range;
        return out;
    }
    log.note_reader(offset(fetch_offset));
    if (fetch_offset == hw || max_bytes == 0) {
        if (waker) {
            p->add_waiter(waker);
        }
        return out;
    }
    auto r = log.read(offset(fetch_offset), max_bytes, offset(hw));
    if (!r) {
        out.err = r.error() == storage::errc::offset_out_of_range ? error_code::offset_out_of_range
                                                                  : error_code::kafka_storage_error;
        return out;
    }
    for (auto& s : r->slices) {
        out.records.slices.push_back(protocol::file_slice{s.fd, s.pos, s.len, s.owner});
        out.bytes += s.len;
    }
    if (out.bytes == 0 && waker) {
        p->add_waiter(waker);
    }
    return out;
}

} // namespace

handler_result<protocol::fetch_response> fetch_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(ex);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
    // Appends on any core post this to our core, which ends the wait early.
    auto waker = std::make_shared<std::function<void()>>(
        [ex, weak = std::weak_ptr<asio::steady_timer>(timer)] {
            asio::post(ex, [weak] {
                if (auto t = weak.lock()) {
                    t->cancel();
                }
            });
        });

    size_t response_max = req.max_bytes > 0 ? size_t(req.max_bytes) : SIZE_MAX;
    struct read_job {
        topic_partition tp;
        int64_t fetch_offset;
        int32_t partition_max_bytes;
        protocol::fetch_response::partition_data* out;
        partition_read result;
    };
    for (;;) {
        auto snap = svc.metadata.get();
        response resp;
        resp.session_id = 0;  // no incremental fetch session: clients send full requests
        size_t total = 0;
        std::vector<std::pair<const std::string*, size_t>> sent;  // for the bytes-out metric
        bool any_error = false;
        bool may_wait = std::chrono::steady_clock::now() < deadline;
        // Reads go to each owner core once per pass, with all of that core's partitions.
        std::vector<std::vector<read_job>> by_core(svc.partitions.cores());
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
                if (auto e = leadership(*snap, svc.self(), ft.topic, fp.partition); e != error_code::none) {
                    rp.error_code = code(e);
                    rp.high_watermark = -1;
                    rp.aborted_transactions = std::nullopt;
                    any_error = true;
                    continue;
                }
                topic_partition tp{ft.topic, fp.partition};
                size_t core = svc.partitions.owner(tp);
                by_core[core].push_back(read_job{std::move(tp), fp.fetch_offset, fp.partition_max_bytes, &rp, {}});
            }
        }
        for (size_t core = 0; core < by_core.size(); ++core) {
            auto& jobs = by_core[core];
            if (jobs.empty()) {
                continue;
            }
            co_await svc.partitions.on_core(core, [&](const auto& find) {
                for (auto& job : jobs) {
                    // The first partition with data may exceed the limits, so a consumer always
                    // makes progress past a batch bigger than its fetch size (KIP-74).
                    size_t room = total == 0 ? size_t(std::max(job.partition_max_bytes, 1))
                                             : std::min(size_t(std::max(job.partition_max_bytes, 0)),
                                                        response_max > total ? response_max - total : 0);
                    job.result = read_partition(find(job.tp), job.fetch_offset, room, may_wait ? waker : nullptr);
                    total += job.result.bytes;
                }
                return true;
            });
            for (auto& job : jobs) {
                auto& r = job.result;
                auto& rp = *job.out;
                rp.error_code = code(r.err);
                if (r.err != error_code::none) {
                    // as Kafka: no offsets beside an error
                    rp.high_watermark = -1;
                    rp.aborted_transactions = std::nullopt;
                    any_error = true;
                    continue;
                }
                rp.high_watermark = r.high_watermark;
                rp.last_stable_offset = r.high_watermark;
                rp.log_start_offset = r.log_start_offset;
                rp.records = std::move(r.records);
                if (r.bytes > 0) {
                    sent.emplace_back(&job.tp.topic, r.bytes);
                }
            }
        }
        if (total >= size_t(std::max(req.min_bytes, 0)) || any_error || !may_wait) {
            for (const auto& [topic, n] : sent) {
                svc.metrics.bytes_out(*topic, n);
            }
            co_return resp;
        }
        boost::system::error_code ec;
        timer->expires_at(deadline);
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace trib::broker
