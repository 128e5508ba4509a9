#include "broker/replication/fetcher.h"

#include "broker/fetch_session.h"
#include "common/log.h"
#include "protocol/records.h"

#include <boost/asio/co_spawn.hpp>

#include <algorithm>
#include <utility>

namespace trib::broker {

using protocol::error_code;
using clock = std::chrono::steady_clock;

namespace {
constexpr int16_t fetch_version = 12;  // topic names, LastFetchedEpoch, DivergingEpoch
// How soon a replica the follower throttle holds back is looked at again.
constexpr std::chrono::milliseconds throttle_recheck(100);
}

namespace {
void add_partition(protocol::fetch_request& req, const topic_partition& tp, const fetch_session_handler::wanted& w) {
    if (req.topics.empty() || req.topics.back().topic != tp.topic) {
        req.topics.emplace_back().topic = tp.topic;
    }
    auto& fp = req.topics.back().partitions.emplace_back();
    fp.partition = tp.partition;
    fp.current_leader_epoch = w.current_leader_epoch;
    fp.fetch_offset = w.fetch_offset;
    fp.last_fetched_epoch = w.last_fetched_epoch;
    fp.partition_max_bytes = w.max_bytes;
}
} // namespace

void fetch_session_handler::build(const partitions& next, std::span<const topic_partition> changed,
                                  protocol::fetch_request& req) {
    req.session_id = _id;
    req.session_epoch = _epoch;
    req.topics.clear();
    req.forgotten_topics_data.clear();
    _sent_full = full();
    if (_sent_full) {
        for (const auto& [tp, w] : next) {
            add_partition(req, tp, w);
        }
        _session = next;
        return;
    }
    // In `changed`'s order (sorted): the added, changed and gone partitions, each topic's
    // together.
    for (const auto& tp : changed) {
        auto want = next.find(tp);
        auto have = _session.find(tp);
        if (want != next.end()) {
            if (have == _session.end()) {
                add_partition(req, tp, want->second);
                _session.emplace_hint(have, tp, want->second);
            } else if (!(have->second == want->second)) {
                add_partition(req, tp, want->second);
                have->second = want->second;
            }
        } else if (have != _session.end()) {
            auto& gone = req.forgotten_topics_data;
            if (gone.empty() || gone.back().topic != tp.topic) {
                gone.emplace_back().topic = tp.topic;
            }
            gone.back().partitions.push_back(tp.partition);
            _session.erase(have);
        }
    }
}

bool fetch_session_handler::handle_response(const protocol::fetch_response& resp) {
    using namespace fetch_session_ids;
    if (resp.error_code != 0) {
        if (error_code(resp.error_code) == error_code::fetch_session_id_not_found) {
            _id = invalid_id;  // start a new session
        }
        _epoch = initial_epoch;  // a full fetch, closing the session it names
        return false;
    }
    for (const auto& t : resp.responses) {
        for (const auto& p : t.partitions) {
            if (!_session.contains(topic_partition{t.topic, p.partition_index})) {
                _epoch = initial_epoch;
                return false;
            }
        }
    }
    if (resp.session_id == invalid_id) {
        _id = invalid_id;  // no session (the leader had no room, or closed it): full again
        _epoch = initial_epoch;
    } else if (_sent_full) {
        _id = resp.session_id;
        _epoch = next_epoch(initial_epoch);
    } else {
        _epoch = next_epoch(_epoch);
    }
    return true;
}

void fetch_session_handler::handle_error() {
    _epoch = fetch_session_ids::initial_epoch;
}

replica_fetcher::replica_fetcher(asio::any_io_executor ex, partition_manager& partitions, const broker_config& cfg,
                                 replication_quotas& quotas, node_id source, config::host_port target)
  : _ex(ex), _partitions(partitions), _cfg(cfg), _quotas(quotas), _source(source), _target(std::move(target)),
    _waiter(std::make_shared<waiter>(ex)) {}

void replica_fetcher::start() {
    asio::post(_ex, [self = shared_from_this()] {
        asio::co_spawn(self->_ex, self->run(), [self](std::exception_ptr e) {
            if (e) {  // run() sets _done itself when it ends normally
                log_failed_coroutine(e, "replica fetcher");
                self->_done.set_value();
            }
        });
    });
}

void replica_fetcher::follow(const topic_partition& tp, leader_epoch epoch, follower_throttle throttle) {
    asio::post(_ex, [self = shared_from_this(), tp, epoch, throttle] {
        auto& pos = self->_positions[tp];
        if (pos.epoch != epoch || pos.fetch_offset < offset(0)) {
            pos = position{epoch};  // a new epoch: read where the replica ends again
            self->_unread.push_back(tp);
        }
        pos.throttle = throttle;
        self->_dirty.insert(tp);
        self->wake();
    });
}

void replica_fetcher::unfollow(const topic_partition& tp) {
    asio::post(_ex, [self = shared_from_this(), tp] {
        self->_positions.erase(tp);
        self->_dirty.insert(tp);
    });
}

void replica_fetcher::retarget(config::host_port target) {
    asio::post(_ex, [self = shared_from_this(), target = std::move(target)]() mutable {
        TLOG_INFO("fetcher for broker {}: now at {}:{}", self->_source.value(), target.host, target.port);
        self->_target = std::move(target);
        if (self->_client) {
            self->_client->close();  // the loop makes a new one for the new address
            self->_retargeted = true;
        }
        self->wake();
    });
}

std::future<void> replica_fetcher::stop() {
    auto f = _done.get_future();
    asio::post(_ex, [self = shared_from_this()] {
        self->_stopped = true;
        if (self->_client) {
            self->_client->close();
        }
        self->wake();
    });
    return f;
}

// Where each newly followed partition's log ends and the epoch of its last batch.
asio::awaitable<void> replica_fetcher::read_positions() {
    struct job : partition_job {
        position* pos = nullptr;
        offset end{-1};
        int32_t last_epoch = -1;
    };
    // From the list follow() keeps, not a walk over every followed partition: this runs
    // before each fetch, and most cycles find nothing new.
    if (_unread.empty()) {
        co_return;
    }
    std::sort(_unread.begin(), _unread.end());
    _unread.erase(std::unique(_unread.begin(), _unread.end()), _unread.end());
    std::vector<job> jobs;
    for (const auto& tp : std::exchange(_unread, {})) {
        auto it = _positions.find(tp);
        if (it != _positions.end() && it->second.fetch_offset < offset(0)) {
            auto& j = jobs.emplace_back();
            j.tp = tp;
            j.pos = &it->second;
        }
    }
    if (jobs.empty()) {
        co_return;
    }
    std::vector<job*> all;
    for (auto& j : jobs) {
        all.push_back(&j);
    }
    auto read = [](partition* p, job& j) {
        if (p) {
            j.end = p->log_end();
            auto e = p->log().epochs().latest_epoch();
            j.last_epoch = e ? e->value() : -1;
        }
    };
    co_await _partitions.on_owners(all, read);
    // Positions may have changed while this coroutine waited (unfollow, a newer epoch): the
    // map's nodes are stable, but only write those still waiting for a read.
    for (auto& j : jobs) {
        auto it = _positions.find(j.tp);
        if (it == _positions.end() || &it->second != j.pos || j.pos->fetch_offset >= offset(0)) {
            continue;
        }
        if (j.end >= offset(0)) {
            j.pos->fetch_offset = j.end;
            j.pos->last_fetched_epoch = j.last_epoch;
            _dirty.insert(j.tp);
        } else {
            _unread.push_back(j.tp);  // its log isn't open here yet: read again next time
        }
    }
}

asio::awaitable<void> replica_fetcher::run() {
    auto self = shared_from_this();  // alive until the loop ends
    const auto& rc = _cfg.replication;
    auto backoff = std::chrono::milliseconds(rc.fetch_backoff_ms);
    while (!_stopped) {
        co_await read_positions();
        if (_stopped) {
            break;
        }
        auto now = clock::now();
        protocol::fetch_request req;
        req.replica_id = _cfg.node_id;
        req.max_wait_ms = rc.fetch_wait_max_ms;
        req.min_bytes = rc.fetch_min_bytes;
        req.max_bytes = rc.fetch_response_max_bytes;
        req.isolation_level = 0;
        // _next follows _positions: only the positions changed since the last cycle, and
        // those held back, are looked at (a walk over every followed partition on every
        // cycle cost each fetch in proportion to the idle partitions beside the busy ones).
        auto next_ready = now + std::chrono::seconds(1);
        const int64_t now_ms = partition::clock_ms();
        std::optional<bool> over_quota;  // asked once per request, for the first throttled replica
        _dirty.merge(_held);
        _held.clear();
        for (const auto& tp : _dirty) {
            auto it = _positions.find(tp);
            bool want = false;
            if (it != _positions.end() && it->second.fetch_offset >= offset(0)) {
                const auto& pos = it->second;
                if (pos.delay_until > now) {
                    next_ready = std::min(next_ready, pos.delay_until);
                    _held.insert(tp);
                } else if (pos.throttle.throttled && !pos.throttle.in_isr && !pos.caught_up) {
                    _held.insert(tp);  // the quota is asked again every cycle
                    if (!over_quota) {
                        over_quota = _quotas.follower.exceeded(now_ms);
                    }
                    if (*over_quota) {
                        // Looked at again shortly: the rate falls as time passes.
                        next_ready = std::min(next_ready, now + throttle_recheck);
                    } else {
                        want = true;
                    }
                } else {
                    want = true;
                }
            }  // else unfollowed, or its log end is not read yet (read_positions marks it)
            if (want) {
                const auto& pos = it->second;
                _next.insert_or_assign(tp, fetch_session_handler::wanted{pos.fetch_offset.value(), pos.epoch.value(),
                                                                         pos.last_fetched_epoch, rc.fetch_max_bytes});
            } else {
                _next.erase(tp);
            }
        }
        if (_next.empty()) {
            // The changes stay listed for the next request (a partition unfollowed meanwhile
            // is forgotten by it).
            co_await _waiter->wait_until(next_ready);
            continue;
        }
        std::vector<topic_partition> changed(_dirty.begin(), _dirty.end());
        _dirty.clear();
        // An incremental request may name no partition at all: nothing changed, and the leader
        // reads the session's partitions.
        _session.build(_next, changed, req);
        if (!_client) {
            net::kafka_client_options o;
            o.client_id = "broker-" + std::to_string(_cfg.node_id) + "-fetcher-" + std::to_string(_source.value());
            o.connect_timeout = std::chrono::milliseconds(rc.socket_timeout_ms);
            _cfg.secure_inter_broker(o);
            _client = std::make_unique<net::kafka_client>(_ex, _target, o);
        }
        auto timeout = std::chrono::milliseconds(rc.fetch_wait_max_ms + rc.socket_timeout_ms);
        auto resp = co_await _client->call<protocol::fetch_response>(req, fetch_version, timeout);
        if (_stopped) {
            break;
        }
        std::string failure;
        if (!resp) {
            _session.handle_error();
            failure = resp.error().message() + (_client->last_error().empty() ? "" : ": " + _client->last_error());
        } else if (!_session.handle_response(*resp)) {
            auto err = error_code(resp->error_code);
            if (err == error_code::fetch_session_id_not_found || err == error_code::invalid_fetch_session_epoch ||
                err == error_code::fetch_session_topic_id_error || err == error_code::none) {
                // The leader lost the session (restart, eviction) or the answer did not fit it:
                // the next request, a full one, can't meet this again, so no back-off.
                TLOG_INFO("fetching from broker {}: {} in session {}; starting over with a full fetch",
                          _source.value(),
                          err == error_code::none ? "an answer naming partitions not asked for"
                                                  : protocol::error_code_name(err),
                          req.session_id);
                continue;
            }
            failure = std::string(protocol::error_code_name(err));
        }
        if (!failure.empty()) {
            if (failure != _last_failure) {
                TLOG_WARN("fetching from broker {} ({}:{}): {}; retrying every {} ms", _source.value(), _target.host,
                          _target.port, failure, backoff.count());
                _last_failure = failure;
            }
            if (_client && _retargeted) {
                _client.reset();  // a fresh one at the new address
                _retargeted = false;
            }  // else the same client reconnects (its back-off logs the first failure of a run only)
            co_await _waiter->wait_until(clock::now() + backoff);
            continue;
        }
        if (!_last_failure.empty()) {
            TLOG_INFO("fetching from broker {} again", _source.value());
            _last_failure.clear();
        }
        co_await apply(*resp);
    }
    if (_client) {
        _client->close();
    }
    _done.set_value();
}

struct replica_fetcher::outcome : partition_job {
    leader_epoch epoch;
    protocol::fetch_response::partition_data* data = nullptr;
    bool stale = false;      // the partition no longer follows the source at this epoch
    bool delay = false;      // back off this partition
    size_t appended = 0;     // bytes of batches appended
    bool caught_up = false;  // the log reaches the leader's high watermark now
    offset end{-1};
    int32_t last_epoch = -1;
};

asio::awaitable<void> replica_fetcher::apply(protocol::fetch_response& resp) {
    std::vector<outcome> jobs;
    for (auto& t : resp.responses) {
        for (auto& p : t.partitions) {
            topic_partition tp{t.topic, p.partition_index};
            auto it = _positions.find(tp);
            if (it == _positions.end()) {
                continue;  // unfollowed while the fetch was out
            }
            auto& j = jobs.emplace_back();
            j.tp = std::move(tp);
            j.epoch = it->second.epoch;
            j.data = &p;
        }
    }
    std::vector<outcome*> all;
    for (auto& j : jobs) {
        all.push_back(&j);
    }
    node_id source = _source;
    auto take = [source](partition* p, outcome& o) {
        auto* j = &o;
        if (!p || p->role() != replica_role::follower || p->leader() != source || p->epoch() != j->epoch) {
            j->stale = true;
            return;
        }
        auto& d = *j->data;
        auto err = error_code(d.error_code);
        if (err == error_code::offset_out_of_range) {
            // The leader answers with its log start offset and high watermark beside the error.
            offset at = p->log_end();
            offset leader_start(d.log_start_offset);
            if (leader_start >= offset(0) && at < leader_start) {
                // Retention or DeleteRecords removed on the leader all that this log lacks.
                TLOG_INFO("{}-{}: log end {} is below broker {}'s log start {}: starting again there", j->tp.topic,
                          j->tp.partition, at.value(), source.value(), leader_start.value());
                if (auto r = p->truncate_fully_and_start_at(leader_start); !r) {
                    TLOG_ERROR("{}-{}: truncation failed: {}", j->tp.topic, j->tp.partition, r.error().message());
                    j->delay = true;
                }
            } else if (d.high_watermark >= 0 && at > offset(d.high_watermark)) {
                // Ahead of the leader (its log is shorter than this one): keep what it has
                // committed and fetch the rest again.
                TLOG_INFO("{}-{}: log end {} is past broker {}'s log: truncating to its high watermark {}",
                          j->tp.topic, j->tp.partition, at.value(), source.value(), d.high_watermark);
                if (auto r = p->truncate_to(offset(d.high_watermark)); !r) {
                    TLOG_ERROR("{}-{}: truncation failed: {}", j->tp.topic, j->tp.partition, r.error().message());
                    j->delay = true;
                }
            } else {
                j->delay = true;
            }
        } else if (err != error_code::none) {
            if (err != error_code::not_leader_or_follower && err != error_code::fenced_leader_epoch &&
                err != error_code::unknown_leader_epoch) {
                TLOG_WARN("{}-{}: fetching from broker {}: {}", j->tp.topic, j->tp.partition, source.value(),
                          protocol::error_code_name(err));
            }
            j->delay = true;
        } else if (d.diverging_epoch.epoch >= 0) {
            // This log parts from the leader's: keep what both have, then fetch on.
            auto [e, e_end] = p->log().epochs().end_offset_for(leader_epoch(d.diverging_epoch.epoch),
                                                               p->log_end());
            offset to(d.diverging_epoch.end_offset);
            if (e_end >= offset(0)) {
                to = std::min(to, e_end);
            }
            TLOG_INFO("{}-{}: truncating to {} (log end {}): the leader's epoch {} ends at {}", j->tp.topic,
                      j->tp.partition, to.value(), p->log_end().value(), d.diverging_epoch.epoch,
                      d.diverging_epoch.end_offset);
            if (auto r = p->truncate_to(to); !r) {
                TLOG_ERROR("{}-{}: truncation failed: {}", j->tp.topic, j->tp.partition, r.error().message());
                j->delay = true;
            }
        } else {
            // Whole batches only: the leader may cut the last one short at the size limit.
            std::span<uint8_t> whole;
            if (d.records) {
                auto& data = d.records->data;
                protocol::record_set_iterator it(data);
                for (auto b = it.next(); b && *b; b = it.next()) {
                }
                whole = std::span<uint8_t>(data.data(), it.consumed());
            }
            if (auto r = p->append_from_leader(whole, offset(d.high_watermark)); !r) {
                TLOG_ERROR("{}-{}: appending what broker {} sent failed: {}", j->tp.topic, j->tp.partition,
                           source.value(), r.error().message());
                j->delay = true;
            } else {
                j->appended = whole.size();
                j->caught_up = d.high_watermark >= 0 && p->log_end() >= offset(d.high_watermark);
            }
        }
        j->end = p->log_end();
        auto e = p->log().epochs().latest_epoch();
        j->last_epoch = e ? e->value() : -1;
    };
    co_await _partitions.on_owners(all, take);
    auto now = clock::now();
    int64_t throttled_bytes = 0;
    for (auto& j : jobs) {
        if (auto it = _positions.find(j.tp); it != _positions.end() && it->second.throttle.throttled) {
            throttled_bytes += int64_t(j.appended);  // as Kafka, in the ISR or not
        }
    }
    if (throttled_bytes > 0) {
        _quotas.record_follower(throttled_bytes, partition::clock_ms());
    }
    for (auto& j : jobs) {
        auto it = _positions.find(j.tp);
        if (it == _positions.end() || it->second.epoch != j.epoch || j.stale) {
            continue;
        }
        auto& pos = it->second;
        if (j.end >= offset(0)) {
            pos.fetch_offset = j.end;
            pos.last_fetched_epoch = j.last_epoch;
        }
        pos.caught_up = j.caught_up;
        _dirty.insert(j.tp);
        if (j.delay) {
            pos.delay_until = now + std::chrono::milliseconds(_cfg.replication.fetch_backoff_ms);
        }
    }
}

} // namespace trib::broker
