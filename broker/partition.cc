#include "broker/partition.h"

#include "common/log.h"

#include <algorithm>

namespace trib::broker {

using protocol::error_code;

partition::partition(topic_partition tp, protocol::uuid topic_id, std::unique_ptr<storage::log> log, node_id self)
  : _tp(std::move(tp)), _topic_id(topic_id), _log(std::move(log)), _self(self),
    _high_watermark(_log->log_start_offset()) {}

bool partition::apply(const coordinator::partition_info& p) {
    if (p.epoch < _epoch) {
        TLOG_WARN("{}-{}: ignoring a change at leader epoch {}, older than the current {}", _tp.topic, _tp.partition,
                  p.epoch.value(), _epoch.value());
        return false;
    }
    _replicas = p.replicas;
    _isr = p.isr;
    if (p.leader == _self) {
        become_leader(p);
    } else {
        become_follower(p);
    }
    return true;
}

void partition::become_leader(const coordinator::partition_info& p) {
    bool new_term = _role != replica_role::leader || p.epoch != _epoch;
    _role = replica_role::leader;
    _leader = _self;
    _epoch = p.epoch;
    if (new_term) {
        _follower_end.clear();
        if (auto r = _log->begin_epoch(_epoch); !r) {
            TLOG_ERROR("{}-{}: cannot start leader epoch {}: {}", _tp.topic, _tp.partition, _epoch.value(),
                       r.error().message());
        }
        TLOG_DEBUG("{}-{}: leader at epoch {}", _tp.topic, _tp.partition, _epoch.value());
    }
    std::erase_if(_follower_end, [&](const auto& kv) { return !p.has_replica(kv.first); });
    update_high_watermark();
    _fetch_watches.wake_all();
    _produce_watches.wake_all();
}

void partition::become_follower(const coordinator::partition_info& p) {
    bool changed = _role == replica_role::leader || p.leader != _leader || p.epoch != _epoch;
    _role = p.leader.value() < 0 ? replica_role::none : replica_role::follower;
    _leader = p.leader;
    _epoch = p.epoch;
    _follower_end.clear();
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
    for (int32_t b : _isr) {
        if (b == _self.value()) {
            continue;
        }
        auto it = _follower_end.find(b);
        hw = std::min(hw, it == _follower_end.end() ? _high_watermark : it->second);
    }
    if (hw <= _high_watermark) {
        return false;
    }
    _high_watermark = hw;
    _produce_watches.check();
    _fetch_watches.check();
    return true;
}

void partition::appended() {
    if (!update_high_watermark()) {
        _fetch_watches.check();  // a follower's fetch waits for data past the high watermark
    }
}

void partition::rebuild_producer_state() {
    _producers.clear();
    auto r = _log->for_each_batch_header([this](const batch_header& h) {
        if (h.producer_id >= 0) {
            _producers.record(h);
        }
        return true;
    });
    if (!r) {
        TLOG_WARN("producer state of {}-{} not rebuilt: {}", _tp.topic, _tp.partition, r.error().message());
    }
}

} // namespace trib::broker
