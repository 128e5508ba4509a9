#include "broker/fetch_session.h"
#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"

#include <map>

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
    partition_mark mark;
};

struct read_job : partition_job {
    int64_t fetch_offset = 0;
    int32_t last_fetched_epoch = -1;
    int32_t partition_max_bytes = 0;
    size_t part = 0;  // index into the fetch's partitions
    partition_read result;
};

// Who is fetching: a consumer reads below the high watermark, a follower (a broker's
// replica id) up to the log end, and its fetch offset tells the leader how far it has copied.
struct fetcher {
    int32_t replica_id = -1;
    int64_t now_ms = 0;
    bool is_follower() const noexcept { return replica_id >= 0; }
    partition_news::reader reader() const noexcept {
        return is_follower() ? partition_news::reader::follower : partition_news::reader::consumer;
    }
};

// The leader throttle (replication/quota.h) for one fetch: a follower outside the ISR gets no
// data of a throttled partition while the rate of throttled bytes sent is above
// leader.replication.throttled.rate (Kafka's shouldLeaderThrottle). The quota is asked at
// most once per fetch.
struct leader_throttle {
    replication_quota* quota;
    std::optional<bool> over{};
    int64_t bytes = 0;  // of throttled partitions, in this read of the fetch's partitions

    bool holds_back(const partition& p, const fetcher& who) {
        if (!who.is_follower() || !p.leader_throttled() || p.in_isr(node_id(who.replica_id))) {
            return false;
        }
        if (!over) {
            over = quota->exceeded(who.now_ms);
        }
        return *over;
    }
};

// Reads one partition on its owner core, as leader. When there is nothing to read yet and
// `w` is set, watches for data past the fetch offset.
partition_read read_partition(partition& p, const read_job& job, size_t max_bytes, const fetcher& who,
                              const std::shared_ptr<waiter>* w) {
    partition_read out;
    auto& log = p.log();
    offset at(job.fetch_offset);
    // The answer carries these with any error: a follower out of range truncates to the
    // high watermark.
    offset hw = p.high_watermark();
    out.high_watermark = hw.value();
    out.log_start_offset = log.log_start_offset().value();
    // Out of range is past the log end, for consumers too: between the high watermark and the
    // log end (a new leader's high watermark still catching up) a consumer gets nothing yet,
    // not an error that would make it reset its position (as Kafka answers).
    auto check = who.is_follower()
                     ? p.follower_fetched(node_id(who.replica_id), at, job.last_fetched_epoch, who.now_ms)
                     : p.check_position(at, job.last_fetched_epoch);
    if (check.err == error_code::not_leader_or_follower) {
        TLOG_WARN("{}-{}: broker {} fetched as a follower but holds no replica here", job.tp.topic, job.tp.partition,
                  who.replica_id);
    }
    if (!check) {
        out.err = check.err;
        out.diverging = check.diverging;
        return out;
    }
    // A follower's fetch may have moved the high watermark.
    hw = p.high_watermark();
    out.high_watermark = hw.value();
    offset end = who.is_follower() ? p.log_end() : hw;  // what this fetcher may read up to
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
    // Read to its end: until the partition changes, a read would find the same. A follower
    // outside the ISR is read every time, so that its joining the ISR is decided.
    out.mark.news = p.news();
    out.mark.stamp = p.news()->stamp(who.reader());
    out.mark.settled = at >= end && (!who.is_follower() || p.in_isr(node_id(who.replica_id)));
    return out;
}

// The request's partitions in its order, and the partitions it forgets.
std::vector<session_fetch> requested(const protocol::fetch_request& req) {
    std::vector<session_fetch> out;
    for (const auto& ft : req.topics) {
        for (const auto& fp : ft.partitions) {
            auto& f = out.emplace_back();
            f.key.topic = ft.topic;
            f.key.partition = fp.partition;
            f.fetch_offset = fp.fetch_offset;
            f.log_start_offset = fp.log_start_offset;
            f.max_bytes = fp.partition_max_bytes;
            f.current_leader_epoch = fp.current_leader_epoch;
            f.last_fetched_epoch = fp.last_fetched_epoch;
        }
    }
    return out;
}

