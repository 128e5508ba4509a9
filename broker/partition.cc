#include "broker/partition.h"

#include "broker/replication_metrics.h"
#include "common/log.h"

#include <algorithm>
#include <chrono>
#include <optional>

namespace trib::broker {

using protocol::error_code;

int64_t partition::clock_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

partition::partition(topic_partition tp, protocol::uuid topic_id, std::unique_ptr<storage::log> log, node_id self)
  : _tp(std::move(tp)), _topic_id(topic_id), _log(std::move(log)), _self(self),
    _high_watermark(_log->log_start_offset()) {}

partition::~partition() {
    _news->bump();
}

bool partition::apply(const coordinator::partition_info& p) {
    if (p.epoch < _epoch) {
        TLOG_WARN("{}-{}: ignoring a change at leader epoch {}, older than the current {}", _tp.topic, _tp.partition,
                  p.epoch.value(), _epoch.value());
        return false;
    }
    count_isr_change(p);
    _news->bump();  // ISR, replicas, maybe leadership: what a follower's fetch is told changes
    _replicas = p.replicas;
    _isr = p.isr;
    _partition_epoch = p.partition_epoch;
    _pending_isr.reset();  // the coordinator decided: what was in flight is in this state or refused
    if (p.leader == _self) {
        become_leader(p);
    } else {
        become_follower(p);
    }
    return true;
}

void partition::count_isr_change(const coordinator::partition_info& p) {
    // Counted when the ISR this leader asked for (pending) arrives, leader and epoch unchanged;
    // ISR changes the coordinator made on its own (a fenced broker removed) are not counted.
    if (_role != replica_role::leader || p.leader != _self || p.epoch != _epoch || !_pending_isr) {
        return;
    }
    if (auto asked = compare_isr(*_pending_isr, p.isr); asked.shrank || asked.expanded) {
        return;  // not what this leader asked for
    }
    auto c = compare_isr(_isr, p.isr);
    _isr_changes.shrinks += c.shrank;
    _isr_changes.expands += c.expanded;
}

void partition::become_leader(const coordinator::partition_info& p) {
    bool new_term = _role != replica_role::leader || p.epoch != _epoch;
    _role = replica_role::leader;
    _leader = _self;
    _epoch = p.epoch;
    if (new_term) {
        // Followers start out caught up as of now (Kafka's rule): a new leader doesn't drop
        // them before they have had a chance to fetch from it.
        _followers.clear();
        for (int32_t b : p.replicas) {
            if (b != _self.value()) {
                _followers[b].last_caught_up_ms = clock_ms();
            }
        }
        _epoch_start = _log->next_offset();
        _end_seen = _epoch_start;
        if (auto r = _log->begin_epoch(_epoch); !r) {
            TLOG_ERROR("{}-{}: cannot start leader epoch {}: {}", _tp.topic, _tp.partition, _epoch.value(),
                       r.error().message());
        }
        TLOG_DEBUG("{}-{}: leader at epoch {}", _tp.topic, _tp.partition, _epoch.value());
    }
    std::erase_if(_followers, [&](const auto& kv) { return !p.has_replica(kv.first); });
    for (int32_t b : p.replicas) {
        if (b != _self.value() && !_followers.contains(b)) {
            _followers[b].last_caught_up_ms = clock_ms();  // added by a reassignment
        }
    }
    update_high_watermark();
    _fetch_watches.wake_all();
    _produce_watches.wake_all();
}

void partition::become_follower(const coordinator::partition_info& p) {
    bool changed = _role == replica_role::leader || p.leader != _leader || p.epoch != _epoch;
    _role = p.leader.value() < 0 ? replica_role::none : replica_role::follower;
    _leader = p.leader;
    _epoch = p.epoch;
    _followers.clear();
    _high_watermark = std::min(_high_watermark, _log->next_offset());
    if (changed) {
        TLOG_DEBUG("{}-{}: {} at epoch {}", _tp.topic, _tp.partition,
                   _role == replica_role::none ? "offline (no leader)" : fmt::format("follower of {}", _leader.value()),
                   _epoch.value());
        _fetch_watches.wake_all();
        _produce_watches.wake_all();
    }
}

void partition::stop() {
    _role = replica_role::none;
    _news->bump();
    _fetch_watches.wake_all();
    _produce_watches.wake_all();
}

error_code partition::check_leader(int32_t client_epoch) const noexcept {
    if (_role != replica_role::leader) {
        return error_code::not_leader_or_follower;
    }
    if (client_epoch >= 0 && client_epoch < _epoch.value()) {
        return error_code::fenced_leader_epoch;
    }
    if (client_epoch > _epoch.value()) {
        return error_code::unknown_leader_epoch;
    }
    return error_code::none;
}

bool partition::update_high_watermark() {
    offset hw = _log->next_offset();
    auto count = [&](int32_t b) {
        if (b != _self.value()) {
            auto it = _followers.find(b);
            hw = std::min(hw, it == _followers.end() || it->second.end < offset(0) ? _high_watermark : it->second.end);
        }
    };
    for (int32_t b : _isr) {
        count(b);
    }
    if (_pending_isr) {
        for (int32_t b : *_pending_isr) {
            count(b);
        }
    }
    if (hw <= _high_watermark) {
        return false;
    }
    _high_watermark = hw;
    _news->bump();
    _produce_watches.check();
    _fetch_watches.check();
    return true;
}

void partition::appended(int64_t now_ms) {
    for (auto& [b, f] : _followers) {
        if (f.end >= _end_seen) {
            f.last_caught_up_ms = std::max(f.last_caught_up_ms, now_ms);
        }
    }
    _end_seen = _log->next_offset();
    if (!update_high_watermark()) {
        _news->bump(/*visible=*/false);  // news to followers only
        _fetch_watches.check();  // a follower's fetch waits for data past the high watermark
    }
}

partition::position_check partition::check_position(offset at, int32_t last_fetched_epoch) const {
    position_check out;
    if (at < _log->log_start_offset() || at > _log->next_offset()) {
        out.err = error_code::offset_out_of_range;
    } else if (last_fetched_epoch >= 0) {
        // The fetcher's last batch was written in that epoch: if this log's history of it
        // ends earlier, or under another epoch, its log has parted from this one there.
        auto [e, e_end] = _log->epochs().end_offset_for(leader_epoch(last_fetched_epoch), _log->next_offset());
        if (e.value() != last_fetched_epoch || e_end < at) {
            out.diverging = {e, e_end};
        }
    }
    return out;
}

partition::position_check partition::follower_fetched(node_id follower, offset fetch_offset,
                                                      int32_t last_fetched_epoch, int64_t now_ms) {
    auto it = _followers.find(follower.value());
    if (it == _followers.end()) {
        return {.err = error_code::not_leader_or_follower, .diverging = std::nullopt};
    }
    auto check = check_position(fetch_offset, last_fetched_epoch);
    if (!check) {
        return check;
    }
    auto& f = it->second;
    offset leader_end = _log->next_offset();
    if (fetch_offset >= leader_end) {
        f.last_caught_up_ms = std::max(f.last_caught_up_ms, now_ms);
    } else if (f.leader_end_at_last_fetch >= offset(0) && fetch_offset >= f.leader_end_at_last_fetch) {
        f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
    }
    f.leader_end_at_last_fetch = leader_end;
    f.last_fetch_ms = now_ms;
    f.end = fetch_offset;
    update_high_watermark();
    return check;
}

offset partition::follower_end(node_id follower) const {
    auto it = _followers.find(follower.value());
    return it == _followers.end() ? offset(-1) : it->second.end;
}

std::optional<std::vector<int32_t>> partition::wanted_isr(int64_t now_ms, int64_t lag_max_ms) const {
    if (_role != replica_role::leader || _pending_isr || now_ms < _isr_retry_at_ms) {
        return std::nullopt;
    }
    std::vector<int32_t> isr;
    bool changed = false;
    for (int32_t b : _replicas) {
        bool in = std::find(_isr.begin(), _isr.end(), b) != _isr.end();
        bool keep = in;
        if (b != _self.value()) {
            auto it = _followers.find(b);
            if (it == _followers.end()) {
                keep = false;
            } else if (in) {
                // Kafka's isCaughtUp: a follower that has everything is caught up however
                // long ago it last fetched (a fetch session may leave an idle partition
                // out of its reads, fetch_session.h); a fenced broker leaves through the
                // coordinator.
                keep = it->second.end >= _log->next_offset() || now_ms - it->second.last_caught_up_ms <= lag_max_ms;
            } else {
                keep = it->second.end >= _high_watermark && it->second.end >= _epoch_start;
            }
        } else {
            keep = true;  // the leader is always in its ISR
        }
        changed = changed || keep != in;
        if (keep) {
            isr.push_back(b);
        }
    }
    // Members the assignment no longer names leave too.
    for (int32_t b : _isr) {
        changed = changed || std::find(_replicas.begin(), _replicas.end(), b) == _replicas.end();
    }
    if (!changed) {
        return std::nullopt;
    }
    return isr;
}

void partition::isr_change_refused(int64_t retry_at_ms) {
    _isr_retry_at_ms = retry_at_ms;
    set_pending_isr(std::nullopt);
}

void partition::set_pending_isr(std::optional<std::vector<int32_t>> isr) {
    _pending_isr = std::move(isr);
    _news->bump();
    update_high_watermark();
}

result<void> partition::append_from_leader(std::span<uint8_t> batches, offset leader_high_watermark) {
    if (!batches.empty()) {
        if (batches.size() < batch_header::size) {
            return storage::errc::invalid_batch;
        }
        auto h = decode_batch_header(batches.data());
        std::optional<offset> start_after;
        if (offset(h.base_offset) < _log->next_offset() && offset(h.last_offset()) >= _log->next_offset() &&
            _log->size_bytes() == 0) {
            // Started again at the leader's log start (truncate_fully_and_start_at), which lies
            // inside this batch: hold the batch whole, as the leader does, with the same start.
            start_after = _log->next_offset();
            if (auto r = _producers.truncate_fully_and_start_at(*_log, offset(h.base_offset)); !r) {
                return r;
            }
        }
        // Past the log end is a gap compaction left in the leader's log.
        if (offset(h.base_offset) < _log->next_offset()) {
            TLOG_WARN("{}-{}: the leader sent offset {} where this log ends at {}", _tp.topic, _tp.partition,
                      h.base_offset, _log->next_offset().value());
            return storage::errc::offset_out_of_range;
        }
        // Each batch keeps the leader's epoch and offsets.
        auto r = _log->append(batches, std::nullopt, false, storage::append_source::follower);
        if (!r) {
            return r.error();
        }
        if (start_after) {
            if (auto a = _log->advance_log_start_offset(*start_after); !a) {
                return a;
            }
        }
        // The log checked every batch's framing before appending.
        for (size_t pos = 0; pos + batch_header::size <= batches.size();) {
            auto b = decode_batch_header(batches.data() + pos);
            if (b.has_producer()) {
                _producers.record(b);
            }
            pos += b.total_size();
        }
    }
    _high_watermark = std::max(_high_watermark, std::min(leader_high_watermark, _log->next_offset()));
    _news->bump();
    _fetch_watches.check();
    return success();
}

result<void> partition::truncate_to(offset end) {
    if (end > _log->next_offset()) {
        return success();
    }
    _news->bump();
    if (end == _log->next_offset()) {
        return _log->truncate(end);  // no data goes; an empty epoch starting here does
    }
    // The future copy first: it never holds offsets the log does not.
    if (_future && !_future->failed && _future->log->next_offset() > end) {
        if (auto r = _future->log->truncate(end); !r) {
            TLOG_WARN("{}-{}: the copy in another log directory could not follow a truncation: {}", _tp.topic,
                      _tp.partition, r.error().message());
            _future->failed = true;
        }
    }
    // Snapshots above the cut go first; the producers' last batches may have been in the tail.
    if (auto r = _producers.truncate(*_log, end); !r) {
        return r;
    }
    _high_watermark = std::min(_high_watermark, _log->next_offset());
    return success();
}

result<void> partition::truncate_fully_and_start_at(offset start) {
    if (_future && !_future->failed) {
        if (auto r = _future->log->truncate_fully_and_start_at(start); !r) {
            TLOG_WARN("{}-{}: the copy in another log directory could not follow a truncation: {}", _tp.topic,
                      _tp.partition, r.error().message());
            _future->failed = true;
        }
    }
    auto r = _producers.truncate_fully_and_start_at(*_log, start);
    _high_watermark = _log->next_offset();  // nothing below the new start is readable
    _news->bump();
    return r;
}

std::unique_ptr<storage::log> partition::replace_log(std::unique_ptr<storage::log> next) {
    std::swap(_log, next);
    _news->bump();
    _producers.snapshot_on_roll(*_log);
    return next;
}

void partition::rebuild_producer_state() {
    auto r = _producers.load(*_log);
    if (!r) {
        TLOG_WARN("producer state of {}-{} not rebuilt: {}", _tp.topic, _tp.partition, r.error().message());
        return;
    }
    _producers.snapshot_on_roll(*_log);
}

} // namespace trib::broker
