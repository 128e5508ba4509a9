#include "broker/replication/quota.h"

#include <prometheus/family.h>

#include <algorithm>

namespace trib::broker {

replication_quota::replication_quota(int32_t samples, int64_t sample_ms)
  : _sample_ms(std::max<int64_t>(sample_ms, 1)), _samples(size_t(std::max(samples, 1))) {}

void replication_quota::expire(int64_t now_ms) {
    const int64_t max_age = int64_t(_samples.size()) * _sample_ms;
    for (auto& s : _samples) {
        if (s.live && now_ms - s.start_ms >= max_age) {
            s = sample{};
        }
    }
}

void replication_quota::record(int64_t bytes, int64_t now_ms) {
    if (bytes <= 0) {
        return;
    }
    _total.fetch_add(bytes, std::memory_order_relaxed);
    std::lock_guard lock(_mu);
    auto* cur = &_samples[_current];
    if (!cur->live || now_ms - cur->start_ms >= _sample_ms) {
        if (cur->live) {
            _current = (_current + 1) % _samples.size();  // the oldest window makes room
            cur = &_samples[_current];
        }
        *cur = sample{now_ms, 0, true};
    }
    cur->bytes += bytes;
}

double replication_quota::rate_locked(int64_t now_ms) {
    expire(now_ms);
    int64_t bytes = 0;
    int64_t oldest = now_ms;
    for (const auto& s : _samples) {
        if (s.live) {
            bytes += s.bytes;
            oldest = std::min(oldest, s.start_ms);
        }
    }
    // As Kafka's Rate: the time the live windows span, with the whole windows it lacks of
    // samples - 1 added (a first burst is measured against ten seconds, not an instant).
    int64_t elapsed = now_ms - oldest;
    const int64_t full = elapsed / _sample_ms;
    const int64_t min_full = int64_t(_samples.size()) - 1;
    if (full < min_full) {
        elapsed += (min_full - full) * _sample_ms;
    }
    elapsed = std::max(elapsed, _sample_ms);  // samples = 1, nothing elapsed yet
    return double(bytes) * 1000.0 / double(elapsed);
}

double replication_quota::rate(int64_t now_ms) {
    std::lock_guard lock(_mu);
    return rate_locked(now_ms);
}

bool replication_quota::exceeded(int64_t now_ms) {
    const int64_t b = bound();
    if (b == unlimited) {
        return false;
    }
    std::lock_guard lock(_mu);
    // The window being filled holds at most a window's share of the bound. Kafka's Rate alone
    // lets the whole allowance of the live windows (eleven seconds' worth at the bound) go
    // at full speed, and then nothing until those windows expire: a copy in bursts of
    // seconds. With the share, the copy goes at the bound second by second (one fetch may
    // overshoot a window; the rate over the windows still holds the average).
    const auto& cur = _samples[_current];
    if (cur.live && now_ms - cur.start_ms < _sample_ms &&
        double(cur.bytes) >= double(b) * double(_sample_ms) / 1000.0) {
        return true;
    }
    return rate_locked(now_ms) > double(b);
}

replication_quotas::replication_quotas(int32_t samples, int32_t sample_seconds, prometheus::Registry& registry)
  : leader(samples, int64_t(sample_seconds) * 1000), follower(samples, int64_t(sample_seconds) * 1000) {
    auto& leader_rate = prometheus::BuildGauge()
                            .Name("kafka_server_leaderreplication_byte_rate")
                            .Help("Bytes/s a leader sends of its throttled replicas, over the throttle's window")
                            .Register(registry);
    auto& follower_rate = prometheus::BuildGauge()
                              .Name("kafka_server_followerreplication_byte_rate")
                              .Help("Bytes/s a follower copies into its throttled replicas, over the throttle's window")
                              .Register(registry);
    auto& bytes = prometheus::BuildCounter()
                      .Name("tributary_replication_throttled_bytes_total")
                      .Help("Bytes of throttled replicas sent as leader or copied as follower")
                      .Register(registry);
    auto& bound = prometheus::BuildGauge()
                      .Name("tributary_replication_throttled_rate_bytes")
                      .Help("leader.replication.throttled.rate and follower.replication.throttled.rate in force; "
                            "-1: unlimited")
                      .Register(registry);
    _leader_rate = &leader_rate.Add({});
    _follower_rate = &follower_rate.Add({});
    _leader_bytes = &bytes.Add({{"side", "leader"}});
    _follower_bytes = &bytes.Add({{"side", "follower"}});
    _leader_bound = &bound.Add({{"side", "leader"}});
    _follower_bound = &bound.Add({{"side", "follower"}});
    set_bounds(replication_quota::unlimited, replication_quota::unlimited);
}

void replication_quotas::set_bounds(int64_t leader_rate, int64_t follower_rate) {
    leader.set_bound(leader_rate);
    follower.set_bound(follower_rate);
    auto shown = [](int64_t b) { return b == replication_quota::unlimited ? -1.0 : double(b); };
    _leader_bound->Set(shown(leader_rate));
    _follower_bound->Set(shown(follower_rate));
}

void replication_quotas::record_leader(int64_t bytes, int64_t now_ms) {
    leader.record(bytes, now_ms);
    _leader_bytes->Increment(double(std::max<int64_t>(bytes, 0)));
}

void replication_quotas::record_follower(int64_t bytes, int64_t now_ms) {
    follower.record(bytes, now_ms);
    _follower_bytes->Increment(double(std::max<int64_t>(bytes, 0)));
}

void replication_quotas::publish(int64_t now_ms) {
    _leader_rate->Set(leader.rate(now_ms));
    _follower_rate->Set(follower.rate(now_ms));
}

} // namespace trib::broker