std::vector<session_key> forgotten(const protocol::fetch_request& req) {
    std::vector<session_key> out;
    for (const auto& t : req.forgotten_topics_data) {
        for (int32_t p : t.partitions) {
            out.push_back(session_key{{}, t.topic, p});
        }
    }
    return out;
}

// Runs f() on `core` (at once when already there) and returns its result here. `f` is taken
// by reference (g++ 12 and by-value coroutine arguments: broker/README.md).
template<typename F>
asio::awaitable<std::invoke_result_t<F&>> on_core(broker_services& svc, size_t core, F& f) {
    if (svc.pool.current_core() == core) {
        co_return f();
    }
    co_return co_await run_on(svc.pool.executor(core), [&f] { return f(); });
}

// Which session step a fetch takes (fetch_session.h lists the cases).
struct session_plan {
    enum class kind : uint8_t { sessionless, full, incremental } kind = kind::sessionless;
    protocol::error_code error = error_code::none;
    size_t core = 0;   // incremental: the session's core
    int32_t epoch = 0; // incremental: the session's epoch after this fetch
    std::vector<session_fetch> parts;  // what to read, in response order
    std::vector<partition_mark> marks; // incremental: what the session knows of them
    std::shared_ptr<session_inbox> inbox;  // incremental: news of the quiet partitions
};

asio::awaitable<session_plan> plan_session(broker_services& svc, const protocol::fetch_request& req,
                                           bool uses_topic_ids) {
    using namespace fetch_session_ids;
    session_plan plan;
    auto& sessions = svc.sessions;
    auto core = sessions.core_of(req.session_id);
    if (req.session_epoch == initial_epoch || req.session_epoch == final_epoch) {
        if (core) {  // a full fetch closes the session it names
            int32_t id = req.session_id;
            auto close = [&sessions, &core, id] { return sessions.on(*core).remove(id); };
            co_await on_core(svc, *core, close);
        }
        plan.kind = req.session_epoch == initial_epoch ? session_plan::kind::full : session_plan::kind::sessionless;
        plan.parts = requested(req);
        co_return plan;
    }
    if (!core) {
        plan.error = error_code::fetch_session_id_not_found;
        co_return plan;
    }
    auto fetches = requested(req);
    auto gone = forgotten(req);
    int64_t now = partition::clock_ms();
    int32_t id = req.session_id, epoch = req.session_epoch;
    const bool privileged = fetcher{req.replica_id}.is_follower();
    auto begin = [&] {
        return begin_incremental(sessions.on(*core), id, epoch, privileged, uses_topic_ids, fetches, gone, now);
    };
    auto b = co_await on_core(svc, *core, begin);
    plan.error = b.error;
    plan.kind = b.closed ? session_plan::kind::sessionless : session_plan::kind::incremental;
    plan.core = *core;
    plan.epoch = b.epoch;
    plan.parts = std::move(b.parts);
    plan.marks = std::move(b.marks);
    plan.inbox = std::move(b.inbox);
    co_return plan;
}

} // namespace

handler_result<protocol::fetch_response> fetch_handler::handle(request_context& ctx, request&& req) {
    auto& svc = ctx.services;
    auto& m = svc.sessions.metrics();
    const bool uses_topic_ids = false;  // Fetch v13+ (topic ids) is not served yet
    auto plan = co_await plan_session(svc, req, uses_topic_ids);
    if (plan.error != error_code::none) {
        m.errors->Increment();
        response resp;  // as Kafka: the error alone, no session, no partitions
        resp.error_code = code(plan.error);
        co_return resp;
    }
    (plan.kind == session_plan::kind::full          ? m.full
     : plan.kind == session_plan::kind::incremental ? m.incremental
                                                    : m.sessionless)
        ->Increment();
    auto& parts = plan.parts;  // grows while the fetch waits, by quiet partitions with news
    // ACLs, as Kafka: a follower needs CLUSTER_ACTION on the cluster, a consumer READ on each
    // topic; a partition refused answers TOPIC_AUTHORIZATION_FAILED.
    std::vector<bool> allowed;
    const bool follower = fetcher{req.replica_id}.is_follower();
    const bool follower_ok = !follower || ctx.authorized_cluster(security::acl_operation::cluster_action);
    std::map<std::string, bool, std::less<>> by_topic;
    auto authorize = [&] {
        for (size_t i = allowed.size(); i < parts.size(); ++i) {
            const auto& t = parts[i].key.topic;
            auto it = by_topic.find(t);
            if (it == by_topic.end()) {
                bool ok = follower ? follower_ok : ctx.authorized_topic(security::acl_operation::read, t);
                it = by_topic.emplace(t, ok).first;
            }
            allowed.push_back(it->second);
        }
    };
    authorize();
    auto deadline = waiter::clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
    // Appends on the partitions' cores wake it when data past a fetch offset arrives.
    auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
    size_t response_max = req.max_bytes > 0 ? size_t(req.max_bytes) : SIZE_MAX;
    std::vector<protocol::fetch_response::partition_data> out(parts.size());
    session_read unread;
    unread.read = false;  // until a pass reads it
    std::vector<session_read> seen(parts.size(), unread);
    // A partition whose mark holds is left out of a pass: a read would find what the last
    // one did (fetch_session.h). The session's marks start the first pass, each read's the
    // next.
    auto marks = std::move(plan.marks);
    marks.resize(parts.size());
    const auto reader = fetcher{req.replica_id}.reader();
    std::vector<size_t> left_out;
    leader_throttle throttle{&svc.quotas.leader};
    bool session_moved = false;  // gone, or another fetch took it over: the inbox isn't ours
    for (;;) {
        if (plan.inbox && !session_moved && plan.inbox->pending()) {
            // Quiet partitions of the session had news: they join this fetch.
            int32_t id = req.session_id, epoch = plan.epoch;
            auto take = [&] { return take_posted(svc.sessions.on(plan.core), id, epoch); };
            auto more = co_await on_core(svc, plan.core, take);
            if (!more) {
                session_moved = true;
            } else {
                for (size_t j = 0; j < more->first.size(); ++j) {
                    parts.push_back(std::move(more->first[j]));
                    marks.push_back(std::move(more->second[j]));
                }
                authorize();
                out.resize(parts.size());
                seen.resize(parts.size(), unread);
            }
        }
        auto snap = svc.metadata.get();
        bool may_wait = waiter::clock::now() < deadline && !session_moved;
        bool any_error = false;  // an error answers at once, without waiting
        std::vector<read_job> jobs;
        left_out.clear();
        for (size_t i = 0; i < parts.size(); ++i) {
            if (marks[i].unchanged(reader)) {
                left_out.push_back(i);
                continue;
            }
            marks[i] = {};
            const auto& f = parts[i];
            auto& rp = out[i];
            rp = {};
            seen[i] = {};
            rp.partition_index = f.key.partition;
            rp.records = protocol::record_set{};
            if (req.isolation_level == 0) {
                // as Kafka: null when reading uncommitted, and beside an error
                rp.aborted_transactions = std::nullopt;
            }
            if (!allowed[i] || !snap->partition(f.key.topic, f.key.partition)) {
                rp.error_code = code(allowed[i] ? error_code::unknown_topic_or_partition
                                                : error_code::topic_authorization_failed);
                rp.high_watermark = -1;
                rp.aborted_transactions = std::nullopt;
                any_error = true;
                continue;
            }
            auto& job = jobs.emplace_back();
            job.tp = {f.key.topic, f.key.partition};
            job.client_epoch = f.current_leader_epoch;
            job.fetch_offset = f.fetch_offset;
            job.last_fetched_epoch = f.last_fetched_epoch;
            job.partition_max_bytes = f.max_bytes;
            job.part = i;
        }
        size_t total = 0;
        const std::shared_ptr<waiter>* watch = may_wait ? &w : nullptr;
        fetcher who{req.replica_id, partition::clock_ms()};
        throttle = leader_throttle{&svc.quotas.leader};
        auto read = [&total, response_max, watch, &who, &throttle](partition& p, read_job& job) {
            // The first partition with data may exceed the limits, so a consumer always makes
            // progress past a batch bigger than its fetch size (KIP-74). Jobs of one core run
            // in order, cores one after the other: `total` and `throttle` are never touched by
            // two at once.
            size_t room = total == 0 ? size_t(std::max(job.partition_max_bytes, 1))
                                     : std::min(size_t(std::max(job.partition_max_bytes, 0)),
                                                response_max > total ? response_max - total : 0);
            if (throttle.holds_back(p, who)) {
                // Nothing read, and no watch: data is there already, and it is the quota that
                // holds it back, so the fetch waits out its max wait (Kafka's delayed fetch
                // doesn't count throttled partitions either).
                job.result = read_partition(p, job, 0, who, nullptr);
                return;
            }
            job.result = read_partition(p, job, room, who, watch);
            total += job.result.bytes;
            if (who.is_follower() && p.leader_throttled()) {
                throttle.bytes += int64_t(job.result.bytes);
            }
        };
        co_await svc.partitions.on_leaders(jobs, read);
        for (auto& job : jobs) {
            auto& r = job.result;
            auto& rp = out[job.part];
            error_code err = job.error != error_code::none ? job.error : r.err;
            rp.error_code = code(err);
            if (err == error_code::offset_out_of_range && follower) {
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
            seen[job.part].bytes = r.bytes;
            marks[job.part] = std::move(r.mark);
        }
        if (total >= size_t(std::max(req.min_bytes, 0)) || any_error || !may_wait) {
            break;
        }
        // The partitions left out wake the wait through their stamps (the ones read watch
        // their offsets): registered first, so a change after the check below wakes it.
        bool changed = false;
        for (size_t i : left_out) {
            marks[i].news->watch(w, reader);
            changed = changed || !marks[i].unchanged(reader);
        }
        // The session's quiet partitions: one registration for all of them.
        changed = (plan.inbox && plan.inbox->watch(w)) || changed;
        if (!changed) {
            auto counted = svc.metrics.fetch_waiting();
            co_await w->wait_until(deadline);
        }
    }
    if (throttle.bytes > 0) {
        // What the last read took of throttled partitions is what this answer sends.
        svc.quotas.record_leader(throttle.bytes, partition::clock_ms());
    }
    for (size_t i = 0; i < parts.size(); ++i) {
        auto& s = seen[i];
        if (!s.read) {
            continue;  // never read by this fetch: not in its answer, its mark kept
        }
        s.mark = std::move(marks[i]);
        s.error_code = out[i].error_code;
        s.high_watermark = out[i].high_watermark;
        s.last_stable_offset = out[i].last_stable_offset;
        s.log_start_offset = out[i].log_start_offset;
        s.diverging = out[i].diverging_epoch.epoch >= 0;
        if (s.error_code != 0) {
            s.bytes = 0;
        }
    }
    response resp;
    std::vector<bool> send(parts.size(), true);
    if (plan.kind == session_plan::kind::full) {
        // The session goes to this core's cache: the client's next fetches come on this
        // connection, so normally here (fetch_session.h).
        size_t core = std::min(svc.pool.current_core(), svc.pool.size() - 1);
        int64_t now = partition::clock_ms();
        auto open = [&] { return open_session(svc.sessions.on(core), now, follower, uses_topic_ids, parts, seen); };
        resp.session_id = co_await on_core(svc, core, open);
    } else if (plan.kind == session_plan::kind::incremental) {
        int32_t id = req.session_id;
        auto select = [&] { return select_incremental(svc.sessions.on(plan.core), id, plan.epoch, parts, seen); };
        send = co_await on_core(svc, plan.core, select);
        resp.session_id = id;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
        if (!send[i]) {
            continue;
        }
        // Consecutive partitions of a topic share its entry, as Kafka's response has them.
        const auto& topic = parts[i].key.topic;
        if (resp.responses.empty() || resp.responses.back().topic != topic) {
            resp.responses.emplace_back().topic = topic;
        }
        resp.responses.back().partitions.push_back(std::move(out[i]));
        if (seen[i].bytes > 0) {
            svc.metrics.bytes_out(topic, seen[i].bytes);
        }
    }
    co_return resp;
}

} // namespace trib::broker
